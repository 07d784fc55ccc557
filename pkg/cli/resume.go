package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/redact"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// NewCmdResume builds `wavectl resume`.
func NewCmdResume(f *Factory, runF func(*ApplyOptions) error) *cobra.Command {
	opts := &ApplyOptions{IO: f.IO, Command: "resume"}
	cmd := &cobra.Command{
		Use:   "resume [PLAN]",
		Short: "Carry on the run recorded in the state file, from where it stopped",
		Long: `Carry on the migration recorded in the state file: done steps are skipped;
a step that was running when the last run stopped (a crash, kill -9, a lost
connection) is reconciled with vCenter first: its check looks for its result
by wavectl's markers and the VM's real state, so it is never done twice; failed
and interrupted steps are retried from that step, never from the VM's start.

The state is --state PATH, else <metadata.name>.state.json for PLAN, else the
one *.state.json in the working directory. The plan is the one the state
records; --plan points at it if it moved. A plan whose content changed since
the run began is refused, with what changed: run apply to carry on with the
changed plan.

--retry-failed is the default: failed applications run again from their
failed step; --retry-failed=false leaves them as they are.

The options of the run it carries on (the last apply or resume in the
record: its --wave, --app and --conveyor scope, --ignore-windows,
--retry-base, --verify-timeout) are used again unless given now; the log
says which (--ignore-windows=false keeps to the windows).

Like apply, it logs in to every vCenter and checks the hooks before anything
starts, asks on a terminal (--yes skips it), and takes --progress, --quiet
and -o json.

Exit codes as for apply; 9 when the state cannot be used or the plan changed.`,
		Example: `  wavectl resume --yes examples/demo.yaml        # its state, demo.state.json, here
  wavectl resume --yes --state demo.state.json --ignore-windows
  wavectl resume --yes --wave wave-1 --retry-failed=false examples/demo.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("resume takes at most one plan file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := fillRunOptions(f, cmd, opts); err != nil {
				return err
			}
			if len(args) == 1 {
				opts.Plan = args[0]
			}
			if p := f.Config.GetString("plan"); p != "" {
				opts.Plan = p
			}
			retry := f.Config.GetBool("retry-failed")
			opts.NoRetryFailed = !retry
			if runF != nil {
				return runF(opts)
			}
			return resumeRun(cmd.Context(), f, opts, retry)
		},
	}
	addRunFlags(cmd)
	cmd.Flags().String("plan", "", "the plan file, when it is no longer where the state says")
	cmd.Flags().Bool("retry-failed", true, "run failed applications again from their failed step")
	cmd.Flags().Bool("ignore-windows", false, "run waves outside their change windows (rehearsals)")
	AddConnectionFlags(cmd)
	return cmd
}

// addRunFlags adds the flags resume and rollback share with apply.
func addRunFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.String("state", "", "state file (default <plan name>.state.json in the working directory)")
	fl.StringSlice("wave", nil, "only this wave (repeatable)")
	fl.StringSlice("app", nil, "only this application (repeatable)")
	fl.BoolP("yes", "y", false, "do not ask for confirmation")
	fl.Duration("verify-timeout", 10*time.Minute, "how long verification waits for tools, an IP and the TCP checks")
	fl.Duration("retry-base", 2*time.Second, "wait before the first retry after a transient fault; it doubles per attempt, up to 1m, with jitter")
	fl.String("progress", "auto", "how progress is shown: auto (bars on a terminal, else plain), bars, plain (one log line per event) or none")
	fl.BoolP("quiet", "q", false, "no progress and only warnings and errors logged: the summary is all (same as --progress none --log-level warn)")
	fl.StringP("output", "o", "text", "format of the result on stdout: text or json")
}

func fillRunOptions(f *Factory, cmd *cobra.Command, opts *ApplyOptions) error {
	v := f.Config
	opts.State = v.GetString("state")
	opts.Scope = engine.Scope{Waves: v.GetStringSlice("wave"), Conveyor: v.GetBool("conveyor"), Apps: v.GetStringSlice("app")}
	opts.Yes = v.GetBool("yes")
	opts.IgnoreWindows = v.GetBool("ignore-windows")
	opts.VerifyTimeout = v.GetDuration("verify-timeout")
	opts.RetryBase = v.GetDuration("retry-base")
	if opts.RetryBase <= 0 {
		return usageError{errors.New("--retry-base must be positive, e.g. 2s")}
	}
	opts.Args = redact.Args(os.Args[1:])
	opts.Connect = vcenterDrivers(f, cmd, nil)
	opts.Settings = func(p *plan.Plan) map[string]vsphere.Settings {
		src, err := ConnectionSources(f, cmd, nil)
		if err != nil {
			return nil
		}
		s, _ := vsphere.Resolve(p, src)
		return s
	}
	opts.Progress = v.GetString("progress")
	switch opts.Progress {
	case "auto", "bars", "plain", "none":
	default:
		return usageError{fmt.Errorf("--progress %q (from the flag, WAVECTL_PROGRESS or the config file): use auto, bars, plain or none", opts.Progress)}
	}
	if v.GetBool("quiet") {
		opts.Progress = "none"
		if f.Log.GetLevel() < zerolog.WarnLevel {
			f.Log = f.Log.Level(zerolog.WarnLevel)
		}
	}
	var err error
	if opts.Output, err = outputFormat(f, cmd, "text", "json"); err != nil {
		return err
	}
	opts.Given = map[string]bool{}
	for _, name := range []string{"wave", "app", "conveyor", "ignore-windows", "retry-base", "verify-timeout"} {
		opts.Given[name] = v.IsSet(name)
	}
	return nil
}

// reuseOptions gives a resume the options of the run it carries on (the
// last apply or resume the record holds) that the operator did not give
// again, and says which it reused.
func reuseOptions(f *Factory, opts *ApplyOptions, st *state.State) {
	var last *state.Run
	for _, r := range st.Runs {
		if r.Command == "apply" || r.Command == "resume" {
			last = r
		}
	}
	if last == nil {
		return
	}
	o := last.Options
	var reused []string
	if !opts.Given["wave"] && !opts.Given["app"] && !opts.Given["conveyor"] && (len(o.Waves) > 0 || len(o.Apps) > 0 || o.Conveyor) {
		opts.Scope = engine.Scope{Waves: o.Waves, Conveyor: o.Conveyor, Apps: o.Apps}
		for _, w := range o.Waves {
			reused = append(reused, "--wave "+w)
		}
		for _, a := range o.Apps {
			reused = append(reused, "--app "+a)
		}
		if o.Conveyor {
			reused = append(reused, "--conveyor")
		}
	}
	if !opts.Given["ignore-windows"] && o.IgnoreWindows {
		opts.IgnoreWindows = true
		reused = append(reused, "--ignore-windows")
	}
	if d, err := time.ParseDuration(o.RetryBase); err == nil && d > 0 && !opts.Given["retry-base"] && d != opts.RetryBase {
		opts.RetryBase = d
		reused = append(reused, "--retry-base "+o.RetryBase)
	}
	if d, err := time.ParseDuration(o.VerifyTimeout); err == nil && d > 0 && !opts.Given["verify-timeout"] && d != opts.VerifyTimeout {
		opts.VerifyTimeout = d
		reused = append(reused, "--verify-timeout "+o.VerifyTimeout)
	}
	if len(reused) > 0 {
		f.Log.Info().Strs("options", reused).Str("from", last.Command+" of "+last.Started.UTC().Format(time.RFC3339)).
			Msg("resume carries on with the options the run it continues had; give a flag to change one")
	}
}

// recorded finds the state and the plan it records, and checks that the
// plan is the one the run began with.
func recorded(opts *ApplyOptions) (*plan.Plan, *schedule.Schedule, string, error) {
	so := &StatusOptions{IO: opts.IO, State: opts.State, Dir: "."}
	if opts.Plan != "" && opts.State == "" {
		so.Plan = opts.Plan
	}
	path, _, err := statePath(so)
	if err != nil {
		return nil, nil, "", err
	}
	programme := ""
	if opts.Plan != "" && isDatabase(path) {
		// A database may hold several programmes: the plan names its own.
		if programme, err = planNameOf(opts.Plan); err != nil {
			return nil, nil, "", err
		}
	}
	st, err := readRecord(path, programme)
	if err != nil {
		return nil, nil, "", stateReadError(path, so, err)
	}
	planFile := opts.Plan
	if planFile == "" {
		planFile = st.PlanFile
		if _, err := os.Stat(planFile); err != nil {
			return nil, nil, "", usageError{fmt.Errorf("the plan this state records, %s, is not there: pass --plan PATH", planFile)}
		}
	}
	p, err := loadPlan(opts.IO, planFile)
	if err != nil {
		return nil, nil, "", err
	}
	if p.Metadata.Name != st.Plan {
		return nil, nil, "", exitf(ExitState, "state %s belongs to plan %s, and %s is plan %s: pass the right --plan or --state", path, st.Plan, planFile, p.Metadata.Name)
	}
	// The estimates apply used (calibrated when the plan says so): a
	// wave's overrun criterion measures against them.
	sched, _, cerr := calibrated(p, nil, false)
	if cerr != nil {
		sched, _ = schedule.Compile(p)
	}
	if p.Hash != st.PlanHash {
		return nil, nil, "", exitf(ExitState, "plan %s changed since this run began (sha256 %s, recorded %s): %s; "+
			"resume carries on only the plan it started; to carry on with the changed plan, run `wavectl apply %s`",
			planFile, short(p.Hash), short(st.PlanHash), planDiff(st, sched), planFile)
	}
	return p, sched, path, nil
}

// planDiff says what a changed plan changes in the run's record.
func planDiff(st *state.State, s *schedule.Schedule) string {
	var added, removed, changed []string
	seen := map[string]bool{}
	var apps []*schedule.App
	for _, w := range s.Waves {
		apps = append(apps, w.Apps...)
	}
	if s.Conveyor != nil {
		apps = append(apps, s.Conveyor.Apps...)
	}
	for _, a := range apps {
		seen[a.Name] = true
		rec := st.App(a.Name)
		if rec == nil {
			added = append(added, a.Name)
			continue
		}
		n := 0
		for _, u := range rec.Units {
			n += len(u.Steps)
		}
		if n != len(a.Steps) || rec.Strategy != a.Strategy {
			changed = append(changed, a.Name)
		}
	}
	for _, rec := range st.Apps {
		if !seen[rec.Name] {
			removed = append(removed, rec.Name)
		}
	}
	var parts []string
	for _, p := range []struct {
		what  string
		names []string
	}{{"applications added", added}, {"applications removed", removed}, {"applications whose steps changed", changed}} {
		if len(p.names) > 0 {
			sort.Strings(p.names)
			parts = append(parts, p.what+": "+strings.Join(p.names, ", "))
		}
	}
	if len(parts) == 0 {
		return "the same applications and steps, other settings differ"
	}
	return strings.Join(parts, "; ")
}

func resumeRun(ctx context.Context, f *Factory, opts *ApplyOptions, retryFailed bool) error {
	p, sched, path, err := recorded(opts)
	if err != nil {
		return err
	}
	opts.Plan = p.File
	var running int
	failed := map[string]bool{}
	if st, err := readRecord(path, p.Metadata.Name); err == nil {
		reuseOptions(f, opts, st)
		for _, a := range st.Apps {
			for _, u := range a.Units {
				for _, s := range u.Steps {
					if s.Status == state.Running {
						running++
					}
				}
			}
			if a.Status == state.Failed {
				failed[a.Name] = true
			}
		}
	}
	if !retryFailed && len(failed) > 0 {
		given := opts.Scope
		opts.GivenScope = &given
		opts.Scope = without(opts.Scope, sched, failed)
	}
	if running > 0 {
		f.Log.Info().Int("steps", running).Msg("reconciling the steps that were running when the last run stopped: each checks vCenter for its result before it is redone")
	}
	return execute(ctx, f, opts, p, sched, path, func(o engine.Options) (*engine.Result, error) {
		return engine.Run(ctx, o)
	})
}

// without narrows a scope to leave out some applications.
func without(sc engine.Scope, s *schedule.Schedule, skip map[string]bool) engine.Scope {
	var apps []string
	add := func(list []*schedule.App) {
		for _, a := range list {
			if !skip[a.Name] && (len(sc.Apps) == 0 || contains(sc.Apps, a.Name)) {
				apps = append(apps, a.Name)
			}
		}
	}
	for _, w := range s.Waves {
		if len(sc.Waves) == 0 || contains(sc.Waves, w.Name) {
			add(w.Apps)
		}
	}
	if s.Conveyor != nil && (len(sc.Waves) == 0 || sc.Conveyor) {
		add(s.Conveyor.Apps)
	}
	return engine.Scope{Apps: apps}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
