package schedule_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
)

// measured is a record of one run whose clones of size GB took the given
// durations and whose power-ons took 30s each.
func measured(size int, clones ...time.Duration) *state.State {
	st := state.NewState("t", "t.yaml", "h")
	t0 := time.Date(2027, 3, 1, 20, 0, 0, 0, time.UTC)
	st.Runs = []*state.Run{{Command: "apply", Started: t0}}
	app := &state.App{Name: "old", Status: state.Done}
	for i, d := range clones {
		start, end := t0.Add(time.Minute), t0.Add(time.Minute+d)
		pstart, pend := end, end.Add(30*time.Second)
		app.Units = append(app.Units, &state.Unit{Name: fmt.Sprintf("vm-%d", i), Status: state.Done, Steps: []*state.Step{
			{Kind: plan.StepClone, Status: state.Done, Started: &start, Ended: &end, Size: size},
			{Kind: plan.StepPowerOn, Status: state.Done, Started: &pstart, Ended: &pend},
		}})
	}
	st.Apps = []*state.App{app}
	return st
}

func TestACalibratedWaveThatWillOverrunItsWindowIsFlagged(t *testing.T) {
	// Clones took 1 minute per 10 GB at the median, up to 2 at P90.
	rec := measured(10, time.Minute, time.Minute, time.Minute, time.Minute, 2*time.Minute)
	m := schedule.FitModel([]*state.State{rec}, nil, false)
	p, _, err := plan.Load("t.yaml", []byte(header+`limits: {concurrency: 1}
applications:
  - {name: big, strategy: redeploy, template: tpl, vms: [{name: b1, disksGB: [400]}, {name: b2, disksGB: [400]}]}
waves:
  - {name: w1, applications: [big], window: {start: "2027-04-01T20:00:00Z", end: "2027-04-01T21:30:00Z"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, probs := schedule.CompileWith(p, m)
	w := s.Waves[0]
	// Two 400 GB clones one at a time at 6 s/GB: 80 minutes at P50, plus
	// power-ons (30 s measured) and verifies (no data: the 3m default).
	if got := time.Duration(w.Estimate); got < 80*time.Minute || got > 95*time.Minute {
		t.Errorf("wave estimate %s, want about 80m of clones plus power-on and verify", got)
	}
	if w.EstimateP90 <= w.Estimate {
		t.Errorf("P90 %s not above P50 %s", w.EstimateP90, w.Estimate)
	}
	if w.OverrunP90 == 0 {
		t.Errorf("no P90 overrun for P90 %s in a 1h30m window", w.EstimateP90)
	}
	var text string
	for _, pr := range probs {
		text += pr.String() + "\n"
	}
	if !strings.Contains(text, "wave w1") || !strings.Contains(text, "overrun by") {
		t.Errorf("warnings %q do not flag w1's overrun", text)
	}
	c := s.Calibration
	if c == nil || c.Runs != 1 || c.Steps != 10 || !strings.Contains(fmt.Sprint(c.Defaulted), plan.StepVerify) {
		t.Errorf("calibration %+v: want 1 run, 10 steps, verify kept at its default", c)
	}
	var calibratedClone bool
	for _, st := range w.Apps[0].Steps {
		if st.Kind == plan.StepClone && st.Calibrated && st.Size == 400 {
			calibratedClone = true
		}
	}
	if !calibratedClone {
		t.Errorf("clone steps are not calibrated at 400 GB: %+v", w.Apps[0].Steps)
	}
	// Without the model the same wave fits (default 10m a clone).
	if s, probs := schedule.Compile(p); s.Waves[0].Overrun != 0 || len(probs) != 0 {
		t.Errorf("with defaults: overrun %s, warnings %v; want none", s.Waves[0].Overrun, probs)
	}
}

func TestARecordedEstimateCarriesEveryWaveAndApplication(t *testing.T) {
	s, _ := compile(t, `applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a1]}
  - {name: c, strategy: redeploy, template: tpl, vms: [c1]}
waves: [{name: w1, applications: [a]}]
conveyor: {applications: [c]}
`)
	e := s.Recorded()
	if e.Source != "defaults" || e.Waves["w1"].P50 == 0 || e.Waves["conveyor"].P50 == 0 || e.Apps["a"][plan.StepClone] != 600 {
		t.Errorf("recorded estimate %+v: want defaults, both groups, a's clone at 600 s", e)
	}
}

// A step's time queued in vCenter is not its own: the estimate queues
// steps itself by vCenter's budgets, so a fit from a run whose clones
// waited in vCenter's queue takes only their running time.
func TestCalibrationLeavesOutTimeQueuedInVCenter(t *testing.T) {
	rec := measured(10, 3*time.Minute, 3*time.Minute, 3*time.Minute)
	for _, u := range rec.Apps[0].Units {
		u.Steps[0].VCenterQueuedMs = (2 * time.Minute).Milliseconds() // 2 of its 3 minutes queued
	}
	m := schedule.FitModel([]*state.State{rec}, nil, false)
	p50, _, ok := m.Predict(plan.StepClone, 10)
	if !ok || p50 != time.Minute {
		t.Errorf("a 10 GB clone predicted at %s (ok %v), want the 1m it ran", p50, ok)
	}
}
