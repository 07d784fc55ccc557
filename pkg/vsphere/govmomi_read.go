package vsphere

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// vmProps are the only VM properties the driver reads.
var vmProps = []string{
	"name", "parent", "resourcePool", "datastore", "network", "snapshot",
	"config.hardware", "config.extraConfig", "config.template", "config.version", "config.guestId", "config.managedBy",
	"config.scheduledHardwareUpgradeInfo",
	"config.instanceUuid", "config.uuid",
	"runtime.powerState", "runtime.host",
	"guest.toolsRunningStatus", "guest.ipAddress",
}

// vmRecord is a VM as read, with what changes need beyond the VM view:
// its devices and the network name of each NIC.
type vmRecord struct {
	m    mo.VirtualMachine
	vm   *VM
	nics []nic
	cr   *types.ManagedObjectReference // the compute resource it runs in
}

type nic struct {
	device  types.BaseVirtualEthernetCard
	network string
}

// Inventory reads a whole datacenter in one retrieve through a container
// view (three round trips, whatever the number of VMs) and resolves every
// name from what that read returned.
func (g *Govmomi) Inventory(ctx context.Context, datacenter string) (*Inventory, error) {
	dc, err := g.datacenter(ctx, datacenter)
	if err != nil {
		return nil, g.fault("inventory", datacenter, err)
	}
	l, err := g.load(ctx, dc, true, vmProps)
	if err != nil {
		return nil, g.fault("inventory", datacenter, err)
	}
	ix := l.ix
	inv := &Inventory{
		Datacenter: dc.name,
		Clusters:   map[string]*Cluster{},
		Datastores: map[string]*Datastore{},
		Networks:   []string{},
		Folders:    []string{},
		Pools:      []string{},
	}
	for _, m := range l.vms {
		// A VM moved to another datacenter can linger in the old host's
		// and pool's lists (the simulator does not update them): only the
		// VM folder tree says where a VM is.
		if m.Parent == nil || !ix.within(*m.Parent, dc.vmFolder) {
			continue
		}
		inv.VMs = append(inv.VMs, buildVM(m, &ix.entities).vm)
	}
	sort.Slice(inv.VMs, func(i, j int) bool { return inv.VMs[i].Path < inv.VMs[j].Path })

	usable := map[types.ManagedObjectReference]bool{}
	for _, h := range l.hosts {
		if h.Runtime.ConnectionState == types.HostSystemConnectionStateConnected && !h.Runtime.InMaintenanceMode {
			usable[h.Self] = true
		}
	}
	for _, c := range l.clusters {
		cl := &Cluster{Name: c.Name, Hosts: []string{}}
		for _, h := range c.Host {
			if usable[h] {
				cl.Hosts = append(cl.Hosts, ix.name(&h))
			}
		}
		sort.Strings(cl.Hosts)
		if c.Summary != nil {
			s := c.Summary.GetComputeResourceSummary()
			cl.CPUMHz = int64(s.EffectiveCpu)
			cl.MemoryMB = s.EffectiveMemory
			cl.CPUCores = int(s.NumCpuCores)
		}
		inv.Clusters[c.Name] = cl
	}
	for _, d := range l.datastores {
		s := d.Summary
		inv.Datastores[d.Name] = &Datastore{
			Name:       d.Name,
			CapacityGB: s.Capacity >> 30,
			FreeGB:     s.FreeSpace >> 30,
			Accessible: s.Accessible,
		}
	}
	for name := range ix.networks {
		inv.Networks = append(inv.Networks, name)
	}
	for path := range ix.folders {
		if path != "" {
			inv.Folders = append(inv.Folders, path)
		}
	}
	seen := map[string]bool{}
	for _, pools := range ix.pools {
		for path := range pools {
			if path != "" && !seen[path] {
				seen[path] = true
				inv.Pools = append(inv.Pools, path)
			}
		}
	}
	sort.Strings(inv.Networks)
	sort.Strings(inv.Folders)
	sort.Strings(inv.Pools)
	return inv, nil
}

