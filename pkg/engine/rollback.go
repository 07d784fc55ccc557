package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/state"
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
