package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/state"
)

// carryOn is the command that carries a stopped migration on (for app, or
// for every application not done when app is nil), and the one place that
// says so: `wavectl resume` on the same state. Done steps are skipped,
// failed and interrupted ones run again from where they stopped, each
// first checking vCenter for its own earlier work. It shows the last run's
// scope (--wave, --app, --conveyor) when that covers app, and
// --ignore-windows when the run had it (resume reuses both anyway). Before
// any run it is apply; after a --simulate rehearsal, see applyAgain.
func carryOn(st *state.State, run *state.Run, statePath string, app *state.App) string {
	if run == nil {
		return applyAgain(st, run, statePath, app)
	}
	args := []string{"wavectl", "resume"}
	var sc scope
	if run.Command == "apply" || run.Command == "resume" {
		sc = runScope(run)
	}
	if sc.covering(st, app) {
		args = append(args, sc.flags...)
	}
	if run.Options.IgnoreWindows {
		args = append(args, "--ignore-windows")
	}
	if statePath != "" && !sameFile(statePath, state.DefaultPath(st.Plan)) {
		return strings.Join(append(args, "--state", quote(statePath)), " ")
	}
	plan := st.PlanFile
	if plan == "" {
		plan = "PLAN"
	}
	return strings.Join(append(args, quote(plan)), " ")
}

// applyAgain is apply on the same state: what starts a migration, and
// what rehearses a --simulate one again from the beginning.
func applyAgain(st *state.State, run *state.Run, statePath string, app *state.App) string {
	args := []string{"wavectl", "apply"}
	var sc scope
	if run != nil && run.Command == "apply" {
		sc = runScope(run)
	}
	if sc.covering(st, app) {
		args = append(args, sc.flags...)
	}
	args = append(args, sc.other...)
	simulated := strings.TrimSuffix(state.DefaultPath(st.Plan), ".state.json") + ".simulate.state.json"
	if statePath != "" && !sameFile(statePath, state.DefaultPath(st.Plan)) && !(sc.simulate && sameFile(statePath, simulated)) {
		args = append(args, "--state", quote(statePath))
	}
	plan := st.PlanFile
	if plan == "" {
		plan = "PLAN"
	}
	return strings.Join(append(args, quote(plan)), " ")
}

// covering reports whether the scope covers app, or every application
// not done when app is nil.
func (s scope) covering(st *state.State, app *state.App) bool {
	if app != nil {
		return s.covers(app)
	}
	for _, a := range st.Apps {
		if a.Status != state.Done && !s.covers(a) {
			return false
		}
	}
	return true
}

// scope is what a recorded run ran on.
type scope struct {
	waves, apps []string
	conveyor    bool
	simulate    bool     // a rehearsal against the embedded simulator
	flags       []string // --wave, --app and --conveyor
	other       []string // --simulate, --ignore-windows
}

func (s scope) covers(a *state.App) bool {
	inGroup := (len(s.waves) == 0 && !s.conveyor) || (a.Conveyor && s.conveyor) || (!a.Conveyor && slices.Contains(s.waves, a.Wave))
	return inGroup && (len(s.apps) == 0 || slices.Contains(s.apps, a.Name))
}

// runScope is what a run ran on, from its recorded options (never from
// its command line); connection settings and --yes are left for the
// operator to give again.
func runScope(run *state.Run) scope {
	o := run.Options
	s := scope{waves: o.Waves, apps: o.Apps, conveyor: o.Conveyor, simulate: o.Simulate}
	for _, w := range o.Waves {
		s.flags = append(s.flags, "--wave "+quote(w))
	}
	if o.Conveyor {
		s.flags = append(s.flags, "--conveyor")
	}
	for _, a := range o.Apps {
		s.flags = append(s.flags, "--app "+quote(a))
	}
	if o.Simulate {
		s.other = append(s.other, "--simulate")
	}
	if o.IgnoreWindows {
		s.other = append(s.other, "--ignore-windows")
	}
	return s
}

