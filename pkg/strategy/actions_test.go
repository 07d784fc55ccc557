package strategy_test

// The strategies' actions against the vCenter simulator, run step by step
// the way the engine runs them (Check, then Do and Verify when not done),
// with vCenter read back independently through govmomi's property
// collector and finder, not through the driver the actions use.

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/strategy"
	"github.com/wavectl/wavectl/pkg/vsphere"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

const actionsPlan = `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: acts}
vcenters: {lab: {url: "https://vc.example/sdk"}}
source: {vcenter: lab, datacenter: DC-OLD}
target:
  datacenter: DC1
  cluster: C1
  datastore: ds1
  folder: migrated
  networks: {VM Network: pg-app, App-DMZ: pg-dmz}
applications:
  - name: virt
    strategy: virtualise
    servers:
      - {name: phys-01, cpus: 4, memoryMB: 8192, disksGB: [40, 100], networks: [App-DMZ, VM Network]}
      - {name: phys-02, cpus: 2, memoryMB: 2048, disksGB: [1], image: images/phys-02.ova}
      - {name: phys-03, cpus: 1, memoryMB: 1024, disksGB: [1], image: images/phys-03.ova, networks: [App-DMZ]}
    checks: [{tcp: 18001, timeout: 10s}]
  - name: redep
    strategy: redeploy
    template: tpl-web
    vms:
      - {name: web-01, cpus: 2, memoryMB: 3072, networks: [App-DMZ]}
    checks: [{tcp: 18002, timeout: 10s}]
  - name: remed
    strategy: remediate
    target: {cluster: C2, datastore: ds2, folder: moved/apps}
    vms:
      - {name: app-01, cpus: 2, memoryMB: 4096, networks: [VM Network, App-DMZ], hardwareVersion: vmx-13}
      - {name: batch-01, powerState: poweredOff, hardwareVersion: vmx-13}
    remediate: {hardwareVersion: vmx-19, cpus: 4, memoryMB: 8192}
    checks: [{tcp: 18003, timeout: 10s}]
  - name: repl
    strategy: replace
    vms: [fax-01]
    replacement: {template: tpl-fax, name: fax-gw-01}
    retainDays: 30
    checks: [{tcp: 18004, timeout: 10s}]
    hooks: {pre: ["echo pre $WAVECTL_APP"], verify: ["echo verifying $WAVECTL_VM at $WAVECTL_IP"], post: ["echo post"]}
waves: [{name: w, applications: [virt, redep, remed, repl]}]
`

// world is a simulator seeded from a plan, the driver the actions use,
// and each unit's outputs, as the engine would keep them.
type world struct {
	t       *testing.T
	ctx     context.Context
	p       *plan.Plan
	sim     *sim.Sim
	c       *govmomi.Client
	d       *vsphere.Govmomi
	tgt     *vsphere.Govmomi // the target's driver: d, or another on the same vCenter
	clock   time.Time
	outputs map[string]map[string]string
	hooks   *strategy.ShellHooks

	mu    sync.Mutex
	hookd []string // kind/unit/exit: output
}

