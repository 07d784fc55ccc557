package schedule_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
)

// Worked by hand: every redeployed VM's chain is 20 minutes, 17 of them
// holding its slots (not the 3 of verification).
//   - wave w1: four VMs on ds1, two at a time: 68m of work / 2 = 34m (the
//     run's 16 and the cluster's 1 host x 8 bound it less);
//   - wave w2: b then c through dependsOn, one VM each: 20m + 20m = 40m;
//   - the conveyor: two one-VM applications, one at a time: 40m, beside
//     the waves' 74m.
func TestLowerBoundByHand(t *testing.T) {
	s, _ := compile(t, `estimates: {clone: 10m, power-on: 2m, verify: 3m, record-state: 1m, power-off: 2m, retire: 2m}
limits: {concurrency: 16, perHost: 8, perDatastore: 2}
applications:
  - {name: a, strategy: redeploy, template: tpl, vms: [a-1, a-2, a-3, a-4]}
  - {name: b, strategy: redeploy, template: tpl, vms: [b-1], target: {datastore: ds2}}
  - {name: c, strategy: redeploy, template: tpl, vms: [c-1], dependsOn: [b], target: {datastore: ds2}}
  - {name: d, strategy: redeploy, template: tpl, vms: [d-1], target: {datastore: ds3}}
  - {name: e, strategy: redeploy, template: tpl, vms: [e-1], target: {datastore: ds3}}
waves: [{name: w1, applications: [a]}, {name: w2, applications: [b, c]}]
conveyor: {applications: [d, e], inFlight: 1}
`)
	b := schedule.LowerBound(s, map[string]int{"C1": 1})
	want := []struct {
		name    string
		bound   time.Duration
		binding string
	}{
		{"w1", 34 * time.Minute, "datastore ds1: 1h08m of work, 2 at a time"},
		{"w2", 40 * time.Minute, "the dependency chain b -> c"},
	}
	if len(b.Waves) != 2 {
		t.Fatalf("%d wave bounds, want 2", len(b.Waves))
	}
	for i, w := range want {
		if got := b.Waves[i]; got.Name != w.name || got.Bound != w.bound || got.Binding != w.binding {
			t.Errorf("wave %d: %+v, want %s %s %q", i, got, w.name, w.bound, w.binding)
		}
	}
	if b.Conveyor == nil || b.Conveyor.Bound != 40*time.Minute {
		t.Errorf("conveyor bound %+v, want 40m", b.Conveyor)
	}
	if b.Total != 74*time.Minute || b.Binding != "waves back to back" {
		t.Errorf("total %s (%s), want 74m, waves back to back", b.Total, b.Binding)
	}

	// With one slot on the cluster's one host, the cluster binds: w1's four
	// VMs take 68m one at a time.
	s.Limits.PerHost = 1
	b = schedule.LowerBound(s, map[string]int{"C1": 1})
	if b.Waves[0].Bound != 68*time.Minute || !strings.HasPrefix(b.Waves[0].Binding, "cluster C1: 1h08m of work, 1 at a time") {
		t.Errorf("w1 with one slot per host: %+v", b.Waves[0])
	}
	// The whole run's work on the cluster (8 VMs, 136m, one at a time)
	// now exceeds the waves back to back (68m + 40m).
	if b.Total != 136*time.Minute || !strings.HasPrefix(b.Binding, "cluster C1") {
		t.Errorf("total %s (%s), want 2h16m bound by cluster C1", b.Total, b.Binding)
	}
}

// A lower bound is never above what a schedule achieves: wavectl's own
// estimate (a greedy list schedule of the same work under the same limits)
// is at least the bound, for every example and the reference programme.
func TestTheEstimateIsNeverBelowTheLowerBound(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	files = append(files, "../../plans/crown-hosting.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, probs, err := plan.Load(f, data)
		if err != nil || probs.Errors() > 0 {
			continue // not a plan (a rules file, say)
		}
		s, _ := schedule.Compile(p)
		b := schedule.LowerBound(s, nil)
		if b.Total <= 0 {
			t.Errorf("%s: bound %s", f, b.Total)
		}
		if est := time.Duration(s.Totals.Estimate); est < b.Total {
			t.Errorf("%s: estimate %s is below the lower bound %s (%s)", f, est, b.Total, b.Binding)
		}
		t.Logf("%s: estimate %s, bound %s (%s)", filepath.Base(f), time.Duration(s.Totals.Estimate), b.Total, b.Binding)
	}
}
