package vsphere

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/ovf"
	"github.com/vmware/govmomi/ovf/importer"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// run starts a vCenter task and waits for it, turning a failure into a
// *Fault with the fault's own text.
func (g *Govmomi) run(ctx context.Context, op, obj string, start func() (*object.Task, error)) (*types.TaskInfo, error) {
	// obj is the VM's ref for a change to a VM (a name for a new one):
	// a record read before the change is not handed to the next.
	ref := vmRef(obj).Value
	g.handoff.changed(ref)
	defer g.handoff.changed(ref)
	t, err := start()
	if err != nil {
		return nil, g.fault(op, obj, err)
	}
	info, err := g.waitTaskOf(ctx, op, t)
	noteTaskTimes(ctx, info) // tasktimes.go
	if err != nil {
		return nil, g.fault(op, obj, err)
	}
	return info, nil
}

// waitTask waits for a task to end, through the driver's poller
// (poller.go), which reads all its tasks' info in one call per tick: a
// session that ends mid-wait (and is logged in again) fails a read, not
// the task, and the next read carries on. The info it returns is the
// task's whole TaskInfo (queue, start and complete times included); a
// task that failed returns it too, with a task.Error.
func (g *Govmomi) waitTask(ctx context.Context, t *object.Task) (*types.TaskInfo, error) {
	return g.waitTaskOf(ctx, "", t)
}

// waitTaskOf is waitTask for a task of a kind (run's op), whose past
// durations tell the poller when to read it.
func (g *Govmomi) waitTaskOf(ctx context.Context, kind string, t *object.Task) (*types.TaskInfo, error) {
	var info types.TaskInfo
	var expect time.Duration
	if kind != "" {
		expect = g.took.expect(kind)
	}
	err := g.poll.await(ctx, t.Reference(), []string{"info"}, expect, func(oc types.ObjectContent) bool {
		for _, p := range oc.PropSet {
			if ti, ok := p.Val.(types.TaskInfo); ok && p.Name == "info" {
				info = ti
			}
		}
		return info.State == types.TaskInfoStateSuccess || info.State == types.TaskInfoStateError
	})
	if err != nil {
		return nil, err
	}
	if kind != "" {
		g.took.ended(kind, &info)
	}
	if info.State == types.TaskInfoStateError {
		f := info.Error
		if f == nil {
			f = &types.LocalizedMethodFault{Fault: &types.SystemError{Reason: "the task failed without a fault"}, LocalizedMessage: "the task failed without saying why"}
		}
		return &info, task.Error{LocalizedMethodFault: f, Description: info.Description}
	}
	return &info, nil
}

// taskFailed reports whether err is the task's own failure rather than a
// failure to watch it.
func taskFailed(err error) bool {
	var te task.Error
	var pte *task.Error
	return errors.As(err, &te) || errors.As(err, &pte)
}

// runMethod is run for methods object.VirtualMachine does not wrap.
func (g *Govmomi) runMethod(ctx context.Context, op, obj string, start func() (types.ManagedObjectReference, error)) (*types.TaskInfo, error) {
	return g.run(ctx, op, obj, func() (*object.Task, error) {
		ref, err := start()
		if err != nil {
			return nil, err
		}
		return object.NewTask(g.c, ref), nil
	})
}

// target is a placement resolved to references. Nil fields are left to
// vCenter (or keep the VM's current value).
type target struct {
	ix     *dcIndex
	pool   *types.ManagedObjectReference
	host   *types.ManagedObjectReference
	ds     *types.ManagedObjectReference
	folder *types.ManagedObjectReference
}

type placeMode int

const (
	placeNew      placeMode = iota // create, import: pool and datastore needed
	placeClone                     // clone: pool needed unless the source's serves
	placeRelocate                  // relocate: empty keeps the VM's current value
)