func newWorld(t *testing.T, planYAML string, files map[string]func(string)) *world {
	t.Helper()
	dir := t.TempDir()
	for name, write := range files {
		full := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		write(full)
	}
	file := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(file, []byte(planYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	p, probs, err := plan.LoadFile(file)
	if err != nil {
		t.Fatalf("plan: %v %v", err, probs)
	}
	s, err := sim.New(p, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	w := &world{
		t: t, ctx: ctx, p: p, sim: s, c: c, d: vsphere.NewGovmomi("lab", c.Client),
		clock:   time.Date(2027, 3, 6, 20, 0, 0, 0, time.UTC),
		outputs: map[string]map[string]string{},
	}
	w.tgt = w.d
	w.hooks = &strategy.ShellHooks{Dir: dir, Record: func(kind, unit, command string, code int, output string, err error, started, ended time.Time) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.hookd = append(w.hookd, fmt.Sprintf("%s/%s/%d: %s", kind, unit, code, strings.TrimSpace(output)))
	}}
	return w
}

func (w *world) runtime(a *plan.Application, st strategy.Step) *strategy.Runtime {
	key := a.Name + "/" + st.Unit
	if w.outputs[key] == nil {
		w.outputs[key] = map[string]string{}
	}
	r := a.Resolved
	return &strategy.Runtime{
		Plan: w.p, App: a, Unit: st.Unit, Step: st, Source: w.d, Target: w.tgt,
		Placement: vsphere.Placement{Datacenter: r.Datacenter, Cluster: r.Cluster, Host: r.Host, ResourcePool: r.ResourcePool, Datastore: r.Datastore, Folder: r.Folder},
		Outputs:   w.outputs[key], Hooks: w.hooks, VerifyTimeout: 20 * time.Second,
		Log: zerolog.Nop(), Now: func() time.Time { return w.clock },
		ShutdownTimeout: 5 * time.Second,
	}
}

// outcome of one step in a pass.
type outcome struct {
	step     strategy.Step
	already  bool // Check said done
	deferred bool
}

// apply runs every step of the application in order, like the engine:
// Check, then Do and Verify when not done. A deferred step (ErrNotYet)
// is recorded as such.
func (w *world) apply(name string) []outcome {
	w.t.Helper()
	a := w.p.Application(name)
	var out []outcome
	for _, st := range strategy.Steps(a) {
		o, err := w.step(a, st)
		if err != nil {
			w.t.Fatalf("%s %s %s: %v", name, st.Unit, st.Kind, err)
		}
		out = append(out, o)
	}
	return out
}

func (w *world) step(a *plan.Application, st strategy.Step) (outcome, error) {
	act := strategy.ActionFor(st)
	rt := w.runtime(a, st)
	o := outcome{step: st}
	done, err := act.Check(w.ctx, rt)
	if err != nil {
		return o, fmt.Errorf("check: %w", err)
	}
	if done {
		o.already = true
		return o, nil
	}
	if err := act.Do(w.ctx, rt); err != nil {
		if errors.Is(err, strategy.ErrNotYet) {
			o.deferred = true
			return o, nil
		}
		return o, err
	}
	if act.Verify != nil {
		if err := act.Verify(w.ctx, rt); err != nil {
			return o, fmt.Errorf("verify: %w", err)
		}
	}
	return o, nil
}

// rollback undoes the outcomes' completed steps in reverse order.
func (w *world) rollback(name string, done []outcome) {
	w.t.Helper()
	a := w.p.Application(name)
	for i := len(done) - 1; i >= 0; i-- {
		if done[i].deferred {
			continue
		}
		st := done[i].step
		if act := strategy.ActionFor(st); act.Undo != nil {
			if err := act.Undo(w.ctx, w.runtime(a, st)); err != nil {
				w.t.Fatalf("undo %s %s %s: %v", name, st.Unit, st.Kind, err)
			}
		}
	}
}

// knowledge steps run every time: their effect is a fresh verification.
func knowledge(kind string) bool {
	return kind == plan.StepVerify || kind == plan.StepPreHook || kind == plan.StepPostHook
}

// --- reading vCenter back, independently of the driver ---

// vmState is what the tests read of a VM.
type vmState struct {
	Ref, Path, Power, Host, Cluster, Pool, Hardware, IP string
	Datastores, Networks, Snapshots                     []string
	CPUs, MemoryMB                                      int
	DisksGB                                             []int
	Markers                                             map[string]string
	Template                                            bool
}

// inventory reads every VM of the simulator with one container view and
// one property collector retrieve, resolving names with the finder.
func (w *world) inventory() map[string]*vmState {
	w.t.Helper()
	ctx := w.ctx
	m := view.NewManager(w.c.Client)
	v, err := m.CreateContainerView(ctx, w.c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		w.t.Fatal(err)
	}
	defer func() { _ = v.Destroy(ctx) }()
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "runtime", "resourcePool", "datastore", "config", "snapshot", "guest"}, &vms); err != nil {
		w.t.Fatal(err)
	}
	pc := property.DefaultCollector(w.c.Client)
	name := func(ref types.ManagedObjectReference) string {
		var e mo.ManagedEntity
		if err := pc.RetrieveOne(ctx, ref, []string{"name"}, &e); err != nil {
			return ""
		}
		return e.Name
	}
	// Distributed portgroups by key, for the NICs' names.
	pgv, err := m.CreateContainerView(ctx, w.c.ServiceContent.RootFolder, []string{"DistributedVirtualPortgroup"}, true)
	if err != nil {
		w.t.Fatal(err)
	}
	defer func() { _ = pgv.Destroy(ctx) }()
	var pgs []mo.DistributedVirtualPortgroup
	if err := pgv.Retrieve(ctx, []string{"DistributedVirtualPortgroup"}, []string{"name", "key"}, &pgs); err != nil {
		w.t.Fatal(err)
	}
	pgName := map[string]string{}
	for _, pg := range pgs {
		pgName[pg.Key] = pg.Name
	}
	out := map[string]*vmState{}
	for _, vm := range vms {
		s := &vmState{Ref: vm.Self.Value, Power: string(vm.Runtime.PowerState), Markers: map[string]string{}}
		path, err := find.NewFinder(w.c.Client).ObjectReference(ctx, vm.Self)
		if err == nil {
			s.Path = path.(*object.VirtualMachine).InventoryPath
		}
		if s.Path == "" {
			s.Path = vm.Name
		}
		if h := vm.Runtime.Host; h != nil {
			s.Host = name(*h)
			var host mo.HostSystem
			if err := pc.RetrieveOne(ctx, *h, []string{"parent"}, &host); err == nil && host.Parent != nil {
				s.Cluster = name(*host.Parent)
			}
		}
		if vm.ResourcePool != nil {
			s.Pool = name(*vm.ResourcePool)
		}
		for _, ds := range vm.Datastore {
			s.Datastores = append(s.Datastores, name(ds))
		}
		if c := vm.Config; c != nil {
			s.Template = c.Template
			s.CPUs, s.MemoryMB, s.Hardware = int(c.Hardware.NumCPU), int(c.Hardware.MemoryMB), c.Version
			for _, d := range c.Hardware.Device {
				switch x := d.(type) {
				case *types.VirtualDisk:
					s.DisksGB = append(s.DisksGB, int((x.CapacityInKB+(1<<20)-1)>>20))
				case types.BaseVirtualEthernetCard:
					switch b := x.GetVirtualEthernetCard().Backing.(type) {
					case *types.VirtualEthernetCardNetworkBackingInfo:
						s.Networks = append(s.Networks, b.DeviceName)
					case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
						s.Networks = append(s.Networks, pgName[b.Port.PortgroupKey])
					}
				}
			}
			for _, o := range c.ExtraConfig {
				if ov := o.GetOptionValue(); ov != nil && strings.HasPrefix(ov.Key, "wavectl.") && fmt.Sprint(ov.Value) != "" {
					s.Markers[ov.Key] = fmt.Sprint(ov.Value)
				}
			}
		}
		if vm.Guest != nil {
			s.IP = vm.Guest.IpAddress
		}
		if vm.Snapshot != nil {
			var walk func([]types.VirtualMachineSnapshotTree)
			walk = func(tree []types.VirtualMachineSnapshotTree) {
				for _, t := range tree {
					s.Snapshots = append(s.Snapshots, t.Name)
					walk(t.ChildSnapshotList)
				}
			}
			walk(vm.Snapshot.RootSnapshotList)
		}
		out[s.Path] = s
	}
	return out
}

