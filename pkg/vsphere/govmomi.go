package vsphere

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Govmomi is the Driver for one vCenter, on govmomi. It reads in bulk
// through the property collector and container views, and caches only what
// does not change during a run: datacenters, folders, clusters, pools,
// hosts, datastores and portgroups (looked up again on a miss, forgotten
// when vCenter says an object is gone). VM state is never cached.
//
// A Govmomi is safe for concurrent use; the *vim25.Client it wraps should
// keep its session alive (see connect.go).
type Govmomi struct {
	name string
	c    *vim25.Client

	mu       sync.Mutex
	dcs      map[string]*dcInfo  // by name and by path
	index    map[string]*dcIndex // by datacenter ref value
	backings map[types.ManagedObjectReference]types.BaseVirtualDeviceBackingInfo
	peers    map[string]*peer                                              // other vCenters, by plan name and by URL, for cross-vCenter moves
	poll     *poller                                                       // every task and VM wait of the driver, in one read per tick (poller.go)
	took     taskDurations                                                 // how long its tasks took, by kind (poller.go)
	handoff  handoff                                                       // VMs just read, for the change that follows (handoff.go)
	views    map[types.ManagedObjectReference]types.ManagedObjectReference // container views of VM folders, for searches (handoff.go)
	viewMu   sync.Mutex                                                    // held while a view is made
}

var _ Driver = (*Govmomi)(nil)

// NewGovmomi returns the driver for the vCenter the plan calls name,
// talking through c.
func NewGovmomi(name string, c *vim25.Client) *Govmomi {
	return &Govmomi{
		name:     name,
		c:        c,
		dcs:      map[string]*dcInfo{},
		index:    map[string]*dcIndex{},
		backings: map[types.ManagedObjectReference]types.BaseVirtualDeviceBackingInfo{},
		peers:    map[string]*peer{},
		poll:     newPoller(c),
		views:    map[types.ManagedObjectReference]types.ManagedObjectReference{},
	}
}

// Name is the vCenter's name in the plan.
func (g *Govmomi) Name() string { return g.name }

// InstanceUUID is the vCenter's instance UUID, from the service content
// read at login.
func (g *Govmomi) InstanceUUID() string { return g.c.ServiceContent.About.InstanceUuid }

// Client is the vim25 client the driver talks through.
func (g *Govmomi) Client() *vim25.Client { return g.c }

// forget drops every cached lookup: called when vCenter says an object we
// resolved from the cache no longer exists.
func (g *Govmomi) forget() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dcs = map[string]*dcInfo{}
	g.index = map[string]*dcIndex{}
	g.backings = map[types.ManagedObjectReference]types.BaseVirtualDeviceBackingInfo{}
}

// fault classifies err for op on object, and forgets the caches when the
// fault says something we looked up has gone.
func (g *Govmomi) fault(op, object string, err error) error {
	var f *Fault
	if errors.As(err, &f) {
		return err // already classified, or a name we looked up afresh
	}
	err = classify(op, object, err)
	if errors.As(err, &f) && f.Kind == "ManagedObjectNotFound" {
		g.forget()
	}
	return err
}

// notFound is the fault for a name that resolves to nothing.
func notFound(op, object, format string, args ...any) *Fault {
	return &Fault{Op: op, Object: object, Kind: "NotFound", Message: fmt.Sprintf(format, args...), Err: ErrNotFound}
}

// invalid is the fault for a request that cannot be made as asked.
func invalid(op, object, format string, args ...any) *Fault {
	return &Fault{Op: op, Object: object, Kind: "InvalidArgument", Message: fmt.Sprintf(format, args...)}
}

// vmRef turns "vm-123" (or "VirtualMachine:vm-123") into a reference.
func vmRef(ref string) types.ManagedObjectReference {
	var r types.ManagedObjectReference
	if strings.Contains(ref, ":") && r.FromString(ref) {
		return r
	}
	return types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}
}

