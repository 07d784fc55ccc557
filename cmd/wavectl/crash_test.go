package main

// The crash-safety guarantee, tested the hard way: wavectl is killed with
// SIGKILL at random moments of an apply and of the resumes that follow,
// until a resume finishes; vCenter's inventory, read independently of
// wavectl, must then be the one an uninterrupted run of the same plan
// leaves: the same VMs in the same places, in the same power states, with
// the same hardware, no duplicates, no half-made VMs, no snapshots; and the
// state must say done for everything.
//
// WAVECTL_CRASH_KILLS sets how many kills a test makes at least (default
// 25); WAVECTL_CRASH_SEED fixes the random kill moments (default: a new
// seed each run, printed, so that a failure can be replayed).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/state/postgres"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

// crashPlan has every strategy, two waves (onFailure: continue), the
// conveyor with two in flight, dependencies and TCP checks: 21 units.
var crashPlan = filepath.Join("..", "..", "testdata", "crash", "plan.yaml")

// crashDelays make the long tasks long enough for kills to land inside
// them (the simulator keeps running them after wavectl dies, as vCenter
// would). Jitter varies them.
var crashDelays = map[string]time.Duration{
	"CloneVM_Task":        120 * time.Millisecond,
	"CreateVM_Task":       100 * time.Millisecond,
	"RelocateVM_Task":     120 * time.Millisecond,
	"PowerOnVM_Task":      60 * time.Millisecond,
	"CreateSnapshot_Task": 100 * time.Millisecond,
	"RemoveSnapshot_Task": 80 * time.Millisecond,
	"MoveIntoFolder_Task": 40 * time.Millisecond,
}

// crashFaultOps are the operations that fail now and then in the
// transient-fault variant: every task wavectl starts, and guest shutdown.
var crashFaultOps = []string{
	"CloneVM_Task", "CreateVM_Task", "RelocateVM_Task", "ReconfigVM_Task", "UpgradeVM_Task",
	"PowerOnVM_Task", "PowerOffVM_Task", "CreateSnapshot_Task", "RemoveSnapshot_Task",
	"MoveIntoFolder_Task", "ShutdownGuest",
}

func TestKillAnywhereThenResumeConverges(t *testing.T) {
	testKillAnywhere(t, false, nil)
}

func TestKillAnywhereWithTransientFaultsConverges(t *testing.T) {
	testKillAnywhere(t, true, nil)
}

// The same with the record in PostgreSQL (--state postgres://...): every
// kill leaves a lease behind, which the next resume on this host takes
// over at once, and every committed journal row is there to resume from.
func TestKillAnywhereWithPostgresStateConverges(t *testing.T) {
	s, err := scriptPGServer()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is needed in CI and could not be started: %v", err)
		}
		t.Skipf("no PostgreSQL server could be started here (%v)", err)
	}
	if os.Getenv("WAVECTL_CRASH_KILLS") == "" {
		t.Setenv("WAVECTL_CRASH_KILLS", "10") // a database per cycle: fewer kills in make test
	}
	testKillAnywhere(t, false, func(t *testing.T) string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		name, err := s.CreateDB(ctx, "crash")
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("PGPASSWORD", s.Password)
		db, err := postgres.Open(ctx, s.URL(name))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return s.URL(name)
	})
}

