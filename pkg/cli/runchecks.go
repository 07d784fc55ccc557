package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/agnivade/levenshtein"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/report"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// This file holds what apply, resume and rollback check before anything
// changes: the scope names real waves and applications, the hooks are
// there, every vCenter accepts the login, and a window is open; then the
// confirmation.

// didYouMean returns the candidate closest to s, when it is close enough
// to be a typo, or the one it begins when it is a shorthand (CloneVm for
// CloneVM_Task).
func didYouMean(s string, candidates []string) string {
	if len(s) >= 4 {
		var prefixed []string
		for _, c := range candidates {
			if strings.HasPrefix(strings.ToLower(c), strings.ToLower(s)) {
				prefixed = append(prefixed, c)
			}
		}
		if len(prefixed) == 1 {
			return prefixed[0]
		}
	}
	best, bestD := "", len(s)/3+2
	for _, c := range candidates {
		if d := levenshtein.ComputeDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// scopeCheck refuses a --wave or --app that names nothing, suggesting the
// nearest name.
func scopeCheck(sc engine.Scope, s *schedule.Schedule) error {
	var waves, apps []string
	for _, w := range s.Waves {
		waves = append(waves, w.Name)
		for _, a := range w.Apps {
			apps = append(apps, a.Name)
		}
	}
	if s.Conveyor != nil {
		for _, a := range s.Conveyor.Apps {
			apps = append(apps, a.Name)
		}
	}
	check := func(flag, name, what string, names []string) error {
		if slices.Contains(names, name) {
			return nil
		}
		msg := fmt.Sprintf("%s %s: the plan has no %s of that name", flag, name, what)
		if m := didYouMean(name, names); m != "" {
			msg += fmt.Sprintf("; did you mean %s?", m)
		} else if len(names) > 0 && len(names) <= 12 {
			msg += " (" + strings.Join(names, ", ") + ")"
		}
		return usageError{errors.New(msg)}
	}
	for _, w := range sc.Waves {
		if err := check("--wave", w, "wave", waves); err != nil {
			return err
		}
	}
	for _, a := range sc.Apps {
		if err := check("--app", a, "scheduled application", apps); err != nil {
			return err
		}
	}
	return nil
}

// shellBuiltins are words /bin/sh runs itself: nothing to find on disk.
var shellBuiltins = []string{".", ":", "[", "alias", "cd", "command", "echo", "eval", "exec", "exit", "export",
	"false", "printf", "read", "set", "shift", "sleep", "test", "times", "trap", "true", "type", "ulimit", "umask", "unset", "wait"}

// HookProblems finds the plan's hook commands whose program is not there
// or not executable. A hook runs with /bin/sh -c in the plan file's
// folder, so its program is found as the shell will: a word with a slash
// relative to the plan file's folder, a bare word on $PATH. Only the first
// word of each command is looked at; a command built at run time ($VAR,
// a subshell) is left alone.
//
// validate reports them as warnings (the plan may be run from a machine
// where the scripts are); plan, apply and resume as errors.
func HookProblems(p *plan.Plan, sev plan.Severity, only func(app string) bool) plan.Problems {
	var probs plan.Problems
	dir := filepath.Dir(p.File)
	check := func(path, kind string, cmds []string) {
		for i, c := range cmds {
			at := fmt.Sprintf("%s.%s[%d]", path, kind, i)
			if msg, hint := hookProgram(dir, c); msg != "" {
				probs = append(probs, plan.Problem{Pos: p.Pos(at), Severity: sev, Path: at,
					Message: fmt.Sprintf("%s hook %q: %s", kind, c, msg), Hint: hint})
			}
		}
	}
	hooks := func(path string, h *plan.Hooks) {
		if h == nil {
			return
		}
		check(path+".hooks", "pre", h.Pre)
		check(path+".hooks", "verify", h.Verify)
		check(path+".hooks", "post", h.Post)
	}
	if p.Hooks != nil && (only == nil || slices.ContainsFunc(p.Applications, func(a *plan.Application) bool { return only(a.Name) })) {
		hooks("", p.Hooks)
		for i := range probs {
			probs[i].Path = strings.TrimPrefix(probs[i].Path, ".")
			probs[i].Pos = p.Pos(probs[i].Path)
		}
	}
	for i, a := range p.Applications {
		if a != nil && (only == nil || only(a.Name)) {
			hooks(fmt.Sprintf("applications[%d]", i), a.Hooks)
		}
	}
	for i, w := range p.Waves {
		if w == nil {
			continue
		}
		if only == nil || slices.ContainsFunc(w.Applications, only) {
			hooks(fmt.Sprintf("waves[%d]", i), w.Hooks)
		}
	}
	return probs
}

// hookProgram says what is wrong with a hook command's program, if
// anything, and what to do.
func hookProgram(dir, command string) (msg, hint string) {
	words := strings.Fields(strings.NewReplacer(`"`, "", "'", "").Replace(command))
	if len(words) == 0 {
		return "", ""
	}
	prog := ""
	for _, w := range words {
		if !strings.Contains(w, "=") || strings.HasPrefix(w, "=") { // skip VAR=value prefixes
			prog = w
			break
		}
	}
	if prog == "" || strings.ContainsAny(prog, "$`(){}|&;<>*?") || slices.Contains(shellBuiltins, prog) {
		return "", ""
	}
	if !strings.Contains(prog, "/") {
		if _, err := exec.LookPath(prog); err != nil {
			return fmt.Sprintf("%s is not on $PATH", prog), "install it, or name it by its path (relative to the plan file's folder)"
		}
		return "", ""
	}
	full := prog
	if !filepath.IsAbs(full) {
		full = filepath.Join(dir, prog)
		if abs, err := filepath.Abs(full); err == nil {
			full = abs
		}
	}
	st, err := os.Stat(full)
	switch {
	case err != nil:
		return fmt.Sprintf("%s does not exist (hooks run in the plan file's folder, so it is looked for as %s)", prog, full),
			"create it there, or fix the path: a relative path is relative to the plan file's folder, not the working directory"
	case st.IsDir():
		return fmt.Sprintf("%s is a folder (%s)", prog, full), "name the script in it"
	case st.Mode().Perm()&0o111 == 0:
		return fmt.Sprintf("%s is not executable (%s)", prog, full), "chmod +x " + full
	}
	return "", ""
}

// checkHooks refuses a run whose hooks (of the applications in scope) are
// not there: found only when an application's VMs were already shut down
// and moved, a missing verify script fails it mid-outage.
func checkHooks(p *plan.Plan, sc engine.Scope, s *schedule.Schedule) error {
	probs := HookProblems(p, plan.SeverityError, inScope(sc, s))
	if len(probs) == 0 {
		return nil
	}
	var b strings.Builder
	for _, pr := range probs {
		b.WriteString("\n" + pr.String())
	}
	return exitf(ExitInvalid, "%s: nothing was started: the plan's hooks must be there before anything changes:%s", p.File, b.String())
}

// inScope reports whether an application is selected by a scope.
func inScope(sc engine.Scope, s *schedule.Schedule) func(string) bool {
	if len(sc.Waves) == 0 && !sc.Conveyor && len(sc.Apps) == 0 {
		return func(string) bool { return true }
	}
	sel := map[string]bool{}
	for _, w := range s.Waves {
		if slices.Contains(sc.Waves, w.Name) {
			for _, a := range w.Apps {
				sel[a.Name] = true
			}
		}
	}
	if sc.Conveyor && s.Conveyor != nil {
		for _, a := range s.Conveyor.Apps {
			sel[a.Name] = true
		}
	}
	return func(name string) bool {
		if len(sc.Apps) > 0 {
			return slices.Contains(sc.Apps, name) && (len(sel) == 0 || sel[name])
		}
		return sel[name]
	}
}

// connectError gives a failed connection its exit code (5) and one line.
func connectError(err error) error {
	if errors.Is(err, vsphere.ErrUnreachable) || errors.Is(err, vsphere.ErrBadCredentials) {
		return &ExitError{Code: ExitUnreachable, Err: fmt.Errorf("%w; nothing was started", err)}
	}
	return err
}

// connectFirst logs in to every vCenter the run needs before anything
// starts.
func connectFirst(ctx context.Context, p *plan.Plan, sc engine.Scope, s *schedule.Schedule,
	drivers func(context.Context, string) (vsphere.Driver, error)) error {
	need := map[string]bool{p.Source.VCenter: true}
	sel := inScope(sc, s)
	for _, a := range p.Applications {
		if a != nil && sel(a.Name) && a.Resolved.VCenter != "" {
			need[a.Resolved.VCenter] = true
		}
	}
	names := make([]string, 0, len(need))
	for n := range need {
		if n != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		if _, err := drivers(ctx, n); err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			var ee *ExitError
			if errors.As(connectError(err), &ee) {
				return &ExitError{Code: ExitUnreachable, Err: fmt.Errorf("vCenter %s: %w", n, ee.Err)}
			}
			return &ExitError{Code: ExitUnreachable, Err: fmt.Errorf("vCenter %s: %w; nothing was started", n, err)}
		}
	}
	return nil
}

// canRunNow reports whether any part of the scope has its window open
// (or no window) now.
func canRunNow(p *plan.Plan, s *schedule.Schedule, sc engine.Scope, now time.Time) bool {
	sel := inScope(sc, s)
	open := func(w *plan.Window) bool {
		return w == nil || (!now.Before(w.Start) && now.Before(w.End))
	}
	for _, w := range p.Waves {
		if w != nil && slices.ContainsFunc(w.Applications, sel) && open(w.Window) {
			return true
		}
	}
	if s.Conveyor != nil {
		for _, a := range s.Conveyor.Apps {
			if sel(a.Name) && open(s.Conveyor.Window) {
				return true
			}
		}
	}
	return false
}

// shutWindows says which parts of the scope wait for a window that is not
// open now.
func shutWindows(p *plan.Plan, s *schedule.Schedule, sc engine.Scope, now time.Time) []string {
	sel := inScope(sc, s)
	var out []string
	shut := func(who string, w *plan.Window) {
		switch {
		case w == nil:
		case now.Before(w.Start):
			out = append(out, fmt.Sprintf("%s waits for its window, which opens at %s", who, w.Start.UTC().Format(time.RFC3339)))
		case !now.Before(w.End):
			out = append(out, fmt.Sprintf("%s's window closed at %s: it will not start", who, w.End.UTC().Format(time.RFC3339)))
		}
	}
	for _, w := range p.Waves {
		if w != nil && slices.ContainsFunc(w.Applications, sel) {
			shut(w.Name, w.Window)
		}
	}
	if s.Conveyor != nil && slices.ContainsFunc(s.Conveyor.Apps, func(a *schedule.App) bool { return sel(a.Name) }) {
		shut("the conveyor", s.Conveyor.Window)
	}
	return out
}

// doneSteps counts the steps of the selected applications that the record
// says are done (or put off to their date).
func doneSteps(st *state.State, sel func(string) bool) int {
	n := 0
	for _, a := range st.Apps {
		if !sel(a.Name) {
			continue
		}
		for _, u := range a.Units {
			for _, s := range u.Steps {
				if s.Status == state.Done || s.Status == state.Deferred {
					n++
				}
			}
		}
	}
	return n
}

// errDeclined is the answer "no" at the prompt.
var errDeclined = &ExitError{Code: ExitDeclined, Err: errors.New("not confirmed; nothing was changed")}

// confirm asks on the terminal whether to go ahead, saying what will
// change. Ctrl-C at the prompt exits 130.
func confirm(ctx context.Context, opts *ApplyOptions, p *plan.Plan, s *schedule.Schedule) error {
	w, in, closeTTY := opts.IO.Prompt()
	defer closeTTY()
	fmt.Fprint(w, confirmText(opts, p, s))
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(in).ReadString('\n')
		answer <- line
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(w)
		return &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted at the prompt; nothing was changed")}
	case line := <-answer:
		line = strings.ToLower(strings.TrimSpace(line))
		if line == "y" || line == "yes" {
			return nil
		}
		return errDeclined
	}
}

