package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/plan"
)

// Tests here set simulator.TaskDelay through Options.Delays, a package
// global, so none of them runs in parallel.

func loadPlan(t *testing.T, file string) *plan.Plan {
	t.Helper()
	p, probs, err := plan.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) > 0 {
		t.Fatalf("%s: %v", file, probs)
	}
	return p
}

func planFromYAML(t *testing.T, src string) *plan.Plan {
	t.Helper()
	p, probs, err := plan.Load("test.yaml", []byte(src))
	if err != nil || len(probs) > 0 {
		for _, pr := range probs {
			t.Log(pr)
		}
		t.Fatalf("test plan: %v", err)
	}
	return p
}

// start seeds a simulator from p and connects a client to it.
func start(t *testing.T, p *plan.Plan, opts Options) (*Sim, *govmomi.Client) {
	t.Helper()
	s, err := New(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	return s, c
}

// fastTmp puts the simulator's files on tmpfs when there is one: seeding
// the reference plan writes about 7,000 small files, which takes a few
// seconds on tmpfs and several times that on a virtual disk.
func fastTmp(t *testing.T) {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		t.Setenv("TMPDIR", "/dev/shm")
	}
}

// vmProps are the VM properties the tests read back.
var vmProps = []string{
	"name", "parent", "config.template", "config.hardware.numCPU", "config.hardware.memoryMB",
	"config.hardware.device", "config.guestId", "config.version", "runtime.powerState",
	"guest.toolsRunningStatus", "guest.ipAddress", "runtime.faultToleranceState",
}

func allVMs(t *testing.T, ctx context.Context, c *govmomi.Client) map[string]mo.VirtualMachine {
	t.Helper()
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = v.Destroy(ctx) }()
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, vmProps, &vms); err != nil {
		t.Fatal(err)
	}
	out := map[string]mo.VirtualMachine{}
	for _, vm := range vms {
		// Templates are in each target datacenter that clones from them.
		if prev, dup := out[vm.Name]; dup && !(vm.Config.Template && prev.Config.Template) {
			t.Errorf("VM name %s appears twice in the inventory", vm.Name)
		}
		out[vm.Name] = vm
	}
	return out
}

func disksGB(vm mo.VirtualMachine) []int {
	var out []int
	for _, d := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
		out = append(out, int(d.(*types.VirtualDisk).CapacityInKB>>20))
	}
	return out
}

func nicNetworks(vm mo.VirtualMachine) []string {
	var out []string
	for _, d := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualEthernetCard)(nil)) {
		if b, ok := d.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().Backing.(*types.VirtualEthernetCardNetworkBackingInfo); ok {
			out = append(out, b.DeviceName)
		}
	}
	return out
}

