package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/strategy"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// errStopped ends a unit early: the run was interrupted or its window
// closed. The step it was on finished; the rest stay pending.
var errStopped = errors.New("stopped")

// deferral is implemented by errors that put a step off until a date
// (a retired VM's retention period).
type deferral interface{ NotBefore() time.Time }

// runApp moves one application: it waits for its dependencies, runs its
// phases in order (units side by side within a phase), and records the
// outcome. It always closes ar.done.
func (e *engine) runApp(ctx context.Context, ar *appRun, window *plan.Window, onFailure string) {
	name := ar.sched.Name
	var already bool
	e.store.View(func(st *state.State) { already = st.App(name).Status == state.Done && !e.deferredDue(st.App(name)) })
	if already {
		ar.final = state.Done
		close(ar.done)
		e.prog.Event(Event{Kind: AppDone, App: name, Status: state.Done, Message: "already done", Time: e.now()})
		return
	}
	for _, dep := range ar.app.DependsOn {
		dar := e.apps[dep]
		if dar == nil {
			continue
		}
		select {
		case <-dar.done:
		case <-ctx.Done():
			e.notStarted(ar, "not started: the run was interrupted")
			return
		}
		if dar.final != state.Done {
			e.skip(ar, dep, fmt.Sprintf("skipped: it depends on %s, which %s", dep, describeFinal(dar.final)))
			return
		}
	}
	switch {
	case ctx.Err() != nil:
		e.notStarted(ar, "not started: the run was interrupted")
		return
	case e.isPaused(streamOf(ar.app)):
		e.notStarted(ar, "not started: "+e.pausedNoteIn(streamOf(ar.app)))
		return
	case e.checkAbort(ar.app.Wave) != "":
		e.notStarted(ar, "not started: "+e.abortedNote(ar.app.Wave))
		return
	case ar.app.Wave != "" && e.stopped():
		e.notStarted(ar, "not started: the wave stopped after a failure (onFailure: stop)")
		return
	case e.checkFreeze():
		e.notStarted(ar, "not started: "+e.pausedNote())
		return
	case !e.windowOpen(window):
		e.pauseIn(streamOf(ar.app), fmt.Sprintf("window closed: the window ended at %s", window.End.Format(time.RFC3339)))
		e.notStarted(ar, "not started: "+e.pausedNoteIn(streamOf(ar.app)))
		return
	}

	start := e.now()
	if e.saved(e.store.UpdateApp(name, func(a *state.App) {
		a.Status, a.Reason, a.SkippedFor, a.Ended = state.Running, "", "", nil
		if a.Started == nil {
			a.Started = &start
		}
	})) != nil {
		ar.final = state.Pending
		close(ar.done)
		return
	}
	e.prog.Event(Event{Kind: AppStarted, App: name, Wave: ar.app.Wave, Time: start})

	failure := e.runPhases(ctx, ar, window)
	final, reason := state.Done, ""
	switch {
	case failure == nil:
	case errors.Is(failure, errStopped):
		final, reason = state.Pending, "stopped part-way: "+e.stopNote(ctx, ar.app)+"; resume carries on from where it stopped"
	default:
		final, reason = state.Failed, failure.Error()
		e.failedIn(ar.app.Wave)
	}
	if final == state.Failed && onFailure == plan.OnFailureRollback {
		if err := e.rollback(ar); err != nil {
			reason += "; rollback failed too: " + err.Error()
		} else {
			final, reason = state.RolledBack, "rolled back after a failure: "+reason
		}
	}
	if final == state.Failed && onFailure == plan.OnFailureStop && ar.app.Wave != "" {
		e.mu.Lock()
		e.stopWaves = true
		e.mu.Unlock()
	}
	end := e.now()
	_ = e.saved(e.store.UpdateApp(name, func(a *state.App) {
		a.Status, a.Reason = final, reason
		if final != state.Pending {
			a.Ended = &end
		}
	}))
	ar.final = final
	close(ar.done)
	e.prog.Event(Event{Kind: AppDone, App: name, Wave: ar.app.Wave, Status: final, Message: reason, Time: end})
}

