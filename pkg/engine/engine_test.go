package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/strategy"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// These tests drive the engine with fake step actions, to show its own
// rules: order, limits, retries, failures, windows and interrupts. What
// the actions do in vSphere is shown against the simulator in package
// strategy and in the end-to-end scripts.

// cluster is a fake driver that only knows a cluster's hosts.
type cluster struct {
	vsphere.Driver
	hosts []string
	uuid  string // the vCenter's instance UUID ("" is lab's)
}

func (c cluster) Name() string { return "lab" }

func (c cluster) WaitForTasks(context.Context, time.Duration) (int, error) { return 0, nil }

func (c cluster) InstanceUUID() string {
	if c.uuid == "" {
		return "5f1e0c9a-lab0-4000-8000-000000000001"
	}
	return c.uuid
}

func (c cluster) Inventory(ctx context.Context, dc string) (*vsphere.Inventory, error) {
	return &vsphere.Inventory{Datacenter: dc, Clusters: map[string]*vsphere.Cluster{"C1": {Name: "C1", Hosts: c.hosts}}}, nil
}

const header = `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: t}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: OLD}
target: {datacenter: NEW, cluster: C1, datastore: ds1}
`

// recorder is a fake set of actions that logs what ran, in order, and
// lets a test decide each step's outcome.
type recorder struct {
	mu      sync.Mutex
	log     []string
	undone  []string
	outcome func(app, unit, kind string, attempt int) error
	delay   time.Duration
	calls   map[string]int

	inFlight, peak int
	perHost        map[string]int
	perDS          map[string]int
	peakHost       map[string]int
	peakDS         map[string]int
}

func newRecorder() *recorder {
	return &recorder{calls: map[string]int{}, perHost: map[string]int{}, perDS: map[string]int{}, peakHost: map[string]int{}, peakDS: map[string]int{}}
}

func (r *recorder) actions(st strategy.Step) strategy.Action {
	return strategy.Action{
		Do: func(ctx context.Context, rt *strategy.Runtime) error {
			key := rt.App.Name + "/" + rt.Unit + "/" + st.Kind
			r.mu.Lock()
			r.calls[key]++
			attempt := r.calls[key]
			// Steps that hold a slot: a unit's, but for verification,
			// which puts no work on vCenter and holds none.
			slot := rt.Unit != "" && st.Kind != plan.StepVerify
			h, ds := rt.Placement.Host, rt.Placement.Datastore
			if slot {
				r.inFlight++
				r.peak = max(r.peak, r.inFlight)
				r.perHost[h]++
				r.perDS[ds]++
				r.peakHost[h] = max(r.peakHost[h], r.perHost[h])
				r.peakDS[ds] = max(r.peakDS[ds], r.perDS[ds])
			}
			r.mu.Unlock()
			time.Sleep(r.delay)
			r.mu.Lock()
			if slot {
				r.inFlight--
				r.perHost[h]--
				r.perDS[ds]--
			}
			r.mu.Unlock()
			var err error
			if r.outcome != nil {
				err = r.outcome(rt.App.Name, rt.Unit, st.Kind, attempt)
			}
			if err == nil {
				r.mu.Lock()
				r.log = append(r.log, key)
				r.mu.Unlock()
			}
			return err
		},
		Undo: func(ctx context.Context, rt *strategy.Runtime) error {
			r.mu.Lock()
			r.undone = append(r.undone, rt.App.Name+"/"+rt.Unit+"/"+st.Kind)
			r.mu.Unlock()
			return nil
		},
	}
}

func (r *recorder) ran(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.log {
		if k == key {
			return true
		}
	}
	return false
}

func (r *recorder) index(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, k := range r.log {
		if k == key {
			return i
		}
	}
	return -1
}

type fixture struct {
	p     *plan.Plan
	s     *schedule.Schedule
	store *state.File
	path  string
}

func setup(t *testing.T, body string) *fixture {
	t.Helper()
	p, _, err := plan.Load("t.yaml", []byte(header+body))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := schedule.Compile(p)
	path := filepath.Join(t.TempDir(), "t.state.json")
	store, err := state.Create(path, state.NewState("t", "t.yaml", p.Hash))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &fixture{p: p, s: s, store: store, path: path}
}

