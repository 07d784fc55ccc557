package report

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
)

// The report's fixture is a record of examples/demo.yaml with round times,
// so that every figure in the golden reports can be checked by hand. Each
// step takes the minutes in stepMinutes, units of a phase side by side,
// applications one after another as the plan orders them:
//
//	wave-1, from 20:00
//	  care-records-db  virtualise 1800 users  20:00-20:08 done; outage 20:04-20:08 =  4m  -> 120.00 user-hours
//	  care-case-mgmt   remediate  1800 users  20:08-20:35 done; ccm-app-02's relocate took 16m (two
//	                   transient faults retried); outage 20:10-20:34 = 24m                -> 720.00
//	  care-reporting   remediate   120 users  20:08-20:18 failed at relocate (no space); rolled back
//	                   by an operator 21:00-21:06; outage 20:10-21:06 = 56m               -> 112.00
//	  carers-portal    redeploy    350 users  20:35-20:51 done; no outage                 ->   0
//	conveyor, from 20:00
//	  meals-on-wheels  remediate    45 users  20:00-20:20 done; outage 20:02-20:19 = 17m  ->  12.75
//	  fax-gateway      replace      60 users  20:20-20:36 done; no outage                 ->   0
//
// So: 5 of 6 applications migrated, 1 rolled back; 12 of 13 VMs; 6 changes
// attempted, 5 succeeded (83.3%; wave-1 3 of 4, 75%; conveyor 2 of 2);
// 964.75 user-hours lost (wave-1 952, conveyor 12.75); wave-1 20:00-21:06
// (1h06m, the rollback included), the conveyor 20:00-20:36 (36m).
const reportFixture = "testdata/report/record.json"

var stepMinutes = map[string]int{
	plan.StepRecordState: 1, plan.StepSnapshot: 1, plan.StepPowerOff: 2, plan.StepUpgradeHardware: 1,
	plan.StepReconfigure: 1, plan.StepRelocate: 10, plan.StepPowerOn: 1, plan.StepVerify: 3,
	plan.StepRemoveSnapshot: 1, plan.StepCreateVM: 4, plan.StepClone: 8, plan.StepRetire: 1,
}

func at(hhmm string) time.Time {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		panic(err)
	}
	return windowStart.Add(t.Sub(time.Date(0, 1, 1, 20, 0, 0, 0, time.UTC)))
}

// player records applications' steps as the engine does, from the plan's
// own step lists.
type player struct {
	st    *state.State
	sched *schedule.Schedule
}

func (p *player) steps(app string) []schedule.Step {
	for _, w := range p.sched.Waves {
		for _, a := range w.Apps {
			if a.Name == app {
				return a.Steps
			}
		}
	}
	for _, a := range p.sched.Conveyor.Apps {
		if a.Name == app {
			return a.Steps
		}
	}
	panic("no application " + app)
}

// stepEvent changes one step's run: a longer time, retried faults, or a
// failure that ends the application.
type stepEvent struct {
	unit, kind string
	minutes    int
	retried    []string
	fault      string
}

// play runs app from start and returns when it ended.
func (p *player) play(app string, start time.Time, events ...stepEvent) time.Time {
	a := p.st.App(app)
	a.Status, a.Started = state.Running, ptr(start)
	phaseStart := start
	var failed *stepEvent
	end := start
	byPhase := map[int][]schedule.Step{}
	var phases []int
	for _, s := range p.steps(app) {
		if byPhase[s.Phase] == nil {
			phases = append(phases, s.Phase)
		}
		byPhase[s.Phase] = append(byPhase[s.Phase], s)
	}
	for _, ph := range phases {
		clock := map[string]time.Time{}
		for _, s := range byPhase[ph] {
			u := a.Unit(s.Unit)
			rec := u.Step(s.Kind, s.Phase)
			if failed != nil || u.Status == state.Failed {
				continue
			}
			if s.Deferred {
				rec.Status, rec.NotBefore, rec.Ended = state.Deferred, ptr(clock[s.Unit].Add(30*24*time.Hour)), ptr(clock[s.Unit])
				continue
			}
			from, ok := clock[s.Unit]
			if !ok {
				from = phaseStart
			}
			took := time.Duration(stepMinutes[s.Kind]) * time.Minute
			rec.Status, rec.Attempts = state.Done, 1
			for i := range events {
				e := &events[i]
				if e.unit != s.Unit || e.kind != s.Kind {
					continue
				}
				if e.minutes > 0 {
					took = time.Duration(e.minutes) * time.Minute
				}
				rec.Retried = e.retried
				rec.Attempts += len(e.retried)
				if e.fault != "" {
					rec.Status, rec.Error = state.Failed, e.fault
					u.Status, failed = state.Failed, e
				}
			}
			rec.Started, rec.Ended = ptr(from), ptr(from.Add(took))
			clock[s.Unit] = from.Add(took)
			end = later(end, from.Add(took))
			if s.Outage {
				if a.OutageStart == nil || from.Before(*a.OutageStart) {
					a.OutageStart = ptr(from)
				}
				if rec.Status == state.Done && (a.OutageEnd == nil || a.OutageEnd.Before(from.Add(took))) {
					a.OutageEnd = ptr(from.Add(took))
				}
			}
		}
		phaseStart = end
	}
	for _, u := range a.Units {
		if allDone(u) {
			u.Status = state.Done
		}
		if u.Steps[0].Status != state.Pending {
			fillOutputs(a, u)
		}
	}
	a.Status, a.Ended = state.Done, ptr(end)
	if failed != nil {
		a.Status, a.Reason = state.Failed, "step "+failed.kind+" of "+failed.unit+": "+failed.fault
	}
	p.st.Serial += int64(2 + 2*len(p.steps(app)))
	p.st.Updated = end
	return end
}

