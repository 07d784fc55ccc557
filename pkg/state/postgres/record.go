package postgres

import (
	"errors"
	"time"

	"github.com/wavectl/wavectl/pkg/state"
)

// The typed changes of state.Store, on Update and UpdateApp. A run's own
// entry is found by who ran it, never as "the current run": another run may
// have begun since, in the same programme.

// BeginRun records a run's start and the applications it schedules.
func (s *Store) BeginRun(run state.Run, apps []*state.App) error {
	s.mu.Lock()
	s.run = &run
	s.mu.Unlock()
	return s.Update(func(st *state.State) {
		if len(st.Runs) == 0 {
			st.Rehearsal = run.Options.Simulate
		}
		r := run
		st.Runs = append(st.Runs, &r)
		st.Ensure(apps)
	})
}

var errNoRun = errors.New("this store has begun no run to end")

// EndRun records how this store's run ended.
func (s *Store) EndRun(ended time.Time, result, note string) error {
	s.mu.Lock()
	mine := s.run
	s.mu.Unlock()
	if mine == nil {
		return errNoRun
	}
	return s.Update(func(st *state.State) {
		if i := indexRun(st.Runs, mine); i >= 0 {
			r := st.Runs[i]
			r.Ended, r.Result, r.Note = &ended, result, note
		}
	})
}

// SetPlan records the plan file and content the record now follows.
func (s *Store) SetPlan(file, hash string) error {
	return s.Update(func(st *state.State) { st.PlanFile, st.PlanHash = file, hash })
}

// SetVCenter records the identity of a vCenter the runs work on.
func (s *Store) SetVCenter(name string, v state.VCenter) error {
	return s.Update(func(st *state.State) {
		if st.VCenters == nil {
			st.VCenters = map[string]state.VCenter{}
		}
		st.VCenters[name] = v
	})
}

// AddWaveHook records a run of a wave's own hook.
func (s *Store) AddWaveHook(h state.HookRun) error {
	return s.Update(func(st *state.State) { st.WaveHooks = append(st.WaveHooks, h) })
}

// AddHook records a run of an application's hook.
func (s *Store) AddHook(app string, h state.HookRun) error {
	return s.UpdateApp(app, func(a *state.App) { a.Hooks = append(a.Hooks, h) })
}
