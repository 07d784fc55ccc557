package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/state"
)

const gated = `applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a-1]}
  - {name: b, strategy: redeploy, template: tpl, vms: [b-1]}
waves:
  - {name: w1, applications: [a], window: {start: "2027-03-05T18:00:00Z", end: "2027-03-05T23:00:00Z"}}
  - {name: w2, applications: [b]}
gates:
  - {waves: [w1], approvers: [change-board, owner], before: 24h}
`

func approve(t *testing.T, f *fixture, wave, as, hash string, at time.Time) {
	t.Helper()
	if err := f.store.Update(func(st *state.State) {
		st.AddApproval(state.Approval{Wave: wave, As: as, PlanHash: hash, At: at, User: "u", Host: "h"})
	}); err != nil {
		t.Fatal(err)
	}
}

func TestAnUnapprovedWaveIsRefusedAndAnApprovedOneRuns(t *testing.T) {
	f := setup(t, gated)
	r := newRecorder()
	clock := func() time.Time { return time.Date(2027, 3, 5, 19, 0, 0, 0, time.UTC) }
	approve(t, f, "w1", "change-board", f.p.Hash, time.Date(2027, 3, 3, 9, 0, 0, 0, time.UTC))
	// owner approved, but too late: less than 24h before the window.
	approve(t, f, "w1", "owner", f.p.Hash, time.Date(2027, 3, 5, 9, 0, 0, 0, time.UTC))
	res := f.run(t, context.Background(), r, func(o *engine.Options) { o.Now = clock })
	if res.Status != engine.Unapproved || len(r.log) != 0 {
		t.Fatalf("result %s %q after %d steps, want unapproved and nothing done", res.Status, res.Note, len(r.log))
	}
	for _, want := range []string{"wave w1 is not approved", "owner (approved at 2027-03-05T09:00:00Z, but approvals must exist 24h before", "wavectl approve t.yaml --wave w1 --as owner"} {
		if !strings.Contains(res.Note, want) {
			t.Errorf("note %q does not say %q", res.Note, want)
		}
	}
	if strings.Contains(res.Note, "change-board") {
		t.Errorf("note %q names change-board, whose approval counts", res.Note)
	}
	if a := f.app("b"); a.Status != state.Pending || !strings.Contains(a.Reason, "not approved") {
		t.Errorf("b (later wave): %s %q, want pending, saying the run stopped at w1's gate", a.Status, a.Reason)
	}
	approve(t, f, "w1", "owner", f.p.Hash, time.Date(2027, 3, 4, 9, 0, 0, 0, time.UTC))
	res = f.run(t, context.Background(), r, func(o *engine.Options) { o.Now = clock })
	if res.Status != engine.Succeeded {
		t.Fatalf("approved: %s %q, want succeeded", res.Status, res.Note)
	}
}

func TestAChangedPlanInvalidatesItsApprovals(t *testing.T) {
	f := setup(t, gated)
	clock := func() time.Time { return time.Date(2027, 3, 5, 19, 0, 0, 0, time.UTC) }
	day := time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)
	approve(t, f, "w1", "change-board", "0ldhash0ldhash0ld", day)
	approve(t, f, "w1", "owner", f.p.Hash, day)
	res := f.run(t, context.Background(), newRecorder(), func(o *engine.Options) { o.Now = clock })
	if res.Status != engine.Unapproved || !strings.Contains(res.Note, "change-board (approved an earlier version of the plan") {
		t.Fatalf("result %s %q, want unapproved: change-board approved an earlier plan", res.Status, res.Note)
	}
}

func TestARehearsalIsNotHeldBackByGatesOrFreezes(t *testing.T) {
	f := setup(t, gated+`freezes: [{start: "2027-01-01T00:00:00Z", end: "2028-01-01T00:00:00Z", reason: year of rest}]
`)
	res := f.run(t, context.Background(), newRecorder(), func(o *engine.Options) {
		o.Simulate, o.IgnoreWindows = true, true
	})
	if res.Status != engine.Succeeded {
		t.Fatalf("rehearsal: %s %q, want succeeded", res.Status, res.Note)
	}
}

