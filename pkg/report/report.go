package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
)

// Report is what `wavectl report` shows: what a migration did, measured
// from its record, next to what the plan projected. It is also the -o json
// output, whose field names are stable for dashboards:
//
//   - plan, planFile, planHash, stateFile, serial: what the report was made
//     from; generated: when (running times are measured to it).
//   - result: the last run's result (as status has it); outcome: "all
//     migrated", "partly migrated", "none migrated", "running" or "not
//     started"; summary: the report's first sentence.
//   - simulated: the last run was a --simulate rehearsal, so its times are
//     the embedded simulator's.
//   - projections.available and projections.note: whether the plan's
//     projections are in the report and, if not, why.
//   - total and each of groups (the waves, then the conveyor) carry the
//     same figures: started, ended, durationSeconds; applications and vms
//     (counts by status, as in `status -o json`: total, done, failed,
//     skipped, rolledBack, running, pending, deferred); changes
//     (attempted, succeeded, inProgress, successRate from 0 to 1, null when
//     none was attempted); retries (transient faults retried); failedSteps;
//     hookFailures; outageSeconds and userHoursLost (measured, summed over
//     the applications); and projected (estimateSeconds, outageSeconds,
//     projectedUserHoursLost), left out without projections. A group also
//     has kind (wave or conveyor), name, status (as status has it) and
//     applicationNames.
//   - applications: per application its group, strategy, users, status,
//     reason, times, vms, changeAttempted, retries; the measured outage
//     (outageStart, outageEnd, outageSeconds, outageOpen, outageNote) and
//     userHoursLost; and projected as above.
//   - faults: fault texts grouped, with kind ("retried": a transient fault
//     that was retried; "failed": the fault a step failed with; "hook": a
//     hook that failed), count and where (step of VM, application).
//   - stepKinds: per step kind, attempted, succeeded, failed, successRate,
//     firstTime (done at the first attempt), retries, totalSeconds,
//     longestSeconds.
//   - slowestSteps: the longest finished steps, longest first, with their
//     application, unit, times, attempts and the plan's estimateSeconds.
//
// Durations are whole seconds; user-hours have two decimals.
type Report struct {
	Plan      string    `json:"plan"`
	PlanFile  string    `json:"planFile"`
	PlanHash  string    `json:"planHash"`
	StateFile string    `json:"stateFile,omitempty"`
	Serial    int64     `json:"serial"`
	Generated time.Time `json:"generated"`

	Result    string `json:"result"`
	Outcome   string `json:"outcome"`
	Summary   string `json:"summary"`
	Simulated bool   `json:"simulated,omitempty"`

	Projections Projections `json:"projections"`

	Runs         []*RunView   `json:"runs"`
	Total        *Figures     `json:"total"`
	Groups       []*GroupView `json:"groups"`
	Applications []*AppView   `json:"applications"`
	Faults       []*Fault     `json:"faults"`
	StepKinds    []*StepKind  `json:"stepKinds"`
	Slowest      []*StepTime  `json:"slowestSteps"`
	// Drift compares each run's recorded estimate with what it measured;
	// Approvals and Aborts are the record's governance (governance.go).
	Drift     *Drift           `json:"drift,omitempty"`
	Approvals []state.Approval `json:"approvals,omitempty"`
	Aborts    []state.Abort    `json:"aborts,omitempty"`

	// Generator names what made the report, in the HTML page's footer.
	Generator string `json:"-"`
	// units are the applications' VMs with their steps, for the timeline.
	units map[string][]*UnitStatus
}

// Projections says whether the plan's projections are in the report.
type Projections struct {
	Available bool   `json:"available"`
	Note      string `json:"note,omitempty"`
}