// quote puts a shell argument in single quotes when it needs them.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// nextContext is what next actions are worked out from.
type nextContext struct {
	st    *state.State
	run   *state.Run
	now   time.Time
	cmd   string // carryOn's command for the whole migration
	path  string // the state file as the operator named it
	apps  map[string]*state.App
	alive bool // the last run is recorded as running
	// simulated: the last run was a --simulate rehearsal, which starts
	// afresh every time (the simulator keeps nothing), so nothing carries
	// on.
	simulated bool
}

func newContext(st *state.State, run *state.Run, now time.Time, statePath string) *nextContext {
	c := &nextContext{st: st, run: run, now: now, path: statePath, cmd: carryOn(st, run, statePath, nil), apps: map[string]*state.App{}}
	if run != nil && run.Command == "apply" && run.Options.Simulate {
		c.cmd = applyAgain(st, run, statePath, nil)
	}
	for _, a := range st.Apps {
		c.apps[a.Name] = a
	}
	c.alive = run != nil && run.Result == "running"
	c.simulated = run != nil && run.Command == "apply" && run.Options.Simulate
	return c
}

// appNext says what an operator should do about one application, or nil
// when it needs nothing.
func (c *nextContext) appNext(a *state.App) *Next {
	n := c.appNextText(a)
	if n == nil {
		return nil
	}
	if c.simulated {
		if a.Status == state.Done {
			return nil
		}
		cmd := applyAgain(c.st, c.run, c.path, a)
		return &Next{Kind: "rehearse", Command: cmd, Text: "this was a --simulate rehearsal, which starts afresh every run: `" + cmd +
			"` rehearses it again from the beginning"}
	}
	if n.Command == "" {
		n.Command = carryOn(c.st, c.run, c.path, a)
	}
	// The next action's text says why, except when it is about a step in
	// flight, or the reason holds more (a rollback that failed too).
	n.saysWhy = n.Kind != "reconcile" && n.Kind != "wait" && !strings.Contains(a.Reason, "rollback failed")
	return n
}

func (c *nextContext) appNextText(a *state.App) *Next {
	cmd := "`" + carryOn(c.st, c.run, c.path, a) + "`"
	n := c.statusNext(a, cmd)
	if d := DownNow(a, c.now); d != nil && n != nil && !c.alive {
		c.offerRollback(n, a, d)
	}
	return n
}

func (c *nextContext) statusNext(a *state.App, cmd string) *Next {
	switch a.Status {
	case state.Done:
		return c.deferredNext(a, cmd)

	case state.Failed, state.RolledBack:
		what := "retry: fix the cause, then " + cmd
		if a.Status == state.RolledBack {
			what = "rolled back: fix the cause, then " + cmd + " moves it again;"
		}
		if unit, s := firstStep(a, state.Failed); s != nil {
			text := fmt.Sprintf("%s carries on from step %s (%s failed: %s)", what, stepName(s.Kind, unit), attemptText(s.Attempts), firstLine(s.Error))
			if a.Status == state.RolledBack {
				text = fmt.Sprintf("%s step %s had failed (%s: %s)", what, stepName(s.Kind, unit), attemptText(s.Attempts), firstLine(s.Error))
			}
			if n := countUnits(a, state.Failed) - 1; n > 0 {
				text += fmt.Sprintf("; %s failed too", plural(n, "other VM"))
			}
			if h := failedHook(a); h != nil {
				text += fmt.Sprintf("; %s hook `%s` %s", h.Kind, h.Command, hookResult(h))
			}
			return &Next{Kind: "retry", Text: text}
		}
		text := what + " retries it"
		if a.Status == state.RolledBack {
			text = what
		}
		if a.Reason != "" {
			text += " (" + firstLine(a.Reason) + ")"
		}
		return &Next{Kind: "retry", Text: text}

	case state.Skipped:
		if dep := a.SkippedFor; dep != "" {
			how := "did not move"
			if d := c.apps[dep]; d != nil {
				how = statusWord(d.Status)
			}
			return &Next{Kind: "fix-dependency", Text: fmt.Sprintf(
				"skipped because it depends on %s, which %s: fix %s first (see its next action); then %s moves both",
				dep, how, dep, cmd)}
		}
		text := "skipped"
		if a.Reason != "" {
			text += " (" + strings.TrimPrefix(firstLine(a.Reason), "skipped: ") + ")"
		}
		return &Next{Kind: "carry-on", Text: text + ": " + cmd + " tries it again"}

	case state.Running:
		unit, s := firstStep(a, state.Running)
		step := "its current step"
		if s != nil {
			step = "step " + stepName(s.Kind, unit)
		}
		if c.alive {
			return &Next{Kind: "wait", Text: fmt.Sprintf(
				"running: %s%s. If the run (pid %d on %s) is still going, let it finish; if that process is gone, %s checks vCenter for this step's result before redoing it",
				step, sinceText(s), c.run.PID, c.run.Host, cmd)}
		}
		return &Next{Kind: "reconcile", Text: fmt.Sprintf(
			"running when the run stopped (%s): %s checks vCenter for this step's result before redoing it", step, cmd)}

	default: // pending
		return c.pendingNext(a, cmd)
	}
}