// options are a run's options with the fake actions and vCenter.
func (f *fixture) options(r *recorder, mod func(*engine.Options)) engine.Options {
	opts := engine.Options{Plan: f.p, Schedule: f.s, Store: f.store, Actions: r.actions,
		Drivers: func(context.Context, string) (vsphere.Driver, error) {
			return cluster{hosts: []string{"esx-1", "esx-2", "esx-3"}}, nil
		},
		RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond}
	if mod != nil {
		mod(&opts)
	}
	return opts
}

func (f *fixture) run(t *testing.T, ctx context.Context, r *recorder, mod func(*engine.Options)) *engine.Result {
	t.Helper()
	res, err := engine.Run(ctx, f.options(r, mod))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f *fixture) app(name string) *state.App {
	var out state.App
	f.store.View(func(st *state.State) { out = *st.App(name) })
	return &out
}

const fast = `estimates: {}
applications:
  - {name: db, strategy: remediate, move: cold, vms: [db-1, db-2]}
  - {name: app, strategy: redeploy, template: tpl, vms: [app-1], dependsOn: [db]}
  - {name: web, strategy: redeploy, template: tpl, vms: [web-1], dependsOn: [app]}
  - {name: docs, strategy: redeploy, template: tpl, vms: [docs-1]}
  - {name: fax, strategy: redeploy, template: tpl, vms: [fax-1], dependsOn: [db]}
waves:
  - {name: w1, applications: [web, app, db], onFailure: continue}
  - {name: w2, applications: [docs]}
conveyor: {applications: [fax]}
`

func TestEveryApplicationMovesAfterWhatItDependsOn(t *testing.T) {
	f := setup(t, fast)
	r := newRecorder()
	res := f.run(t, context.Background(), r, nil)
	if res.Status != engine.Succeeded {
		t.Fatalf("result %s: %s", res.Status, res.Note)
	}
	for _, name := range []string{"db", "app", "web", "docs", "fax"} {
		if a := f.app(name); a.Status != state.Done {
			t.Errorf("%s is %s (%s), want done", name, a.Status, a.Reason)
		}
	}
	// The last step of a dependency comes before the first of its dependent.
	for _, c := range []struct{ before, after string }{
		{"db/db-1/remove-snapshot", "app/app-1/clone"},
		{"db/db-2/remove-snapshot", "app/app-1/clone"},
		{"app/app-1/retire", "web/web-1/clone"},
		{"db/db-2/remove-snapshot", "fax/fax-1/clone"},
		{"web/web-1/retire", "docs/docs-1/clone"}, // waves run in order
	} {
		if b, a := r.index(c.before), r.index(c.after); b < 0 || a < 0 || b > a {
			t.Errorf("%s ran at %d, %s at %d: want the first before the second", c.before, b, c.after, a)
		}
	}
}

func TestARunAgainSkipsWhatIsDone(t *testing.T) {
	f := setup(t, fast)
	r := newRecorder()
	f.run(t, context.Background(), r, nil)
	first := len(r.log)
	res := f.run(t, context.Background(), r, nil)
	if res.Status != engine.Succeeded || len(r.log) != first {
		t.Errorf("second run: %s, %d more steps ran; want succeeded and none", res.Status, len(r.log)-first)
	}
}

func TestLimitsAreNeverExceeded(t *testing.T) {
	var vms []string
	for i := range 24 {
		vms = append(vms, fmt.Sprintf("vm-%02d", i))
	}
	f := setup(t, `limits: {concurrency: 5, perHost: 1, perDatastore: 4}
applications:
  - {name: big, strategy: redeploy, template: tpl, vms: [`+strings.Join(vms[:16], ", ")+`]}
  - {name: other, strategy: redeploy, template: tpl, vms: [`+strings.Join(vms[16:], ", ")+`], target: {datastore: ds2}}
waves: [{name: w1, applications: [big, other]}]
`)
	r := newRecorder()
	r.delay = 3 * time.Millisecond
	f.run(t, context.Background(), r, nil)
	// Three hosts at one each bound the run at three, below concurrency 5.
	if r.peak > 3 {
		t.Errorf("peak in flight %d, want at most 3 (3 hosts x perHost 1)", r.peak)
	}
	for h, n := range r.peakHost {
		if n > 1 {
			t.Errorf("host %s had %d units at once, want at most 1", h, n)
		}
	}
	for ds, n := range r.peakDS {
		if n > 3 {
			t.Errorf("datastore %s had %d units at once, want at most 3", ds, n)
		}
	}
	if r.peak < 3 || len(r.peakHost) != 3 {
		t.Errorf("peak %d over %d hosts: the limits should be used, not only respected", r.peak, len(r.peakHost))
	}
}