// place resolves a placement in a datacenter. cur is the VM being cloned
// or moved (nil for create and import).
func (g *Govmomi) place(ctx context.Context, op, obj string, p Placement, cur *vmRecord, mode placeMode) (*target, error) {
	dcName := p.Datacenter
	if dcName == "" && cur != nil {
		dcName = cur.vm.Datacenter
	}
	ix, err := g.indexFor(ctx, dcName)
	if err != nil {
		return nil, g.fault(op, obj, err)
	}
	t := &target{ix: ix}
	where := ix.dc.name
	find := func(kind, name string, get func(*dcIndex) map[string]types.ManagedObjectReference) (*types.ManagedObjectReference, error) {
		ref, nix, ok, err := g.lookup(ctx, t.ix, func(x *dcIndex) (types.ManagedObjectReference, bool) {
			r, ok := get(x)[name]
			return r, ok
		})
		t.ix = nix
		if err != nil {
			return nil, g.fault(op, obj, err)
		}
		if !ok {
			return nil, notFound(op, obj, "%s %s does not exist in datacenter %s", kind, name, where)
		}
		return &ref, nil
	}
	sameDC := cur != nil && cur.vm.Datacenter == ix.dc.name

	var cr *types.ManagedObjectReference
	if p.Cluster != "" {
		if cr, err = find("cluster", p.Cluster, func(x *dcIndex) map[string]types.ManagedObjectReference { return x.computes }); err != nil {
			return nil, err
		}
	}
	if p.Host != "" {
		if t.host, err = find("host", p.Host, func(x *dcIndex) map[string]types.ManagedObjectReference { return x.hosts }); err != nil {
			return nil, err
		}
		parent := t.ix.m[*t.host].parent
		switch {
		case cr == nil:
			cr = parent
		case parent == nil || *parent != *cr:
			return nil, invalid(op, obj, "host %s is not in cluster %s", p.Host, p.Cluster)
		}
	}
	if p.ResourcePool != "" {
		if cr == nil && sameDC {
			cr = cur.cr
		}
		if cr == nil {
			return nil, invalid(op, obj, "resource pool %s needs a cluster or host to look it up in", p.ResourcePool)
		}
		path := strings.Trim(p.ResourcePool, "/")
		if t.pool, err = find("resource pool", path, func(x *dcIndex) map[string]types.ManagedObjectReference { return x.pools[*cr] }); err != nil {
			return nil, err
		}
	} else if cr != nil {
		// The compute resource's root pool, unless a relocate stays in
		// the VM's own cluster (where it keeps its pool).
		if mode != placeRelocate || !sameDC || cur.cr == nil || *cur.cr != *cr {
			if e := t.ix.m[*cr]; e != nil {
				t.pool = e.pool
			}
		}
	}
	if t.pool == nil {
		switch {
		case mode == placeNew:
			return nil, invalid(op, obj, "give a cluster, host or resource pool to put it in")
		case mode == placeClone && (!sameDC || cur.m.ResourcePool == nil):
			return nil, invalid(op, obj, "give a cluster, host or resource pool in datacenter %s to put the clone in", where)
		case mode == placeClone:
			t.pool = cur.m.ResourcePool
		case mode == placeRelocate && !sameDC:
			return nil, invalid(op, obj, "a move to datacenter %s needs a cluster, host or resource pool there", where)
		}
	}
	if p.Datastore != "" {
		if t.ds, err = find("datastore", p.Datastore, func(x *dcIndex) map[string]types.ManagedObjectReference { return x.datastores }); err != nil {
			return nil, err
		}
	} else if mode == placeNew || (mode == placeRelocate && !sameDC) {
		return nil, invalid(op, obj, "give a datastore in datacenter %s", where)
	}
	folder := strings.Trim(p.Folder, "/")
	if folder != "" {
		ref, nix, ok, err := g.lookup(ctx, t.ix, func(x *dcIndex) (types.ManagedObjectReference, bool) {
			r, ok := x.folders[folder]
			return r, ok
		})
		t.ix = nix
		if err != nil {
			return nil, g.fault(op, obj, err)
		}
		if !ok {
			return nil, notFound(op, obj, "folder %s does not exist in datacenter %s: create it first (govc folder.create /%s/vm/%s)", folder, where, t.ix.dc.path, folder)
		}
		t.folder = &ref
	} else if mode != placeRelocate || !sameDC {
		ref := t.ix.dc.vmFolder
		t.folder = &ref
	}
	return t, nil
}

// remapNICs is the device changes that move each NIC whose network is a
// key of networks onto the portgroup it maps to, in ix's datacenter. Both
// standard and distributed portgroups work as sources and targets.
func (g *Govmomi) remapNICs(ctx context.Context, op, obj string, ix *dcIndex, nics []nic, networks map[string]string) ([]types.BaseVirtualDeviceConfigSpec, error) {
	var changes []types.BaseVirtualDeviceConfigSpec
	for _, n := range nics {
		to, ok := networks[n.network]
		if !ok || to == "" || to == n.network {
			continue
		}
		ref, nix, ok, err := g.lookup(ctx, ix, func(x *dcIndex) (types.ManagedObjectReference, bool) {
			r, ok := x.networks[to]
			return r, ok
		})
		ix = nix
		if err != nil {
			return nil, g.fault(op, obj, err)
		}
		if !ok {
			return nil, notFound(op, obj, "portgroup %s does not exist in datacenter %s", to, ix.dc.name)
		}
		b, err := g.backing(ctx, ref)
		if err != nil {
			return nil, g.fault(op, obj, err)
		}
		// An edited copy: the record read may be shared (handoff.go), and
		// a request being sent may hold the same device.
		dev := copyDevice(n.device.(types.BaseVirtualDevice))
		dev.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().Backing = b
		changes = append(changes, &types.VirtualDeviceConfigSpec{
			Operation: types.VirtualDeviceConfigSpecOperationEdit,
			Device:    dev,
		})
	}
	return changes, nil
}

// copyDevice is a shallow copy of a device: its own struct (and so its own
// backing field), whatever its concrete type.
func copyDevice(d types.BaseVirtualDevice) types.BaseVirtualDevice {
	v := reflect.ValueOf(d).Elem()
	c := reflect.New(v.Type())
	c.Elem().Set(v)
	return c.Interface().(types.BaseVirtualDevice)
}