// checkInventory reads the simulator back through find, view and property
// and checks it holds everything the plan names.
func checkInventory(t *testing.T, ctx context.Context, c *govmomi.Client, p *plan.Plan) {
	t.Helper()
	finder := memoFinder{Finder: find.NewFinder(c.Client, false), seen: map[string]any{}}
	pc := property.DefaultCollector(c.Client)
	vms := allVMs(t, ctx, c)

	srcFolder, err := finder.Folder(ctx, path.Join("/", p.Source.Datacenter, "vm", p.Source.Folder))
	if err != nil {
		t.Fatalf("source folder: %v", err)
	}
	sources := 0
	for _, a := range p.Applications {
		for _, ref := range a.VMs {
			sources++
			vm, ok := vms[ref.Name]
			if !ok {
				t.Errorf("source VM %s missing", ref.Name)
				continue
			}
			if *vm.Parent != srcFolder.Reference() {
				t.Errorf("%s is in %v, not the source folder %s", ref.Name, vm.Parent, srcFolder.InventoryPath)
			}
			hw := vm.Config.Hardware
			if want := orDefault(ref.CPUs, DefaultCPUs); int(hw.NumCPU) != want {
				t.Errorf("%s has %d vCPUs, want %d", ref.Name, hw.NumCPU, want)
			}
			if want := orDefault(ref.MemoryMB, DefaultMemoryMB); int(hw.MemoryMB) != want {
				t.Errorf("%s has %d MB, want %d", ref.Name, hw.MemoryMB, want)
			}
			if got, want := fmt.Sprint(disksGB(vm)), fmt.Sprint(disksOrDefault(ref.DisksGB)); got != want {
				t.Errorf("%s has disks %s GB, want %s", ref.Name, got, want)
			}
			wantNets := ref.Networks
			if len(wantNets) == 0 {
				wantNets = []string{DefaultNetwork}
			}
			if got, want := fmt.Sprint(nicNetworks(vm)), fmt.Sprint(wantNets); got != want {
				t.Errorf("%s is on networks %s, want %s", ref.Name, got, want)
			}
			if ref.Hardware != "" && vm.Config.Version != ref.Hardware {
				t.Errorf("%s is hardware %s, want %s", ref.Name, vm.Config.Version, ref.Hardware)
			}
			if ref.GuestID != "" && vm.Config.GuestId != ref.GuestID {
				t.Errorf("%s has guest %s, want %s", ref.Name, vm.Config.GuestId, ref.GuestID)
			}
			wantOn := ref.PowerState != "poweredOff"
			on := vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn
			if on != wantOn {
				t.Errorf("%s is %s, want powerState %q", ref.Name, vm.Runtime.PowerState, ref.PowerState)
			}
			running := vm.Guest.ToolsRunningStatus == string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
			if on && (!running || vm.Guest.IpAddress == "") {
				t.Errorf("%s is on but tools are %q, IP %q", ref.Name, vm.Guest.ToolsRunningStatus, vm.Guest.IpAddress)
			}
			if !on && (running || vm.Guest.IpAddress != "") {
				t.Errorf("%s is off but tools are %q, IP %q", ref.Name, vm.Guest.ToolsRunningStatus, vm.Guest.IpAddress)
			}
			if vm.Runtime.FaultToleranceState == "" {
				t.Errorf("%s has no runtime.faultToleranceState", ref.Name)
			}
		}
		for _, s := range a.Servers {
			if _, ok := vms[s.Name]; ok {
				t.Errorf("physical server %s is a VM in the simulator", s.Name)
			}
		}
	}

	type need struct{ memMB int64 }
	clusterNeed := map[string]*need{}
	dsNeedGB := map[string]int64{}
	for _, a := range p.Applications {
		key := a.Resolved.Datacenter + "/" + a.Resolved.Datastore
		for _, v := range a.VMs {
			for _, gb := range disksOrDefault(v.DisksGB) {
				dsNeedGB[key] += int64(gb)
			}
		}
		for _, s := range a.Servers {
			for _, gb := range s.DisksGB {
				dsNeedGB[key] += int64(gb)
			}
		}
	}
	for _, a := range p.Applications {
		pl := a.Resolved
		dc := "/" + pl.Datacenter
		if pl.Cluster == "" {
			if _, err := finder.HostSystem(ctx, dc+"/host/"+pl.Host+"/"+pl.Host); err != nil {
				t.Errorf("%s: standalone host %s: %v", a.Name, pl.Host, err)
			}
			continue
		}
		cl, err := finder.ClusterComputeResource(ctx, dc+"/host/"+pl.Cluster)
		if err != nil {
			t.Errorf("%s: cluster: %v", a.Name, err)
			continue
		}
		hosts, err := cl.Hosts(ctx)
		if err != nil || len(hosts) < defaultHostsPerCluster {
			t.Errorf("%s: cluster %s has %d hosts (%v)", a.Name, pl.Cluster, len(hosts), err)
		}
		n := clusterNeed[cl.Reference().Value]
		if n == nil {
			n = &need{}
			clusterNeed[cl.Reference().Value] = n
		}
		for _, v := range a.VMs {
			n.memMB += int64(orDefault(v.MemoryMB, DefaultMemoryMB))
		}
		for _, s := range a.Servers {
			n.memMB += int64(s.MemoryMB)
		}
		var ccr mo.ClusterComputeResource
		if err := pc.RetrieveOne(ctx, cl.Reference(), []string{"summary"}, &ccr); err != nil {
			t.Fatal(err)
		}
		if got := ccr.Summary.GetComputeResourceSummary().EffectiveMemory; got < n.memMB {
			t.Errorf("%s: cluster %s has %d MB for %d MB of VMs", a.Name, pl.Cluster, got, n.memMB)
		}
		ds, err := finder.Datastore(ctx, dc+"/datastore/"+pl.Datastore)
		if err != nil {
			t.Errorf("%s: datastore: %v", a.Name, err)
		} else {
			var mds mo.Datastore
			if err := pc.RetrieveOne(ctx, ds.Reference(), []string{"summary"}, &mds); err != nil {
				t.Fatal(err)
			}
			if need := dsNeedGB[pl.Datacenter+"/"+pl.Datastore]; mds.Summary.FreeSpace < need<<30 {
				t.Errorf("%s: datastore %s has %d GB free for %d GB of disks", a.Name, pl.Datastore, mds.Summary.FreeSpace>>30, need)
			}
		}
		for _, f := range []string{pl.Folder, pl.RetirementFolder} {
			if f == "" {
				continue
			}
			if _, err := finder.Folder(ctx, dc+"/vm/"+f); err != nil {
				t.Errorf("%s: folder %s: %v", a.Name, f, err)
			}
		}
		if _, err := finder.Folder(ctx, path.Join("/", p.Source.Datacenter, "vm", pl.RetirementFolder)); err != nil {
			t.Errorf("%s: retirement folder in the source: %v", a.Name, err)
		}
		if pl.ResourcePool != "" {
			if _, err := finder.ResourcePool(ctx, dc+"/host/"+pl.Cluster+"/Resources/"+pl.ResourcePool); err != nil {
				t.Errorf("%s: resource pool: %v", a.Name, err)
			}
		}
		if pl.Host != "" {
			if _, err := finder.HostSystem(ctx, dc+"/host/"+pl.Cluster+"/"+pl.Host); err != nil {
				t.Errorf("%s: host: %v", a.Name, err)
			}
		}
		pgs := []string{}
		for from, to := range pl.Networks {
			pgs = append(pgs, to)
			if _, err := finder.Network(ctx, path.Join("/", p.Source.Datacenter, "network", from)); err != nil {
				t.Errorf("%s: source network %s: %v", a.Name, from, err)
			}
		}
		if a.Remediate != nil {
			for _, to := range a.Remediate.Networks {
				pgs = append(pgs, to)
			}
		}
		for _, pg := range pgs {
			n, err := finder.Network(ctx, dc+"/network/"+pg)
			if err != nil {
				t.Errorf("%s: portgroup %s: %v", a.Name, pg, err)
			} else if n.Reference().Type != "DistributedVirtualPortgroup" {
				t.Errorf("%s: portgroup %s is a %s", a.Name, pg, n.Reference().Type)
			}
		}
		var tpls []string
		if a.Template != "" {
			tpls = append(tpls, a.Template)
		}
		if a.Replacement != nil {
			tpls = append(tpls, a.Replacement.Template)
			if _, ok := vms[a.Replacement.Name]; ok {
				t.Errorf("%s: replacement %s exists before the migration", a.Name, a.Replacement.Name)
			}
		}
		for _, name := range tpls {
			tpl, err := finder.VirtualMachine(ctx, dc+"/vm/"+TemplateFolder+"/"+name)
			if err != nil {
				t.Errorf("%s: template %s: %v", a.Name, name, err)
				continue
			}
			var m mo.VirtualMachine
			if err := pc.RetrieveOne(ctx, tpl.Reference(), []string{"config.template"}, &m); err != nil {
				t.Fatal(err)
			}
			if !m.Config.Template {
				t.Errorf("%s: %s is not a template", a.Name, name)
			}
		}
	}
	if len(vms) < sources {
		t.Errorf("%d VMs in the simulator for %d in the plan", len(vms), sources)
	}
}

