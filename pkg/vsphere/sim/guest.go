package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/plan"
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
// Guest addresses are loopback addresses, one per VM, from 127.64.0.0/10
// (Linux answers for all of 127.0.0.0/8 on lo), so that the guest's
// services can really listen: a VM named by an application's TCP checks
// (see serveChecks) accepts connections on each check port of its guest IP
// while it is powered on, and stops when it powers off or is destroyed. A
// wavectl verification then dials the VM as it would a real one.
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

	// ports are the TCP ports each VM (by name) listens on while on.
	ports map[string][]int
	// listening holds each powered-on VM's listeners.
	listening map[types.ManagedObjectReference]*guestServices
	// addrs maps a guest ip:port to the address actually listened on,
	// when they differ (see listen).
	addrs  map[string]string
	closed bool
}

// guestServices are one VM's listeners.
type guestServices struct {
	listeners []net.Listener
	asked     []string // the guest ip:port each listener stands for
}

func newGuestAgent(reg *simulator.Registry, sessions *sessionOverrides) *guestAgent {
	return &guestAgent{
		reg:       reg,
		sessions:  sessions,
		self:      types.ManagedObjectReference{Type: "WavectlGuestAgent", Value: "wavectl-guest-agent"},
		ips:       map[types.ManagedObjectReference]string{},
		ports:     map[string][]int{},
		listening: map[types.ManagedObjectReference]*guestServices{},
		addrs:     map[string]string{},
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
	// The handlers of two power changes can run out of order: a guest
	// shutdown's power-off handler, late under load, after the power-on
	// that followed it would take the guest's listeners down on a running
	// VM. The guest follows the state the VM is in now.
	if now := vm.Runtime.PowerState; now != "" {
		state = now
	}
	// The nested Update comes back here without a power change: no loop.
	g.reg.Update(ctx, vm, g.changes(vm, state))
	if state == types.VirtualMachinePowerStatePoweredOn {
		g.listen(vm.Self, vm.Name, vm.Guest.IpAddress)
	} else {
		g.unlisten(vm.Self)
	}
}

// RemoveObject drops the session overrides of a removed object (see
// sessionOverrides); this handler is the registry's one hook for removals.
func (g *guestAgent) RemoveObject(ctx *simulator.Context, ref types.ManagedObjectReference) {
	g.sessions.forget(ctx, ref)
	g.unlisten(ref)
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
// loopback address from 127.64.0.0/10, handed out in order.
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
	ip := g.allocate()
	g.ips[ref] = ip
	return ip
}

// allocate hands out the next loopback address, 127.64.1.1 first. Callers
// hold g.mu.
func (g *guestAgent) allocate() string {
	for {
		g.next++
		n := g.next + 1<<8 // start at 127.64.1.x
		d := n & 0xff
		if d == 0 || d == 0xff {
			continue
		}
		return fmt.Sprintf("127.%d.%d.%d", 64+(n>>16)&0x3f, (n>>8)&0xff, d)
	}
}

// serveChecks gives every VM that an application's TCP checks will dial
// those ports: redeploy and remediate VMs by their names, virtualised
// servers by theirs, a replacement by its name.
func (g *guestAgent) serveChecks(p *plan.Plan) {
	for _, a := range p.Applications {
		if a == nil || len(a.Checks) == 0 {
			continue
		}
		var ports []int
		for _, c := range a.Checks {
			if c.TCP > 0 && c.TCP <= 65535 {
				ports = append(ports, c.TCP)
			}
		}
		var names []string
		switch a.Strategy {
		case plan.Replace:
			if a.Replacement != nil {
				names = append(names, a.Replacement.Name)
			}
		default:
			names = a.Units()
		}
		for _, n := range names {
			g.setPorts(n, ports...)
		}
	}
}

// setPorts adds TCP ports to those the VM called name listens on from its
// next power-on.
func (g *guestAgent) setPorts(name string, ports ...int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range ports {
		if !slices.Contains(g.ports[name], p) {
			g.ports[name] = append(g.ports[name], p)
		}
	}
	slices.Sort(g.ports[name])
}

// listen opens the VM's ports on its guest IP. A guest IP that is not a
// loopback address (a customised one) is served on a fresh loopback
// address instead, and a port that cannot be bound as asked (below 1024
// without the privilege to, or taken) on a free port of the same address:
// Sim.DialContext follows both mappings, a plain dial only the first kind
// of address.
func (g *guestAgent) listen(ref types.ManagedObjectReference, name, ip string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ports := g.ports[name]
	if g.closed || len(ports) == 0 || ip == "" || g.listening[ref] != nil {
		return
	}
	host := ip
	if a := net.ParseIP(ip); a == nil || !a.IsLoopback() || a.To4() == nil {
		host = g.allocate()
	}
	svc := &guestServices{}
	for _, port := range ports {
		asked := net.JoinHostPort(ip, strconv.Itoa(port))
		ln, err := net.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			ln, err = net.Listen("tcp4", net.JoinHostPort(host, "0"))
		}
		if err != nil {
			continue // the dial fails, as it would for a broken service
		}
		if got := ln.Addr().String(); got != asked {
			g.addrs[asked] = got
		}
		svc.listeners = append(svc.listeners, ln)
		svc.asked = append(svc.asked, asked)
		go serveGuest(ln)
	}
	g.listening[ref] = svc
}

// serveGuest accepts connections and closes them: enough for a TCP check.
func serveGuest(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		_ = c.Close()
	}
}

// unlisten closes the VM's listeners.
func (g *guestAgent) unlisten(ref types.ManagedObjectReference) {
	g.mu.Lock()
	svc := g.listening[ref]
	delete(g.listening, ref)
	if svc != nil {
		for _, a := range svc.asked {
			delete(g.addrs, a)
		}
	}
	g.mu.Unlock()
	if svc != nil {
		for _, ln := range svc.listeners {
			_ = ln.Close()
		}
	}
}

// close stops every VM's listeners for good.
func (g *guestAgent) close() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.closed = true
	refs := make([]types.ManagedObjectReference, 0, len(g.listening))
	for ref := range g.listening {
		refs = append(refs, ref)
	}
	g.mu.Unlock()
	for _, ref := range refs {
		g.unlisten(ref)
	}
}

// address is where a guest's ip:port is really served.
func (g *guestAgent) address(addr string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if a, ok := g.addrs[addr]; ok {
		return a
	}
	return addr
}

// SetGuestPorts makes the VMs called name listen on these TCP ports of
// their guest IP from their next power-on, as New does for the VMs the
// plan's checks name.
func (s *Sim) SetGuestPorts(name string, ports ...int) { s.guest.setPorts(name, ports...) }

// GuestAddr returns the address that really serves a guest's ip:port: the
// same address, unless the guest IP is not a loopback address or the port
// could not be bound (see DialContext).
func (s *Sim) GuestAddr(addr string) string { return s.guest.address(addr) }

// DialContext dials a guest's address the way a TCP check would, through
// the mapping GuestAddr gives. A plain net.Dialer reaches the same
// listeners when the guest IP is the agent's own loopback address and the
// port could be bound: always as root, or for ports from 1024 up.
func (s *Sim) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, s.GuestAddr(addr))
}
