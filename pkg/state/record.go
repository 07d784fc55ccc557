package state

import (
	"errors"
	"fmt"
	"time"
)

// Ensure adds to the record the applications, units and steps of apps
// that it lacks (as given: pending, with no outputs), keeping everything an
// earlier run recorded. It reports whether it changed anything.
func (st *State) Ensure(apps []*App) bool {
	changed := false
	for _, want := range apps {
		a := st.App(want.Name)
		if a == nil {
			a = &App{Name: want.Name, Wave: want.Wave, Conveyor: want.Conveyor, Strategy: want.Strategy, Users: want.Users, Status: Pending}
			st.Apps = append(st.Apps, a)
			changed = true
		}
		for _, wu := range want.Units {
			u := a.Unit(wu.Name)
			if u == nil {
				u = &Unit{Name: wu.Name, Status: Pending, Outputs: map[string]string{}}
				a.Units = append(a.Units, u)
				changed = true
			}
			if u.Outputs == nil {
				u.Outputs = map[string]string{}
				changed = true
			}
			for _, ws := range wu.Steps {
				if u.Step(ws.Kind, ws.Phase) == nil {
					u.Steps = append(u.Steps, &Step{Kind: ws.Kind, Phase: ws.Phase, Status: Pending})
					changed = true
				}
			}
		}
	}
	return changed
}

// errNoRun is EndRun on a record with no run.
var errNoRun = errors.New("the record has no run to end")

// BeginRun records a run's start, and the applications it schedules (see
// Ensure); the first run of a record decides whether it is a rehearsal's
// (run.Options.Simulate). When the record has every application already
// (a resume, say), the start is one run line.
func (s *File) BeginRun(run Run, apps []*App) error {
	typed := false
	s.View(func(st *State) { typed = len(st.Runs) > 0 && !cloneState(st).Ensure(apps) })
	if typed {
		return s.change(func(st *State) (Entry, error) {
			r := run
			return Entry{Type: EntryRun, Run: &r, Index: len(st.Runs)}, nil
		})
	}
	return s.Update(func(st *State) {
		if len(st.Runs) == 0 {
			st.Rehearsal = run.Options.Simulate
		}
		r := run
		st.Runs = append(st.Runs, &r)
		st.Ensure(apps)
	})
}

// EndRun records how the current run ended: a run line.
func (s *File) EndRun(ended time.Time, result, note string) error {
	return s.change(func(st *State) (Entry, error) {
		r := st.CurrentRun()
		if r == nil {
			return Entry{}, errNoRun
		}
		c := cloneRun(r)
		c.Ended, c.Result, c.Note = &ended, result, note
		return Entry{Type: EntryRun, Run: c, Index: len(st.Runs) - 1}, nil
	})
}

// SetPlan records the plan file and content the record now follows.
func (s *File) SetPlan(file, hash string) error {
	return s.Update(func(st *State) { st.PlanFile, st.PlanHash = file, hash })
}

// SetVCenter records the identity of a vCenter the runs work on: a
// vcenter line.
func (s *File) SetVCenter(name string, v VCenter) error {
	return s.change(func(*State) (Entry, error) {
		return Entry{Type: EntryVCenter, VCenter: name, Identity: &v}, nil
	})
}

// AddWaveHook records a run of a wave's own hook: a waveHook line.
func (s *File) AddWaveHook(h HookRun) error {
	return s.change(func(*State) (Entry, error) { return Entry{Type: EntryWaveHook, Hook: &h}, nil })
}

// AddHook records a run of an application's hook: a hook line.
func (s *File) AddHook(app string, h HookRun) error {
	return s.change(func(st *State) (Entry, error) {
		if st.App(app) == nil {
			return Entry{}, fmt.Errorf("state file %s: no application %q in the record", s.path, app)
		}
		return Entry{Type: EntryHook, App: app, Hook: &h}, nil
	})
}

// change makes a typed change: the entry that entry returns is applied to the
// record as a reader replays it, and journaled as it is, with no
// comparison of the record. It returns once the change is durable.
func (s *File) change(entry func(*State) (Entry, error)) error {
	c, err := func() (*commit, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return nil, ErrClosed
		}
		e, err := entry(s.st)
		if err != nil {
			return nil, err
		}
		if err := replay(s.st, &e); err != nil {
			return nil, stateFileError(s.path, err)
		}
		s.st.Serial++
		s.st.Updated = s.now()
		e.Serial, e.Time = s.st.Serial, s.st.Updated
		start := time.Now() // journaling is persisting: Busy counts it
		switch {
		case s.plain || s.j.resync:
			// The commit compares the whole record anyway, and its lines
			// say this change too.
			s.plain = true
		case replay(s.j.shadow, &e) != nil:
			s.j.resync = true
		default:
			s.j.line(e)
		}
		s.busy.Add(int64(time.Since(start)))
		return s.join(), nil
	}()
	if err != nil {
		return err
	}
	return s.wait(c)
}
