package vsphere

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// handoff hands a VM the driver has just read to the change that follows
// it, so that the change need not read the VM again: a step reads its VM
// (VM, FindVMs) to decide, then asks for a change (Reconfigure, Relocate,
// CreateSnapshot, Shutdown...), which needs the same record to build its
// spec. VM state is not cached: a record is handed over at most once,
// within handoffTTL of its read, and only when no change of this driver
// to that VM started or ended since the read began. A read by anyone else
// between the read and the change is the same race as between any read
// and the change that acts on it.
type handoff struct {
	mu   sync.Mutex
	recs map[string]handed // by VM ref value
	gens map[string]uint64 // changes started or ended, by VM ref value
}

type handed struct {
	rec *vmRecord
	at  time.Time
}

const handoffTTL = 2 * time.Second

// gen is the change count of ref, to pass to keep after the read.
func (h *handoff) gen(ref string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gens[ref]
}

// keep offers a record read while ref's change count was gen.
func (h *handoff) keep(rec *vmRecord, gen uint64) {
	ref := rec.m.Self.Value
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gens[ref] != gen {
		return // changed while it was read
	}
	if h.recs == nil {
		h.recs = map[string]handed{}
	}
	if len(h.recs) >= 256 {
		for k, e := range h.recs {
			if now.Sub(e.at) > handoffTTL {
				delete(h.recs, k)
			}
		}
	}
	h.recs[ref] = handed{rec: rec, at: now}
}

// take returns the record of ref read within handoffTTL and not changed
// since, once; or nil.
func (h *handoff) take(ref string) *vmRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.recs[ref]
	delete(h.recs, ref)
	if !ok || time.Since(e.at) > handoffTTL {
		return nil
	}
	return e.rec
}

// changed forgets ref's record and counts a change: called when a change
// to it starts and when it ends.
func (h *handoff) changed(ref string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.recs, ref)
	if h.gens == nil {
		h.gens = map[string]uint64{}
	}
	h.gens[ref]++
}

// recordForChange is the VM as a change needs it: the record just read by
// the step that asks for the change, or a fresh read.
func (g *Govmomi) recordForChange(ctx context.Context, ref types.ManagedObjectReference) (*vmRecord, error) {
	if rec := g.handoff.take(ref.Value); rec != nil {
		return rec, nil
	}
	return g.record(ctx, ref)
}

// searchVMs reads props of every VM under a datacenter's VM folder through
// a container view the driver keeps for the folder (one call per search,
// where a view made and destroyed for each costs three). A view lives in
// the session: one gone with a session that ended, or destroyed behind
// the driver's back, is made again once.
func (g *Govmomi) searchVMs(ctx context.Context, folder types.ManagedObjectReference, props []string) ([]types.ObjectContent, error) {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var v types.ManagedObjectReference
		if v, err = g.vmView(ctx, folder); err != nil {
			return nil, err
		}
		var res *types.RetrievePropertiesResponse
		res, err = property.DefaultCollector(g.c).RetrieveProperties(ctx, types.RetrieveProperties{SpecSet: []types.PropertyFilterSpec{{
			ObjectSet: []types.ObjectSpec{{
				Obj:       v,
				Skip:      types.NewBool(true),
				SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{Type: "ContainerView", Path: "view"}},
			}},
			PropSet: []types.PropertySpec{{Type: "VirtualMachine", PathSet: props}},
		}}})
		if err == nil {
			for _, oc := range res.Returnval {
				if f := notAuthenticated(oc); f != nil {
					// The simulator's answer for a session that ended
					// (poller.go): log in again, with a new view.
					_, _ = methods.GetCurrentTime(ctx, g.c)
					err = fmt.Errorf("read VMs: %s", f.LocalizedMessage)
					break
				}
			}
			if err == nil {
				return res.Returnval, nil
			}
		}
		g.mu.Lock()
		if g.views[folder] == v {
			delete(g.views, folder)
		}
		g.mu.Unlock()
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

// vmView is the driver's container view of the VMs under folder, made on
// first use.
func (g *Govmomi) vmView(ctx context.Context, folder types.ManagedObjectReference) (types.ManagedObjectReference, error) {
	g.mu.Lock()
	v, ok := g.views[folder]
	g.mu.Unlock()
	if ok {
		return v, nil
	}
	// One search makes it; the others that start meanwhile wait for it
	// rather than each making one.
	g.viewMu.Lock()
	defer g.viewMu.Unlock()
	g.mu.Lock()
	v, ok = g.views[folder]
	g.mu.Unlock()
	if ok {
		return v, nil
	}
	cv, err := view.NewManager(g.c).CreateContainerView(ctx, folder, []string{"VirtualMachine"}, true)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	g.mu.Lock()
	g.views[folder] = cv.Reference()
	g.mu.Unlock()
	return cv.Reference(), nil
}
