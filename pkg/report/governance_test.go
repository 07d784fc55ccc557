package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/state"
)

// drifted is a record of one run that estimated wave w1 at 20 minutes
// (a: clone 10m, power-on 1m) and took 30: a's clone 18 minutes.
func drifted() *state.State {
	t0 := time.Date(2027, 3, 6, 20, 0, 0, 0, time.UTC)
	at := func(m int) *time.Time { t := t0.Add(time.Duration(m) * time.Minute); return &t }
	st := state.NewState("d", "d.yaml", "h")
	end := *at(30)
	st.Runs = []*state.Run{{Command: "apply", Started: t0, Ended: &end, Result: "succeeded", Estimate: &state.Estimate{
		Source: "calibrated", Runs: 3, Steps: 40,
		Waves:    map[string]state.Span{"w1": {P50: 1200, P90: 1500}},
		Apps:     map[string]map[string]float64{"a": {"clone": 600, "power-on": 60}},
		AppSpans: map[string]float64{"a": 1200},
	}}}
	st.Apps = []*state.App{{Name: "a", Wave: "w1", Strategy: "redeploy", Status: state.Done, Started: at(0), Ended: at(30),
		Units: []*state.Unit{{Name: "a1", Status: state.Done, Steps: []*state.Step{
			{Kind: "clone", Status: state.Done, Started: at(0), Ended: at(18)},
			{Kind: "power-on", Status: state.Done, Started: at(18), Ended: at(19)},
		}}}}}
	st.Approvals = []state.Approval{{Wave: "w1", As: "cab", PlanHash: "h", At: t0.Add(-48 * time.Hour), User: "alice", Host: "ops-01", Note: "CHG1"}}
	st.Aborts = []state.Abort{{Wave: "w1", Criterion: "overrun", Detail: "running 1h against 20m", Action: "stop", At: t0}}
	return st
}

func TestDriftComparesTheRecordedEstimateWithTheMeasurement(t *testing.T) {
	d := DriftOf(drifted())
	if d == nil || d.Source != "calibrated" {
		t.Fatalf("drift %+v: want one from the calibrated estimate", d)
	}
	line := func(list []DriftLine, name string) DriftLine {
		for _, l := range list {
			if l.Name == name {
				return l
			}
		}
		t.Fatalf("no %s in %+v", name, list)
		return DriftLine{}
	}
	if w := line(d.Waves, "w1"); w.Estimated != 1200 || w.EstimatedP90 != 1500 || w.Measured != 1800 || w.Ratio != 1.5 {
		t.Errorf("wave w1: %+v, want 20m (P90 25m) against 30m, ratio 1.5", w)
	}
	if k := line(d.Kinds, "clone"); k.Estimated != 600 || k.Measured != 1080 || k.Ratio != 1.8 {
		t.Errorf("clone: %+v, want 10m against 18m, ratio 1.8", k)
	}
	if a := line(d.Apps, "a"); a.Estimated != 1200 || a.Measured != 1800 {
		t.Errorf("application a: %+v, want its 20m span against 30m", a)
	}
	if k := line(d.Kinds, "power-on"); k.Ratio != 1 {
		t.Errorf("power-on: %+v, want ratio 1", k)
	}
	if DriftOf(state.NewState("x", "x.yaml", "h")) != nil {
		t.Error("a record with no run has drift")
	}
}

func TestTheReportShowsDriftApprovalsAndTrippedCriteria(t *testing.T) {
	r := BuildWith(drifted(), nil, time.Date(2027, 3, 7, 0, 0, 0, 0, time.UTC), ReportOptions{})
	var md, page bytes.Buffer
	if err := WriteDriftMarkdown(&md, r.Drift); err != nil {
		t.Fatal(err)
	}
	if err := WriteGovernanceMarkdown(&md, r.Approvals, r.Aborts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| w1 | 20m (P90 25m) | 30m | 1.50 |", "| clone | 10m | 18m | 1.80 |",
		"wave w1 approved by cab (alice@ops-01) at 2027-03-04T20:00:00Z for plan sha256 h: CHG1", "tripped: wave w1: overrun tripped"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, page.String())
	for _, want := range []string{"Estimate against measurement", "wave w1</td>", "approved by cab"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