// confirmText says what a run will change, as Terraform's plan does
// before apply.
func confirmText(opts *ApplyOptions, p *plan.Plan, s *schedule.Schedule) string {
	var b strings.Builder
	command := cmp.Or(opts.Command, "apply")
	sel := inScope(opts.Scope, s)
	var waves []string
	apps, units, steps := 0, 0, 0
	var est time.Duration
	var userHours float64
	count := func(list []*schedule.App) int {
		n := 0
		for _, a := range list {
			if sel(a.Name) {
				n++
				apps++
				units += len(a.Units)
				steps += len(a.Steps) // as plan counts them, deferred ones too
				userHours += a.ProjectedUserHours
			}
		}
		return n
	}
	for _, w := range s.Waves {
		if n := count(w.Apps); n > 0 {
			waves = append(waves, fmt.Sprintf("%s (%s)", w.Name, plural(n, "application")))
			est += time.Duration(w.Estimate)
		}
	}
	if s.Conveyor != nil {
		if n := count(s.Conveyor.Apps); n > 0 {
			waves = append(waves, fmt.Sprintf("the conveyor (%s)", plural(n, "application")))
			est = max(est, time.Duration(s.Conveyor.Estimate))
		}
	}
	if apps == s.Totals.Applications {
		// The whole plan: the run's estimate, with the waves and the
		// conveyor sharing their slots and budgets.
		est = max(est, time.Duration(s.Totals.Estimate))
	}
	verb := "migrate"
	switch command {
	case "resume":
		verb = "carry on migrating"
	case "rollback":
		verb = "undo the migration of"
	}
	fmt.Fprintf(&b, "wavectl %s will %s plan %s:\n", command, verb, p.Metadata.Name)
	if opts.Simulate {
		fmt.Fprintf(&b, "  vCenter:       the embedded simulator (nothing real changes)\n")
	} else {
		var settings map[string]vsphere.Settings
		if opts.Settings != nil {
			settings = opts.Settings(p)
		}
		for _, name := range vcenterNames(p) {
			u, user := "", ""
			if st, ok := settings[name]; ok {
				u, user = st.URL, st.Username
			} else {
				u = p.VCenters[name].URL
			}
			fmt.Fprintf(&b, "  vCenter %s: %s as %s\n", name, u, cmp.Or(user, "(no user set)"))
		}
	}
	fmt.Fprintf(&b, "  waves:         %s\n", cmp.Or(strings.Join(waves, ", "), "none"))
	fmt.Fprintf(&b, "  applications:  %d, with %s and %d steps", apps, plural(units, "VM"), steps)
	if opts.done > 0 {
		fmt.Fprintf(&b, " (%d already done, by an earlier run)", opts.done)
	}
	b.WriteString("\n")
	if command != "rollback" {
		fmt.Fprintf(&b, "  estimate:      %s; projected outage %.0f user-hours\n", schedule.Seconds(est), userHours)
	}
	switch {
	case command == "rollback":
	case opts.IgnoreWindows:
		fmt.Fprintf(&b, "  windows:       ignored (--ignore-windows)\n")
	default:
		if shut := shutWindows(p, s, opts.Scope, time.Now()); len(shut) > 0 {
			fmt.Fprintf(&b, "  windows:       %s\n", strings.Join(shut, "; "))
		}
	}
	fmt.Fprintf(&b, "Continue? [y/N] ")
	return b.String()
}

