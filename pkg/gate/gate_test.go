package gate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/gate"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/state"
)

func load(t *testing.T, gates string) *plan.Plan {
	t.Helper()
	p, _, err := plan.Load("g.yaml", []byte(`apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: g}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: OLD}
target: {datacenter: NEW, cluster: C1, datastore: ds1}
applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a1]}
  - {name: b, strategy: redeploy, template: tpl, vms: [b1]}
  - {name: c, strategy: redeploy, template: tpl, vms: [c1]}
waves:
  - {name: w1, applications: [a], window: {start: "2027-03-06T20:00:00Z", end: "2027-03-07T02:00:00Z"}}
  - {name: w2, applications: [b]}
conveyor: {applications: [c]}
`+gates))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAGateWithoutWavesCoversEveryWaveAndTheConveyor(t *testing.T) {
	p := load(t, "gates: [{approvers: [cab]}]\n")
	for _, w := range []string{"w1", "w2", plan.ConveyorGate} {
		if s := gate.Check(p, nil, w); !s.Gated() || s.Open() || s.Missing[0].Approver != "cab" {
			t.Errorf("%s: %+v, want gated by cab and closed", w, s)
		}
	}
}

func TestGatesNameTheirWavesOrTheConveyor(t *testing.T) {
	p := load(t, "gates: [{waves: [w1], approvers: [cab]}, {conveyor: true, approvers: [owner, cab]}]\n")
	if s := gate.Check(p, nil, "w2"); s.Gated() {
		t.Errorf("w2 is gated: %+v", s)
	}
	if s := gate.Check(p, nil, plan.ConveyorGate); strings.Join(s.Required, ",") != "owner,cab" {
		t.Errorf("conveyor needs %v, want owner and cab", s.Required)
	}
	approved := []state.Approval{{Wave: plan.ConveyorGate, As: "owner", PlanHash: p.Hash, At: time.Now()}, {Wave: "w1", As: "cab", PlanHash: p.Hash, At: time.Now()}}
	s := gate.Check(p, approved, plan.ConveyorGate)
	if s.Open() || len(s.Approved) != 1 || s.Missing[0].Approver != "cab" {
		t.Errorf("conveyor: %+v, want owner's approval counted and cab's (given for w1) missing", s)
	}
	if !strings.Contains(s.Describe("g.yaml", ""), "wavectl approve g.yaml --conveyor --as cab") {
		t.Errorf("describe: %q", s.Describe("g.yaml", ""))
	}
}

func TestAnApprovalMustExistTheLeadTimeBeforeTheWindow(t *testing.T) {
	p := load(t, "gates: [{waves: [w1], approvers: [cab], before: 24h}]\n")
	open := time.Date(2027, 3, 6, 20, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Time
		open bool
	}{{open.Add(-25 * time.Hour), true}, {open.Add(-24 * time.Hour), true}, {open.Add(-23 * time.Hour), false}} {
		s := gate.Check(p, []state.Approval{{Wave: "w1", As: "cab", PlanHash: p.Hash, At: tc.at}}, "w1")
		if s.Open() != tc.open {
			t.Errorf("approved at %s: open %v, want %v (%+v)", tc.at, s.Open(), tc.open, s.Missing)
		}
	}
}
