package engine

import (
	"fmt"
	"time"

	"github.com/wavectl/wavectl/pkg/gate"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
)

// Unapproved is the result of a run that stopped at a wave (or the
// conveyor) whose gate lacks approvals.
const Unapproved = "unapproved"

// Governance: gates, freezes and back-out criteria. A --simulate
// rehearsal changes no vCenter, so gates and freezes, which govern
// changes, do not hold it back; back-out criteria apply to every run.

// gateClosed returns why the wave (plan.ConveyorGate for the conveyor) may
// not start, or "".
func (e *engine) gateClosed(wave string) string {
	if e.opts.Simulate || len(e.p.Gates) == 0 {
		return ""
	}
	var approvals []state.Approval
	e.store.View(func(st *state.State) { approvals = append(approvals, st.Approvals...) })
	s := gate.Check(e.p, approvals, wave)
	if s.Open() {
		return ""
	}
	return s.Describe(e.p.File, e.opts.StateFlag)
}

// refuse stops the run at a closed gate: nothing new starts.
func (e *engine) refuse(note string) {
	e.mu.Lock()
	e.unapproved = true
	e.mu.Unlock()
	e.pause(note)
}

// frozen returns the freeze in force now, as a pause note, or "".
func (e *engine) frozen() string {
	if e.opts.Simulate {
		return ""
	}
	if f := e.p.FreezeAt(e.now()); f != nil {
		return fmt.Sprintf("%s; nothing starts until it ends", f)
	}
	return ""
}

// checkFreeze pauses the run when a freeze is in force, and says so.
func (e *engine) checkFreeze() bool {
	if note := e.frozen(); note != "" {
		e.pause(note)
		return true
	}
	return false
}

// waveBegan marks the start of a wave, for its overrun criterion.
func (e *engine) waveBegan(wave string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.waveStart == nil {
		e.waveStart = map[string]time.Time{}
	}
	e.waveStart[wave] = e.now()
}

// failedIn counts a failed application of wave.
func (e *engine) failedIn(wave string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.waveFailed == nil {
		e.waveFailed = map[string]int{}
	}
	e.waveFailed[wave]++
}

// abortedNote says why the wave was stopped by a back-out criterion, or
// "" when none has tripped (or the wave's onFailure is continue).
func (e *engine) abortedNote(wave string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.aborted[wave]
}

// checkAbort evaluates the wave's back-out criteria and, the first time
// one trips, records it and stops the wave (unless its onFailure is
// continue, when it is only recorded). It returns the stop note, or "".
func (e *engine) checkAbort(wave string) string {
	if wave == "" {
		return ""
	}
	w := e.p.Wave(wave)
	if w == nil || w.AbortWhen == nil {
		return ""
	}
	if note := e.abortedNote(wave); note != "" {
		return note
	}
	e.mu.Lock()
	if e.abortSeen[wave] {
		e.mu.Unlock()
		return ""
	}
	failed, began := e.waveFailed[wave], e.waveStart[wave]
	e.mu.Unlock()
	aw := w.AbortWhen
	var crit, detail string
	switch {
	case aw.FailedApplications > 0 && failed >= aw.FailedApplications:
		word := "applications"
		if failed == 1 {
			word = "application"
		}
		crit, detail = "failedApplications", fmt.Sprintf("%d %s failed (limit %d)", failed, word, aw.FailedApplications)
	case aw.UserHoursLost > 0:
		if lost := e.userHoursLost(wave); lost >= float64(aw.UserHoursLost) {
			crit, detail = "userHoursLost", fmt.Sprintf("%.0f user-hours lost (limit %d)", lost, aw.UserHoursLost)
		}
	}
	if crit == "" && aw.Overrun > 0 && !began.IsZero() {
		est := e.waveEstimate(wave)
		if ran := e.now().Sub(began); ran > est+time.Duration(aw.Overrun) {
			crit, detail = "overrun", fmt.Sprintf("running %s against an estimate of %s (limit %s over)", plan.Duration(ran.Round(time.Second)), plan.Duration(est.Round(time.Second)), aw.Overrun)
		}
	}
	if crit == "" {
		return ""
	}
	note := fmt.Sprintf("wave %s aborted: %s tripped, %s (onFailure: %s)", wave, crit, detail, w.OnFailure)
	e.mu.Lock()
	if e.abortSeen == nil {
		e.abortSeen, e.aborted = map[string]bool{}, map[string]string{}
	}
	first := !e.abortSeen[wave]
	e.abortSeen[wave] = true
	if w.OnFailure != plan.OnFailureContinue {
		e.aborted[wave] = note
	}
	e.mu.Unlock()
	if first {
		e.log.Warn().Str("wave", wave).Str("criterion", crit).Msg(note)
		e.prog.Event(Event{Kind: RunPaused, Wave: wave, Message: note, Time: e.now()})
		at := e.now()
		_ = e.saved(e.store.AddAbort(state.Abort{Wave: wave, Criterion: crit, Detail: detail, Action: w.OnFailure, At: at}))
	}
	return e.abortedNote(wave)
}

