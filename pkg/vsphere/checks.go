package vsphere

// vCenter's own checks of a move, before it is made: the provisioning
// checker's CheckRelocate, which for a live move tests CPU compatibility
// (EVC), and the target host's access to the VM's networks and datastore.

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// MoveChecker is a driver that can ask vCenter whether a move would pass
// its compatibility checks, without making it. It reads only, so the
// read-only driver offers it too.
type MoveChecker interface {
	// CheckMove returns vCenter's reasons against moving the VM as spec
	// says (live: powered on, a vMotion), none when it would pass.
	CheckMove(ctx context.Context, ref string, spec RelocateSpec, live bool) ([]string, error)
}

var _ MoveChecker = (*Govmomi)(nil)

// CheckMove asks the provisioning checker (CheckRelocate) about a move.
// A vCenter without one (an ESXi host) has no reasons. vCenter checks the
// VM as it is: a powered-on VM gets the vMotion tests (CPU/EVC), so live
// only documents the caller's intent.
func (g *Govmomi) CheckMove(ctx context.Context, ref string, spec RelocateSpec, _ bool) ([]string, error) {
	const op = "check move"
	if g.c.ServiceContent.VmProvisioningChecker == nil {
		return nil, nil
	}
	cur, err := g.recordForChange(ctx, vmRef(ref))
	if err != nil {
		return nil, g.fault(op, ref, err)
	}
	locator, peer, err := g.locator(ctx, op, ref, spec)
	if err != nil {
		return nil, err
	}
	at, mode := g, placeRelocate
	if peer != nil {
		at, mode = peer, placeNew
	}
	var t *target
	if mode == placeNew {
		t, err = at.place(ctx, op, ref, spec.Target, nil, placeNew)
	} else {
		t, err = at.place(ctx, op, ref, spec.Target, cur, placeRelocate)
	}
	if err != nil {
		return nil, err
	}
	nics, err := at.remapNICs(ctx, op, ref, t.ix, cur.nics, spec.Networks)
	if err != nil {
		return nil, err
	}
	rs := types.VirtualMachineRelocateSpec{Service: locator, Pool: t.pool, Host: t.host, Datastore: t.ds, Folder: t.folder, DeviceChange: nics}
	tests := []types.CheckTestType{types.CheckTestTypeSourceTests, types.CheckTestTypeHostTests,
		types.CheckTestTypeResourcePoolTests, types.CheckTestTypeDatastoreTests, types.CheckTestTypeNetworkTests}
	req := types.CheckRelocate_Task{This: *g.c.ServiceContent.VmProvisioningChecker, Vm: cur.m.Self, Spec: rs}
	for _, tt := range tests {
		req.TestType = append(req.TestType, string(tt))
	}
	// The check's task is waited for by the driver's poller, as every
	// other task is (govmomi's CheckRelocate makes a collector for it).
	info, err := g.runMethod(ctx, op, ref, func() (types.ManagedObjectReference, error) {
		res, err := methods.CheckRelocate_Task(ctx, g.c, &req)
		if err != nil {
			return types.ManagedObjectReference{}, err
		}
		return res.Returnval, nil
	})
	if err != nil {
		return nil, err
	}
	var results []types.CheckResult
	if r, ok := info.Result.(types.ArrayOfCheckResult); ok {
		results = r.CheckResult
	}
	var reasons []string
	for _, r := range results {
		for _, e := range r.Error {
			msg := e.LocalizedMessage
			if msg == "" {
				msg = fmt.Sprintf("%T", e.Fault)
			}
			reasons = append(reasons, msg)
		}
	}
	return reasons, nil
}

// CheckMove reads only: it passes through.
func (r *ReadOnly) CheckMove(ctx context.Context, ref string, spec RelocateSpec, live bool) ([]string, error) {
	mc, ok := r.d.(MoveChecker)
	if !ok {
		return nil, nil
	}
	return mc.CheckMove(ctx, ref, spec, live)
}

// HardwareScheduler is a driver that can schedule a VM's hardware upgrade
// for its next guest reboot, so that a running VM need not stop for it.
type HardwareScheduler interface {
	ScheduleHardwareUpgrade(ctx context.Context, ref, version string) error
	// CancelHardwareUpgrade cancels a pending scheduled upgrade (policy
	// never); none pending is no error.
	CancelHardwareUpgrade(ctx context.Context, ref string) error
}

var _ HardwareScheduler = (*Govmomi)(nil)

// ScheduleHardwareUpgrade sets vSphere's scheduled hardware upgrade
// (upgradePolicy onSoftPowerOff): the VM is upgraded to version at its
// next guest-initiated shutdown or reboot. A VM at that version or later,
// or with that upgrade pending, is left alone.
func (g *Govmomi) ScheduleHardwareUpgrade(ctx context.Context, ref, version string) error {
	const op = "schedule-hardware-upgrade"
	want, err := types.ParseHardwareVersion(version)
	if err != nil {
		return invalid(op, ref, "hardware version %q: write it as vmx-NN", version)
	}
	cur, err := g.recordForChange(ctx, vmRef(ref))
	if err != nil {
		return g.fault(op, ref, err)
	}
	if have, err := types.ParseHardwareVersion(cur.vm.HardwareVersion); err == nil && have >= want {
		return nil
	}
	if cur.vm.ScheduledHardware == want.String() {
		return nil
	}
	spec := types.VirtualMachineConfigSpec{ScheduledHardwareUpgradeInfo: &types.ScheduledHardwareUpgradeInfo{
		UpgradePolicy: string(types.ScheduledHardwareUpgradeInfoHardwareUpgradePolicyOnSoftPowerOff),
		VersionKey:    want.String(),
	}}
	_, err = g.run(ctx, op, ref, func() (*object.Task, error) {
		return object.NewVirtualMachine(g.c, cur.m.Self).Reconfigure(ctx, spec)
	})
	return err
}

// CancelHardwareUpgrade sets the VM's upgrade policy to never, when an
// upgrade is pending.
func (g *Govmomi) CancelHardwareUpgrade(ctx context.Context, ref string) error {
	const op = "cancel-hardware-upgrade"
	cur, err := g.recordForChange(ctx, vmRef(ref))
	if err != nil {
		return g.fault(op, ref, err)
	}
	if cur.vm.ScheduledHardware == "" {
		return nil
	}
	spec := types.VirtualMachineConfigSpec{ScheduledHardwareUpgradeInfo: &types.ScheduledHardwareUpgradeInfo{
		UpgradePolicy: string(types.ScheduledHardwareUpgradeInfoHardwareUpgradePolicyNever),
	}}
	_, err = g.run(ctx, op, ref, func() (*object.Task, error) {
		return object.NewVirtualMachine(g.c, cur.m.Self).Reconfigure(ctx, spec)
	})
	return err
}

// CancelHardwareUpgrade changes the VM: refused.
func (r *ReadOnly) CancelHardwareUpgrade(_ context.Context, ref string) error {
	return r.refuse("cancel-hardware-upgrade", ref, "cancel a scheduled upgrade")
}

// ScheduleHardwareUpgrade changes the VM: refused.
func (r *ReadOnly) ScheduleHardwareUpgrade(_ context.Context, ref, version string) error {
	return r.refuse("schedule-hardware-upgrade", ref, "schedule an upgrade to %s", version)
}
