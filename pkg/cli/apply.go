package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/report"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/strategy"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// ApplyOptions are apply's parsed flags.
type ApplyOptions struct {
	IO            *IOStreams
	Plan          string
	State         string
	Scope         engine.Scope
	Simulate      bool
	Yes           bool
	IgnoreWindows bool
	// done counts the steps in scope an earlier run finished, for the
	// question.
	done          int
	VerifyTimeout time.Duration
	RetryBase     time.Duration
	// Settings resolves how each of the plan's vCenters is reached, for
	// the confirmation (URL and user); nil for the simulator.
	Settings func(*plan.Plan) map[string]vsphere.Settings
	// Progress is auto, bars, plain or none; Output is text or json.
	Progress string
	Output   string
	// NoRetryFailed is resume's --retry-failed=false, recorded with the run.
	NoRetryFailed bool
	// Given says which run flags the operator gave (flag, environment or
	// config file): resume takes the others from the last run's record.
	Given map[string]bool
	// GivenScope is the scope as given, when Scope was narrowed from it.
	GivenScope *engine.Scope
	// Command is apply, resume or rollback.
	Command string
	Args    []string
	// Connect returns the drivers (not read-only) of the plan's vCenters.
	Connect connector
	// Dial reaches guests for the TCP checks; the simulator sets it.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// NewCmdApply builds `wavectl apply`.
func NewCmdApply(f *Factory, runF func(*ApplyOptions) error) *cobra.Command {
	opts := &ApplyOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "apply PLAN",
		Short: "Migrate: run the plan's waves and conveyor against vCenter",
		Long: `Carry out the plan against vCenter: waves in order (each inside its change
window), the conveyor alongside, applications in dependency order, each VM's
steps for its strategy, bounded by the plan's limits overall, per ESXi host and
per datastore. Transient vSphere faults are retried with backoff; a permanent
fault fails the VM's application with the fault's own text, and the wave's
onFailure decides what happens to the others.

Every step is recorded in the state file (--state, default <plan name>.state.json
in the working directory) before the VM's next step starts. wavectl resume (or
apply again) with the same state carries on: done steps are skipped, and a
step that was running is checked against vCenter before it is redone.

Before anything changes, apply logs in to every vCenter the run needs (exit 5
when one refuses or cannot be reached: nothing is recorded), checks that the
hooks' scripts are there and executable (relative to the plan file's folder,
where hooks run; exit 3), and that --wave and --app name something.

On a terminal apply asks for confirmation, on the terminal itself, saying what
will change (vCenters with URL and user, waves, applications, VMs, steps,
estimate, projected user-hours); only y or yes goes ahead, anything else exits
11, Ctrl-C exits 130. --yes skips it, and is required without a terminal. When
no window is open it does not ask: the run pauses (exit 7).

--progress auto draws bars when stderr is a terminal and logs one line per
event otherwise; bars, plain and none choose; --quiet shows only the summary,
warnings and errors. -o json prints the result as JSON. Ctrl-C stops
gracefully: nothing new starts and in-flight steps finish; a second Ctrl-C
abandons them (their next run checks vCenter).

A wave whose window has not opened waits, without holding back the conveyor;
the run ends paused (exit 7) saying when it opens. Rehearsals pass
--ignore-windows, and resume carries on with it.

--simulate runs against an in-process vCenter simulator seeded from the plan:
a whole migration with no vCenter. A simulated run always starts fresh (the
simulator does), with its state in <plan name>.simulate.state.json.

Exit codes: 0 done, 3 invalid plan or missing hook, 5 vCenter unreachable or
login refused, 6 some applications failed or were skipped, 7 paused (a change
window closed or has not opened, or a change freeze began), 10 a wave or the
conveyor is not approved (its gate names who must approve: wavectl approve),
11 not confirmed, 130 interrupted.

Governance (see the plan's gates, freezes and abortWhen): a wave whose gate
lacks approvals for this exact plan is not started; no step starts inside a
freeze; a wave whose back-out criterion trips stops and does what its
onFailure says. --simulate rehearsals are held back by neither gates nor
freezes: they change no vCenter.`,
		Example: `  wavectl apply --simulate --yes --ignore-windows examples/demo.yaml   # a rehearsal, outside the change window
  wavectl apply --yes --conveyor examples/demo.yaml      # only the conveyor
  wavectl apply --yes --wave wave-1 examples/demo.yaml   # inside wave-1's window; before it opens, exit 7`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("apply takes one plan file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := fillRunOptions(f, cmd, opts); err != nil {
				return err
			}
			opts.Plan = args[0]
			opts.Simulate = f.Config.GetBool("simulate")
			if opts.Simulate {
				opts.Connect = simulatedDrivers(f, nil, &opts.Dial)
			}
			if runF != nil {
				return runF(opts)
			}
			return applyRun(cmd.Context(), f, opts)
		},
	}
	addRunFlags(cmd)
	fl := cmd.Flags()
	fl.Bool("conveyor", false, "run only the conveyor")
	fl.Bool("simulate", false, "run against an in-process vCenter simulator seeded from the plan")
	fl.Bool("ignore-windows", false, "run waves outside their change windows (rehearsals)")
	AddConnectionFlags(cmd)
	return cmd
}