func TestTheDatastoreLimitBindsWhenHostsHaveRoom(t *testing.T) {
	var vms []string
	for i := range 12 {
		vms = append(vms, fmt.Sprintf("vm-%02d", i))
	}
	f := setup(t, `limits: {concurrency: 10, perHost: 8, perDatastore: 2}
applications:
  - {name: big, strategy: redeploy, template: tpl, vms: [`+strings.Join(vms, ", ")+`]}
waves: [{name: w1, applications: [big]}]
`)
	r := newRecorder()
	r.delay = 3 * time.Millisecond
	f.run(t, context.Background(), r, nil)
	if r.peakDS["ds1"] != 2 {
		t.Errorf("datastore ds1 peaked at %d units, want exactly its limit of 2", r.peakDS["ds1"])
	}
}

func TestTransientFaultsAreRetriedToSuccess(t *testing.T) {
	f := setup(t, fast)
	r := newRecorder()
	r.outcome = func(app, unit, kind string, attempt int) error {
		if app == "docs" && kind == plan.StepClone && attempt <= 2 {
			return &vsphere.Fault{Op: "clone", Object: unit, Kind: "HostCommunication", Message: "host not responding", Transient: true}
		}
		return nil
	}
	res := f.run(t, context.Background(), r, nil)
	if res.Status != engine.Succeeded {
		t.Fatalf("result %s: %s", res.Status, res.Note)
	}
	step := f.app("docs").Unit("docs-1").Step(plan.StepClone, 1)
	if step.Attempts != 3 || len(step.Retried) != 2 || !strings.Contains(step.Retried[0], "host not responding") {
		t.Errorf("clone step = %+v, want 3 attempts with 2 retried faults", step)
	}
}

func TestAPermanentFaultFailsItsApplicationAndSkipsItsDependents(t *testing.T) {
	f := setup(t, fast)
	r := newRecorder()
	r.outcome = func(app, unit, kind string, attempt int) error {
		if app == "app" && kind == plan.StepClone {
			return &vsphere.Fault{Op: "clone", Object: unit, Kind: "InvalidArgument", Message: "the template has no disk"}
		}
		return nil
	}
	res := f.run(t, context.Background(), r, nil)
	if res.Status != engine.FailedRun {
		t.Fatalf("result %s, want failed", res.Status)
	}
	if a := f.app("app"); a.Status != state.Failed || !strings.Contains(a.Reason, "the template has no disk") {
		t.Errorf("app: %s %q, want failed with the fault's text", a.Status, a.Reason)
	}
	if s := f.app("app").Unit("app-1").Step(plan.StepClone, 1); s.Attempts != 1 {
		t.Errorf("a permanent fault was tried %d times, want once", s.Attempts)
	}
	if a := f.app("web"); a.Status != state.Skipped || !strings.Contains(a.Reason, "depends on app, which failed") {
		t.Errorf("web: %s %q, want skipped because app failed", a.Status, a.Reason)
	}
	// onFailure: continue lets the wave go on, and the next wave runs.
	for _, name := range []string{"db", "docs", "fax"} {
		if a := f.app(name); a.Status != state.Done {
			t.Errorf("%s: %s, want done", name, a.Status)
		}
	}
}

func TestOnFailureStopStartsNothingNew(t *testing.T) {
	f := setup(t, strings.Replace(fast, "onFailure: continue", "onFailure: stop", 1))
	r := newRecorder()
	r.outcome = func(app, unit, kind string, attempt int) error {
		if app == "db" && unit == "db-1" && kind == plan.StepRelocate {
			return errors.New("relocate refused")
		}
		return nil
	}
	res := f.run(t, context.Background(), r, nil)
	if res.Status != engine.FailedRun {
		t.Fatalf("result %s, want failed", res.Status)
	}
	if r.ran("docs/docs-1/clone") {
		t.Error("wave w2 ran after wave w1 stopped on a failure")
	}
	if a := f.app("docs"); a.Status != state.Pending || !strings.Contains(a.Reason, "not started") {
		t.Errorf("docs: %s %q, want pending and not started", a.Status, a.Reason)
	}
}

