package engine

import (
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/strategy"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// costOf is what a step takes from vCenter's budgets while it runs: its
// kind's cost, a relocate's as a live move when its VM moves live.
func (e *engine) costOf(a *plan.Application, st schedule.Step) plan.Cost {
	live := false
	if st.Kind == plan.StepRelocate {
		for _, vm := range a.VMs {
			if vm != nil && vm.Name == st.Unit {
				live = strategy.MoveOf(a, vm).Live
			}
		}
	}
	return e.p.Limits.CostOf(st.Kind, live)
}

// vcTimes adds up the vCenter task times of the run's steps.
type vcTimes struct {
	tasks           int
	queued, running time.Duration
}

// taskTimes adds an attempt's vCenter task times to the run's, and
// returns what adds them to its step's record, for the write that records
// the attempt's outcome (no write of their own).
func (e *engine) taskTimes(t *vsphere.TaskTimes) func(*state.Step) {
	n, queued, running := t.Totals()
	if n > 0 {
		e.mu.Lock()
		e.vc.tasks += n
		e.vc.queued += queued
		e.vc.running += running
		e.mu.Unlock()
	}
	return func(r *state.Step) {
		r.VCenterQueuedMs += queued.Milliseconds()
		r.VCenterRunningMs += running.Milliseconds()
	}
}

// logLimits writes what the run's vCenter tasks waited and ran, and the
// most of each budget the run held at once, to the run's log at debug
// level: the run's summary already says the times on every terminal.
func (e *engine) logLimits(res *Result) {
	e.mu.Lock()
	res.Tasks, res.VCenterQueued, res.VCenterRunning = e.vc.tasks, e.vc.queued, e.vc.running
	e.mu.Unlock()
	peaks, budgets := e.limits.BudgetPeaks()
	ev := e.log.Debug().Int("tasks", res.Tasks).Dur("queuedInVCenter", res.VCenterQueued).Dur("runningInVCenter", res.VCenterRunning)
	if len(peaks) > 0 {
		d := map[string]any{}
		for k, v := range peaks {
			d[k] = v
		}
		ev = ev.Fields(map[string]any{"budgetPeaks": d, "budgets": budgets})
	}
	ev.Msg("vCenter tasks: time queued in vCenter apart from time running, and the most of each budget held at once")
}
