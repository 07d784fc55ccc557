package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/strategy"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// RollbackError is a rollback that cannot be done as asked.
type RollbackError struct{ Msg string }

func (e *RollbackError) Error() string { return e.Msg }

// Rollback undoes the named applications' steps that took effect, newest
// first: applications in reverse schedule order, each one's steps in
// reverse. It is itself resumable: every undone step is recorded, and a
// rollback run again undoes only what is left. An application that
// depends on one being rolled back must be rolled back with it.
func Rollback(ctx context.Context, opts Options, apps []string) (*Result, error) {
	opts.Scope = Scope{Apps: apps}
	if opts.Command == "" {
		opts.Command = "rollback"
	}
	e, err := newEngine(opts)
	if err != nil {
		return nil, err
	}
	if err := e.checkDependents(apps); err != nil {
		return nil, err
	}
	if err := e.begin(); err != nil {
		return nil, err
	}
	e.settle()
	order := e.scheduled()
	slices.Reverse(order)
	for _, sa := range order {
		if !e.selected[sa.Name] {
			continue
		}
		if ctx.Err() != nil || e.storeFailed() != nil {
			break
		}
		ar := e.apps[sa.Name]
		// Until it is all undone, the record says so: a rollback cut short
		// is finished by running the same rollback again.
		if e.saved(e.store.UpdateApp(sa.Name, func(a *state.App) {
			a.Status, a.Reason = state.Running, "being rolled back; if the rollback stopped, run the same wavectl rollback again to finish it"
		})) != nil {
			break
		}
		e.prog.Event(Event{Kind: AppStarted, App: sa.Name, Message: "rollback", Time: e.now()})
		stays := e.cannotRestore(sa.Name)
		err := e.rollback(ar)
		status, reason := state.RolledBack, "rolled back by an operator (wavectl rollback)"
		if len(stays) > 0 {
			reason = "rolled back by an operator (wavectl rollback), except what could not be restored: " + strings.Join(stays, "; ")
		}
		if err != nil {
			status, reason = state.Failed, "rollback stopped: "+err.Error()+"; fix the cause and run wavectl rollback again to undo the rest"
		}
		end := e.now()
		_ = e.saved(e.store.UpdateApp(sa.Name, func(a *state.App) {
			a.Status, a.Reason, a.Ended = status, reason, &end
		}))
		e.prog.Event(Event{Kind: AppDone, App: sa.Name, Status: status, Message: reason, Time: end})
	}
	return e.finishRollback(ctx)
}

// cannotRestore says what a rollback of an application will leave as the
// migration made it: a hardware version once wavectl's snapshot, the only
// way back (vSphere cannot downgrade hardware), was removed.
func (e *engine) cannotRestore(app string) []string {
	var out []string
	e.store.View(func(st *state.State) {
		a := st.App(app)
		if a == nil {
			return
		}
		for _, u := range a.Units {
			var upgraded, removed bool
			for _, s := range u.Steps {
				switch {
				case s.Kind == plan.StepUpgradeHardware && s.Status == state.Done:
					upgraded = true
				case s.Kind == plan.StepRemoveSnapshot && s.Status == state.Done:
					removed = true
				}
			}
			if upgraded && removed {
				hw := "its upgraded hardware version"
				if pa := e.p.Application(app); pa != nil && pa.Remediate != nil && pa.Remediate.HardwareVersion != "" {
					hw = "hardware " + pa.Remediate.HardwareVersion
				}
				if was := u.Outputs["hardwareVersion"]; was != "" {
					hw += " (was " + was + ")"
				}
				out = append(out, fmt.Sprintf("%s keeps %s: vSphere cannot downgrade hardware, and the snapshot that could was removed after the migration", u.Name, hw))
			}
		}
	})
	return out
}

// checkDependents refuses to roll back an application while something
// that depends on it stays migrated.
func (e *engine) checkDependents(apps []string) error {
	var problems []string
	e.store.View(func(st *state.State) {
		for _, a := range e.p.Applications {
			if e.selected[a.Name] {
				continue
			}
			rec := st.App(a.Name)
			if rec == nil || rec.Status == state.Pending || rec.Status == state.RolledBack || rec.Status == state.Skipped {
				continue
			}
			for _, d := range a.DependsOn {
				if e.selected[d] {
					problems = append(problems, fmt.Sprintf("%s depends on %s and is %s", a.Name, d, rec.Status))
				}
			}
		}
	})
	if len(problems) > 0 {
		return &RollbackError{fmt.Sprintf("cannot roll back alone: %s; roll those back first, or together (--app for each)", strings.Join(problems, "; "))}
	}
	return nil
}

func (e *engine) finishRollback(ctx context.Context) (*Result, error) {
	res := &Result{Apps: map[state.Status]int{}, Failed: map[string]string{}}
	e.store.View(func(st *state.State) {
		for name := range e.selected {
			a := st.App(name)
			res.Apps[a.Status]++
			if a.Status != state.RolledBack {
				res.Failed[name] = a.Reason
			}
		}
	})
	switch {
	case e.storeFailed() != nil:
		res.Status, res.Note = FailedRun, "stopped: the run's record could not be written"
	case ctx.Err() != nil:
		res.Status, res.Note = Interrupted, "the rollback stopped part-way; run it again to undo the rest"
	case len(res.Failed) > 0:
		res.Status, res.Note = FailedRun, "not everything was rolled back"
	default:
		res.Status = Succeeded
		var partial []string
		e.store.View(func(st *state.State) {
			for name := range e.selected {
				if strings.Contains(st.App(name).Reason, "except what could not be restored") {
					partial = append(partial, name)
				}
			}
		})
		if len(partial) > 0 {
			slices.Sort(partial)
			res.Note = "rolled back, except what could not be restored in " + strings.Join(partial, ", ") + " (each says what stayed)"
		}
	}
	return res, e.closeRun(res)
}

