package sim

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/vsphere"
	"github.com/wavectl/wavectl/pkg/vsphere/vspheretest"
)

const twoVCenters = `
apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: xvc}
vcenters:
  legacy: {url: https://vc-legacy.example/sdk}
  crown: {url: https://vc-crown.example/sdk}
  crown-alias: {url: https://vc-crown.example/sdk/}
source: {vcenter: legacy, datacenter: DC-OLD}
target:
  vcenter: crown
  datacenter: DC1
  cluster: C1
  datastore: ds-01
  folder: migrated
  networks: {VM Network: pg-app, Legacy-DB: pg-db}
applications:
  - name: app
    strategy: remediate
    vms:
      - {name: app-01, networks: [VM Network, Legacy-DB]}
      - {name: app-02, powerState: poweredOff}
  - name: other
    strategy: remediate
    target: {vcenter: crown-alias, datacenter: DC2, cluster: C2, datastore: ds-02}
    vms: [other-01]
waves:
  - {name: w1, applications: [app, other]}
`

// estate starts a two-vCenter estate and connects a driver to each.
func estate(t *testing.T) (*Estate, map[string]*vsphere.Govmomi, map[string]*govmomi.Client) {
	t.Helper()
	e, err := NewEstate(planFromYAML(t, twoVCenters), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	if err := e.Start(""); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	drivers := map[string]*vsphere.Govmomi{}
	clients := map[string]*govmomi.Client{}
	for _, name := range []string{"legacy", "crown"} {
		c, err := e.Sim(name).Client(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Logout(ctx) })
		clients[name] = c
		drivers[name] = vsphere.NewGovmomi(name, c.Client)
	}
	for name, g := range drivers {
		for peer, pg := range drivers {
			if peer != name {
				g.AddPeer(peer, pg, access(e.Sim(peer)))
			}
		}
	}
	return e, drivers, clients
}

func access(s *Sim) vsphere.PeerAccess {
	u := s.URL()
	pass, _ := u.User.Password()
	bare := *u
	bare.User = nil
	return vsphere.PeerAccess{URL: bare.String(), Username: u.User.Username(), Password: pass, Thumbprint: s.Thumbprint()}
}

func TestEstateServesEachVCenterAsItsOwnInstance(t *testing.T) {
	e, drivers, _ := estate(t)
	legacy, crown := e.Sim("legacy"), e.Sim("crown")
	if len(e.Sims()) != 2 || legacy == crown || e.Sim("crown-alias") != crown {
		t.Fatalf("instances: %d; legacy %p crown %p crown-alias %p: want 2, names sharing a URL sharing one", len(e.Sims()), legacy, crown, e.Sim("crown-alias"))
	}
	if legacy.URL().Host == crown.URL().Host || legacy.Thumbprint() == crown.Thumbprint() || legacy.InstanceUUID() == crown.InstanceUUID() {
		t.Errorf("legacy and crown share a URL, certificate or instance UUID: %s %s, %s %s, %s %s",
			legacy.URL().Host, crown.URL().Host, legacy.Thumbprint(), crown.Thumbprint(), legacy.InstanceUUID(), crown.InstanceUUID())
	}
	lp, _ := legacy.URL().User.Password()
	cp, _ := crown.URL().User.Password()
	if lp == cp {
		t.Error("legacy and crown accept the same password")
	}
	ctx := context.Background()
	if _, err := drivers["crown"].Inventory(ctx, "DC-OLD"); !vsphere.IsNotFound(err) {
		t.Errorf("crown holds the source datacenter: %v", err)
	}
	for _, dc := range []string{"DC1", "DC2"} {
		if _, err := drivers["legacy"].Inventory(ctx, dc); !vsphere.IsNotFound(err) {
			t.Errorf("legacy holds target datacenter %s: %v", dc, err)
		}
		if _, err := drivers["crown"].Inventory(ctx, dc); err != nil {
			t.Errorf("crown lacks target datacenter %s: %v", dc, err)
		}
	}
	inv, err := drivers["legacy"].Inventory(ctx, "DC-OLD")
	if err != nil || len(inv.VMs) != 3 {
		t.Fatalf("legacy DC-OLD: %v VMs, %v; want the 3 source VMs", inv, err)
	}
	env := strings.Join(e.Env(), "\n")
	for _, want := range []string{"WAVECTL_VCENTER_LEGACY_URL=https://" + legacy.URL().Host + "/sdk", "WAVECTL_VCENTER_CROWN_PASSWORD=" + cp,
		"WAVECTL_VCENTER_CROWN_ALIAS_URL=https://" + crown.URL().Host + "/sdk", "GOVC_URL=https://" + legacy.URL().Host + "/sdk", "WAVECTL_INSECURE=1"} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
}

