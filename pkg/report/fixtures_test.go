package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
)

var update = flag.Bool("update", false, "rewrite the state fixtures in testdata/state and the golden outputs in pkg/report/testdata")

// The fixtures are records of examples/demo.yaml as the engine keeps them:
// the applications, units and steps come from the plan's own step lists,
// and the reasons and notes are the engine's words. They live in the
// repository's testdata/state so that the CLI's tests use them too, named
// <scenario>.json because .gitignore keeps *.state.json (users' runs) out
// of the repository.
const fixtureDir = "../../testdata/state"

// wave1 is the demo plan's wave-1 window; the fixtures' runs happen in it.
var (
	windowStart = time.Date(2027, 3, 6, 20, 0, 0, 0, time.UTC)
	windowEnd   = time.Date(2027, 3, 7, 6, 0, 0, 0, time.UTC)
	// reportTime is "now" for the golden outputs: the morning after.
	reportTime = time.Date(2027, 3, 7, 7, 30, 0, 0, time.UTC)
)

// fixtures builds each scenario's record.
var fixtures = map[string]func(t *testing.T) *state.State{
	"succeeded":   succeededState,
	"failed":      failedState,
	"paused":      pausedState,
	"running":     runningState,
	"not-started": notStartedState,
}

// TestFixturesAreUpToDate keeps testdata/state in step with the builders
// (and so with the demo plan's step lists); -update rewrites them.
func TestFixturesAreUpToDate(t *testing.T) {
	for name, build := range fixtures {
		data, err := state.Encode(build(t))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(fixtureDir, name+".json")
		if *update {
			if err := os.MkdirAll(fixtureDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		disk, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(disk, data) {
			t.Errorf("%s is out of date: run go test ./pkg/report -update", path)
		}
	}
}

// demo is a fresh record of examples/demo.yaml with every application
// pending, as the engine creates it at the start of a run.
func demo(t *testing.T) *state.State {
	t.Helper()
	p, _, err := plan.LoadFile("../../examples/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := schedule.Compile(p)
	st := state.NewState(p.Metadata.Name, "examples/demo.yaml", p.Hash)
	st.Lineage = "3f9a0c5e1b7d4a2f8e6c0b1d3a5f7e9c"
	st.Created = windowStart.Add(-2 * time.Minute)
	st.Updated = st.Created
	st.Serial = 1
	add := func(apps []*schedule.App, wave string) {
		for _, sa := range apps {
			a := &state.App{Name: sa.Name, Wave: wave, Conveyor: wave == "", Strategy: sa.Strategy, Users: sa.Users, Status: state.Pending}
			for _, step := range sa.Steps {
				u := a.Unit(step.Unit)
				if u == nil {
					u = &state.Unit{Name: step.Unit, Status: state.Pending, Outputs: map[string]string{}}
					a.Units = append(a.Units, u)
				}
				u.Steps = append(u.Steps, &state.Step{Kind: step.Kind, Phase: step.Phase, Status: state.Pending})
			}
			st.Apps = append(st.Apps, a)
		}
	}
	for _, w := range s.Waves {
		add(w.Apps, w.Name)
	}
	if s.Conveyor != nil {
		add(s.Conveyor.Apps, "")
	}
	return st
}

func ptr(t time.Time) *time.Time { return &t }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func startRun(st *state.State, args ...string) *state.Run {
	r := &state.Run{Command: "apply", Args: append([]string{"apply"}, args...), Host: "jump-01", User: "alice", PID: 48213,
		Started: windowStart, Result: "running"}
	st.Runs = append(st.Runs, r)
	return r
}

func endRun(st *state.State, r *state.Run, end time.Time, result, note string) {
	r.Ended, r.Result, r.Note = ptr(end), result, note
	st.Updated = end
}

// move records an application's steps as done, one after another from
// start, each taking step; it returns when it ended. Units of a phase run
// side by side. Deferred steps wait 30 days.
func move(st *state.State, name string, start time.Time, step time.Duration) time.Time {
	a := st.App(name)
	a.Status, a.Started = state.Running, ptr(start)
	end := start
	for _, u := range a.Units {
		at := start
		for _, s := range u.Steps {
			if s.Kind == plan.StepDecommission {
				s.Status, s.NotBefore, s.Ended = state.Deferred, ptr(at.Add(30*24*time.Hour)), ptr(at)
				continue
			}
			s.Status, s.Attempts, s.Started, s.Ended = state.Done, 1, ptr(at), ptr(at.Add(step))
			at = at.Add(step)
		}
		u.Status = state.Done
		fillOutputs(a, u)
		end = later(end, at)
	}
	a.Status, a.Ended = state.Done, ptr(end)
	st.Serial += int64(2 + 2*len(a.Units)*len(a.Units[0].Steps))
	st.Updated = end
	return end
}

func fillOutputs(a *state.App, u *state.Unit) {
	if u.Name == "" {
		return
	}
	switch a.Strategy {
	case plan.Virtualise:
		u.Outputs["vm"] = "vm-" + u.Name
	case plan.Redeploy:
		u.Outputs["vm"], u.Outputs["source"] = "vm-new-"+u.Name, "vm-"+u.Name
	default:
		u.Outputs["source"], u.Outputs["powerState"] = "vm-"+u.Name, "poweredOn"
	}
}

// stepAt returns the unit's step of that kind.
func stepAt(st *state.State, app, unit, kind string) *state.Step {
	for _, s := range st.App(app).Unit(unit).Steps {
		if s.Kind == kind {
			return s
		}
	}
	panic("no step " + kind + " of " + unit)
}

// reset puts a unit's steps from kind on back to pending.
func reset(st *state.State, app, unit, from string) {
	u := st.App(app).Unit(unit)
	on := false
	for _, s := range u.Steps {
		on = on || s.Kind == from
		if on {
			*s = state.Step{Kind: s.Kind, Phase: s.Phase, Status: state.Pending}
		}
	}
	u.Status = state.Pending
}

func succeededState(t *testing.T) *state.State {
	st := demo(t)
	r := startRun(st, "--yes", "examples/demo.yaml")
	end := move(st, "care-records-db", windowStart, 4*time.Minute)
	end = later(end, move(st, "care-case-mgmt", end, 3*time.Minute))
	end2 := move(st, "care-reporting", end, 3*time.Minute)
	end = later(end2, move(st, "carers-portal", end, 2*time.Minute))
	c := move(st, "meals-on-wheels", windowStart, 2*time.Minute)
	c = move(st, "fax-gateway", c, 2*time.Minute)
	endRun(st, r, later(end, c).Add(time.Second), "succeeded", "")
	return st
}

func failedState(t *testing.T) *state.State {
	st := demo(t)
	r := startRun(st, "--yes", "examples/demo.yaml")
	end := move(st, "care-records-db", windowStart, 4*time.Minute)
	cm := move(st, "care-case-mgmt", end, 3*time.Minute)
	// ccm-app-02 failed at relocate, on its third attempt, after two
	// transient faults; its other steps never ran.
	reset(st, "care-case-mgmt", "ccm-app-02", plan.StepRelocate)
	rel := stepAt(st, "care-case-mgmt", "ccm-app-02", plan.StepRelocate)
	relStart := *stepAt(st, "care-case-mgmt", "ccm-app-02", plan.StepReconfigure).Ended
	fault := "Insufficient disk space on datastore 'ds-gold-01'."
	*rel = state.Step{Kind: rel.Kind, Phase: rel.Phase, Status: state.Failed, Attempts: 3, Started: ptr(relStart), Ended: ptr(relStart.Add(7 * time.Minute)),
		Error:   fault,
		Retried: []string{"The operation is not allowed in the current state.", "The operation is not allowed in the current state."}}
	st.App("care-case-mgmt").Unit("ccm-app-02").Status = state.Failed
	st.App("care-case-mgmt").Unit("ccm-app-02").Outputs["snapshot"] = "snapshot-ccm-app-02-1"
	a := st.App("care-case-mgmt")
	a.Status, a.Reason, a.Ended = state.Failed, "step relocate of ccm-app-02: "+fault, ptr(later(cm, relStart.Add(7*time.Minute)))
	p := st.App("carers-portal")
	p.Status, p.Reason, p.SkippedFor, p.Ended = state.Skipped, "skipped: it depends on care-case-mgmt, which failed", "care-case-mgmt", a.Ended
	move(st, "care-reporting", end, 3*time.Minute)
	c := move(st, "meals-on-wheels", windowStart, 2*time.Minute)
	move(st, "fax-gateway", c, 2*time.Minute)
	endRun(st, r, a.Ended.Add(time.Second), "failed", "not every application moved: care-case-mgmt, carers-portal")
	return st
}

func pausedState(t *testing.T) *state.State {
	st := demo(t)
	// A late start: the window closes during care-case-mgmt.
	start := windowEnd.Add(-40 * time.Minute)
	r := startRun(st, "--yes", "examples/demo.yaml")
	r.Started = start
	end := move(st, "care-records-db", start, 4*time.Minute)
	move(st, "meals-on-wheels", start, 2*time.Minute)
	move(st, "care-case-mgmt", end, 3*time.Minute)
	// ccm-app-02 stopped after its relocate: the window closed.
	reset(st, "care-case-mgmt", "ccm-app-02", plan.StepPowerOn)
	reset(st, "care-case-mgmt", "ccm-batch-01", plan.StepSnapshot)
	note := "window closed: the window ended at 2027-03-07T06:00:00Z"
	a := st.App("care-case-mgmt")
	a.Status, a.Reason, a.Ended = state.Pending, "stopped part-way: "+note+"; apply again to carry on from where it stopped", nil
	for _, n := range []string{"carers-portal", "care-reporting", "fax-gateway"} {
		st.App(n).Reason = "not started: " + note
	}
	endRun(st, r, windowEnd.Add(9*time.Minute), "paused", note)
	return st
}

// runningState is a run that is going, or was killed: it has no end, and
// a relocate is in flight.
func runningState(t *testing.T) *state.State {
	st := demo(t)
	startRun(st, "--yes", "examples/demo.yaml")
	end := move(st, "care-records-db", windowStart, 4*time.Minute)
	move(st, "meals-on-wheels", windowStart, 2*time.Minute)
	move(st, "care-case-mgmt", end, 3*time.Minute)
	reset(st, "care-case-mgmt", "ccm-app-02", plan.StepRelocate)
	rel := stepAt(st, "care-case-mgmt", "ccm-app-02", plan.StepRelocate)
	rel.Status, rel.Started = state.Running, stepAt(st, "care-case-mgmt", "ccm-app-02", plan.StepReconfigure).Ended
	a := st.App("care-case-mgmt")
	a.Status, a.Ended = state.Running, nil
	st.App("care-case-mgmt").Unit("ccm-app-02").Status = state.Running
	st.Updated = *rel.Started
	return st
}

// notStartedState is a record created by an apply that stopped at its
// confirmation, or before its first step.
func notStartedState(t *testing.T) *state.State {
	return demo(t)
}
