package vsphere

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vapi/rest"
	"github.com/vmware/govmomi/vapi/tags"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// EstateSource is a logged-in vCenter whose estate `wavectl discover`
// reads.
type EstateSource struct {
	Client *vim25.Client
	// URL is the SDK URL without credentials, for the plan.
	URL string
	// User logs in to the vCenter's REST API for tags; nil reads no tags.
	User *url.Userinfo
}

// ErrNoDatacenter and ErrSeveralDatacenters are ReadEstate's answers when
// the datacenter asked for is not there, or none was asked for and the
// vCenter has more than one.
var (
	ErrNoDatacenter       = errors.New("datacenter not found")
	ErrSeveralDatacenters = errors.New("the vCenter has several datacenters")
)

// Estate is what ReadEstate reads of one datacenter.
type Estate struct {
	Datacenter string
	VMs        []EstateVM // by name
}

// EstateVM is one VM as vCenter reports it, templates and solution VMs
// included: what to leave out is the reader's decision.
type EstateVM struct {
	Ref  string // the managed object's id, e.g. vm-42
	Name string
	// Folder is the VM's folder path under the datacenter's vm folder.
	Folder  string
	Cluster string // "" when its host is in no cluster
	// NoConfig: vCenter returns no configuration (an inaccessible or
	// orphaned VM); only Ref, Name and Folder are set.
	NoConfig        bool
	Template        bool
	CPUs, MemoryMB  int
	DisksGB         []int    // in device key order, rounded up
	Networks        []string // network or portgroup names, first use first
	GuestID         string
	GuestOS         string
	HardwareVersion string // config.version as vCenter says it (vmx-NN)
	PowerState      string // poweredOn, poweredOff or suspended
	// ManagedBy is the vSphere solution (extension key) that owns the
	// VM, and the type it gives it (config.managedBy).
	ManagedBy, ManagedByType string
	// GuestHostName and GuestIP are what VMware Tools reports, if anything.
	GuestHostName, GuestIP string
	Attributes             map[string]string // custom attributes by name
}

// estateProps are what ReadEstate reads of each kind of object.
var estateProps = []types.PropertySpec{
	{Type: "VirtualMachine", PathSet: []string{"name", "parent", "config.hardware.numCPU", "config.hardware.memoryMB",
		"config.hardware.device", "config.version", "config.guestId", "config.guestFullName", "config.template",
		"runtime.powerState", "runtime.host", "customValue", "config.managedBy", "guest.ipAddress", "guest.hostName"}},
	{Type: "Folder", PathSet: []string{"name", "parent"}},
	{Type: "HostSystem", PathSet: []string{"name", "parent"}},
	{Type: "ClusterComputeResource", PathSet: []string{"name"}},
	{Type: "Network", PathSet: []string{"name"}},
	{Type: "DistributedVirtualPortgroup", PathSet: []string{"name", "key"}},
}

