package discover

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

// vcProps are what discover reads of each kind of object.
var vcProps = []types.PropertySpec{
	{Type: "VirtualMachine", PathSet: []string{"name", "parent", "config.hardware.numCPU", "config.hardware.memoryMB",
		"config.hardware.device", "config.version", "config.guestId", "config.guestFullName", "config.template",
		"runtime.powerState", "runtime.host", "customValue", "config.managedBy", "guest.ipAddress", "guest.hostName"}},
	{Type: "Folder", PathSet: []string{"name", "parent"}},
	{Type: "HostSystem", PathSet: []string{"name", "parent"}},
	{Type: "ClusterComputeResource", PathSet: []string{"name"}},
	{Type: "Network", PathSet: []string{"name"}},
	{Type: "DistributedVirtualPortgroup", PathSet: []string{"name", "key"}},
}

// VCenterSource is a logged-in vCenter to read.
type VCenterSource struct {
	Client *vim25.Client
	// URL is the SDK URL without credentials, for the plan.
	URL string
	// User logs in to the vCenter's REST API for tags; nil skips tags.
	User *url.Userinfo
}

// ReadVCenter reads the estate in bulk: every VM of the datacenter with
// the folders, hosts, clusters and networks it refers to, in one
// RetrieveProperties over one container view, whatever the number of VMs;
// custom attribute names in one more call; and, when categories are asked
// for, tags through the REST API in a handful of calls (one for all the
// VMs' attachments). Templates are left out, and so are VMs outside the
// filter's cluster or folder.
func ReadVCenter(ctx context.Context, src VCenterSource, f Filter, categories []string) (*Inventory, error) {
	c := src.Client
	finder := find.NewFinder(c, false)
	var dc *object.Datacenter
	var err error
	if f.Datacenter != "" {
		dc, err = finder.Datacenter(ctx, f.Datacenter)
	} else {
		dc, err = finder.DefaultDatacenter(ctx)
	}
	if err != nil {
		var nf *find.NotFoundError
		var many *find.DefaultMultipleFoundError
		switch {
		case errors.As(err, &nf):
			return nil, &InputError{Where: src.URL, Msg: fmt.Sprintf("datacenter %s not found: check --datacenter", f.Datacenter)}
		case errors.As(err, &many):
			return nil, &InputError{Where: src.URL, Msg: "the vCenter has several datacenters: pick one with --datacenter"}
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
		PropSet: vcProps,
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
		if defs, err := object.NewCustomFieldsManager(c).Field(ctx); err == nil {
			for _, d := range defs {
				fields[d.Key] = d.Name
			}
		} else {
			return nil, fmt.Errorf("read custom attribute names: %w", err)
		}
	}

	inv := &Inventory{From: "vcenter " + src.URL, VCenterURL: src.URL, Datacenter: dcm.Name, Folder: cleanFolder(f.Folder),
		Columns: map[string]string{}, Skipped: map[string]int{}}
	byRef := map[types.ManagedObjectReference]*VM{}
	vcHost := ""
	if u, err := url.Parse(src.URL); err == nil {
		vcHost = u.Hostname()
	}
	sort.Slice(vms, func(i, j int) bool { return vms[i].Name < vms[j].Name })
	for _, m := range vms {
		where := src.URL + " " + dcm.Name + "/vm/" + strings.TrimPrefix(folderPath(m.Parent)+"/"+m.Name, "/")
		leave := func(why string, unreadable bool) {
			inv.LeftOut = append(inv.LeftOut, LeftOut{Where: where, VM: m.Name, Reason: why, Unreadable: unreadable})
		}
		if m.Config == nil {
			leave("vCenter returns no configuration for it (an inaccessible or orphaned VM)", true)
			continue
		}
		if m.Config.Template {
			leave("a template: templates are not moved (redeploy and replace name theirs in the plan)", false)
			continue
		}
		if mb := m.Config.ManagedBy; mb != nil && mb.ExtensionKey != "" {
			why := fmt.Sprintf("managed by the vSphere solution %s", mb.ExtensionKey)
			if mb.Type != "" && mb.Type != "VirtualMachine" {
				why += " (" + mb.Type + ")"
			}
			leave(why+" (config.managedBy): no migration may move it", false)
			continue
		}
		if g := m.Guest; g != nil && isAppliance(vcHost, m.Name, g.HostName, g.IpAddress) || m.Guest == nil && isAppliance(vcHost, m.Name, "", "") {
			leave(fmt.Sprintf("the vCenter appliance (%s) that serves this run: a migration it runs must not move it", vcHost), false)
			continue
		}
		vm := &VM{Name: m.Name, Folder: folderPath(m.Parent), CPUs: int(m.Config.Hardware.NumCPU), MemoryMB: int(m.Config.Hardware.MemoryMB),
			GuestID: m.Config.GuestId, GuestOS: m.Config.GuestFullName, HardwareVersion: normalHardware(m.Config.Version),
			PowerState: "poweredOn", Attributes: map[string]string{}, Tags: map[string][]string{}, Where: m.Self.Value}
		if m.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
			vm.PowerState = "poweredOff"
		}
		if h := m.Runtime.Host; h != nil {
			if p, ok := parents[*h]; ok && p.Type == "ClusterComputeResource" {
				vm.Cluster = names[p]
			}
		}
		if f.Cluster != "" && vm.Cluster != f.Cluster {
			inv.Skipped["in other clusters"]++
			continue
		}
		if !within(vm.Folder, inv.Folder) {
			inv.Skipped["in other folders"]++
			continue
		}
		devices := append([]types.BaseVirtualDevice(nil), m.Config.Hardware.Device...)
		sort.SliceStable(devices, func(i, j int) bool { return devices[i].GetVirtualDevice().Key < devices[j].GetVirtualDevice().Key })
		for _, d := range devices {
			switch x := d.(type) {
			case *types.VirtualDisk:
				b := x.CapacityInBytes
				if b == 0 {
					b = x.CapacityInKB << 10
				}
				vm.DisksGB = append(vm.DisksGB, int((b+(1<<30)-1)>>30))
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
				if n != "" && !contains(vm.Networks, n) {
					vm.Networks = append(vm.Networks, n)
				}
			}
		}
		for _, cv := range m.CustomValue {
			if s, ok := cv.(*types.CustomFieldStringValue); ok && s.Value != "" {
				if name := fields[s.Key]; name != "" {
					vm.Attributes[name] = s.Value
				}
			}
		}
		inv.VMs = append(inv.VMs, vm)
		byRef[m.Self] = vm
	}
	for _, vm := range inv.VMs {
		vm.Where = src.URL + " " + dcm.Name + "/vm/" + strings.TrimPrefix(vm.Folder+"/"+vm.Name, "/")
	}
	if len(categories) > 0 && len(byRef) > 0 {
		if err := readTags(ctx, src, byRef, categories); err != nil {
			return nil, err
		}
	}
	return inv, nil
}

