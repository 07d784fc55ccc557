// Package vspheretest is the conformance suite every vsphere.Driver runs:
// the govmomi driver against the simulator in `make test`, and the same
// tests against a real vCenter when one is at hand.
package vspheretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/vsphere"
)

// Fixture is what a driver under test offers the suite: the driver, and
// the names of objects in its vCenter that the suite may use. The suite
// only ever changes VMs it made itself (clones of Template, and VMs it
// creates or imports), and destroys them when a test ends.
type Fixture struct {
	Driver vsphere.Driver
	// Client, when set, is a raw connection to the same vCenter: every
	// effect is then also checked through govmomi's property collector,
	// independently of the driver's own reads.
	Client *vim25.Client

	Datacenter string
	// SourceVM is powered on, its first NIC on Network.
	SourceVM string
	// SourceIP is the IP SourceVM reports through its tools ("" skips the
	// WaitForIP test).
	SourceIP string
	// Template is a template (or a VM usable as one) with a NIC on Network.
	Template string
	// Network is the network of SourceVM's and Template's first NIC;
	// Portgroup a second portgroup that NICs are remapped to.
	Network   string
	Portgroup string
	// StandardNetwork, when set, is a standard (not distributed) portgroup,
	// so remaps between both kinds are tried too.
	StandardNetwork string

	Cluster   string
	Host      string // a host in Cluster
	Datastore string
	Folder    string // a VM folder path under the datacenter's vm folder
	// OtherHost (in Cluster) and OtherDatastore are where the relocate
	// test moves a VM; empty skips that part.
	OtherHost      string
	OtherDatastore string
	// Remote, when set, is a placement in another datacenter of the same
	// vCenter (all fields set), with RemotePortgroup a portgroup there.
	Remote          *vsphere.Placement
	RemotePortgroup string

	// HardwareVersion is a version Template's clones can be upgraded to
	// (vmx-NN); empty skips the upgrade test.
	HardwareVersion string
	// OVA is an OVF or OVA on the local disk with one VM whose NIC is on
	// the OVF network OVANetwork; empty skips the import test.
	OVA        string
	OVANetwork string
	// CustomizationWait is how long a customised clone may take to report
	// its new IP (the simulator: at once; a real guest: minutes).
	CustomizationWait time.Duration
	// RevertRestoresConfig says a snapshot revert brings back the VM's
	// hardware as it was (a real vCenter; the simulator only moves the
	// current snapshot).
	RevertRestoresConfig bool
	// Prefix starts the name of every VM the suite makes.
	Prefix string
	// Peer, when set, is a second vCenter for the cross-vCenter move
	// (moves.go).
	Peer *Peer
}

var seq atomic.Int64

// name is a fresh VM name for one test.
func (f *Fixture) name(what string) string {
	p := f.Prefix
	if p == "" {
		p = "wvt-"
	}
	return fmt.Sprintf("%s%s-%d", p, what, seq.Add(1))
}