// Figures are the numbers a wave, the conveyor or the whole run is judged
// by.
type Figures struct {
	Started  *time.Time       `json:"started,omitempty"`
	Ended    *time.Time       `json:"ended,omitempty"`
	Duration schedule.Seconds `json:"durationSeconds"`

	Apps         Counts  `json:"applications"`
	VMs          Counts  `json:"vms"`
	Changes      Changes `json:"changes"`
	Retries      int     `json:"retries"`
	FailedSteps  int     `json:"failedSteps"`
	HookFailures int     `json:"hookFailures"`
	// Outage is the sum of the applications' measured outages;
	// AppsWithOutage counts the applications that had one.
	Outage         schedule.Seconds `json:"outageSeconds"`
	AppsWithOutage int              `json:"applicationsWithOutage"`
	UserHoursLost  float64          `json:"userHoursLost"`
	// LiveMoves counts the VMs that moved live (their switch-over done).
	LiveMoves int `json:"liveMoves,omitempty"`
	// VCenterQueued and VCenterRunning add up how long the steps' vCenter
	// tasks waited queued in vCenter (over its budgets) and ran.
	VCenterQueued  schedule.Seconds `json:"vcenterQueuedSeconds,omitempty"`
	VCenterRunning schedule.Seconds `json:"vcenterRunningSeconds,omitempty"`
	Projected      *Projected       `json:"projected,omitempty"`

	userHours float64 // exact, rounded only when shown
}

// Changes are the change-success figures. A change is one application's
// migration: attempted once any of its steps ran, succeeded when the
// application ended done. Applications still running are left out until
// they end; ones skipped or never started were not attempted.
type Changes struct {
	Attempted  int `json:"attempted"`
	Succeeded  int `json:"succeeded"`
	InProgress int `json:"inProgress"`
	// SuccessRate is Succeeded / Attempted, from 0 to 1; null when no
	// change was attempted.
	SuccessRate *float64 `json:"successRate"`
}

// Projected is the plan's projection, with the names `wavectl plan -o
// json` gives them.
type Projected struct {
	// Estimate is the estimated duration: an application on its own, a
	// wave under the plan's limits, the whole run with the waves back to
	// back and the conveyor alongside.
	Estimate schedule.Seconds `json:"estimateSeconds"`
	// Outage is the estimated outage (for a wave or the run, the sum over
	// its applications).
	Outage        schedule.Seconds `json:"outageSeconds"`
	UserHoursLost float64          `json:"projectedUserHoursLost"`
	// LiveMoves and UserHoursAvoided: the VMs planned to move live, and
	// the user-hours that saves against moving them cold (live.go).
	LiveMoves        int     `json:"liveMoves,omitempty"`
	UserHoursAvoided float64 `json:"projectedUserHoursAvoided,omitempty"`
}

// GroupView is a wave's or the conveyor's figures.
type GroupView struct {
	Kind   string `json:"kind"` // wave or conveyor
	Name   string `json:"name"`
	Status string `json:"status"` // as status has it
	Figures
	// ApplicationNames are its applications, in order; their figures are
	// in Report.Applications.
	ApplicationNames []string `json:"applicationNames"`
}

// Title is "Wave NAME" or "Conveyor".
func (g *GroupView) Title() string {
	if g.Kind == "conveyor" {
		return "Conveyor"
	}
	return "Wave " + g.Name
}

// AppView is one application's figures.
type AppView struct {
	Name     string           `json:"name"`
	Group    string           `json:"group"` // the wave's name, or conveyor
	Strategy string           `json:"strategy"`
	Users    int              `json:"users"`
	Status   state.Status     `json:"status"`
	Reason   string           `json:"reason,omitempty"`
	Started  *time.Time       `json:"started,omitempty"`
	Ended    *time.Time       `json:"ended,omitempty"`
	Duration schedule.Seconds `json:"durationSeconds"`
	VMs      Counts           `json:"vms"`
	// ChangeAttempted: at least one of its steps ran.
	ChangeAttempted bool `json:"changeAttempted"`
	Retries         int  `json:"retries"`
	FailedSteps     int  `json:"failedSteps"`
	// VCenterQueued and VCenterRunning: its steps' vCenter task time,
	// queued in vCenter and running.
	VCenterQueued  schedule.Seconds `json:"vcenterQueuedSeconds,omitempty"`
	VCenterRunning schedule.Seconds `json:"vcenterRunningSeconds,omitempty"`

	OutageStart *time.Time       `json:"outageStart,omitempty"`
	OutageEnd   *time.Time       `json:"outageEnd,omitempty"`
	Outage      schedule.Seconds `json:"outageSeconds"`
	// OutageOpen: its service was down and not verified back when the
	// record ends (it failed or stopped part-way); the outage is measured
	// to when wavectl stopped working on it and is a lower bound.
	OutageOpen bool `json:"outageOpen,omitempty"`
	// OutageNote says how the outage was measured, in words.
	OutageNote    string  `json:"outageNote,omitempty"`
	UserHoursLost float64 `json:"userHoursLost"`
	// DownNow, when set, says its service is down right now: a VM the
	// migration powered off is not on again.
	DownNow   *DownApp   `json:"downNow,omitempty"`
	Projected *Projected `json:"projected,omitempty"`

	outage    time.Duration // exact
	userHours float64       // exact
}