// markerOptions are markers as extraConfig options, in key order. An empty
// value deletes the key: that is how vSphere removes extraConfig entries.
func markerOptions(markers map[string]string) []types.BaseOptionValue {
	keys := make([]string, 0, len(markers))
	for k := range markers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var opts []types.BaseOptionValue
	for _, k := range keys {
		opts = append(opts, &types.OptionValue{Key: markerKey(k), Value: markers[k]})
	}
	return opts
}

// Clone clones a VM or template into the placement. NICs whose network is
// a key of spec.Networks move to the mapped portgroup; spec.Markers become
// the clone's markers (markers the source carried and spec does not name
// are cleared, so a clone never claims its source's history); with a
// Customization, the guest gets a Linux identity (the hostname, or the VM
// name when empty; the domain, or "localdomain") and the first NIC the
// fixed IP (DHCP when IP is empty; further NICs DHCP). The target folder
// must exist.
func (g *Govmomi) Clone(ctx context.Context, spec CloneSpec) (*VM, error) {
	const op = "clone"
	src, err := g.recordForChange(ctx, vmRef(spec.Source))
	if err != nil {
		return nil, g.fault(op, spec.Name, err)
	}
	t, err := g.place(ctx, op, spec.Name, spec.Target, src, placeClone)
	if err != nil {
		return nil, err
	}
	nics, err := g.remapNICs(ctx, op, spec.Name, t.ix, src.nics, spec.Networks)
	if err != nil {
		return nil, err
	}
	markers := map[string]string{}
	for k := range src.vm.Markers {
		markers[k] = ""
	}
	for k, v := range spec.Markers {
		markers[markerKey(k)] = v
	}
	config := &types.VirtualMachineConfigSpec{ExtraConfig: markerOptions(markers)}
	if spec.CPUs > 0 {
		config.NumCPUs = int32(spec.CPUs)
	}
	if spec.MemoryMB > 0 {
		config.MemoryMB = int64(spec.MemoryMB)
	}
	cs := types.VirtualMachineCloneSpec{
		Location: types.VirtualMachineRelocateSpec{
			Pool:         t.pool,
			Host:         t.host,
			Datastore:    t.ds,
			Folder:       t.folder,
			DeviceChange: nics,
		},
		Config:  config,
		PowerOn: spec.PowerOn,
	}
	if c := spec.Customization; c != nil {
		cs.Customization = customization(c, len(src.nics))
	}
	folder := object.NewFolder(g.c, *t.folder)
	info, err := g.run(ctx, op, spec.Name, func() (*object.Task, error) {
		return object.NewVirtualMachine(g.c, src.m.Self).Clone(ctx, folder, spec.Name, cs)
	})
	if err != nil {
		return nil, err
	}
	return g.created(ctx, op, spec.Name, info)
}

// created reads the VM a task made.
func (g *Govmomi) created(ctx context.Context, op, name string, info *types.TaskInfo) (*VM, error) {
	ref, ok := info.Result.(types.ManagedObjectReference)
	if !ok {
		return nil, &Fault{Op: op, Object: name, Message: fmt.Sprintf("the task returned %T, not the new VM", info.Result)}
	}
	return g.newVM(ctx, op, name, ref)
}

func (g *Govmomi) newVM(ctx context.Context, op, name string, ref types.ManagedObjectReference) (*VM, error) {
	r, err := g.record(ctx, ref)
	if err != nil {
		return nil, g.fault(op, name, err)
	}
	return r.vm, nil
}

// customization is the guest customisation for a clone with nics NICs.
func customization(c *Customization, nics int) *types.CustomizationSpec {
	var name types.BaseCustomizationName = &types.CustomizationVirtualMachineName{}
	if c.Hostname != "" {
		name = &types.CustomizationFixedName{Name: c.Hostname}
	}
	domain := c.Domain
	if domain == "" {
		domain = "localdomain"
	}
	spec := &types.CustomizationSpec{
		Identity:         &types.CustomizationLinuxPrep{HostName: name, Domain: domain},
		GlobalIPSettings: types.CustomizationGlobalIPSettings{DnsServerList: c.DNS},
	}
	if c.Domain != "" {
		spec.GlobalIPSettings.DnsSuffixList = []string{c.Domain}
	}
	for i := 0; i < nics; i++ {
		ip := types.CustomizationIPSettings{Ip: &types.CustomizationDhcpIpGenerator{}}
		if i == 0 && c.IP != "" {
			ip.Ip = &types.CustomizationFixedIp{IpAddress: c.IP}
			ip.SubnetMask = c.Netmask
			if c.Gateway != "" {
				ip.Gateway = []string{c.Gateway}
			}
			ip.DnsServerList = c.DNS
			ip.DnsDomain = c.Domain
		}
		spec.NicSettingMap = append(spec.NicSettingMap, types.CustomizationAdapterMapping{Adapter: ip})
	}
	return spec
}