// VM reads one VM, with every name it refers to, in one retrieve.
func (g *Govmomi) VM(ctx context.Context, ref string) (*VM, error) {
	r, err := g.record(ctx, vmRef(ref))
	if err != nil {
		return nil, g.fault("read", ref, err)
	}
	return r.vm, nil
}

// record reads one VM for a change.
func (g *Govmomi) record(ctx context.Context, ref types.ManagedObjectReference) (*vmRecord, error) {
	recs, err := g.readVMs(ctx, []types.ManagedObjectReference{ref})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, &Fault{Op: "read", Object: ref.Value, Kind: "ManagedObjectNotFound",
			Message: fmt.Sprintf("VM %s does not exist", ref.Value), Err: ErrNotFound}
	}
	return recs[0], nil
}

// FindByInstanceUUID finds a VM by its instance UUID through vCenter's
// search index: one call, then one read of the VM.
func (g *Govmomi) FindByInstanceUUID(ctx context.Context, uuid string) (*VM, error) {
	yes := true
	res, err := methods.FindByUuid(ctx, g.c, &types.FindByUuid{This: *g.c.ServiceContent.SearchIndex, Uuid: uuid, VmSearch: true, InstanceUuid: &yes})
	if err != nil {
		return nil, g.fault("find-by-uuid", uuid, err)
	}
	if res.Returnval == nil {
		return nil, &Fault{Op: "find-by-uuid", Object: uuid, Kind: "NotFound",
			Message: fmt.Sprintf("no VM has instance UUID %s", uuid), Err: ErrNotFound}
	}
	return g.VM(ctx, res.Returnval.Value)
}

// FindVMs returns the VMs and templates called name in the datacenter: a
// name-only read of the datacenter's VM folder tree, then one read of the
// matches.
func (g *Govmomi) FindVMs(ctx context.Context, datacenter, name string) ([]*VM, error) {
	return g.findVMs(ctx, "find", datacenter, []string{"name"}, func(m mo.VirtualMachine) bool {
		return m.Name == name
	})
}

// FindByMarker returns the VMs in the datacenter whose marker key has that
// value: a read of every VM's extraConfig, then one read of the matches.
// Keys without the wavectl. prefix get it; an empty value matches nothing
// (in vSphere an empty value is a deleted key).
func (g *Govmomi) FindByMarker(ctx context.Context, datacenter, key, value string) ([]*VM, error) {
	key = markerKey(key)
	return g.findVMs(ctx, "find-by-marker", datacenter, []string{"config.extraConfig"}, func(m mo.VirtualMachine) bool {
		return value != "" && m.Config != nil && extraConfig(m.Config.ExtraConfig)[key] == value
	})
}

func (g *Govmomi) findVMs(ctx context.Context, op, datacenter string, props []string, match func(mo.VirtualMachine) bool) ([]*VM, error) {
	dc, err := g.datacenter(ctx, datacenter)
	if err != nil {
		return nil, g.fault(op, datacenter, err)
	}
	content, err := g.searchVMs(ctx, dc.vmFolder, props)
	if err != nil {
		return nil, g.fault(op, datacenter, err)
	}
	var refs []types.ManagedObjectReference
	for _, oc := range content {
		v, err := decode(oc)
		if err != nil {
			continue
		}
		if m, ok := v.(mo.VirtualMachine); ok && match(m) {
			refs = append(refs, m.Self)
		}
	}
	if len(refs) == 0 {
		return []*VM{}, nil
	}
	recs, err := g.readVMs(ctx, refs)
	if err != nil {
		return nil, g.fault(op, datacenter, err)
	}
	vms := make([]*VM, 0, len(recs))
	for _, r := range recs {
		if r.vm.Datacenter == dc.name {
			vms = append(vms, r.vm)
		}
	}
	sort.Slice(vms, func(i, j int) bool { return vms[i].Path < vms[j].Path })
	return vms, nil
}