// Fault is a fault text and where it happened.
type Fault struct {
	Kind  string   `json:"kind"` // retried, failed, hook
	Text  string   `json:"text"`
	Count int      `json:"count"`
	Where []string `json:"where"`
}

// StepKind is how one kind of step fared across the run. A step was
// attempted when it ran at least once, and succeeded when it ended done
// (or was done before a rollback undid it).
type StepKind struct {
	Kind        string           `json:"kind"`
	Attempted   int              `json:"attempted"`
	Succeeded   int              `json:"succeeded"`
	Failed      int              `json:"failed"`
	SuccessRate *float64         `json:"successRate"`
	FirstTime   int              `json:"firstTime"`
	Retries     int              `json:"retries"`
	Total       schedule.Seconds `json:"totalSeconds"`
	Longest     schedule.Seconds `json:"longestSeconds"`
}

// StepTime is one step's time, for the slowest steps.
type StepTime struct {
	App      string           `json:"application"`
	Unit     string           `json:"unit"`
	Kind     string           `json:"kind"`
	Status   state.Status     `json:"status"`
	Attempts int              `json:"attempts"`
	Started  time.Time        `json:"started"`
	Ended    time.Time        `json:"ended"`
	Duration schedule.Seconds `json:"durationSeconds"`
	Estimate schedule.Seconds `json:"estimateSeconds,omitempty"`
	phase    int
}

// ReportOptions adjust a report.
type ReportOptions struct {
	// StatePath is the state file as the operator named it.
	StatePath string
	// NoPlan says why there is no plan to project from, when the caller
	// passes none (e.g. "plan file x not found"); Build has its own words
	// otherwise.
	NoPlan string
	// Slowest is how many of the slowest steps to list; 0 means
	// DefaultSlowest.
	Slowest int
	// Generator names what made the report (e.g. "wavectl v1.2.0").
	Generator string
}

// DefaultSlowest is how many of the slowest steps a report lists.
const DefaultSlowest = 10

// Build makes the report of a record at time now. p is the plan, for the
// projections; it may be nil, and is left out when it is not the plan the
// record ran (its hash differs).
func Build(st *state.State, p *plan.Plan, now time.Time) *Report {
	return BuildWith(st, p, now, ReportOptions{})
}

