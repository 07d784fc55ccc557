package sim

// Cross-vCenter relocation. govmomi's simulator ignores a RelocateVM_Task's
// spec.service (the ServiceLocator naming the destination vCenter) and
// would look the destination's references up in its own inventory. Here a
// relocate that carries a locator is checked as vCenter checks it and
// really moves the VM into the instance the locator names (see estate.go):
//
//   - the locator: its URL must name another instance of the estate (the
//     peer is reachable), its credentials must log in there, its SSL
//     thumbprint must be the peer's certificate's, and its instance UUID the
//     peer's (either case: some vCenter versions want it in upper case);
//   - the placement: pool, folder and datastore are required (the VM's own
//     mean nothing in another vCenter) and, with the host, must be the
//     peer's objects; the host must see the datastore;
//   - the NICs: every NIC, remapped or not, must land on a network the
//     destination datacenter has; a powered-on VM's NIC on a distributed
//     switch cannot move to a standard switch (vCenter's vMotion network
//     check refuses vDS to vSS).
//
// The move: the VM is created in the peer with the same name, hardware
// (CPUs, memory, disks and their sizes, NICs with their MAC addresses),
// extraConfig (markers included), BIOS and instance UUIDs, on the asked
// host, pool, datastore and folder with its NICs on the asked networks; it
// gets its snapshots back by name and its power state (a powered-on VM
// arrives powered on, without a power cycle: the power log in power.go is
// carried over unchanged); then it is removed from the source. A name the
// destination folder already holds fails the move (DuplicateName), so a
// repeated relocate never makes a second copy.
//
// What the simulator cannot do as vCenter does: snapshots arrive by name
// only, as new snapshots of the arriving VM (its snapshots hold no disk or
// memory state), and disk contents are not copied (it keeps none). The VM
// gets a new managed object id in the destination, as in vCenter.

import (
	"fmt"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/plan"
)

