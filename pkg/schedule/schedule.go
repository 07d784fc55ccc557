// Package schedule compiles a plan into what would run: waves in order,
// applications in dependency order, each with its steps, estimated
// durations and projected outage in user-hours.
package schedule

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/strategy"
)

// Schedule is a compiled plan.
type Schedule struct {
	Plan     string      `json:"plan"`
	File     string      `json:"file"`
	Hash     string      `json:"hash"`
	Limits   plan.Limits `json:"limits"`
	Waves    []*Wave     `json:"waves"`
	Conveyor *Conveyor   `json:"conveyor,omitempty"`
	Totals   Totals      `json:"totals"`
	// Calibration says what the estimates rest on when they were fitted
	// from recorded runs (nil: the plan's and wavectl's defaults).
	Calibration *Calibration `json:"calibration,omitempty"`
	// Hosts are the target clusters' usable hosts, by cluster name, when
	// they were counted (read from vCenter): the estimate then charges a
	// cluster perHost and each host's budgets over its hosts. Offline they
	// are not known and a cluster's hosts are left to vCenter's placement.
	Hosts map[string]int `json:"hosts,omitempty"`
}

// Totals sums up a schedule.
type Totals struct {
	Applications int `json:"applications"`
	// Units counts VMs and servers moved (a replacement counts as one).
	Units int `json:"units"`
	Steps int `json:"steps"`
	// Estimate is the run's estimated wall time: waves back to back, with
	// the conveyor alongside.
	Estimate           Seconds `json:"estimateSeconds"`
	EstimateP90        Seconds `json:"estimateP90Seconds"`
	ProjectedUserHours float64 `json:"projectedUserHoursLost"`
	// LiveMoves counts remediated VMs that move live; UserHoursAvoided is
	// what moving them cold instead would have cost on top.
	LiveMoves        int     `json:"liveMoves,omitempty"`
	UserHoursAvoided float64 `json:"projectedUserHoursAvoided,omitempty"`
}

// Wave is a wave's compiled form.
type Wave struct {
	Name      string       `json:"name"`
	Window    *plan.Window `json:"window,omitempty"`
	OnFailure string       `json:"onFailure"`
	Apps      []*App       `json:"applications"`
	// Estimate is the simulated makespan of the wave under the plan's
	// limits (the P50 when calibrated); EstimateP90 the same with every
	// step at its P90 (so an upper figure: steps rarely all run slow).
	Estimate           Seconds `json:"estimateSeconds"`
	EstimateP90        Seconds `json:"estimateP90Seconds"`
	ProjectedUserHours float64 `json:"projectedUserHoursLost"`
	// Overrun is how far the estimate passes the window (0: it fits);
	// OverrunP90 the same for the P90.
	Overrun    Seconds `json:"overrunSeconds,omitempty"`
	OverrunP90 Seconds `json:"overrunP90Seconds,omitempty"`
}

// Conveyor is the conveyor's compiled form.
type Conveyor struct {
	InFlight           int          `json:"inFlight"`
	OnFailure          string       `json:"onFailure"`
	Window             *plan.Window `json:"window,omitempty"`
	Apps               []*App       `json:"applications"`
	Estimate           Seconds      `json:"estimateSeconds"`
	EstimateP90        Seconds      `json:"estimateP90Seconds"`
	ProjectedUserHours float64      `json:"projectedUserHoursLost"`
}

// App is an application's compiled form.
type App struct {
	Name        string         `json:"name"`
	Strategy    string         `json:"strategy"`
	Criticality string         `json:"criticality"`
	Users       int            `json:"users"`
	DependsOn   []string       `json:"dependsOn,omitempty"`
	Target      plan.Placement `json:"target"`
	Units       []string       `json:"units"`
	Steps       []Step         `json:"steps"`
	// Start is the estimated start, from the start of its wave (or the
	// conveyor).
	Start Seconds `json:"startSeconds"`
	// Estimate is how long the application takes on its own.
	Estimate    Seconds `json:"estimateSeconds"`
	EstimateP90 Seconds `json:"estimateP90Seconds"`
	// Outage is the projected time its service is down.
	Outage             Seconds `json:"outageSeconds"`
	ProjectedUserHours float64 `json:"projectedUserHoursLost"`
	// Moves says, per remediated VM, whether it moves live or cold and why
	// (moves.go); UserHoursAvoided is what its live moves save against
	// moving the same VMs cold.
	Moves            []Move  `json:"moves,omitempty"`
	UserHoursAvoided float64 `json:"projectedUserHoursAvoided,omitempty"`

	app *plan.Application
}