func (c *nextContext) pendingNext(a *state.App, cmd string) *Next {
	reason := firstLine(a.Reason)
	// Stopped part-way: some steps done, or one interrupted in flight.
	if unit, s := firstStep(a, state.Running); s != nil {
		return &Next{Kind: "reconcile", Text: fmt.Sprintf(
			"stopped part-way, with step %s in flight: %s checks vCenter for its result before redoing it, then carries on", stepName(s.Kind, unit), cmd)}
	}
	if unit, s := firstInterrupted(a); s != nil {
		return &Next{Kind: "reconcile", Text: fmt.Sprintf(
			"stopped part-way, with step %s interrupted: %s checks vCenter for its result before redoing it, then carries on", stepName(s.Kind, unit), cmd)}
	}
	if started(a) {
		unit, s := firstNotDone(a)
		from := ""
		if s != nil {
			from = " from step " + stepName(s.Kind, unit)
		}
		why := ""
		if reason != "" {
			why = " (" + strings.TrimSuffix(strings.TrimPrefix(reason, "stopped part-way: "), "; apply again to carry on from where it stopped") + ")"
			why = strings.ReplaceAll(why, "; resume carries on from where it stopped", "")
		}
		return &Next{Kind: "carry-on", Text: fmt.Sprintf("stopped part-way%s: %s carries on%s", why, cmd, from)}
	}
	switch {
	case strings.Contains(reason, "waiting for its window"):
		return &Next{Kind: "start", Text: fmt.Sprintf(
			"not started: %s; %s moves it once the window is open", strings.TrimPrefix(reason, "not started: "), cmd)}
	case strings.Contains(reason, "window closed"):
		return &Next{Kind: "start", Text: fmt.Sprintf(
			"not started: the change window closed; %s moves it while its wave's window is open (give the wave its next window in the plan)", cmd)}
	case strings.Contains(reason, "onFailure: stop"):
		return &Next{Kind: "start", Text: fmt.Sprintf(
			"not started: its wave stopped after a failure (onFailure: stop); fix the failed application, then %s moves it", cmd)}
	case reason != "":
		return &Next{Kind: "start", Text: fmt.Sprintf("%s: %s moves it", strings.TrimSuffix(reason, "."), cmd)}
	}
	return &Next{Kind: "start", Text: "not started yet: " + cmd + " moves it"}
}

// offerRollback puts an application that is down first, with the two
// ways to bring it back: carry on (the next action as it was: the
// migration finishes and powers it on in its new place) or roll back (it
// goes back as it was and is powered on there).
func (c *nextContext) offerRollback(n *Next, a *state.App, d *DownApp) {
	n.Rollback = rollbackCmd(c.st, c.path, a.Name)
	n.Text = fmt.Sprintf("DOWN NOW since %s (%s powered off by the migration; %s without service). Carry on: %s. "+
		"Or roll back: `%s` undoes its done steps and powers it on where it was",
		d.Since.UTC().Format(stamp), strings.Join(d.VMs, ", "), plural(d.Users, "user"), n.Text, n.Rollback)
}