// BuildWith is Build with options.
func BuildWith(st *state.State, p *plan.Plan, now time.Time, opts ReportOptions) *Report {
	now = now.UTC()
	sr := StatusWith(st, now, Options{StatePath: opts.StatePath})
	r := &Report{
		Plan: st.Plan, PlanFile: st.PlanFile, PlanHash: st.PlanHash, StateFile: opts.StatePath, Serial: st.Serial,
		Generated: now, Result: sr.Result, Runs: []*RunView{}, Groups: []*GroupView{}, Applications: []*AppView{},
		Faults: []*Fault{}, StepKinds: []*StepKind{}, Slowest: []*StepTime{}, Generator: opts.Generator,
		units: map[string][]*UnitStatus{},
		Drift: DriftOf(st), Approvals: st.Approvals, Aborts: st.Aborts,
	}
	for _, run := range st.Runs {
		r.Runs = append(r.Runs, runView(run, now))
	}
	if run := st.CurrentRun(); run != nil && run.Command == "apply" {
		r.Simulated = run.Options.Simulate
	}

	sched := projection(st, p, opts.NoPlan, &r.Projections)
	var lastEnd *time.Time // when the last run ended, for outages left open
	if run := st.CurrentRun(); run != nil {
		lastEnd = run.Ended
	}

	r.Total = &Figures{}
	if sched != nil {
		r.Total.Projected = &Projected{Estimate: sched.Totals.Estimate, UserHoursLost: sched.Totals.ProjectedUserHours,
			LiveMoves: sched.Totals.LiveMoves, UserHoursAvoided: sched.Totals.UserHoursAvoided}
	}
	faults := newFaultList()
	kinds := map[string]*StepKind{}
	estimates := map[string]schedule.Seconds{}
	var steps []*StepTime
	for _, g := range sr.Groups {
		gv := &GroupView{Kind: g.Kind, Name: g.Name, Status: g.Status, ApplicationNames: []string{}}
		gv.Started, gv.Ended, gv.Duration = g.Started, g.Ended, g.Duration
		gv.Apps = g.Counts
		if sg := sched.group(g); sg != nil {
			gv.Projected = &Projected{Estimate: sg.estimate, UserHoursLost: sg.userHours}
		}
		for _, as := range g.Apps {
			a := st.App(as.Name)
			av := appView(a, as, g, lastEnd, now)
			if sa := sched.app(as.Name); sa != nil {
				av.Projected = &Projected{Estimate: sa.Estimate, Outage: sa.Outage, UserHoursLost: sa.ProjectedUserHours, UserHoursAvoided: sa.UserHoursAvoided}
				for _, m := range sa.Moves {
					if m.Live {
						av.Projected.LiveMoves++
					}
				}
				for _, s := range sa.Steps {
					estimates[stepKey(sa.Name, s.Unit, s.Kind, s.Phase)] = s.Estimate
				}
			}
			r.Applications = append(r.Applications, av)
			r.units[as.Name] = as.Units
			gv.ApplicationNames = append(gv.ApplicationNames, as.Name)
			gv.addApp(av)
			r.Total.addApp(av)
			for _, u := range as.Units {
				for _, s := range u.Steps {
					countStep(kinds, s)
					faults.step(a.Name, u.Name, s)
					if t := stepTime(a.Name, u.Name, s); t != nil {
						steps = append(steps, t)
					}
				}
			}
			for _, h := range as.Hooks {
				if h.Failed {
					gv.HookFailures++
					r.Total.HookFailures++
					faults.hook(a.Name, h)
				}
			}
		}
		gv.finish()
		r.Groups = append(r.Groups, gv)
	}
	for _, h := range st.WaveHooks {
		if h.ExitCode != 0 || h.Error != "" {
			r.Total.HookFailures++
			hs := &HookStatus{Kind: h.Kind, Command: h.Command, ExitCode: h.ExitCode, Error: h.Error}
			faults.hook("wave "+h.Wave, hs)
		}
	}
	r.Total.Apps = sr.Totals.Apps
	r.Total.span(r.Groups, now)
	r.Total.finish()

	r.Faults = faults.list
	for _, k := range plan.StepKinds {
		if sk := kinds[k]; sk != nil {
			sk.SuccessRate = rate(sk.Succeeded, sk.Attempted)
			r.StepKinds = append(r.StepKinds, sk)
		}
	}
	slices.SortStableFunc(steps, func(a, b *StepTime) int {
		return cmp.Or(cmp.Compare(b.Duration, a.Duration), a.Started.Compare(b.Started), cmp.Compare(a.App, b.App), cmp.Compare(a.Unit, b.Unit))
	})
	n := opts.Slowest
	if n <= 0 {
		n = DefaultSlowest
	}
	for _, s := range steps[:min(n, len(steps))] {
		s.Estimate = estimates[stepKey(s.App, s.Unit, s.Kind, s.phase)]
		r.Slowest = append(r.Slowest, s)
	}
	r.Outcome = outcome(r)
	r.Total.LiveMoves = liveMoves(st)
	r.Summary = reportSummary(r)
	return r
}

// projection compiles the plan when it is the one the record ran, and says
// why not otherwise.
func projection(st *state.State, p *plan.Plan, noPlan string, pr *Projections) *projected {
	switch {
	case p == nil && noPlan != "":
		pr.Note = noPlan + ": the report has no projections"
	case p == nil:
		pr.Note = "no plan file given: the report has no projections; pass the plan with --plan to set the measured figures against its estimates"
	case st.PlanHash != "" && p.Hash != st.PlanHash:
		pr.Note = fmt.Sprintf("the plan file %s has changed since the run (sha256 %s, the run's was %s): the report has no projections; "+
			"pass the plan as it was run with --plan (e.g. from version control)", p.File, short(p.Hash, 12), short(st.PlanHash, 12))
	default:
		s, _ := schedule.Compile(p)
		pr.Available = true
		return &projected{s}
	}
	return nil
}

