package strategy

// Live moves. A remediated VM that is powered on moves live (a vMotion, or
// a cross-vCenter vMotion into another vCenter) when nothing needs it off:
// NIC remaps happen during the move; CPU or memory growth needs hot-add on
// the VM; a hardware upgrade is either done now, which needs the VM off, or
// scheduled for its next guest reboot (remediate.hardwareUpgrade:
// nextReboot, vSphere's upgradePolicy onSoftPowerOff). The plan or the
// application can force `move: cold`, or `move: live` (then vCenter's own
// checks decide, and a refusal fails the application).
//
// A live move's only outage is its switch-over (the vMotion stun, seconds):
// its steps are record-state, snapshot, [scheduled upgrade], [hot-add
// reconfigure], relocate, switch-over*, verify, remove-snapshot.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// DefaultSwitchOver is the estimate of a live move's switch-over.
const DefaultSwitchOver = 2 * time.Second

// Move is how one remediated VM moves, and why.
type Move struct {
	Live bool   `json:"live"`
	Why  string `json:"why"`
}

// String is "live (why)" or "cold (why)".
func (m Move) String() string {
	if m.Live {
		return "live (" + m.Why + ")"
	}
	return "cold (" + m.Why + ")"
}

// MoveOf decides how a remediated VM moves, from the plan alone: what it
// says of the VM (power state, size, hot-add) and of the remediation.
func MoveOf(a *plan.Application, vm *plan.VMRef) Move {
	if a == nil || vm == nil || a.Strategy != plan.Remediate {
		return Move{Why: "not a remediation"}
	}
	mode := a.Move
	if mode == "" {
		mode = plan.MoveAuto
	}
	if mode == plan.MoveCold {
		return Move{Why: "move: cold"}
	}
	if vm.PowerState == vsphere.PoweredOff {
		return Move{Why: "powered off: there is no service to keep running"}
	}
	if mode == plan.MoveLive {
		return Move{Live: true, Why: "move: live"}
	}
	var need []string
	r := a.Remediate
	if r != nil && r.HardwareVersion != "" && r.HardwareUpgrade != plan.UpgradeNextReboot &&
		!(vm.Hardware != "" && hardwareAtLeast(vm.Hardware, r.HardwareVersion)) {
		need = append(need, "the upgrade to "+r.HardwareVersion+" needs it off (remediate.hardwareUpgrade: nextReboot would schedule it for its next reboot)")
	}
	if r != nil && (r.CPUs > 0 || r.MemoryMB > 0) {
		switch {
		case r.CPUs > 0 && vm.CPUs > 0 && r.CPUs < vm.CPUs, r.MemoryMB > 0 && vm.MemoryMB > 0 && r.MemoryMB < vm.MemoryMB:
			need = append(need, "shrinking CPU or memory needs it off")
		case !vm.HotAdd:
			need = append(need, "growing CPU or memory needs hot-add, which the plan does not say the VM has (hotAdd: true)")
		}
	}
	if len(need) > 0 {
		return Move{Why: strings.Join(need, "; ")}
	}
	why := "nothing needs it off"
	if r != nil && r.HardwareVersion != "" && r.HardwareUpgrade == plan.UpgradeNextReboot {
		why += "; " + r.HardwareVersion + " at its next reboot"
	}
	if r != nil && (r.CPUs > 0 || r.MemoryMB > 0) {
		why += "; grown by hot-add"
	}
	return Move{Live: true, Why: why}
}

// vmRef is the unit's VM as the plan names it.
func vmRef(a *plan.Application, unit string) *plan.VMRef {
	for _, v := range a.VMs {
		if v != nil && v.Name == unit {
			return v
		}
	}
	return nil
}

// live reports whether the runtime's unit moves live.
func live(rt *Runtime) bool { return MoveOf(rt.App, vmRef(rt.App, rt.Unit)).Live }