// readTags reads the tags of the given categories on every VM: the
// categories and their tags, then every VM's attachments in one call.
func readTags(ctx context.Context, src VCenterSource, vms map[types.ManagedObjectReference]*VM, categories []string) error {
	if src.User == nil {
		return errors.New("reading tags needs the vCenter's user name and password (for its REST API)")
	}
	rc := rest.NewClient(src.Client)
	if err := rc.Login(ctx, src.User); err != nil {
		return fmt.Errorf("log in to the vCenter's REST API for tags: %w", err)
	}
	defer func() { _ = rc.Logout(context.WithoutCancel(ctx)) }()
	m := tags.NewManager(rc)
	cats, err := m.GetCategories(ctx)
	if err != nil {
		return fmt.Errorf("read tag categories: %w", err)
	}
	catName := map[string]string{}
	for _, c := range cats {
		if contains(categories, c.Name) {
			catName[c.ID] = c.Name
		}
	}
	tagOf := map[string]tags.Tag{}
	for id := range catName {
		ts, err := m.GetTagsForCategory(ctx, id)
		if err != nil {
			return fmt.Errorf("read tags of category %s: %w", catName[id], err)
		}
		for _, t := range ts {
			tagOf[t.ID] = t
		}
	}
	if len(tagOf) == 0 {
		return nil
	}
	refs := make([]mo.Reference, 0, len(vms))
	for ref := range vms {
		refs = append(refs, ref)
	}
	attached, err := m.GetAttachedTagsOnObjects(ctx, refs)
	if err != nil {
		return fmt.Errorf("read the VMs' tags: %w", err)
	}
	for _, a := range attached {
		vm := vms[a.ObjectID.Reference()]
		if vm == nil {
			continue
		}
		for _, id := range a.TagIDs {
			if t, ok := tagOf[id]; ok {
				cat := catName[t.CategoryID]
				vm.Tags[cat] = append(vm.Tags[cat], t.Name)
			}
		}
	}
	for _, vm := range vms {
		for _, ts := range vm.Tags {
			sort.Strings(ts)
		}
	}
	return nil
}

// TagCategories are the tag categories the rules read.
func (r *Rules) TagCategories() []string {
	var out []string
	for _, s := range []Source{r.groupBy, r.criticality, r.users, r.dependsOn} {
		if s.Kind == SourceTag && !contains(out, s.Name) {
			out = append(out, s.Name)
		}
	}
	return out
}
