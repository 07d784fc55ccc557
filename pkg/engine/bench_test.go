package engine_test

import (
	"context"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/state/pgtest"
	"github.com/wavectl/wavectl/pkg/state/postgres"
	"github.com/wavectl/wavectl/pkg/strategy"
	"github.com/wavectl/wavectl/pkg/vsphere"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

const referencePlan = "../../plans/crown-hosting.yaml"

// countingClient logs in to the simulator through a requestCounter.
func countingClient(b testing.TB, s *sim.Sim) (*vim25.Client, *requestCounter) {
	b.Helper()
	ctx := context.Background()
	u, err := s.Start("")
	if err != nil {
		b.Fatal(err)
	}
	sc := soap.NewClient(u, true)
	sc.DefaultTransport().MaxIdleConnsPerHost = vsphere.MaxIdleConns // as vsphere.Connect does
	cnt := &requestCounter{base: sc.Transport, n: map[string]int{}}
	sc.Transport = cnt
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		b.Fatal(err)
	}
	if err := session.NewManager(vc).Login(ctx, u.User); err != nil {
		b.Fatal(err)
	}
	return vc, cnt
}

// heapPeak samples the Go heap every few milliseconds until stopped.
func heapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	var peak uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64() - sample[1].Value.Uint64(); v > peak {
				peak = v
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak }
}

// loadReference loads the reference programme, or the plan that
// WAVECTL_BENCH_PLAN names (to look at one feature's costs quickly).
func loadReference(b *testing.B) *plan.Plan {
	b.Helper()
	file := referencePlan
	if f := os.Getenv("WAVECTL_BENCH_PLAN"); f != "" {
		file = f
	}
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	p, probs, err := plan.Load(file, data)
	if err != nil || probs.Errors() > 0 {
		b.Fatalf("reference plan: %v %v", err, probs)
	}
	return p
}

// benchRun is one run of a plan against a fresh in-process simulator.
type benchRun struct {
	wall  time.Duration
	peak  uint64 // bytes
	reqs  *requestCounter
	store state.Stats
	hosts map[string]int // hosts per target cluster, as the simulator has them
}

// runAgainstSim applies p (all of it, windows ignored) against a new
// simulator with opts, timing engine.Run and the store's close.
func runAgainstSim(b *testing.B, p *plan.Plan, sched *schedule.Schedule, opts sim.Options, scope engine.Scope) benchRun {
	b.Helper()
	return runAgainstSimWith(b, p, sched, opts, scope, func(st *state.State) state.Store {
		store, err := state.Create(filepath.Join(b.TempDir(), "ref.state.json"), st)
		if err != nil {
			b.Fatal(err)
		}
		return store
	})
}

// statsOf is a store's counters, for the stores that keep them.
func statsOf(s state.Store) state.Stats {
	if st, ok := s.(interface{ Stats() state.Stats }); ok {
		return st.Stats()
	}
	return state.Stats{}
}