// readVMs reads VMs together with the objects they refer to (folders up to
// the root, pool, compute resource and its hosts, datastores, networks) in
// one RetrieveProperties call, whatever the number of VMs. VMs that do not
// exist are left out.
func (g *Govmomi) readVMs(ctx context.Context, refs []types.ManagedObjectReference) ([]*vmRecord, error) {
	up := func() []types.BaseSelectionSpec {
		return []types.BaseSelectionSpec{&types.SelectionSpec{Name: "up"}, &types.SelectionSpec{Name: "hosts"}}
	}
	specs := append(entitySpecs(false), types.PropertySpec{Type: "VirtualMachine", PathSet: vmProps})
	req := types.RetrieveProperties{}
	for _, ref := range refs {
		req.SpecSet = append(req.SpecSet, types.PropertyFilterSpec{
			ObjectSet: []types.ObjectSpec{{
				Obj:  ref,
				Skip: types.NewBool(false),
				SelectSet: []types.BaseSelectionSpec{
					&types.TraversalSpec{SelectionSpec: types.SelectionSpec{Name: "up"}, Type: "ManagedEntity", Path: "parent", Skip: types.NewBool(false), SelectSet: up()},
					&types.TraversalSpec{SelectionSpec: types.SelectionSpec{Name: "hosts"}, Type: "ComputeResource", Path: "host", Skip: types.NewBool(false)},
					&types.TraversalSpec{Type: "VirtualMachine", Path: "resourcePool", Skip: types.NewBool(false), SelectSet: up()},
					&types.TraversalSpec{Type: "VirtualMachine", Path: "datastore", Skip: types.NewBool(false)},
					&types.TraversalSpec{Type: "VirtualMachine", Path: "network", Skip: types.NewBool(false)},
				},
			}},
			PropSet:                       specs,
			ReportMissingObjectsInResults: types.NewBool(true),
		})
	}
	gens := make([]uint64, len(refs))
	for i, ref := range refs {
		gens[i] = g.handoff.gen(ref.Value)
	}
	res, err := property.DefaultCollector(g.c).RetrieveProperties(ctx, req)
	if err != nil {
		return nil, err
	}
	l := &loaded{ix: &dcIndex{entities: entities{m: map[types.ManagedObjectReference]*entity{}}}}
	vms := map[types.ManagedObjectReference]mo.VirtualMachine{}
	for _, oc := range res.Returnval {
		if gone(oc) {
			continue
		}
		v, err := decode(oc)
		if err != nil {
			continue
		}
		if m, ok := v.(mo.VirtualMachine); ok {
			vms[m.Self] = m
			continue
		}
		l.add(v)
	}
	var recs []*vmRecord
	for i, ref := range refs {
		if m, ok := vms[ref]; ok && m.Name != "" {
			rec := buildVM(m, &l.ix.entities)
			recs = append(recs, rec)
			// Its own copy for the change that may follow (changes edit
			// a record's devices to build their specs).
			g.handoff.keep(buildVM(m, &l.ix.entities), gens[i])
		}
	}
	return recs, nil
}

// gone reports whether a retrieve said the object does not exist.
func gone(oc types.ObjectContent) bool {
	for _, p := range oc.MissingSet {
		if _, ok := p.Fault.Fault.(*types.ManagedObjectNotFound); ok {
			return true
		}
	}
	return false
}

