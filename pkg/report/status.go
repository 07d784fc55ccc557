// Package report turns a migration's record (the state file) into what
// people read: `wavectl status` now, the run report later. It reads the
// record only, never vCenter.
package report

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/redact"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
)

// StatusReport is what `wavectl status` shows, and its -o json output.
type StatusReport struct {
	Plan          string    `json:"plan"`
	PlanFile      string    `json:"planFile"`
	PlanHash      string    `json:"planHash"`
	StateFile     string    `json:"stateFile,omitempty"`
	FormatVersion int       `json:"formatVersion"`
	Lineage       string    `json:"lineage"`
	Serial        int64     `json:"serial"`
	Created       time.Time `json:"created"`
	Updated       time.Time `json:"updated"`
	// Now is when the report was made; running times are measured to it.
	Now time.Time `json:"now"`

	// Result is the last run's result (running, succeeded, failed,
	// paused, interrupted), or "not started" when nothing has run.
	Result string `json:"result"`
	// Summary is the one line at the top of the text output.
	Summary string   `json:"summary"`
	LastRun *RunView `json:"lastRun,omitempty"`
	Runs    int      `json:"runs"`
	Totals  Totals   `json:"totals"`
	// Next is what to do about the whole migration; each application
	// that needs something has its own Next too.
	Next *Next `json:"next,omitempty"`
	// DownNow lists the applications whose service is down right now: a
	// VM wavectl powered off that the plan has not powered on again.
	DownNow []*DownApp `json:"downNow"`
	Groups  []*Group   `json:"groups"`
	// Governance: approvals recorded, back-out criteria that tripped.
	Approvals []state.Approval `json:"approvals,omitempty"`
	Aborts    []state.Abort    `json:"aborts,omitempty"`
}

// DownApp is an application that is down right now, and since when.
type DownApp struct {
	Name  string    `json:"name"`
	Since time.Time `json:"since"`
	Users int       `json:"users"`
	// VMs are the ones left powered off.
	VMs []string `json:"vms"`
	// UserHours is users x hours down so far.
	UserHours float64 `json:"userHoursSoFar"`
}

// RunView is one run of wavectl as the record has it.
type RunView struct {
	Command  string           `json:"command"`
	Args     []string         `json:"args,omitempty"` // with any password or URL credentials blanked
	Host     string           `json:"host"`
	User     string           `json:"user"`
	PID      int              `json:"pid"`
	Started  time.Time        `json:"started"`
	Ended    *time.Time       `json:"ended,omitempty"`
	Duration schedule.Seconds `json:"durationSeconds"`
	Result   string           `json:"result"`
	Note     string           `json:"note,omitempty"`
}

// Totals count applications, VMs and steps by status, across the record.
type Totals struct {
	Apps  Counts `json:"applications"`
	VMs   Counts `json:"vms"`
	Steps Counts `json:"steps"`
	// RetriedFaults counts transient faults that were retried.
	RetriedFaults int `json:"retriedFaults"`
	HookRuns      int `json:"hookRuns"`
	HookFailures  int `json:"hookFailures"`
	// VCenterQueued and VCenterRunning add up how long the steps' vCenter
	// tasks waited in vCenter's queue (over its host, datastore or network
	// budget) and ran, by vCenter's own task times.
	VCenterQueued  schedule.Seconds `json:"vcenterQueuedSeconds"`
	VCenterRunning schedule.Seconds `json:"vcenterRunningSeconds"`
}

// Counts is a number of records by status.
type Counts struct {
	Total      int `json:"total"`
	Done       int `json:"done"`
	Failed     int `json:"failed"`
	Skipped    int `json:"skipped"`
	RolledBack int `json:"rolledBack"`
	Running    int `json:"running"`
	Pending    int `json:"pending"`
	Deferred   int `json:"deferred"`
	// StoppedPartWay counts the pending applications that had begun: not
	// "not started". Applications only.
	StoppedPartWay int `json:"stoppedPartWay,omitempty"`
}