// Step is a strategy step with its estimate.
type Step struct {
	strategy.Step
	Estimate    Seconds `json:"estimateSeconds"`
	EstimateP90 Seconds `json:"estimateP90Seconds"`
	// Size is what drives its duration (disk GB, hook commands; 0 when
	// unknown or per VM); Calibrated says the estimate was fitted from
	// recorded runs.
	Size       int  `json:"size,omitempty"`
	Calibrated bool `json:"calibrated,omitempty"`
}

// Seconds is a duration that appears in JSON as whole seconds.
type Seconds time.Duration

// MarshalJSON writes whole seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%d", int64(time.Duration(s)/time.Second))), nil
}

// String prints the duration as people write it: 1h05m, 12m, 45s.
func (s Seconds) String() string {
	d := time.Duration(s).Round(time.Second)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		if d%time.Minute == 0 {
			return fmt.Sprintf("%dm", int(d.Minutes()))
		}
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
}

// Compile turns a valid, resolved plan into a schedule. It also returns
// warnings the schedule reveals, such as a wave that will not fit its
// window.
func Compile(p *plan.Plan) (*Schedule, plan.Problems) { return CompileWith(p, nil) }

// CompileWith is Compile with step durations from a model fitted from
// recorded runs, for the kinds it has data on; an application's own
// estimates still come first.
func CompileWith(p *plan.Plan, m *Model) (*Schedule, plan.Problems) {
	return CompileHosts(p, m, nil)
}

// CompileHosts is CompileWith knowing how many usable hosts each target
// cluster has (by cluster name; nil or a cluster missing: not known), as
// wavectl plan reads them from vCenter. A counted cluster is charged as
// its hosts together: perHost x hosts units at once, and hostBudget x
// hosts and networkBudget x hosts of cost (the engine spreads units over
// the hosts, least busy first).
func CompileHosts(p *plan.Plan, m *Model, hosts map[string]int) (*Schedule, plan.Problems) {
	s := &Schedule{Plan: p.Metadata.Name, File: p.File, Hash: p.Hash, Limits: p.Limits, Waves: []*Wave{}}
	counted := map[string]int{}
	for c, n := range hosts {
		if n > 0 {
			counted[c] = n
		}
	}
	if len(counted) > 0 {
		s.Hosts = counted
	}
	var probs plan.Problems
	for i, w := range p.Waves {
		if w == nil {
			continue
		}
		cw := &Wave{Name: w.Name, Window: w.Window, OnFailure: w.OnFailure, Apps: []*App{}}
		for _, a := range order(p, w.Applications) {
			cw.Apps = append(cw.Apps, compileApp(p, a, m, s.Hosts))
		}
		cw.EstimateP90 = Seconds(estimateWave(p, cw.Apps, true, s.Hosts))
		cw.Estimate = Seconds(estimateWave(p, cw.Apps, false, s.Hosts))
		for _, a := range cw.Apps {
			cw.ProjectedUserHours += a.ProjectedUserHours
		}
		if w.Window != nil {
			length := w.Window.End.Sub(w.Window.Start)
			if length > 0 {
				cw.Overrun = Seconds(max(time.Duration(cw.Estimate)-length, 0))
				cw.OverrunP90 = Seconds(max(time.Duration(cw.EstimateP90)-length, 0))
			}
			hint := "widen the window, split the wave, or raise limits; apply pauses when the window closes and resume carries on in the next one"
			path := fmt.Sprintf("waves[%d].window", i)
			switch {
			case cw.Overrun > 0:
				msg := fmt.Sprintf("wave %s is estimated at %s but its window is %s long", w.Name, cw.Estimate, Seconds(length))
				if m != nil {
					msg += fmt.Sprintf(": likely to overrun by %s (P50), by %s at P90", cw.Overrun, cw.OverrunP90)
				}
				probs = append(probs, plan.Problem{Pos: p.Pos(path), Path: path, Severity: plan.SeverityWarning, Message: msg, Hint: hint})
			case cw.OverrunP90 > 0 && m != nil:
				probs = append(probs, plan.Problem{Pos: p.Pos(path), Path: path, Severity: plan.SeverityWarning,
					Message: fmt.Sprintf("wave %s fits its %s window at P50 (%s) but may overrun by %s at P90 (%s)", w.Name, Seconds(length), cw.Estimate, cw.OverrunP90, cw.EstimateP90),
					Hint:    hint})
			}
		}
		s.Waves = append(s.Waves, cw)
	}
	if c := p.Conveyor; c != nil {
		cc := &Conveyor{InFlight: c.InFlight, OnFailure: c.OnFailure, Window: c.Window, Apps: []*App{}}
		for _, name := range c.Applications {
			if a := p.Application(name); a != nil && a.OnConveyor {
				cc.Apps = append(cc.Apps, compileApp(p, a, m, s.Hosts))
			}
		}
		cc.EstimateP90 = Seconds(estimateConveyor(p, cc, true, s.Hosts))
		cc.Estimate = Seconds(estimateConveyor(p, cc, false, s.Hosts))
		for _, a := range cc.Apps {
			cc.ProjectedUserHours += a.ProjectedUserHours
		}
		s.Conveyor = cc
	}
	s.totals(p)
	if m != nil {
		s.Calibration = calibrationOf(s, m)
	}
	return s, probs
}

