package schedule_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
)

// boundBelowEstimate checks that the lower bound is never above the
// estimate for the same schedule and host counts: for the whole run, each
// wave and the conveyor. The estimate is a schedule that obeys every limit
// the bound counts, so a bound above it is a wrong bound, or an estimate
// that breaks a limit.
func boundBelowEstimate(t *testing.T, name string, s *schedule.Schedule) {
	t.Helper()
	b := schedule.LowerBound(s, nil)
	if est := time.Duration(s.Totals.Estimate); b.Total > est {
		t.Errorf("%s (hosts %v): the lower bound %s (%s) is above the estimate %s", name, s.Hosts, b.Total, b.Binding, est)
	}
	for i, w := range b.Waves {
		if est := time.Duration(s.Waves[i].Estimate); w.Bound > est {
			t.Errorf("%s (hosts %v): wave %s's lower bound %s (%s) is above its estimate %s", name, s.Hosts, w.Name, w.Bound, w.Binding, est)
		}
	}
	if b.Conveyor != nil && s.Conveyor != nil {
		if est := time.Duration(s.Conveyor.Estimate); b.Conveyor.Bound > est {
			t.Errorf("%s (hosts %v): the conveyor's lower bound %s (%s) is above its estimate %s", name, s.Hosts, b.Conveyor.Bound, b.Conveyor.Binding, est)
		}
	}
}

// clustersOf names every target cluster of a plan's applications.
func clustersOf(p *plan.Plan) []string {
	var out []string
	for _, a := range p.Applications {
		if c := a.Resolved.Cluster; c != "" && a.Resolved.Host == "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// hostCounts are the host counts a plan is checked with: none (offline),
// and every cluster at 1, 3 and 16 hosts.
func hostCounts(p *plan.Plan) []map[string]int {
	out := []map[string]int{nil}
	for _, n := range []int{1, 3, 16} {
		m := map[string]int{}
		for _, c := range clustersOf(p) {
			m[c] = n
		}
		out = append(out, m)
	}
	return out
}

// The reference programme (written by plans/gen) and every example: the
// bound is never above the estimate, offline and with hosts counted.
func TestTheLowerBoundIsNeverAboveTheEstimateForTheShippedPlans(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	more, _ := filepath.Glob("../../examples/*/*.yaml")
	files = append(append(files, more...), "../../plans/crown-hosting.yaml")
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, probs, err := plan.Load(f, data)
		if err != nil || probs.Errors() > 0 {
			continue // not a plan (a rules file, say)
		}
		for _, hosts := range hostCounts(p) {
			s, _ := schedule.CompileHosts(p, nil, hosts)
			boundBelowEstimate(t, filepath.Base(f), s)
		}
		checked++
	}
	if checked < 5 {
		t.Errorf("checked %d plans; the examples and the reference programme are more", checked)
	}
}

// genPlan writes a random valid plan: waves of applications of every
// strategy on a few clusters, fixed hosts and datastores, with
// dependencies, a conveyor, VMs on and off, live and cold moves, and
// random limits and budgets.
func genPlan(r *rand.Rand) string {
	var b strings.Builder
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	hb := 4 + r.IntN(13)
	db := 16 + r.IntN(113)
	nb := 1 + r.IntN(8)
	fmt.Fprintf(&b, "limits: {concurrency: %d, perHost: %d, perDatastore: %d, hostBudget: %d, datastoreBudget: %d, networkBudget: %d, costs: {relocate-live: {host: %d}}}\n",
		1+r.IntN(32), 1+r.IntN(8), 1+r.IntN(8), hb, db, nb, min(4, hb))
	fmt.Fprintf(&b, "estimates: {clone: %dm, relocate: %dm, power-on: %ds, verify: %dm}\n", 1+r.IntN(20), 1+r.IntN(30), r.IntN(120), r.IntN(5))
	b.WriteString("applications:\n")
	var waves [][]string
	var conveyor []string
	app := 0
	nWaves := 1 + r.IntN(3)
	for w := 0; w <= nWaves; w++ {
		var names []string
		for range 1 + r.IntN(5) {
			name := fmt.Sprintf("a%d", app)
			app++
			strat := pick("redeploy", "remediate", "remediate", "virtualise", "replace")
			fmt.Fprintf(&b, "  - name: %s\n    strategy: %s\n", name, strat)
			switch r.IntN(3) {
			case 0:
				fmt.Fprintf(&b, "    target: {host: %s, datastore: %s}\n", pick("h1", "h2"), pick("ds1", "ds2", "ds3", "ds4"))
			case 1:
				fmt.Fprintf(&b, "    target: {cluster: %s, datastore: %s}\n", pick("C1", "C2", "C3"), pick("ds1", "ds2", "ds3", "ds4"))
			}
			if len(names) > 0 && r.IntN(3) == 0 {
				fmt.Fprintf(&b, "    dependsOn: [%s]\n", names[r.IntN(len(names))])
			}
			n := 1 + r.IntN(12)
			switch strat {
			case "virtualise":
				b.WriteString("    servers:\n")
				for i := range n {
					fmt.Fprintf(&b, "      - {name: %s-s%d, cpus: 2, memoryMB: 4096, disksGB: [%d]}\n", name, i, 10+r.IntN(500))
				}
			case "replace":
				fmt.Fprintf(&b, "    vms: [%s-old]\n    replacement: {template: tpl, name: %s-new}\n", name, name)
			default:
				if strat == "redeploy" {
					b.WriteString("    template: tpl\n")
				}
				if strat == "remediate" {
					fmt.Fprintf(&b, "    move: %s\n", pick("auto", "cold", "live"))
				}
				b.WriteString("    vms:\n")
				for i := range n {
					fmt.Fprintf(&b, "      - {name: %s-%d, powerState: %s}\n", name, i, pick("poweredOn", "poweredOn", "poweredOff"))
				}
			}
			names = append(names, name)
		}
		if w == nWaves {
			if r.IntN(2) == 0 {
				conveyor = names
			} else {
				waves = append(waves, names)
			}
		} else {
			waves = append(waves, names)
		}
	}
	b.WriteString("waves:\n")
	for i, w := range waves {
		fmt.Fprintf(&b, "  - {name: w%d, applications: [%s]}\n", i, strings.Join(w, ", "))
	}
	if conveyor != nil {
		fmt.Fprintf(&b, "conveyor: {applications: [%s], inFlight: %d}\n", strings.Join(conveyor, ", "), 1+r.IntN(3))
	}
	return b.String()
}

// Generated plans, offline and with hosts counted: the bound is never
// above the estimate.
func TestTheLowerBoundIsNeverAboveTheEstimateForGeneratedPlans(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 5))
	for i := range 300 {
		body := genPlan(r)
		p, probs, err := plan.Load("gen.yaml", []byte(header+body))
		if err != nil || probs.Errors() > 0 {
			t.Fatalf("generated plan %d does not load: %v\n%s\n%s", i, err, probs, body)
		}
		for _, hosts := range hostCounts(p) {
			s, _ := schedule.CompileHosts(p, nil, hosts)
			before := t.Failed()
			boundBelowEstimate(t, fmt.Sprintf("generated plan %d", i), s)
			if !before && t.Failed() {
				t.Logf("generated plan %d:\n%s", i, body)
			}
		}
		if t.Failed() {
			return
		}
	}
}