// memoFinder looks each path up once: applications share most of theirs.
type memoFinder struct {
	*find.Finder
	seen map[string]any
}

type found[T any] struct {
	v   T
	err error
}

func memo[T any](f memoFinder, key string, look func() (T, error)) (T, error) {
	if r, ok := f.seen[key].(found[T]); ok {
		return r.v, r.err
	}
	v, err := look()
	f.seen[key] = found[T]{v, err}
	return v, err
}

func (f memoFinder) ClusterComputeResource(ctx context.Context, p string) (*object.ClusterComputeResource, error) {
	return memo(f, "cluster:"+p, func() (*object.ClusterComputeResource, error) { return f.Finder.ClusterComputeResource(ctx, p) })
}

func (f memoFinder) Datastore(ctx context.Context, p string) (*object.Datastore, error) {
	return memo(f, "ds:"+p, func() (*object.Datastore, error) { return f.Finder.Datastore(ctx, p) })
}

func (f memoFinder) Folder(ctx context.Context, p string) (*object.Folder, error) {
	return memo(f, "folder:"+p, func() (*object.Folder, error) { return f.Finder.Folder(ctx, p) })
}

func (f memoFinder) Network(ctx context.Context, p string) (object.NetworkReference, error) {
	return memo(f, "net:"+p, func() (object.NetworkReference, error) { return f.Finder.Network(ctx, p) })
}