// projected looks up a schedule's applications and groups; a nil one has
// none.
type projected struct{ *schedule.Schedule }

type groupProjection struct {
	estimate  schedule.Seconds
	userHours float64
}

func (p *projected) group(g *Group) *groupProjection {
	if p == nil {
		return nil
	}
	if g.Kind == "conveyor" {
		if p.Conveyor == nil {
			return nil
		}
		return &groupProjection{p.Conveyor.Estimate, p.Conveyor.ProjectedUserHours}
	}
	for _, w := range p.Waves {
		if w.Name == g.Name {
			return &groupProjection{w.Estimate, w.ProjectedUserHours}
		}
	}
	return nil
}

func (p *projected) app(name string) *schedule.App {
	if p == nil {
		return nil
	}
	for _, w := range p.Waves {
		for _, a := range w.Apps {
			if a.Name == name {
				return a
			}
		}
	}
	if p.Conveyor != nil {
		for _, a := range p.Conveyor.Apps {
			if a.Name == name {
				return a
			}
		}
	}
	return nil
}

func stepKey(app, unit, kind string, phase int) string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%d", app, unit, kind, phase)
}

func appView(a *state.App, as *AppStatus, g *Group, lastEnd *time.Time, now time.Time) *AppView {
	av := &AppView{Name: a.Name, Group: g.Name, Strategy: a.Strategy, Users: a.Users, Status: a.Status, Reason: a.Reason,
		Started: as.Started, Ended: as.Ended, Duration: as.Duration, VMs: as.VMs}
	if g.Kind == "conveyor" {
		av.Group = "conveyor"
	}
	for _, u := range as.Units {
		for _, s := range u.Steps {
			av.ChangeAttempted = av.ChangeAttempted || attempted(s)
			av.Retries += len(s.Retried)
			av.VCenterQueued += s.VCenterQueued
			av.VCenterRunning += s.VCenterRunning
			if s.Status == state.Failed {
				av.FailedSteps++
			}
		}
	}
	measureOutage(av, a, lastEnd, now)
	if av.DownNow = as.Down; av.DownNow != nil {
		av.OutageNote = fmt.Sprintf("DOWN NOW since %s (%s left powered off); %s", av.DownNow.Since.UTC().Format(stamp),
			strings.Join(av.DownNow.VMs, ", "), av.OutageNote)
	}
	return av
}

// measureOutage works out an application's outage from the times the
// engine kept: from its first outage step's start to its verification;
// for one that did not end done, to when it was rolled back, or (open) to
// when wavectl stopped working on it.
func measureOutage(av *AppView, a *state.App, lastEnd *time.Time, now time.Time) {
	if a.OutageStart == nil {
		switch {
		case a.Status == state.Done && (a.Strategy == plan.Redeploy || a.Strategy == plan.Replace):
			av.OutageNote = "none: the old service ran until the new one was verified"
		case a.Status == state.Done:
			av.OutageNote = "none recorded"
		}
		return
	}
	start := *a.OutageStart
	var end *time.Time
	switch a.Status {
	case state.Done:
		end = cmp.Or(a.OutageEnd, a.Ended)
		av.OutageNote = "from its first outage step to its verification"
	case state.RolledBack:
		end = cmp.Or(a.Ended, a.OutageEnd)
		av.OutageNote = "from its first outage step until it was rolled back"
	case state.Running:
		end, av.OutageOpen = &now, true
		av.OutageNote = "still down: measured to now"
	case state.Failed:
		end, av.OutageOpen = cmp.Or(a.Ended, lastEnd, a.OutageEnd), true
		av.OutageNote = "open: it failed after its service went down; measured to when it failed"
	default: // stopped part-way
		end, av.OutageOpen = cmp.Or(a.Ended, lastEnd, a.OutageEnd), true
		av.OutageNote = "open: it stopped part-way after its service went down; measured to when the run stopped"
	}
	if end == nil || end.Before(start) {
		end = &start
	}
	av.OutageStart, av.OutageEnd = &start, end
	av.outage = end.Sub(start)
	av.Outage = schedule.Seconds(av.outage)
	av.userHours = float64(a.Users) * av.outage.Hours()
	av.UserHoursLost = round2(av.userHours)
}