// at returns the VM at an inventory path, failing the test when none.
func at(t *testing.T, inv map[string]*vmState, path string) *vmState {
	t.Helper()
	vm := inv[path]
	if vm == nil {
		var paths []string
		for p := range inv {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		t.Fatalf("no VM at %s; VMs: %s", path, strings.Join(paths, ", "))
	}
	return vm
}

// dialOK dials a guest's port as the TCP checks do, through the
// simulator's dialer: on a machine where another process (another test
// run) already serves that loopback address and port, the simulator
// listens on another port and its dialer knows which.
func dialOK(t *testing.T, w *world, ip string, port int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := w.sim.DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Errorf("dial %s:%d: %v", ip, port, err)
		return
	}
	_ = c.Close()
}

func wantMarkers(t *testing.T, vm *vmState, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if vm.Markers[k] != v {
			t.Errorf("%s: marker %s = %q, want %q (markers %v)", vm.Path, k, vm.Markers[k], v, vm.Markers)
		}
	}
}

func names(inv map[string]*vmState) []string {
	var out []string
	for p, vm := range inv {
		out = append(out, p+"="+vm.Ref)
	}
	sort.Strings(out)
	return out
}

// migrate runs the application, checks the end state with check, runs
// every step again (nothing new may happen), then rolls it back and
// checks the source VMs are as they were.
func (w *world) migrate(t *testing.T, app string, check func(t *testing.T, inv map[string]*vmState)) {
	before := w.inventory()
	start := time.Now()
	first := w.apply(app)
	t.Logf("%s: %d steps in %s", app, len(first), time.Since(start).Round(time.Millisecond))
	after := w.inventory()
	check(t, after)

	second := w.apply(app)
	for _, o := range second {
		if !o.already && !knowledge(o.step.Kind) && !o.deferred {
			t.Errorf("second run: %s %s was not found done by its Check", o.step.Unit, o.step.Kind)
		}
	}
	if got, want := names(w.inventory()), names(after); !slices.Equal(got, want) {
		t.Errorf("second run changed the inventory:\n got %v\nwant %v", got, want)
	}

	w.rollback(app, first)
	restored := w.inventory()
	a := w.p.Application(app)
	for _, unit := range a.Units() {
		for path, was := range before {
			if !strings.HasSuffix(path, "/"+unit) || was.Template {
				continue
			}
			now := restored[path]
			if now == nil {
				t.Errorf("rollback: %s is not back at %s", unit, path)
				continue
			}
			if now.Ref != was.Ref || now.Power != was.Power || now.Cluster != was.Cluster || now.Host != was.Host ||
				now.Pool != was.Pool || !slices.Equal(now.Datastores, was.Datastores) || now.CPUs != was.CPUs ||
				now.MemoryMB != was.MemoryMB || !slices.Equal(now.Networks, was.Networks) || len(now.Markers) != 0 || len(now.Snapshots) != 0 {
				t.Errorf("rollback: %s\n is %+v\nwas %+v", path, *now, *was)
			}
			if now.Hardware != was.Hardware {
				t.Logf("rollback: %s keeps hardware %s (was %s): vSphere cannot downgrade, and the snapshot is gone once remove-snapshot ran", path, now.Hardware, was.Hardware)
			}
		}
	}
	for path := range restored {
		if before[path] == nil {
			t.Errorf("rollback left %s behind", path)
		}
	}
	if t.Failed() {
		t.Logf("before: %v\nafter rollback: %v", names(before), names(restored))
	}
}