func (c *Counts) add(s state.Status) {
	c.Total++
	switch s {
	case state.Done:
		c.Done++
	case state.Failed:
		c.Failed++
	case state.Skipped:
		c.Skipped++
	case state.RolledBack:
		c.RolledBack++
	case state.Running:
		c.Running++
	case state.Deferred:
		c.Deferred++
	default:
		c.Pending++
	}
}

// Group is a wave, or the conveyor.
type Group struct {
	Kind string `json:"kind"` // wave or conveyor
	Name string `json:"name"`
	// Status: done, running, failed (something failed, was skipped or
	// rolled back), partly done (some done, the rest not started or
	// stopped part-way), pending.
	Status   string           `json:"status"`
	Started  *time.Time       `json:"started,omitempty"`
	Ended    *time.Time       `json:"ended,omitempty"`
	Duration schedule.Seconds `json:"durationSeconds"`
	Counts   Counts           `json:"counts"`
	Apps     []*AppStatus     `json:"applications"`
}

// AppStatus is one application's record, with what to do about it.
type AppStatus struct {
	Name     string       `json:"name"`
	Wave     string       `json:"wave,omitempty"`
	Conveyor bool         `json:"conveyor,omitempty"`
	Strategy string       `json:"strategy"`
	Users    int          `json:"users"`
	Status   state.Status `json:"status"`
	// StoppedPartWay: pending, but some of its steps ran.
	StoppedPartWay bool `json:"stoppedPartWay,omitempty"`
	// Down, when set, says its service is down right now.
	Down *DownApp `json:"downNow,omitempty"`
	// Reason is the engine's word on why it failed, was skipped or did
	// not start.
	Reason   string           `json:"reason,omitempty"`
	Started  *time.Time       `json:"started,omitempty"`
	Ended    *time.Time       `json:"ended,omitempty"`
	Duration schedule.Seconds `json:"durationSeconds"`
	VMs      Counts           `json:"vms"`
	Steps    Counts           `json:"steps"`
	// Current names the steps running, e.g. "relocate of db-01".
	Current []string      `json:"current,omitempty"`
	Units   []*UnitStatus `json:"units"`
	Hooks   []*HookStatus `json:"hooks,omitempty"`
	Next    *Next         `json:"next,omitempty"`
}

// UnitStatus is a VM's (or server's) record; Name is empty for the steps
// that act on the application as a whole (its hooks).
type UnitStatus struct {
	Name    string            `json:"name"`
	Status  state.Status      `json:"status"`
	Outputs map[string]string `json:"outputs,omitempty"`
	Steps   []*StepStatus     `json:"steps"`
}

// StepStatus is one step's record.
type StepStatus struct {
	Kind      string           `json:"kind"`
	Phase     int              `json:"phase"`
	Status    state.Status     `json:"status"`
	Attempts  int              `json:"attempts"`
	Started   *time.Time       `json:"started,omitempty"`
	Ended     *time.Time       `json:"ended,omitempty"`
	Duration  schedule.Seconds `json:"durationSeconds"`
	Error     string           `json:"error,omitempty"`
	Retried   []string         `json:"retried,omitempty"`
	NotBefore *time.Time       `json:"notBefore,omitempty"`
	// VCenterQueued and VCenterRunning split the time of the step's
	// vCenter tasks: queued in vCenter, and running.
	VCenterQueued  schedule.Seconds `json:"vcenterQueuedSeconds,omitempty"`
	VCenterRunning schedule.Seconds `json:"vcenterRunningSeconds,omitempty"`
}

// HookStatus is one hook command's run.
type HookStatus struct {
	Kind     string           `json:"kind"`
	Unit     string           `json:"unit,omitempty"`
	Command  string           `json:"command"`
	ExitCode int              `json:"exitCode"`
	Error    string           `json:"error,omitempty"`
	Failed   bool             `json:"failed"`
	Started  time.Time        `json:"started"`
	Ended    time.Time        `json:"ended"`
	Duration schedule.Seconds `json:"durationSeconds"`
	// Tail is the output's last lines (the state keeps up to 16 KiB).
	Tail []string `json:"outputTail,omitempty"`
}

