package schedule_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
)

const header = `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: t}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: DC0}
target: {datacenter: DC1, cluster: C1, datastore: ds1}
`

func compile(t *testing.T, body string) (*schedule.Schedule, plan.Problems) {
	t.Helper()
	p, _, err := plan.Load("t.yaml", []byte(header+body))
	if err != nil {
		t.Fatalf("plan does not load: %v", err)
	}
	return schedule.Compile(p)
}

func names(apps []*schedule.App) string {
	var out []string
	for _, a := range apps {
		out = append(out, a.Name)
	}
	return strings.Join(out, ",")
}

func TestApplicationsRunAfterWhatTheyDependOnWithinAWave(t *testing.T) {
	s, _ := compile(t, `estimates: {clone: 10m, power-on: 0s, verify: 0s, record-state: 0s, power-off: 0s, retire: 0s}
applications:
  - {name: web, strategy: redeploy, template: tpl, vms: [web-1], dependsOn: [app]}
  - {name: app, strategy: redeploy, template: tpl, vms: [app-1], dependsOn: [db]}
  - {name: db, strategy: redeploy, template: tpl, vms: [db-1]}
  - {name: docs, strategy: redeploy, template: tpl, vms: [docs-1]}
waves: [{name: w1, applications: [web, app, db, docs]}]
`)
	if got := names(s.Waves[0].Apps); got != "db,app,web,docs" {
		t.Errorf("order = %s, want db,app,web,docs (dependencies first, plan order otherwise)", got)
	}
	// db, app and web form a chain of three 10-minute clones; docs runs
	// alongside, so the wave takes 30 minutes.
	if got := time.Duration(s.Waves[0].Estimate); got != 30*time.Minute {
		t.Errorf("wave estimate = %s, want 30m", got)
	}
	if got := time.Duration(s.Waves[0].Apps[2].Start); got != 20*time.Minute {
		t.Errorf("web starts at +%s, want +20m (after db and app)", got)
	}
}

func TestConcurrencyAndDatastoreLimitsStretchTheEstimate(t *testing.T) {
	body := func(limits string) string {
		return `estimates: {clone: 10m, power-on: 0s, verify: 0s, record-state: 0s, power-off: 0s, retire: 0s}
limits: ` + limits + `
applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a1, a2, a3, a4]}
  - {name: b, strategy: redeploy, template: tpl, vms: [b1, b2], target: {datastore: ds2}}
waves: [{name: w1, applications: [a, b]}]
`
	}
	cases := []struct {
		name   string
		limits string
		want   time.Duration
	}{
		{"six VMs with room for all run in one round", "{concurrency: 6, perDatastore: 6}", 10 * time.Minute},
		{"six VMs two at a time take three rounds", "{concurrency: 2, perDatastore: 6}", 30 * time.Minute},
		{"one VM per datastore at a time serialises the busiest datastore", "{concurrency: 6, perDatastore: 1}", 40 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := compile(t, body(c.limits))
			if got := time.Duration(s.Waves[0].Estimate); got != c.want {
				t.Errorf("estimate = %s, want %s", got, c.want)
			}
		})
	}
}

func TestUserHoursAreUsersTimesOutage(t *testing.T) {
	// remediate with no hardware or size change: outage is power-off (2m),
	// relocate (15m), power-on (1m) and verify (3m) by default = 21m; the
	// plan sets relocate to 39m, so the outage is 45m. 1200 users x 0.75h.
	// (Moved cold: live, only the switch-over would count.)
	s, _ := compile(t, `estimates: {relocate: 39m}
move: cold
applications:
  - {name: payroll, strategy: remediate, users: 1200, vms: [pay-1, pay-2]}
waves: [{name: w1, applications: [payroll]}]
`)
	a := s.Waves[0].Apps[0]
	if got := time.Duration(a.Outage); got != 45*time.Minute {
		t.Errorf("outage = %s, want 45m", got)
	}
	if a.ProjectedUserHours != 900 {
		t.Errorf("user-hours = %v, want 900", a.ProjectedUserHours)
	}
	if s.Totals.ProjectedUserHours != 900 || s.Waves[0].ProjectedUserHours != 900 {
		t.Errorf("totals = %v / wave %v, want 900", s.Totals.ProjectedUserHours, s.Waves[0].ProjectedUserHours)
	}
}