// testKillAnywhere kills runs at random moments until one finishes, and
// compares the end with an uninterrupted run's. newStore, when set, makes
// a --state for each cycle (a database); otherwise the record is a file.
func testKillAnywhere(t *testing.T, faults bool, newStore func(*testing.T) string) {
	if testing.Short() {
		t.Skip("kills wavectl dozens of times; skipped with -short")
	}
	// Every kill drops the simulator's connections mid-handshake or
	// mid-request, and its HTTP server logs each one.
	log.SetOutput(io.Discard)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	want := envInt(t, "WAVECTL_CRASH_KILLS", 25)
	seed := int64(envInt(t, "WAVECTL_CRASH_SEED", int(time.Now().UnixNano()%1e9)))
	t.Logf("kills wanted: %d; seed %d (WAVECTL_CRASH_SEED=%d draws the same kill moments again)", want, seed, seed)
	rng := rand.New(rand.NewSource(seed))

	ref := referenceInventory(t)
	start := time.Now()
	kills, cycles := 0, 0
	for kills < want {
		cycles++
		opts := sim.Options{Delays: crashDelays, Jitter: 0.3, Seed: seed + int64(cycles)}
		if faults {
			for _, op := range crashFaultOps {
				opts.Faults = append(opts.Faults, sim.Fault{Op: op, Fraction: 0.05, Transient: true})
			}
		}
		c := newCrashRun(t, opts)
		if newStore != nil {
			c.stateRef = newStore(t)
			c.env = append(c.env, "PGPASSWORD="+os.Getenv("PGPASSWORD"))
		}
		began := time.Now()
		n, retried := c.killUntilDone(rng, 10*want+100)
		kills += n
		c.checkDone()
		got := c.inventory()
		checkNoDuplicates(t, got)
		checkNoSnapshots(t, got)
		if diff := diffInventories(ref, got); diff != "" {
			t.Errorf("cycle %d: after %d kills and resume, vCenter's inventory differs from an uninterrupted run's (- only uninterrupted, + only killed and resumed, ~ differs: uninterrupted -> killed and resumed):\n%s", cycles, n, diff)
		}
		if faults {
			t.Logf("cycle %d: %d kills before a resume finished, %s; %d step attempts retried after transient faults", cycles, n, time.Since(began).Round(time.Millisecond), retried)
		} else {
			t.Logf("cycle %d: %d kills before a resume finished, %s", cycles, n, time.Since(began).Round(time.Millisecond))
		}
		c.close()
		if t.Failed() {
			break
		}
	}
	t.Logf("%d kills in %d cycles, %s; each cycle compared with the uninterrupted run", kills, cycles, time.Since(start).Round(time.Millisecond))
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a whole number", name, v)
	}
	return n
}

var (
	refOnce sync.Once
	refInv  []normVM
	refErr  string
)

// referenceInventory is the inventory an uninterrupted apply of the crash
// plan leaves, on a simulator with the same delays and no faults. Both
// tests compare with it; it is made once.
func referenceInventory(t *testing.T) []normVM {
	t.Helper()
	refOnce.Do(func() {
		began := time.Now()
		c := newCrashRun(t, sim.Options{Delays: crashDelays, Jitter: 0.3, Seed: 1})
		defer c.close()
		o := c.run(c.applyArgs(), nil)
		if o.code != 0 {
			refErr = fmt.Sprintf("the uninterrupted apply exited with %d:\n%s\n%s", o.code, o.stdout, tail(o.stderr, 4000))
			return
		}
		c.checkDone()
		refInv = c.inventory()
		t.Logf("uninterrupted run: %d VMs and templates, %s", len(refInv), time.Since(began).Round(time.Millisecond))
	})
	if refErr != "" {
		t.Fatal(refErr)
	}
	if refInv == nil {
		t.Fatal("no reference inventory (an earlier test failed making it)")
	}
	return refInv
}

// crashRun is one simulator and one working folder holding the plan and
// its state.
type crashRun struct {
	t   *testing.T
	bin string
	dir string
	env []string
	s   *sim.Sim
	sum map[string]string // the simulator's connection settings
	// stateRef is the --state of a record in a database; "" is the
	// default state file.
	stateRef string
}