func TestRedeployClonesPowersOnVerifiesAndSupersedesTheOldVM(t *testing.T) {
	w := newWorld(t, actionsPlan, nil)
	w.migrate(t, "redep", func(t *testing.T, inv map[string]*vmState) {
		vm := at(t, inv, "/DC1/vm/migrated/web-01")
		if vm.Cluster != "C1" || !slices.Equal(vm.Datastores, []string{"ds1"}) || vm.Power != "poweredOn" || vm.IP == "" {
			t.Errorf("new web-01: %+v", *vm)
		}
		if !slices.Equal(vm.Networks, []string{"pg-dmz"}) || vm.CPUs != 2 || vm.MemoryMB != 3072 {
			t.Errorf("new web-01 has NICs %v, %d vCPU, %d MB: want the old VM's App-DMZ remapped to pg-dmz, 2 vCPU, 3072 MB", vm.Networks, vm.CPUs, vm.MemoryMB)
		}
		wantMarkers(t, vm, map[string]string{"wavectl.plan": "acts", "wavectl.application": "redep", "wavectl.source": "web-01", "wavectl.step": "clone"})
		dialOK(t, w, vm.IP, 18002)
		old := at(t, inv, "/DC-OLD/vm/web-01")
		if old.Power != "poweredOff" {
			t.Errorf("old web-01 is %s", old.Power)
		}
		wantMarkers(t, old, map[string]string{"wavectl.plan": "acts", "wavectl.state": "superseded", "wavectl.step": "retire"})
		if w.outputs["redep/web-01"][strategy.OutIP] != vm.IP || w.outputs["redep/web-01"][strategy.OutPowerState] != "poweredOn" {
			t.Errorf("outputs %v", w.outputs["redep/web-01"])
		}
	})
}

func TestRemediateRelocatesUpgradesAndResizesAndLeavesNoSnapshot(t *testing.T) {
	w := newWorld(t, actionsPlan, nil)
	w.migrate(t, "remed", func(t *testing.T, inv map[string]*vmState) {
		for _, name := range []string{"app-01", "batch-01"} {
			vm := at(t, inv, "/DC1/vm/moved/apps/"+name)
			if vm.Cluster != "C2" || !slices.Contains(vm.Datastores, "ds2") || vm.Hardware != "vmx-19" || vm.CPUs != 4 || vm.MemoryMB != 8192 || len(vm.Snapshots) != 0 {
				t.Errorf("%s: %+v", name, *vm)
			}
			wantMarkers(t, vm, map[string]string{"wavectl.plan": "acts", "wavectl.application": "remed", "wavectl.step": "reconfigure"})
			if inv["/DC-OLD/vm/"+name] != nil {
				t.Errorf("%s is still in DC-OLD", name)
			}
		}
		app := at(t, inv, "/DC1/vm/moved/apps/app-01")
		if app.Power != "poweredOn" || !slices.Equal(app.Networks, []string{"pg-app", "pg-dmz"}) {
			t.Errorf("app-01 is %s on %v: want on, NICs remapped to pg-app, pg-dmz", app.Power, app.Networks)
		}
		dialOK(t, w, app.IP, 18003)
		if batch := at(t, inv, "/DC1/vm/moved/apps/batch-01"); batch.Power != "poweredOff" {
			t.Errorf("batch-01 was off before the move and is %s after", batch.Power)
		}
	})
}