func TestALiveMoveCountsOnlyItsSwitchOver(t *testing.T) {
	// pay-1 moves live: its outage is the switch-over (10s here). Moved
	// cold it would be down 2m+15m+1m+3m = 21m: 1200 users x (21m - 10s)
	// are avoided. pay-2 is off: it moves cold, and says why.
	s, _ := compile(t, `estimates: {switch-over: 10s}
applications:
  - {name: payroll, strategy: remediate, users: 1200, vms: [pay-1]}
  - {name: batch, strategy: remediate, users: 10, vms: [{name: pay-2, powerState: poweredOff}]}
waves: [{name: w1, applications: [payroll, batch]}]
`)
	a := s.Waves[0].Apps[0]
	if got := time.Duration(a.Outage); got != 10*time.Second {
		t.Errorf("outage = %s, want the 10s switch-over", got)
	}
	if len(a.Moves) != 1 || !a.Moves[0].Live {
		t.Fatalf("moves %+v, want pay-1 live", a.Moves)
	}
	if b := s.Waves[0].Apps[1]; len(b.Moves) != 1 || b.Moves[0].Live || !strings.Contains(b.Moves[0].Why, "powered off") || b.UserHoursAvoided != 0 {
		t.Errorf("batch moves %+v avoided %v, want pay-2 cold because it is off", b.Moves, b.UserHoursAvoided)
	}
	if s.Totals.LiveMoves != 1 {
		t.Errorf("live moves %d, want 1", s.Totals.LiveMoves)
	}
	want := round(1200*(21*time.Minute).Hours() - 1200*(10*time.Second).Hours())
	if a.UserHoursAvoided != want || s.Totals.UserHoursAvoided != want {
		t.Errorf("avoided %v (total %v), want %v", a.UserHoursAvoided, s.Totals.UserHoursAvoided, want)
	}
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func TestRedeployAndReplaceProjectNoOutage(t *testing.T) {
	s, _ := compile(t, `applications:
  - {name: intranet, strategy: redeploy, users: 5000, template: tpl, vms: [web-1]}
  - {name: fax, strategy: replace, users: 80, vms: [fax-1], replacement: {template: tpl-fax, name: fax-new}}
conveyor: {applications: [intranet, fax]}
`)
	for _, a := range s.Conveyor.Apps {
		if a.Outage != 0 || a.ProjectedUserHours != 0 {
			t.Errorf("%s: outage %s, %v user-hours; the old service runs until the new one verifies", a.Name, a.Outage, a.ProjectedUserHours)
		}
	}
}

func TestTheConveyorRunsInFlightAtATime(t *testing.T) {
	body := func(inFlight int) string {
		return `estimates: {clone: 10m, power-on: 0s, verify: 0s, record-state: 0s, power-off: 0s, retire: 0s}
applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a1]}
  - {name: b, strategy: redeploy, template: tpl, vms: [b1]}
  - {name: c, strategy: redeploy, template: tpl, vms: [c1]}
conveyor: {applications: [a, b, c], inFlight: ` + string(rune('0'+inFlight)) + `}
`
	}
	for _, c := range []struct {
		inFlight int
		want     time.Duration
	}{{1, 30 * time.Minute}, {2, 20 * time.Minute}, {3, 10 * time.Minute}} {
		s, _ := compile(t, body(c.inFlight))
		if got := time.Duration(s.Conveyor.Estimate); got != c.want {
			t.Errorf("inFlight %d: estimate %s, want %s", c.inFlight, got, c.want)
		}
	}
}

func TestAWaveLongerThanItsWindowIsWarned(t *testing.T) {
	_, probs := compile(t, `estimates: {relocate: 3h}
applications:
  - {name: a, strategy: remediate, vms: [a1]}
waves:
  - name: w1
    window: {start: "2027-01-01T20:00:00Z", end: "2027-01-01T22:00:00Z"}
    applications: [a]
`)
	if len(probs) != 1 || probs[0].Severity != plan.SeverityWarning || !strings.Contains(probs[0].Message, "window is 2h00m long") {
		t.Fatalf("problems = %v, want one warning about the 2h window", probs)
	}
	if probs[0].Line != 12 {
		t.Errorf("warning at line %d, want 12 (the window)", probs[0].Line)
	}
}

func TestReplaceRetiresOldVMsOnlyAfterTheReplacementVerifies(t *testing.T) {
	s, _ := compile(t, `estimates: {clone: 10m, power-on: 1m, verify: 1m, record-state: 0s, power-off: 1m, retire: 1m}
applications:
  - {name: fax, strategy: replace, vms: [fax-1, fax-2], replacement: {template: tpl-fax, name: fax-new}}
waves: [{name: w1, applications: [fax]}]
`)
	a := s.Waves[0].Apps[0]
	// 12m for the replacement, then both old VMs side by side (2m); the
	// deferred decommission is not part of the estimate.
	if got := time.Duration(a.Estimate); got != 14*time.Minute {
		t.Errorf("estimate = %s, want 14m", got)
	}
	last := a.Steps[len(a.Steps)-1]
	if last.Kind != plan.StepDecommission || !last.Deferred {
		t.Errorf("last step = %+v, want a deferred decommission", last.Step)
	}
}

func TestEstimatesTooLargeToAddUpStillWarnInsteadOfWrappingRound(t *testing.T) {
	// Two waves of 2,000 VMs, every step a week (the longest a plan may
	// say), one at a time: together more than a time.Duration holds.
	var a, b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&a, "a-%d, ", i)
		fmt.Fprintf(&b, "b-%d, ", i)
	}
	kinds := "{snapshot: 168h, power-off: 168h, upgrade-hardware: 168h, reconfigure: 168h, relocate: 168h, power-on: 168h, verify: 168h, remove-snapshot: 168h, record-state: 168h}"
	s, probs := compile(t, `estimates: `+kinds+`
limits: {concurrency: 1}
applications:
  - {name: a, strategy: remediate, vms: [`+a.String()+`], remediate: {hardwareVersion: vmx-19}}
  - {name: b, strategy: remediate, vms: [`+b.String()+`], remediate: {hardwareVersion: vmx-19}}
waves:
  - {name: w1, applications: [a], window: {start: "2027-03-06T20:00:00Z", end: "2027-03-07T06:00:00Z"}}
  - {name: w2, applications: [b]}
`)
	w1 := time.Duration(s.Waves[0].Estimate)
	if w1 < 100*365*24*time.Hour {
		t.Errorf("wave w1 estimated at %v, want centuries", w1)
	}
	if got := time.Duration(s.Totals.Estimate); got < w1 {
		t.Errorf("the run is estimated at %v, less than its first wave's %v: the sum wrapped round", got, w1)
	}
	if len(probs) != 1 || !strings.Contains(probs[0].Message, "wave w1 is estimated at") {
		t.Errorf("problems = %v, want the window warning", probs)
	}
}
