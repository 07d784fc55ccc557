package state

import (
	"errors"
	"time"
)

// Ensure adds to the record the applications, units and steps of apps
// that it lacks (as given: pending, with no outputs), keeping everything an
// earlier run recorded.
func (st *State) Ensure(apps []*App) {
	for _, want := range apps {
		a := st.App(want.Name)
		if a == nil {
			a = &App{Name: want.Name, Wave: want.Wave, Conveyor: want.Conveyor, Strategy: want.Strategy, Users: want.Users, Status: Pending}
			st.Apps = append(st.Apps, a)
		}
		for _, wu := range want.Units {
			u := a.Unit(wu.Name)
			if u == nil {
				u = &Unit{Name: wu.Name, Status: Pending, Outputs: map[string]string{}}
				a.Units = append(a.Units, u)
			}
			if u.Outputs == nil {
				u.Outputs = map[string]string{}
			}
			for _, ws := range wu.Steps {
				if u.Step(ws.Kind, ws.Phase) == nil {
					u.Steps = append(u.Steps, &Step{Kind: ws.Kind, Phase: ws.Phase, Status: Pending})
				}
			}
		}
	}
}

// errNoRun is EndRun on a record with no run.
var errNoRun = errors.New("the record has no run to end")

// BeginRun records a run's start, and the applications it schedules (see
// Ensure); the first run of a record decides whether it is a rehearsal's
// (run.Options.Simulate).
func (s *File) BeginRun(run Run, apps []*App) error {
	return s.Update(func(st *State) {
		if len(st.Runs) == 0 {
			st.Rehearsal = run.Options.Simulate
		}
		r := run
		st.Runs = append(st.Runs, &r)
		st.Ensure(apps)
	})
}

// EndRun records how the current run ended.
func (s *File) EndRun(ended time.Time, result, note string) error {
	var missing bool
	err := s.Update(func(st *State) {
		r := st.CurrentRun()
		if r == nil {
			missing = true
			return
		}
		r.Ended, r.Result, r.Note = &ended, result, note
	})
	if err == nil && missing {
		return errNoRun
	}
	return err
}

// SetPlan records the plan file and content the record now follows.
func (s *File) SetPlan(file, hash string) error {
	return s.Update(func(st *State) { st.PlanFile, st.PlanHash = file, hash })
}

// SetVCenter records the identity of a vCenter the runs work on.
func (s *File) SetVCenter(name string, v VCenter) error {
	return s.Update(func(st *State) {
		if st.VCenters == nil {
			st.VCenters = map[string]VCenter{}
		}
		st.VCenters[name] = v
	})
}

// AddWaveHook records a run of a wave's own hook.
func (s *File) AddWaveHook(h HookRun) error {
	return s.Update(func(st *State) { st.WaveHooks = append(st.WaveHooks, h) })
}

// AddHook records a run of an application's hook.
func (s *File) AddHook(app string, h HookRun) error {
	return s.UpdateApp(app, func(a *App) { a.Hooks = append(a.Hooks, h) })
}