// Create makes a new VM from a hardware description: a paravirtual SCSI
// controller (another for every 15 disks), thin disks, vmxnet3 NICs on the
// named portgroups. It is left powered off.
func (g *Govmomi) Create(ctx context.Context, spec CreateSpec) (*VM, error) {
	const op = "create"
	t, err := g.place(ctx, op, spec.Name, spec.Target, nil, placeNew)
	if err != nil {
		return nil, err
	}
	var devices object.VirtualDeviceList
	var ctrl types.BaseVirtualController
	for i, gb := range spec.DisksGB {
		if i%15 == 0 {
			c, err := devices.CreateSCSIController("pvscsi")
			if err != nil {
				return nil, invalid(op, spec.Name, "%d disks: %v", len(spec.DisksGB), err)
			}
			devices = append(devices, c)
			ctrl = c.(types.BaseVirtualController)
		}
		disk := devices.CreateDisk(ctrl, *t.ds, "")
		disk.CapacityInKB = int64(gb) << 20
		devices = append(devices, disk)
	}
	for _, pg := range spec.Networks {
		ref, nix, ok, err := g.lookup(ctx, t.ix, func(x *dcIndex) (types.ManagedObjectReference, bool) {
			r, ok := x.networks[pg]
			return r, ok
		})
		t.ix = nix
		if err != nil {
			return nil, g.fault(op, spec.Name, err)
		}
		if !ok {
			return nil, notFound(op, spec.Name, "portgroup %s does not exist in datacenter %s", pg, t.ix.dc.name)
		}
		b, err := g.backing(ctx, ref)
		if err != nil {
			return nil, g.fault(op, spec.Name, err)
		}
		card, err := devices.CreateEthernetCard("vmxnet3", b)
		if err != nil {
			return nil, invalid(op, spec.Name, "%v", err)
		}
		card.GetVirtualDevice().Key = devices.NewKey()
		devices = append(devices, card)
	}
	changes, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return nil, invalid(op, spec.Name, "%v", err)
	}
	config := types.VirtualMachineConfigSpec{
		Name:         spec.Name,
		GuestId:      spec.GuestID,
		NumCPUs:      int32(spec.CPUs),
		MemoryMB:     int64(spec.MemoryMB),
		Files:        &types.VirtualMachineFileInfo{VmPathName: "[" + t.ix.name(t.ds) + "]"},
		DeviceChange: changes,
		ExtraConfig:  markerOptions(spec.Markers),
	}
	if spec.HardwareVersion != "" {
		hv, err := types.ParseHardwareVersion(spec.HardwareVersion)
		if err != nil {
			return nil, invalid(op, spec.Name, "hardware version: %v", err)
		}
		config.Version = hv.String()
	}
	folder := object.NewFolder(g.c, *t.folder)
	info, err := g.run(ctx, op, spec.Name, func() (*object.Task, error) {
		return folder.CreateVM(ctx, config, object.NewResourcePool(g.c, *t.pool), hostObject(g, t.host))
	})
	if err != nil {
		return nil, err
	}
	return g.created(ctx, op, spec.Name, info)
}

func hostObject(g *Govmomi, ref *types.ManagedObjectReference) *object.HostSystem {
	if ref == nil {
		return nil
	}
	return object.NewHostSystem(g.c, *ref)
}