// ReadEstate reads a datacenter's estate in bulk (the default datacenter
// when datacenter is ""): every VM with the folders, hosts, clusters and
// networks it refers to, in one RetrieveProperties over one container
// view, whatever the number of VMs, and the custom attribute names in one
// more call.
func ReadEstate(ctx context.Context, src EstateSource, datacenter string) (*Estate, error) {
	c := src.Client
	finder := find.NewFinder(c, false)
	var dc *object.Datacenter
	var err error
	if datacenter != "" {
		dc, err = finder.Datacenter(ctx, datacenter)
	} else {
		dc, err = finder.DefaultDatacenter(ctx)
	}
	if err != nil {
		var nf *find.NotFoundError
		var many *find.DefaultMultipleFoundError
		switch {
		case errors.As(err, &nf):
			return nil, fmt.Errorf("%w: %s", ErrNoDatacenter, datacenter)
		case errors.As(err, &many):
			return nil, ErrSeveralDatacenters
		}
		return nil, fmt.Errorf("find datacenter: %w", err)
	}
	var dcm mo.Datacenter
	if err := dc.Properties(ctx, dc.Reference(), []string{"name", "vmFolder"}, &dcm); err != nil {
		return nil, fmt.Errorf("read datacenter %s: %w", dc.Name(), err)
	}

	v, err := view.NewManager(c).CreateContainerView(ctx, dc.Reference(), []string{"VirtualMachine", "Folder", "HostSystem", "ClusterComputeResource", "Network", "DistributedVirtualPortgroup"}, true)
	if err != nil {
		return nil, fmt.Errorf("container view of %s: %w", dcm.Name, err)
	}
	defer func() { _ = v.Destroy(context.WithoutCancel(ctx)) }()
	req := types.RetrieveProperties{SpecSet: []types.PropertyFilterSpec{{
		ObjectSet: []types.ObjectSpec{{Obj: v.Reference(), Skip: types.NewBool(true),
			SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{Type: "ContainerView", Path: "view"}}}},
		PropSet: estateProps,
	}}}
	res, err := property.DefaultCollector(c).RetrieveProperties(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("read the inventory of %s: %w", dcm.Name, err)
	}

	names := map[types.ManagedObjectReference]string{}
	parents := map[types.ManagedObjectReference]types.ManagedObjectReference{}
	portgroups := map[string]string{} // DVPG key -> name
	var vms []mo.VirtualMachine
	for _, oc := range res.Returnval {
		obj, err := mo.ObjectContentToType(oc)
		if err != nil {
			continue
		}
		switch o := obj.(type) {
		case mo.VirtualMachine:
			vms = append(vms, o)
		case mo.Folder:
			names[o.Self] = o.Name
			if o.Parent != nil {
				parents[o.Self] = *o.Parent
			}
		case mo.HostSystem:
			names[o.Self] = o.Name
			if o.Parent != nil {
				parents[o.Self] = *o.Parent
			}
		case mo.ClusterComputeResource:
			names[o.Self] = o.Name
		case mo.Network:
			names[o.Self] = o.Name
		case mo.DistributedVirtualPortgroup:
			names[o.Self] = o.Name
			portgroups[o.Key] = o.Name
		}
	}
	folderPath := func(ref *types.ManagedObjectReference) string {
		var parts []string
		for ref != nil && *ref != dcm.VmFolder {
			n, ok := names[*ref]
			if !ok || ref.Type != "Folder" {
				break
			}
			parts = append([]string{n}, parts...)
			p, ok := parents[*ref]
			if !ok {
				break
			}
			ref = &p
		}
		return strings.Join(parts, "/")
	}

	fields := map[int32]string{}
	if c.IsVC() {
		defs, err := object.NewCustomFieldsManager(c).Field(ctx)
		if err != nil {
			return nil, fmt.Errorf("read custom attribute names: %w", err)
		}
		for _, d := range defs {
			fields[d.Key] = d.Name
		}
	}

	est := &Estate{Datacenter: dcm.Name}
	sort.Slice(vms, func(i, j int) bool { return vms[i].Name < vms[j].Name })
	for _, m := range vms {
		vm := EstateVM{Ref: m.Self.Value, Name: m.Name, Folder: folderPath(m.Parent)}
		if m.Config == nil {
			vm.NoConfig = true
			est.VMs = append(est.VMs, vm)
			continue
		}
		vm.Template = m.Config.Template
		if mb := m.Config.ManagedBy; mb != nil {
			vm.ManagedBy, vm.ManagedByType = mb.ExtensionKey, mb.Type
		}
		if g := m.Guest; g != nil {
			vm.GuestHostName, vm.GuestIP = g.HostName, g.IpAddress
		}
		vm.CPUs, vm.MemoryMB = int(m.Config.Hardware.NumCPU), int(m.Config.Hardware.MemoryMB)
		vm.GuestID, vm.GuestOS, vm.HardwareVersion = m.Config.GuestId, m.Config.GuestFullName, m.Config.Version
		vm.PowerState = string(m.Runtime.PowerState)
		if h := m.Runtime.Host; h != nil {
			if p, ok := parents[*h]; ok && p.Type == "ClusterComputeResource" {
				vm.Cluster = names[p]
			}
		}
		devices := append([]types.BaseVirtualDevice(nil), m.Config.Hardware.Device...)
		sort.SliceStable(devices, func(i, j int) bool { return devices[i].GetVirtualDevice().Key < devices[j].GetVirtualDevice().Key })
		for _, d := range devices {
			switch x := d.(type) {
			case *types.VirtualDisk:
				vm.DisksGB = append(vm.DisksGB, diskGB(x))
			case types.BaseVirtualEthernetCard:
				n := ""
				switch bk := x.GetVirtualEthernetCard().Backing.(type) {
				case *types.VirtualEthernetCardNetworkBackingInfo:
					if bk.Network != nil {
						n = names[*bk.Network]
					}
					if n == "" {
						n = bk.DeviceName
					}
				case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
					n = portgroups[bk.Port.PortgroupKey]
				}
				if n != "" && !containsString(vm.Networks, n) {
					vm.Networks = append(vm.Networks, n)
				}
			}
		}
		for _, cv := range m.CustomValue {
			if s, ok := cv.(*types.CustomFieldStringValue); ok && s.Value != "" {
				if name := fields[s.Key]; name != "" {
					if vm.Attributes == nil {
						vm.Attributes = map[string]string{}
					}
					vm.Attributes[name] = s.Value
				}
			}
		}
		est.VMs = append(est.VMs, vm)
	}
	return est, nil
}

