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

// budgetPlan is twelve redeployed VMs into one cluster and datastore, with
// the given limits.
func budgetPlan(t *testing.T, limits string) *plan.Plan {
	t.Helper()
	var vms []string
	for i := range 12 {
		vms = append(vms, fmt.Sprintf("web-%02d", i))
	}
	p, _, err := plan.Load("t.yaml", []byte(`apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: budgets}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: OLD}
target: {datacenter: NEW, cluster: C1, datastore: ds1, folder: migrated, networks: {"VM Network": pg-1}}
limits: `+limits+`
applications:
  - {name: web, strategy: redeploy, template: tpl, vms: [`+strings.Join(vms, ", ")+`]}
waves: [{name: w1, applications: [web]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runOn applies p against s through a driver that counts clones in
// flight, and returns the result and the record.
func runOn(t *testing.T, p *plan.Plan, s *sim.Sim) (*engine.Result, *counting, state.Store) {
	t.Helper()
	c, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := &counting{Driver: vsphere.NewGovmomi("lab", c.Client), host: map[string]int{}, ds: map[string]int{}, peakHost: map[string]int{}, peakDS: map[string]int{}}
	sched, _ := schedule.Compile(p)
	store, err := state.Create(filepath.Join(t.TempDir(), "s.json"), state.NewState(p.Metadata.Name, p.File, p.Hash))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	res, err := engine.Run(context.Background(), engine.Options{Plan: p, Schedule: sched, Store: store, Dial: s.DialContext,
		Drivers: func(context.Context, string) (vsphere.Driver, error) { return d, nil }})
	if err != nil || res.Status != engine.Succeeded {
		t.Fatalf("run: %v %+v", err, res)
	}
	return res, d, store
}

// The caps let 8 VMs run per host and per datastore, but vCenter's
// budgets are set to 2 clones per host and 3 per datastore: the engine
// sends no clone over them (counted at the vSphere boundary, and the
// simulator, enforcing the same budgets, never had to queue one), while
// the VMs' other steps (power on, verify, power off...) run beside.
func TestTheEngineNeverOversubscribesABudgetAgainstTheSimulator(t *testing.T) {
	// A live move's default costs (host 4, datastore 16) would be above
	// such budgets, which the plan must then lower too.
	p := budgetPlan(t, "{concurrency: 16, perHost: 8, perDatastore: 8, hostBudget: 2, datastoreBudget: 3, costs: {relocate-live: {host: 2, datastore: 3}}}")
	s, err := sim.New(p, sim.Options{Delays: map[string]time.Duration{"CloneVM_Task": 150 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, d, _ := runOn(t, p, s)
	if d.clones != 12 {
		t.Errorf("%d clones, want 12", d.clones)
	}
	for h, n := range d.peakHost {
		if n > 2 || h == "" {
			t.Errorf("host %q had %d clones at once, want at most its budget of 2 on a named host", h, n)
		}
	}
	if d.peakDS["ds1"] != 3 {
		t.Errorf("datastore ds1 peaked at %d clones at once, want its budget of 3 (reached, never passed)", d.peakDS["ds1"])
	}
	// The simulator counts a task from its start to its end, not the
	// driver's wait for it: its peak may fall short of 3 on a busy
	// machine, never above.
	peaks, _, waited := s.BudgetUse()
	if waited != 0 || peaks["datastore ds1"] > 3 || peaks["datastore ds1"] == 0 {
		t.Errorf("the simulator queued %d tasks and saw datastore ds1 at %d; want none queued, at most 3", waited, peaks["datastore ds1"])
	}
	if res.Tasks == 0 || res.VCenterRunning <= 0 {
		t.Errorf("the run reports %d tasks running %s in vCenter; want its tasks' times", res.Tasks, res.VCenterRunning)
	}
}

// A vCenter whose budgets are smaller than the plan says (one clone per
// host, where the plan leaves vCenter's 8) queues the clones the engine
// sends: the run still succeeds, and reports the time its tasks spent
// queued in vCenter apart from the time they ran, per step and in all.
func TestTheEngineReportsTimeQueuedInVCenterApartFromRunning(t *testing.T) {
	p := budgetPlan(t, "{concurrency: 8, perHost: 8, perDatastore: 8}")
	s, err := sim.New(p, sim.Options{Limits: &plan.Limits{HostBudget: 1}, Delays: map[string]time.Duration{"CloneVM_Task": 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, _, store := runOn(t, p, s)
	if _, _, waited := s.BudgetUse(); waited == 0 {
		t.Fatal("the simulator queued no clone: the test's budgets do not bite")
	}
	if res.VCenterQueued <= 0 || res.VCenterRunning <= 0 {
		t.Errorf("run: queued %s, running %s in vCenter; want both", res.VCenterQueued, res.VCenterRunning)
	}
	var queued, running int64
	var clonesQueued int
	store.View(func(st *state.State) {
		for _, u := range st.App("web").Units {
			for _, r := range u.Steps {
				queued += r.VCenterQueuedMs
				running += r.VCenterRunningMs
				if r.Kind == plan.StepClone && r.VCenterQueuedMs > 0 {
					clonesQueued++
				}
				if r.Kind == plan.StepVerify && (r.VCenterQueuedMs != 0 || r.VCenterRunningMs != 0) {
					t.Errorf("%s's verify has vCenter task times %d/%d ms; it runs no task", u.Name, r.VCenterQueuedMs, r.VCenterRunningMs)
				}
			}
		}
	})
	if clonesQueued == 0 || queued == 0 || running == 0 {
		t.Errorf("step records: %d clones queued, %d ms queued, %d ms running in all; want queued clones and both times", clonesQueued, queued, running)
	}
	if got, want := queued, res.VCenterQueued.Milliseconds(); got > want || want-got > int64(res.Tasks) {
		t.Errorf("steps add up to %d ms queued, the run says %d ms", got, want)
	}
}

// mixed counts, at the vSphere boundary, the host cost in flight on each
// host: a clone 1, a relocate (a live move here) 4, vCenter's defaults.
type mixed struct {
	vsphere.Driver
	mu         sync.Mutex
	cost, peak map[string]int
	clones     int
	moves      int
}

func (m *mixed) add(host string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cost[host] += n
	m.peak[host] = max(m.peak[host], m.cost[host])
}

func (m *mixed) Clone(ctx context.Context, spec vsphere.CloneSpec) (*vsphere.VM, error) {
	m.add(spec.Target.Host, 1)
	defer m.add(spec.Target.Host, -1)
	m.mu.Lock()
	m.clones++
	m.mu.Unlock()
	return m.Driver.Clone(ctx, spec)
}

func (m *mixed) Relocate(ctx context.Context, ref string, spec vsphere.RelocateSpec) error {
	m.add(spec.Target.Host, 4)
	defer m.add(spec.Target.Host, -4)
	m.mu.Lock()
	m.moves++
	m.mu.Unlock()
	return m.Driver.Relocate(ctx, ref, spec)
}

// Clones and live moves onto one host share its budget of 8 (vCenter's
// defaults: 1 and 4): whatever mix runs, never more than 8 of cost at
// once, and the simulator, enforcing the same, never queues a task. The
// caps alone (perHost 8) would have let eight VMs of any kind run.
func TestClonesAndLiveMovesShareAHostsBudgetAgainstTheSimulator(t *testing.T) {
	var web, db []string
	for i := range 8 {
		web = append(web, fmt.Sprintf("web-%02d", i))
		db = append(db, fmt.Sprintf("db-%02d", i))
	}
	p, _, err := plan.Load("t.yaml", []byte(`apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: mixed}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: OLD}
target: {datacenter: NEW, host: esx-01, datastore: ds1, folder: migrated, networks: {"VM Network": pg-1}}
limits: {concurrency: 16, perHost: 8, perDatastore: 16}
applications:
  - {name: web, strategy: redeploy, template: tpl, vms: [`+strings.Join(web, ", ")+`]}
  - {name: db, strategy: remediate, vms: [`+strings.Join(db, ", ")+`]}
waves: [{name: w1, applications: [web, db]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(p, sim.Options{Delays: map[string]time.Duration{"CloneVM_Task": 100 * time.Millisecond, "RelocateVM_Task": 150 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := &mixed{Driver: vsphere.NewGovmomi("lab", c.Client), cost: map[string]int{}, peak: map[string]int{}}
	sched, _ := schedule.Compile(p)
	store, err := state.Create(filepath.Join(t.TempDir(), "s.json"), state.NewState(p.Metadata.Name, p.File, p.Hash))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	res, err := engine.Run(context.Background(), engine.Options{Plan: p, Schedule: sched, Store: store, Dial: s.DialContext,
		Drivers: func(context.Context, string) (vsphere.Driver, error) { return d, nil }})
	if err != nil || res.Status != engine.Succeeded {
		t.Fatalf("run: %v %+v", err, res)
	}
	if d.clones != 8 || d.moves != 8 {
		t.Errorf("%d clones and %d moves, want 8 of each", d.clones, d.moves)
	}
	if d.peak["esx-01"] > 8 || d.peak["esx-01"] < 4 {
		t.Errorf("host esx-01 peaked at %d of cost in flight; want at most its budget of 8 (and some)", d.peak["esx-01"])
	}
	peaks, _, waited := s.BudgetUse()
	if waited != 0 || peaks["host esx-01"] > 8 || peaks["network esx-01"] > 2 {
		t.Errorf("the simulator queued %d tasks and saw %v; want none queued, host esx-01 at most 8, its network at most 2", waited, peaks)
	}
}
