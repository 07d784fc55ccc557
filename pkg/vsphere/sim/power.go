package sim

// The power log: every time a client asks a powered-on VM to stop (power
// off, guest shutdown, suspend, reset), the simulator counts it in the VM's
// extraConfig under PowerOffsKey. A live move must leave it untouched (it
// is carried with the VM across vCenters, see cross.go), so a test can
// read it back with govc and prove that a VM never went down.
//
// vCenter keeps no such counter; its nearest real thing is the VM's event
// history (VmPoweredOffEvent, VmGuestShutdownEvent), which stays behind in
// the source vCenter when a VM moves.

import (
	"strconv"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// PowerOffsKey is the simulator-only extraConfig key counting the times a
// powered-on VM was asked to stop.
const PowerOffsKey = "sim.powerOffs"

// isOn reports whether a stop request would take the VM down.
func isOn(vm *simulator.VirtualMachine) bool {
	return vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
}

// countPowerOff adds one to the VM's PowerOffsKey. The caller holds the
// VM's lock (the dispatcher does, for an override).
func countPowerOff(ctx *simulator.Context, vm *simulator.VirtualMachine) {
	if vm.Config == nil {
		return
	}
	n := 0
	idx := -1
	for i, o := range vm.Config.ExtraConfig {
		if v := o.GetOptionValue(); v.Key == PowerOffsKey {
			idx = i
			if s, ok := v.Value.(string); ok {
				n, _ = strconv.Atoi(s)
			}
		}
	}
	val := &types.OptionValue{Key: PowerOffsKey, Value: strconv.Itoa(n + 1)}
	ec := append([]types.BaseOptionValue{}, vm.Config.ExtraConfig...)
	if idx >= 0 {
		ec[idx] = val
	} else {
		ec = append(ec, val)
	}
	ctx.Update(vm, []types.PropertyChange{{Name: "config.extraConfig", Val: ec}})
}

// PowerOffs reads a VM's count of stops.
func PowerOffs(extraConfig []types.BaseOptionValue) int {
	for _, o := range extraConfig {
		if v := o.GetOptionValue(); v.Key == PowerOffsKey {
			if s, ok := v.Value.(string); ok {
				n, _ := strconv.Atoi(s)
				return n
			}
		}
	}
	return 0
}

func (w *vmOverride) ShutdownGuest(ctx *simulator.Context, req *types.ShutdownGuest) soap.HasFault {
	on := isOn(w.VirtualMachine)
	body := w.VirtualMachine.ShutdownGuest(ctx, req)
	if on && body.Fault() == nil {
		countPowerOff(ctx, w.VirtualMachine)
		softPowerOff(ctx, w.VirtualMachine) // hotadd.go
	}
	return body
}

func (w *vmOverride) SuspendVMTask(ctx *simulator.Context, req *types.SuspendVM_Task) soap.HasFault {
	if isOn(w.VirtualMachine) {
		countPowerOff(ctx, w.VirtualMachine)
	}
	return w.VirtualMachine.SuspendVMTask(ctx, req)
}

// stopping counts a power-off or reset asked of a powered-on VM; called
// by those overrides in guard.go.
func stopping(ctx *simulator.Context, vm *simulator.VirtualMachine) {
	if isOn(vm) {
		countPowerOff(ctx, vm)
	}
}