func (s *Schedule) totals(p *plan.Plan) {
	var waves, wavesP90 time.Duration
	add := func(apps []*App) {
		for _, a := range apps {
			s.Totals.Applications++
			s.Totals.Units += len(a.Units)
			s.Totals.Steps += len(a.Steps)
			s.Totals.ProjectedUserHours += a.ProjectedUserHours
			s.Totals.UserHoursAvoided += a.UserHoursAvoided
			for _, m := range a.Moves {
				if m.Live {
					s.Totals.LiveMoves++
				}
			}
		}
	}
	for _, w := range s.Waves {
		waves = sat(waves, time.Duration(w.Estimate))
		wavesP90 = sat(wavesP90, time.Duration(w.EstimateP90))
		add(w.Apps)
	}
	s.Totals.Estimate, s.Totals.EstimateP90 = Seconds(waves), Seconds(wavesP90)
	if s.Conveyor != nil {
		add(s.Conveyor.Apps)
		s.Totals.Estimate = max(s.Totals.Estimate, s.Conveyor.Estimate)
		s.Totals.EstimateP90 = max(s.Totals.EstimateP90, s.Conveyor.EstimateP90)
		// The conveyor takes slots and budgets the waves need, and they
		// its: the run as a whole may take longer than either alone.
		s.Totals.Estimate = max(s.Totals.Estimate, Seconds(estimateRun(p, s, false)))
		s.Totals.EstimateP90 = max(s.Totals.EstimateP90, Seconds(estimateRun(p, s, true)))
	}
}

// order sorts a wave's applications so that each comes after what it
// depends on within the wave, keeping the plan's order otherwise.
func order(p *plan.Plan, names []string) []*plan.Application {
	in := map[string]*plan.Application{}
	var apps []*plan.Application
	for _, n := range names {
		a := p.Application(n)
		if a == nil || in[n] != nil {
			continue
		}
		in[n] = a
		apps = append(apps, a)
	}
	sort.SliceStable(apps, func(i, j int) bool { return apps[i].Index < apps[j].Index })
	waiting := map[string]int{}
	dependents := map[string][]string{}
	for _, a := range apps {
		for _, d := range a.DependsOn {
			if in[d] != nil && d != a.Name {
				waiting[a.Name]++
				dependents[d] = append(dependents[d], a.Name)
			}
		}
	}
	var out []*plan.Application
	done := map[string]bool{}
	for len(out) < len(apps) {
		progressed := false
		for _, a := range apps {
			if done[a.Name] || waiting[a.Name] > 0 {
				continue
			}
			done[a.Name] = true
			out = append(out, a)
			for _, d := range dependents[a.Name] {
				waiting[d]--
			}
			progressed = true
			break // restart so the earliest ready application goes next
		}
		if !progressed {
			// A cycle: validation reports it; keep the rest in plan order.
			for _, a := range apps {
				if !done[a.Name] {
					done[a.Name] = true
					out = append(out, a)
				}
			}
		}
	}
	return out
}

