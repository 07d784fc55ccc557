package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
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
	peaks, _, waited := s.BudgetUse()
	if waited != 0 || peaks["datastore ds1"] != 3 {
		t.Errorf("the simulator queued %d tasks and saw datastore ds1 at %d; want none queued, at 3", waited, peaks["datastore ds1"])
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
