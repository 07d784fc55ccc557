package sim

// vCenter's compatibility checks of a move, which govmomi's simulator
// passes whatever is asked (its CheckRelocate returns an empty result, and
// it knows no EVC modes). Here:
//
//   - clusters run an EVC mode (ClusterComputeResourceSummary
//     .currentEVCModeKey: the plan's target evcMode, else DefaultTargetEVC;
//     the source cluster SourceEVC), and every VM has the least mode it
//     needs (runtime.minRequiredEVCModeKey: the plan's VM evcMode, else its
//     cluster's), carried across vCenters when it moves;
//   - the provisioning checker's CheckRelocate_Task refuses a powered-on VM
//     (a vMotion) whose needed mode is newer than the target cluster's, or
//     of the other CPU vendor (FeatureRequirementsNotMet); a NIC whose
//     network the target host is not connected to (CannotAccessNetwork);
//     and a datastore the target host does not mount (InaccessibleDatastore).
//     Cross-vCenter checks (spec.service) look the target up in the peer.
//
// What it still does not model: CPU feature masks inside a mode (a mode
// is a point on each vendor's list), and hosts without EVC (every
// simulated cluster has a mode).

import (
	"fmt"
	"slices"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/plan"
)

// The modes the simulator gives clusters the plan does not give one.
const (
	SourceEVC        = "intel-broadwell"
	DefaultTargetEVC = "intel-cascadelake"
)

// evcSatisfies reports whether a cluster running offered can run a VM
// that needs needed; "" needs nothing.
func evcSatisfies(offered, needed string) bool { return plan.EVCSatisfies(offered, needed) }

// setClusterEVC gives a cluster its mode (seeding, before any client).
func setClusterEVC(c *simulator.ClusterComputeResource, mode string) {
	if s, ok := c.Summary.(*types.ClusterComputeResourceSummary); ok {
		s.CurrentEVCModeKey = mode
	}
}

// clusterEVC is the mode of the cluster a host or pool belongs to.
func clusterEVC(ctx *simulator.Context, ref types.ManagedObjectReference) (string, string) {
	for obj := ctx.Map.Get(ref); obj != nil; {
		switch o := obj.(type) {
		case *simulator.ClusterComputeResource:
			if s, ok := o.Summary.(*types.ClusterComputeResourceSummary); ok {
				return o.Name, s.CurrentEVCModeKey
			}
			return o.Name, ""
		case *simulator.ResourcePool:
			obj = ctx.Map.Get(*o.Parent)
		case *simulator.HostSystem:
			if o.Parent == nil {
				return "", ""
			}
			obj = ctx.Map.Get(*o.Parent)
		default:
			return "", ""
		}
	}
	return "", ""
}

// setMinEVC gives a VM the least mode it needs.
func setMinEVC(vm *simulator.VirtualMachine, mode string) {
	vm.Runtime.MinRequiredEVCModeKey = mode
	vm.Summary.Runtime.MinRequiredEVCModeKey = mode
}

// checkerOverride serves CheckRelocate_Task.
type checkerOverride struct {
	*simulator.VmProvisioningChecker
	sim *Sim
}

func (w *checkerOverride) CheckRelocateTask(ctx *simulator.Context, req *types.CheckRelocate_Task) soap.HasFault {
	body := &methods.CheckRelocate_TaskBody{}
	vm, ok := ctx.Map.Get(req.Vm).(*simulator.VirtualMachine)
	if !ok {
		body.Fault_ = faultBody("vm: managed object not found: "+req.Vm.Value, &types.ManagedObjectNotFound{Obj: req.Vm})
		return body
	}
	var (
		res    types.CheckResult
		errs   []types.LocalizedMethodFault
		tctx   = ctx
		nicsOK = true
	)
	res.Vm = &req.Vm
	add := func(msg string, f types.BaseMethodFault) {
		errs = append(errs, types.LocalizedMethodFault{Fault: f, LocalizedMessage: msg})
	}
	spec := req.Spec
	if spec.Service != nil {
		peer, msg, f := w.sim.checkLocator(spec.Service)
		if f != nil {
			add(msg, f)
			return w.result(ctx, res, errs)
		}
		tctx = peer.context()
	}
	if f := checkRefs(tctx, "spec", spec.Host, spec.Pool, spec.Datastore, spec.Folder); f != nil {
		add(f.String, soapFaultOf(f))
		return w.result(ctx, res, errs)
	}
	// The host the VM would run on: the one asked, else each host of the
	// pool is a candidate and one must pass (as DRS would pick it).
	var hosts []types.ManagedObjectReference
	switch {
	case spec.Host != nil:
		hosts = []types.ManagedObjectReference{*spec.Host}
	case spec.Pool != nil:
		hosts = poolHosts(tctx, *spec.Pool)
	case vm.Runtime.Host != nil:
		hosts = []types.ManagedObjectReference{*vm.Runtime.Host}
	}
	ds := vmDatastore(vm)
	if spec.Datastore != nil {
		ds = tctx.Map.Get(*spec.Datastore).(*simulator.Datastore).Name
	}
	var nets []string
	if spec.Service != nil {
		dc := datacenterOf(tctx, tctx.Map.Get(*spec.Folder).(*simulator.Folder))
		planned, msg, f := destinationNICs(ctx, tctx, vm, dc, spec.DeviceChange)
		if f != nil {
			add(msg, f)
			nicsOK = false
		}
		for _, n := range planned {
			nets = append(nets, backingNetwork(tctx, n.backing))
		}
	} else {
		nets = vmNetworks(ctx, vm, spec.DeviceChange)
	}
	on := isOn(vm)
	var best []types.LocalizedMethodFault
	for i, h := range hosts {
		var herrs []types.LocalizedMethodFault
		hadd := func(msg string, f types.BaseMethodFault) {
			herrs = append(herrs, types.LocalizedMethodFault{Fault: f, LocalizedMessage: msg})
		}
		host, _ := tctx.Map.Get(h).(*simulator.HostSystem)
		hname := h.Value
		if host != nil {
			hname = host.Name
		}
		if on {
			cname, mode := clusterEVC(tctx, h)
			need := vm.Runtime.MinRequiredEVCModeKey
			if !evcSatisfies(mode, need) {
				hadd(fmt.Sprintf("The target host does not support the virtual machine's current hardware requirements: %s needs EVC mode %s or later, and cluster %s runs %s",
					vm.Name, need, cname, orNone(mode)), &types.FeatureRequirementsNotMet{})
			}
		}
		if ds != "" && !hostSees(tctx, h, ds) {
			hadd(fmt.Sprintf("Datastore '%s' is not accessible from host %s", ds, hname), &types.InaccessibleDatastore{})
		}
		if nicsOK {
			for n, net := range nets {
				if net != "" && !hostHasNetwork(tctx, h, net) {
					hadd(fmt.Sprintf("Currently connected network interface 'Network adapter %d' uses network '%s', which is not accessible from host %s", n+1, net, hname),
						&types.CannotAccessNetwork{})
				}
			}
		}
		if len(herrs) == 0 {
			res.Host = &hosts[i]
			best = nil
			break
		}
		if best == nil {
			best = herrs
			res.Host = &hosts[i]
		}
	}
	errs = append(errs, best...)
	return w.result(ctx, res, errs)
}

