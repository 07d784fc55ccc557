package schedule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/schedule"
)

// Worked by hand: four VMs move live onto host h1, each a 10-minute
// relocate (every other step takes no time). A live relocate costs 4 of a
// host's budget of 8 (vCenter's defaults), so two run at once: 20 minutes,
// though perHost (8) and perDatastore (8) would let all four run. Costing
// it the whole host (8) runs them one at a time: 40 minutes.
func TestTheBudgetsBoundTheEstimateAndTheLowerBound(t *testing.T) {
	const apps = `estimates: {relocate: 10m, record-state: 0s, snapshot: 0s, switch-over: 0s, verify: 0s, remove-snapshot: 0s, clone: 10m, power-on: 0s, power-off: 0s, retire: 0s}
applications:
  - {name: a, strategy: remediate, vms: [a-1, a-2, a-3, a-4], target: {host: h1}}
waves: [{name: w1, applications: [a]}]
`
	for _, c := range []struct {
		name    string
		limits  string
		want    time.Duration
		binding string
	}{
		{"vCenter's defaults", "", 20 * time.Minute, "host h1's host budget: 2h40m of cost-weighted work, 1 host(s) x 8"},
		{"a live move costs the whole host", "limits: {costs: {relocate-live: {host: 8}}}\n", 40 * time.Minute, "host h1's host budget: 5h20m of cost-weighted work, 1 host(s) x 8"},
		{"a 1GbE vMotion network, one at a time", "limits: {networkBudget: 1, costs: {relocate-live: {host: 1}}}\n", 40 * time.Minute, "host h1's vMotion network budget: 40m of cost-weighted work, 1 host(s) x 1"},
		{"a bigger host budget", "limits: {hostBudget: 16}\n", 10 * time.Minute, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := compile(t, c.limits+apps)
			if got := time.Duration(s.Waves[0].Estimate); got != c.want {
				t.Errorf("estimate %s, want %s", got, c.want)
			}
			b := schedule.LowerBound(s, nil)
			if b.Total != c.want || !strings.Contains(b.Binding, c.binding) {
				t.Errorf("bound %s (%s), want %s (%s)", b.Total, b.Binding, c.want, c.binding)
			}
		})
	}
}

// A cluster's host budgets bind the bound only when its hosts are
// counted: two hosts run four live moves at once.
func TestTheBoundCountsAClustersHostBudgetsOverItsHosts(t *testing.T) {
	s, _ := compile(t, `estimates: {relocate: 10m, record-state: 0s, snapshot: 0s, switch-over: 0s, verify: 0s, remove-snapshot: 0s}
applications:
  - {name: a, strategy: remediate, vms: [a-1, a-2, a-3, a-4, a-5, a-6, a-7, a-8]}
waves: [{name: w1, applications: [a]}]
`)
	// 8 live moves: 80m of relocation at cost 4 is 320m of host work.
	if b := schedule.LowerBound(s, map[string]int{"C1": 2}); b.Total != 20*time.Minute || !strings.Contains(b.Binding, "cluster C1's host budget") {
		t.Errorf("two hosts: bound %s (%s), want 20m by cluster C1's host budget", b.Total, b.Binding)
	}
	// Not counted: the datastore budget binds (16 x 80m / 128 = 10m).
	if b := schedule.LowerBound(s, nil); b.Total != 10*time.Minute {
		t.Errorf("hosts not counted: bound %s (%s), want 10m", b.Total, b.Binding)
	}
}