func TestVirtualiseCreatesOrImportsTheServersAsVMs(t *testing.T) {
	w := newWorld(t, actionsPlan, map[string]func(string){
		"images/phys-02.ova": func(p string) { writeOVA(t, p, "VM Network") },
		"images/phys-03.ova": func(p string) { writeOVA(t, p, "bridged") },
	})
	w.migrate(t, "virt", func(t *testing.T, inv map[string]*vmState) {
		vm := at(t, inv, "/DC1/vm/migrated/phys-01")
		if vm.Cluster != "C1" || !slices.Contains(vm.Datastores, "ds1") || vm.Power != "poweredOn" || vm.IP == "" ||
			vm.CPUs != 4 || vm.MemoryMB != 8192 || !slices.Equal(vm.DisksGB, []int{40, 100}) || !slices.Equal(vm.Networks, []string{"pg-dmz", "pg-app"}) {
			t.Errorf("phys-01: %+v", *vm)
		}
		wantMarkers(t, vm, map[string]string{"wavectl.plan": "acts", "wavectl.application": "virt", "wavectl.source": "phys-01"})
		dialOK(t, w, vm.IP, 18001)
		img := at(t, inv, "/DC1/vm/migrated/phys-02")
		if img.Power != "poweredOn" || img.CPUs != 2 || img.MemoryMB != 2048 || !slices.Equal(img.DisksGB, []int{1}) || !slices.Equal(img.Networks, []string{"pg-app"}) {
			t.Errorf("phys-02 (imported): %+v", *img)
		}
		wantMarkers(t, img, map[string]string{"wavectl.source": "phys-02"})
		dialOK(t, w, img.IP, 18001)
		// An OVF network of the image's own naming takes the portgroup of
		// the server's NIC in its place.
		if vm := at(t, inv, "/DC1/vm/migrated/phys-03"); !slices.Equal(vm.Networks, []string{"pg-dmz"}) {
			t.Errorf("phys-03 (imported, OVF network \"bridged\") is on %v, want pg-dmz", vm.Networks)
		}
	})
}

func TestReplaceDeploysTheReplacementAndRetiresTheOldVM(t *testing.T) {
	w := newWorld(t, actionsPlan, nil)
	w.migrate(t, "repl", func(t *testing.T, inv map[string]*vmState) {
		vm := at(t, inv, "/DC1/vm/migrated/fax-gw-01")
		if vm.Cluster != "C1" || !slices.Contains(vm.Datastores, "ds1") || vm.Power != "poweredOn" || !slices.Equal(vm.Networks, []string{"pg-app"}) {
			t.Errorf("fax-gw-01: %+v", *vm)
		}
		wantMarkers(t, vm, map[string]string{"wavectl.plan": "acts", "wavectl.application": "repl", "wavectl.source": "fax-gw-01"})
		dialOK(t, w, vm.IP, 18004)
		old := at(t, inv, "/DC-OLD/vm/wavectl-retired/fax-01")
		if old.Power != "poweredOff" {
			t.Errorf("retired fax-01 is %s", old.Power)
		}
		wantMarkers(t, old, map[string]string{"wavectl.state": "retired", "wavectl.retiredAt": "2027-03-06T20:00:00Z"})
		w.mu.Lock()
		hooks := strings.Join(w.hookd, "\n")
		w.mu.Unlock()
		for _, want := range []string{"pre//0: pre repl", "verify/fax-gw-01/0: verifying fax-gw-01 at " + vm.IP, "post//0: post"} {
			if !strings.Contains(hooks, want) {
				t.Errorf("hook runs:\n%s\nwant a line %q", hooks, want)
			}
		}
	})
}