// dcInfo is a datacenter as the driver caches it.
type dcInfo struct {
	ref      types.ManagedObjectReference
	name     string
	path     string // under the root folder, without a leading slash: "DC1", "EU/DC1"
	vmFolder types.ManagedObjectReference
}

// datacenter resolves a datacenter by name or inventory path. An empty
// name means the only datacenter there is.
func (g *Govmomi) datacenter(ctx context.Context, name string) (*dcInfo, error) {
	key := strings.Trim(name, "/")
	g.mu.Lock()
	dc := g.dcs[key]
	g.mu.Unlock()
	if dc != nil {
		return dc, nil
	}
	all, err := g.readDatacenters(ctx)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, d := range all {
		g.dcs[d.name] = d
		g.dcs[d.path] = d
	}
	if key == "" {
		if len(all) == 1 {
			return all[0], nil
		}
		return nil, fmt.Errorf("name the datacenter: this vCenter has %d", len(all))
	}
	if dc := g.dcs[key]; dc != nil {
		return dc, nil
	}
	return nil, fmt.Errorf("datacenter %s: %w", name, ErrNotFound)
}

// readDatacenters reads every datacenter with its path in one retrieve.
func (g *Govmomi) readDatacenters(ctx context.Context) ([]*dcInfo, error) {
	content, err := g.retrieveView(ctx, g.c.ServiceContent.RootFolder, []types.PropertySpec{
		{Type: "Datacenter", PathSet: []string{"name", "parent", "vmFolder"}},
		{Type: "Folder", PathSet: []string{"name", "parent"}},
	}, []string{"Datacenter", "Folder"})
	if err != nil {
		return nil, classify("read", "datacenters", err)
	}
	ents := map[types.ManagedObjectReference]*entity{}
	var dcs []*dcInfo
	for _, oc := range content {
		v, err := decode(oc)
		if err != nil {
			continue
		}
		switch m := v.(type) {
		case mo.Datacenter:
			ents[m.Self] = &entity{ref: m.Self, name: m.Name, parent: m.Parent}
			dcs = append(dcs, &dcInfo{ref: m.Self, name: m.Name, vmFolder: m.VmFolder})
		case mo.Folder:
			ents[m.Self] = &entity{ref: m.Self, name: m.Name, parent: m.Parent}
		}
	}
	ix := &entities{m: ents}
	for _, dc := range dcs {
		dc.path = strings.Join(ix.chain(dc.ref, nil), "/")
	}
	return dcs, nil
}

// retrieveView reads the properties in specs of every object under root,
// through a container view: three round trips whatever the inventory's
// size (more only when vCenter pages a very large result).
func (g *Govmomi) retrieveView(ctx context.Context, root types.ManagedObjectReference, specs []types.PropertySpec, kinds []string) ([]types.ObjectContent, error) {
	v, err := view.NewManager(g.c).CreateContainerView(ctx, root, kinds, true)
	if err != nil {
		return nil, err
	}
	defer func() { _ = v.Destroy(context.WithoutCancel(ctx)) }()
	req := types.RetrieveProperties{SpecSet: []types.PropertyFilterSpec{{
		ObjectSet: []types.ObjectSpec{{
			Obj:  v.Reference(),
			Skip: types.NewBool(true),
			SelectSet: []types.BaseSelectionSpec{
				&types.TraversalSpec{Type: "ContainerView", Path: "view"},
			},
		}},
		PropSet: specs,
	}}}
	res, err := property.DefaultCollector(g.c).RetrieveProperties(ctx, req)
	if err != nil {
		return nil, err
	}
	return res.Returnval, nil
}

// decode turns an ObjectContent into its mo type, ignoring properties
// vCenter could not read (a VM being created has no config yet): one odd
// object must not fail a whole inventory.
func decode(oc types.ObjectContent) (any, error) {
	oc.MissingSet = nil
	return mo.ObjectContentToType(oc)
}

// entity is an inventory object's name and place.
type entity struct {
	ref    types.ManagedObjectReference
	name   string
	parent *types.ManagedObjectReference
	path   []string // set for objects whose path is known without walking up

	vmFolder types.ManagedObjectReference   // datacenters
	pool     *types.ManagedObjectReference  // compute resources: the root pool
	key      string                         // distributed portgroups
	hosts    []types.ManagedObjectReference // compute resources
}