// crossRelocate serves a RelocateVM_Task with spec.service.
func (w *vmOverride) crossRelocate(ctx *simulator.Context, req *types.RelocateVM_Task) soap.HasFault {
	body := &methods.RelocateVM_TaskBody{}
	vm := w.VirtualMachine
	fail := func(msg string, f types.BaseMethodFault) soap.HasFault {
		lf := &types.LocalizedMethodFault{Fault: f, LocalizedMessage: msg}
		body.Res = &types.RelocateVM_TaskResponse{Returnval: failedTask(ctx, w.Self, "relocateVm", 0, lf)}
		return body
	}
	// vCenter runs one migration of a VM at a time; a second one asked
	// meanwhile (a resumed run, say) fails at once, and is worth a retry.
	if _, busy := w.sim.moving.Load(w.Self); busy {
		body.Fault_ = faultBody(fmt.Sprintf("The operation is not allowed in the current state: %s is being migrated", w.Name),
			&types.TaskInProgress{Task: w.Self})
		return body
	}
	peer, msg, f := w.sim.checkLocator(req.Spec.Service)
	if f != nil {
		return fail(msg, f)
	}
	pctx := peer.context()
	spec := req.Spec
	switch {
	case spec.Pool == nil:
		return fail("A cross-vCenter migration needs spec.pool: a resource pool of the destination vCenter", &types.InvalidArgument{InvalidProperty: "spec.pool"})
	case spec.Folder == nil:
		return fail("A cross-vCenter migration needs spec.folder: a VM folder of the destination vCenter", &types.InvalidArgument{InvalidProperty: "spec.folder"})
	case spec.Datastore == nil:
		return fail("A cross-vCenter migration needs spec.datastore: a datastore of the destination vCenter", &types.InvalidArgument{InvalidProperty: "spec.datastore"})
	}
	if sf := checkRefs(pctx, "spec", spec.Host, spec.Pool, spec.Datastore, spec.Folder); sf != nil {
		return fail(sf.String, soapFaultOf(sf))
	}
	folder := pctx.Map.Get(*spec.Folder).(*simulator.Folder)
	dc := datacenterOf(pctx, folder)
	ds := pctx.Map.Get(*spec.Datastore).(*simulator.Datastore)
	if dc == nil {
		return fail("spec.folder is in no datacenter of the destination vCenter", &types.InvalidArgument{InvalidProperty: "spec.folder"})
	}
	if sf := checkDatastore(pctx, dc, ds.Name, "spec.datastore"); sf != nil {
		return fail(sf.String, soapFaultOf(sf))
	}
	var host types.ManagedObjectReference
	if spec.Host != nil {
		host = *spec.Host
		if !hostSees(pctx, host, ds.Name) {
			return fail(fmt.Sprintf("Datastore '%s' is not accessible from host %s of the destination vCenter", ds.Name, host.Value),
				&types.DatastoreNotWritableOnHost{InvalidDatastore: types.InvalidDatastore{Datastore: &ds.Self, Name: ds.Name}, Host: host})
		}
	} else {
		h, ok := peer.pickHost(pctx, *spec.Pool, ds.Name)
		if !ok {
			return fail(fmt.Sprintf("No host of the destination resource pool sees datastore '%s'", ds.Name), &types.NoCompatibleHost{})
		}
		host = h
	}
	nics, msg, f := destinationNICs(ctx, pctx, vm, dc, spec.DeviceChange)
	if f != nil {
		return fail(msg, f)
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "RelocateVM_Task", w.Name, w.Name); ok {
		body.Res = &types.RelocateVM_TaskResponse{Returnval: ref}
		return body
	}

	delay := w.sim.faults.delay("RelocateVm")
	pool := *spec.Pool
	self := w.Self
	w.sim.moving.Store(self, true)
	// The move costs the destination vCenter's budgets: it waits queued
	// there while they are spent (budgets.go).
	costs := peer.budgets.costsOf(plan.StepRelocate, w.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn, hostName(pctx, &host), ds.Name)
	ref := startQueuedTask(ctx, peer.budgets, costs, w.Self, "relocateVm", func() (types.AnyType, *types.LocalizedMethodFault) {
		defer w.sim.moving.Delete(self)
		time.Sleep(delay)
		var cs types.VirtualMachineConfigSpec
		var on bool
		var snaps []string
		ctx.WithLock(vm, func() {
			cs = arrivalSpec(vm, ds, nics)
			on = isOn(vm)
			snaps = snapshotNames(vm.Snapshot)
		})
		// Arrive first, leave after: a failure on the way leaves the VM
		// where it was, never in neither vCenter.
		var res types.AnyType
		var lf *types.LocalizedMethodFault
		pctx.WithLock(folder, func() {
			if obj := pctx.Map.FindByName(cs.Name, folder.ChildEntity); obj != nil {
				lf = &types.LocalizedMethodFault{
					Fault:            &types.DuplicateName{Name: cs.Name, Object: obj.Reference()},
					LocalizedMessage: fmt.Sprintf("The name '%s' already exists.", cs.Name),
				}
				return
			}
			res, lf = awaitBody(pctx, folder.CreateVMTask(pctx, &types.CreateVM_Task{This: folder.Self, Config: cs, Pool: pool, Host: &host}))
		})
		if lf != nil {
			return nil, lf
		}
		moved, ok := pctx.Map.Get(res.(types.ManagedObjectReference)).(*simulator.VirtualMachine)
		if !ok {
			return nil, &types.LocalizedMethodFault{Fault: &types.RuntimeFault{}, LocalizedMessage: "the VM vanished on arrival"}
		}
		var need string
		var upgrade *types.ScheduledHardwareUpgradeInfo
		ctx.WithLock(vm, func() {
			need = vm.Runtime.MinRequiredEVCModeKey
			if u := vm.Config.ScheduledHardwareUpgradeInfo; u != nil {
				c := *u
				upgrade = &c
			}
		})
		pctx.WithLock(moved, func() {
			setMinEVC(moved, need)
			if upgrade != nil { // a pending upgrade goes with the VM
				pctx.Update(moved, []types.PropertyChange{{Name: "config.scheduledHardwareUpgradeInfo", Val: upgrade}})
			}
		})
		for _, name := range snaps {
			var b soap.HasFault
			pctx.WithLock(moved, func() {
				b = moved.CreateSnapshotTask(pctx, &types.CreateSnapshot_Task{This: moved.Self, Name: name})
			})
			if _, lf := awaitBody(pctx, b); lf != nil {
				return nil, lf
			}
		}
		if on {
			var b soap.HasFault
			pctx.WithLock(moved, func() { b = moved.PowerOnVMTask(pctx, &types.PowerOnVM_Task{This: moved.Self}) })
			if _, lf := awaitBody(pctx, b); lf != nil {
				return nil, lf
			}
		}
		// Leave the source: stopped without a power-off (the VM runs on in
		// the destination), then unregistered and its files removed.
		var b soap.HasFault
		ctx.WithLock(vm, func() {
			if isOn(vm) {
				ctx.Update(vm, []types.PropertyChange{
					{Name: "runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOff},
					{Name: "summary.runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOff},
				})
			}
			b = vm.DestroyTask(ctx, &types.Destroy_Task{This: vm.Self})
		})
		if _, lf := awaitBody(ctx, b); lf != nil {
			return nil, lf
		}
		return nil, nil
	})
	body.Res = &types.RelocateVM_TaskResponse{Returnval: ref}
	return body
}

// context is a fresh simulator context of this instance, for work done on
// its behalf by another (contexts own locks).
func (s *Sim) context() *simulator.Context {
	c := *s.model.Service.Context
	return &c
}

// checkLocator finds the instance a ServiceLocator names and checks it as
// vCenter does. It returns the peer, or a message and fault.
func (s *Sim) checkLocator(loc *types.ServiceLocator) (*Sim, string, types.BaseMethodFault) {
	if s.estate == nil {
		return nil, "This vCenter is not linked to any other", &types.InvalidArgument{InvalidProperty: "spec.service"}
	}
	peer := s.estate.peerByURL(loc.Url)
	if peer == nil {
		return nil, fmt.Sprintf("Cannot connect to the remote vCenter Server at %s", loc.Url), &types.InvalidArgument{InvalidProperty: "spec.service.url"}
	}
	if peer == s {
		return nil, "spec.service names this vCenter: a move within one vCenter takes no service locator", &types.InvalidArgument{InvalidProperty: "spec.service.url"}
	}
	if want := peer.Thumbprint(); !strings.EqualFold(strings.ReplaceAll(loc.SslThumbprint, ":", ""), strings.ReplaceAll(want, ":", "")) {
		return nil, fmt.Sprintf("Authenticity of the host's SSL certificate is not verified: %s presents thumbprint %s, not %s", loc.Url, want, loc.SslThumbprint),
			&types.SSLVerifyFault{SelfSigned: true, Thumbprint: want}
	}
	u := peer.URL()
	pass, _ := u.User.Password()
	cred, ok := loc.Credential.(*types.ServiceLocatorNamePassword)
	if !ok || cred.Username != u.User.Username() || cred.Password != pass {
		return nil, "Cannot complete login due to an incorrect user name or password (spec.service.credential)", &types.InvalidLogin{}
	}
	if id := peer.InstanceUUID(); !strings.EqualFold(loc.InstanceUuid, id) {
		return nil, fmt.Sprintf("spec.service.instanceUuid %q is not the instance UUID of the vCenter Server at %s", loc.InstanceUuid, loc.Url),
			&types.InvalidArgument{InvalidProperty: "spec.service.instanceUuid"}
	}
	return peer, "", nil
}

// InstanceUUID is the instance's vCenter instance UUID (about.instanceUuid).
func (s *Sim) InstanceUUID() string {
	si, ok := s.model.Map().Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	if !ok {
		return ""
	}
	return si.Content.About.InstanceUuid
}

// nicPlan is one NIC as it arrives: its type, MAC address and backing.
type nicPlan struct {
	card    types.BaseVirtualEthernetCard
	backing types.BaseVirtualDeviceBackingInfo
}

// destinationNICs works out each NIC's backing in the destination (the
// spec's edit, else its own) and checks that the destination has it.
func destinationNICs(ctx, pctx *simulator.Context, vm *simulator.VirtualMachine, dc *simulator.Datacenter,
	changes []types.BaseVirtualDeviceConfigSpec) ([]nicPlan, string, types.BaseMethodFault) {
	edits := map[int32]types.BaseVirtualDeviceBackingInfo{}
	for _, c := range changes {
		cs := c.GetVirtualDeviceConfigSpec()
		if cs.Operation != types.VirtualDeviceConfigSpecOperationEdit {
			return nil, "A cross-vCenter migration can only edit NICs in spec.deviceChange", &types.InvalidArgument{InvalidProperty: "spec.deviceChange"}
		}
		d := cs.Device.GetVirtualDevice()
		edits[d.Key] = d.Backing
	}
	var out []nicPlan
	for _, d := range vm.Config.Hardware.Device {
		card, ok := d.(types.BaseVirtualEthernetCard)
		if !ok {
			continue
		}
		old := card.GetVirtualEthernetCard().Backing
		b, remapped := edits[d.GetVirtualDevice().Key]
		if !remapped {
			b = old
		}
		label := fmt.Sprintf("NIC %d", len(out)+1)
		switch nb := b.(type) {
		case *types.VirtualEthernetCardNetworkBackingInfo:
			if !dcHasNetwork(pctx, dc, nb.DeviceName) {
				return nil, fmt.Sprintf("%s: network '%s' does not exist in datacenter %s of the destination vCenter", label, nb.DeviceName, dc.Name),
					&types.NotFound{}
			}
			if _, fromDVS := old.(*types.VirtualEthernetCardDistributedVirtualPortBackingInfo); fromDVS && isOn(vm) {
				return nil, fmt.Sprintf("%s: migrating a powered-on VM from a distributed switch to a standard switch (network '%s') is not supported", label, nb.DeviceName),
					&types.NotSupported{}
			}
			out = append(out, nicPlan{card: card, backing: &types.VirtualEthernetCardNetworkBackingInfo{
				VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: nb.DeviceName}}})
		case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
			pg, ok := pctx.Map.Get(types.ManagedObjectReference{Type: "DistributedVirtualPortgroup", Value: nb.Port.PortgroupKey}).(*simulator.DistributedVirtualPortgroup)
			if !ok || !dcHasNetwork(pctx, dc, pg.Name) {
				return nil, fmt.Sprintf("%s: distributed portgroup %s (switch %s) does not exist in datacenter %s of the destination vCenter",
					label, nb.Port.PortgroupKey, nb.Port.SwitchUuid, dc.Name), &types.NotFound{}
			}
			out = append(out, nicPlan{card: card, backing: &types.VirtualEthernetCardDistributedVirtualPortBackingInfo{
				Port: types.DistributedVirtualSwitchPortConnection{PortgroupKey: nb.Port.PortgroupKey, SwitchUuid: nb.Port.SwitchUuid}}})
		default:
			return nil, fmt.Sprintf("%s: a %T cannot be migrated across vCenters by this simulator", label, b), &types.NotSupported{}
		}
	}
	return out, "", nil
}

// arrivalSpec is the VM as the destination creates it: same identity,
// hardware and extraConfig, files on datastore ds, NICs as planned.
func arrivalSpec(vm *simulator.VirtualMachine, dsObj *simulator.Datastore, nics []nicPlan) types.VirtualMachineConfigSpec {
	ds := dsObj.Name
	c := vm.Config
	cs := types.VirtualMachineConfigSpec{
		Name:                vm.Name,
		GuestId:             c.GuestId,
		NumCPUs:             c.Hardware.NumCPU,
		NumCoresPerSocket:   c.Hardware.NumCoresPerSocket,
		MemoryMB:            int64(c.Hardware.MemoryMB),
		Version:             c.Version,
		Uuid:                c.Uuid,
		InstanceUuid:        c.InstanceUuid,
		Annotation:          c.Annotation,
		CpuHotAddEnabled:    c.CpuHotAddEnabled,
		MemoryHotAddEnabled: c.MemoryHotAddEnabled,
		Files:               &types.VirtualMachineFileInfo{VmPathName: "[" + ds + "]"},
	}
	for _, o := range c.ExtraConfig {
		v := *o.GetOptionValue()
		cs.ExtraConfig = append(cs.ExtraConfig, &v)
	}
	var devices object.VirtualDeviceList
	scsi, _ := devices.CreateSCSIController("pvscsi")
	devices = append(devices, scsi)
	ctrl := scsi.(types.BaseVirtualController)
	i := 0
	for _, d := range c.Hardware.Device {
		disk, ok := d.(*types.VirtualDisk)
		if !ok {
			continue
		}
		nd := devices.CreateDisk(ctrl, dsObj.Self, fmt.Sprintf("[%s] %s/%s_%d.vmdk", ds, vm.Name, vm.Name, i))
		nd.CapacityInKB = disk.CapacityInKB
		nd.CapacityInBytes = disk.CapacityInBytes
		devices = append(devices, nd)
		i++
	}
	for _, n := range nics {
		old := n.card.GetVirtualEthernetCard()
		card, err := devices.CreateEthernetCard(devices.Type(n.card.(types.BaseVirtualDevice)), n.backing)
		if err != nil {
			card, _ = devices.CreateEthernetCard("vmxnet3", n.backing)
		}
		nc := card.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		nc.MacAddress = old.MacAddress
		nc.AddressType = old.AddressType
		devices = append(devices, card)
	}
	cs.DeviceChange, _ = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	return cs
}

// snapshotNames lists a VM's snapshots, parents before children.
func snapshotNames(info *types.VirtualMachineSnapshotInfo) []string {
	if info == nil {
		return nil
	}
	var out []string
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(t []types.VirtualMachineSnapshotTree) {
		for _, s := range t {
			out = append(out, s.Name)
			walk(s.ChildSnapshotList)
		}
	}
	walk(info.RootSnapshotList)
	return out
}

// soapFaultOf is the method fault a check's SOAP fault carries.
func soapFaultOf(f *soap.Fault) types.BaseMethodFault {
	if mf, ok := f.VimFault().(types.BaseMethodFault); ok {
		return mf
	}
	return &types.InvalidArgument{}
}
