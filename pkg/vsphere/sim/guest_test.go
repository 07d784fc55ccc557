package sim

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

const checksPlan = `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: checks}
vcenters: {lab: {url: "https://vc.example/sdk"}}
source: {vcenter: lab, datacenter: DC-OLD}
target: {datacenter: DC1, cluster: C1, datastore: ds1, folder: migrated, networks: {VM Network: pg-app}}
applications:
  - {name: app, strategy: remediate, vms: [app-01, app-02], checks: [{tcp: 18443}, {tcp: 18080}]}
  - {name: quiet, strategy: remediate, vms: [quiet-01]}
  - {name: fax, strategy: replace, vms: [fax-01], replacement: {template: tpl-fax, name: fax-gw-01}, checks: [{tcp: 18025}]}
waves: [{name: w, applications: [app, quiet, fax]}]
`

// guestIP reads the VM's guest IP.
func guestIP(t *testing.T, ctx context.Context, vm *object.VirtualMachine) string {
	t.Helper()
	var m mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"guest.ipAddress"}, &m); err != nil {
		t.Fatal(err)
	}
	if m.Guest == nil {
		return ""
	}
	return m.Guest.IpAddress
}

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		_ = c.Close()
	}
	return err
}

func TestCheckedVMsListenOnTheirGuestIPWhilePoweredOn(t *testing.T) {
	ctx := context.Background()
	s, c := start(t, planFromYAML(t, checksPlan), Options{})
	vm := vmAt(t, ctx, c, "/DC-OLD/vm/app-01")
	ip := guestIP(t, ctx, vm)
	if a := net.ParseIP(ip); a == nil || !a.IsLoopback() || !(&net.IPNet{IP: net.IPv4(127, 64, 0, 0), Mask: net.CIDRMask(10, 32)}).Contains(a) {
		t.Fatalf("guest IP %q: want a loopback address in 127.64.0.0/10", ip)
	}
	other := guestIP(t, ctx, vmAt(t, ctx, c, "/DC-OLD/vm/app-02"))
	if other == ip || other == "" {
		t.Fatalf("app-02 has guest IP %q, app-01 %q: want distinct addresses", other, ip)
	}
	for _, port := range []int{18443, 18080} {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		if err := dial(addr); err != nil {
			t.Errorf("seeded, powered on: dial %s: %v", addr, err)
		}
		if got := s.GuestAddr(addr); got != addr {
			t.Errorf("GuestAddr(%s) = %s, want the address itself", addr, got)
		}
	}
	// A VM no check names listens on nothing.
	quiet := guestIP(t, ctx, vmAt(t, ctx, c, "/DC-OLD/vm/quiet-01"))
	if err := dial(net.JoinHostPort(quiet, "18443")); err == nil {
		t.Errorf("quiet-01 (%s) accepts connections on 18443", quiet)
	}

	addr := net.JoinHostPort(ip, "18443")
	must(t, "power off", done(vm.PowerOff(ctx)))
	if err := dial(addr); err == nil {
		t.Errorf("powered off: dial %s succeeded", addr)
	}
	must(t, "power on", done(vm.PowerOn(ctx)))
	if again := guestIP(t, ctx, vm); again != ip {
		t.Errorf("after a power cycle the guest IP is %s, was %s", again, ip)
	}
	if err := dial(addr); err != nil {
		t.Errorf("powered on again: dial %s: %v", addr, err)
	}
	// Destroy a VM whose listeners are open (vCenter itself refuses to
	// destroy a powered-on VM, so straight to the registry).
	s.guest.RemoveObject(s.model.Service.Context, vm.Reference())
	if err := dial(addr); err == nil {
		t.Errorf("destroyed: dial %s succeeded", addr)
	}

	// Close stops every guest's services.
	addr2 := net.JoinHostPort(other, "18080")
	if err := dial(addr2); err != nil {
		t.Fatalf("app-02: dial %s: %v", addr2, err)
	}
	_ = s.Close()
	if err := dial(addr2); err == nil {
		t.Errorf("after Close: dial %s succeeded", addr2)
	}
}

func TestAReplacementListensOnceDeployedAndACustomisedIPIsMapped(t *testing.T) {
	ctx := context.Background()
	s, c := start(t, planFromYAML(t, checksPlan), Options{})
	f := find.NewFinder(c.Client)
	tpl := vmAt(t, ctx, c, "/DC1/vm/templates/tpl-fax")
	folder, err := f.Folder(ctx, "/DC1/vm/migrated")
	must(t, "folder", err)
	cl, err := f.ClusterComputeResource(ctx, "/DC1/host/C1")
	must(t, "cluster", err)
	pool, err := cl.ResourcePool(ctx)
	must(t, "pool", err)
	poolRef := pool.Reference()
	spec := types.VirtualMachineCloneSpec{Location: types.VirtualMachineRelocateSpec{Pool: &poolRef}, PowerOn: true}
	must(t, "clone", done(tpl.Clone(ctx, folder, "fax-gw-01", spec)))
	vm := vmAt(t, ctx, c, "/DC1/vm/migrated/fax-gw-01")
	ip := guestIP(t, ctx, vm)
	if err := dial(net.JoinHostPort(ip, "18025")); err != nil {
		t.Errorf("replacement: dial %s:18025: %v", ip, err)
	}

	// A customised, non-loopback address is served on a loopback one,
	// reached through the simulator's dialer.
	s.SetGuestPorts("custom-01", 18026)
	spec.Customization = &types.CustomizationSpec{
		Identity: &types.CustomizationLinuxPrep{HostName: &types.CustomizationFixedName{Name: "custom-01"}, Domain: "example"},
		NicSettingMap: []types.CustomizationAdapterMapping{{Adapter: types.CustomizationIPSettings{
			Ip: &types.CustomizationFixedIp{IpAddress: "10.20.30.40"}, SubnetMask: "255.255.255.0",
		}}},
	}
	must(t, "clone customised", done(tpl.Clone(ctx, folder, "custom-01", spec)))
	custom := vmAt(t, ctx, c, "/DC1/vm/migrated/custom-01")
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := custom.WaitForIP(wctx)
	must(t, "wait for IP", err)
	if got != "10.20.30.40" {
		t.Fatalf("customised clone has IP %s", got)
	}
	real := s.GuestAddr("10.20.30.40:18026")
	if h, _, _ := net.SplitHostPort(real); !net.ParseIP(h).IsLoopback() {
		t.Fatalf("10.20.30.40:18026 is served on %s, want a loopback address", real)
	}
	conn, err := s.DialContext(ctx, "tcp", "10.20.30.40:18026")
	if err != nil {
		t.Fatalf("DialContext: %v", err)
	}
	_ = conn.Close()
	must(t, "power off", done(custom.PowerOff(ctx)))
	if err := dial(real); err == nil {
		t.Errorf("powered off: %s still accepts connections", real)
	}
}