// Import deploys an OVF or OVA from the local disk as a new VM, through
// vCenter's OVF manager and an NFC lease: thin disks, the OVF's networks
// mapped by spec.Networks, the markers in the VM's extraConfig.
func (g *Govmomi) Import(ctx context.Context, spec ImportSpec) (*VM, error) {
	const op = "import"
	t, err := g.place(ctx, op, spec.Name, spec.Target, nil, placeNew)
	if err != nil {
		return nil, err
	}
	opener := importer.Opener{Client: g.c}
	var archive importer.Archive = &importer.FileArchive{Path: spec.Path, Opener: opener}
	ovfPath := spec.Path
	if strings.EqualFold(filepath.Ext(spec.Path), ".ova") {
		archive = &importer.TapeArchive{Path: spec.Path, Opener: opener}
		ovfPath = "*.ovf"
	}
	data, err := importer.ReadOvf(ovfPath, archive)
	if err != nil {
		return nil, invalid(op, spec.Name, "read %s: %v", spec.Path, err)
	}
	env, err := importer.ReadEnvelope(data)
	if err != nil {
		return nil, invalid(op, spec.Name, "%s: %v", spec.Path, err)
	}
	if env.VirtualSystem == nil {
		return nil, invalid(op, spec.Name, "%s holds a vApp, not a single VM", spec.Path)
	}
	cisp := types.OvfCreateImportSpecParams{
		EntityName:             spec.Name,
		DiskProvisioning:       string(types.OvfCreateImportSpecParamsDiskProvisioningTypeThin),
		OvfManagerCommonParams: types.OvfManagerCommonParams{Locale: "US"},
	}
	for _, from := range slices.Sorted(mapsKeys(spec.Networks)) {
		to := spec.Networks[from]
		ref, nix, ok, err := g.lookup(ctx, t.ix, func(x *dcIndex) (types.ManagedObjectReference, bool) {
			r, ok := x.networks[to]
			return r, ok
		})
		t.ix = nix
		if err != nil {
			return nil, g.fault(op, spec.Name, err)
		}
		if !ok {
			return nil, notFound(op, spec.Name, "portgroup %s does not exist in datacenter %s", to, t.ix.dc.name)
		}
		cisp.NetworkMapping = append(cisp.NetworkMapping, types.OvfNetworkMapping{Name: from, Network: ref})
	}
	pool := object.NewResourcePool(g.c, *t.pool)
	res, err := ovf.NewManager(g.c).CreateImportSpec(ctx, string(data), pool, object.NewDatastore(g.c, *t.ds), &cisp)
	if err != nil {
		return nil, g.fault(op, spec.Name, err)
	}
	if len(res.Error) > 0 {
		return nil, g.fault(op, spec.Name, task.Error{LocalizedMethodFault: &res.Error[0]})
	}
	vmSpec, ok := res.ImportSpec.(*types.VirtualMachineImportSpec)
	if !ok {
		return nil, invalid(op, spec.Name, "%s holds a vApp, not a single VM", spec.Path)
	}
	vmSpec.ConfigSpec.ExtraConfig = append(vmSpec.ConfigSpec.ExtraConfig, markerOptions(spec.Markers)...)

	lease, err := pool.ImportVApp(ctx, res.ImportSpec, object.NewFolder(g.c, *t.folder), hostObject(g, t.host))
	if err != nil {
		return nil, g.fault(op, spec.Name, err)
	}
	info, err := lease.Wait(ctx, res.FileItem)
	if err != nil {
		_ = lease.Abort(context.WithoutCancel(ctx), nil)
		return nil, g.fault(op, spec.Name, err)
	}
	u := lease.StartUpdater(ctx, info)
	imp := importer.Importer{Client: g.c, Archive: archive, Log: func(string) (int, error) { return 0, nil }}
	for _, item := range info.Items {
		if err := imp.Upload(ctx, lease, item); err != nil {
			u.Done()
			// Aborting makes vCenter remove the half-imported VM.
			_ = lease.Abort(context.WithoutCancel(ctx), &types.LocalizedMethodFault{
				Fault: &types.FileFault{File: item.Path}, LocalizedMessage: err.Error(),
			})
			return nil, g.fault(op, spec.Name, fmt.Errorf("upload %s: %w", item.Path, err))
		}
	}
	u.Done()
	if err := lease.Complete(ctx); err != nil {
		return nil, g.fault(op, spec.Name, err)
	}
	return g.newVM(ctx, op, spec.Name, info.Entity)
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Relocate moves a VM to another host, pool, datastore or folder, into
// another datacenter (give its cluster or host, datastore and folder), or,
// with spec.Service, into another vCenter (which must be registered with
// AddPeer so its names can be resolved). NICs are remapped on the way.
func (g *Govmomi) Relocate(ctx context.Context, ref string, spec RelocateSpec) error {
	const op = "relocate"
	cur, err := g.recordForChange(ctx, vmRef(ref))
	if err != nil {
		return g.fault(op, ref, err)
	}
	at, mode := g, placeRelocate
	locator, peer, err := g.locator(ctx, op, ref, spec)
	if err != nil {
		return err
	}
	if peer != nil {
		at, mode = peer, placeNew
	}
	var t *target
	if mode == placeNew {
		if spec.Target.Datacenter == "" {
			return invalid(op, ref, "a move to another vCenter needs the datacenter there")
		}
		t, err = at.place(ctx, op, ref, spec.Target, nil, placeNew)
	} else {
		t, err = at.place(ctx, op, ref, spec.Target, cur, placeRelocate)
	}
	if err != nil {
		return err
	}
	nics, err := at.remapNICs(ctx, op, ref, t.ix, cur.nics, spec.Networks)
	if err != nil {
		return err
	}
	rs := types.VirtualMachineRelocateSpec{
		Service:      locator,
		Pool:         t.pool,
		Host:         t.host,
		Datastore:    t.ds,
		Folder:       t.folder,
		DeviceChange: nics,
	}
	if rs.Pool == nil && rs.Host == nil && rs.Datastore == nil && rs.Folder == nil && locator == nil {
		if len(nics) == 0 {
			return nil
		}
		// Only the networks change: a reconfigure does that on any
		// vCenter version and in any power state.
		_, err = g.run(ctx, op, ref, func() (*object.Task, error) {
			return object.NewVirtualMachine(g.c, cur.m.Self).Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: nics})
		})
		return err
	}
	_, err = g.run(ctx, op, ref, func() (*object.Task, error) {
		return object.NewVirtualMachine(g.c, cur.m.Self).Relocate(ctx, rs, types.VirtualMachineMovePriorityDefaultPriority)
	})
	return err
}