// TailLines is how many lines of a hook's output the report keeps.
const TailLines = 10

// Next is what an operator should do.
type Next struct {
	// Kind: retry, fix-dependency, reconcile, wait, carry-on, start,
	// deferred, due, none.
	Kind string `json:"kind"`
	Text string `json:"text"`
	// Command is the wavectl command to run, when there is one.
	Command string `json:"command,omitempty"`
	// Rollback, for an application that is down, is the other way to
	// bring it back: the command that rolls it back.
	Rollback string `json:"rollback,omitempty"`
	// saysWhy is set when Text carries the application's Reason, so that
	// the text output does not print it twice.
	saysWhy bool
}

// Options adjust a status report.
type Options struct {
	// StatePath is the state file as the operator named it. Commands in
	// next actions pass it with --state when it is not the plan's
	// default.
	StatePath string
}

// Status builds the status view of a record at time now.
func Status(st *state.State, now time.Time) *StatusReport {
	return StatusWith(st, now, Options{})
}

// StatusWith is Status with options.
func StatusWith(st *state.State, now time.Time, opts Options) *StatusReport {
	now = now.UTC()
	r := &StatusReport{
		Plan: st.Plan, PlanFile: st.PlanFile, PlanHash: st.PlanHash, StateFile: opts.StatePath,
		FormatVersion: st.FormatVersion, Lineage: st.Lineage, Serial: st.Serial,
		Created: st.Created, Updated: st.Updated, Now: now,
		Runs: len(st.Runs), Result: "not started", Groups: []*Group{}, DownNow: []*DownApp{},
	}
	run := st.CurrentRun()
	if run != nil {
		r.LastRun = runView(run, now)
		r.Result = run.Result
	}
	c := newContext(st, run, now, opts.StatePath)
	groups := map[string]*Group{}
	var conveyor *Group
	for _, a := range st.Apps {
		key, kind, name := "wave/"+a.Wave, "wave", a.Wave
		switch {
		case a.Conveyor:
			key, kind, name = "conveyor", "conveyor", "conveyor"
		case a.Wave == "":
			key, name = "wave/", "(no wave)"
		}
		g := groups[key]
		if g == nil {
			g = &Group{Kind: kind, Name: name}
			groups[key] = g
			if a.Conveyor {
				conveyor = g
			} else {
				r.Groups = append(r.Groups, g)
			}
		}
		as := appStatus(a, now)
		as.Next = c.appNext(a)
		g.Apps = append(g.Apps, as)
		g.Counts.add(a.Status)
		r.Totals.Apps.add(a.Status)
		if as.StoppedPartWay {
			g.Counts.StoppedPartWay++
			r.Totals.Apps.StoppedPartWay++
		}
		if as.Down != nil {
			r.DownNow = append(r.DownNow, as.Down)
		}
		addCounts(&r.Totals.VMs, as.VMs)
		addCounts(&r.Totals.Steps, as.Steps)
		for _, h := range as.Hooks {
			r.Totals.HookRuns++
			if h.Failed {
				r.Totals.HookFailures++
			}
		}
		for _, u := range as.Units {
			for _, s := range u.Steps {
				r.Totals.RetriedFaults += len(s.Retried)
				r.Totals.VCenterQueued += s.VCenterQueued
				r.Totals.VCenterRunning += s.VCenterRunning
			}
		}
	}
	if conveyor != nil {
		r.Groups = append(r.Groups, conveyor) // it runs alongside the waves; shown after them
	}
	for _, g := range r.Groups {
		g.finish(now)
	}
	r.Summary = summary(r)
	r.Next = c.overallNext(r)
	r.Approvals, r.Aborts = st.Approvals, st.Aborts
	return r
}