func applyRun(ctx context.Context, f *Factory, opts *ApplyOptions) error {
	p, err := loadPlan(opts.IO, opts.Plan)
	if err != nil {
		return err
	}
	sched, warnings, err := calibrated(p, nil, false)
	if err != nil {
		// Estimates only shape the overrun criterion and the record's
		// estimate: a calibration source that cannot be read is no reason
		// to hold a migration back.
		f.Log.Warn().Err(err).Msg("calibration: using the default estimates")
		sched, warnings = schedule.Compile(p)
	}
	for _, w := range warnings {
		fmt.Fprintln(opts.IO.ErrOut, w.String())
	}
	path := opts.State
	if path == "" {
		path = state.DefaultPath(p.Metadata.Name)
		if opts.Simulate {
			path = strings.TrimSuffix(path, ".state.json") + ".simulate.state.json"
		}
	}
	return execute(ctx, f, opts, p, sched, path, func(o engine.Options) (*engine.Result, error) {
		return engine.Run(ctx, o)
	})
}

// execute is what apply, resume and rollback share: the checks that
// come before anything changes (hooks, vCenter logins, windows), the
// confirmation, the state, signals, progress, the summary and the exit
// code.
func execute(ctx context.Context, f *Factory, opts *ApplyOptions, p *plan.Plan, sched *schedule.Schedule, path string,
	run func(engine.Options) (*engine.Result, error)) error {
	command := cmp.Or(opts.Command, "apply")
	if !opts.Yes && !opts.IO.InTTY {
		return usageError{fmt.Errorf("%s changes vCenter: pass --yes to confirm when not on a terminal", command)}
	}
	if err := scopeCheck(opts.Scope, sched); err != nil {
		return err
	}
	if command != "rollback" {
		if err := checkHooks(p, opts.Scope, sched); err != nil {
			return err
		}
	}
	// Every vCenter the run needs is logged in to before anything starts:
	// a wrong password or an unreachable vCenter stops here, with nothing
	// recorded as failed.
	drivers, closeAll, err := opts.Connect(ctx, p)
	if err != nil {
		return connectError(err)
	}
	defer closeAll()
	if err := connectFirst(ctx, p, opts.Scope, sched, drivers); err != nil {
		return err
	}
	if !opts.Yes {
		// Asked after the window check: when nothing can run now, the
		// run only records the pause, so there is nothing to confirm.
		if command == "rollback" || opts.IgnoreWindows || canRunNow(p, sched, opts.Scope, time.Now()) {
			if st, err := readRecord(path, p.Metadata.Name); err == nil && command != "rollback" && !(opts.Simulate && command == "apply") {
				opts.done = doneSteps(st, inScope(opts.Scope, sched))
			}
			if err := confirm(ctx, opts, p, sched); err != nil {
				return err
			}
		}
	}
	backend, closeBackend, err := openBackend(ctx, path, p.Metadata.Name)
	if err != nil {
		return err
	}
	defer closeBackend()
	lock, err := takeLock(ctx, f, backend, command, lockScope(opts.Scope, sched))
	if err != nil {
		return err
	}
	defer func() { _ = lock.Unlock() }()
	if opts.Simulate && command == "apply" && !isDatabase(path) {
		// The simulator starts afresh every time, so its record must too:
		// an earlier rehearsal's record is replaced, but never a record of
		// runs against a real vCenter.
		if _, err := os.Stat(path); err == nil {
			if opts.State != "" && !rehearsalRecord(path) {
				return usageError{fmt.Errorf("a --simulate run starts afresh, and %s records runs against a real vCenter: name another --state", path)}
			}
			if err := os.Remove(path); err != nil {
				return exitf(ExitState, "replace the rehearsal record %s: %v", path, err)
			}
		}
	}
	store, err := openState(ctx, backend, lock, p, sched, f)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			store.Close()
		}
	}()

	prog, bars := runProgress(f, opts, p)
	notice := func(msg string) { fmt.Fprintln(opts.IO.ErrOut, msg) }
	runLog := f.Log
	if bars != nil {
		// Through the bars, above them: written straight to the terminal
		// a line would be drawn over by the next frame, and would leave a
		// stale bar behind. Log lines too.
		notice = bars.Notice
		runLog = f.logTo(bars)
	}
	hard, stopHard := context.WithCancel(context.Background())
	defer stopHard()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for range sigs {
			n++
			if n == 1 {
				notice("stopping: nothing new starts and in-flight steps finish; press Ctrl-C again to stop at once")
			} else {
				notice("stopping at once: in-flight steps are abandoned; the next run checks vCenter for their results")
				stopHard()
				return
			}
		}
	}()

	began := time.Now()
	res, err := run(engine.Options{
		Plan: p, Schedule: sched, Store: store, Drivers: drivers, Scope: opts.Scope, Command: command,
		IgnoreWindows: opts.IgnoreWindows, VerifyTimeout: opts.VerifyTimeout, RetryBase: opts.RetryBase, Hard: hard, Dial: opts.Dial,
		NewHooks: func(record engine.HookRecorder) strategy.HookRunner {
			return newHooks(p, record)
		},
		Progress: prog, Log: runLog, Args: opts.Args, Simulate: opts.Simulate, NoRetryFailed: opts.NoRetryFailed, GivenScope: opts.GivenScope,
		StateFlag: stateFlag(opts.State),
	})
	if bars != nil {
		bars.Wait()
	}
	// The record's last writes are part of the run: one that fails is the
	// run's failure (exit 9), not a summary that claims success.
	closed = true
	if cerr := store.Close(); cerr != nil && err == nil {
		err = &engine.StoreError{Err: cerr}
	}
	logStoreStats(runLog, store, time.Since(began))
	var scopeErr *engine.ScopeError
	var rbErr *engine.RollbackError
	var storeErr *engine.StoreError
	var vcErr *engine.VCenterError
	switch {
	case errors.As(err, &scopeErr) || errors.As(err, &rbErr):
		return usageError{err}
	case errors.As(err, &storeErr) || errors.As(err, &vcErr):
		return exitf(ExitState, "%v", err)
	case err != nil:
		return err
	}
	if opts.Output == "json" {
		if err := writeResultJSON(opts.IO, store, res, backend.Name(), command); err != nil {
			return err
		}
	} else {
		writeSummary(opts.IO, store, res, backend.Name())
	}
	switch res.Status {
	case engine.Succeeded:
		return nil
	case engine.Paused:
		return silentExit(ExitPaused)
	case engine.Interrupted:
		return silentExit(ExitInterrupted)
	case engine.Unapproved:
		return silentExit(ExitUnapproved)
	}
	return silentExit(ExitFailed)
}