// Reconfigure changes CPUs, memory, NIC networks and markers, leaving out
// what already has the asked value (no task at all when nothing differs).
func (g *Govmomi) Reconfigure(ctx context.Context, ref string, spec ReconfigureSpec) error {
	const op = "reconfigure"
	cur, err := g.recordForChange(ctx, vmRef(ref))
	if err != nil {
		return g.fault(op, ref, err)
	}
	var cs types.VirtualMachineConfigSpec
	changed := false
	if spec.CPUs > 0 && spec.CPUs != cur.vm.CPUs {
		cs.NumCPUs, changed = int32(spec.CPUs), true
	}
	if spec.MemoryMB > 0 && spec.MemoryMB != cur.vm.MemoryMB {
		cs.MemoryMB, changed = int64(spec.MemoryMB), true
	}
	if len(spec.Networks) > 0 {
		ix, err := g.indexFor(ctx, cur.vm.Datacenter)
		if err != nil {
			return g.fault(op, ref, err)
		}
		if cs.DeviceChange, err = g.remapNICs(ctx, op, ref, ix, cur.nics, spec.Networks); err != nil {
			return err
		}
		changed = changed || len(cs.DeviceChange) > 0
	}
	if m := changedMarkers(cur.vm.Markers, spec.Markers); len(m) > 0 {
		cs.ExtraConfig, changed = markerOptions(m), true
	}
	if !changed {
		return nil
	}
	_, err = g.run(ctx, op, ref, func() (*object.Task, error) {
		return object.NewVirtualMachine(g.c, cur.m.Self).Reconfigure(ctx, cs)
	})
	return err
}

// changedMarkers is the part of want that differs from have.
func changedMarkers(have, want map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range want {
		if have[markerKey(k)] != v {
			out[markerKey(k)] = v
		}
	}
	return out
}

// SetMarkers merges markers into the VM's extraConfig: keys not named stay
// as they are, and an empty value deletes its key (vSphere removes an
// extraConfig key set to ""). Keys without the wavectl. prefix get it.
// It writes without reading the VM first (one task, no read): callers
// know the VM's markers from their own read and write only a change.
func (g *Govmomi) SetMarkers(ctx context.Context, ref string, markers map[string]string) error {
	const op = "reconfigure"
	if len(markers) == 0 {
		return nil
	}
	m := make(map[string]string, len(markers))
	for k, v := range markers {
		m[markerKey(k)] = v
	}
	_, err := g.run(ctx, op, ref, func() (*object.Task, error) {
		return object.NewVirtualMachine(g.c, vmRef(ref)).Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: markerOptions(m)})
	})
	return err
}

// UpgradeHardware upgrades the VM's hardware version ("vmx-19" or "19").
// A VM already at that version or later is left alone. vCenter refuses a
// powered-on VM (InvalidPowerState).
func (g *Govmomi) UpgradeHardware(ctx context.Context, ref, version string) error {
	const op = "upgrade-hardware"
	want, err := types.ParseHardwareVersion(version)
	if err != nil || !want.IsValid() {
		return invalid(op, ref, "hardware version %q: give it as vmx-NN", version)
	}
	var m mo.VirtualMachine
	if rec := g.handoff.take(vmRef(ref).Value); rec != nil {
		m = rec.m
	} else if err := g.props(ctx, ref, []string{"config.version"}, &m); err != nil {
		return g.fault(op, ref, err)
	}
	if m.Config != nil {
		if have, err := types.ParseHardwareVersion(m.Config.Version); err == nil && have >= want {
			return nil
		}
	}
	_, err = g.run(ctx, op, ref, func() (*object.Task, error) {
		return object.NewVirtualMachine(g.c, m.Self).UpgradeVM(ctx, want.String())
	})
	if f, ok := err.(*Fault); ok && (f.Kind == "AlreadyUpgraded" || f.Kind == "AlreadyUpgradedFault") {
		return nil
	}
	return err
}

// props reads a few properties of one VM.
func (g *Govmomi) props(ctx context.Context, ref string, ps []string, dst *mo.VirtualMachine) error {
	return property.DefaultCollector(g.c).RetrieveOne(ctx, vmRef(ref), ps, dst)
}

// powerState reads a VM's power state and tools status (or takes them
// from the record the caller's step just read).
func (g *Govmomi) powerState(ctx context.Context, ref string) (types.VirtualMachinePowerState, string, error) {
	var m mo.VirtualMachine
	if rec := g.handoff.take(vmRef(ref).Value); rec != nil {
		m = rec.m
	} else if err := g.props(ctx, ref, []string{"runtime.powerState", "guest.toolsRunningStatus"}, &m); err != nil {
		return "", "", err
	}
	tools := ""
	if m.Guest != nil {
		tools = m.Guest.ToolsRunningStatus
	}
	return m.Runtime.PowerState, tools, nil
}