func orNone(mode string) string {
	if mode == "" {
		return "no EVC mode"
	}
	return mode
}

// result answers with a finished task holding the check's result.
func (w *checkerOverride) result(ctx *simulator.Context, res types.CheckResult, errs []types.LocalizedMethodFault) soap.HasFault {
	res.Error = errs
	ref := startTask(ctx, w.Self, "checkRelocate", func() (types.AnyType, *types.LocalizedMethodFault) {
		return types.ArrayOfCheckResult{CheckResult: []types.CheckResult{res}}, nil
	})
	return &methods.CheckRelocate_TaskBody{Res: &types.CheckRelocate_TaskResponse{Returnval: ref}}
}

// vmNetworks names each NIC's network after the spec's edits, within one
// vCenter.
func vmNetworks(ctx *simulator.Context, vm *simulator.VirtualMachine, changes []types.BaseVirtualDeviceConfigSpec) []string {
	edits := map[int32]types.BaseVirtualDeviceBackingInfo{}
	for _, c := range changes {
		cs := c.GetVirtualDeviceConfigSpec()
		if cs.Operation == types.VirtualDeviceConfigSpecOperationEdit {
			edits[cs.Device.GetVirtualDevice().Key] = cs.Device.GetVirtualDevice().Backing
		}
	}
	var out []string
	for _, d := range vm.Config.Hardware.Device {
		card, ok := d.(types.BaseVirtualEthernetCard)
		if !ok {
			continue
		}
		b := card.GetVirtualEthernetCard().Backing
		if e, ok := edits[d.GetVirtualDevice().Key]; ok {
			b = e
		}
		out = append(out, backingNetwork(ctx, b))
	}
	return out
}

// backingNetwork names a NIC backing's network.
func backingNetwork(ctx *simulator.Context, b types.BaseVirtualDeviceBackingInfo) string {
	switch x := b.(type) {
	case *types.VirtualEthernetCardNetworkBackingInfo:
		return x.DeviceName
	case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
		if pg, ok := ctx.Map.Get(types.ManagedObjectReference{Type: "DistributedVirtualPortgroup", Value: x.Port.PortgroupKey}).(*simulator.DistributedVirtualPortgroup); ok {
			return pg.Name
		}
	}
	return ""
}

// hostHasNetwork reports whether the host is connected to the network of
// that name (a standard portgroup on it, or a distributed portgroup of a
// switch it is a member of).
func hostHasNetwork(ctx *simulator.Context, host types.ManagedObjectReference, name string) bool {
	h, ok := ctx.Map.Get(host).(*simulator.HostSystem)
	if !ok {
		return false
	}
	for _, ref := range h.Network {
		if ref.Type == "DistributedVirtualPortgroup" {
			continue // by the portgroup's own host list, below
		}
		if networkName(ctx.Map.Get(ref)) == name {
			return true
		}
	}
	dc := datacenterOf(ctx, h)
	if dc == nil {
		return false
	}
	for _, ref := range dc.Network {
		if pg, ok := ctx.Map.Get(ref).(*simulator.DistributedVirtualPortgroup); ok && pg.Name == name {
			return slices.Contains(pg.Host, host)
		}
	}
	return false
}
