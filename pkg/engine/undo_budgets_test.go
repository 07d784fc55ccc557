package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/vsphere"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

// homeMoves counts, at the vSphere boundary, the host cost of the
// relocates in flight on each target host, each costing cost.
type homeMoves struct {
	vsphere.Driver
	cost      int
	mu        sync.Mutex
	now, peak map[string]int
	moves     int
}

func (m *homeMoves) add(host string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now[host] += n
	m.peak[host] = max(m.peak[host], m.now[host])
}

func (m *homeMoves) Relocate(ctx context.Context, ref string, spec vsphere.RelocateSpec) error {
	m.add(spec.Target.Host, m.cost)
	defer m.add(spec.Target.Host, -m.cost)
	m.mu.Lock()
	m.moves++
	m.mu.Unlock()
	return m.Driver.Relocate(ctx, ref, spec)
}

// A rollback moves every VM back to the one host it came from (the
// simulator's source cluster has one host here). Live, each move home
// costs 4 of that host's budget of 8 (vCenter's defaults): two at a time;
// cold, with a budget of 2, a cold move's 1: two at a time too. The
// rollback undoes the VMs side by side and the run's concurrency would let
// all eight go. Counted at the vSphere boundary, and by the simulator,
// which enforces the same budgets and never has to queue a move. Without
// the undo's charge the boundary sees up to 32 (live) of cost on the host
// and the simulator queues moves.
func TestARollbackOfMovedVMsOntoOneHostNeverOversubscribesItsBudgetAgainstTheSimulator(t *testing.T) {
	var vms []string
	for i := range 8 {
		vms = append(vms, fmt.Sprintf("db-%02d", i))
	}
	for _, c := range []struct {
		name, move, limits string
		cost, budget       int
	}{
		{"live", "live", "{concurrency: 16, perHost: 8, perDatastore: 16}", 4, 8},
		{"cold", "cold", "{concurrency: 16, perHost: 8, perDatastore: 16, hostBudget: 2, costs: {relocate-live: {host: 2}}}", 1, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, _, err := plan.Load("t.yaml", []byte(`apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: home}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: OLD}
target: {datacenter: NEW, cluster: C1, datastore: ds1, folder: migrated, networks: {"VM Network": pg-1}}
limits: `+c.limits+`
applications:
  - {name: db, strategy: remediate, move: `+c.move+`, vms: [`+strings.Join(vms, ", ")+`]}
waves: [{name: w1, applications: [db]}]
`))
			if err != nil {
				t.Fatal(err)
			}
			s, err := sim.New(p, sim.Options{HostsPerCluster: 1, Delays: map[string]time.Duration{"RelocateVM_Task": 150 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			cl, err := s.Client(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			d := &homeMoves{Driver: vsphere.NewGovmomi("lab", cl.Client), cost: c.cost, now: map[string]int{}, peak: map[string]int{}}
			sched, _ := schedule.Compile(p)
			store, err := state.Create(filepath.Join(t.TempDir(), "s.json"), state.NewState(p.Metadata.Name, p.File, p.Hash))
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			opts := engine.Options{Plan: p, Schedule: sched, Store: store, Dial: s.DialContext,
				Drivers: func(context.Context, string) (vsphere.Driver, error) { return d, nil }}
			if res, err := engine.Run(context.Background(), opts); err != nil || res.Status != engine.Succeeded {
				t.Fatalf("apply: %v %+v", err, res)
			}
			homes := map[string]bool{}
			store.View(func(st *state.State) {
				for _, u := range st.App("db").Units {
					homes[u.Outputs["host"]] = true
				}
			})
			if len(homes) != 1 {
				t.Fatalf("the VMs came from hosts %v; the test wants them all from one", homes)
			}
			var home string
			for h := range homes {
				home = h
			}
			d.mu.Lock()
			d.moves, d.peak = 0, map[string]int{}
			d.mu.Unlock()

			res, err := engine.Rollback(context.Background(), opts, []string{"db"})
			if err != nil || res.Status != engine.Succeeded {
				t.Fatalf("rollback: %v %+v", err, res)
			}
			if d.moves != 8 {
				t.Errorf("%d moves home, want 8", d.moves)
			}
			if d.peak[home] > c.budget || d.peak[home] < c.cost {
				t.Errorf("home host %s peaked at %d of cost in flight; want at most its budget of %d (and some)", home, d.peak[home], c.budget)
			}
			peaks, _, waited := s.BudgetUse()
			if waited != 0 || peaks["host "+home] > c.budget {
				t.Errorf("the simulator queued %d tasks and saw %v; want none queued, host %s at most %d", waited, peaks, home, c.budget)
			}
			store.View(func(st *state.State) {
				if a := st.App("db"); a.Status != state.RolledBack {
					t.Errorf("db is %s after the rollback: %s", a.Status, a.Reason)
				}
			})
			t.Logf("%s moves home: host %s peaked at %d of %d at the boundary; the simulator saw %d", c.name, home, d.peak[home], c.budget, peaks["host "+home])
		})
	}
}

// flaky fails the first clone it is sent, whichever VM's, with a
// transient fault, and records the order clones reach vSphere in.
type flaky struct {
	vsphere.Driver
	mu    sync.Mutex
	calls []string // "VM" or "VM failed"
}

func (f *flaky) Clone(ctx context.Context, spec vsphere.CloneSpec) (*vsphere.VM, error) {
	f.mu.Lock()
	first := len(f.calls) == 0
	if first {
		f.calls = append(f.calls, spec.Name+" failed")
	} else {
		f.calls = append(f.calls, spec.Name)
	}
	f.mu.Unlock()
	if first {
		return nil, &vsphere.Fault{Op: "clone", Object: spec.Name, Kind: "HostCommunication", Message: "host not responding", Transient: true}
	}
	return f.Driver.Clone(ctx, spec)
}

// A clone that failed with a transient fault gives its host's budget back
// while it backs off: with a budget of one clone on the host, the other
// VM's clone, waiting for that budget, runs during the backoff instead of
// after the retry. The simulator, with the same budget, never queues.
func TestAStepBackingOffBeforeARetryLetsAnotherUseItsBudget(t *testing.T) {
	p, _, err := plan.Load("t.yaml", []byte(`apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: backoff}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: OLD}
target: {datacenter: NEW, host: esx-01, datastore: ds1, folder: migrated, networks: {"VM Network": pg-1}}
limits: {concurrency: 8, perHost: 8, perDatastore: 8, hostBudget: 1, retries: 2, costs: {relocate-live: {host: 1}}}
applications:
  - {name: web, strategy: redeploy, template: tpl, vms: [web-a, web-b]}
waves: [{name: w1, applications: [web]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(p, sim.Options{Delays: map[string]time.Duration{"CloneVM_Task": 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := &flaky{Driver: vsphere.NewGovmomi("lab", c.Client)}
	sched, _ := schedule.Compile(p)
	store, err := state.Create(filepath.Join(t.TempDir(), "s.json"), state.NewState(p.Metadata.Name, p.File, p.Hash))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// The backoff (1-2s) is long beside the other VM's way to its clone,
	// so that it is waiting for the budget when the first clone fails.
	res, err := engine.Run(context.Background(), engine.Options{Plan: p, Schedule: sched, Store: store, Dial: s.DialContext,
		RetryBase: time.Second, RetryMax: 2 * time.Second,
		Drivers: func(context.Context, string) (vsphere.Driver, error) { return d, nil }})
	if err != nil || res.Status != engine.Succeeded {
		t.Fatalf("run: %v %+v", err, res)
	}
	d.mu.Lock()
	calls := d.calls
	d.mu.Unlock()
	if len(calls) != 3 {
		t.Fatalf("clones sent: %v; want the failed one, the other VM's and the retry", calls)
	}
	failed := strings.TrimSuffix(calls[0], " failed")
	if calls[1] == failed || calls[2] != failed {
		t.Errorf("clones sent in the order %v; want the other VM's during %s's backoff, then %s's retry", calls, failed, failed)
	}
	if _, _, waited := s.BudgetUse(); waited != 0 {
		t.Errorf("the simulator queued %d clones: the retry was sent over the host's budget", waited)
	}
	var retried int
	store.View(func(st *state.State) {
		for _, u := range st.App("web").Units {
			for _, r := range u.Steps {
				if r.Kind == plan.StepClone && len(r.Retried) > 0 {
					retried++
				}
			}
		}
	})
	if retried != 1 {
		t.Errorf("%d clones recorded a retry, want 1", retried)
	}
}