// userHoursLost is the wave's outage so far: each application's users
// times the time its service has been down (to now, while it still is).
func (e *engine) userHoursLost(wave string) float64 {
	now := e.now()
	var lost float64
	e.store.View(func(st *state.State) {
		for _, a := range st.Apps {
			if a.Wave != wave || a.OutageStart == nil {
				continue
			}
			end := now
			if a.OutageEnd != nil {
				end = *a.OutageEnd
			}
			lost += float64(a.Users) * end.Sub(*a.OutageStart).Hours()
		}
	})
	return lost
}

func (e *engine) waveEstimate(wave string) time.Duration {
	for _, w := range e.opts.Schedule.Waves {
		if w.Name == wave {
			return time.Duration(w.Estimate)
		}
	}
	return 0
}

// backOut carries out a tripped wave's onFailure: rollback undoes every
// application of the wave that did any work, last started first; stop
// starts no later wave.
func (e *engine) backOut(wave string, onFailure string) {
	note := e.abortedNote(wave)
	if note == "" {
		return
	}
	e.mu.Lock()
	e.stopWaves = true
	e.mu.Unlock()
	if onFailure != plan.OnFailureRollback {
		return
	}
	var w = e.opts.Schedule.Waves[0]
	for _, sw := range e.opts.Schedule.Waves {
		if sw.Name == wave {
			w = sw
		}
	}
	for i := len(w.Apps) - 1; i >= 0; i-- {
		name := w.Apps[i].Name
		if !e.selected[name] {
			continue
		}
		var worked bool
		var status state.Status
		e.store.View(func(st *state.State) {
			a := st.App(name)
			status = a.Status
			for _, u := range a.Units {
				for _, s := range u.Steps {
					if s.Status == state.Done || s.Status == state.Running || s.Status == state.Failed {
						worked = true
					}
				}
			}
		})
		if !worked || status == state.RolledBack {
			continue
		}
		final, reason := state.RolledBack, "rolled back: "+note
		if err := e.rollback(e.apps[name]); err != nil {
			final, reason = state.Failed, note+"; rollback failed: "+err.Error()
		}
		end := e.now()
		_ = e.saved(e.store.UpdateApp(name, func(a *state.App) {
			a.Status, a.Reason, a.Ended = final, reason, &end
		}))
		e.prog.Event(Event{Kind: AppDone, App: name, Wave: wave, Status: final, Message: reason, Time: end})
	}
}

// allDone says whether every selected application of apps is done, so
// that a gate is not asked again of a wave that has finished.
func (e *engine) allDone(apps []*schedule.App) bool {
	done := true
	e.store.View(func(st *state.State) {
		for _, a := range apps {
			if e.selected[a.Name] {
				if r := st.App(a.Name); r == nil || r.Status != state.Done {
					done = false
				}
			}
		}
	})
	return done
}