func TestOnFailureRollbackUndoesTheFailedApplicationInReverse(t *testing.T) {
	f := setup(t, `applications:
  - {name: db, strategy: remediate, vms: [db-1], remediate: {hardwareVersion: vmx-19}}
waves: [{name: w1, applications: [db], onFailure: rollback}]
`)
	r := newRecorder()
	r.outcome = func(app, unit, kind string, attempt int) error {
		if kind == plan.StepRelocate {
			return errors.New("no route to datastore")
		}
		return nil
	}
	f.run(t, context.Background(), r, nil)
	// The failed relocate is undone too: it may have taken effect in part,
	// and undoing is idempotent.
	want := "db/db-1/relocate db/db-1/upgrade-hardware db/db-1/power-off db/db-1/snapshot db/db-1/record-state"
	if got := strings.Join(r.undone, " "); got != want {
		t.Errorf("undone %q, want %q", got, want)
	}
	if a := f.app("db"); a.Status != state.RolledBack || !strings.Contains(a.Reason, "no route to datastore") {
		t.Errorf("db: %s %q, want rolled back, saying why", a.Status, a.Reason)
	}
}

func TestAClosedWindowPausesAndALaterRunCarriesOn(t *testing.T) {
	f := setup(t, `applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a-1]}
  - {name: b, strategy: redeploy, template: tpl, vms: [b-1], dependsOn: [a]}
waves:
  - name: w1
    window: {start: "2027-03-05T18:00:00Z", end: "2027-03-05T20:00:00Z"}
    applications: [a, b]
`)
	var mu sync.Mutex
	now := time.Date(2027, 3, 5, 19, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r := newRecorder()
	r.outcome = func(app, unit, kind string, attempt int) error {
		if app == "a" && kind == plan.StepVerify {
			mu.Lock()
			now = now.Add(2 * time.Hour) // the window closes while a verifies
			mu.Unlock()
		}
		return nil
	}
	res := f.run(t, context.Background(), r, func(o *engine.Options) { o.Now = clock })
	if res.Status != engine.Paused || !strings.Contains(res.Note, "window closed") {
		t.Fatalf("result %s %q, want paused: window closed", res.Status, res.Note)
	}
	if !r.ran("a/a-1/verify") || r.ran("a/a-1/record-state") || r.ran("b/b-1/clone") {
		t.Errorf("ran %v: want a's in-flight verify finished and nothing new started", r.log)
	}
	if s := f.app("a").Unit("a-1").Step(plan.StepRecordState, 1); s.Status != state.Pending {
		t.Errorf("a's next step is %s, want pending", s.Status)
	}
	// In the next window the run carries on from a's next step.
	mu.Lock()
	now = time.Date(2027, 3, 5, 18, 30, 0, 0, time.UTC)
	mu.Unlock()
	r.outcome = nil
	before := len(r.log)
	res = f.run(t, context.Background(), r, func(o *engine.Options) { o.Now = clock })
	if res.Status != engine.Succeeded {
		t.Fatalf("second run %s: %s", res.Status, res.Note)
	}
	if r.log[before] != "a/a-1/record-state" {
		t.Errorf("the second run started with %s, want a's record-state", r.log[before])
	}
	if r.calls["a/a-1/clone"] != 1 {
		t.Errorf("a's clone ran %d times, want once", r.calls["a/a-1/clone"])
	}
}

func TestAWaveWhoseWindowHasNotOpenedWaits(t *testing.T) {
	f := setup(t, `applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a-1]}
waves:
  - {name: w1, window: {start: "2027-03-05T18:00:00Z", end: "2027-03-05T20:00:00Z"}, applications: [a]}
`)
	r := newRecorder()
	clock := func() time.Time { return time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC) }
	res := f.run(t, context.Background(), r, func(o *engine.Options) { o.Now = clock })
	if res.Status != engine.Paused || !strings.Contains(res.Note, "opens at 2027-03-05T18:00:00Z") || len(r.log) != 0 {
		t.Errorf("result %s %q with %d steps, want paused until the window opens and nothing done", res.Status, res.Note, len(r.log))
	}
	res = f.run(t, context.Background(), r, func(o *engine.Options) { o.Now = clock; o.IgnoreWindows = true })
	if res.Status != engine.Succeeded {
		t.Errorf("with IgnoreWindows: %s, want succeeded", res.Status)
	}
}