func TestAFreezePausesTheRunAndItCarriesOnAfter(t *testing.T) {
	f := setup(t, `applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a-1]}
  - {name: b, strategy: redeploy, template: tpl, vms: [b-1], dependsOn: [a]}
waves: [{name: w1, applications: [a, b]}]
freezes:
  - {start: "2027-03-31T12:00:00Z", end: "2027-04-01T08:00:00Z", reason: month-end close}
`)
	var now = time.Date(2027, 3, 31, 11, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	r := newRecorder()
	r.outcome = func(app, unit, kind string, attempt int) error {
		if app == "a" && kind == plan.StepClone {
			now = time.Date(2027, 3, 31, 13, 0, 0, 0, time.UTC) // the freeze begins while a clones
		}
		return nil
	}
	res := f.run(t, context.Background(), r, func(o *engine.Options) { o.Now = clock })
	if res.Status != engine.Paused || !strings.Contains(res.Note, "change freeze") || !strings.Contains(res.Note, "month-end close") {
		t.Fatalf("result %s %q, want paused by the month-end freeze", res.Status, res.Note)
	}
	if !r.ran("a/a-1/clone") || r.ran("a/a-1/power-on") || r.ran("b/b-1/clone") {
		t.Errorf("ran %v: want a's clone finished and nothing started in the freeze", r.log)
	}
	now = time.Date(2027, 4, 1, 9, 0, 0, 0, time.UTC)
	r.outcome = nil
	if res = f.run(t, context.Background(), r, func(o *engine.Options) { o.Now = clock }); res.Status != engine.Succeeded {
		t.Fatalf("after the freeze: %s %q", res.Status, res.Note)
	}
}

func TestAnAbortCriterionTripsAndRollsTheWaveBack(t *testing.T) {
	f := setup(t, `applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a-1]}
  - {name: b, strategy: redeploy, template: tpl, vms: [b-1], dependsOn: [a]}
  - {name: c, strategy: redeploy, template: tpl, vms: [c-1], dependsOn: [b]}
waves:
  - {name: w1, applications: [a, b, c], onFailure: rollback, abortWhen: {failedApplications: 1}}
`)
	r := newRecorder()
	r.outcome = func(app, unit, kind string, attempt int) error {
		if app == "b" && kind == plan.StepVerify {
			return errors.New("smoke test failed")
		}
		return nil
	}
	res := f.run(t, context.Background(), r, nil)
	if res.Status != engine.FailedRun || !strings.Contains(res.Note, "wave w1 aborted: failedApplications tripped") {
		t.Fatalf("result %s %q, want failed, naming the criterion", res.Status, res.Note)
	}
	if a := f.app("a"); a.Status != state.RolledBack || !strings.Contains(a.Reason, "failedApplications") {
		t.Errorf("a (done before b failed): %s %q, want rolled back by the criterion", a.Status, a.Reason)
	}
	if !strings.Contains(strings.Join(r.undone, " "), "a/a-1/clone") {
		t.Errorf("undone %v, want a's clone undone", r.undone)
	}
	if c := f.app("c"); c.Status == state.Done || r.ran("c/c-1/clone") {
		t.Errorf("c: %s, ran %v: want it never started", c.Status, r.log)
	}
	var aborts []state.Abort
	f.store.View(func(st *state.State) { aborts = st.Aborts })
	if len(aborts) != 1 || aborts[0].Criterion != "failedApplications" || aborts[0].Action != "rollback" || aborts[0].Wave != "w1" {
		t.Errorf("recorded %+v, want w1's failedApplications with action rollback", aborts)
	}
}

func TestAnOverrunCriterionStopsTheWave(t *testing.T) {
	f := setup(t, `applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a-1]}
  - {name: b, strategy: redeploy, template: tpl, vms: [b-1], dependsOn: [a]}
waves: [{name: w1, applications: [a, b], onFailure: stop, abortWhen: {overrun: 30m}}]
`)
	now := time.Date(2027, 3, 5, 19, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	r := newRecorder()
	est := time.Duration(f.s.Waves[0].Estimate)
	r.outcome = func(app, unit, kind string, attempt int) error {
		if app == "a" && kind == plan.StepVerify {
			now = now.Add(est + 31*time.Minute)
		}
		return nil
	}
	res := f.run(t, context.Background(), r, func(o *engine.Options) { o.Now = clock })
	if res.Status != engine.FailedRun || !strings.Contains(res.Note, "overrun tripped") {
		t.Fatalf("result %s %q, want failed: overrun tripped", res.Status, res.Note)
	}
	if r.ran("b/b-1/clone") {
		t.Errorf("b started after the wave overran")
	}
	if a := f.app("a"); a.Status != state.Pending || !strings.Contains(a.Reason, "overrun tripped") {
		t.Errorf("a: %s %q, want stopped part-way, naming the overrun", a.Status, a.Reason)
	}
}

func TestAUserHoursCriterionStopsTheWaveWhileItsServiceIsDown(t *testing.T) {
	f := setup(t, `applications:
  - {name: a, strategy: remediate, users: 6000, vms: [a-1], remediate: {hardwareVersion: vmx-19}}
waves: [{name: w1, applications: [a], onFailure: stop, abortWhen: {userHoursLost: 500}}]
`)
	now := time.Date(2027, 3, 5, 19, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	r := newRecorder()
	r.outcome = func(app, unit, kind string, attempt int) error {
		if kind == plan.StepPowerOff {
			now = now.Add(10 * time.Minute) // 6000 users x 10 minutes down: 1000 user-hours
		}
		return nil
	}
	res := f.run(t, context.Background(), r, func(o *engine.Options) { o.Now = clock })
	if res.Status != engine.FailedRun || !strings.Contains(res.Note, "userHoursLost tripped, 1000 user-hours lost (limit 500)") {
		t.Fatalf("result %s %q, want failed: userHoursLost tripped", res.Status, res.Note)
	}
	if !r.ran("a/a-1/power-off") || r.ran("a/a-1/upgrade-hardware") {
		t.Errorf("ran %v: want power-off done and nothing after it", r.log)
	}
	var aborts []state.Abort
	f.store.View(func(st *state.State) { aborts = st.Aborts })
	if len(aborts) != 1 || aborts[0].Criterion != "userHoursLost" || aborts[0].Action != "stop" {
		t.Errorf("recorded %+v, want userHoursLost with action stop", aborts)
	}
}