func compileApp(p *plan.Plan, a *plan.Application, m *Model, hosts map[string]int) *App {
	ca := &App{Name: a.Name, Strategy: a.Strategy, Criticality: a.Criticality, Users: a.Users,
		DependsOn: a.DependsOn, Target: a.Resolved, app: a}
	seen := map[string]bool{}
	outage := map[string]time.Duration{}
	for _, st := range strategy.Steps(a) {
		size := sizeOf(a, st.Kind, st.Unit)
		est := strategy.Estimate(p, a, st.Kind)
		p90, calibrated := est, false
		if _, own := a.Estimates[st.Kind]; !own {
			if e50, e90, ok := m.Predict(st.Kind, size); ok {
				est, p90, calibrated = e50, e90, true
			}
		}
		ca.Steps = append(ca.Steps, Step{Step: st, Estimate: Seconds(est), EstimateP90: Seconds(p90), Size: size, Calibrated: calibrated})
		if st.Unit != "" && !seen[st.Unit] {
			seen[st.Unit] = true
			ca.Units = append(ca.Units, st.Unit)
		}
		if st.Outage {
			outage[st.Unit] += est
		}
	}
	for _, d := range outage {
		ca.Outage = max(ca.Outage, Seconds(d))
	}
	ca.ProjectedUserHours = round2(float64(a.Users) * time.Duration(ca.Outage).Hours())
	moves(p, a, ca) // moves.go
	// On its own, an application is bound by vCenter's budgets only: its
	// steps' costs against its hosts and datastores.
	var ts tasks
	caps := map[string]int{}
	addApp(&ts, ca, nil, nil, budgetsOf(p, ca, caps, hosts), false)
	ca.Estimate = Seconds(ts.run(caps))
	ts = nil
	addApp(&ts, ca, nil, nil, budgetsOf(p, ca, caps, hosts), true)
	ca.EstimateP90 = Seconds(ts.run(caps))
	return ca
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// addApp adds an application's work to ts: each phase's units as parallel
// chains of steps, phases one after another. charge, when given, says what
// a step costs against vCenter's budgets (see budgetsOf). It returns the
// index of a zero-length task that completes with the application.
func addApp(ts *tasks, a *App, deps []int, res func(unit string) []string, charge func(Step) map[string]int, p90 bool) int {
	prev := deps
	phases := map[int]map[string][]seg{}
	var phaseOrder []int
	var unitOrder = map[int][]string{}
	for _, st := range a.Steps {
		if st.Deferred {
			continue
		}
		if phases[st.Phase] == nil {
			phases[st.Phase] = map[string][]seg{}
			phaseOrder = append(phaseOrder, st.Phase)
		}
		if _, ok := phases[st.Phase][st.Unit]; !ok {
			unitOrder[st.Phase] = append(unitOrder[st.Phase], st.Unit)
		}
		d := st.Estimate
		if p90 {
			d = st.EstimateP90
		}
		sg := seg{dur: time.Duration(d)}
		if charge != nil && st.Unit != "" {
			sg.cost = charge(st)
		}
		phases[st.Phase][st.Unit] = append(phases[st.Phase][st.Unit], sg)
	}
	sort.Ints(phaseOrder)
	for _, ph := range phaseOrder {
		var ids []int
		for _, u := range unitOrder[ph] {
			var r []string
			if u != "" && res != nil {
				r = res(u)
			}
			ids = append(ids, ts.addChain(phases[ph][u], r, prev...))
		}
		prev = []int{ts.add(0, nil, ids...)}
	}
	if len(prev) == 1 && len(phaseOrder) > 0 {
		return prev[0]
	}
	return ts.add(0, nil, prev...)
}

// budgetsOf returns what a step of a costs against vCenter's budgets
// (plan/costs.go), keyed as the estimate's capacities are: its target
// host's ("bh:"), datastore's ("bd:") and host's vMotion network's
// ("bn:"). The host's budgets are charged where the plan fixes the host,
// and on a cluster whose hosts are counted, as its hosts' budgets
// together; for a cluster whose hosts are not known, the estimate leaves
// them to vCenter's placement as it leaves perHost.
func budgetsOf(p *plan.Plan, a *App, caps map[string]int, hosts map[string]int) func(Step) map[string]int {
	hb, db, nb := p.Limits.Budgets()
	t := a.Target
	where, n := hostsOf(t, hosts)
	return func(st Step) map[string]int {
		c := p.Limits.CostOf(st.Kind, st.Kind == plan.StepRelocate && a.movesLive(st.Unit))
		if c.Zero() {
			return nil
		}
		out := map[string]int{}
		if c.Datastore > 0 && t.Datastore != "" {
			out["bd:"+t.Datastore] = c.Datastore
			caps["bd:"+t.Datastore] = db
		}
		if where != "" {
			if c.Host > 0 {
				out["bh:"+where] = c.Host
				caps["bh:"+where] = n * hb
			}
			if c.Network > 0 {
				out["bn:"+where] = c.Network
				caps["bn:"+where] = n * nb
			}
		}
		return out
	}
}

// hostsOf names the hosts a unit of target t runs on, for the estimate's
// capacities, and how many they are: the fixed host, or a cluster whose
// hosts are counted ("cluster C1", with its count); "" when neither.
func hostsOf(t plan.Placement, hosts map[string]int) (string, int) {
	switch {
	case t.Host != "":
		return t.Host, 1
	case t.Cluster != "" && hosts[t.Cluster] > 0:
		return "cluster " + t.Cluster, hosts[t.Cluster]
	}
	return "", 0
}

// movesLive reports whether the application's VM named unit moves live.
func (a *App) movesLive(unit string) bool {
	for _, m := range a.Moves {
		if m.VM == unit {
			return m.Live
		}
	}
	return false
}

// estimateWave simulates a wave under the plan's limits: overall
// concurrency, per datastore, and per host where a host is fixed or a
// cluster's hosts are counted, with each step's cost against vCenter's
// budgets.
func estimateWave(p *plan.Plan, apps []*App, p90 bool, hosts map[string]int) time.Duration {
	var ts tasks
	caps := map[string]int{"run": p.Limits.Concurrency}
	spans, _ := addApps(&ts, caps, p, apps, p90, hosts, nil, 0)
	makespan := ts.run(caps)
	if !p90 {
		for i, a := range apps {
			a.Start = Seconds(startOf(ts[spans[i][0]:spans[i][1]]))
		}
	}
	return makespan
}

// addApps adds apps to ts in order, each after what it depends on among
// them and after the tasks of after, under the plan's limits and budgets
// (see estimateWave); inFlight > 0 lets no more than that many run at
// once, in order (each after the one inFlight places before it). It
// returns each application's span of tasks and a task that completes
// with them all.
func addApps(ts *tasks, caps map[string]int, p *plan.Plan, apps []*App, p90 bool, hosts map[string]int, after []int, inFlight int) ([][2]int, int) {
	var spans [][2]int
	done := map[string]int{}
	var ends []int
	for i, a := range apps {
		deps := slices.Clone(after)
		for _, d := range a.DependsOn {
			if id, ok := done[d]; ok {
				deps = append(deps, id)
			}
		}
		if inFlight > 0 && i >= inFlight {
			deps = append(deps, ends[i-inFlight])
		}
		t := a.Target
		spans = append(spans, [2]int{len(*ts), 0})
		res := func(string) []string {
			r := []string{"run"}
			if t.Datastore != "" {
				r = append(r, "ds:"+t.Datastore)
				caps["ds:"+t.Datastore] = p.Limits.PerDatastore
			}
			if where, n := hostsOf(t, hosts); where != "" {
				r = append(r, "host:"+where)
				caps["host:"+where] = n * p.Limits.PerHost
			}
			return r
		}
		done[a.Name] = addApp(ts, a, deps, res, budgetsOf(p, a, caps, hosts), p90)
		ends = append(ends, done[a.Name])
		spans[len(spans)-1][1] = len(*ts)
	}
	return spans, ts.add(0, nil, append(ends, after...)...)
}

// estimateRun simulates the whole run: the waves back to back, and the
// conveyor beside them from the start, sharing the run's concurrency and
// every host's and datastore's slots and budgets, as the engine runs
// them.
func estimateRun(p *plan.Plan, s *Schedule, p90 bool) time.Duration {
	var ts tasks
	caps := map[string]int{"run": p.Limits.Concurrency}
	var after []int
	for _, w := range s.Waves {
		_, end := addApps(&ts, caps, p, w.Apps, p90, s.Hosts, after, 0)
		after = []int{end}
	}
	if c := s.Conveyor; c != nil {
		addApps(&ts, caps, p, c.Apps, p90, s.Hosts, nil, max(c.InFlight, 1))
	}
	return ts.run(caps)
}

func startOf(ts tasks) time.Duration {
	start := time.Duration(-1)
	for _, t := range ts {
		if start < 0 || t.start < start {
			start = t.start
		}
	}
	return max(start, 0)
}

// estimateConveyor runs the conveyor's applications in order, inFlight at
// a time, under the plan's limits and budgets as a wave's.
func estimateConveyor(p *plan.Plan, c *Conveyor, p90 bool, hosts map[string]int) time.Duration {
	var ts tasks
	caps := map[string]int{"run": p.Limits.Concurrency}
	spans, _ := addApps(&ts, caps, p, c.Apps, p90, hosts, nil, max(c.InFlight, 1))
	makespan := ts.run(caps)
	if !p90 {
		for i, a := range c.Apps {
			a.Start = Seconds(startOf(ts[spans[i][0]:spans[i][1]]))
		}
	}
	return makespan
}