// buildVM turns what was read of a VM into the driver's view of it,
// resolving names through e.
func buildVM(m mo.VirtualMachine, e *entities) *vmRecord {
	vm := &VM{
		Ref:        m.Self.Value,
		Name:       m.Name,
		PowerState: string(m.Runtime.PowerState),
		Host:       e.name(m.Runtime.Host),
	}
	if dc := e.up(m.Parent, "Datacenter"); dc != nil {
		vm.Datacenter = dc.name
		vm.Folder = e.folderPath(*m.Parent)
		vmFolder := e.name(&dc.vmFolder)
		if vmFolder == "" {
			vmFolder = "vm"
		}
		parts := append(e.chain(dc.ref, nil), vmFolder)
		if vm.Folder != "" {
			parts = append(parts, vm.Folder)
		}
		vm.Path = "/" + strings.Join(append(parts, m.Name), "/")
	}
	if m.Runtime.Host != nil {
		if h := e.m[*m.Runtime.Host]; h != nil && h.parent != nil && h.parent.Type == "ClusterComputeResource" {
			vm.Cluster = e.name(h.parent)
		}
	}
	if m.ResourcePool != nil {
		vm.ResourcePool = e.poolPath(*m.ResourcePool)
		if vm.Cluster == "" {
			if cr := e.up(m.ResourcePool, "ClusterComputeResource"); cr != nil {
				vm.Cluster = cr.name
			}
		}
	}
	for i := range m.Datastore {
		if n := e.name(&m.Datastore[i]); n != "" {
			vm.Datastores = append(vm.Datastores, n)
		}
	}
	if m.Guest != nil {
		vm.ToolsRunning = m.Guest.ToolsRunningStatus == string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
		vm.IP = m.Guest.IpAddress
	}
	rec := &vmRecord{m: m, vm: vm}
	if cr := e.up(m.ResourcePool, "ClusterComputeResource", "ComputeResource"); cr != nil {
		rec.cr = &cr.ref
	}
	if c := m.Config; c != nil {
		vm.Template = c.Template
		vm.CPUs = int(c.Hardware.NumCPU)
		vm.MemoryMB = int(c.Hardware.MemoryMB)
		vm.GuestID = c.GuestId
		vm.HardwareVersion = c.Version
		if u := c.ScheduledHardwareUpgradeInfo; u != nil && u.UpgradePolicy != string(types.ScheduledHardwareUpgradeInfoHardwareUpgradePolicyNever) &&
			u.ScheduledHardwareUpgradeStatus == string(types.ScheduledHardwareUpgradeInfoHardwareUpgradeStatusPending) {
			vm.ScheduledHardware = u.VersionKey
		}
		vm.InstanceUUID, vm.BIOSUUID = c.InstanceUuid, c.Uuid
		if c.ManagedBy != nil {
			vm.ManagedBy = c.ManagedBy.ExtensionKey
		}
		devices := append([]types.BaseVirtualDevice(nil), c.Hardware.Device...)
		sort.SliceStable(devices, func(i, j int) bool {
			return devices[i].GetVirtualDevice().Key < devices[j].GetVirtualDevice().Key
		})
		for _, d := range devices {
			switch x := d.(type) {
			case *types.VirtualDisk:
				b := x.CapacityInBytes
				if b == 0 {
					b = x.CapacityInKB << 10
				}
				vm.DisksGB = append(vm.DisksGB, int((b+(1<<30)-1)>>30))
			case types.BaseVirtualEthernetCard:
				n := nic{device: x, network: e.networkName(x, m.Network)}
				rec.nics = append(rec.nics, n)
				vm.Networks = append(vm.Networks, n.network)
			}
		}
		for k, v := range extraConfig(c.ExtraConfig) {
			if strings.HasPrefix(k, MarkerPrefix) {
				if vm.Markers == nil {
					vm.Markers = map[string]string{}
				}
				vm.Markers[k] = v
			}
		}
	}
	if m.Snapshot != nil {
		var walk func([]types.VirtualMachineSnapshotTree)
		walk = func(tree []types.VirtualMachineSnapshotTree) {
			for _, s := range tree {
				vm.Snapshots = append(vm.Snapshots, Snapshot{Ref: s.Snapshot.Value, Name: s.Name})
				walk(s.ChildSnapshotList)
			}
		}
		walk(m.Snapshot.RootSnapshotList)
	}
	return rec
}