func TestDecommissionWaitsForTheRetentionThenDeletesOnlyTheRetiredVM(t *testing.T) {
	w := newWorld(t, actionsPlan, nil)
	w.apply("repl")
	a := w.p.Application("repl")
	decom := strategy.Step{Kind: plan.StepDecommission, Unit: "fax-01", Phase: 2}
	act := strategy.ActionFor(decom)
	rt := w.runtime(a, decom)
	err := act.Do(w.ctx, rt)
	var ny *strategy.NotYetError
	if !errors.As(err, &ny) || !errors.Is(err, strategy.ErrNotYet) || !ny.NotBefore().Equal(time.Date(2027, 4, 5, 20, 0, 0, 0, time.UTC)) {
		t.Fatalf("decommission on the day of retirement: %v, want not before 2027-04-05T20:00Z", err)
	}
	w.clock = w.clock.AddDate(0, 0, 30)
	if err := act.Do(w.ctx, w.runtime(a, decom)); err != nil {
		t.Fatalf("decommission after 30 days: %v", err)
	}
	if done, err := act.Check(w.ctx, w.runtime(a, decom)); !done || err != nil {
		t.Errorf("check after the delete: %v, %v", done, err)
	}
	inv := w.inventory()
	if inv["/DC-OLD/vm/wavectl-retired/fax-01"] != nil {
		t.Error("fax-01 is still there")
	}
	at(t, inv, "/DC1/vm/migrated/fax-gw-01")

	// A VM wavectl did not retire is never deleted.
	w2 := newWorld(t, actionsPlan, nil)
	a2 := w2.p.Application("repl")
	rt2 := w2.runtime(a2, decom)
	if err := act.Do(w2.ctx, rt2); err == nil || !strings.Contains(err.Error(), "not marked retired") {
		t.Errorf("decommission of a VM that was never retired: %v", err)
	}
	at(t, w2.inventory(), "/DC-OLD/vm/fax-01")
}

// A step finds its earlier work in vCenter even when the record of it is
// lost (a crash before the state file was written): by the markers on the
// VMs, not by the outputs.
func TestChecksFindEarlierWorkWithoutTheRecord(t *testing.T) {
	w := newWorld(t, actionsPlan, nil)
	for _, app := range []string{"redep", "remed", "repl"} {
		w.apply(app)
	}
	after := names(w.inventory())
	kept := w.outputs
	w.outputs = map[string]map[string]string{}
	for _, app := range []string{"redep", "remed", "repl"} {
		for _, o := range w.apply(app) {
			if !o.already && !knowledge(o.step.Kind) && !o.deferred {
				t.Errorf("%s %s %s: not found done without its record", app, o.step.Unit, o.step.Kind)
			}
		}
	}
	if got := names(w.inventory()); !slices.Equal(got, after) {
		t.Errorf("the inventory changed:\n got %v\nwant %v", got, after)
	}
	for _, unit := range []string{"redep/web-01", "remed/app-01", "remed/batch-01", "repl/fax-01", "repl/fax-gw-01"} {
		for _, k := range []string{strategy.OutVM, strategy.OutSource, strategy.OutPowerState, strategy.OutHost, strategy.OutFolder, strategy.OutCPUs, strategy.OutRetiredAt} {
			if was := kept[unit][k]; was != "" && w.outputs[unit][k] != was {
				t.Errorf("%s: %s = %q found again, was %q", unit, k, w.outputs[unit][k], was)
			}
		}
	}
}

// A remediate whose reconfigure has nothing to change writes no marker in
// a spec: power-on marks the VM before it turns it on again, so a run that
// lost its record knows the VM was shut down already (and its snapshot
// taken), and neither shuts it down again nor snapshots it again.
func TestPowerOnMarksARemediatedVMThatNoSpecMarked(t *testing.T) {
	text := strings.Replace(actionsPlan, "remediate: {hardwareVersion: vmx-19, cpus: 4, memoryMB: 8192}", "remediate: {hardwareVersion: vmx-19}", 1)
	w := newWorld(t, text, nil)
	w.apply("remed")
	after := w.inventory()
	app := at(t, after, "/DC1/vm/moved/apps/app-01")
	wantMarkers(t, app, map[string]string{"wavectl.application": "remed", "wavectl.step": "power-on"})
	if app.Power != "poweredOn" || len(app.Snapshots) != 0 {
		t.Fatalf("app-01 after the remediate: %+v", *app)
	}
	w.outputs = map[string]map[string]string{}
	for _, o := range w.apply("remed") {
		if !o.already && !knowledge(o.step.Kind) {
			t.Errorf("%s %s: not found done without its record", o.step.Unit, o.step.Kind)
		}
	}
	if got := at(t, w.inventory(), "/DC1/vm/moved/apps/app-01"); got.Power != "poweredOn" || len(got.Snapshots) != 0 {
		t.Errorf("app-01 after a run without the record: %+v", *got)
	}
}

