package strategy

// Moves between vCenters. A remediated VM that moves into another vCenter
// (a cross-vCenter relocation) gets a new managed object id there, and ids
// of two vCenters can collide (vm-63 in each): so the unit's outputs say
// which vCenter holds its VM (OutAt) as well as its id, and every read of
// the VM goes to that vCenter only. A run killed after the move but before
// the new id was recorded finds the VM again in the target vCenter by name
// and wavectl's markers, which travel with it.

import (
	"context"
	"errors"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// OutAt is the plan's name of the vCenter that holds the unit's source VM,
// once a cross-vCenter move has taken it away from the source vCenter (or
// brought it back).
const OutAt = "vcenter"

// crossVCenter reports whether the source and target are different
// vCenters of the plan.
func crossVCenter(rt *Runtime) bool {
	return rt.Source != nil && rt.Target != nil && rt.Source.Name() != rt.Target.Name()
}

// holder is the driver of the vCenter the outputs say holds the VM: the
// target's or the source's by OutAt, and the source's before any move of
// a cross-vCenter unit. nil: either may (one vCenter under one name).
func holder(rt *Runtime) vsphere.Driver {
	switch at := rt.Outputs[OutAt]; {
	case at != "" && rt.Target != nil && at == rt.Target.Name():
		return rt.Target
	case at != "" && rt.Source != nil && at == rt.Source.Name():
		return rt.Source
	case crossVCenter(rt):
		return rt.Source
	}
	return nil
}

// readHeld reads the unit's VM by ref where the outputs say it is. A
// remediated VM that is not there any more (a cross-vCenter move whose new
// id was never recorded) is looked for in the other vCenter by name and
// markers.
func readHeld(ctx context.Context, rt *Runtime, ref string) (vsphere.Driver, *vsphere.VM, error) {
	d := holder(rt)
	if d == nil {
		return readVM(ctx, rt, ref)
	}
	vm, err := d.VM(ctx, ref)
	if err == nil {
		return d, vm, nil
	}
	if !vsphere.IsNotFound(err) || rt.App.Strategy != plan.Remediate {
		return nil, nil, err
	}
	other, dc := rt.Target, target(rt).Datacenter
	if d == rt.Target {
		other, dc = rt.Source, rt.Outputs[OutDatacenter]
		if dc == "" {
			dc = rt.Plan.Source.Datacenter
		}
	}
	if found := movedVM(ctx, rt, other, dc); found != nil {
		rememberAt(rt, other, found)
		return other, found, nil
	}
	return nil, nil, err
}

// movedVM is the unit's VM in datacenter dc of d, known by wavectl's
// markers: exactly one of ours, not a copy made from it; else nil.
func movedVM(ctx context.Context, rt *Runtime, d vsphere.Driver, dc string) *vsphere.VM {
	if d == nil || dc == "" {
		return nil
	}
	vms, err := d.FindVMs(ctx, dc, rt.Unit)
	if err != nil {
		return nil
	}
	var own []*vsphere.VM
	for _, vm := range vms {
		if ours(rt, vm) && vm.Markers[vsphere.MarkerSource] == "" && !vm.Template {
			own = append(own, vm)
		}
	}
	if len(own) != 1 {
		return nil
	}
	return own[0]
}

// rememberAt records the unit's VM (its id and identity, see remember)
// and the vCenter that holds it now.
func rememberAt(rt *Runtime, d vsphere.Driver, vm *vsphere.VM) {
	remember(rt, vm)
	heldBy(rt, d)
}

// heldBy records which vCenter holds the unit's VM, when there are two.
func heldBy(rt *Runtime, d vsphere.Driver) {
	if d != nil && crossVCenter(rt) {
		rt.Outputs[OutAt] = d.Name()
	}
}

// relocateAcross moves the VM held by d to placement p in vCenter to (a
// cross-vCenter relocation when to is not d), and records its new id.
func relocateAcross(ctx context.Context, rt *Runtime, d vsphere.Driver, vm *vsphere.VM, to vsphere.Driver, spec vsphere.RelocateSpec) error {
	if to == nil || to.Name() == d.Name() {
		return d.Relocate(ctx, vm.Ref, spec)
	}
	spec.VCenter = to.Name()
	if err := d.Relocate(ctx, vm.Ref, spec); err != nil {
		// Gone from under us: an earlier move (of a run killed while it
		// ran) may have just finished. If the VM is there, it is done.
		return arrivedAt(ctx, rt, err, to, spec.Target.Datacenter)
	}
	found := movedVM(ctx, rt, to, spec.Target.Datacenter)
	if found == nil {
		return errors.New("after the move into vCenter " + to.Name() + ", " + vm.Name + " is not found there once with wavectl's markers")
	}
	rememberAt(rt, to, found)
	return nil
}

// arrivedAt turns "the VM is gone" during a cross-vCenter move into
// success when the VM has arrived in datacenter dc of vCenter to: an
// earlier move (of a run killed while it ran) finished meanwhile.
func arrivedAt(ctx context.Context, rt *Runtime, err error, to vsphere.Driver, dc string) error {
	if !crossVCenter(rt) || !vsphere.IsNotFound(err) {
		return err
	}
	if found := movedVM(ctx, rt, to, dc); found != nil {
		rememberAt(rt, to, found)
		return nil
	}
	return err
}