// runProgress picks how the run's events are shown: --progress auto draws
// bars when stderr is a terminal and logs one line per event otherwise.
func runProgress(f *Factory, opts *ApplyOptions, p *plan.Plan) (engine.Progress, *barProgress) {
	mode := opts.Progress
	if mode == "" || mode == "auto" {
		mode = "plain"
		if opts.IO.ErrTTY {
			mode = "bars"
		}
	}
	switch mode {
	case "bars":
		b := newBarProgress(opts.IO.ErrOut, waveOf(p))
		return b, b
	case "none":
		return nil, nil
	}
	return logProgress{log: f.Log}, nil
}

// openState opens the plan's record, or creates it.
func openState(ctx context.Context, b state.Backend, lock state.LockHandle, p *plan.Plan, sched *schedule.Schedule, f *Factory) (state.Store, error) {
	path := b.Name()
	store, err := b.Open(ctx, lock)
	if state.IsNotExist(err) {
		store, err = b.Create(ctx, lock, state.NewState(p.Metadata.Name, p.File, p.Hash))
		if err != nil {
			return nil, databaseError(fmt.Errorf("create state %s: %w", path, err))
		}
		return store, nil
	}
	if err != nil {
		return nil, databaseError(err)
	}
	var name, hash string
	store.View(func(st *state.State) { name, hash = st.Plan, st.PlanHash })
	if name != p.Metadata.Name {
		store.Close()
		return nil, exitf(ExitState, "state %s belongs to plan %s, not %s: pass --state to use another file", path, name, p.Metadata.Name)
	}
	var replaced error
	if !isDatabase(path) {
		store.View(func(st *state.State) { replaced = state.CheckContinues(path, st) })
	}
	if replaced != nil {
		store.Close()
		return nil, exitf(ExitState, "%v", replaced)
	}
	if hash != p.Hash {
		var dropped error
		store.View(func(st *state.State) { dropped = engine.CheckDropped(st, sched) })
		if dropped != nil {
			store.Close()
			return nil, exitf(ExitState, "%v", dropped)
		}
		f.Log.Warn().Str("state", path).Msg("the plan changed since this state was written; done steps stay done, the rest follow the plan as it is now")
		if err := store.SetPlan(p.File, p.Hash); err != nil {
			store.Close()
			return nil, exitf(ExitState, "%v", err)
		}
	}
	return store, nil
}