// A plan may name one vCenter twice (legacy and crown, both served by one
// vCenter): the source and target drivers differ, the moves still work.
func TestOneVCenterUnderTwoNames(t *testing.T) {
	w := newWorld(t, actionsPlan, nil)
	w.tgt = vsphere.NewGovmomi("crown", w.c.Client)
	// As the CLI does for two names of one URL.
	w.d.AddAlias("crown")
	w.tgt.AddAlias(w.d.Name())
	w.apply("remed")
	w.apply("redep")
	inv := w.inventory()
	at(t, inv, "/DC1/vm/moved/apps/app-01")
	at(t, inv, "/DC1/vm/migrated/web-01")
	if old := at(t, inv, "/DC-OLD/vm/web-01"); old.Markers["wavectl.state"] != "superseded" {
		t.Errorf("old web-01: %+v", *old)
	}
}

// A remediate that fails after the move is rolled back with its snapshot:
// reverted and removed, the VM moved back, resized and powered on again.
func TestRemediateRolledBackMidwayRevertsItsSnapshot(t *testing.T) {
	w := newWorld(t, actionsPlan, nil)
	before := at(t, w.inventory(), "/DC-OLD/vm/app-01")
	a := w.p.Application("remed")
	var done []outcome
	for _, st := range strategy.Steps(a) {
		if st.Unit != "app-01" {
			continue
		}
		if st.Kind == plan.StepVerify {
			break // say it failed here
		}
		o, err := w.step(a, st)
		if err != nil {
			t.Fatalf("%s: %v", st.Kind, err)
		}
		done = append(done, o)
	}
	moved := at(t, w.inventory(), "/DC1/vm/moved/apps/app-01")
	if !slices.Equal(moved.Snapshots, []string{"wavectl-acts"}) {
		t.Fatalf("before rollback app-01 has snapshots %v", moved.Snapshots)
	}
	w.rollback("remed", done)
	after := at(t, w.inventory(), "/DC-OLD/vm/app-01")
	if after.Power != "poweredOn" || after.Cluster != before.Cluster || after.CPUs != 2 || after.MemoryMB != 4096 ||
		!slices.Equal(after.Networks, before.Networks) || len(after.Snapshots) != 0 || len(after.Markers) != 0 {
		t.Errorf("after rollback: %+v\nbefore: %+v", *after, *before)
	}
	// vCenter restores the hardware version with the snapshot revert; the
	// simulator's revert does not restore the VM's configuration.
	t.Logf("hardware after the revert: %s (was %s)", after.Hardware, before.Hardware)
}

// Power-off refuses to run before the power state is recorded, so that a
// rollback can always restore it.
func TestPowerOffNeedsTheRecordedPowerState(t *testing.T) {
	w := newWorld(t, actionsPlan, nil)
	a := w.p.Application("redep")
	st := strategy.Step{Kind: plan.StepPowerOff, Unit: "web-01", Phase: 1}
	err := strategy.ActionFor(st).Do(w.ctx, w.runtime(a, st))
	if err == nil || !strings.Contains(err.Error(), "record-state must run before power-off") {
		t.Errorf("power-off without a record: %v", err)
	}
	if vm := at(t, w.inventory(), "/DC-OLD/vm/web-01"); vm.Power != "poweredOn" {
		t.Errorf("web-01 is %s", vm.Power)
	}
}

