package sim

import (
	"fmt"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// guestAgent plays VMware Tools in every VM: when a VM powers on, its
// tools report running and it gets an IP address; when it powers off, both
// go. The simulator has no guest of its own: tools and IP stay empty unless
// set with its simulator-only extraConfig keys (SET.guest.ipAddress=...),
// and power operations leave them alone. Those keys are plain property
// changes on the VM (guest.ipAddress, summary.guest.ipAddress, guest.net);
// this agent makes the same changes on every power change, so seeded VMs,
// clones and new VMs alike pass a health check once powered on.
//
// It is a simulator RegisterObject handler: the registry calls it, under
// the VM's lock, for every property change of every object.
//
// It also gives every new VM valid runtime.faultToleranceState and
// runtime.recordReplayState values, which the simulator leaves empty and
// pyvmomi rejects (govmomi issue #4084).
type guestAgent struct {
	self     types.ManagedObjectReference
	reg      *simulator.Registry
	sessions *sessionOverrides

	mu   sync.Mutex
	ips  map[types.ManagedObjectReference]string
	next uint32
}

func newGuestAgent(reg *simulator.Registry, sessions *sessionOverrides) *guestAgent {
	return &guestAgent{
		reg:      reg,
		sessions: sessions,
		self:     types.ManagedObjectReference{Type: "WavectlGuestAgent", Value: "wavectl-guest-agent"},
		ips:      map[types.ManagedObjectReference]string{},
	}
}

func (g *guestAgent) Reference() types.ManagedObjectReference { return g.self }

func (g *guestAgent) PutObject(_ *simulator.Context, obj mo.Reference) {
	vm, ok := obj.(*simulator.VirtualMachine)
	if !ok {
		return
	}
	// Called while the VM is being added, before anyone can see it.
	if vm.Runtime.FaultToleranceState == "" {
		vm.Runtime.FaultToleranceState = types.VirtualMachineFaultToleranceStateNotConfigured
	}
	if vm.Runtime.RecordReplayState == "" {
		vm.Runtime.RecordReplayState = types.VirtualMachineRecordReplayStateInactive
	}
	vm.Summary.Runtime.FaultToleranceState = vm.Runtime.FaultToleranceState
	vm.Summary.Runtime.RecordReplayState = vm.Runtime.RecordReplayState
}

func (g *guestAgent) UpdateObject(ctx *simulator.Context, obj mo.Reference, changes []types.PropertyChange) {
	vm, ok := obj.(*mo.VirtualMachine)
	if !ok {
		return
	}
	var state types.VirtualMachinePowerState
	for _, c := range changes {
		if c.Name != "runtime.powerState" {
			continue
		}
		switch v := c.Val.(type) {
		case types.VirtualMachinePowerState:
			state = v
		case string:
			state = types.VirtualMachinePowerState(v)
		}
	}
	if state == "" || vm.Guest == nil {
		return
	}
	// The nested Update comes back here without a power change: no loop.
	g.reg.Update(ctx, vm, g.changes(vm, state))
}

// RemoveObject drops the session overrides of a removed object (see
// sessionOverrides); this handler is the registry's one hook for removals.
func (g *guestAgent) RemoveObject(ctx *simulator.Context, ref types.ManagedObjectReference) {
	g.sessions.forget(ctx, ref)
	g.mu.Lock()
	delete(g.ips, ref)
	g.mu.Unlock()
}

// changes are the property changes that make vm's guest match state.
func (g *guestAgent) changes(vm *mo.VirtualMachine, state types.VirtualMachinePowerState) []types.PropertyChange {
	on := state == types.VirtualMachinePowerStatePoweredOn
	ip, host := "", ""
	running := string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)
	status := types.VirtualMachineToolsStatusToolsNotRunning
	guestState := "notRunning"
	if on {
		ip = g.ip(vm.Self, vm.Guest.IpAddress)
		host = vm.Guest.HostName
		if host == "" {
			host = vm.Name
		}
		running = string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
		status = types.VirtualMachineToolsStatusToolsOk
		guestState = "running"
	} else if vm.Guest.IpAddress != "" {
		// Keep the address (set by customisation, say) for the next boot.
		g.mu.Lock()
		g.ips[vm.Self] = vm.Guest.IpAddress
		g.mu.Unlock()
		host = vm.Guest.HostName
	}
	nics := make([]types.GuestNicInfo, len(vm.Guest.Net))
	copy(nics, vm.Guest.Net)
	for i := range nics {
		nics[i].Connected = on
		nics[i].IpAddress = nil
		nics[i].IpConfig = nil
	}
	if on && len(nics) > 0 {
		nics[0].IpAddress = []string{ip}
		nics[0].IpConfig = &types.NetIpConfigInfo{IpAddress: []types.NetIpConfigInfoIpAddress{{
			IpAddress: ip, PrefixLength: 16, State: string(types.NetIpConfigInfoIpAddressStatusPreferred),
		}}}
	}
	return []types.PropertyChange{
		{Name: "guest.toolsRunningStatus", Val: running},
		{Name: "guest.toolsStatus", Val: status},
		{Name: "guest.toolsVersionStatus2", Val: string(types.VirtualMachineToolsVersionStatusGuestToolsCurrent)},
		{Name: "guest.toolsVersion", Val: "12416"},
		{Name: "guest.guestState", Val: guestState},
		{Name: "guest.ipAddress", Val: ip},
		{Name: "guest.hostName", Val: host},
		{Name: "guest.net", Val: nics},
		{Name: "summary.guest.toolsStatus", Val: status},
		{Name: "summary.guest.toolsRunningStatus", Val: running},
		{Name: "summary.guest.ipAddress", Val: ip},
		{Name: "summary.guest.hostName", Val: host},
	}
}

// ip returns the VM's address: the one it has, the one it had, or a new
// one from 10.64.0.0/10, handed out in order.
func (g *guestAgent) ip(ref types.ManagedObjectReference, current string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if current != "" {
		g.ips[ref] = current
		return current
	}
	if ip, ok := g.ips[ref]; ok {
		return ip
	}
	for {
		g.next++
		n := g.next + 1<<8 // start at 10.64.1.x
		d := n & 0xff
		if d == 0 || d == 0xff {
			continue
		}
		ip := fmt.Sprintf("10.%d.%d.%d", 64+(n>>16)&0x3f, (n>>8)&0xff, d)
		g.ips[ref] = ip
		return ip
	}
}