func newCrashRun(t *testing.T, opts sim.Options) *crashRun {
	t.Helper()
	// testscript.Main (TestMain) put this test binary on $PATH as wavectl.
	bin, err := exec.LookPath("wavectl")
	if err != nil {
		t.Fatalf("wavectl is not on PATH (TestMain sets it up): %v", err)
	}
	dir := t.TempDir()
	data, err := os.ReadFile(crashPlan)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plan.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	p, _, err := plan.LoadFile(filepath.Join(dir, "plan.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Close (twice is fine) also restores the simulator's process-wide
	// task delays, which the scripts' simulators would otherwise inherit.
	t.Cleanup(func() { s.Close() })
	if _, err := s.Start(sim.DefaultListen); err != nil {
		t.Fatal(err)
	}
	c := &crashRun{t: t, bin: bin, dir: dir, s: s, sum: map[string]string{}}
	for _, kv := range os.Environ() {
		// Only the simulator's settings: none from the environment.
		if !strings.HasPrefix(kv, "WAVECTL_") && !strings.HasPrefix(kv, "GOVC_") {
			c.env = append(c.env, kv)
		}
	}
	for _, line := range s.Env() {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if ok {
			v = strings.Trim(v, "'")
			c.env = append(c.env, k+"="+v)
			c.sum[k] = v
		}
	}
	c.env = append(c.env, "HOME="+dir)
	return c
}

func (c *crashRun) close() { c.s.Close() }

func (c *crashRun) statePath() string { return filepath.Join(c.dir, "crash.state.json") }

// readState reads the run's record, from its file or its database.
func (c *crashRun) readState() (*state.State, error) {
	if c.stateRef == "" {
		return state.Read(c.statePath())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := postgres.OpenBackend(ctx, c.stateRef, "crash")
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return b.Read(ctx)
}

func (c *crashRun) stateArgs() []string {
	if c.stateRef == "" {
		return nil
	}
	return []string{"--state", c.stateRef}
}

func (c *crashRun) applyArgs() []string {
	return append([]string{"apply", "--yes", "--retry-base", "20ms", "--verify-timeout", "1m", "plan.yaml"}, c.stateArgs()...)
}

func (c *crashRun) resumeArgs() []string {
	return append([]string{"resume", "--yes", "--retry-base", "20ms", "--verify-timeout", "1m"}, c.stateArgs()...)
}

type outcome struct {
	code           int
	killed         bool
	stdout, stderr string
	took           time.Duration
}

// killAt says when run kills wavectl: a random moment of the run's own
// work (after its "run-started" event: the state is open and the run
// recorded in it), or, for early kills, a random moment after the process
// started, whatever it is doing then. Measuring from run-started keeps the
// kills landing inside steps on a loaded machine, where starting a process
// takes longer.
type killAt struct {
	after time.Duration
	early bool
}

// run runs wavectl in the run's folder; with a kill, it is killed with
// SIGKILL at that moment unless it has ended by then.
func (c *crashRun) run(args []string, kill *killAt) outcome {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Dir, cmd.Env = c.dir, c.env
	var stdout bytes.Buffer
	stderr := &watchWriter{needle: []byte(`"event":"run-started"`), seen: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	began := time.Now()
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	limit := time.NewTimer(3 * time.Minute)
	defer limit.Stop()
	var fire <-chan time.Time
	var started <-chan struct{}
	switch {
	case kill == nil:
	case kill.early:
		fire = time.After(kill.after)
	default:
		started = stderr.seen
	}
	for ended := false; !ended; {
		select {
		case <-done:
			ended = true
		case <-started:
			started, fire = nil, time.After(kill.after)
		case <-fire:
			_ = cmd.Process.Kill() // SIGKILL: no handler, no clean-up
			<-done
			ended = true
		case <-limit.C:
			_ = cmd.Process.Kill()
			<-done
			c.t.Fatalf("wavectl %s did not end within 3 minutes:\n%s\n%s", strings.Join(args, " "), stdout.String(), tail(stderr.String(), 4000))
		}
	}
	o := outcome{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String(), took: time.Since(began)}
	o.killed = o.code == -1 // ended by a signal: ours
	if crash.MatchString(o.stdout) || crash.MatchString(o.stderr) {
		c.t.Errorf("wavectl %s panicked:\n%s", strings.Join(args, " "), tail(o.stderr, 4000))
	}
	return o
}

// watchWriter keeps what is written and closes seen once it holds needle.
type watchWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	needle []byte
	seen   chan struct{}
	closed bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.closed && bytes.Contains(w.buf.Bytes(), w.needle) {
		w.closed = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// killUntilDone applies the plan and resumes it, killing each run at a
// random moment, until one finishes: one run in six 0-150ms after it
// started, the others 50-400ms into their own work. It returns the number
// of kills and of retried step attempts. A run that ends on its own must
// succeed: with only transient faults, nothing may fail.
func (c *crashRun) killUntilDone(rng *rand.Rand, max int) (kills, retried int) {
	c.t.Helper()
	failures := 0
	for {
		args := c.resumeArgs()
		if _, err := c.readState(); err != nil {
			// Killed before the state was written: apply again.
			args = c.applyArgs()
		}
		kill := &killAt{after: time.Duration(50+rng.Intn(351)) * time.Millisecond}
		if rng.Intn(6) == 0 {
			kill = &killAt{after: time.Duration(rng.Intn(151)) * time.Millisecond, early: true}
		}
		o := c.run(args, kill)
		switch {
		case o.killed:
			kills++
			if kills > max {
				c.t.Fatalf("no run finished in %d kills: the run makes no progress between kills", max)
			}
			continue
		case o.code != 0:
			// Resumed again, a transient failure goes away; one that
			// does not is reported once, and ends the test.
			if failures++; failures == 1 {
				c.t.Errorf("wavectl %s ended on its own (after %d kills) with exit code %d, not 0:\n%s\n%s",
					strings.Join(args, " "), kills, o.code, o.stdout, eventLines(o.stderr, `"step-failed"`, `"level":"error"`, `"level":"warn"`))
			}
			if failures >= 3 {
				c.t.Fatalf("resumed %d times more, wavectl still ends with exit code %d", failures-1, o.code)
			}
			continue
		}
		st, err := c.readState()
		if err != nil {
			c.t.Fatalf("read the state: %v", err)
		}
		for _, a := range st.Apps {
			for _, u := range a.Units {
				for _, s := range u.Steps {
					retried += len(s.Retried)
				}
			}
		}
		return kills, retried
	}
}

// checkDone checks the state says done for every application, unit and
// step, except the decommissions that wait for their retention period.
func (c *crashRun) checkDone() {
	c.t.Helper()
	st, err := c.readState()
	if err != nil {
		c.t.Fatalf("read the state: %v", err)
	}
	if r := st.CurrentRun(); r == nil || r.Result != "succeeded" {
		c.t.Errorf("the last run's result is %+v, want succeeded", r)
	}
	if len(st.Apps) != 12 {
		c.t.Errorf("the state records %d applications, want 12", len(st.Apps))
	}
	for _, a := range st.Apps {
		if a.Status != state.Done {
			c.t.Errorf("application %s is %s (%s), want done", a.Name, a.Status, a.Reason)
		}
		for _, u := range a.Units {
			if u.Status != state.Done {
				c.t.Errorf("%s/%s is %s, want done", a.Name, u.Name, u.Status)
			}
			for _, s := range u.Steps {
				want := state.Done
				if s.Kind == plan.StepDecommission {
					want = state.Deferred
				}
				if s.Status != want {
					c.t.Errorf("%s/%s step %s is %s (%s), want %s", a.Name, u.Name, s.Kind, s.Status, s.Error, want)
				}
			}
		}
	}
}

// inventory reads what the simulator holds, normalised, sorted.
func (c *crashRun) inventory() []normVM {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vms, err := readInventory(ctx, c.sum["GOVC_URL"], c.sum["GOVC_USERNAME"], c.sum["GOVC_PASSWORD"])
	if err != nil {
		c.t.Fatalf("inventory: %v", err)
	}
	out := make([]normVM, 0, len(vms))
	for _, vm := range vms {
		out = append(out, vm.normal())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// invVM is one VM (or template) as vCenter holds it, read independently
// of wavectl: the same fields as the scripts' inventory command, with the
// folder as a path and the host's cluster.
type invVM struct {
	Name       string
	Folder     string // inventory path of the VM's folder: DC1/vm/migrated
	Host       string
	Cluster    string
	Datastores []string
	Power      string
	Template   bool
	Version    string
	CPUs       int
	MemoryMB   int
	DisksGB    []string
	Networks   []string
	Snapshots  int // every snapshot in the tree
	Markers    map[string]string
}

// normal is the VM without what legitimately differs from one run to
// another: references, the host (chosen by load within the cluster), guest
// IPs, and the time a VM was retired. What the source VM looked like before
// wavectl touched it (wavectl.recorded) is kept, less its reference and
// host. The key is the VM's folder and name.
func (v invVM) normal() normVM {
	n := normVM{Key: v.Folder + "/" + v.Name, Fields: []string{
		"cluster=" + v.Cluster,
		"ds=" + strings.Join(v.Datastores, ","),
		"power=" + v.Power,
		"template=" + strconv.FormatBool(v.Template),
		"version=" + v.Version,
		"cpus=" + strconv.Itoa(v.CPUs),
		"memoryMB=" + strconv.Itoa(v.MemoryMB),
		"disksGB=" + strings.Join(v.DisksGB, ","),
		"nets=" + strings.Join(v.Networks, ","),
		"snapshots=" + strconv.Itoa(v.Snapshots),
	}}
	var markers []string
	for k, val := range v.Markers {
		switch k {
		case "wavectl.retiredAt":
			if _, err := time.Parse(time.RFC3339, val); err == nil {
				val = "<time>"
			}
		case "wavectl.recorded":
			var rec map[string]string
			if err := json.Unmarshal([]byte(val), &rec); err == nil {
				delete(rec, "source")
				delete(rec, "host")
				b, _ := json.Marshal(rec)
				val = string(b)
			}
		}
		markers = append(markers, k+"="+val)
	}
	sort.Strings(markers)
	n.Fields = append(n.Fields, markers...)
	return n
}

// normVM is a VM as the tests compare it: its folder and name, and its
// fields as name=value.
type normVM struct {
	Key    string
	Fields []string
}

func (n normVM) String() string { return n.Key + " " + strings.Join(n.Fields, " ") }

// readInventory reads every VM through govmomi's property collector, as
// the scripts' inventory command does (see cmdInventory).
func readInventory(ctx context.Context, rawURL, user, pass string) ([]invVM, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("URL %q: %v", rawURL, err)
	}
	u.User = url.UserPassword(user, pass)
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Logout(ctx) }()
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, err
	}
	defer func() { _ = v.Destroy(ctx) }()
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "parent", "runtime.host", "datastore", "runtime.powerState", "config", "snapshot"}, &vms); err != nil {
		return nil, err
	}
	pgv, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"DistributedVirtualPortgroup"}, true)
	if err != nil {
		return nil, err
	}
	defer func() { _ = pgv.Destroy(ctx) }()
	var pgs []mo.DistributedVirtualPortgroup
	if err := pgv.Retrieve(ctx, []string{"DistributedVirtualPortgroup"}, []string{"name", "key"}, &pgs); err != nil {
		return nil, err
	}
	portgroups := map[string]string{}
	for _, pg := range pgs {
		portgroups[pg.Key] = pg.Name
	}
	type entity struct {
		name   string
		parent *types.ManagedObjectReference
	}
	entities := map[types.ManagedObjectReference]entity{}
	read := func(ref types.ManagedObjectReference) (entity, error) {
		if e, ok := entities[ref]; ok {
			return e, nil
		}
		var me mo.ManagedEntity
		if err := c.RetrieveOne(ctx, ref, []string{"name", "parent"}, &me); err != nil {
			return entity{}, err
		}
		e := entity{name: me.Name, parent: me.Parent}
		entities[ref] = e
		return e, nil
	}
	name := func(ref *types.ManagedObjectReference) (string, error) {
		if ref == nil {
			return "-", nil
		}
		e, err := read(*ref)
		return e.name, err
	}
	// path is the inventory path below the root folder.
	path := func(ref *types.ManagedObjectReference) (string, error) {
		var parts []string
		for ref != nil && *ref != c.ServiceContent.RootFolder {
			e, err := read(*ref)
			if err != nil {
				return "", err
			}
			parts = append([]string{e.name}, parts...)
			ref = e.parent
		}
		return strings.Join(parts, "/"), nil
	}
	var out []invVM
	for _, vm := range vms {
		iv := invVM{Name: vm.Name, Power: string(vm.Runtime.PowerState), Markers: map[string]string{}}
		if iv.Folder, err = path(vm.Parent); err != nil {
			return nil, err
		}
		if iv.Host, err = name(vm.Runtime.Host); err != nil {
			return nil, err
		}
		if vm.Runtime.Host != nil {
			h, err := read(*vm.Runtime.Host)
			if err != nil {
				return nil, err
			}
			if iv.Cluster, err = name(h.parent); err != nil {
				return nil, err
			}
		}
		for i := range vm.Datastore {
			n, err := name(&vm.Datastore[i])
			if err != nil {
				return nil, err
			}
			iv.Datastores = append(iv.Datastores, n)
		}
		sort.Strings(iv.Datastores)
		if cfg := vm.Config; cfg != nil {
			iv.Template, iv.Version = cfg.Template, cfg.Version
			iv.CPUs, iv.MemoryMB = int(cfg.Hardware.NumCPU), int(cfg.Hardware.MemoryMB)
			for _, dev := range cfg.Hardware.Device {
				switch d := dev.(type) {
				case *types.VirtualDisk:
					iv.DisksGB = append(iv.DisksGB, fmt.Sprint(d.CapacityInKB/(1<<20)))
				case types.BaseVirtualEthernetCard:
					// Each NIC's backing, not the VM's network list (which
					// the simulator leaves empty), says where it is.
					switch b := d.GetVirtualEthernetCard().Backing.(type) {
					case *types.VirtualEthernetCardNetworkBackingInfo:
						iv.Networks = append(iv.Networks, b.DeviceName)
					case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
						iv.Networks = append(iv.Networks, portgroups[b.Port.PortgroupKey])
					}
				}
			}
			sort.Strings(iv.Networks)
			for _, o := range cfg.ExtraConfig {
				if kv := o.GetOptionValue(); strings.HasPrefix(kv.Key, "wavectl.") {
					iv.Markers[kv.Key] = fmt.Sprint(kv.Value)
				}
			}
		}
		if vm.Snapshot != nil {
			iv.Snapshots = countSnapshots(vm.Snapshot.RootSnapshotList)
		}
		out = append(out, iv)
	}
	return out, nil
}