func TestAFailingVerifyHookFailsTheVerifyStepWithItsOutput(t *testing.T) {
	w := newWorld(t, strings.Replace(actionsPlan,
		`hooks: {pre: ["echo pre $WAVECTL_APP"], verify: ["echo verifying $WAVECTL_VM at $WAVECTL_IP"], post: ["echo post"]}`,
		`hooks: {verify: ["echo fax test to $WAVECTL_IP failed; exit 1", "echo never runs"]}`, 1), nil)
	a := w.p.Application("repl")
	var err error
	for _, st := range strategy.Steps(a) {
		if _, err = w.step(a, st); err != nil {
			if st.Kind != plan.StepVerify {
				t.Fatalf("%s: %v", st.Kind, err)
			}
			break
		}
	}
	ip := w.outputs["repl/fax-gw-01"][strategy.OutIP]
	var herr *strategy.HookError
	if !errors.As(err, &herr) || herr.ExitCode != 1 || vsphere.IsTransient(err) || !strings.Contains(err.Error(), "fax test to "+ip+" failed") {
		t.Fatalf("verify: %v (want the hook's exit 1 and its output)", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.hookd) != 1 || !strings.HasPrefix(w.hookd[0], "verify/fax-gw-01/1: fax test to "+ip+" failed") {
		t.Errorf("recorded hook runs: %q", w.hookd)
	}
}

func TestATCPCheckThatNothingAnswersFailsVerify(t *testing.T) {
	w := newWorld(t, actionsPlan, nil)
	a := w.p.Application("redep")
	// A port the simulator was not seeded to serve.
	a.Checks = append(a.Checks, plan.Check{TCP: 18999, Timeout: plan.Duration(time.Second)})
	var err error
	for _, st := range strategy.Steps(a)[:3] {
		if _, err = w.step(a, st); err != nil {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), ":18999): no connection within 1s") || vsphere.IsTransient(err) {
		t.Errorf("verify with a closed port: %v", err)
	}
}

// writeOVA writes a one-VM OVA (1 vCPU, 256 MB, a 1 GB disk, a NIC on the
// OVF network called network).
func writeOVA(t *testing.T, path, network string) {
	t.Helper()
	disk := []byte("# Disk DescriptorFile\nversion=1\n") // the simulator discards disk content
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{{"tiny.ovf", []byte(strings.ReplaceAll(fmt.Sprintf(tinyOVF, len(disk)), "VM Network", network))}, {"tiny-disk1.vmdk", disk}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

const tinyOVF = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>
    <File ovf:href="tiny-disk1.vmdk" ovf:id="file1" ovf:size="%d"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The VM Network network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="tiny">
    <Info>A virtual machine</Info>
    <Name>tiny</Name>
    <OperatingSystemSection ovf:id="101" vmw:osType="otherLinux64Guest">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>tiny</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>1 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>256MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>256</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:ElementName>ethernet0</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`

const livePlan = `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: live}
vcenters: {lab: {url: "https://vc.example/sdk"}}
source: {vcenter: lab, datacenter: DC-OLD}
target: {datacenter: DC1, cluster: C1, datastore: ds1, folder: migrated, networks: {VM Network: pg-app}}
applications:
  - name: live
    strategy: remediate
    vms:
      - {name: on-01, hotAdd: true, hardwareVersion: vmx-13}
      - {name: off-01, hotAdd: true, hardwareVersion: vmx-13}
    remediate: {cpus: 4, hardwareVersion: vmx-19, hardwareUpgrade: nextReboot}
waves: [{name: w, applications: [live]}]
`

// Both VMs are planned live; off-01 is found off (the plan did not say):
// it moves, is upgraded at once (no reboot will come to do it) and is
// left off. on-01 moves running, grown by hot-add, its upgrade pending.
func TestALiveMoveOfAVMFoundOffMovesItAsItIs(t *testing.T) {
	w := newWorld(t, livePlan, nil)
	if err := w.d.PowerOff(w.ctx, at(t, w.inventory(), "/DC-OLD/vm/off-01").Ref); err != nil {
		t.Fatal(err)
	}
	w.apply("live")
	inv := w.inventory()
	on := at(t, inv, "/DC1/vm/migrated/on-01")
	got, err := w.d.VM(w.ctx, on.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if on.Power != vsphere.PoweredOn || on.CPUs != 4 || on.Hardware != "vmx-13" || got.ScheduledHardware != "vmx-19" {
		t.Errorf("on-01: %s, %d vCPU, %s (scheduled %q); want running, 4 vCPU, vmx-13 with vmx-19 scheduled", on.Power, on.CPUs, on.Hardware, got.ScheduledHardware)
	}
	off := at(t, inv, "/DC1/vm/migrated/off-01")
	if off.Power != vsphere.PoweredOff || off.Hardware != "vmx-19" || off.CPUs != 4 {
		t.Errorf("off-01: %s, %s, %d vCPU; want off, vmx-19, 4 vCPU", off.Power, off.Hardware, off.CPUs)
	}
}