// A wave waiting for its window does not hold back the conveyor, which
// has none: it moves, and the run ends paused, saying when the window
// opens and how a rehearsal runs outside it.
func TestAWaveWaitingForItsWindowDoesNotHoldBackTheConveyor(t *testing.T) {
	f := setup(t, `applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a-1]}
  - {name: c, strategy: redeploy, template: tpl, vms: [c-1]}
waves:
  - {name: w1, window: {start: "2027-03-05T18:00:00Z", end: "2027-03-05T20:00:00Z"}, applications: [a]}
conveyor: {applications: [c]}
`)
	r := newRecorder()
	clock := func() time.Time { return time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC) }
	res := f.run(t, context.Background(), r, func(o *engine.Options) { o.Now = clock })
	if res.Status != engine.Paused || res.Note != "waiting for its window: wave w1's window opens at 2027-03-05T18:00:00Z (a rehearsal can pass --ignore-windows)" {
		t.Errorf("result %s %q, want paused until w1's window opens, naming --ignore-windows", res.Status, res.Note)
	}
	if f.app("c").Status != state.Done || !r.ran("c/c-1/clone") {
		t.Errorf("the conveyor's c is %s (ran %v), want done", f.app("c").Status, r.log)
	}
	if a := f.app("a"); a.Status != state.Pending || r.ran("a/a-1/clone") || !strings.Contains(a.Reason, "opens at") {
		t.Errorf("a is %s (%q), want pending until its window opens, nothing run", a.Status, a.Reason)
	}
}

func TestAnInterruptLetsInFlightStepsFinishAndStartsNothingNew(t *testing.T) {
	f := setup(t, fast)
	r := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	r.outcome = func(app, unit, kind string, attempt int) error {
		if app == "db" && unit == "db-1" && kind == plan.StepSnapshot {
			cancel() // Ctrl-C while db-1's snapshot is being taken
		}
		return nil
	}
	res := f.run(t, ctx, r, nil)
	if res.Status != engine.Interrupted {
		t.Fatalf("result %s, want interrupted", res.Status)
	}
	if !r.ran("db/db-1/snapshot") {
		t.Error("the in-flight snapshot did not finish")
	}
	if r.ran("db/db-1/power-off") || r.ran("app/app-1/clone") {
		t.Errorf("new work started after the interrupt: %v", r.log)
	}
	db := f.app("db")
	if s := db.Unit("db-1").Step(plan.StepSnapshot, 1); s.Status != state.Done {
		t.Errorf("the snapshot step is %s in the state, want done", s.Status)
	}
	if s := db.Unit("db-1").Step(plan.StepPowerOff, 1); s.Status != state.Pending {
		t.Errorf("the next step is %s in the state, want pending", s.Status)
	}
}

func TestScopeNarrowsTheRun(t *testing.T) {
	f := setup(t, fast)
	r := newRecorder()
	res := f.run(t, context.Background(), r, func(o *engine.Options) { o.Scope = engine.Scope{Conveyor: true} })
	// fax waits for db, which is outside the scope and not done.
	if a := f.app("fax"); a.Status != state.Skipped || !strings.Contains(a.Reason, "depends on db") {
		t.Errorf("fax: %s %q, want skipped for its dependency outside the scope", a.Status, a.Reason)
	}
	if r.ran("db/db-1/record-state") || res.Status != engine.FailedRun {
		t.Errorf("result %s, ran %v: want only the conveyor, failed", res.Status, r.log)
	}
	_, err := engine.Run(context.Background(), engine.Options{Plan: f.p, Schedule: f.s, Store: f.store, Scope: engine.Scope{Waves: []string{"nope"}}})
	var se *engine.ScopeError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "waves: w1, w2") {
		t.Errorf("err = %v, want a scope error listing the waves", err)
	}
}

func TestAFailingPostHookIsReportedButDoesNotFailTheApplication(t *testing.T) {
	f := setup(t, `applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a-1], hooks: {post: ["notify-cab"]}}
waves: [{name: w1, applications: [a]}]
`)
	r := newRecorder()
	r.outcome = func(app, unit, kind string, attempt int) error {
		if kind == plan.StepPostHook {
			return errors.New("notify-cab: exit status 1")
		}
		return nil
	}
	res := f.run(t, context.Background(), r, nil)
	if res.Status != engine.Succeeded {
		t.Fatalf("result %s %q, want succeeded", res.Status, res.Note)
	}
	s := f.app("a").Unit("").Step(plan.StepPostHook, 2)
	if s == nil || s.Status != state.Done || !strings.Contains(s.Error, "post hook failed (reported, not fatal): notify-cab") {
		t.Errorf("post-hook step = %+v, want done with the failure reported", s)
	}
}