func (f memoFinder) VirtualMachine(ctx context.Context, p string) (*object.VirtualMachine, error) {
	return memo(f, "vm:"+p, func() (*object.VirtualMachine, error) { return f.Finder.VirtualMachine(ctx, p) })
}

func TestSeedsTheDemoPlan(t *testing.T) {
	ctx := context.Background()
	p := loadPlan(t, "../../../examples/demo.yaml")
	s, c := start(t, p, Options{})
	checkInventory(t, ctx, c, p)
	got := s.Summary()
	if got.VMs != 10 || got.Templates != 2 || got.Datacenters != 2 {
		t.Errorf("summary %+v: want 10 VMs, 2 templates, 2 datacenters", got)
	}
}

func TestSeedsTheReferencePlanQuickly(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 1,500 VMs")
	}
	fastTmp(t)
	ctx := context.Background()
	p := loadPlan(t, "../../../plans/crown-hosting.yaml")
	begin := time.Now()
	s, c := start(t, p, Options{})
	seeded := time.Since(begin)
	checkInventory(t, ctx, c, p)
	t.Logf("seeded %+v in %v, checked in %v", s.Summary(), seeded.Round(time.Millisecond), (time.Since(begin) - seeded).Round(time.Millisecond))
	if s.Summary().VMs < 1400 {
		t.Errorf("only %d VMs", s.Summary().VMs)
	}
}

// Placements the example plans do not use: resource pools, named and
// standalone hosts, nested folders, a source folder, remediate networks.
func TestSeedsEveryKindOfPlacement(t *testing.T) {
	ctx := context.Background()
	p := planFromYAML(t, `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: placements}
vcenters:
  old: {url: "https://old.example/sdk"}
  new: {url: "https://new.example/sdk"}
source: {vcenter: old, datacenter: Legacy, folder: estate/apps}
target:
  vcenter: new
  datacenter: New
  datastore: ds-a
  folder: landed/deep/er
  retirementFolder: old-stuff
  networks: {App-VLAN: pg-app, VM Network: pg-vm}
applications:
  - name: pooled
    strategy: remediate
    target: {cluster: Gold, resourcePool: prod/web, host: esx-pinned.new.example}
    vms:
      - {name: web-01, cpus: 4, memoryMB: 8192, disksGB: [20, 30], networks: [App-VLAN, VM Network], guestId: rhel9_64Guest, hardwareVersion: vmx-13}
      - {name: web-02, powerState: poweredOff}
    remediate: {networks: {Backup-VLAN: pg-backup}}
  - name: lonely
    strategy: redeploy
    template: tpl-lonely
    target: {host: standalone-01.new.example, datastore: ds-b, datacenter: Other}
    vms: [lone-01]
waves:
  - {name: w, applications: [pooled, lonely]}
`)
	s, c := start(t, p, Options{})
	checkInventory(t, ctx, c, p)
	if got := s.Summary(); got.Pools != 2 || got.Datacenters != 3 {
		t.Errorf("summary %+v: want 2 pools (prod, prod/web) and 3 datacenters", got)
	}
	finder := find.NewFinder(c.Client)
	if _, err := finder.Network(ctx, "/Legacy/network/Backup-VLAN"); err != nil {
		t.Errorf("remediate source network: %v", err)
	}
	if _, err := finder.VirtualMachine(ctx, "/Other/vm/templates/tpl-lonely"); err != nil {
		t.Errorf("template on a standalone host: %v", err)
	}
}