// alreadyIn reports whether err is vCenter refusing a power change because
// the VM is already in state (a race with another change).
func alreadyIn(err error, state types.VirtualMachinePowerState) bool {
	mf, _, ok := methodFault(err)
	if !ok {
		return false
	}
	switch f := mf.(type) {
	case *types.InvalidPowerState:
		return f.ExistingState == state
	case *types.InvalidPowerStateFault:
		return f.ExistingState == state
	}
	return false
}

// PowerOn powers the VM on; one already on is left as it is (vCenter's
// refusal, InvalidPowerState, says so: no read first).
func (g *Govmomi) PowerOn(ctx context.Context, ref string) error {
	const op = "power-on"
	_, err := g.run(ctx, op, ref, func() (*object.Task, error) {
		return object.NewVirtualMachine(g.c, vmRef(ref)).PowerOn(ctx)
	})
	if alreadyIn(err, types.VirtualMachinePowerStatePoweredOn) {
		return nil
	}
	return err
}

// PowerOff powers the VM off at once; one already off is left as it is
// (vCenter's refusal says so: no read first).
func (g *Govmomi) PowerOff(ctx context.Context, ref string) error {
	return g.powerOff(ctx, "power-off", ref)
}

func (g *Govmomi) powerOff(ctx context.Context, op, ref string) error {
	_, err := g.run(ctx, op, ref, func() (*object.Task, error) {
		return object.NewVirtualMachine(g.c, vmRef(ref)).PowerOff(ctx)
	})
	if alreadyIn(err, types.VirtualMachinePowerStatePoweredOff) {
		return nil
	}
	return err
}

// Shutdown asks the guest to shut down and waits up to timeout for the VM
// to be off, then powers it off. A VM without running tools (or
// suspended) is powered off at once; one already off is left alone.
func (g *Govmomi) Shutdown(ctx context.Context, ref string, timeout time.Duration) error {
	const op = "shutdown"
	state, tools, err := g.powerState(ctx, ref)
	if err != nil {
		return g.fault(op, ref, err)
	}
	switch {
	case state == types.VirtualMachinePowerStatePoweredOff:
		return nil
	case state != types.VirtualMachinePowerStatePoweredOn,
		tools != string(types.VirtualMachineToolsRunningStatusGuestToolsRunning):
		return g.powerOff(ctx, op, ref)
	}
	vm := object.NewVirtualMachine(g.c, vmRef(ref))
	g.handoff.changed(vm.Reference().Value)
	defer g.handoff.changed(vm.Reference().Value)
	if err := vm.ShutdownGuest(ctx); err != nil {
		if alreadyIn(err, types.VirtualMachinePowerStatePoweredOff) {
			return nil
		}
		if IsNotFound(classify(op, ref, err)) || ctx.Err() != nil {
			return g.fault(op, ref, err)
		}
		// Tools stopped answering between the read and the call.
		return g.powerOff(ctx, op, ref)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = g.wait(wctx, vm.Reference(), []string{"runtime.powerState"}, func(changes []types.PropertyChange) bool {
		for _, c := range changes {
			if c.Name == "runtime.powerState" && c.Val == types.VirtualMachinePowerStatePoweredOff {
				return true
			}
		}
		return false
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return g.fault(op, ref, ctx.Err())
	case wctx.Err() == nil:
		return g.fault(op, ref, err)
	}
	return g.powerOff(ctx, op, ref)
}

// CreateSnapshot snapshots the VM (without memory, not quiesced). A
// snapshot of that name already there is returned instead of a second
// one, so a step re-run after a crash does not leave two.
func (g *Govmomi) CreateSnapshot(ctx context.Context, ref, name, description string) (Snapshot, error) {
	const op = "snapshot"
	cur, err := g.recordForChange(ctx, vmRef(ref))
	if err != nil {
		return Snapshot{}, g.fault(op, ref, err)
	}
	for _, s := range cur.vm.Snapshots {
		if s.Name == name {
			return s, nil
		}
	}
	info, err := g.run(ctx, op, ref, func() (*object.Task, error) {
		return object.NewVirtualMachine(g.c, cur.m.Self).CreateSnapshot(ctx, name, description, false, false)
	})
	if err != nil {
		return Snapshot{}, err
	}
	snap, ok := info.Result.(types.ManagedObjectReference)
	if !ok {
		return Snapshot{}, &Fault{Op: op, Object: ref, Message: fmt.Sprintf("the task returned %T, not the snapshot", info.Result)}
	}
	return Snapshot{Ref: snap.Value, Name: name}, nil
}

// snapshot finds a VM's snapshot by ref or, failing that, by name.
func (g *Govmomi) snapshot(ctx context.Context, op, ref, snap string) (*types.ManagedObjectReference, error) {
	cur, err := g.recordForChange(ctx, vmRef(ref))
	if err != nil {
		return nil, g.fault(op, ref, err)
	}
	var byName []Snapshot
	for _, s := range cur.vm.Snapshots {
		if s.Ref == snap {
			return &types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: s.Ref}, nil
		}
		if s.Name == snap {
			byName = append(byName, s)
		}
	}
	switch len(byName) {
	case 0:
		return nil, nil
	case 1:
		return &types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: byName[0].Ref}, nil
	}
	return nil, invalid(op, ref, "%d snapshots are called %s: give its ref", len(byName), snap)
}

