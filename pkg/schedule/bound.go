package schedule

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
)

// Bound is a lower bound on how long a schedule can take under the plan's
// limits, whatever order the work is done in: no run, by wavectl or by
// anyone, with the same step durations and limits finishes sooner. Its
// ratio to a measured run says how well the run kept vCenter busy.
type Bound struct {
	// Total is the bound of the whole run: the waves back to back, with the
	// conveyor alongside them and sharing their hosts and datastores.
	Total time.Duration `json:"total"`
	// Binding says what sets Total, e.g. "waves back to back".
	Binding  string      `json:"binding"`
	Waves    []WaveBound `json:"waves"`
	Conveyor *WaveBound  `json:"conveyor,omitempty"`
}

// WaveBound is the bound of one wave (or the conveyor) and what sets it.
type WaveBound struct {
	Name  string        `json:"name"`
	Bound time.Duration `json:"bound"`
	// Binding is the resource or chain that sets the bound: a datastore or
	// cluster with its work and limit, the run's concurrency, or the
	// longest dependency chain.
	Binding string `json:"binding"`
}

// LowerBound computes the schedule's lower bound from its step estimates
// (the plan's estimates, or a benchmark's measured task durations) and the
// plan's limits. Within a wave, a unit holds a slot of the run's
// concurrency, of its target datastore and of a host of its cluster for
// the whole chain of its steps in a phase (as the engine does), so:
//
//   - each datastore's work divided by perDatastore,
//   - each cluster's work divided by perHost times its hosts (hosts names
//     the number of hosts per target cluster; nil takes the schedule's own,
//     s.Hosts; a cluster whose hosts are not counted is left out, as the
//     estimate leaves it to vCenter's placement), or a fixed host's work
//     divided by perHost,
//   - all the work divided by the run's concurrency,
//   - the longest chain of applications through dependsOn, each taking its
//     phases one after another and each phase as long as its longest unit,
//   - vCenter's budgets (plan/costs.go): each step holds its kind's cost
//     while it runs, so each datastore's cost-weighted step time divided by
//     datastoreBudget, and each host's (or cluster's, hosts x the budget,
//     when hosts gives its number of hosts) divided by hostBudget and by
//     networkBudget,
//
// all bound the wave; the largest is its bound. Waves run one after
// another; the conveyor runs beside them, inFlight applications at a time,
// and takes slots from the same hosts and datastores, so the run's work on
// each resource bounds the whole run too.
func LowerBound(s *Schedule, hosts map[string]int) Bound {
	if hosts == nil {
		hosts = s.Hosts
	}
	var b Bound
	all := newLoad(s, hosts)
	var waves time.Duration
	for _, w := range s.Waves {
		l := newLoad(s, hosts)
		for _, a := range w.Apps {
			l.add(a)
			all.add(a)
		}
		wb := l.bound(w.Name, w.Apps)
		b.Waves = append(b.Waves, wb)
		waves = sat(waves, wb.Bound)
	}
	b.Total, b.Binding = waves, "waves back to back"
	if len(s.Waves) == 1 && len(b.Waves) == 1 {
		b.Binding = "wave " + b.Waves[0].Name + ": " + b.Waves[0].Binding
	}
	if c := s.Conveyor; c != nil && len(c.Apps) > 0 {
		l := newLoad(s, hosts)
		var sum, longest time.Duration
		for _, a := range c.Apps {
			l.add(a)
			all.add(a)
			d := appSpan(a)
			sum = sat(sum, d)
			longest = max(longest, d)
		}
		inFlight := max(c.InFlight, 1)
		cb := l.bound("conveyor", nil)
		if d := sum / time.Duration(inFlight); d > cb.Bound {
			cb.Bound, cb.Binding = d, fmt.Sprintf("%d application(s) at a time: %s of work", inFlight, Seconds(sum))
		}
		if longest > cb.Bound {
			cb.Bound, cb.Binding = longest, "its longest application"
		}
		b.Conveyor = &cb
		if cb.Bound > b.Total {
			b.Total, b.Binding = cb.Bound, "the conveyor: "+cb.Binding
		}
	}
	if r := all.bound("the whole run", nil); r.Bound > b.Total {
		b.Total, b.Binding = r.Bound, r.Binding
	}
	return b
}

