package discover

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/wavectl/wavectl/pkg/vsphere"
)

// VCenterSource is a logged-in vCenter to read.
type VCenterSource = vsphere.EstateSource

// ReadVCenter reads the estate in bulk through pkg/vsphere (one property
// collector read of every VM of the datacenter, whatever their number, and
// the custom attribute names) and, when categories are asked for, the
// kept VMs' tags through the REST API in a handful of calls. Templates,
// VMs a vSphere solution manages, the vCenter appliance itself and VMs
// outside the filter's cluster or folder are left out.
func ReadVCenter(ctx context.Context, src VCenterSource, f Filter, categories []string) (*Inventory, error) {
	est, err := vsphere.ReadEstate(ctx, src, f.Datacenter)
	switch {
	case errors.Is(err, vsphere.ErrNoDatacenter):
		return nil, &InputError{Where: src.URL, Msg: fmt.Sprintf("datacenter %s not found: check --datacenter", f.Datacenter)}
	case errors.Is(err, vsphere.ErrSeveralDatacenters):
		return nil, &InputError{Where: src.URL, Msg: "the vCenter has several datacenters: pick one with --datacenter"}
	case err != nil:
		return nil, err
	}
	inv := &Inventory{From: "vcenter " + src.URL, VCenterURL: src.URL, Datacenter: est.Datacenter, Folder: cleanFolder(f.Folder),
		Columns: map[string]string{}, Skipped: map[string]int{}}
	byRef := map[string]*VM{}
	vcHost := ""
	if u, err := url.Parse(src.URL); err == nil {
		vcHost = u.Hostname()
	}
	for _, m := range est.VMs {
		where := src.URL + " " + est.Datacenter + "/vm/" + strings.TrimPrefix(m.Folder+"/"+m.Name, "/")
		leave := func(why string, unreadable bool) {
			inv.LeftOut = append(inv.LeftOut, LeftOut{Where: where, VM: m.Name, Reason: why, Unreadable: unreadable})
		}
		if m.NoConfig {
			leave("vCenter returns no configuration for it (an inaccessible or orphaned VM)", true)
			continue
		}
		if m.Template {
			leave("a template: templates are not moved (redeploy and replace name theirs in the plan)", false)
			continue
		}
		if m.ManagedBy != "" {
			why := fmt.Sprintf("managed by the vSphere solution %s", m.ManagedBy)
			if m.ManagedByType != "" && m.ManagedByType != "VirtualMachine" {
				why += " (" + m.ManagedByType + ")"
			}
			leave(why+" (config.managedBy): no migration may move it", false)
			continue
		}
		if isAppliance(vcHost, m.Name, m.GuestHostName, m.GuestIP) {
			leave(fmt.Sprintf("the vCenter appliance (%s) that serves this run: a migration it runs must not move it", vcHost), false)
			continue
		}
		vm := &VM{Name: m.Name, Folder: m.Folder, Cluster: m.Cluster, CPUs: m.CPUs, MemoryMB: m.MemoryMB,
			DisksGB: m.DisksGB, Networks: m.Networks,
			GuestID: m.GuestID, GuestOS: m.GuestOS, HardwareVersion: normalHardware(m.HardwareVersion),
			PowerState: "poweredOn", Attributes: map[string]string{}, Tags: map[string][]string{}, Where: where}
		if m.PowerState != "poweredOn" {
			vm.PowerState = "poweredOff"
		}
		for k, v := range m.Attributes {
			vm.Attributes[k] = v
		}
		if f.Cluster != "" && vm.Cluster != f.Cluster {
			inv.Skipped["in other clusters"]++
			continue
		}
		if !within(vm.Folder, inv.Folder) {
			inv.Skipped["in other folders"]++
			continue
		}
		inv.VMs = append(inv.VMs, vm)
		byRef[m.Ref] = vm
	}
	if len(categories) > 0 && len(byRef) > 0 {
		refs := make([]string, 0, len(byRef))
		for ref := range byRef {
			refs = append(refs, ref)
		}
		tags, err := vsphere.ReadTags(ctx, src, refs, categories)
		if err != nil {
			return nil, err
		}
		for ref, byCat := range tags {
			if vm := byRef[ref]; vm != nil {
				for cat, ts := range byCat {
					vm.Tags[cat] = append(vm.Tags[cat], ts...)
				}
			}
		}
	}
	return inv, nil
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