// entities indexes inventory objects by reference, to resolve names and
// paths without asking vCenter again.
type entities struct {
	m     map[types.ManagedObjectReference]*entity
	byKey map[string]string // distributed portgroup key -> name
}

func (e *entities) add(x *entity) {
	e.m[x.ref] = x
	if x.key != "" {
		if e.byKey == nil {
			e.byKey = map[string]string{}
		}
		e.byKey[x.key] = x.name
	}
}

func (e *entities) name(ref *types.ManagedObjectReference) string {
	if ref == nil {
		return ""
	}
	if x := e.m[*ref]; x != nil {
		return x.name
	}
	return ""
}

// chain is the names from the root folder's child down to ref, stopping
// (exclusive) at stop when given. The root folder itself has no name in
// inventory paths.
func (e *entities) chain(ref types.ManagedObjectReference, stop *types.ManagedObjectReference) []string {
	var names []string
	cur := &ref
	for depth := 0; cur != nil && depth < 64; depth++ {
		if stop != nil && *cur == *stop {
			break
		}
		x := e.m[*cur]
		if x == nil {
			break
		}
		if x.path != nil {
			names = append(names, reverse(x.path)...)
			break
		}
		if x.parent == nil { // the root folder
			break
		}
		names = append(names, x.name)
		cur = x.parent
	}
	return reverse(names)
}

// within reports whether ref has ancestor among its parents (or is it).
func (e *entities) within(ref, ancestor types.ManagedObjectReference) bool {
	cur := &ref
	for depth := 0; cur != nil && depth < 64; depth++ {
		if *cur == ancestor {
			return true
		}
		x := e.m[*cur]
		if x == nil {
			return false
		}
		cur = x.parent
	}
	return false
}