func TestEstateOfOneVCenterIsOneInstance(t *testing.T) {
	p := planFromYAML(t, strings.Replace(twoVCenters, "https://vc-crown.example/sdk}", "https://vc-legacy.example/sdk}", 1))
	e, err := NewEstate(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if len(e.Sims()) != 2 {
		// crown-alias still has its own URL.
		t.Fatalf("%d instances, want 2 (legacy and crown together, crown-alias alone)", len(e.Sims()))
	}
	if e.Sim("legacy") != e.Sim("crown") {
		t.Error("legacy and crown share a URL but not an instance")
	}
}

// moved reads a VM by name in a vCenter's datacenter.
func moved(t *testing.T, d *vsphere.Govmomi, dc, name string) []*vsphere.VM {
	t.Helper()
	vms, err := d.FindVMs(context.Background(), dc, name)
	if err != nil && !vsphere.IsNotFound(err) {
		t.Fatal(err)
	}
	return vms
}

func TestCrossVCenterRelocateMovesTheVMLive(t *testing.T) {
	_, drivers, clients := estate(t)
	ctx := context.Background()
	src := moved(t, drivers["legacy"], "DC-OLD", "app-01")
	if len(src) != 1 || src[0].PowerState != vsphere.PoweredOn {
		t.Fatalf("source app-01: %+v", src)
	}
	before := readVM(t, clients["legacy"], src[0].Ref)
	if err := drivers["legacy"].SetMarkers(ctx, src[0].Ref, map[string]string{"wavectl.plan": "xvc"}); err != nil {
		t.Fatal(err)
	}
	if _, err := drivers["legacy"].CreateSnapshot(ctx, src[0].Ref, "wavectl-xvc", ""); err != nil {
		t.Fatal(err)
	}
	spec := vsphere.RelocateSpec{
		VCenter:  "crown",
		Target:   vsphere.Placement{Datacenter: "DC1", Cluster: "C1", Datastore: "ds-01", Folder: "migrated"},
		Networks: map[string]string{"VM Network": "pg-app", "Legacy-DB": "pg-db"},
	}
	if err := drivers["legacy"].Relocate(ctx, src[0].Ref, spec); err != nil {
		t.Fatalf("cross-vCenter relocate: %v", err)
	}
	if left := moved(t, drivers["legacy"], "DC-OLD", "app-01"); len(left) != 0 {
		t.Errorf("app-01 still in the source vCenter: %+v", left)
	}
	got := moved(t, drivers["crown"], "DC1", "app-01")
	if len(got) != 1 {
		t.Fatalf("app-01 in crown: %d copies", len(got))
	}
	vm := got[0]
	if vm.PowerState != vsphere.PoweredOn || vm.Folder != "migrated" || vm.Cluster != "C1" || !strings.Contains(strings.Join(vm.Datastores, ","), "ds-01") ||
		strings.Join(vm.Networks, ",") != "pg-app,pg-db" || vm.Markers["wavectl.plan"] != "xvc" || len(vm.Snapshots) != 1 {
		t.Errorf("arrived as %+v", vm)
	}
	after := readVM(t, clients["crown"], vm.Ref)
	if after.Config.InstanceUuid != before.Config.InstanceUuid || after.Config.Uuid != before.Config.Uuid ||
		after.Config.Hardware.NumCPU != before.Config.Hardware.NumCPU || after.Config.Hardware.MemoryMB != before.Config.Hardware.MemoryMB {
		t.Errorf("identity or size changed: %+v -> %+v", before.Config, after.Config)
	}
	if macs(before) != macs(after) || disks(before) != disks(after) {
		t.Errorf("NICs %s -> %s, disks %s -> %s", macs(before), macs(after), disks(before), disks(after))
	}
	if n := PowerOffs(after.Config.ExtraConfig); n != 0 {
		t.Errorf("a live move powered the VM off %d times", n)
	}
}

func readVM(t *testing.T, c *govmomi.Client, ref string) mo.VirtualMachine {
	t.Helper()
	var vm mo.VirtualMachine
	err := object.NewVirtualMachine(c.Client, types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}).
		Properties(context.Background(), types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}, []string{"config"}, &vm)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

func macs(vm mo.VirtualMachine) string {
	var out []string
	for _, d := range vm.Config.Hardware.Device {
		if c, ok := d.(types.BaseVirtualEthernetCard); ok {
			out = append(out, c.GetVirtualEthernetCard().MacAddress)
		}
	}
	return strings.Join(out, ",")
}

func disks(vm mo.VirtualMachine) string {
	var out []string
	for _, d := range vm.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			out = append(out, fmt.Sprint(disk.CapacityInKB))
		}
	}
	return strings.Join(out, ",")
}