func (e *engine) stopNote(ctx context.Context, a *plan.Application) string {
	if ctx.Err() != nil {
		return "the run was interrupted"
	}
	if note := e.abortedNote(a.Wave); note != "" {
		return note
	}
	return e.pausedNoteIn(streamOf(a))
}

func describeFinal(s state.Status) string {
	switch s {
	case state.Failed:
		return "failed"
	case state.Skipped:
		return "was skipped"
	case state.RolledBack:
		return "was rolled back"
	}
	return "has not moved yet"
}

// skip records an application skipped because dep, which it depends on,
// did not move.
func (e *engine) skip(ar *appRun, dep, reason string) {
	now := e.now()
	_ = e.saved(e.store.UpdateApp(ar.sched.Name, func(a *state.App) {
		a.Status, a.Reason, a.SkippedFor, a.Ended = state.Skipped, reason, dep, &now
	}))
	ar.final = state.Skipped
	close(ar.done)
	e.prog.Event(Event{Kind: AppDone, App: ar.sched.Name, Wave: ar.app.Wave, Status: state.Skipped, Message: reason, Time: now})
}

func (e *engine) windowOpen(w *plan.Window) bool {
	return w == nil || e.opts.IgnoreWindows || e.now().Before(w.End)
}

// deferredDue reports whether a done application has a deferred step whose
// date has come.
func (e *engine) deferredDue(a *state.App) bool {
	for _, u := range a.Units {
		for _, s := range u.Steps {
			if s.Status == state.Deferred && (s.NotBefore == nil || !e.now().Before(*s.NotBefore)) {
				return true
			}
		}
	}
	return false
}

// runPhases runs the application's phases in order and returns the first
// failure (or errStopped).
func (e *engine) runPhases(ctx context.Context, ar *appRun, window *plan.Window) error {
	phases := map[int][]string{}
	var order []int
	for _, st := range ar.sched.Steps {
		units, ok := phases[st.Phase]
		if !ok {
			order = append(order, st.Phase)
		}
		if !containsString(units, st.Unit) {
			phases[st.Phase] = append(units, st.Unit)
		}
	}
	sort.Ints(order)
	for _, ph := range order {
		// The longest units first: they reach the dispatcher first.
		chain := map[string]time.Duration{}
		for _, st := range ar.sched.Steps {
			if st.Phase == ph && !st.Deferred {
				chain[st.Unit] += time.Duration(st.Estimate)
			}
		}
		sort.SliceStable(phases[ph], func(i, j int) bool { return chain[phases[ph][i]] > chain[phases[ph][j]] })
	}
	src, tgt, err := e.drivers(ctx, ar.app)
	if err != nil {
		return err
	}
	hooks := e.hooksFor(ar)
	for _, ph := range order {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first error
		for _, unit := range phases[ph] {
			wg.Add(1)
			go func(unit string) {
				defer wg.Done()
				err := e.runUnit(ctx, ar, unit, ph, window, src, tgt, hooks)
				if err != nil {
					mu.Lock()
					if first == nil || errors.Is(first, errStopped) {
						first = err
					}
					mu.Unlock()
				}
			}(unit)
		}
		wg.Wait()
		if first != nil {
			return first
		}
	}
	return nil
}

// drivers returns the application's source and target drivers, each
// checked to be the vCenter the record knows (see checkVCenter).
func (e *engine) drivers(ctx context.Context, a *plan.Application) (src, tgt vsphere.Driver, err error) {
	if src, err = e.opts.Drivers(ctx, e.p.Source.VCenter); err != nil {
		return nil, nil, fmt.Errorf("vCenter %s: %w", e.p.Source.VCenter, err)
	}
	if err := e.checkVCenter(e.p.Source.VCenter, src); err != nil {
		return nil, nil, errStopped
	}
	if tgt, err = e.opts.Drivers(ctx, a.Resolved.VCenter); err != nil {
		return nil, nil, fmt.Errorf("vCenter %s: %w", a.Resolved.VCenter, err)
	}
	if err := e.checkVCenter(a.Resolved.VCenter, tgt); err != nil {
		return nil, nil, errStopped
	}
	return src, tgt, nil
}