// up returns the first ancestor of ref (or ref itself) of one of kinds.
func (e *entities) up(ref *types.ManagedObjectReference, kinds ...string) *entity {
	cur := ref
	for depth := 0; cur != nil && depth < 64; depth++ {
		x := e.m[*cur]
		if x == nil {
			return nil
		}
		for _, k := range kinds {
			if cur.Type == k {
				return x
			}
		}
		cur = x.parent
	}
	return nil
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// dcIndex is the placement side of one datacenter: what names resolve to.
type dcIndex struct {
	dc *dcInfo
	entities
	clusters   map[string]types.ManagedObjectReference // ClusterComputeResource by name
	computes   map[string]types.ManagedObjectReference // every compute resource by name
	hosts      map[string]types.ManagedObjectReference
	datastores map[string]types.ManagedObjectReference
	networks   map[string]types.ManagedObjectReference
	folders    map[string]types.ManagedObjectReference // path under the vm folder; "" is the vm folder
	pools      map[types.ManagedObjectReference]map[string]types.ManagedObjectReference
}

// entitySpecs are the properties the driver reads of everything but VMs.
// full adds capacity, for Inventory.
func entitySpecs(full bool) []types.PropertySpec {
	specs := []types.PropertySpec{
		{Type: "Folder", PathSet: []string{"name", "parent"}},
		{Type: "Datacenter", PathSet: []string{"name", "parent", "vmFolder"}},
		{Type: "ComputeResource", PathSet: []string{"name", "parent", "resourcePool", "host"}},
		{Type: "HostSystem", PathSet: []string{"name", "parent"}},
		{Type: "ResourcePool", PathSet: []string{"name", "parent"}},
		{Type: "Datastore", PathSet: []string{"name", "parent"}},
		{Type: "Network", PathSet: []string{"name", "parent"}},
		{Type: "DistributedVirtualPortgroup", PathSet: []string{"key"}},
	}
	if full {
		specs[2].PathSet = append(specs[2].PathSet, "summary")
		specs[3].PathSet = append(specs[3].PathSet, "runtime.connectionState", "runtime.inMaintenanceMode")
		specs[5].PathSet = append(specs[5].PathSet, "summary")
	}
	return specs
}

// loaded is what one bulk read of a datacenter found.
type loaded struct {
	ix         *dcIndex
	vms        []mo.VirtualMachine
	clusters   []mo.ClusterComputeResource
	hosts      []mo.HostSystem
	datastores []mo.Datastore
}

// load reads a datacenter in one retrieve through a container view:
// folders, compute resources, hosts, pools, datastores and networks, and
// with vmProps its VMs too. It refreshes the cached index.
func (g *Govmomi) load(ctx context.Context, dc *dcInfo, full bool, vmProps []string) (*loaded, error) {
	specs := entitySpecs(full)
	if vmProps != nil {
		specs = append(specs, types.PropertySpec{Type: "VirtualMachine", PathSet: vmProps})
	}
	content, err := g.retrieveView(ctx, dc.ref, specs, nil)
	if err != nil {
		return nil, err
	}
	l := &loaded{ix: newIndex(dc)}
	for _, oc := range content {
		v, err := decode(oc)
		if err != nil {
			continue
		}
		l.add(v)
	}
	l.ix.build()
	g.mu.Lock()
	g.index[dc.ref.Value] = l.ix
	g.mu.Unlock()
	return l, nil
}

func newIndex(dc *dcInfo) *dcIndex {
	ix := &dcIndex{dc: dc, entities: entities{m: map[types.ManagedObjectReference]*entity{}}}
	// The datacenter is the container, not in the view: its path is known.
	path := strings.Split(dc.path, "/")
	ix.add(&entity{ref: dc.ref, name: dc.name, path: path, vmFolder: dc.vmFolder})
	return ix
}

func (l *loaded) add(v any) {
	ix := l.ix
	switch m := v.(type) {
	case mo.VirtualMachine:
		l.vms = append(l.vms, m)
	case mo.Folder:
		ix.add(&entity{ref: m.Self, name: m.Name, parent: m.Parent})
	case mo.Datacenter:
		ix.add(&entity{ref: m.Self, name: m.Name, parent: m.Parent, vmFolder: m.VmFolder})
	case mo.ClusterComputeResource:
		ix.add(&entity{ref: m.Self, name: m.Name, parent: m.Parent, pool: m.ResourcePool, hosts: m.Host})
		l.clusters = append(l.clusters, m)
	case mo.ComputeResource:
		ix.add(&entity{ref: m.Self, name: m.Name, parent: m.Parent, pool: m.ResourcePool, hosts: m.Host})
	case mo.HostSystem:
		ix.add(&entity{ref: m.Self, name: m.Name, parent: m.Parent})
		l.hosts = append(l.hosts, m)
	case mo.ResourcePool:
		ix.add(&entity{ref: m.Self, name: m.Name, parent: m.Parent})
	case mo.VirtualApp:
		ix.add(&entity{ref: m.Self, name: m.Name, parent: m.Parent})
	case mo.Datastore:
		ix.add(&entity{ref: m.Self, name: m.Name, parent: m.Parent})
		l.datastores = append(l.datastores, m)
	case mo.Network:
		ix.add(&entity{ref: m.Self, name: m.Name, parent: m.Parent})
	case mo.DistributedVirtualPortgroup:
		ix.add(&entity{ref: m.Self, name: m.Name, parent: m.Parent, key: m.Key})
	case mo.OpaqueNetwork:
		ix.add(&entity{ref: m.Self, name: m.Name, parent: m.Parent})
	}
}

// build derives the name maps from the entities.
func (ix *dcIndex) build() {
	ix.clusters = map[string]types.ManagedObjectReference{}
	ix.computes = map[string]types.ManagedObjectReference{}
	ix.hosts = map[string]types.ManagedObjectReference{}
	ix.datastores = map[string]types.ManagedObjectReference{}
	ix.networks = map[string]types.ManagedObjectReference{}
	ix.folders = map[string]types.ManagedObjectReference{"": ix.dc.vmFolder}
	ix.pools = map[types.ManagedObjectReference]map[string]types.ManagedObjectReference{}
	for ref, x := range ix.m {
		switch ref.Type {
		case "ClusterComputeResource":
			ix.clusters[x.name] = ref
			ix.computes[x.name] = ref
		case "ComputeResource":
			ix.computes[x.name] = ref
		case "HostSystem":
			ix.hosts[x.name] = ref
		case "Datastore":
			ix.datastores[x.name] = ref
		case "Network", "DistributedVirtualPortgroup", "OpaqueNetwork":
			ix.networks[x.name] = ref
		case "Folder":
			if ref != ix.dc.vmFolder && ix.within(ref, ix.dc.vmFolder) {
				ix.folders[ix.folderPath(ref)] = ref
			}
		case "ResourcePool", "VirtualApp":
			if cr := ix.up(&ref, "ClusterComputeResource", "ComputeResource"); cr != nil {
				if ix.pools[cr.ref] == nil {
					ix.pools[cr.ref] = map[string]types.ManagedObjectReference{}
				}
				ix.pools[cr.ref][ix.poolPath(ref)] = ref
			}
		}
	}
}

// folderPath is a VM folder's path under its datacenter's vm folder.
func (e *entities) folderPath(ref types.ManagedObjectReference) string {
	dc := e.up(&ref, "Datacenter")
	if dc == nil {
		return ""
	}
	return strings.Join(e.chain(ref, &dc.vmFolder), "/")
}

// poolPath is a pool's path under its compute resource's root pool.
func (e *entities) poolPath(ref types.ManagedObjectReference) string {
	cr := e.up(&ref, "ClusterComputeResource", "ComputeResource")
	if cr == nil || cr.pool == nil {
		return ""
	}
	return strings.Join(e.chain(ref, cr.pool), "/")
}

// indexFor returns the cached index of a datacenter, reading it when there
// is none yet.
func (g *Govmomi) indexFor(ctx context.Context, datacenter string) (*dcIndex, error) {
	dc, err := g.datacenter(ctx, datacenter)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	ix := g.index[dc.ref.Value]
	g.mu.Unlock()
	if ix != nil {
		return ix, nil
	}
	l, err := g.load(ctx, dc, false, nil)
	if err != nil {
		return nil, err
	}
	return l.ix, nil
}

// lookup resolves a name in a datacenter's index, reading the datacenter
// again once when the name is not there (someone may have just made it).
func (g *Govmomi) lookup(ctx context.Context, ix *dcIndex, find func(*dcIndex) (types.ManagedObjectReference, bool)) (types.ManagedObjectReference, *dcIndex, bool, error) {
	if ref, ok := find(ix); ok {
		return ref, ix, true, nil
	}
	l, err := g.load(ctx, ix.dc, false, nil)
	if err != nil {
		return types.ManagedObjectReference{}, ix, false, err
	}
	ref, ok := find(l.ix)
	return ref, l.ix, ok, nil
}

// backing is the NIC backing for a network or portgroup.
func (g *Govmomi) backing(ctx context.Context, ref types.ManagedObjectReference) (types.BaseVirtualDeviceBackingInfo, error) {
	g.mu.Lock()
	b := g.backings[ref]
	g.mu.Unlock()
	if b != nil {
		return b, nil
	}
	var err error
	switch ref.Type {
	case "Network":
		// Built here rather than by object.Network, which reads the name
		// again and leaves the network reference out.
		var n mo.Network
		err = property.DefaultCollector(g.c).RetrieveOne(ctx, ref, []string{"name"}, &n)
		if err == nil {
			r := ref
			b = &types.VirtualEthernetCardNetworkBackingInfo{
				VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: n.Name},
				Network:                        &r,
			}
		}
	default:
		nr, ok := object.NewReference(g.c, ref).(object.NetworkReference)
		if !ok {
			return nil, fmt.Errorf("%s is not a network", ref)
		}
		b, err = nr.EthernetCardBackingInfo(ctx)
	}
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.backings[ref] = b
	g.mu.Unlock()
	return b, nil
}