// Run runs the suite. setup is called once per test and returns a fixture;
// tests that change things make their own VMs, so a shared vCenter works.
func Run(t *testing.T, setup func(t *testing.T) Fixture) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f *Fixture)
	}{
		{"Inventory", testInventory},
		{"FindAndRead", testFindAndRead},
		{"ReadMissing", testReadMissing},
		{"CloneFromTemplate", testCloneFromTemplate},
		{"CloneFromVMPoweredOnCustomized", testCloneCustomized},
		{"CloneDuplicateName", testCloneDuplicateName},
		{"ClonePlacementErrors", testClonePlacementErrors},
		{"Create", testCreate},
		{"Import", testImport},
		{"Relocate", testRelocate},
		{"RelocateAcrossDatacenters", testRelocateRemote},
		{"LiveRelocate", testLiveRelocate},
		{"CrossVCenterRelocate", testCrossVCenter},
		{"Reconfigure", testReconfigure},
		{"UpgradeHardware", testUpgrade},
		{"PowerOnOffIdempotent", testPower},
		{"ShutdownFallsBackToPowerOff", testShutdown},
		{"Snapshots", testSnapshots},
		{"Rename", testRename},
		{"MoveToFolder", testMove},
		{"Destroy", testDestroy},
		{"Markers", testMarkers},
		{"WaitForIP", testWaitForIP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			tc.fn(t, &f)
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// find returns the one VM of that name in the datacenter.
func (f *Fixture) find(t *testing.T, dc, name string) *vsphere.VM {
	t.Helper()
	vms, err := f.Driver.FindVMs(ctxFor(t), dc, name)
	if err != nil {
		t.Fatalf("FindVMs %s: %v", name, err)
	}
	if len(vms) != 1 {
		t.Fatalf("FindVMs %s: %d VMs, want 1", name, len(vms))
	}
	return vms[0]
}

// read reads a VM through the driver.
func (f *Fixture) read(t *testing.T, ref string) *vsphere.VM {
	t.Helper()
	vm, err := f.Driver.VM(ctxFor(t), ref)
	if err != nil {
		t.Fatalf("VM %s: %v", ref, err)
	}
	return vm
}

// destroyLater destroys a VM the test made when the test ends.
func (f *Fixture) destroyLater(t *testing.T, ref string) {
	t.Cleanup(func() {
		if err := f.Driver.Destroy(context.Background(), ref); err != nil {
			t.Errorf("cleanup: destroy %s: %v", ref, err)
		}
	})
}

// clone makes a VM from Template on Host and Datastore in the root folder,
// with its NIC still on Network, and destroys it when the test ends.
func (f *Fixture) clone(t *testing.T, what string, powerOn bool) *vsphere.VM {
	t.Helper()
	src := f.find(t, f.Datacenter, f.Template)
	vm, err := f.Driver.Clone(ctxFor(t), vsphere.CloneSpec{
		Source:  src.Ref,
		Name:    f.name(what),
		Target:  vsphere.Placement{Datacenter: f.Datacenter, Cluster: f.Cluster, Host: f.Host, Datastore: f.Datastore},
		Markers: map[string]string{vsphere.MarkerPlan: "suite"},
		PowerOn: powerOn,
	})
	if err != nil {
		t.Fatalf("clone %s: %v", f.Template, err)
	}
	f.destroyLater(t, vm.Ref)
	return vm
}

func testInventory(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	inv, err := f.Driver.Inventory(ctx, f.Datacenter)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Datacenter != f.Datacenter {
		t.Errorf("datacenter %q, want %q", inv.Datacenter, f.Datacenter)
	}
	byName := map[string]*vsphere.VM{}
	for _, vm := range inv.VMs {
		byName[vm.Name] = vm
		if vm.Datacenter != f.Datacenter || vm.Ref == "" || vm.Path == "" {
			t.Errorf("VM %s: datacenter %q ref %q path %q", vm.Name, vm.Datacenter, vm.Ref, vm.Path)
		}
	}
	src := byName[f.SourceVM]
	switch {
	case src == nil:
		t.Errorf("source VM %s not in the inventory", f.SourceVM)
	case src.PowerState != vsphere.PoweredOn || len(src.Networks) == 0 || src.Networks[0] != f.Network:
		t.Errorf("source VM %s: power %s networks %v, want poweredOn on %s", src.Name, src.PowerState, src.Networks, f.Network)
	case src.CPUs == 0 || src.MemoryMB == 0 || src.Host == "" || len(src.Datastores) == 0:
		t.Errorf("source VM %s read without its hardware or placement: %+v", src.Name, src)
	}
	if tpl := byName[f.Template]; tpl == nil {
		t.Errorf("template %s not in the inventory", f.Template)
	}
	cl := inv.Clusters[f.Cluster]
	if cl == nil || !slices.Contains(cl.Hosts, f.Host) || cl.MemoryMB <= 0 || cl.CPUCores <= 0 {
		t.Errorf("cluster %s: %+v, want it with host %s and capacity", f.Cluster, cl, f.Host)
	}
	if ds := inv.Datastores[f.Datastore]; ds == nil || ds.CapacityGB <= 0 || !ds.Accessible {
		t.Errorf("datastore %s: %+v", f.Datastore, ds)
	}
	for _, n := range []string{f.Network, f.Portgroup} {
		if !slices.Contains(inv.Networks, n) {
			t.Errorf("network %s not in %v", n, inv.Networks)
		}
	}
	if !slices.Contains(inv.Folders, f.Folder) {
		t.Errorf("folder %s not in %v", f.Folder, inv.Folders)
	}
	if f.Client == nil {
		return
	}
	// Independently: the VMs under the datacenter's vm folder, by name and
	// power state.
	raw := rawVMs(t, f.Client, f.Datacenter)
	if len(raw) != len(inv.VMs) {
		t.Errorf("inventory has %d VMs, the property collector %d", len(inv.VMs), len(raw))
	}
	for _, m := range raw {
		vm := byName[m.Name]
		if vm == nil {
			t.Errorf("VM %s missing from the inventory", m.Name)
			continue
		}
		if vm.Ref != m.Self.Value || vm.PowerState != string(m.Runtime.PowerState) {
			t.Errorf("VM %s: inventory %s/%s, vCenter %s/%s", m.Name, vm.Ref, vm.PowerState, m.Self.Value, m.Runtime.PowerState)
		}
	}
}

func testFindAndRead(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	vm := f.find(t, f.Datacenter, f.SourceVM)
	again := f.read(t, vm.Ref)
	if fmt.Sprint(again) != fmt.Sprint(vm) {
		t.Errorf("VM(ref) and FindVMs differ:\n%+v\n%+v", again, vm)
	}
	if vm.Path != fmt.Sprintf("/%s/vm/%s", f.Datacenter, joinPath(vm.Folder, vm.Name)) {
		t.Errorf("path %s for folder %q", vm.Path, vm.Folder)
	}
	none, err := f.Driver.FindVMs(ctx, f.Datacenter, "no-such-vm-"+f.name("x"))
	if err != nil || len(none) != 0 {
		t.Errorf("FindVMs of a missing name: %v, %v; want none and no error", none, err)
	}
	if f.Client != nil {
		r := raw(t, f.Client, vm.Ref)
		if r.Name != vm.Name || string(r.Runtime.PowerState) != vm.PowerState || r.Config.Version != vm.HardwareVersion ||
			int(r.Config.Hardware.NumCPU) != vm.CPUs || hostName(t, f.Client, r) != vm.Host {
			t.Errorf("driver read %+v, vCenter has %s %s %s cpus=%d", vm, r.Name, r.Runtime.PowerState, r.Config.Version, r.Config.Hardware.NumCPU)
		}
	}
}

func joinPath(folder, name string) string {
	if folder == "" {
		return name
	}
	return folder + "/" + name
}

func testReadMissing(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	if _, err := f.Driver.VM(ctx, "vm-999999"); !errors.Is(err, vsphere.ErrNotFound) {
		t.Errorf("VM of a missing ref: %v, want ErrNotFound", err)
	}
	if _, err := f.Driver.Inventory(ctx, "no-such-datacenter"); !errors.Is(err, vsphere.ErrNotFound) {
		t.Errorf("Inventory of a missing datacenter: %v, want ErrNotFound", err)
	}
}

func testCloneFromTemplate(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	src := f.find(t, f.Datacenter, f.Template)
	markers := map[string]string{vsphere.MarkerPlan: "suite", vsphere.MarkerApplication: "app", vsphere.MarkerStep: "clone"}
	vm, err := f.Driver.Clone(ctx, vsphere.CloneSpec{
		Source:   src.Ref,
		Name:     f.name("clone"),
		Target:   vsphere.Placement{Datacenter: f.Datacenter, Cluster: f.Cluster, Host: f.Host, Datastore: f.Datastore, Folder: f.Folder},
		Networks: map[string]string{f.Network: f.Portgroup},
		CPUs:     2,
		MemoryMB: 2048,
		Markers:  markers,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.destroyLater(t, vm.Ref)
	check := func(vm *vsphere.VM) {
		t.Helper()
		if vm.Folder != f.Folder || vm.Host != f.Host || vm.Cluster != f.Cluster || !slices.Contains(vm.Datastores, f.Datastore) {
			t.Errorf("clone placed in folder %q host %q cluster %q datastores %v; want %s, %s, %s, %s",
				vm.Folder, vm.Host, vm.Cluster, vm.Datastores, f.Folder, f.Host, f.Cluster, f.Datastore)
		}
		if len(vm.Networks) == 0 || vm.Networks[0] != f.Portgroup {
			t.Errorf("clone networks %v, want the first NIC on %s", vm.Networks, f.Portgroup)
		}
		if vm.CPUs != 2 || vm.MemoryMB != 2048 || vm.Template || vm.PowerState != vsphere.PoweredOff {
			t.Errorf("clone: cpus %d memory %d template %v power %s", vm.CPUs, vm.MemoryMB, vm.Template, vm.PowerState)
		}
		for k, v := range markers {
			if vm.Markers[k] != v {
				t.Errorf("clone marker %s = %q, want %q (markers %v)", k, vm.Markers[k], v, vm.Markers)
			}
		}
	}
	check(vm)
	check(f.read(t, vm.Ref))
	found, err := f.Driver.FindByMarker(ctx, f.Datacenter, vsphere.MarkerStep, "clone")
	if err != nil || !slices.ContainsFunc(found, func(x *vsphere.VM) bool { return x.Ref == vm.Ref }) {
		t.Errorf("FindByMarker did not find the clone: %v %v", found, err)
	}
	if f.Client != nil {
		r := raw(t, f.Client, vm.Ref)
		if got := folderName(t, f.Client, r); got != lastPart(f.Folder) {
			t.Errorf("vCenter has the clone in folder %s, want %s", got, f.Folder)
		}
		if got := hostName(t, f.Client, r); got != f.Host {
			t.Errorf("vCenter has the clone on host %s, want %s", got, f.Host)
		}
		if got := names(t, f.Client, r.Datastore); !slices.Contains(got, f.Datastore) {
			t.Errorf("vCenter has the clone on datastores %v, want %s", got, f.Datastore)
		}
		if got := nicNetworks(t, f.Client, f.Datacenter, r); len(got) == 0 || got[0] != f.Portgroup {
			t.Errorf("vCenter has the clone's NICs on %v, want %s", got, f.Portgroup)
		}
		if r.Config.Hardware.NumCPU != 2 || r.Config.Hardware.MemoryMB != 2048 {
			t.Errorf("vCenter: cpus %d memory %d", r.Config.Hardware.NumCPU, r.Config.Hardware.MemoryMB)
		}
		ec := extraConfig(r)
		for k, v := range markers {
			if ec[k] != v {
				t.Errorf("vCenter extraConfig %s = %q, want %q", k, ec[k], v)
			}
		}
	}
}

func lastPart(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

func testCloneCustomized(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	src := f.find(t, f.Datacenter, f.SourceVM)
	name := f.name("custom")
	vm, err := f.Driver.Clone(ctx, vsphere.CloneSpec{
		Source: src.Ref,
		Name:   name,
		Target: vsphere.Placement{Datacenter: f.Datacenter, Cluster: f.Cluster, Host: f.Host, Datastore: f.Datastore, Folder: f.Folder},
		Customization: &vsphere.Customization{
			Hostname: "custom-host", Domain: "example.test",
			IP: "10.20.30.40", Netmask: "255.255.255.0", Gateway: "10.20.30.1", DNS: []string{"10.20.30.2"},
		},
		Markers: map[string]string{vsphere.MarkerPlan: "suite"},
		PowerOn: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.destroyLater(t, vm.Ref)
	if vm.PowerState != vsphere.PoweredOn {
		t.Errorf("clone with PowerOn is %s", vm.PowerState)
	}
	// Markers the source carried are not the clone's.
	if src.Markers[vsphere.MarkerStep] != "" && vm.Markers[vsphere.MarkerStep] != "" {
		t.Errorf("clone inherited its source's step marker: %v", vm.Markers)
	}
	deadline := time.Now().Add(f.CustomizationWait)
	for {
		got := f.read(t, vm.Ref)
		if got.IP == "10.20.30.40" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("customised clone reports IP %q, want 10.20.30.40", got.IP)
			break
		}
		time.Sleep(time.Second)
	}
	if f.Client != nil {
		r := raw(t, f.Client, vm.Ref)
		if r.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
			t.Errorf("vCenter has the clone %s", r.Runtime.PowerState)
		}
	}
}

func testCloneDuplicateName(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	first := f.clone(t, "dup", false)
	src := f.find(t, f.Datacenter, f.Template)
	_, err := f.Driver.Clone(ctx, vsphere.CloneSpec{
		Source: src.Ref,
		Name:   first.Name,
		Target: vsphere.Placement{Datacenter: f.Datacenter, Cluster: f.Cluster, Host: f.Host, Datastore: f.Datastore},
	})
	var fault *vsphere.Fault
	if !errors.As(err, &fault) {
		t.Fatalf("second clone named %s: %v, want a *vsphere.Fault", first.Name, err)
	}
	if fault.Kind != "DuplicateName" || fault.Transient || vsphere.IsTransient(err) || fault.Message == "" {
		t.Errorf("fault %+v: want a permanent DuplicateName with a message", fault)
	}
	// The message is vCenter's own text for the failed task.
	var te task.Error
	if errors.As(err, &te) && fault.Message != te.LocalizedMessage {
		t.Errorf("fault message %q, the task said %q", fault.Message, te.LocalizedMessage)
	}
	vms, _ := f.Driver.FindVMs(ctx, f.Datacenter, first.Name)
	if len(vms) != 1 {
		t.Errorf("%d VMs called %s after the refused clone, want 1", len(vms), first.Name)
	}
}

func testClonePlacementErrors(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	src := f.find(t, f.Datacenter, f.Template)
	base := vsphere.Placement{Datacenter: f.Datacenter, Cluster: f.Cluster, Host: f.Host, Datastore: f.Datastore}
	for _, tc := range []struct {
		name     string
		target   vsphere.Placement
		networks map[string]string
		say      string
	}{
		{"a missing folder is not created", withFolder(base, "no/such/folder"), nil, "no/such/folder"},
		{"a missing portgroup", base, map[string]string{f.Network: "no-such-portgroup"}, "no-such-portgroup"},
		{"a missing cluster", vsphere.Placement{Datacenter: f.Datacenter, Cluster: "no-such-cluster"}, nil, "no-such-cluster"},
		{"a missing datastore", vsphere.Placement{Datacenter: f.Datacenter, Cluster: f.Cluster, Datastore: "no-such-ds"}, nil, "no-such-ds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := f.name("bad")
			_, err := f.Driver.Clone(ctx, vsphere.CloneSpec{Source: src.Ref, Name: name, Target: tc.target, Networks: tc.networks})
			var fault *vsphere.Fault
			if !errors.As(err, &fault) || fault.Transient || !strings.Contains(err.Error(), tc.say) {
				t.Errorf("got %v, want a permanent fault naming %s", err, tc.say)
			}
			if vms, _ := f.Driver.FindVMs(ctx, f.Datacenter, name); len(vms) != 0 {
				t.Errorf("a VM %s was made anyway", name)
				for _, vm := range vms {
					_ = f.Driver.Destroy(ctx, vm.Ref)
				}
			}
		})
	}
}

func withFolder(p vsphere.Placement, folder string) vsphere.Placement {
	p.Folder = folder
	return p
}

func testCreate(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	spec := vsphere.CreateSpec{
		Name:     f.name("create"),
		Target:   vsphere.Placement{Datacenter: f.Datacenter, Cluster: f.Cluster, Host: f.Host, Datastore: f.Datastore, Folder: f.Folder},
		GuestID:  "otherGuest64",
		CPUs:     2,
		MemoryMB: 1024,
		DisksGB:  []int{1, 2},
		Networks: []string{f.Network, f.Portgroup},
		Markers:  map[string]string{vsphere.MarkerPlan: "suite", vsphere.MarkerStep: "create"},
	}
	if f.StandardNetwork != "" {
		spec.Networks = append(spec.Networks, f.StandardNetwork)
	}
	spec.HardwareVersion = f.HardwareVersion
	vm, err := f.Driver.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	f.destroyLater(t, vm.Ref)
	vm = f.read(t, vm.Ref)
	if vm.Name != spec.Name || vm.Folder != f.Folder || vm.GuestID != "otherGuest64" || vm.CPUs != 2 || vm.MemoryMB != 1024 {
		t.Errorf("created %+v", vm)
	}
	if fmt.Sprint(vm.DisksGB) != "[1 2]" || fmt.Sprint(vm.Networks) != fmt.Sprint(spec.Networks) {
		t.Errorf("created disks %v networks %v, want [1 2] and %v", vm.DisksGB, vm.Networks, spec.Networks)
	}
	if f.HardwareVersion != "" && vm.HardwareVersion != f.HardwareVersion {
		t.Errorf("created with hardware version %s, want %s", vm.HardwareVersion, f.HardwareVersion)
	}
	if vm.Markers[vsphere.MarkerStep] != "create" || vm.PowerState != vsphere.PoweredOff {
		t.Errorf("created markers %v power %s", vm.Markers, vm.PowerState)
	}
	if f.Client != nil {
		r := raw(t, f.Client, vm.Ref)
		var disks, thin, vmxnet3 int
		for _, d := range r.Config.Hardware.Device {
			switch x := d.(type) {
			case *types.VirtualDisk:
				disks++
				if b, ok := x.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && b.ThinProvisioned != nil && *b.ThinProvisioned {
					thin++
				}
			case *types.VirtualVmxnet3:
				vmxnet3++
			}
		}
		if disks != 2 || thin != 2 || vmxnet3 != len(spec.Networks) {
			t.Errorf("vCenter: %d disks (%d thin), %d vmxnet3 NICs", disks, thin, vmxnet3)
		}
		if got := nicNetworks(t, f.Client, f.Datacenter, r); fmt.Sprint(got) != fmt.Sprint(spec.Networks) {
			t.Errorf("vCenter has the NICs on %v, want %v", got, spec.Networks)
		}
	}
}

func testImport(t *testing.T, f *Fixture) {
	if f.OVA == "" {
		t.Skip("the fixture has no OVF/OVA to import")
	}
	ctx := ctxFor(t)
	vm, err := f.Driver.Import(ctx, vsphere.ImportSpec{
		Name:     f.name("import"),
		Path:     f.OVA,
		Target:   vsphere.Placement{Datacenter: f.Datacenter, Cluster: f.Cluster, Host: f.Host, Datastore: f.Datastore, Folder: f.Folder},
		Networks: map[string]string{f.OVANetwork: f.Portgroup},
		Markers:  map[string]string{vsphere.MarkerPlan: "suite", vsphere.MarkerStep: "import"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.destroyLater(t, vm.Ref)
	vm = f.read(t, vm.Ref)
	if vm.Folder != f.Folder || len(vm.Networks) != 1 || vm.Networks[0] != f.Portgroup || vm.Markers[vsphere.MarkerStep] != "import" || len(vm.DisksGB) == 0 {
		t.Errorf("imported %+v", vm)
	}
	if f.Client != nil {
		r := raw(t, f.Client, vm.Ref)
		if got := nicNetworks(t, f.Client, f.Datacenter, r); len(got) != 1 || got[0] != f.Portgroup {
			t.Errorf("vCenter has the imported NIC on %v", got)
		}
		if extraConfig(r)[vsphere.MarkerStep] != "import" {
			t.Errorf("vCenter has no step marker on the imported VM")
		}
	}
}

func testRelocate(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	vm := f.clone(t, "move", true)
	target := vsphere.Placement{Folder: f.Folder}
	wantHost, wantDS := vm.Host, f.Datastore
	if f.OtherHost != "" {
		target.Host, wantHost = f.OtherHost, f.OtherHost
	}
	if f.OtherDatastore != "" {
		target.Datastore, wantDS = f.OtherDatastore, f.OtherDatastore
	}
	err := f.Driver.Relocate(ctx, vm.Ref, vsphere.RelocateSpec{Target: target, Networks: map[string]string{f.Network: f.Portgroup}})
	if err != nil {
		t.Fatal(err)
	}
	got := f.read(t, vm.Ref)
	if got.Host != wantHost || got.Folder != f.Folder || got.Cluster != f.Cluster || !slices.Contains(got.Datastores, wantDS) ||
		len(got.Networks) == 0 || got.Networks[0] != f.Portgroup || got.PowerState != vsphere.PoweredOn {
		t.Errorf("after relocate: host %s folder %s cluster %s datastores %v networks %v power %s; want %s %s %s %s %s",
			got.Host, got.Folder, got.Cluster, got.Datastores, got.Networks, got.PowerState, wantHost, f.Folder, f.Cluster, wantDS, f.Portgroup)
	}
	if err := f.Driver.Relocate(ctx, vm.Ref, vsphere.RelocateSpec{}); err != nil {
		t.Errorf("an empty relocate: %v", err)
	}
	// Only the networks: back onto the first portgroup.
	if err := f.Driver.Relocate(ctx, vm.Ref, vsphere.RelocateSpec{Networks: map[string]string{f.Portgroup: f.Network}}); err != nil {
		t.Fatal(err)
	}
	if got := f.read(t, vm.Ref); got.Networks[0] != f.Network || got.Host != wantHost {
		t.Errorf("after a networks-only relocate: networks %v host %s", got.Networks, got.Host)
	}
	if err := f.Driver.Relocate(ctx, vm.Ref, vsphere.RelocateSpec{Networks: map[string]string{f.Network: f.Portgroup}}); err != nil {
		t.Fatal(err)
	}
	if f.Client != nil {
		r := raw(t, f.Client, vm.Ref)
		if h := hostName(t, f.Client, r); h != wantHost {
			t.Errorf("vCenter has it on host %s, want %s", h, wantHost)
		}
		if ds := names(t, f.Client, r.Datastore); !slices.Contains(ds, wantDS) {
			t.Errorf("vCenter has it on datastores %v, want %s", ds, wantDS)
		}
		if fo := folderName(t, f.Client, r); fo != lastPart(f.Folder) {
			t.Errorf("vCenter has it in folder %s, want %s", fo, f.Folder)
		}
		if n := nicNetworks(t, f.Client, f.Datacenter, r); len(n) == 0 || n[0] != f.Portgroup {
			t.Errorf("vCenter has its NIC on %v, want %s", n, f.Portgroup)
		}
	}
}

func testRelocateRemote(t *testing.T, f *Fixture) {
	if f.Remote == nil {
		t.Skip("the fixture has no second datacenter")
	}
	ctx := ctxFor(t)
	vm := f.clone(t, "xdc", false)
	err := f.Driver.Relocate(ctx, vm.Ref, vsphere.RelocateSpec{Target: *f.Remote, Networks: map[string]string{f.Network: f.RemotePortgroup}})
	if err != nil {
		t.Fatal(err)
	}
	got := f.read(t, vm.Ref)
	r := f.Remote
	if got.Datacenter != r.Datacenter || got.Folder != r.Folder || got.Host != r.Host || !slices.Contains(got.Datastores, r.Datastore) ||
		len(got.Networks) == 0 || got.Networks[0] != f.RemotePortgroup || !strings.HasPrefix(got.Path, "/"+r.Datacenter+"/vm/") {
		t.Errorf("after the move: %+v; want it in %+v on %s", got, r, f.RemotePortgroup)
	}
	if vms, _ := f.Driver.FindVMs(ctx, f.Datacenter, vm.Name); len(vms) != 0 {
		t.Errorf("FindVMs still finds %s in %s", vm.Name, f.Datacenter)
	}
	if vms, _ := f.Driver.FindVMs(ctx, r.Datacenter, vm.Name); len(vms) != 1 {
		t.Errorf("FindVMs finds %d VMs %s in %s, want 1", len(vms), vm.Name, r.Datacenter)
	}
	if f.Client != nil {
		rv := raw(t, f.Client, vm.Ref)
		if fo := folderName(t, f.Client, rv); fo != lastPart(r.Folder) {
			t.Errorf("vCenter has it in folder %s", fo)
		}
	}
}

func testReconfigure(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	vm := f.clone(t, "reconf", false)
	err := f.Driver.Reconfigure(ctx, vm.Ref, vsphere.ReconfigureSpec{
		CPUs: 4, MemoryMB: 4096,
		Networks: map[string]string{f.Network: f.Portgroup},
		Markers:  map[string]string{vsphere.MarkerStep: "reconfigure"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.read(t, vm.Ref)
	if got.CPUs != 4 || got.MemoryMB != 4096 || got.Networks[0] != f.Portgroup || got.Markers[vsphere.MarkerStep] != "reconfigure" ||
		got.Markers[vsphere.MarkerPlan] != "suite" {
		t.Errorf("after reconfigure: cpus %d memory %d networks %v markers %v", got.CPUs, got.MemoryMB, got.Networks, got.Markers)
	}
	if err := f.Driver.Reconfigure(ctx, vm.Ref, vsphere.ReconfigureSpec{CPUs: 4}); err != nil {
		t.Errorf("a reconfigure that changes nothing: %v", err)
	}
	if f.StandardNetwork != "" {
		// From a distributed to a standard portgroup and back.
		if err := f.Driver.Reconfigure(ctx, vm.Ref, vsphere.ReconfigureSpec{Networks: map[string]string{f.Portgroup: f.StandardNetwork}}); err != nil {
			t.Fatal(err)
		}
		if got := f.read(t, vm.Ref); got.Networks[0] != f.StandardNetwork {
			t.Errorf("networks %v, want %s", got.Networks, f.StandardNetwork)
		}
		if f.Client != nil {
			if n := nicNetworks(t, f.Client, f.Datacenter, raw(t, f.Client, vm.Ref)); n[0] != f.StandardNetwork {
				t.Errorf("vCenter has the NIC on %v, want %s", n, f.StandardNetwork)
			}
		}
		if err := f.Driver.Reconfigure(ctx, vm.Ref, vsphere.ReconfigureSpec{Networks: map[string]string{f.StandardNetwork: f.Portgroup}}); err != nil {
			t.Fatal(err)
		}
	}
	if f.Client != nil {
		r := raw(t, f.Client, vm.Ref)
		if r.Config.Hardware.NumCPU != 4 || r.Config.Hardware.MemoryMB != 4096 {
			t.Errorf("vCenter: cpus %d memory %d", r.Config.Hardware.NumCPU, r.Config.Hardware.MemoryMB)
		}
		if n := nicNetworks(t, f.Client, f.Datacenter, r); n[0] != f.Portgroup {
			t.Errorf("vCenter has the NIC on %v, want %s", n, f.Portgroup)
		}
	}
}

func testUpgrade(t *testing.T, f *Fixture) {
	if f.HardwareVersion == "" {
		t.Skip("the fixture names no hardware version to upgrade to")
	}
	ctx := ctxFor(t)
	on := f.clone(t, "upgrade-on", true)
	err := f.Driver.UpgradeHardware(ctx, on.Ref, f.HardwareVersion)
	var fault *vsphere.Fault
	if !errors.As(err, &fault) || fault.Transient || !strings.Contains(fault.Kind, "InvalidPowerState") {
		t.Errorf("upgrading a powered-on VM: %v, want a permanent InvalidPowerState fault", err)
	}
	vm := f.clone(t, "upgrade", false)
	if err := f.Driver.UpgradeHardware(ctx, vm.Ref, f.HardwareVersion); err != nil {
		t.Fatal(err)
	}
	if got := f.read(t, vm.Ref); got.HardwareVersion != f.HardwareVersion {
		t.Errorf("hardware version %s, want %s", got.HardwareVersion, f.HardwareVersion)
	}
	if err := f.Driver.UpgradeHardware(ctx, vm.Ref, f.HardwareVersion); err != nil {
		t.Errorf("upgrading again to the same version: %v", err)
	}
	if f.Client != nil {
		if r := raw(t, f.Client, vm.Ref); r.Config.Version != f.HardwareVersion {
			t.Errorf("vCenter has config.version %s", r.Config.Version)
		}
	}
}

func testPower(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	vm := f.clone(t, "power", false)
	state := func(want string) {
		t.Helper()
		if got := f.read(t, vm.Ref).PowerState; got != want {
			t.Errorf("power state %s, want %s", got, want)
		}
		if f.Client != nil {
			if got := raw(t, f.Client, vm.Ref).Runtime.PowerState; string(got) != want {
				t.Errorf("vCenter power state %s, want %s", got, want)
			}
		}
	}
	for i := 0; i < 2; i++ {
		if err := f.Driver.PowerOn(ctx, vm.Ref); err != nil {
			t.Fatalf("power on #%d: %v", i+1, err)
		}
		state(vsphere.PoweredOn)
	}
	for i := 0; i < 2; i++ {
		if err := f.Driver.PowerOff(ctx, vm.Ref); err != nil {
			t.Fatalf("power off #%d: %v", i+1, err)
		}
		state(vsphere.PoweredOff)
	}
	if err := f.Driver.PowerOn(ctx, "vm-999999"); !vsphere.IsNotFound(err) {
		t.Errorf("power on a missing VM: %v, want not found", err)
	}
}

func testShutdown(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	vm := f.clone(t, "shutdown", true)
	start := time.Now()
	if err := f.Driver.Shutdown(ctx, vm.Ref, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := f.read(t, vm.Ref); got.PowerState != vsphere.PoweredOff {
		t.Errorf("after shutdown: %s", got.PowerState)
	}
	if took := time.Since(start); !vmHasTools(vm) && took > 20*time.Second {
		t.Errorf("a VM without tools took %s to be powered off: it should be at once", took)
	}
	if err := f.Driver.Shutdown(ctx, vm.Ref, time.Second); err != nil {
		t.Errorf("shutting down a VM that is off: %v", err)
	}
	if f.Client != nil {
		if got := raw(t, f.Client, vm.Ref).Runtime.PowerState; got != types.VirtualMachinePowerStatePoweredOff {
			t.Errorf("vCenter power state %s", got)
		}
	}
}

func vmHasTools(vm *vsphere.VM) bool { return vm.ToolsRunning }

func testSnapshots(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	vm := f.clone(t, "snap", false)
	snap, err := f.Driver.CreateSnapshot(ctx, vm.Ref, "before", "taken by the suite")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Ref == "" || snap.Name != "before" {
		t.Fatalf("snapshot %+v", snap)
	}
	again, err := f.Driver.CreateSnapshot(ctx, vm.Ref, "before", "")
	if err != nil || again != snap {
		t.Errorf("creating it again: %+v %v; want the same snapshot back", again, err)
	}
	got := f.read(t, vm.Ref)
	if len(got.Snapshots) != 1 || got.Snapshots[0] != snap {
		t.Errorf("snapshots %v, want [%v]", got.Snapshots, snap)
	}
	if f.Client != nil {
		if n := rawSnapshots(t, f.Client, vm.Ref); fmt.Sprint(n) != "[before]" {
			t.Errorf("vCenter has snapshots %v", n)
		}
	}
	if err := f.Driver.Reconfigure(ctx, vm.Ref, vsphere.ReconfigureSpec{CPUs: vm.CPUs + 1}); err != nil {
		t.Fatal(err)
	}
	if err := f.Driver.RevertSnapshot(ctx, vm.Ref, snap.Ref); err != nil {
		t.Fatal(err)
	}
	if got := f.read(t, vm.Ref); f.RevertRestoresConfig && got.CPUs != vm.CPUs {
		t.Errorf("after revert: cpus %d, want %d as at the snapshot", got.CPUs, vm.CPUs)
	}
	if f.Client != nil {
		if r := raw(t, f.Client, vm.Ref); r.Snapshot == nil || r.Snapshot.CurrentSnapshot == nil || r.Snapshot.CurrentSnapshot.Value != snap.Ref {
			t.Errorf("vCenter's current snapshot after revert: %+v, want %s", r.Snapshot, snap.Ref)
		}
	}
	if err := f.Driver.RevertSnapshot(ctx, vm.Ref, "no-such-snapshot"); !vsphere.IsNotFound(err) {
		t.Errorf("revert to a missing snapshot: %v, want not found", err)
	}
	if err := f.Driver.RemoveSnapshot(ctx, vm.Ref, snap.Ref); err != nil {
		t.Fatal(err)
	}
	if got := f.read(t, vm.Ref); len(got.Snapshots) != 0 {
		t.Errorf("snapshots after remove: %v", got.Snapshots)
	}
	if err := f.Driver.RemoveSnapshot(ctx, vm.Ref, snap.Ref); err != nil {
		t.Errorf("removing it again: %v", err)
	}
	if f.Client != nil {
		if n := rawSnapshots(t, f.Client, vm.Ref); len(n) != 0 {
			t.Errorf("vCenter still has snapshots %v", n)
		}
	}
}

func testRename(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	vm := f.clone(t, "rename", false)
	name := f.name("renamed")
	for i := 0; i < 2; i++ {
		if err := f.Driver.Rename(ctx, vm.Ref, name); err != nil {
			t.Fatalf("rename #%d: %v", i+1, err)
		}
	}
	if got := f.read(t, vm.Ref); got.Name != name || !strings.HasSuffix(got.Path, "/"+name) {
		t.Errorf("after rename: %s at %s", got.Name, got.Path)
	}
	if found := f.find(t, f.Datacenter, name); found.Ref != vm.Ref {
		t.Errorf("FindVMs %s found %s", name, found.Ref)
	}
	if f.Client != nil {
		if got := raw(t, f.Client, vm.Ref).Name; got != name {
			t.Errorf("vCenter calls it %s", got)
		}
	}
}

func testMove(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	vm := f.clone(t, "folder", false)
	if vm.Folder != "" {
		t.Fatalf("the clone is in folder %q, want the root", vm.Folder)
	}
	for i := 0; i < 2; i++ {
		if err := f.Driver.MoveToFolder(ctx, vm.Ref, f.Datacenter, f.Folder); err != nil {
			t.Fatalf("move #%d: %v", i+1, err)
		}
	}
	if got := f.read(t, vm.Ref); got.Folder != f.Folder || got.Path != fmt.Sprintf("/%s/vm/%s/%s", f.Datacenter, f.Folder, vm.Name) {
		t.Errorf("after the move: folder %q path %s", got.Folder, got.Path)
	}
	if err := f.Driver.MoveToFolder(ctx, vm.Ref, f.Datacenter, "no-such-folder"); !vsphere.IsNotFound(err) {
		t.Errorf("move to a missing folder: %v, want not found", err)
	}
	if err := f.Driver.MoveToFolder(ctx, vm.Ref, "", ""); err != nil {
		t.Errorf("move back to the root: %v", err)
	}
	if f.Client != nil {
		if got := folderName(t, f.Client, raw(t, f.Client, vm.Ref)); got != "vm" {
			t.Errorf("vCenter has it in folder %s, want the root vm folder", got)
		}
	}
}

func testDestroy(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	vm := f.clone(t, "destroy", true)
	if err := f.Driver.Destroy(ctx, vm.Ref); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Driver.VM(ctx, vm.Ref); !errors.Is(err, vsphere.ErrNotFound) {
		t.Errorf("VM after destroy: %v, want ErrNotFound", err)
	}
	if vms, _ := f.Driver.FindVMs(ctx, f.Datacenter, vm.Name); len(vms) != 0 {
		t.Errorf("FindVMs still finds %s", vm.Name)
	}
	if err := f.Driver.Destroy(ctx, vm.Ref); err != nil {
		t.Errorf("destroying it again: %v", err)
	}
	if f.Client != nil {
		var m mo.VirtualMachine
		err := property.DefaultCollector(f.Client).RetrieveOne(ctx, vmRef(vm.Ref), []string{"name"}, &m)
		if err == nil {
			t.Errorf("vCenter still has %s", vm.Ref)
		}
	}
}

func testMarkers(t *testing.T, f *Fixture) {
	ctx := ctxFor(t)
	vm := f.clone(t, "markers", false)
	if err := f.Driver.SetMarkers(ctx, vm.Ref, map[string]string{vsphere.MarkerApplication: "app", vsphere.MarkerStep: "one"}); err != nil {
		t.Fatal(err)
	}
	got := f.read(t, vm.Ref).Markers
	want := map[string]string{vsphere.MarkerPlan: "suite", vsphere.MarkerApplication: "app", vsphere.MarkerStep: "one"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("markers %v, want %v (merged)", got, want)
	}
	// An empty value deletes the key.
	if err := f.Driver.SetMarkers(ctx, vm.Ref, map[string]string{vsphere.MarkerStep: ""}); err != nil {
		t.Fatal(err)
	}
	got = f.read(t, vm.Ref).Markers
	if _, ok := got[vsphere.MarkerStep]; ok || got[vsphere.MarkerApplication] != "app" {
		t.Errorf("markers after deleting the step: %v", got)
	}
	found, err := f.Driver.FindByMarker(ctx, f.Datacenter, vsphere.MarkerApplication, "app")
	if err != nil || !slices.ContainsFunc(found, func(x *vsphere.VM) bool { return x.Ref == vm.Ref }) {
		t.Errorf("FindByMarker: %v %v", found, err)
	}
	if f.Client != nil {
		ec := extraConfig(raw(t, f.Client, vm.Ref))
		if ec[vsphere.MarkerApplication] != "app" || ec[vsphere.MarkerStep] != "" {
			t.Errorf("vCenter extraConfig: %v", ec)
		}
	}
}

func testWaitForIP(t *testing.T, f *Fixture) {
	if f.SourceIP == "" {
		t.Skip("the fixture's source VM reports no IP")
	}
	ctx := ctxFor(t)
	src := f.find(t, f.Datacenter, f.SourceVM)
	ip, err := f.Driver.WaitForIP(ctx, src.Ref, time.Minute)
	if err != nil || ip != f.SourceIP {
		t.Errorf("WaitForIP: %q %v, want %s", ip, err, f.SourceIP)
	}
	off := f.clone(t, "noip", false)
	start := time.Now()
	_, err = f.Driver.WaitForIP(ctx, off.Ref, 2*time.Second)
	if err == nil {
		t.Errorf("WaitForIP on a powered-off VM returned no error")
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("WaitForIP with a 2s timeout took %s", took)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Driver.WaitForIP(cctx, off.Ref, time.Minute); err == nil {
		t.Errorf("WaitForIP with a cancelled context returned no error")
	}
}

// The raw side: govmomi's property collector and finder, not the driver.

func vmRef(ref string) types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}
}

func raw(t *testing.T, c *vim25.Client, ref string) mo.VirtualMachine {
	t.Helper()
	var m mo.VirtualMachine
	err := property.DefaultCollector(c).RetrieveOne(context.Background(), vmRef(ref),
		[]string{"name", "parent", "runtime", "datastore", "network", "config", "snapshot"}, &m)
	if err != nil {
		t.Fatalf("property collector: %s: %v", ref, err)
	}
	return m
}

func rawVMs(t *testing.T, c *vim25.Client, dc string) []mo.VirtualMachine {
	t.Helper()
	ctx := context.Background()
	d, err := find.NewFinder(c).Datacenter(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	folders, err := d.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := view.NewManager(c).CreateContainerView(ctx, folders.VmFolder.Reference(), []string{"VirtualMachine"}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = v.Destroy(ctx) }()
	var out []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "runtime.powerState"}, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func names(t *testing.T, c *vim25.Client, refs []types.ManagedObjectReference) []string {
	t.Helper()
	var out []string
	for _, r := range refs {
		var e mo.ManagedEntity
		if err := property.DefaultCollector(c).RetrieveOne(context.Background(), r, []string{"name"}, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Name)
	}
	return out
}

func hostName(t *testing.T, c *vim25.Client, m mo.VirtualMachine) string {
	if m.Runtime.Host == nil {
		return ""
	}
	return names(t, c, []types.ManagedObjectReference{*m.Runtime.Host})[0]
}

func folderName(t *testing.T, c *vim25.Client, m mo.VirtualMachine) string {
	return names(t, c, []types.ManagedObjectReference{*m.Parent})[0]
}

// nicNetworks names the network of each NIC, from its backing: a standard
// portgroup by its device name, a distributed one by matching its key.
func nicNetworks(t *testing.T, c *vim25.Client, dc string, m mo.VirtualMachine) []string {
	t.Helper()
	ctx := context.Background()
	fi := find.NewFinder(c)
	d, err := fi.Datacenter(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	fi.SetDatacenter(d)
	keys := map[string]string{}
	if nets, err := fi.NetworkList(ctx, "*"); err == nil {
		for _, n := range nets {
			if n.Reference().Type != "DistributedVirtualPortgroup" {
				continue
			}
			var pg mo.DistributedVirtualPortgroup
			if err := property.DefaultCollector(c).RetrieveOne(ctx, n.Reference(), []string{"name", "key"}, &pg); err == nil {
				keys[pg.Key] = pg.Name
			}
		}
	}
	type keyed struct {
		key  int32
		name string
	}
	var nics []keyed
	for _, d := range m.Config.Hardware.Device {
		card, ok := d.(types.BaseVirtualEthernetCard)
		if !ok {
			continue
		}
		name := ""
		switch b := card.GetVirtualEthernetCard().Backing.(type) {
		case *types.VirtualEthernetCardNetworkBackingInfo:
			name = b.DeviceName
		case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
			name = keys[b.Port.PortgroupKey]
		}
		nics = append(nics, keyed{d.GetVirtualDevice().Key, name})
	}
	sort.Slice(nics, func(i, j int) bool { return nics[i].key < nics[j].key })
	var out []string
	for _, n := range nics {
		out = append(out, n.name)
	}
	return out
}

func extraConfig(m mo.VirtualMachine) map[string]string {
	out := map[string]string{}
	for _, o := range m.Config.ExtraConfig {
		ov := o.GetOptionValue()
		if s, ok := ov.Value.(string); ok && s != "" {
			out[ov.Key] = s
		}
	}
	return out
}

func rawSnapshots(t *testing.T, c *vim25.Client, ref string) []string {
	m := raw(t, c, ref)
	var out []string
	if m.Snapshot == nil {
		return out
	}
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(tree []types.VirtualMachineSnapshotTree) {
		for _, s := range tree {
			out = append(out, s.Name)
			walk(s.ChildSnapshotList)
		}
	}
	walk(m.Snapshot.RootSnapshotList)
	return out
}