// remediateLive adds a live-moving VM's steps.
func remediateLive(b *builder, a *plan.Application, vm *plan.VMRef, m Move) {
	r := a.Remediate
	b.add(1, plan.StepRecordState, vm.Name, false, "record %s's power state and placement", vm.Name)
	b.add(1, plan.StepSnapshot, vm.Name, false, "snapshot %s", vm.Name)
	if r != nil && r.HardwareVersion != "" {
		b.add(1, plan.StepUpgradeHardware, vm.Name, false, "schedule %s's upgrade to hardware %s at its next guest reboot (upgradePolicy onSoftPowerOff)", vm.Name, r.HardwareVersion)
	}
	if r != nil && (r.CPUs > 0 || r.MemoryMB > 0) {
		b.add(1, plan.StepReconfigure, vm.Name, false, "grow %s while it runs (hot-add): %s", vm.Name, reconfigureText(&plan.Remediation{CPUs: r.CPUs, MemoryMB: r.MemoryMB}, nil))
	}
	b.add(1, plan.StepRelocate, vm.Name, false, "move %s live to %s, NICs to the target portgroups (%s)", vm.Name, where(a.Resolved), m.Why)
	b.add(1, plan.StepSwitchOver, vm.Name, true, "switch-over: %s runs on its new host", vm.Name)
	b.add(1, plan.StepVerify, vm.Name, false, "verify %s: %s", vm.Name, verifyText(a))
	b.add(1, plan.StepRemoveSnapshot, vm.Name, false, "remove %s's snapshot", vm.Name)
}

// switchOver: the live move's hand-over, confirmed: the VM is at the
// target and powered on. Nothing to do and nothing to undo: the relocate
// did the move, and its undo moves it back.
func switchOver() Action {
	return Action{
		Check: func(ctx context.Context, rt *Runtime) (bool, error) {
			_, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return false, err
			}
			if !placed(rt, vm, target(rt)) {
				return false, fmt.Errorf("%s is at %s, not at the target, at its switch-over: relocate must run first", vm.Name, vm.Path)
			}
			// A VM planned live but found off (the plan did not know) moved
			// cold, with no service to hand over.
			if vm.PowerState != vsphere.PoweredOn && rt.Outputs[OutPowerState] == vsphere.PoweredOn {
				return false, fmt.Errorf("%s is %s after its live move", vm.Name, vm.PowerState)
			}
			return true, nil
		},
		Do: func(ctx context.Context, rt *Runtime) error {
			return fmt.Errorf("%s did not switch over to its new host", rt.Unit)
		},
	}
}

// moveChecked runs vCenter's compatibility checks for a live move just
// before it, when the driver can (see vsphere.MoveChecker): a refusal
// fails the step with vCenter's reasons and the choices.
func moveChecked(ctx context.Context, rt *Runtime, d vsphere.Driver, vm *vsphere.VM, spec vsphere.RelocateSpec) error {
	mc, ok := d.(vsphere.MoveChecker)
	if !ok {
		return nil
	}
	if crossVCenter(rt) && d.Name() != rt.Target.Name() {
		spec.VCenter = rt.Target.Name()
	}
	reasons, err := mc.CheckMove(ctx, vm.Ref, spec, true)
	if err != nil {
		return err
	}
	if len(reasons) > 0 {
		return &LiveRefusedError{VM: vm.Name, Reasons: reasons}
	}
	return nil
}

// LiveRefusedError is vCenter refusing a live move.
type LiveRefusedError struct {
	VM      string
	Reasons []string
}

func (e *LiveRefusedError) Error() string {
	return fmt.Sprintf("vCenter refuses to move %s live: %s; move it cold (move: cold) or, for a CPU feature, raise the target cluster's EVC mode",
		e.VM, strings.Join(e.Reasons, "; "))
}

// scheduled reports whether the unit's hardware upgrade waits for its next
// guest reboot: a live move with remediate.hardwareUpgrade: nextReboot.
func scheduled(rt *Runtime) bool {
	r := rt.App.Remediate
	return r != nil && r.HardwareUpgrade == plan.UpgradeNextReboot && live(rt)
}