func addCounts(to *Counts, c Counts) {
	to.Total += c.Total
	to.Done += c.Done
	to.Failed += c.Failed
	to.Skipped += c.Skipped
	to.RolledBack += c.RolledBack
	to.Running += c.Running
	to.Pending += c.Pending
	to.Deferred += c.Deferred
	to.StoppedPartWay += c.StoppedPartWay
}

func runView(run *state.Run, now time.Time) *RunView {
	v := &RunView{Command: run.Command, Args: redact.Args(run.Args), Host: run.Host, User: run.User, PID: run.PID,
		Started: run.Started, Ended: run.Ended, Result: run.Result, Note: run.Note}
	v.Duration = span(&run.Started, run.Ended, now)
	return v
}

// span is how long something took, or has taken so far when it has not
// ended.
func span(start, end *time.Time, now time.Time) schedule.Seconds {
	if start == nil || start.IsZero() {
		return 0
	}
	e := now
	if end != nil {
		e = *end
	}
	if e.Before(*start) {
		return 0
	}
	return schedule.Seconds(e.Sub(*start))
}

func appStatus(a *state.App, now time.Time) *AppStatus {
	as := &AppStatus{Name: a.Name, Wave: a.Wave, Conveyor: a.Conveyor, Strategy: a.Strategy, Users: a.Users,
		Status: a.Status, Reason: a.Reason, Started: a.Started, Ended: a.Ended, Units: []*UnitStatus{},
		StoppedPartWay: StoppedPartWay(a), Down: DownNow(a, now)}
	if a.Status == state.Running || a.Ended != nil {
		as.Duration = span(a.Started, a.Ended, now)
	}
	for _, u := range a.Units {
		us := &UnitStatus{Name: u.Name, Status: u.Status, Outputs: u.Outputs, Steps: []*StepStatus{}}
		if u.Name != "" {
			as.VMs.add(u.Status)
		}
		for _, s := range u.Steps {
			ss := &StepStatus{Kind: s.Kind, Phase: s.Phase, Status: s.Status, Attempts: s.Attempts,
				Started: s.Started, Ended: s.Ended, Error: s.Error, Retried: s.Retried, NotBefore: s.NotBefore,
				VCenterQueued: ms(s.VCenterQueuedMs), VCenterRunning: ms(s.VCenterRunningMs)}
			if s.Status == state.Running || s.Ended != nil {
				ss.Duration = span(s.Started, s.Ended, now)
			}
			if s.Status == state.Running {
				as.Current = append(as.Current, stepName(s.Kind, u.Name))
			}
			as.Steps.add(s.Status)
			us.Steps = append(us.Steps, ss)
		}
		as.Units = append(as.Units, us)
	}
	for _, h := range a.Hooks {
		hs := &HookStatus{Kind: h.Kind, Unit: h.Unit, Command: h.Command, ExitCode: h.ExitCode, Error: h.Error,
			Failed: h.ExitCode != 0 || h.Error != "", Started: h.Started, Ended: h.Ended, Tail: tailLines(h.Output, TailLines)}
		hs.Duration = span(&hs.Started, &hs.Ended, now)
		as.Hooks = append(as.Hooks, hs)
	}
	return as
}

// finish works out the group's status and times. A group that nothing
// runs in has ended at its last recorded activity, even with applications
// left to start.
func (g *Group) finish(now time.Time) {
	running := false
	later := func(t *time.Time) {
		if t != nil && (g.Ended == nil || t.After(*g.Ended)) {
			g.Ended = t
		}
	}
	for _, a := range g.Apps {
		if a.Started != nil && (g.Started == nil || a.Started.Before(*g.Started)) {
			g.Started = a.Started
		}
		later(a.Ended)
		for _, u := range a.Units {
			for _, s := range u.Steps {
				if s.Status != state.Deferred {
					later(s.Ended)
				}
			}
		}
		running = running || a.Status == state.Running
	}
	if running || g.Started == nil {
		g.Ended = nil
	}
	c := g.Counts
	switch {
	case c.Done == c.Total:
		g.Status = "done"
	case c.Running > 0:
		g.Status = "running"
	case c.Failed+c.Skipped+c.RolledBack > 0:
		g.Status = "failed"
	case c.Pending == c.Total && g.Started == nil:
		g.Status = "pending"
	default:
		g.Status = "partly done"
	}
	if g.Status != "pending" {
		g.Duration = span(g.Started, g.Ended, now)
	}
}