func TestPowerCyclesMoveTheGuest(t *testing.T) {
	ctx := context.Background()
	p := loadPlan(t, "../../../examples/demo.yaml")
	_, c := start(t, p, Options{})
	vm, err := find.NewFinder(c.Client).VirtualMachine(ctx, "/DC-OLD/vm/ccm-app-01")
	if err != nil {
		t.Fatal(err)
	}
	guest := func() (string, string) {
		var m mo.VirtualMachine
		if err := vm.Properties(ctx, vm.Reference(), []string{"guest"}, &m); err != nil {
			t.Fatal(err)
		}
		return m.Guest.ToolsRunningStatus, m.Guest.IpAddress
	}
	tools, ip := guest()
	if tools != "guestToolsRunning" || ip == "" {
		t.Fatalf("seeded: tools %q, IP %q", tools, ip)
	}
	task, err := vm.PowerOff(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if tools, ip2 := guest(); tools != "guestToolsNotRunning" || ip2 != "" {
		t.Errorf("off: tools %q, IP %q", tools, ip2)
	}
	task, err = vm.PowerOn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// The real health check: what a driver waits for.
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := vm.WaitForIP(waitCtx)
	if err != nil || got != ip {
		t.Errorf("on again: IP %q (%v), want the old %q", got, err, ip)
	}
}

func TestStartServesGovcEnv(t *testing.T) {
	p := loadPlan(t, "../../../examples/demo.yaml")
	s, err := New(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	home := s.homeDir
	if _, err := os.Stat(home); err != nil {
		t.Fatalf("simulator folder: %v", err)
	}
	if s.Env() != nil {
		t.Error("Env before Start")
	}
	u, err := s.Start("")
	if err != nil {
		t.Fatal(err)
	}
	if u.User.Username() == "" || !strings.HasPrefix(u.String(), "https://") {
		t.Errorf("URL %s: want https with credentials", u.Redacted())
	}
	env := strings.Join(s.Env(), "\n")
	for _, want := range []string{
		"export GOVC_URL=https://", "export GOVC_USERNAME=", "export GOVC_PASSWORD=", "export GOVC_INSECURE=1",
		"export WAVECTL_URL=https://", "export WAVECTL_USERNAME=", "export WAVECTL_PASSWORD=", "export WAVECTL_INSECURE=1",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %q:\n%s", want, env)
		}
	}
	if s.Thumbprint() == "" {
		t.Error("no thumbprint")
	}
	again, err := s.Start("")
	if err != nil || again.String() != u.String() {
		t.Errorf("second Start: %v, %v", again, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Errorf("Close left %s (%v)", home, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Start(""); err == nil {
		t.Error("Start after Close")
	}
}

func TestRefusesBadInput(t *testing.T) {
	p := loadPlan(t, "../../../examples/demo.yaml")
	for name, opts := range map[string]Options{
		"negative delay":      {Delays: map[string]time.Duration{"CloneVM_Task": -time.Second}},
		"fraction over one":   {Faults: []Fault{{Op: "CloneVM_Task", Fraction: 1.5}}},
		"fault with no op":    {Faults: []Fault{{Fraction: 0.5}}},
		"unguarded task op":   {Faults: []Fault{{Op: "AddHost_Task", Fraction: 0.5}}},
		"nothing to fail":     {Faults: []Fault{{Op: "CloneVM_Task"}}},
		"negative host count": {HostsPerCluster: -1},
	} {
		if s, err := New(p, opts); err == nil {
			s.Close()
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("nil plan: no error")
	}
	bad := *p
	bad.Applications = append([]*plan.Application{}, p.Applications...)
	a := *bad.Applications[1]
	a.VMs = []*plan.VMRef{{Name: "odd", GuestID: "amiga500Guest"}}
	bad.Applications[1] = &a
	if s, err := New(&bad, Options{}); err == nil || !strings.Contains(err.Error(), "amiga500Guest") {
		if s != nil {
			s.Close()
		}
		t.Errorf("bad guest id: %v", err)
	}
}

func TestSeedingStopsWhenItsContextIsCancelled(t *testing.T) {
	p := loadPlan(t, "../../../plans/crown-hosting.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C before or while seeding 1,500 VMs
	s, err := NewContext(ctx, p, Options{})
	if !errors.Is(err, context.Canceled) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("NewContext with a cancelled context: %v, want context.Canceled", err)
	}
}