// RevertSnapshot reverts the VM to a snapshot (by ref, or by name).
func (g *Govmomi) RevertSnapshot(ctx context.Context, ref, snap string) error {
	const op = "revert-snapshot"
	s, err := g.snapshot(ctx, op, ref, snap)
	if err != nil {
		return err
	}
	if s == nil {
		return notFound(op, ref, "VM %s has no snapshot %s", ref, snap)
	}
	_, err = g.runMethod(ctx, op, ref, func() (types.ManagedObjectReference, error) {
		res, err := methods.RevertToSnapshot_Task(ctx, g.c, &types.RevertToSnapshot_Task{This: *s})
		if err != nil {
			return types.ManagedObjectReference{}, err
		}
		return res.Returnval, nil
	})
	return err
}

// RemoveSnapshot removes one snapshot (by ref, or by name), keeping its
// children and consolidating disks. One already gone is not an error.
func (g *Govmomi) RemoveSnapshot(ctx context.Context, ref, snap string) error {
	const op = "remove-snapshot"
	s, err := g.snapshot(ctx, op, ref, snap)
	if err != nil || s == nil {
		return err
	}
	_, err = g.runMethod(ctx, op, ref, func() (types.ManagedObjectReference, error) {
		res, err := methods.RemoveSnapshot_Task(ctx, g.c, &types.RemoveSnapshot_Task{
			This: *s, RemoveChildren: false, Consolidate: types.NewBool(true),
		})
		if err != nil {
			return types.ManagedObjectReference{}, err
		}
		return res.Returnval, nil
	})
	if IsNotFound(err) {
		// Removed meanwhile, by another task (a killed run's, which
		// vCenter finishes on its own): gone is what was asked.
		if again, aerr := g.snapshot(ctx, op, ref, snap); aerr == nil && again == nil {
			return nil
		}
	}
	return err
}

// Rename renames the VM (nothing to do when it already has the name).
func (g *Govmomi) Rename(ctx context.Context, ref, name string) error {
	const op = "rename"
	var m mo.VirtualMachine
	if err := g.props(ctx, ref, []string{"name"}, &m); err != nil {
		return g.fault(op, ref, err)
	}
	if m.Name == name {
		return nil
	}
	_, err := g.run(ctx, op, ref, func() (*object.Task, error) {
		return object.NewVirtualMachine(g.c, m.Self).Rename(ctx, name)
	})
	return err
}

// MoveToFolder moves the VM into a folder (a path under the datacenter's
// vm folder; "" is the vm folder itself). The folder must exist.
func (g *Govmomi) MoveToFolder(ctx context.Context, ref, datacenter, folder string) error {
	const op = "move"
	cur, err := g.recordForChange(ctx, vmRef(ref))
	if err != nil {
		return g.fault(op, ref, err)
	}
	folder = strings.Trim(folder, "/")
	if datacenter == "" {
		datacenter = cur.vm.Datacenter
	}
	ix, err := g.indexFor(ctx, datacenter)
	if err != nil {
		return g.fault(op, ref, err)
	}
	if cur.vm.Datacenter == ix.dc.name && cur.vm.Folder == folder {
		return nil
	}
	f, ix, ok, err := g.lookup(ctx, ix, func(x *dcIndex) (types.ManagedObjectReference, bool) {
		r, ok := x.folders[folder]
		return r, ok
	})
	if err != nil {
		return g.fault(op, ref, err)
	}
	if !ok {
		return notFound(op, ref, "folder %s does not exist in datacenter %s: create it first (govc folder.create /%s/vm/%s)", folder, ix.dc.name, ix.dc.path, folder)
	}
	_, err = g.run(ctx, op, ref, func() (*object.Task, error) {
		return object.NewFolder(g.c, f).MoveInto(ctx, []types.ManagedObjectReference{cur.m.Self})
	})
	return err
}

// Destroy powers the VM off if needed and deletes it with its files. A VM
// that no longer exists is not an error, so a re-run after a crash is safe.
func (g *Govmomi) Destroy(ctx context.Context, ref string) error {
	const op = "destroy"
	state, _, err := g.powerState(ctx, ref)
	if err != nil {
		if err := classify(op, ref, err); IsNotFound(err) {
			return nil
		}
		return g.fault(op, ref, err)
	}
	if state != types.VirtualMachinePowerStatePoweredOff {
		if err := g.powerOff(ctx, op, ref); err != nil {
			return err
		}
	}
	_, err = g.run(ctx, op, ref, func() (*object.Task, error) {
		return object.NewVirtualMachine(g.c, vmRef(ref)).Destroy(ctx)
	})
	if IsNotFound(err) {
		return nil
	}
	return err
}