// networkName is the name of the network a NIC is on.
func (e *entities) networkName(card types.BaseVirtualEthernetCard, nets []types.ManagedObjectReference) string {
	switch b := card.GetVirtualEthernetCard().Backing.(type) {
	case *types.VirtualEthernetCardNetworkBackingInfo:
		if b.Network != nil {
			if n := e.name(b.Network); n != "" {
				return n
			}
		}
		return b.DeviceName
	case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
		if n, ok := e.byKey[b.Port.PortgroupKey]; ok {
			return n
		}
		return b.Port.PortgroupKey
	case *types.VirtualEthernetCardOpaqueNetworkBackingInfo:
		for i := range nets {
			if nets[i].Type == "OpaqueNetwork" {
				return e.name(&nets[i])
			}
		}
		return b.OpaqueNetworkId
	}
	return ""
}

// extraConfig is a VM's extraConfig as a map, without empty values (an
// empty value is how vSphere deletes a key).
func extraConfig(opts []types.BaseOptionValue) map[string]string {
	out := map[string]string{}
	for _, o := range opts {
		ov := o.GetOptionValue()
		if ov == nil {
			continue
		}
		if s, ok := ov.Value.(string); ok && s != "" {
			out[ov.Key] = s
		}
	}
	return out
}

// markerKey puts the wavectl. prefix on a marker key that lacks it.
func markerKey(k string) string {
	if strings.HasPrefix(k, MarkerPrefix) {
		return k
	}
	return MarkerPrefix + k
}

// WaitForIP waits, through a property collector wait rather than polling,
// until the VM is powered on, its tools run and it reports an IP.
func (g *Govmomi) WaitForIP(ctx context.Context, ref string, timeout time.Duration) (string, error) {
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var power, tools, ip string
	err := g.wait(wctx, vmRef(ref),
		[]string{"runtime.powerState", "guest.toolsRunningStatus", "guest.ipAddress"},
		func(changes []types.PropertyChange) bool {
			for _, c := range changes {
				s := fmt.Sprint(c.Val)
				if c.Val == nil || c.Op == types.PropertyChangeOpRemove {
					s = ""
				}
				switch c.Name {
				case "runtime.powerState":
					power = s
				case "guest.toolsRunningStatus":
					tools = s
				case "guest.ipAddress":
					ip = s
				}
			}
			return power == PoweredOn && tools == string(types.VirtualMachineToolsRunningStatusGuestToolsRunning) && ip != ""
		})
	switch {
	case err == nil:
		return ip, nil
	case ctx.Err() != nil:
		return "", g.fault("wait-for-ip", ref, ctx.Err())
	case wctx.Err() != nil:
		return "", &Fault{Op: "wait-for-ip", Object: ref, Kind: "Timeout", Err: wctx.Err(),
			Message: fmt.Sprintf("no IP within %s (power %s, tools %s, ip %q)", timeout, orNone(power), orNone(tools), ip)}
	}
	return "", g.fault("wait-for-ip", ref, err)
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// wait calls done with the object's properties (each of ps, as an assign
// with its value or, when it has none, a remove) every time the driver's
// poller reads them, until it returns true or ctx ends. A read that fails
// is tried again (poller.go); an object that is gone ends the wait with
// an error wrapping ErrNotFound.
func (g *Govmomi) wait(ctx context.Context, ref types.ManagedObjectReference, ps []string, done func([]types.PropertyChange) bool) error {
	return g.poll.await(ctx, ref, ps, 0, func(oc types.ObjectContent) bool {
		changes := make([]types.PropertyChange, 0, len(ps))
		for _, name := range ps {
			c := types.PropertyChange{Name: name, Op: types.PropertyChangeOpRemove}
			for _, p := range oc.PropSet {
				if p.Name == name {
					c.Op, c.Val = types.PropertyChangeOpAssign, p.Val
				}
			}
			changes = append(changes, c)
		}
		return done(changes)
	})
}