// load sums the unit work a set of applications puts on each resource.
type load struct {
	s     *Schedule
	hosts map[string]int
	total time.Duration
	ds    map[string]time.Duration
	// cluster work, keyed by cluster name; fixed hosts by "host NAME"
	cluster map[string]time.Duration
	// budget work: step time x cost, by datastore, and by cluster or
	// fixed host (keyed as cluster) for the host and network budgets
	bds, bhost, bnet map[string]time.Duration
}

func newLoad(s *Schedule, hosts map[string]int) *load {
	return &load{s: s, hosts: hosts, ds: map[string]time.Duration{}, cluster: map[string]time.Duration{},
		bds: map[string]time.Duration{}, bhost: map[string]time.Duration{}, bnet: map[string]time.Duration{}}
}

func (l *load) add(a *App) {
	t := a.Target
	where := t.Cluster
	if t.Host != "" {
		where = "host " + t.Host
	}
	for _, st := range a.Steps {
		if st.Deferred || st.Unit == "" {
			continue
		}
		c := l.s.Limits.CostOf(st.Kind, st.Kind == plan.StepRelocate && a.movesLive(st.Unit))
		// A cost above its budget (validation refuses one) runs alone,
		// holding the whole budget, as the engine and the estimate run it.
		hb, db, nb := l.s.Limits.Budgets()
		c.Host, c.Datastore, c.Network = min(c.Host, hb), min(c.Datastore, db), min(c.Network, nb)
		d := time.Duration(st.Estimate)
		if c.Datastore > 0 && t.Datastore != "" {
			l.bds[t.Datastore] = sat(l.bds[t.Datastore], satMul(d, c.Datastore))
		}
		if where != "" {
			if c.Host > 0 {
				l.bhost[where] = sat(l.bhost[where], satMul(d, c.Host))
			}
			if c.Network > 0 {
				l.bnet[where] = sat(l.bnet[where], satMul(d, c.Network))
			}
		}
	}
	for _, c := range unitChains(a) {
		l.total = sat(l.total, c)
		t := a.Target
		if t.Datastore != "" {
			l.ds[t.Datastore] = sat(l.ds[t.Datastore], c)
		}
		switch {
		case t.Host != "":
			l.cluster["host "+t.Host] = sat(l.cluster["host "+t.Host], c)
		case t.Cluster != "":
			l.cluster[t.Cluster] = sat(l.cluster[t.Cluster], c)
		}
	}
}