// summary is the line at the top: where the migration stands.
func summary(r *StatusReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", r.Plan, r.Result)
	switch {
	case r.Result == "running":
		b.WriteString(" (or stopped without recording it: see Next)")
	case r.LastRun != nil && r.LastRun.Note != "" && r.Result != "succeeded":
		fmt.Fprintf(&b, " (%s)", noteText(r.LastRun))
	}
	a := r.Totals.Apps
	fmt.Fprintf(&b, "; %d of %s done", a.Done, plural(a.Total, "application"))
	for _, p := range []struct {
		n    int
		word string
	}{{a.Failed, "failed"}, {a.RolledBack, "rolled back"}, {a.Skipped, "skipped"}, {a.Running, "running"},
		{a.StoppedPartWay, "stopped part-way"}, {a.Pending - a.StoppedPartWay, "not started"}} {
		if p.n > 0 {
			fmt.Fprintf(&b, ", %d %s", p.n, p.word)
		}
	}
	fmt.Fprintf(&b, "; %d of %s done", r.Totals.VMs.Done, plural(r.Totals.VMs.Total, "VM"))
	return b.String()
}

// StoppedPartWay reports whether a pending application had begun: some
// of its steps ran. It is "stopped part-way", never "not started".
func StoppedPartWay(a *state.App) bool {
	return a.Status == state.Pending && started(a)
}

// DownNow says whether an application's service is down right now: one
// of its VMs was running, wavectl powered it off, and the step that powers
// it on again has not run (the run stopped, or failed, in between). It is
// nil when nothing is down.
func DownNow(a *state.App, now time.Time) *DownApp {
	if a.Status == state.Done || a.Status == state.RolledBack {
		return nil
	}
	var d *DownApp
	for _, u := range a.Units {
		if u.Outputs["powerState"] == "poweredOff" {
			continue // it was off before wavectl touched it (strategy.OutPowerState)
		}
		var off, on *state.Step
		for _, s := range u.Steps {
			switch s.Kind {
			case plan.StepPowerOff:
				off = s
			case plan.StepPowerOn:
				on = s
			}
		}
		if off == nil || on == nil || off.Status != state.Done || on.Status == state.Done || on.Phase < off.Phase {
			continue
		}
		since := off.Started
		if since == nil {
			since = off.Ended
		}
		if since == nil {
			continue
		}
		if d == nil {
			d = &DownApp{Name: a.Name, Since: since.UTC(), Users: a.Users}
		}
		if since.Before(d.Since) {
			d.Since = since.UTC()
		}
		d.VMs = append(d.VMs, u.Name)
	}
	if d != nil && now.After(d.Since) {
		d.UserHours = float64(a.Users) * now.Sub(d.Since).Hours()
	}
	return d
}

// noteText is a run's note without a repeat of its result ("interrupted:
// interrupted: ...").
func noteText(run *RunView) string {
	return strings.TrimPrefix(run.Note, run.Result+": ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// stepName names a step for people: "relocate of db-01".
func stepName(kind, unit string) string {
	if unit == "" {
		return kind + " of the application"
	}
	return kind + " of " + unit
}

func tailLines(out string, n int) []string {
	out = strings.TrimRight(out, "\n")
	if out == "" {
		return nil
	}
	lines := strings.Split(out, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// sameFile reports whether two paths name the same file, as far as their
// text and the working directory tell.
func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}

func ms(n int64) schedule.Seconds { return schedule.Seconds(time.Duration(n) * time.Millisecond) }