// waveHooks is a fake hook runner that records wave hooks and fails the
// ones it is told to.
type waveHooks struct {
	mu   sync.Mutex
	ran  []string
	fail string
}

func (h *waveHooks) Run(context.Context, string, *strategy.Runtime) error { return nil }

func (h *waveHooks) RunWave(ctx context.Context, kind string, p *plan.Plan, w *plan.Wave) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ran = append(h.ran, w.Name+":"+kind)
	if h.fail == w.Name+":"+kind {
		return errors.New("change freeze is on")
	}
	return nil
}

func TestWaveHooksRunAroundTheirWaveAndAFailingPreHookHoldsItBack(t *testing.T) {
	body := `applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a-1]}
  - {name: b, strategy: redeploy, template: tpl, vms: [b-1]}
waves:
  - {name: w1, applications: [a], hooks: {pre: ["freeze on"], post: ["freeze off"]}}
  - {name: w2, applications: [b], hooks: {pre: ["freeze on"]}}
`
	f := setup(t, body)
	h := &waveHooks{}
	res := f.run(t, context.Background(), newRecorder(), func(o *engine.Options) {
		o.NewHooks = func(engine.HookRecorder) strategy.HookRunner { return h }
	})
	if res.Status != engine.Succeeded || strings.Join(h.ran, " ") != "w1:pre w1:post w2:pre w2:post" {
		t.Fatalf("result %s, wave hooks %v", res.Status, h.ran)
	}

	f = setup(t, body)
	h = &waveHooks{fail: "w1:pre"}
	r := newRecorder()
	res = f.run(t, context.Background(), r, func(o *engine.Options) {
		o.NewHooks = func(engine.HookRecorder) strategy.HookRunner { return h }
	})
	if res.Status != engine.FailedRun || len(r.log) != 0 {
		t.Errorf("result %s with %d steps run, want failed with nothing run", res.Status, len(r.log))
	}
	if a := f.app("a"); a.Status != state.Pending || !strings.Contains(a.Reason, "pre hook failed: change freeze is on") {
		t.Errorf("a: %s %q, want not started because of the wave's pre hook", a.Status, a.Reason)
	}
}

func TestALiveMoveIsMeasuredDownOnlyForItsSwitchOver(t *testing.T) {
	f := setup(t, `applications:
  - {name: db, strategy: remediate, users: 100, vms: [db-1]}
waves: [{name: w1, applications: [db]}]
`)
	var mu sync.Mutex
	now := time.Date(2027, 3, 5, 18, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
	f.run(t, context.Background(), newRecorder(), func(o *engine.Options) { o.Now = clock })
	db := f.app("db")
	so := db.Unit("db-1").Step(plan.StepSwitchOver, 1)
	if so == nil || so.Started == nil || so.Ended == nil {
		t.Fatalf("db-1 has no switch-over step recorded: %+v", db.Unit("db-1"))
	}
	if db.OutageStart == nil || !db.OutageStart.Equal(*so.Started) || !db.OutageEnd.Equal(*so.Ended) {
		t.Errorf("db outage %v to %v, want the switch-over's %v to %v", db.OutageStart, db.OutageEnd, so.Started, so.Ended)
	}
	if rel := db.Unit("db-1").Step(plan.StepRelocate, 1); rel == nil || !rel.Ended.Before(*db.OutageStart) && !rel.Ended.Equal(*db.OutageStart) {
		t.Errorf("the live relocate (%+v) counts as outage", rel)
	}
}

func TestOutageIsMeasuredFromTheFirstOutageStepToTheLastOne(t *testing.T) {
	f := setup(t, `applications:
  - {name: db, strategy: remediate, move: cold, users: 100, vms: [db-1, db-2]}
  - {name: web, strategy: redeploy, template: tpl, vms: [web-1]}
waves: [{name: w1, applications: [db, web]}]
`)
	var mu sync.Mutex
	now := time.Date(2027, 3, 5, 18, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second) // every reading of the clock is a second later
		return now
	}
	f.run(t, context.Background(), newRecorder(), func(o *engine.Options) { o.Now = clock })
	db := f.app("db")
	if db.OutageStart == nil || db.OutageEnd == nil || !db.OutageEnd.After(*db.OutageStart) {
		t.Fatalf("db outage %v to %v, want a start and a later end", db.OutageStart, db.OutageEnd)
	}
	// The outage starts with a power-off and ends with a verify.
	var firstOff, lastVerify time.Time
	for _, u := range db.Units {
		if s := u.Step(plan.StepPowerOff, 1); firstOff.IsZero() || s.Started.Before(firstOff) {
			firstOff = *s.Started
		}
		if s := u.Step(plan.StepVerify, 1); s.Ended.After(lastVerify) {
			lastVerify = *s.Ended
		}
	}
	if !db.OutageStart.Equal(firstOff) || !db.OutageEnd.Equal(lastVerify) {
		t.Errorf("db outage %v to %v, want %v (first power-off) to %v (last verify)", db.OutageStart, db.OutageEnd, firstOff, lastVerify)
	}
	if web := f.app("web"); web.OutageStart != nil || web.OutageEnd != nil {
		t.Errorf("web (redeploy) has an outage %v to %v; its old service ran until the new one verified", web.OutageStart, web.OutageEnd)
	}
}