// bound is the largest of the resource bounds and, when apps is given, the
// longest dependency chain among them.
func (l *load) bound(name string, apps []*App) WaveBound {
	lim := l.s.Limits
	wb := WaveBound{Name: name}
	consider := func(d time.Duration, why string) {
		if d > wb.Bound {
			wb.Bound, wb.Binding = d, why
		}
	}
	if lim.Concurrency > 0 {
		consider(l.total/time.Duration(lim.Concurrency), fmt.Sprintf("the run's concurrency: %s of work, %d at a time", Seconds(l.total), lim.Concurrency))
	}
	for _, ds := range slices.Sorted(maps.Keys(l.ds)) {
		if lim.PerDatastore > 0 {
			consider(l.ds[ds]/time.Duration(lim.PerDatastore), fmt.Sprintf("datastore %s: %s of work, %d at a time", ds, Seconds(l.ds[ds]), lim.PerDatastore))
		}
	}
	for _, c := range slices.Sorted(maps.Keys(l.cluster)) {
		if lim.PerHost <= 0 {
			continue
		}
		n := 1
		if !strings.HasPrefix(c, "host ") {
			// A cluster whose hosts are not counted bounds nothing: it
			// may have any number of them.
			if n = l.hosts[c]; n <= 0 {
				continue
			}
		}
		slots := n * lim.PerHost
		consider(l.cluster[c]/time.Duration(slots), fmt.Sprintf("%s: %s of work, %d at a time (%d host(s) x %d)", clusterName(c), Seconds(l.cluster[c]), slots, n, lim.PerHost))
	}
	hb, db, nb := lim.Budgets()
	for _, ds := range slices.Sorted(maps.Keys(l.bds)) {
		consider(l.bds[ds]/time.Duration(db), fmt.Sprintf("datastore %s's budget: %s of cost-weighted work, budget %d", ds, Seconds(l.bds[ds]), db))
	}
	for _, x := range []struct {
		work   map[string]time.Duration
		budget int
		what   string
	}{{l.bhost, hb, "host budget"}, {l.bnet, nb, "vMotion network budget"}} {
		for _, c := range slices.Sorted(maps.Keys(x.work)) {
			n := 1
			if !strings.HasPrefix(c, "host ") {
				// A cluster whose hosts are not counted: vCenter's placement
				// spreads its work, as the estimate assumes.
				if n = l.hosts[c]; n <= 0 {
					continue
				}
			}
			consider(x.work[c]/time.Duration(n*x.budget), fmt.Sprintf("%s's %s: %s of cost-weighted work, %d host(s) x %d",
				clusterName(c), x.what, Seconds(x.work[c]), n, x.budget))
		}
	}
	if apps != nil {
		if d, path := longestChain(apps); d > 0 {
			consider(d, "the dependency chain "+path)
		}
	}
	return wb
}

func clusterName(c string) string {
	if len(c) > 5 && c[:5] == "host " {
		return c
	}
	return "cluster " + c
}

// unitChains returns the duration of each unit's chain of steps in each
// phase: what holds a slot. Hook steps (no unit) hold none.
func unitChains(a *App) []time.Duration {
	type key struct {
		phase int
		unit  string
	}
	sum := map[key]time.Duration{}
	var order []key
	for _, st := range a.Steps {
		if st.Deferred || st.Unit == "" {
			continue
		}
		k := key{st.Phase, st.Unit}
		if _, ok := sum[k]; !ok {
			order = append(order, k)
		}
		sum[k] = sat(sum[k], time.Duration(st.Estimate))
	}
	out := make([]time.Duration, 0, len(order))
	for _, k := range order {
		out = append(out, sum[k])
	}
	return out
}

// appSpan is the least time an application takes on its own: its phases
// in turn, each as long as its longest unit (hooks included).
func appSpan(a *App) time.Duration {
	type key struct {
		phase int
		unit  string
	}
	sum := map[key]time.Duration{}
	for _, st := range a.Steps {
		if !st.Deferred {
			sum[key{st.Phase, st.Unit}] = sat(sum[key{st.Phase, st.Unit}], time.Duration(st.Estimate))
		}
	}
	phase := map[int]time.Duration{}
	for k, d := range sum {
		phase[k.phase] = max(phase[k.phase], d)
	}
	var total time.Duration
	for _, d := range phase {
		total = sat(total, d)
	}
	return total
}

// longestChain is the longest path through dependsOn among apps (which
// come in dependency order), each application taking appSpan.
func longestChain(apps []*App) (time.Duration, string) {
	finish := map[string]time.Duration{}
	via := map[string]string{}
	var best time.Duration
	var last string
	for _, a := range apps {
		start, from := time.Duration(0), ""
		for _, d := range a.DependsOn {
			if f, ok := finish[d]; ok && f > start {
				start, from = f, d
			}
		}
		finish[a.Name] = sat(start, appSpan(a))
		via[a.Name] = from
		if finish[a.Name] > best {
			best, last = finish[a.Name], a.Name
		}
	}
	path := last
	for n := via[last]; n != ""; n = via[n] {
		path = n + " -> " + path
	}
	return best, path
}