func allDone(u *state.Unit) bool {
	for _, s := range u.Steps {
		if s.Status != state.Done && s.Status != state.Deferred {
			return false
		}
	}
	return true
}

// rollBack undoes an application's steps newest first, a minute each
// (power-off, undone by powering on, two), as `wavectl rollback` records
// it.
func (p *player) rollBack(app string, start time.Time) time.Time {
	a := p.st.App(app)
	clock := start
	for _, u := range a.Units {
		for i := len(u.Steps) - 1; i >= 0; i-- {
			s := u.Steps[i]
			if s.Status != state.Done && s.Status != state.Failed {
				continue
			}
			took := time.Minute
			if s.Kind == plan.StepPowerOff {
				took = 2 * time.Minute
			}
			clock = clock.Add(took)
			s.Status, s.Ended = state.RolledBack, ptr(clock)
			u.Status = state.RolledBack
		}
	}
	a.Status, a.Reason, a.Ended = state.RolledBack, "rolled back by an operator (wavectl rollback)", ptr(clock)
	p.st.Updated = clock
	return clock
}

func reportState(t *testing.T) *state.State {
	st := demo(t)
	p, _, err := plan.LoadFile("../../examples/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sched, _ := schedule.Compile(p)
	pl := &player{st: st, sched: sched}
	run := startRun(st, "--yes", "examples/demo.yaml")

	db := pl.play("care-records-db", at("20:00"))
	cm := pl.play("care-case-mgmt", db, stepEvent{unit: "ccm-app-02", kind: plan.StepRelocate, minutes: 16,
		retried: []string{"The operation is not allowed in the current state.", "The operation is not allowed in the current state."}})
	pl.play("care-reporting", db, stepEvent{unit: "careri-01", kind: plan.StepRelocate, minutes: 5,
		fault: "Insufficient disk space on datastore 'ds-silver-01'."})
	portal := pl.play("carers-portal", cm)
	mow := pl.play("meals-on-wheels", at("20:00"))
	pl.play("fax-gateway", mow)
	endRun(st, run, portal.Add(5*time.Second), "failed", "not every application moved: care-reporting")

	rb := &state.Run{Command: "rollback", Args: []string{"rollback", "--app", "care-reporting", "examples/demo.yaml"},
		Host: "jump-01", User: "bob", PID: 50117, Started: at("21:00"), Result: "running"}
	st.Runs = append(st.Runs, rb)
	end := pl.rollBack("care-reporting", at("21:00"))
	endRun(st, rb, end.Add(2*time.Second), "succeeded", "")
	st.Serial += 12
	return st
}

// TestTheReportFixtureIsUpToDate keeps testdata/report/record.json in step
// with its builder; -update rewrites it. The file is compared as this
// build reads it, so that a file in an older state format that reads the
// same still passes.
func TestTheReportFixtureIsUpToDate(t *testing.T) {
	built := reportState(t)
	data, err := state.Encode(built)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(reportFixture), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(reportFixture, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	disk, err := state.Read(reportFixture)
	if err != nil {
		t.Fatal(err)
	}
	again, err := state.Encode(disk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Errorf("%s is out of date: run go test ./pkg/report -update", reportFixture)
	}
}