// rollbackCmd is the command that rolls one application back.
func rollbackCmd(st *state.State, statePath, app string) string {
	args := []string{"wavectl", "rollback", "--app", quote(app)}
	if statePath != "" && !sameFile(statePath, state.DefaultPath(st.Plan)) {
		args = append(args, "--state", quote(statePath))
	} else if st.PlanFile != "" {
		args = append(args, quote(st.PlanFile))
	}
	return strings.Join(args, " ")
}

// deferredNext speaks of steps put off to a date: a retired VM's deletion
// after its retention period.
func (c *nextContext) deferredNext(a *state.App, cmd string) *Next {
	var first *state.Step
	var units []string
	for _, u := range a.Units {
		for _, s := range u.Steps {
			if s.Status != state.Deferred {
				continue
			}
			units = append(units, u.Name)
			if first == nil || s.NotBefore != nil && first.NotBefore != nil && s.NotBefore.Before(*first.NotBefore) {
				first = s
			}
		}
	}
	if first == nil {
		return nil
	}
	who := units[0]
	if len(units) > 1 {
		who = fmt.Sprintf("%s and %d more", units[0], len(units)-1)
	}
	if first.NotBefore == nil || !c.now.Before(*first.NotBefore) {
		return &Next{Kind: "due", Text: fmt.Sprintf("due: %s of %s can run now: %s does it", first.Kind, who, cmd)}
	}
	return &Next{Kind: "deferred", Text: fmt.Sprintf("deferred: %s of %s runs on %s or later with %s",
		first.Kind, who, first.NotBefore.UTC().Format("2006-01-02"), cmd)}
}

// overallNext says what to do about the migration as a whole.
func (c *nextContext) overallNext(r *StatusReport) *Next {
	cmd := "`" + c.cmd + "`"
	a := r.Totals.Apps
	switch {
	case c.run == nil:
		return &Next{Kind: "start", Command: c.cmd, Text: "nothing has run yet: " + cmd + " starts the migration"}
	case c.simulated:
		return &Next{Kind: "rehearse", Command: c.cmd, Text: "this was a --simulate rehearsal against the embedded vCenter simulator, which keeps " +
			"nothing between runs: " + cmd + " rehearses again from the beginning; apply without --simulate does it for real"}
	case c.alive:
		return &Next{Kind: "wait", Command: c.cmd, Text: fmt.Sprintf(
			"a run is recorded as running (%s, pid %d on %s, since %s): if it is still going, let it finish (run status again to follow it); "+
				"if that process is gone (killed, or its machine restarted), %s carries on and checks vCenter for the steps that were in flight",
			c.run.Command, c.run.PID, c.run.Host, c.run.Started.UTC().Format(stamp), cmd)}
	case a.Failed+a.RolledBack+a.Skipped > 0:
		return &Next{Kind: "retry", Command: c.cmd, Text: fmt.Sprintf(
			"fix what failed (each application's next action says what), then %s carries on: done steps are skipped, failed ones run again from the step that failed", cmd)}
	case c.run.Result == "unapproved", c.run.Result == "paused" && strings.HasPrefix(c.run.Note, "change freeze"):
		return governanceNext(c.run, cmd)
	case c.run.Result == "paused" && strings.Contains(c.run.Note, "waiting for its window"):
		return &Next{Kind: "carry-on", Command: c.cmd, Text: fmt.Sprintf(
			"the run paused: %s; %s carries on once it is open", c.run.Note, cmd)}
	case c.run.Result == "paused":
		return &Next{Kind: "carry-on", Command: c.cmd, Text: fmt.Sprintf(
			"the run paused because a change window closed: %s carries on while the window is open (give the wave its next window in the plan)", cmd)}
	case a.Pending+a.Running > 0:
		return &Next{Kind: "carry-on", Command: c.cmd, Text: fmt.Sprintf(
			"%s carries on from where the run stopped: done steps are skipped, interrupted ones are checked against vCenter first", cmd)}
	}
	// Everything is done; only deferred steps may be left.
	var soonest *Next
	var when time.Time
	for _, g := range r.Groups {
		for _, as := range g.Apps {
			for _, u := range as.Units {
				for _, s := range u.Steps {
					if s.Status == state.Deferred && s.NotBefore != nil && (soonest == nil || s.NotBefore.Before(when)) {
						when, soonest = *s.NotBefore, as.Next
					}
				}
			}
		}
	}
	if soonest != nil && !c.now.Before(when) {
		return &Next{Kind: "due", Command: c.cmd, Text: "every application is done; deferred steps are due: " + cmd + " runs them"}
	}
	if soonest != nil {
		return &Next{Kind: "deferred", Command: c.cmd, Text: fmt.Sprintf(
			"every application is done; deferred steps (retired VMs' deletion) run from %s with %s", when.UTC().Format("2006-01-02"), cmd)}
	}
	return &Next{Kind: "none", Text: "nothing to do: every application is done"}
}