func attempted(s *StepStatus) bool {
	return s.Attempts > 0 || s.Started != nil && s.Status != state.Pending && s.Status != state.Deferred
}

func (f *Figures) addApp(av *AppView) {
	addCounts(&f.VMs, av.VMs)
	switch {
	case av.Status == state.Running:
		f.Changes.InProgress++
	case av.ChangeAttempted:
		f.Changes.Attempted++
		if av.Status == state.Done {
			f.Changes.Succeeded++
		}
	}
	f.Retries += av.Retries
	f.FailedSteps += av.FailedSteps
	f.VCenterQueued += av.VCenterQueued
	f.VCenterRunning += av.VCenterRunning
	if av.OutageStart != nil {
		f.AppsWithOutage++
		f.Outage += av.Outage
		f.userHours += av.userHours
	}
	if av.Projected != nil && f.Projected != nil {
		f.Projected.Outage += av.Projected.Outage
	}
}

func (g *GroupView) addApp(av *AppView) { g.Figures.addApp(av) }

func (f *Figures) finish() {
	f.Changes.SuccessRate = rate(f.Changes.Succeeded, f.Changes.Attempted)
	f.UserHoursLost = round2(f.userHours)
}

func (g *GroupView) finish() { g.Figures.finish() }

// span is the whole run's: from the first group's start to the last one's
// end, or to now while one runs.
func (f *Figures) span(groups []*GroupView, now time.Time) {
	running := false
	for _, g := range groups {
		if g.Started != nil && (f.Started == nil || g.Started.Before(*f.Started)) {
			f.Started = g.Started
		}
		if g.Ended != nil && (f.Ended == nil || g.Ended.After(*f.Ended)) {
			f.Ended = g.Ended
		}
		running = running || g.Status == "running"
	}
	if running {
		f.Ended = nil
	}
	f.Duration = span(f.Started, f.Ended, now)
	if f.Started == nil {
		f.Duration = 0
	}
}

func rate(n, of int) *float64 {
	if of == 0 {
		return nil
	}
	r := float64(n) / float64(of)
	return &r
}

func round2(f float64) float64 {
	if f < 0 {
		return -round2(-f)
	}
	return float64(int64(f*100+0.5)) / 100
}

func countStep(kinds map[string]*StepKind, s *StepStatus) {
	if !attempted(s) {
		return
	}
	k := kinds[s.Kind]
	if k == nil {
		k = &StepKind{Kind: s.Kind}
		kinds[s.Kind] = k
	}
	k.Attempted++
	k.Retries += len(s.Retried)
	switch {
	case s.Status == state.Done, s.Status == state.RolledBack && s.Error == "":
		k.Succeeded++
		if s.Attempts <= 1 {
			k.FirstTime++
		}
	case s.Status == state.Failed, s.Status == state.RolledBack:
		k.Failed++
	}
	// A rolled-back step's end is its undoing, not its run.
	if (s.Status == state.Done || s.Status == state.Failed) && s.Ended != nil {
		k.Total += s.Duration
		k.Longest = max(k.Longest, s.Duration)
	}
}

func stepTime(app, unit string, s *StepStatus) *StepTime {
	if (s.Status != state.Done && s.Status != state.Failed) || s.Started == nil || s.Ended == nil {
		return nil
	}
	return &StepTime{App: app, Unit: unit, Kind: s.Kind, Status: s.Status, Attempts: s.Attempts,
		Started: *s.Started, Ended: *s.Ended, Duration: s.Duration, phase: s.Phase}
}

// faultList groups fault texts, in the order first seen.
type faultList struct {
	list  []*Fault
	index map[string]*Fault
}

func newFaultList() *faultList {
	return &faultList{list: []*Fault{}, index: map[string]*Fault{}}
}

