package sim

// Reconfigures as vCenter refuses or defers them, where govmomi's
// simulator accepts everything at once:
//
//   - growing a powered-on VM's CPUs or memory needs CPU or memory hot-add
//     enabled on it (CpuHotPlugNotSupported, MemoryHotPlugNotSupported);
//     shrinking a powered-on VM is refused too (hot-remove is not offered);
//   - a scheduled hardware upgrade (config.scheduledHardwareUpgradeInfo,
//     upgradePolicy onSoftPowerOff) is kept pending and carried out at the
//     VM's next guest shutdown, as vSphere does, instead of being ignored.

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// reconfigGuard refuses what vCenter refuses of a reconfigure, and takes
// the scheduled-upgrade part of the spec out (it applies it itself). The
// caller holds the VM's lock.
func reconfigGuard(ctx *simulator.Context, vm *simulator.VirtualMachine, spec *types.VirtualMachineConfigSpec) *soap.Fault {
	if isOn(vm) && vm.Config != nil {
		hw := vm.Config.Hardware
		hot := func(b *bool) bool { return b != nil && *b }
		switch {
		case spec.NumCPUs > 0 && spec.NumCPUs < hw.NumCPU, spec.MemoryMB > 0 && spec.MemoryMB < int64(hw.MemoryMB):
			return faultBody(fmt.Sprintf("%s is powered on: its CPUs or memory cannot shrink while it runs", vm.Name),
				&types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOff, ExistingState: vm.Runtime.PowerState})
		case spec.NumCPUs > hw.NumCPU && !hot(vm.Config.CpuHotAddEnabled):
			return faultBody(fmt.Sprintf("CPU hot plug is not supported for %s: enable CPU hot-add, or power it off first", vm.Name), &types.CpuHotPlugNotSupported{})
		case spec.MemoryMB > int64(hw.MemoryMB) && !hot(vm.Config.MemoryHotAddEnabled):
			return faultBody(fmt.Sprintf("Memory hot plug is not supported for %s: enable memory hot-add, or power it off first", vm.Name), &types.MemoryHotPlugNotSupported{})
		}
	}
	if u := spec.ScheduledHardwareUpgradeInfo; u != nil {
		info := *u
		if info.UpgradePolicy == string(types.ScheduledHardwareUpgradeInfoHardwareUpgradePolicyNever) {
			info.ScheduledHardwareUpgradeStatus = string(types.ScheduledHardwareUpgradeInfoHardwareUpgradeStatusNone)
		} else {
			info.ScheduledHardwareUpgradeStatus = string(types.ScheduledHardwareUpgradeInfoHardwareUpgradeStatusPending)
		}
		ctx.Update(vm, []types.PropertyChange{{Name: "config.scheduledHardwareUpgradeInfo", Val: &info}})
		spec.ScheduledHardwareUpgradeInfo = nil
	}
	return nil
}

// softPowerOff carries out a pending onSoftPowerOff upgrade once the guest
// has shut down. The caller holds the VM's lock.
func softPowerOff(ctx *simulator.Context, vm *simulator.VirtualMachine) {
	if vm.Config == nil || vm.Config.ScheduledHardwareUpgradeInfo == nil {
		return
	}
	u := *vm.Config.ScheduledHardwareUpgradeInfo
	if u.UpgradePolicy == string(types.ScheduledHardwareUpgradeInfoHardwareUpgradePolicyNever) ||
		u.ScheduledHardwareUpgradeStatus != string(types.ScheduledHardwareUpgradeInfoHardwareUpgradeStatusPending) {
		return
	}
	u.ScheduledHardwareUpgradeStatus = string(types.ScheduledHardwareUpgradeInfoHardwareUpgradeStatusSuccess)
	ctx.Update(vm, []types.PropertyChange{
		{Name: "config.version", Val: u.VersionKey},
		{Name: "config.scheduledHardwareUpgradeInfo", Val: &u},
	})
}