// firstStep finds the first step with status s, in the record's order.
func firstStep(a *state.App, s state.Status) (string, *state.Step) {
	for _, u := range a.Units {
		for _, st := range u.Steps {
			if st.Status == s {
				return u.Name, st
			}
		}
	}
	return "", nil
}

func firstInterrupted(a *state.App) (string, *state.Step) {
	for _, u := range a.Units {
		for _, st := range u.Steps {
			if st.Status == state.Pending && strings.HasPrefix(st.Error, "interrupted") {
				return u.Name, st
			}
		}
	}
	return "", nil
}

func firstNotDone(a *state.App) (string, *state.Step) {
	for _, u := range a.Units {
		if u.Status == state.Done {
			continue
		}
		for _, st := range u.Steps {
			if st.Status != state.Done && st.Status != state.Deferred {
				return u.Name, st
			}
		}
	}
	return "", nil
}

func started(a *state.App) bool {
	for _, u := range a.Units {
		for _, st := range u.Steps {
			if st.Status != state.Pending || st.Attempts > 0 {
				return true
			}
		}
	}
	return false
}

func countUnits(a *state.App, s state.Status) int {
	n := 0
	for _, u := range a.Units {
		if u.Status == s {
			n++
		}
	}
	return n
}

func failedHook(a *state.App) *state.HookRun {
	for i := len(a.Hooks) - 1; i >= 0; i-- {
		if h := &a.Hooks[i]; h.ExitCode != 0 || h.Error != "" {
			return h
		}
	}
	return nil
}

func hookResult(h *state.HookRun) string {
	s := fmt.Sprintf("exited %d", h.ExitCode)
	if h.ExitCode == 0 && h.Error != "" {
		s = firstLine(h.Error)
	}
	if lines := tailLines(h.Output, 1); len(lines) == 1 {
		s += fmt.Sprintf(" (last output: %s)", strings.TrimSpace(lines[0]))
	}
	return s
}

func attemptText(n int) string {
	if n <= 1 {
		return "attempt 1"
	}
	return fmt.Sprintf("attempt %d", n)
}

func sinceText(s *state.Step) string {
	if s == nil || s.Started == nil {
		return ""
	}
	return fmt.Sprintf(" (attempt %d, since %s)", max(s.Attempts+1, 1), s.Started.UTC().Format(stamp))
}

func statusWord(s state.Status) string {
	switch s {
	case state.Failed:
		return "failed"
	case state.Skipped:
		return "was skipped"
	case state.RolledBack:
		return "was rolled back"
	case state.Done:
		return "is done now"
	case state.Running:
		return "is still running"
	}
	return "has not moved yet"
}

// firstLine keeps a fault's first line, for sentences; the step's record
// has it all.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " ..."
	}
	return s
}

const stamp = "2006-01-02 15:04 UTC"