// rollback undoes an application's completed steps in reverse order: its
// phases last first, each phase's units side by side as apply ran them
// (each holding a slot of the run's concurrency), each unit's steps in
// reverse. An undo that moves a VM back takes its cost from vCenter's
// budgets of the host and datastore it moves to, as apply's steps do
// (undoCharge). The first failure is returned once the phase's other
// units have done what they could; earlier phases are then left alone.
func (e *engine) rollback(ar *appRun) error {
	ctx := e.hard
	src, tgt, err := e.drivers(ctx, ar.app)
	if err != nil {
		return err
	}
	units := map[int][]string{}
	var phases []int
	for _, st := range ar.sched.Steps {
		if _, ok := units[st.Phase]; !ok {
			phases = append(phases, st.Phase)
		}
		if !containsString(units[st.Phase], st.Unit) {
			units[st.Phase] = append(units[st.Phase], st.Unit)
		}
	}
	slices.Sort(phases)
	for i := len(phases) - 1; i >= 0; i-- {
		ph := phases[i]
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first error
		for _, unit := range units[ph] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := e.undoUnit(ctx, ar, unit, ph, src, tgt); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if first != nil {
			return first
		}
	}
	return nil
}

// undoUnit undoes one unit's steps of one phase, newest first.
func (e *engine) undoUnit(ctx context.Context, ar *appRun, unit string, phase int, src, tgt vsphere.Driver) error {
	if unit != "" {
		_, release, err := e.limits.acquire(ctx, "", nil)
		if err != nil {
			return fmt.Errorf("undo %s: %w", unitName(unit), err)
		}
		defer release()
	}
	steps := ar.sched.Steps
	for i := len(steps) - 1; i >= 0; i-- {
		st := steps[i]
		if st.Unit != unit || st.Phase != phase {
			continue
		}
		if err := e.storeFailed(); err != nil {
			// An undo whose record cannot be written does not start.
			return err
		}
		var status state.Status
		var outputs map[string]string
		e.store.View(func(s *state.State) {
			u := s.App(ar.sched.Name).Unit(st.Unit)
			status, outputs = u.Step(st.Kind, st.Phase).Status, maps.Clone(u.Outputs)
		})
		// A step that failed or was cut off may have taken effect in
		// part; undoing is idempotent, so it is undone too.
		if status != state.Done && status != state.Running && status != state.Failed {
			continue
		}
		act := e.opts.Actions(st.Step)
		if act.Undo != nil {
			rt := &strategy.Runtime{Plan: e.p, App: ar.app, Unit: st.Unit, Step: st.Step, Source: src, Target: tgt,
				Placement: placement(ar.app.Resolved), Outputs: outputs, VerifyTimeout: e.opts.VerifyTimeout, Log: e.log, Now: e.now}
			if err := e.undo(ctx, ar.app, st, act, rt); err != nil {
				return fmt.Errorf("undo %s of %s: %w", st.Kind, unitName(st.Unit), err)
			}
			outputs = rt.Outputs
		}
		now := e.now()
		e.update(ar.sched.Name, st.Unit, st, func(r *state.Step, u *state.Unit) {
			r.Status, r.Ended = state.RolledBack, &now
			u.Outputs = maps.Clone(outputs)
			u.Status = state.RolledBack
		})
		e.prog.Event(Event{Kind: StepRolledBack, App: ar.sched.Name, Unit: st.Unit, Step: st.Kind, Time: now})
	}
	return nil
}

// undo runs a step's Undo, retrying transient faults with backoff, each
// attempt holding its cost against vCenter's budgets and none held while
// it backs off.
func (e *engine) undo(ctx context.Context, a *plan.Application, st schedule.Step, act strategy.Action, rt *strategy.Runtime) error {
	var err error
	for attempt := 1; attempt <= e.p.Limits.Retries+1; attempt++ {
		release, cerr := e.undoCharge(ctx, a, st, rt.Outputs)
		if cerr != nil {
			if err == nil {
				err = cerr
			}
			return err
		}
		err = act.Undo(ctx, rt)
		release()
		if err == nil || !vsphere.IsTransient(err) {
			return err
		}
		if e.sleep(e.backoff(attempt)) != nil {
			return err
		}
	}
	return err
}

// undoCharge takes what a step's undo costs from vCenter's budgets. A
// relocate's undo is the one that moves a VM: back to the host and
// datastore recorded before the move, cold or live as the move was (a
// live move home that vCenter refuses is made cold, which costs less), so
// it is charged there. Every other undo (deleting a VM wavectl made,
// reverting a snapshot, power, size, markers, folders) is no migration or
// provisioning operation and costs nothing (plan/costs.go).
func (e *engine) undoCharge(ctx context.Context, a *plan.Application, st schedule.Step, outputs map[string]string) (func(), error) {
	if st.Kind != plan.StepRelocate {
		return func() {}, nil
	}
	return e.limits.charge(ctx, e.costOf(a, st), outputs[strategy.OutHost], outputs[strategy.OutDatastore])
}
