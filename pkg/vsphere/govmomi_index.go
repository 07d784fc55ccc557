package vsphere

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// vmIndex answers "which VMs of this datacenter are called X, or carry
// marker K=V" without reading every VM each time. It holds the name and
// the wavectl markers of every VM under the datacenter's VM folder, kept
// current by a property collector of its own: a container view of the VM
// folder, whose changes since the last look one WaitForUpdatesEx returns
// (without waiting). A lookup that arrives after the last look started
// asks vCenter again first, so it sees every change that finished before
// it began, as a full read would; lookups that arrive while a look is
// under way share the next one.
//
// The index only narrows the search: the VMs it names are then read in one
// RetrieveProperties (readVMs), which drops any that no longer exist, so a
// VM deleted since the last look is never returned. A 1,500-VM programme
// thus costs one small request per lookup instead of a container view
// created, read whole (every VM's name or extraConfig) and destroyed.
type vmIndex struct {
	g      *Govmomi
	folder types.ManagedObjectReference // the datacenter's VM folder

	mu       sync.Mutex // serialises looks; guards the fields below
	pc       *types.ManagedObjectReference
	view     *types.ManagedObjectReference
	version  string
	vms      map[types.ManagedObjectReference]*indexedVM
	lastLook time.Time // when the last look at vCenter started
}

type indexedVM struct {
	name    string
	markers map[string]string
}

// vmIndexFor returns the datacenter's index, made on first use.
func (g *Govmomi) vmIndexFor(dc *dcInfo) *vmIndex {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.vmIdx == nil {
		g.vmIdx = map[types.ManagedObjectReference]*vmIndex{}
	}
	ix := g.vmIdx[dc.vmFolder]
	if ix == nil {
		ix = &vmIndex{g: g, folder: dc.vmFolder}
		g.vmIdx[dc.vmFolder] = ix
	}
	return ix
}

// find returns the refs of the indexed VMs that match, once the index has
// caught up with vCenter as of the call.
func (ix *vmIndex) find(ctx context.Context, match func(*indexedVM) bool) ([]types.ManagedObjectReference, error) {
	arrived := time.Now()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !ix.lastLook.After(arrived) {
		if err := ix.look(ctx); err != nil {
			// The collector may have gone with the session (a re-login):
			// start again once with a new one.
			ix.reset(ctx)
			if err := ix.look(ctx); err != nil {
				ix.reset(ctx)
				return nil, err
			}
		}
	}
	var refs []types.ManagedObjectReference
	for ref, v := range ix.vms {
		if match(v) {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// look brings the index up to date: it makes the collector on first use,
// then applies what changed since the last version.
func (ix *vmIndex) look(ctx context.Context) error {
	ix.lastLook = time.Now()
	if ix.pc == nil {
		if err := ix.start(ctx); err != nil {
			return err
		}
	}
	for {
		res, err := methods.WaitForUpdatesEx(ctx, ix.g.c, &types.WaitForUpdatesEx{
			This: *ix.pc, Version: ix.version,
			Options: &types.WaitOptions{MaxWaitSeconds: types.NewInt32(0)},
		})
		if err != nil {
			return err
		}
		set := res.Returnval
		if set == nil {
			return nil // nothing changed
		}
		ix.version = set.Version
		for _, fs := range set.FilterSet {
			for _, u := range fs.ObjectSet {
				ix.apply(u)
			}
		}
		if set.Truncated == nil || !*set.Truncated {
			return nil
		}
	}
}

func (ix *vmIndex) apply(u types.ObjectUpdate) {
	if u.Obj.Type != "VirtualMachine" {
		return
	}
	if u.Kind == types.ObjectUpdateKindLeave {
		delete(ix.vms, u.Obj)
		return
	}
	v := ix.vms[u.Obj]
	if v == nil || u.Kind == types.ObjectUpdateKindEnter {
		v = &indexedVM{}
		ix.vms[u.Obj] = v
	}
	for _, c := range u.ChangeSet {
		switch c.Name {
		case "name":
			if s, ok := c.Val.(string); ok {
				v.name = s
			}
		case "config.extraConfig":
			v.markers = nil
			var opts []types.BaseOptionValue
			switch x := c.Val.(type) {
			case types.ArrayOfOptionValue:
				opts = x.OptionValue
			case []types.BaseOptionValue:
				opts = x
			}
			for k, val := range extraConfig(opts) {
				if strings.HasPrefix(k, MarkerPrefix) {
					if v.markers == nil {
						v.markers = map[string]string{}
					}
					v.markers[k] = val
				}
			}
		}
	}
}

// start makes the index's container view and collector, and its filter on
// every VM's name and extraConfig.
func (ix *vmIndex) start(ctx context.Context) error {
	c := ix.g.c
	view, err := methods.CreateContainerView(ctx, c, &types.CreateContainerView{
		This: *c.ServiceContent.ViewManager, Container: ix.folder, Type: []string{"VirtualMachine"}, Recursive: true,
	})
	if err != nil {
		return err
	}
	pc, err := methods.CreatePropertyCollector(ctx, c, &types.CreatePropertyCollector{This: c.ServiceContent.PropertyCollector})
	if err != nil {
		_, _ = methods.DestroyView(ctx, c, &types.DestroyView{This: view.Returnval})
		return err
	}
	_, err = methods.CreateFilter(ctx, c, &types.CreateFilter{This: pc.Returnval, Spec: types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{Obj: view.Returnval, Skip: types.NewBool(true), SelectSet: []types.BaseSelectionSpec{
			&types.TraversalSpec{Type: "ContainerView", Path: "view"},
		}}},
		PropSet: []types.PropertySpec{{Type: "VirtualMachine", PathSet: []string{"name", "config.extraConfig"}}},
	}})
	if err != nil {
		_, _ = methods.DestroyPropertyCollector(ctx, c, &types.DestroyPropertyCollector{This: pc.Returnval})
		_, _ = methods.DestroyView(ctx, c, &types.DestroyView{This: view.Returnval})
		return err
	}
	ix.pc, ix.view = &pc.Returnval, &view.Returnval
	ix.version = ""
	ix.vms = map[types.ManagedObjectReference]*indexedVM{}
	return nil
}

// reset forgets the collector (and destroys it and its view, if they are
// still there), so that the next look starts over with a full read.
func (ix *vmIndex) reset(ctx context.Context) {
	c := ix.g.c
	ctx = context.WithoutCancel(ctx)
	if ix.pc != nil {
		_, _ = methods.DestroyPropertyCollector(ctx, c, &types.DestroyPropertyCollector{This: *ix.pc})
	}
	if ix.view != nil {
		_, _ = methods.DestroyView(ctx, c, &types.DestroyView{This: *ix.view})
	}
	ix.pc, ix.view, ix.version, ix.vms = nil, nil, "", nil
}
