package cli

import (
	"bufio"
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

	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/strategy"
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
	VerifyTimeout time.Duration
	RetryBase     time.Duration
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
in the working directory) before the VM's next step starts. Running apply again
with the same state carries on: done steps are skipped, and a step that was
running is checked against vCenter before it is redone.

On a terminal apply asks for confirmation (--yes skips it; without a terminal
--yes is required) and draws progress bars; otherwise it logs one line per
event. Ctrl-C stops gracefully: nothing new starts and in-flight steps finish;
a second Ctrl-C abandons them (their next run checks vCenter).

--simulate runs against an in-process vCenter simulator seeded from the plan:
a whole migration with no vCenter. A simulated run always starts fresh (the
simulator does), with its state in <plan name>.simulate.state.json.

Exit codes: 0 done, 3 invalid plan, 5 vCenter unreachable, 6 some applications
failed or were skipped, 7 paused (a change window closed, or a change freeze
began), 10 a wave or the conveyor is not approved (its gate names who must
approve: wavectl approve), 130 interrupted.

Governance (see the plan's gates, freezes and abortWhen): a wave whose gate
lacks approvals for this exact plan is not started; no step starts inside a
freeze; a wave whose back-out criterion trips stops and does what its
onFailure says. --simulate rehearsals are held back by neither gates nor
freezes: they change no vCenter.`,
		Example: `  wavectl apply --simulate --yes examples/demo.yaml
  wavectl apply --wave wave-1 plans/crown-hosting.yaml
  wavectl apply --conveyor --app fax-gateway plans/crown-hosting.yaml`,
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

// execute is what apply, resume and rollback share: confirmation, the
// state, vCenter, signals, progress, the summary and the exit code.
func execute(ctx context.Context, f *Factory, opts *ApplyOptions, p *plan.Plan, sched *schedule.Schedule, path string,
	run func(engine.Options) (*engine.Result, error)) error {
	command := cmp.Or(opts.Command, "apply")
	if !opts.Yes {
		if !opts.IO.InTTY {
			return usageError{fmt.Errorf("%s changes vCenter: pass --yes to confirm when not on a terminal", command)}
		}
		if !confirm(opts, p, sched) {
			return exitf(ExitFailure, "not confirmed; nothing was changed")
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

	drivers, closeAll, err := opts.Connect(ctx, p)
	if err != nil {
		return err
	}
	defer closeAll()

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
				fmt.Fprintln(opts.IO.ErrOut, "stopping: nothing new starts and in-flight steps finish; press Ctrl-C again to stop at once")
			} else {
				stopHard()
				return
			}
		}
	}()

	var prog engine.Progress = logProgress{log: f.Log}
	var bars *barProgress
	if opts.IO.ErrTTY {
		bars = newBarProgress(opts.IO.ErrOut, stepsPerApp(sched), waveOf(p))
		prog = bars
	}
	res, err := run(engine.Options{
		Plan: p, Schedule: sched, Store: store, Drivers: drivers, Scope: opts.Scope, Command: command,
		IgnoreWindows: opts.IgnoreWindows, VerifyTimeout: opts.VerifyTimeout, RetryBase: opts.RetryBase, Hard: hard, Dial: opts.Dial,
		NewHooks: func(record engine.HookRecorder) strategy.HookRunner {
			return newHooks(p, record)
		},
		Progress: prog, Log: f.Log, Args: opts.Args, Simulate: opts.Simulate, NoRetryFailed: opts.NoRetryFailed, GivenScope: opts.GivenScope,
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
	writeSummary(opts.IO, store, res, backend.Name())
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

func confirm(opts *ApplyOptions, p *plan.Plan, s *schedule.Schedule) bool {
	where := "vCenter"
	if opts.Simulate {
		where = "the embedded simulator"
	}
	what := fmt.Sprintf("migrates %s (%s) of plan %s", plural(s.Totals.Applications, "application"), plural(s.Totals.Units, "VM"), p.Metadata.Name)
	switch opts.Command {
	case "resume":
		what = "carries on the migration of plan " + p.Metadata.Name
	case "rollback":
		what = fmt.Sprintf("undoes the migration of %s of plan %s", strings.Join(opts.Scope.Apps, ", "), p.Metadata.Name)
	}
	fmt.Fprintf(opts.IO.ErrOut, "This %s against %s.\nContinue? [y/N] ", what, where)
	line, _ := bufio.NewReader(opts.IO.In).ReadString('\n')
	line = strings.ToLower(strings.TrimSpace(line))
	return line == "y" || line == "yes"
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

func stepsPerApp(s *schedule.Schedule) map[string]int {
	out := map[string]int{}
	add := func(apps []*schedule.App) {
		for _, a := range apps {
			for _, st := range a.Steps {
				if !st.Deferred {
					out[a.Name]++
				}
			}
		}
	}
	for _, w := range s.Waves {
		add(w.Apps)
	}
	if s.Conveyor != nil {
		add(s.Conveyor.Apps)
	}
	return out
}

func waveOf(p *plan.Plan) map[string]string {
	out := map[string]string{}
	for _, a := range p.Applications {
		out[a.Name] = a.Wave
	}
	return out
}

// writeSummary prints what the run did, per application, on stdout.
func writeSummary(io *IOStreams, store state.Store, res *engine.Result, path string) {
	w := io.Out
	store.View(func(st *state.State) {
		fmt.Fprintf(w, "Run %s", res.Status)
		if res.Note != "" {
			fmt.Fprintf(w, ": %s", res.Note)
		}
		fmt.Fprintln(w)
		counts := map[state.Status]int{}
		for _, a := range st.Apps {
			counts[a.Status]++
			line := fmt.Sprintf("  %-28s %-10s %-12s", a.Name, a.Strategy, a.Status)
			if a.Reason != "" {
				line += " " + a.Reason
			}
			fmt.Fprintln(w, line)
		}
		var parts []string
		for _, s := range []state.Status{state.Done, state.Failed, state.RolledBack, state.Skipped, state.Pending, state.Running} {
			if counts[s] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
			}
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "Applications: %s. State: %s (wavectl status for details).\n", strings.Join(parts, ", "), path)
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