func vcenterNames(p *plan.Plan) []string {
	names := make([]string, 0, len(p.VCenters))
	for n := range p.VCenters {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// resultJSON is apply's, resume's and rollback's result with -o json.
type resultJSON struct {
	Command      string          `json:"command"`
	Status       string          `json:"status"`
	Note         string          `json:"note,omitempty"`
	State        string          `json:"state"`
	Counts       map[string]int  `json:"counts"`
	Applications []resultAppJSON `json:"applications"`
	// DownNow lists the applications whose service is down right now, as
	// status does.
	DownNow []*report.DownApp `json:"downNow"`
}

type resultAppJSON struct {
	Name     string `json:"name"`
	Wave     string `json:"wave,omitempty"`
	Conveyor bool   `json:"conveyor,omitempty"`
	Strategy string `json:"strategy"`
	Status   string `json:"status"`
	// StoppedPartWay: pending, but some of its steps ran.
	StoppedPartWay bool   `json:"stoppedPartWay,omitempty"`
	Reason         string `json:"reason,omitempty"`
}

func writeResultJSON(ios *IOStreams, store state.Store, res *engine.Result, path, command string) error {
	out := resultJSON{Command: command, Status: res.Status, Note: res.Note, State: path, Counts: map[string]int{},
		Applications: []resultAppJSON{}, DownNow: []*report.DownApp{}}
	now := time.Now()
	store.View(func(st *state.State) {
		for _, a := range st.Apps {
			out.Counts[string(a.Status)]++
			out.Applications = append(out.Applications, resultAppJSON{Name: a.Name, Wave: a.Wave, Conveyor: a.Conveyor,
				Strategy: a.Strategy, Status: string(a.Status), StoppedPartWay: report.StoppedPartWay(a), Reason: a.Reason})
			if d := report.DownNow(a, now); d != nil {
				out.DownNow = append(out.DownNow, d)
			}
		}
	})
	return writeJSON(ios.Out, out)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