// diskGB is a disk's capacity in GB, rounded up.
func diskGB(d *types.VirtualDisk) int {
	b := d.CapacityInBytes
	if b == 0 {
		b = d.CapacityInKB << 10
	}
	return int((b + (1 << 30) - 1) >> 30)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ReadTags reads the tags of the given categories on the VMs named by
// their managed object ids, through the vCenter's REST API: the
// categories and their tags, then every VM's attachments in one call. The
// answer maps VM id to category to tag names, sorted.
func ReadTags(ctx context.Context, src EstateSource, vms []string, categories []string) (map[string]map[string][]string, error) {
	if src.User == nil {
		return nil, errors.New("reading tags needs the vCenter's user name and password (for its REST API)")
	}
	rc := rest.NewClient(src.Client)
	if err := rc.Login(ctx, src.User); err != nil {
		return nil, fmt.Errorf("log in to the vCenter's REST API for tags: %w", err)
	}
	defer func() { _ = rc.Logout(context.WithoutCancel(ctx)) }()
	m := tags.NewManager(rc)
	cats, err := m.GetCategories(ctx)
	if err != nil {
		return nil, fmt.Errorf("read tag categories: %w", err)
	}
	catName := map[string]string{}
	for _, c := range cats {
		if containsString(categories, c.Name) {
			catName[c.ID] = c.Name
		}
	}
	tagOf := map[string]tags.Tag{}
	for id := range catName {
		ts, err := m.GetTagsForCategory(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("read tags of category %s: %w", catName[id], err)
		}
		for _, t := range ts {
			tagOf[t.ID] = t
		}
	}
	out := map[string]map[string][]string{}
	if len(tagOf) == 0 || len(vms) == 0 {
		return out, nil
	}
	refs := make([]mo.Reference, 0, len(vms))
	for _, id := range vms {
		refs = append(refs, types.ManagedObjectReference{Type: "VirtualMachine", Value: id})
	}
	attached, err := m.GetAttachedTagsOnObjects(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("read the VMs' tags: %w", err)
	}
	for _, a := range attached {
		ref := a.ObjectID.Reference()
		if ref.Type != "VirtualMachine" {
			continue
		}
		for _, id := range a.TagIDs {
			if t, ok := tagOf[id]; ok {
				if out[ref.Value] == nil {
					out[ref.Value] = map[string][]string{}
				}
				cat := catName[t.CategoryID]
				out[ref.Value][cat] = append(out[ref.Value][cat], t.Name)
			}
		}
	}
	for _, byCat := range out {
		for _, ts := range byCat {
			sort.Strings(ts)
		}
	}
	return out, nil
}