// runAgainstSimWith is runAgainstSim with the record in the store that
// newStore makes.
func runAgainstSimWith(b *testing.B, p *plan.Plan, sched *schedule.Schedule, opts sim.Options, scope engine.Scope,
	newStore func(*state.State) state.Store) benchRun {
	b.Helper()
	log.SetOutput(io.Discard) // the simulator's own chatter
	defer log.SetOutput(os.Stderr)
	s, err := sim.New(p, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	vc, cnt := countingClient(b, s)
	store := newStore(state.NewState(p.Metadata.Name, p.File, p.Hash))
	drivers := map[string]vsphere.Driver{}
	var mu sync.Mutex
	driver := func(_ context.Context, name string) (vsphere.Driver, error) {
		mu.Lock()
		defer mu.Unlock()
		if d, ok := drivers[name]; ok {
			return d, nil
		}
		d := vsphere.NewGovmomi(name, vc)
		// One simulator serves every vCenter name: they are one vCenter.
		for other, od := range drivers {
			d.AddAlias(other)
			od.(*vsphere.Govmomi).AddAlias(name)
		}
		drivers[name] = d
		return d, nil
	}
	hosts := map[string]int{}
	d, _ := driver(context.Background(), p.Target.VCenter)
	dcs := map[string]bool{}
	for _, a := range p.Applications {
		dcs[a.Resolved.Datacenter] = true
	}
	for dc := range dcs {
		inv, err := d.Inventory(context.Background(), dc)
		if err != nil {
			b.Fatal(err)
		}
		for name, c := range inv.Clusters {
			hosts[name] = len(c.Hosts)
		}
	}
	cnt.reset() // count the run's requests, not the setup's
	stopPeak := heapPeak()
	start := time.Now()
	res, err := engine.Run(context.Background(), engine.Options{Plan: p, Schedule: sched, Store: store, Dial: s.DialContext,
		IgnoreWindows: true, Drivers: driver, Scope: scope,
		NewHooks: func(record engine.HookRecorder) strategy.HookRunner {
			return &strategy.ShellHooks{Dir: filepath.Dir(p.File), Record: record}
		}})
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	r := benchRun{wall: time.Since(start), peak: stopPeak(), reqs: cnt, store: statsOf(store), hosts: hosts}
	if err != nil || res.Status != engine.Succeeded {
		b.Fatalf("run: %v %+v", err, res)
	}
	return r
}

// BenchmarkApplyReference applies the whole reference programme (60+
// applications, 1,500+ VMs) against the in-process simulator with no task
// delays: what wavectl itself costs at full size. It reports the vCenter
// API requests per migrated VM (counted at the HTTP transport), the share
// of the run the state store spent keeping the record durable, and the
// peak memory of the process (wavectl and the simulator together).
func BenchmarkApplyReference(b *testing.B) {
	p := loadReference(b)
	sched, _ := schedule.Compile(p)
	for b.Loop() {
		r := runAgainstSim(b, p, sched, sim.Options{}, engine.Scope{})
		b.ReportMetric(float64(r.reqs.total())/float64(sched.Totals.Units), "req/VM")
		b.ReportMetric(float64(leastCalls(sched))/float64(sched.Totals.Units), "min-req/VM")
		b.ReportMetric(100*r.store.Busy.Seconds()/r.wall.Seconds(), "persist%")
		b.ReportMetric(float64(r.store.Commits), "commits")
		b.ReportMetric(float64(r.peak)/(1<<20), "peakMB")
		b.ReportMetric(float64(sched.Totals.Units), "VMs")
		b.Logf("requests by method: %s", r.reqs.byMethod())
	}
}

// BenchmarkApplyReferenceStores applies the reference programme twice in
// one run, side by side: its record in a state file, and in PostgreSQL
// (a throwaway server, as the tests start). It reports each run's wall
// time and the share of it the store spent keeping the record durable.
func BenchmarkApplyReferenceStores(b *testing.B) {
	p := loadReference(b)
	sched, _ := schedule.Compile(p)
	srv, err := pgtest.Start()
	if err != nil {
		b.Skipf("no PostgreSQL server could be started here (%v)", err)
	}
	defer func() { _ = srv.Stop() }()
	b.Setenv("PGPASSWORD", srv.Password)
	b.Run("file", func(b *testing.B) {
		for b.Loop() {
			r := runAgainstSim(b, p, sched, sim.Options{}, engine.Scope{})
			b.ReportMetric(100*r.store.Busy.Seconds()/r.wall.Seconds(), "persist%")
			b.ReportMetric(float64(r.store.Commits), "commits")
		}
	})
	b.Run("postgres", func(b *testing.B) {
		for b.Loop() {
			ctx := context.Background()
			name, err := srv.CreateDB(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			backend, err := postgres.OpenBackend(ctx, srv.URL(name), p.Metadata.Name)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := backend.DB().Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			lock, err := backend.Lock(ctx, "apply", state.Scope{Name: "programme"})
			if err != nil {
				b.Fatal(err)
			}
			r := runAgainstSimWith(b, p, sched, sim.Options{}, engine.Scope{}, func(st *state.State) state.Store {
				s, err := backend.Create(ctx, lock, st)
				if err != nil {
					b.Fatal(err)
				}
				return s
			})
			_ = lock.Unlock()
			backend.Close()
			b.ReportMetric(100*r.store.Busy.Seconds()/r.wall.Seconds(), "persist%")
			b.ReportMetric(float64(r.store.Commits), "commits")
		}
	})
}

// callsOf is the least number of vSphere calls a step kind needs: the
// calls that change something (a task each, or a guest shutdown), with
// the markers riding on a spec that changes the VM anyway. Reads,
// verification and waiting for tasks to end need none of their own: one
// property collector can serve a whole run's. Hooks run no vSphere call.
var callsOf = map[string]int{
	plan.StepClone:           1, // CloneVM_Task, markers in its config spec
	plan.StepCreateVM:        1, // CreateVM_Task
	plan.StepImportImage:     3, // ImportVApp, HttpNfcLeaseProgress, HttpNfcLeaseComplete
	plan.StepPowerOn:         1,
	plan.StepPowerOff:        1, // ShutdownGuest or PowerOffVM_Task
	plan.StepSnapshot:        1,
	plan.StepUpgradeHardware: 1,
	plan.StepReconfigure:     1,
	plan.StepRelocate:        1,
	plan.StepRemoveSnapshot:  1,
	plan.StepRetire:          1, // ReconfigVM_Task to mark it (replace also moves it: counted below)
}

// leastCalls is the least number of vSphere calls the schedule's
// strategies need, by callsOf.
func leastCalls(s *schedule.Schedule) int {
	n := 0
	count := func(apps []*schedule.App) {
		for _, a := range apps {
			for _, st := range a.Steps {
				if st.Deferred {
					continue
				}
				n += callsOf[st.Kind]
				if st.Kind == plan.StepRetire && a.Strategy == plan.Replace {
					n++ // MoveIntoFolder_Task
				}
			}
		}
	}
	for _, w := range s.Waves {
		count(w.Apps)
	}
	if s.Conveyor != nil {
		count(s.Conveyor.Apps)
	}
	return n
}

// withTaskEstimates sets the plan's step estimates to the task durations
// (sim.TaskEstimates) and compiles it, so that the schedule's lower bound
// is computed from the work the simulator will make the run do.
func withTaskEstimates(p *plan.Plan, delays map[string]time.Duration) *schedule.Schedule {
	sim.TaskEstimates(p, delays)
	s, _ := schedule.Compile(p)
	return s
}

// BenchmarkScheduleEfficiency applies the reference programme with
// realistic task durations (sim.RealisticDelays, 10% jitter), scaled down
// so that the lower bound of the run is about boundTarget, under the
// plan's own limits, and reports the run's makespan against that bound.
//
// The bound is 4 minutes unless WAVECTL_BENCH_BOUND says otherwise: on a
// 2-core machine the whole programme with no task delays takes several
// minutes of CPU (wavectl and the simulator together), so a shorter bound
// measures the CPU, not the schedule.
func BenchmarkScheduleEfficiency(b *testing.B) {
	boundTarget := 4 * time.Minute
	if v := os.Getenv("WAVECTL_BENCH_BOUND"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("WAVECTL_BENCH_BOUND=%q: want a duration, e.g. 90s", v)
		}
		boundTarget = d
	}
	p := loadReference(b)
	// The whole programme, and one wave on its own: on 2 cores the
	// whole programme's CPU (wavectl and the simulator, several minutes
	// with no task delays at all) sits above a bound of a few minutes,
	// while one wave's CPU is well below it, so that run shows the
	// schedule itself.
	// The largest wave that depends on no other (a later wave's
	// applications need earlier waves moved first).
	largest := p.Waves[0]
	for _, w := range p.Waves {
		if selfContained(p, w) && len(unitsOf(p, w.Applications)) > len(unitsOf(p, largest.Applications)) {
			largest = w
		}
	}
	for _, c := range []struct {
		name  string
		scope engine.Scope
	}{
		{"whole-programme", engine.Scope{}},
		{"one-wave", engine.Scope{Waves: []string{largest.Name}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			real := schedule.LowerBound(scoped(withTaskEstimates(p, sim.RealisticDelays), c.scope), nil)
			factor := real.Total.Seconds() / boundTarget.Seconds()
			delays := sim.ScaledDelays(factor)
			sched := withTaskEstimates(p, delays)
			for b.Loop() {
				r := runAgainstSim(b, p, sched, sim.Options{Delays: delays, Jitter: 0.1, Seed: 1}, c.scope)
				bound := schedule.LowerBound(scoped(sched, c.scope), r.hosts)
				b.ReportMetric(bound.Total.Seconds(), "bound-s")
				b.ReportMetric(r.wall.Seconds(), "makespan-s")
				b.ReportMetric(bound.Total.Seconds()/r.wall.Seconds(), "efficiency")
				b.ReportMetric(factor, "scale")
				b.ReportMetric(float64(len(unitsOf(p, scopeApps(p, c.scope)))), "VMs")
				b.Logf("bound %s (%s); makespan %s; tasks scaled down %.0fx (a 3-minute clone takes %s)",
					bound.Total.Round(time.Millisecond), bound.Binding, r.wall.Round(time.Millisecond), factor, delays["CloneVM_Task"].Round(time.Millisecond))
				for _, w := range bound.Waves {
					b.Logf("  wave %s: bound %s (%s)", w.Name, w.Bound.Round(time.Millisecond), w.Binding)
				}
				if cb := bound.Conveyor; cb != nil {
					b.Logf("  conveyor: bound %s (%s)", cb.Bound.Round(time.Millisecond), cb.Binding)
				}
			}
		})
	}
}

// selfContained reports whether a wave's applications depend only on
// applications of the same wave.
func selfContained(p *plan.Plan, w *plan.Wave) bool {
	for _, name := range w.Applications {
		if a := p.Application(name); a != nil {
			for _, d := range a.DependsOn {
				if !slices.Contains(w.Applications, d) {
					return false
				}
			}
		}
	}
	return true
}

// scoped is the schedule narrowed to a scope's waves (no conveyor) when it
// names any.
func scoped(s *schedule.Schedule, scope engine.Scope) *schedule.Schedule {
	if len(scope.Waves) == 0 {
		return s
	}
	c := *s
	c.Waves, c.Conveyor = nil, nil
	for _, w := range s.Waves {
		if slices.Contains(scope.Waves, w.Name) {
			c.Waves = append(c.Waves, w)
		}
	}
	return &c
}

// scopeApps names the applications a scope selects.
func scopeApps(p *plan.Plan, scope engine.Scope) []string {
	var out []string
	for _, a := range p.Applications {
		if len(scope.Waves) == 0 || slices.Contains(scope.Waves, a.Wave) {
			out = append(out, a.Name)
		}
	}
	return out
}

// unitsOf lists the VMs and servers of the named applications.
func unitsOf(p *plan.Plan, apps []string) []string {
	var out []string
	for _, name := range apps {
		if a := p.Application(name); a != nil {
			for _, v := range a.VMs {
				out = append(out, v.Name)
			}
			for _, sv := range a.Servers {
				out = append(out, sv.Name)
			}
		}
	}
	return out
}