// hooksFor returns the application's hook runner, recording each command
// in the state.
func (e *engine) hooksFor(ar *appRun) strategy.HookRunner {
	if e.opts.NewHooks == nil {
		return nil
	}
	return e.opts.NewHooks(func(kind, unit, command string, code int, output string, err error, started, ended time.Time) {
		run := state.HookRun{Kind: kind, Unit: unit, Command: command, ExitCode: code, Output: tail(output, state.OutputLimit), Started: started, Ended: ended}
		if err != nil {
			run.Error = err.Error()
		}
		_ = e.saved(e.store.AddHook(ar.sched.Name, run))
	})
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// runUnit runs one unit's steps of one phase. The unit holds a slot (of
// the run's concurrency, its target datastore and a host of its cluster)
// from its first step that needs one to its last, except while a step
// that puts no work on vCenter runs (slotless: verification); it keeps
// the host it was given. The dispatcher decides which waiting unit gets a
// slot first (dispatch.go).
func (e *engine) runUnit(ctx context.Context, ar *appRun, unit string, phase int, window *plan.Window, src, tgt vsphere.Driver, hooks strategy.HookRunner) error {
	var steps []schedule.Step
	for _, st := range ar.sched.Steps {
		if st.Unit == unit && st.Phase == phase {
			steps = append(steps, st)
		}
	}
	if e.unitFinished(ar.sched.Name, unit, steps) {
		// A run that died after recording the unit's last step left the
		// unit running.
		var stale bool
		e.store.View(func(st *state.State) { stale = st.App(ar.sched.Name).Unit(unit).Status == state.Running })
		if stale {
			e.setUnit(ar.sched.Name, unit, state.Done)
		}
		return nil
	}
	place := placement(ar.app.Resolved)
	var hosts []string
	if unit != "" {
		var err error
		if hosts, err = e.hosts(ctx, tgt, place); err != nil {
			return fmt.Errorf("read target cluster %s: %w", place.Cluster, err)
		}
	}
	var release func() // the slot held, if any
	defer func() {
		if release != nil {
			release()
		}
	}()
	started := false // the unit held a slot in this run
	running := false // the record says the unit is running
	stop := func() error {
		if running {
			e.setUnit(ar.sched.Name, unit, state.Pending)
		}
		return errStopped
	}
	for i, st := range steps {
		if i > 0 || unit == "" {
			if ctx.Err() != nil || e.storeFailed() != nil {
				return stop()
			}
			if !e.windowOpen(window) {
				e.pauseIn(streamOf(ar.app), fmt.Sprintf("window closed: the window ended at %s", window.End.Format(time.RFC3339)))
				return stop()
			}
		}
		if unit != "" {
			switch {
			case slotless(st.Kind) && release != nil:
				release()
				release = nil
			case !slotless(st.Kind) && release == nil:
				on := hosts
				if started && place.Host != "" {
					on = []string{place.Host} // the host its earlier steps used
				}
				host, rel, err := e.dispatch.acquire(ctx, place.Datastore, on, started, e.paths.left(ar.sched.Name, phase, steps[i:]))
				if err != nil {
					return stop()
				}
				release, started = rel, true
				if host != "" {
					place.Host = host
				}
			}
		}
		if e.checkAbort(ar.app.Wave) != "" || e.checkFreeze() {
			return stop()
		}
		running = true // the step's start marks the unit running, in the same commit
		if err := e.runStep(ctx, ar, unit, st, place, src, tgt, hooks); err != nil {
			if errors.Is(err, errStopped) {
				e.setUnit(ar.sched.Name, unit, state.Pending)
			} else {
				e.setUnit(ar.sched.Name, unit, state.Failed)
			}
			return err
		}
	}
	if release != nil {
		release() // recording the unit done needs no slot
		release = nil
	}
	e.setUnit(ar.sched.Name, unit, state.Done)
	return nil
}

func (e *engine) unitFinished(app, unit string, steps []schedule.Step) bool {
	done := true
	e.store.View(func(st *state.State) {
		u := st.App(app).Unit(unit)
		for _, s := range steps {
			r := u.Step(s.Kind, s.Phase)
			if r.Status == state.Done || (r.Status == state.Deferred && r.NotBefore != nil && e.now().Before(*r.NotBefore)) {
				continue
			}
			done = false
		}
	})
	return done
}

func (e *engine) setUnit(app, unit string, s state.Status) {
	_ = e.saved(e.store.UpdateApp(app, func(a *state.App) { a.Unit(unit).Status = s }))
}

func placement(t plan.Placement) vsphere.Placement {
	return vsphere.Placement{Datacenter: t.Datacenter, Cluster: t.Cluster, Host: t.Host, ResourcePool: t.ResourcePool, Datastore: t.Datastore, Folder: t.Folder}
}

// runStep carries out one step: skipped when the record says done, checked
// against vCenter, done and verified, retried on transient faults.
func (e *engine) runStep(ctx context.Context, ar *appRun, unit string, st schedule.Step, place vsphere.Placement, src, tgt vsphere.Driver, hooks strategy.HookRunner) error {
	app := ar.sched.Name
	var outputs map[string]string
	var status state.Status
	var notBefore *time.Time
	e.store.View(func(s *state.State) {
		u := s.App(app).Unit(unit)
		outputs = maps.Clone(u.Outputs)
		r := u.Step(st.Kind, st.Phase)
		status, notBefore = r.Status, r.NotBefore
	})
	if status == state.Done {
		return nil
	}
	if status == state.Deferred && notBefore != nil && e.now().Before(*notBefore) {
		return nil
	}
	if outputs == nil {
		outputs = map[string]string{}
	}
	if place.Host != "" {
		outputs[strategy.OutTargetHost] = place.Host
	}
	rt := &strategy.Runtime{Plan: e.p, App: ar.app, Unit: unit, Step: st.Step, Source: src, Target: tgt, Placement: place,
		Outputs: outputs, Hooks: hooks, VerifyTimeout: e.opts.VerifyTimeout, Dial: e.opts.Dial,
		Log: e.log.With().Str("app", app).Str("unit", unit).Str("step", st.Kind).Logger(), Now: e.now}
	act := e.opts.Actions(st.Step)

	// vCenter's budgets (limits.go): taken while the step runs, given
	// back while it backs off before a retry.
	cost := e.costOf(ar.app, st)
	release, err := e.limits.charge(ctx, cost, place.Host, place.Datastore)
	if err != nil {
		return errStopped
	}
	defer func() { release() }()

	started := e.now()
	// The step's start, and the application's outage when the step takes
	// its service down, in one commit. A step whose start is not on disk
	// does not start.
	if e.storeFailed() != nil || e.updateOf(app, unit, st, func(a *state.App, r *state.Step, u *state.Unit) {
		r.Status, r.Started, r.Ended = state.Running, &started, nil
		u.Status = state.Running
		r.Size = st.Size // what drives its duration, for calibrating later plans
		if st.Outage && (a.OutageStart == nil || started.Before(*a.OutageStart)) {
			a.OutageStart = &started
		}
	}) != nil {
		return errStopped
	}
	e.prog.Event(Event{Kind: StepStarted, App: app, Unit: unit, Step: st.Kind, Time: started})

	call := e.hard // in-flight vCenter work stops only on a second interrupt
	for attempt := 1; ; attempt++ {
		times := &vsphere.TaskTimes{}
		err := e.attempt(vsphere.WithTaskTimes(call, times), act, rt)
		vc := e.taskTimes(times) // tasktimes.go: recorded with the step's own update below
		now := e.now()
		var d deferral
		switch {
		case err == nil:
			// A failed write halts the run (saved): nothing new starts.
			// Queued, not waited for: the next step's start, or the unit's
			// end, waits for its commit before anything else is done, and
			// both go in one commit instead of two.
			_ = e.saved(e.store.QueueStepOf(app, unit, st.Kind, st.Phase, func(a *state.App, r *state.Step, u *state.Unit) {
				vc(r)
				r.Status, r.Ended, r.Error, r.Attempts = state.Done, &now, "", r.Attempts+1
				u.Outputs = maps.Clone(rt.Outputs)
				if st.Outage && (a.OutageEnd == nil || a.OutageEnd.Before(now)) {
					a.OutageEnd = &now
				}
			}))
			e.prog.Event(Event{Kind: StepDone, App: app, Unit: unit, Step: st.Kind, Attempt: attempt, Time: now})
			return nil
		case errors.As(err, &d):
			nb := d.NotBefore()
			e.update(app, unit, st, func(r *state.Step, u *state.Unit) {
				vc(r)
				r.Status, r.NotBefore, r.Ended, r.Error = state.Deferred, &nb, &now, ""
				u.Outputs = maps.Clone(rt.Outputs)
			})
			e.prog.Event(Event{Kind: StepDone, App: app, Unit: unit, Step: st.Kind, Status: state.Deferred, Message: err.Error(), Time: now})
			return nil
		case vsphere.IsTransient(err) && attempt <= e.p.Limits.Retries && ctx.Err() == nil && call.Err() == nil:
			e.update(app, unit, st, func(r *state.Step, u *state.Unit) {
				vc(r)
				r.Attempts++
				r.Retried = append(r.Retried, err.Error())
				r.Error = err.Error()
				u.Outputs = maps.Clone(rt.Outputs)
			})
			e.prog.Event(Event{Kind: StepRetry, App: app, Unit: unit, Step: st.Kind, Attempt: attempt, Err: err, Time: now})
			// A step backing off runs nothing in vCenter: its budget is
			// another step's meanwhile, and taken again for the retry.
			release()
			if e.sleep(e.backoff(attempt)) != nil {
				return e.interruptedStep(app, unit, st, err)
			}
			again, cerr := e.limits.charge(ctx, cost, place.Host, place.Datastore)
			if cerr != nil {
				return e.interruptedStep(app, unit, st, err)
			}
			release = again
		case call.Err() != nil:
			return e.interruptedStep(app, unit, st, err)
		case st.Kind == plan.StepPostHook:
			// A post hook reports; it does not undo a verified migration.
			e.update(app, unit, st, func(r *state.Step, u *state.Unit) {
				vc(r)
				r.Status, r.Ended, r.Attempts = state.Done, &now, r.Attempts+1
				r.Error = "post hook failed (reported, not fatal): " + err.Error()
			})
			e.prog.Event(Event{Kind: StepDone, App: app, Unit: unit, Step: st.Kind, Attempt: attempt, Err: err, Message: "post hook failed (not fatal)", Time: now})
			return nil
		default:
			e.update(app, unit, st, func(r *state.Step, u *state.Unit) {
				vc(r)
				r.Status, r.Ended, r.Error, r.Attempts = state.Failed, &now, err.Error(), r.Attempts+1
				u.Outputs = maps.Clone(rt.Outputs)
			})
			e.prog.Event(Event{Kind: StepFailed, App: app, Unit: unit, Step: st.Kind, Attempt: attempt, Err: err, Time: now})
			return fmt.Errorf("step %s of %s: %w", st.Kind, unitName(unit), err)
		}
	}
}

func unitName(u string) string {
	if u == "" {
		return "the application"
	}
	return u
}

// interruptedStep records a step abandoned by a second interrupt: it may
// or may not have taken effect in vCenter, and its Check will tell.
func (e *engine) interruptedStep(app, unit string, st schedule.Step, err error) error {
	e.update(app, unit, st, func(r *state.Step, u *state.Unit) {
		r.Status = state.Pending
		r.Error = "interrupted while running (it may have taken effect; the next run checks vCenter): " + err.Error()
	})
	return errStopped
}

// attempt runs Check, then Do and Verify when the step is not done yet.
func (e *engine) attempt(ctx context.Context, act strategy.Action, rt *strategy.Runtime) error {
	if act.Check != nil {
		done, err := act.Check(ctx, rt)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
	if act.Do != nil {
		if err := act.Do(ctx, rt); err != nil {
			return err
		}
	}
	if act.Verify != nil {
		return act.Verify(ctx, rt)
	}
	return nil
}

// update changes one step's record (and its unit's) durably; a failure
// stops the run (see saved).
func (e *engine) update(app, unit string, st schedule.Step, fn func(*state.Step, *state.Unit)) {
	_ = e.updateOf(app, unit, st, func(_ *state.App, r *state.Step, u *state.Unit) { fn(r, u) })
}

// updateOf is update with the application's record too.
func (e *engine) updateOf(app, unit string, st schedule.Step, fn func(*state.App, *state.Step, *state.Unit)) error {
	return e.saved(e.store.UpdateStepOf(app, unit, st.Kind, st.Phase, fn))
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