func TestCrossVCenterRelocateRefusesWhatVCenterRefuses(t *testing.T) {
	e, drivers, clients := estate(t)
	ctx := context.Background()
	ref := moved(t, drivers["legacy"], "DC-OLD", "app-01")[0].Ref
	target := vsphere.Placement{Datacenter: "DC1", Cluster: "C1", Datastore: "ds-01", Folder: "migrated"}
	nets := map[string]string{"VM Network": "pg-app", "Legacy-DB": "pg-db"}
	good := access(e.Sim("crown"))
	cases := []struct {
		name  string
		spec  vsphere.RelocateSpec
		fault string
	}{
		{"a wrong thumbprint", vsphere.RelocateSpec{Target: target, Networks: nets,
			Service: &vsphere.ServiceLocator{URL: good.URL, Username: good.Username, Password: good.Password, Thumbprint: e.Sim("legacy").Thumbprint()}}, "SSLVerifyFault"},
		{"a wrong password", vsphere.RelocateSpec{Target: target, Networks: nets,
			Service: &vsphere.ServiceLocator{URL: good.URL, Username: good.Username, Password: "nope", Thumbprint: good.Thumbprint}}, "InvalidLogin"},
		{"a wrong instance UUID", vsphere.RelocateSpec{Target: target, Networks: nets,
			Service: &vsphere.ServiceLocator{URL: good.URL, Username: good.Username, Password: good.Password, Thumbprint: good.Thumbprint, InstanceID: e.Sim("legacy").InstanceUUID()}}, "instanceUuid"},
		{"a network the destination lacks", vsphere.RelocateSpec{VCenter: "crown", Target: target, Networks: map[string]string{"VM Network": "pg-app"}}, "network 'Legacy-DB' does not exist in datacenter DC1"},
		{"a distributed switch to a standard switch, powered on", vsphere.RelocateSpec{VCenter: "crown", Target: target,
			Networks: map[string]string{"VM Network": "pg-app", "Legacy-DB": "VM Network"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := drivers["legacy"].Relocate(ctx, ref, c.spec)
			if c.fault == "" {
				// Standard to standard is fine: this one must succeed, and
				// the next (back) is the one refused.
				return
			}
			var f *vsphere.Fault
			if err == nil || !errors.As(err, &f) || !strings.Contains(err.Error(), c.fault) {
				t.Fatalf("relocate with %s: %v, want a fault saying %s", c.name, err, c.fault)
			}
			if len(moved(t, drivers["legacy"], "DC-OLD", "app-01")) != 1 || len(moved(t, drivers["crown"], "DC1", "app-01")) != 0 {
				t.Error("a refused move moved the VM")
			}
		})
	}
	// app-01 is now in crown with its first NIC on distributed portgroup
	// pg-app: moving it back live onto the standard "VM Network" is refused.
	vm := moved(t, drivers["crown"], "DC1", "app-01")
	if len(vm) != 1 {
		t.Fatalf("app-01 in crown: %+v", vm)
	}
	back := vsphere.RelocateSpec{VCenter: "legacy", Target: vsphere.Placement{Datacenter: "DC-OLD", Cluster: "legacy-cluster", Datastore: "legacy-ds-01"},
		Networks: map[string]string{"pg-app": "VM Network"}}
	err := drivers["crown"].Relocate(ctx, vm[0].Ref, back)
	if err == nil || !strings.Contains(err.Error(), "distributed switch to a standard switch") {
		t.Fatalf("live move from a distributed to a standard switch: %v", err)
	}
	// Powered off, the same move back is allowed (a cold migration has no
	// vMotion network check).
	if err := drivers["crown"].PowerOff(ctx, vm[0].Ref); err != nil {
		t.Fatal(err)
	}
	if err := drivers["crown"].Relocate(ctx, vm[0].Ref, back); err != nil {
		t.Fatalf("cold move back: %v", err)
	}
	home := moved(t, drivers["legacy"], "DC-OLD", "app-01")
	if len(home) != 1 || len(moved(t, drivers["crown"], "DC1", "app-01")) != 0 {
		t.Fatalf("after the move back: %d in legacy", len(home))
	}
	if n := PowerOffs(readVM(t, clients["legacy"], home[0].Ref).Config.ExtraConfig); n != 1 {
		t.Errorf("power-offs recorded %d, want the one power-off", n)
	}
}

// The driver conformance suite's live and cross-vCenter cases, on two
// simulated vCenters.
func TestDriverConformanceAcrossVCenters(t *testing.T) {
	_, drivers, clients := estate(t)
	vspheretest.RunMoves(t, func(*testing.T) vspheretest.Fixture {
		return vspheretest.Fixture{
			Driver: drivers["legacy"], Client: clients["legacy"].Client,
			Datacenter: "DC-OLD", SourceVM: "other-01", Network: "VM Network", Portgroup: "Legacy-DB",
			Cluster: SourceCluster, Host: "esx01.legacy-cluster.dc-old", Datastore: SourceDatastore,
			OtherHost: "esx02.legacy-cluster.dc-old",
			Peer: &vspheretest.Peer{Name: "crown", Driver: drivers["crown"],
				Target:    vsphere.Placement{Datacenter: "DC1", Cluster: "C1", Datastore: "ds-01", Folder: "migrated"},
				Portgroup: "pg-app"},
		}
	})
	// The live case's check can fail: a power-off is an event it counts.
	ctx := context.Background()
	ref := moved(t, drivers["legacy"], "DC-OLD", "app-02")[0].Ref
	since := time.Now().Add(-time.Second)
	if err := drivers["legacy"].PowerOn(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := drivers["legacy"].PowerOff(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if n := vspheretest.StopEvents(t, clients["legacy"].Client, ref, since); n == 0 {
		t.Error("a power-off left no event: the live move's check could not fail")
	}
}

// A datastore the destination does not have (here: a reference of the
// source vCenter's, as a confused client might send) fails the move with
// vCenter's fault, and the VM stays.
func TestCrossVCenterRelocateRefusesADatastoreTheDestinationLacks(t *testing.T) {
	e, drivers, clients := estate(t)
	ctx := context.Background()
	src := moved(t, drivers["legacy"], "DC-OLD", "other-01")[0]
	crown := e.Sim("crown")
	a := access(crown)
	var pool, folder types.ManagedObjectReference
	for _, obj := range crown.Model().Map().All("ResourcePool") {
		pool = obj.Reference()
	}
	for _, obj := range crown.Model().Map().All("Folder") {
		if f := obj.(*simulator.Folder); f.Name == "migrated" {
			folder = f.Self
		}
	}
	var ds types.ManagedObjectReference
	for _, obj := range e.Sim("legacy").Model().Map().All("Datastore") {
		ds = obj.Reference()
	}
	if _, clash := crown.Model().Map().Get(ds).(*simulator.Datastore); clash {
		t.Skipf("the source's datastore id %s is also the destination's", ds.Value)
	}
	vm := object.NewVirtualMachine(clients["legacy"].Client, types.ManagedObjectReference{Type: "VirtualMachine", Value: src.Ref})
	task, err := vm.Relocate(ctx, types.VirtualMachineRelocateSpec{
		Service: &types.ServiceLocator{Url: a.URL, InstanceUuid: crown.InstanceUUID(), SslThumbprint: a.Thumbprint,
			Credential: &types.ServiceLocatorNamePassword{Username: a.Username, Password: a.Password}},
		Pool: &pool, Folder: &folder, Datastore: &ds,
	}, types.VirtualMachineMovePriorityDefaultPriority)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err == nil || !strings.Contains(err.Error(), "managed object not found") {
		t.Fatalf("relocate onto a datastore the destination lacks: %v", err)
	}
	if len(moved(t, drivers["legacy"], "DC-OLD", "other-01")) != 1 {
		t.Error("the refused move moved the VM")
	}
}

// The driver reads the SHA-1 thumbprint the locator needs from the peer
// when it knows none, or only a SHA-256 one (which must match).
func TestTheDriverFindsThePeersSHA1Thumbprint(t *testing.T) {
	e, drivers, clients := estate(t)
	ctx := context.Background()
	crown := e.Sim("crown")
	a := access(crown)
	sum := sha256.Sum256(crown.server.Certificate().Raw)
	good, _ := vsphere.NormalizeThumbprint(fmt.Sprintf("%x", sum))
	for _, c := range []struct {
		name, tp, fault string
	}{
		{"none known", "", ""},
		{"the SHA-256 one", good, ""},
		{"another SHA-256 one", strings.Repeat("AB:", 31) + "AB", "SHA-256 thumbprint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := vsphere.NewGovmomi("legacy", clients["legacy"].Client)
			d.AddPeer("crown", drivers["crown"], vsphere.PeerAccess{URL: a.URL, Username: a.Username, Password: a.Password, Thumbprint: c.tp})
			ref := moved(t, d, "DC-OLD", "other-01")[0].Ref
			reasons, err := d.CheckMove(ctx, ref, vsphere.RelocateSpec{VCenter: "crown",
				Target: vsphere.Placement{Datacenter: "DC1", Cluster: "C1", Datastore: "ds-01", Folder: "migrated"}, Networks: map[string]string{"VM Network": "pg-app"}}, true)
			if c.fault == "" && (err != nil || len(reasons) != 0) {
				t.Errorf("check with %s: %v, %v", c.name, reasons, err)
			}
			if c.fault != "" && (err == nil || !strings.Contains(err.Error(), c.fault)) {
				t.Errorf("check with %s: %v, want %s", c.name, err, c.fault)
			}
		})
	}
}