// scheduleUpgrade schedules the upgrade through a driver that can.
func scheduleUpgrade(ctx context.Context, rt *Runtime, d vsphere.Driver, vm *vsphere.VM, version string) error {
	hs, ok := d.(vsphere.HardwareScheduler)
	if !ok {
		return fmt.Errorf("vCenter %s's driver cannot schedule a hardware upgrade: set remediate.hardwareUpgrade: now (the VM then moves cold)", d.Name())
	}
	return hs.ScheduleHardwareUpgrade(ctx, vm.Ref, version)
}

// moveBack is a relocate's undo: the move home, live when the VM runs. A
// live move home that vCenter refuses (a distributed switch back to a
// standard one, an EVC mode the source no longer offers) is made cold
// instead: shut down, moved, powered on again. A rollback may take the
// outage the way out avoided; it must not strand the VM.
func moveBack(ctx context.Context, rt *Runtime, d vsphere.Driver, vm *vsphere.VM, home vsphere.Driver, spec vsphere.RelocateSpec) error {
	err := relocateAcross(ctx, rt, d, vm, home, spec)
	if err == nil || vm.PowerState != vsphere.PoweredOn || vsphere.IsTransient(err) || vsphere.IsNotFound(err) {
		return err
	}
	rt.Log.Warn().Str("vm", vm.Name).Err(err).Msg("vCenter refused to move it back live: shutting it down to move it back cold")
	if cerr := cancelScheduled(ctx, d, vm); cerr != nil {
		return fmt.Errorf("%w; and cancelling its scheduled upgrade before shutting it down failed: %v", err, cerr)
	}
	if serr := d.Shutdown(ctx, vm.Ref, shutdownTimeout(rt)); serr != nil {
		return fmt.Errorf("%w; and shutting it down to move it cold failed: %v", err, serr)
	}
	if err := relocateAcross(ctx, rt, d, vm, home, spec); err != nil {
		return err
	}
	hd, back, err := sourceVM(ctx, rt)
	if err != nil {
		return err
	}
	return hd.PowerOn(ctx, back.Ref)
}

// shrinkBack is a reconfigure's undo: the recorded size. A VM grown while
// it ran (hot-add) cannot shrink while it runs, in vSphere: it is shut
// down for it and powered on again.
func shrinkBack(ctx context.Context, rt *Runtime, d vsphere.Driver, vm *vsphere.VM, cpus, mem int) error {
	shrinks := (cpus > 0 && cpus < vm.CPUs) || (mem > 0 && mem < vm.MemoryMB)
	if !shrinks || vm.PowerState != vsphere.PoweredOn {
		return d.Reconfigure(ctx, vm.Ref, vsphere.ReconfigureSpec{CPUs: cpus, MemoryMB: mem})
	}
	rt.Log.Warn().Str("vm", vm.Name).Msg("a running VM cannot shrink: shutting it down to restore its size")
	if err := cancelScheduled(ctx, d, vm); err != nil {
		return err
	}
	if err := d.Shutdown(ctx, vm.Ref, shutdownTimeout(rt)); err != nil {
		return err
	}
	if err := d.Reconfigure(ctx, vm.Ref, vsphere.ReconfigureSpec{CPUs: cpus, MemoryMB: mem}); err != nil {
		return err
	}
	return d.PowerOn(ctx, vm.Ref)
}

// cancelScheduled cancels a VM's pending scheduled upgrade, so that a
// rollback's shutdown does not carry it out (it is being undone).
func cancelScheduled(ctx context.Context, d vsphere.Driver, vm *vsphere.VM) error {
	if vm.ScheduledHardware == "" {
		return nil
	}
	hs, ok := d.(vsphere.HardwareScheduler)
	if !ok {
		return fmt.Errorf("%s has an upgrade to %s scheduled, which vCenter %s's driver cannot cancel", vm.Name, vm.ScheduledHardware, d.Name())
	}
	return hs.CancelHardwareUpgrade(ctx, vm.Ref)
}