func TestAUnitBeingVerifiedHoldsNoSlot(t *testing.T) {
	f := setup(t, `limits: {concurrency: 1, perHost: 1, perDatastore: 1}
applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a-1, a-2]}
waves: [{name: w1, applications: [a]}]
`)
	r := newRecorder()
	// The first VM to verify waits for the other's clone: with one slot,
	// that clone can only run while the verifying VM holds none.
	var once sync.Once
	cloned := map[string]chan struct{}{"a-1": make(chan struct{}), "a-2": make(chan struct{})}
	other := map[string]string{"a-1": "a-2", "a-2": "a-1"}
	r.outcome = func(app, unit, kind string, attempt int) error {
		switch kind {
		case plan.StepClone:
			close(cloned[unit])
		case plan.StepVerify:
			first := false
			once.Do(func() { first = true })
			if !first {
				return nil
			}
			select {
			case <-cloned[other[unit]]:
			case <-time.After(20 * time.Second):
				return fmt.Errorf("%s's clone did not run while %s was verified: verification held the only slot", other[unit], unit)
			}
		}
		return nil
	}
	res := f.run(t, context.Background(), r, nil)
	if res.Status != engine.Succeeded {
		t.Fatalf("result %s: %s %v", res.Status, res.Note, res.Failed)
	}
	if r.peak > 1 {
		t.Errorf("%d steps that hold a slot ran at once, want at most concurrency 1", r.peak)
	}
}

func TestTheApplicationsOthersWaitForGetTheFirstSlots(t *testing.T) {
	f := setup(t, `limits: {concurrency: 1, perHost: 1, perDatastore: 1}
applications:
  - {name: solo-1, strategy: redeploy, template: tpl, vms: [s-1]}
  - {name: solo-2, strategy: redeploy, template: tpl, vms: [s-2]}
  - {name: solo-3, strategy: redeploy, template: tpl, vms: [s-3]}
  - {name: solo-4, strategy: redeploy, template: tpl, vms: [s-4]}
  - {name: solo-5, strategy: redeploy, template: tpl, vms: [s-5]}
  - {name: base, strategy: redeploy, template: tpl, vms: [b-1]}
  - {name: top, strategy: redeploy, template: tpl, vms: [t-1], dependsOn: [base]}
waves: [{name: w1, applications: [solo-1, solo-2, solo-3, solo-4, solo-5, base, top]}]
`)
	r := newRecorder()
	res := f.run(t, context.Background(), r, nil)
	if res.Status != engine.Succeeded {
		t.Fatalf("result %s: %s", res.Status, res.Note)
	}
	// base carries top's work after it: the longest critical path, so it
	// goes first (or second: the first unit to reach a free slot takes
	// it), so that top can start while independent work remains.
	var clones []string
	for _, k := range r.log {
		if strings.HasSuffix(k, "/clone") {
			clones = append(clones, k)
		}
	}
	if i := slices.Index(clones, "base/b-1/clone"); i < 0 || i > 1 {
		t.Errorf("base's clone was clone %d of the run, want the first or second: %v", i+1, clones)
	}

}
