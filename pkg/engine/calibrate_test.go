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

// recordAgainstSim migrates a redeploy application of n VMs of diskGB
// each against the simulator with the given task delays, and returns the
// record the run left.
func recordAgainstSim(t *testing.T, name string, n, diskGB int, delays map[string]time.Duration) *state.State {
	t.Helper()
	var vms []string
	for i := range n {
		vms = append(vms, fmt.Sprintf("{name: %s-%02d, disksGB: [%d]}", name, i, diskGB))
	}
	p, _, err := plan.Load(name+".yaml", []byte(`apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: `+name+`}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: OLD}
target: {datacenter: NEW, cluster: C1, datastore: ds1, folder: migrated, networks: {"VM Network": pg-1}}
limits: {concurrency: 4}
applications:
  - {name: web, strategy: redeploy, template: tpl, vms: [`+strings.Join(vms, ", ")+`]}
waves: [{name: w1, applications: [web]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(p, sim.Options{Delays: delays, Jitter: 0.05, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := vsphere.NewGovmomi("lab", c.Client)
	sched, _ := schedule.Compile(p)
	path := filepath.Join(t.TempDir(), name+".state.json")
	store, err := state.Create(path, state.NewState(p.Metadata.Name, p.File, p.Hash))
	if err != nil {
		t.Fatal(err)
	}
	res, err := engine.Run(context.Background(), engine.Options{Plan: p, Schedule: sched, Store: store, Dial: s.DialContext,
		Drivers: func(context.Context, string) (vsphere.Driver, error) { return d, nil }})
	if err != nil || res.Status != engine.Succeeded {
		t.Fatalf("run: %v %+v", err, res)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := state.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Calibration recovers the task durations vCenter (here the simulator,
// with known delays) took. Tolerance: a fitted P50 lies within 10% below
// and 10% + 1 s above the delay. The delays carry 5% jitter, and a step
// spends time of its own around its task (reading the VM, waiting for the
// task, writing the record): 150-400 ms measured on a 2-core machine,
// up to 850 ms while other test packages ran beside it.
func TestCalibrationFromSimulatedRunsRecoversTheTaskDelays(t *testing.T) {
	delays := map[string]time.Duration{"CloneVM_Task": 4 * time.Second, "PowerOnVM_Task": 2 * time.Second}
	a := recordAgainstSim(t, "calib-a", 4, 40, delays)
	b := recordAgainstSim(t, "calib-b", 4, 40, delays)
	m := schedule.FitModel([]*state.State{a, b}, []string{"a", "b"}, false)
	if m.Records != 2 || m.Runs != 2 {
		t.Errorf("model rests on %d records and %d runs, want 2 and 2", m.Records, m.Runs)
	}
	check := func(kind string, size int, want time.Duration) {
		t.Helper()
		p50, p90, ok := m.Predict(kind, size)
		if !ok {
			t.Fatalf("no fit for %s", kind)
		}
		t.Logf("%s (%d GB): P50 %s, P90 %s; simulator delay %s", kind, size, p50, p90, want)
		lo, hi := want*9/10, want*11/10+time.Second
		if p50 < lo || p50 > hi {
			t.Errorf("%s of %d GB: fitted P50 %s, want the simulator's %s (within %s..%s)", kind, size, p50, want, lo, hi)
		}
		if p90 < p50 {
			t.Errorf("%s: P90 %s below P50 %s", kind, p90, p50)
		}
	}
	check(plan.StepClone, 40, delays["CloneVM_Task"])
	check(plan.StepPowerOn, 0, delays["PowerOnVM_Task"])
	if k := m.Kinds[plan.StepClone]; k.Per != schedule.PerGB || k.Rate.Steps != 8 || k.Runs != 2 {
		t.Errorf("clone fit: per %s, %d steps in %d runs; want per GB, 8 steps in 2 runs", k.Per, k.Rate.Steps, k.Runs)
	}
	// Per GB: a VM of twice the disk is expected to take twice as long.
	p40, _, _ := m.Predict(plan.StepClone, 40)
	p80, _, _ := m.Predict(plan.StepClone, 80)
	if p80 < p40*19/10 || p80 > p40*21/10 {
		t.Errorf("clone of 80 GB: %s, want twice the 40 GB figure %s", p80, p40)
	}

	// A rehearsal's record is left out unless asked for.
	b.Rehearsal = true
	m = schedule.FitModel([]*state.State{a, b}, []string{"a", "b"}, false)
	if m.Records != 1 || m.Kinds[plan.StepClone].Rate.Steps != 4 || len(m.LeftOut) != 1 || !strings.Contains(m.LeftOut[0], "rehearsal") {
		t.Errorf("with b a rehearsal: %d records, %d clones, left out %v; want 1 record, 4 clones, b left out", m.Records, m.Kinds[plan.StepClone].Rate.Steps, m.LeftOut)
	}
	if m = schedule.FitModel([]*state.State{a, b}, nil, true); m.Records != 2 {
		t.Errorf("including rehearsals: %d records, want 2", m.Records)
	}
}