func (l *faultList) add(kind, text, where string) {
	key := kind + "\x00" + text
	f := l.index[key]
	if f == nil {
		f = &Fault{Kind: kind, Text: text, Where: []string{}}
		l.index[key] = f
		l.list = append(l.list, f)
	}
	f.Count++
	if !slices.Contains(f.Where, where) {
		f.Where = append(f.Where, where)
	}
}

func (l *faultList) step(app, unit string, s *StepStatus) {
	where := fmt.Sprintf("%s (%s)", stepName(s.Kind, unit), app)
	for _, r := range s.Retried {
		l.add("retried", firstLine(r), where)
	}
	if s.Error != "" && (s.Status == state.Failed || s.Status == state.RolledBack) {
		l.add("failed", firstLine(s.Error), where)
	}
}

func (l *faultList) hook(app string, h *HookStatus) {
	text := fmt.Sprintf("`%s` exited %d", h.Command, h.ExitCode)
	if h.ExitCode == 0 && h.Error != "" {
		text = fmt.Sprintf("`%s`: %s", h.Command, firstLine(h.Error))
	}
	where := h.Kind + " hook (" + app + ")"
	if h.Unit != "" {
		where = h.Kind + " hook on " + h.Unit + " (" + app + ")"
	}
	l.add("hook", text, where)
}

func outcome(r *Report) string {
	a := r.Total.Apps
	switch {
	case len(r.Runs) == 0:
		return "not started"
	case a.Running > 0:
		return "running"
	case a.Total > 0 && a.Done == a.Total:
		return "all migrated"
	case a.Done > 0:
		return "partly migrated"
	}
	return "none migrated"
}

// reportSummary is the report's first sentence.
func reportSummary(r *Report) string {
	t := r.Total
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d of %s migrated", r.Plan, t.Apps.Done, plural(t.Apps.Total, "application"))
	var not []string
	for _, p := range []struct {
		n    int
		word string
	}{{t.Apps.Failed, "failed"}, {t.Apps.RolledBack, "rolled back"}, {t.Apps.Skipped, "skipped"}, {t.Apps.Running, "running"}, {t.Apps.Pending, "not done"}} {
		if p.n > 0 {
			not = append(not, fmt.Sprintf("%d %s", p.n, p.word))
		}
	}
	if len(not) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(not, ", "))
	}
	fmt.Fprintf(&b, "; %d of %s", t.VMs.Done, plural(t.VMs.Total, "VM"))
	if t.Changes.SuccessRate != nil {
		fmt.Fprintf(&b, "; change success rate %s (%d of %d)", percent(t.Changes.SuccessRate), t.Changes.Succeeded, t.Changes.Attempted)
	}
	fmt.Fprintf(&b, "; %s user-hours lost", userHours(t.UserHoursLost))
	if t.Projected != nil {
		fmt.Fprintf(&b, " (projected %s)", userHours(t.Projected.UserHoursLost))
	}
	b.WriteString(liveSummary(t)) // live.go
	if t.Started != nil {
		took := "took"
		if t.Ended == nil {
			took = "running for"
		}
		fmt.Fprintf(&b, "; %s %s", took, duration(t.Duration))
		if t.Projected != nil {
			fmt.Fprintf(&b, " (estimated %s)", duration(t.Projected.Estimate))
		}
	}
	return b.String() + "."
}

// percent prints a rate as 100%, 83.3%; "-" for none.
func percent(r *float64) string {
	if r == nil {
		return "-"
	}
	p := *r * 100
	if p == float64(int64(p)) {
		return fmt.Sprintf("%d%%", int64(p))
	}
	return fmt.Sprintf("%.1f%%", p)
}

// userHours prints user-hours with one decimal, as plan does, and
// thousands separated.
func userHours(h float64) string {
	s := fmt.Sprintf("%.1f", h)
	if h > 0 && h < 0.05 {
		return "<0.1"
	}
	whole, frac, _ := strings.Cut(s, ".")
	var out []byte
	for i := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, whole[i])
	}
	return string(out) + "." + frac
}

// duration prints a duration as plan does (1h05m, 12m, 45s), with tenths
// of a second under ten seconds, as the simulator's steps take.
func duration(s schedule.Seconds) string {
	d := time.Duration(s)
	if d > 0 && d < 10*time.Second && d%time.Second != 0 {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return s.String()
}