func waveOf(p *plan.Plan) map[string]string {
	out := map[string]string{}
	for _, a := range p.Applications {
		out[a.Name] = a.Wave
	}
	return out
}

// writeSummary prints what the run did, per application, on stdout: an
// application stopped part-way says so, and one whose service is down
// right now (a VM powered off and not yet on again) is flagged DOWN NOW
// with since when, how many users, and the two ways back.
func writeSummary(io *IOStreams, store state.Store, res *engine.Result, path string) {
	w := io.Out
	now := time.Now()
	store.View(func(st *state.State) {
		fmt.Fprintf(w, "Run %s", res.Status)
		if res.Note != "" {
			fmt.Fprintf(w, ": %s", res.Note)
		}
		fmt.Fprintln(w)
		if res.Tasks > 0 {
			// vCenter's own task times: a task over vCenter's budgets waits
			// queued before it runs (see limits in the README).
			fmt.Fprintf(w, "vCenter tasks: %d, queued in vCenter %s, running %s\n", res.Tasks,
				taskTime(res.VCenterQueued), taskTime(res.VCenterRunning))
		}
		counts := map[string]int{}
		var down []*report.DownApp
		for _, a := range st.Apps {
			status := string(a.Status)
			if report.StoppedPartWay(a) {
				status = "stopped part-way"
			}
			counts[status]++
			line := fmt.Sprintf("  %-28s %-10s %-16s", a.Name, a.Strategy, status)
			if a.Reason != "" {
				line += " " + strings.TrimPrefix(a.Reason, "stopped part-way: ")
			}
			fmt.Fprintln(w, strings.TrimRight(line, " "))
			if d := report.DownNow(a, now); d != nil {
				down = append(down, d)
				fmt.Fprintf(w, "  %-28s DOWN NOW since %s: %s left powered off, %s without service\n", "", d.Since.UTC().Format("2006-01-02 15:04:05 UTC"),
					strings.Join(d.VMs, ", "), plural(d.Users, "user"))
			}
		}
		var parts []string
		for _, s := range []string{"done", "failed", "rolled-back", "skipped", "stopped part-way", "pending", "running"} {
			if counts[s] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
			}
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "Applications: %s. State: %s (wavectl status for details).\n", strings.Join(parts, ", "), path)
		for _, d := range down {
			fmt.Fprintf(w, "DOWN NOW: %s (%s without service): `wavectl resume` carries on and powers it on in its new place, "+
				"or `wavectl rollback --app %s` puts it back as it was; `wavectl status` says more.\n", d.Name, plural(d.Users, "user"), d.Name)
		}
	})
}

// newHooks runs the plan's hook commands in the plan file's folder.
func newHooks(p *plan.Plan, record engine.HookRecorder) strategy.HookRunner {
	return &strategy.ShellHooks{Dir: filepath.Dir(p.File), Record: record}
}

// rehearsalRecord reports whether a state file is a --simulate
// rehearsal's record, as the record itself says.
func rehearsalRecord(path string) bool {
	st, err := readRecord(path, "")
	return err == nil && st.Rehearsal
}

// takeLock takes the record's run lock for command, or says who holds it.
func takeLock(ctx context.Context, f *Factory, b state.Backend, command string, scope state.Scope) (state.LockHandle, error) {
	lock, err := b.Lock(ctx, command, scope)
	var le *state.LockedError
	switch {
	case errors.As(err, &le):
		return nil, &ExitError{Code: ExitLocked, Err: err}
	case err != nil:
		return nil, databaseError(err)
	}
	if w := lock.TakeoverWarning(); w != "" {
		f.Log.Warn().Str("state", b.Name()).Msg(w)
	}
	return lock, nil
}

// taskTime prints a total of vCenter task time: to the second, as other
// durations, from 10 seconds up; below that to the hundredth (a
// simulator's tasks take milliseconds, which "0s" would hide).
func taskTime(d time.Duration) string {
	if d > 0 && d < 10*time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return schedule.Seconds(d).String()
}

// logStoreStats logs, at debug level, what keeping the record durable cost
// the run: updates, commits, checkpoints or snapshots, and the time spent
// persisting as a share of the run (state.Stats says what that counts).
func logStoreStats(log zerolog.Logger, store state.Store, run time.Duration) {
	st, ok := store.(interface{ Stats() state.Stats })
	if !ok || run <= 0 {
		return
	}
	s := st.Stats()
	log.Debug().Int64("updates", s.Updates).Int64("commits", s.Commits).Int64("writes", s.Writes).
		Dur("busy", s.Busy).Dur("checkpoints", s.Checkpoints).Dur("run", run).
		Float64("persistPercent", 100*s.Busy.Seconds()/run.Seconds()).
		Msg("state store: time spent keeping the record durable")
}