func countSnapshots(list []types.VirtualMachineSnapshotTree) int {
	n := len(list)
	for _, s := range list {
		n += countSnapshots(s.ChildSnapshotList)
	}
	return n
}

// checkNoDuplicates fails when two VMs share a name in one folder.
func checkNoDuplicates(t *testing.T, vms []normVM) {
	t.Helper()
	seen := map[string]int{}
	for _, vm := range vms {
		seen[vm.Key]++
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("%d VMs are %s", n, k)
		}
	}
}

// checkNoSnapshots fails when a VM still has a snapshot.
func checkNoSnapshots(t *testing.T, vms []normVM) {
	t.Helper()
	for _, vm := range vms {
		if !slices.Contains(vm.Fields, "snapshots=0") {
			t.Errorf("a snapshot is left: %s", vm)
		}
	}
}

// diffInventories says how got differs from want ("" when it does not):
// VMs only one side has, whole, and for a VM both have, the fields that
// differ.
func diffInventories(want, got []normVM) string {
	byKey := func(vms []normVM) map[string][]normVM {
		m := map[string][]normVM{}
		for _, vm := range vms {
			m[vm.Key] = append(m[vm.Key], vm)
		}
		return m
	}
	w, g := byKey(want), byKey(got)
	keys := map[string]bool{}
	for k := range w {
		keys[k] = true
	}
	for k := range g {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		a, b := w[k], g[k]
		if len(a) == 1 && len(b) == 1 {
			if d := diffFields(a[0].Fields, b[0].Fields); d != "" {
				out = append(out, "~ "+k+": "+d)
			}
			continue
		}
		for _, vm := range a {
			if !slices.ContainsFunc(b, func(x normVM) bool { return x.String() == vm.String() }) {
				out = append(out, "- "+vm.String())
			}
		}
		for _, vm := range b {
			if !slices.ContainsFunc(a, func(x normVM) bool { return x.String() == vm.String() }) {
				out = append(out, "+ "+vm.String())
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][2:] < out[j][2:] })
	return strings.Join(out, "\n")
}

// diffFields lists the name=value fields that differ, as "name: want -> got".
func diffFields(want, got []string) string {
	split := func(fields []string) map[string]string {
		m := map[string]string{}
		for _, f := range fields {
			k, v, _ := strings.Cut(f, "=")
			m[k] = v
		}
		return m
	}
	w, g := split(want), split(got)
	var out []string
	for k, v := range w {
		if gv, ok := g[k]; !ok {
			out = append(out, fmt.Sprintf("%s: %q -> none", k, v))
		} else if gv != v {
			out = append(out, fmt.Sprintf("%s: %q -> %q", k, v, gv))
		}
	}
	for k, v := range g {
		if _, ok := w[k]; !ok {
			out = append(out, fmt.Sprintf("%s: none -> %q", k, v))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// eventLines are the log lines that contain any of the words.
func eventLines(log string, words ...string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return tail(strings.Join(out, "\n"), 6000)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
