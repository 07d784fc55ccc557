package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// failingStore is a store whose writes fail from the nth on, as a full or
// read-only disk makes them.
type failingStore struct {
	state.Store
	mu     sync.Mutex
	writes int
	n      int
}

var errDiskFull = errors.New("write p.state.json.journal: no space left on device")

func (s *failingStore) write() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.writes >= s.n {
		return errDiskFull
	}
	return nil
}

func (s *failingStore) BeginRun(run state.Run, apps []*state.App) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.BeginRun(run, apps)
}

func (s *failingStore) EndRun(ended time.Time, result, note string) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.EndRun(ended, result, note)
}

func (s *failingStore) SetVCenter(name string, v state.VCenter) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.SetVCenter(name, v)
}

func (s *failingStore) AddWaveHook(h state.HookRun) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.AddWaveHook(h)
}

func (s *failingStore) AddHook(app string, h state.HookRun) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.AddHook(app, h)
}

func (s *failingStore) UpdateApp(app string, fn func(*state.App)) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.UpdateApp(app, fn)
}

func (s *failingStore) UpdateStepOf(app, unit, kind string, phase int, fn func(*state.App, *state.Step, *state.Unit)) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.UpdateStepOf(app, unit, kind, phase, fn)
}

func (s *failingStore) QueueStepOf(app, unit, kind string, phase int, fn func(*state.App, *state.Step, *state.Unit)) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.QueueStepOf(app, unit, kind, phase, fn)
}

// A write of the record that fails stops the run as a closing window
// does: no step starts after it, the steps in flight finish, and the run
// ends with a StoreError saying what to do. Tried with the failure at
// every write of a whole run: vCenter sees no change that the record does
// not hold, but for the step in flight.
func TestAFailedWriteStopsTheRun(t *testing.T) {
	f := setup(t, fast)
	full := newRecorder()
	f.run(t, context.Background(), full, nil)
	var total int
	{
		g := setup(t, fast)
		counter := &failingStore{Store: g.store, n: 1 << 30}
		if _, err := engine.Run(context.Background(), g.options(newRecorder(), func(o *engine.Options) { o.Store = counter })); err != nil {
			t.Fatal(err)
		}
		total = counter.writes
	}
	for n := 1; n <= total; n += max(1, total/25) {
		t.Run(fmt.Sprintf("write %d of %d", n, total), func(t *testing.T) {
			g := setup(t, fast)
			r := newRecorder()
			fs := &failingStore{Store: g.store, n: n}
			res, err := engine.Run(context.Background(), g.options(r, func(o *engine.Options) { o.Store = fs }))
			var se *engine.StoreError
			if !errors.As(err, &se) || !errors.Is(err, errDiskFull) {
				t.Fatalf("Run = %v, %v; want a StoreError wrapping the disk's error", res, err)
			}
			if !strings.Contains(err.Error(), "run the same command again") {
				t.Errorf("the error says nothing of what to do: %v", err)
			}
			// Steps that ran: what the record holds as started before the
			// failure, at most one more per unit in flight.
			var started int
			g.store.View(func(st *state.State) {
				for _, a := range st.Apps {
					for _, u := range a.Units {
						for _, s := range u.Steps {
							if s.Status != state.Pending {
								started++
							}
						}
					}
				}
			})
			r.mu.Lock()
			ran := len(r.log)
			r.mu.Unlock()
			if ran > started {
				t.Errorf("%d steps changed vCenter, but the record holds only %d as started", ran, started)
			}
			if n <= total/2 && ran >= len(full.log) {
				t.Errorf("every step ran (%d) after write %d failed", ran, n)
			}
		})
	}
}

// A record is bound to the vCenter its runs worked on: run against
// another (another instance UUID), nothing is done and the run says why.
func TestARecordOfAnotherVCenterIsRefused(t *testing.T) {
	f := setup(t, fast)
	f.run(t, context.Background(), newRecorder(), func(o *engine.Options) { o.Scope = engine.Scope{Apps: []string{"db"}} })
	r := newRecorder()
	_, err := engine.Run(context.Background(), f.options(r, func(o *engine.Options) {
		o.Drivers = func(context.Context, string) (vsphere.Driver, error) {
			return cluster{hosts: []string{"esx-1"}, uuid: "0c0ffee0-0000-4000-8000-000000000002"}, nil
		}
	}))
	var ve *engine.VCenterError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "0c0ffee0-0000-4000-8000-000000000002") || !strings.Contains(err.Error(), "--vcenter lab=URL") {
		t.Fatalf("Run = %v; want a VCenterError naming both identities and what to do", err)
	}
	if len(r.log) != 0 {
		t.Errorf("steps ran against another vCenter: %v", r.log)
	}
	var rec state.VCenter
	f.store.View(func(st *state.State) { rec = st.VCenters["lab"] })
	if rec.InstanceUUID != (cluster{}).InstanceUUID() {
		t.Errorf("the record's vCenter is %+v, want lab's first identity kept", rec)
	}
}

// Rehearsal records and real ones never mix, either way, decided from
// the record, not from a command line.
func TestRehearsalAndRealRecordsNeverMix(t *testing.T) {
	for _, first := range []bool{true, false} {
		f := setup(t, fast)
		f.run(t, context.Background(), newRecorder(), func(o *engine.Options) { o.Simulate = first })
		r := newRecorder()
		_, err := engine.Run(context.Background(), f.options(r, func(o *engine.Options) { o.Simulate = !first }))
		var ve *engine.VCenterError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), "--state") {
			t.Errorf("simulate %v then %v: %v; want a VCenterError saying to use another --state", first, !first, err)
		}
		if len(r.log) != 0 {
			t.Errorf("simulate %v then %v: steps ran: %v", first, !first, r.log)
		}
		var rehearsal bool
		var opts state.RunOptions
		f.store.View(func(st *state.State) { rehearsal, opts = st.Rehearsal, st.Runs[0].Options })
		if rehearsal != first || opts.Simulate != first {
			t.Errorf("record: rehearsal %v, first run's options %+v; want %v", rehearsal, opts, first)
		}
	}
}

// A rollback whose record cannot be written stops too: no undo starts
// after the failed write, and it ends with a StoreError.
func TestAFailedWriteStopsARollback(t *testing.T) {
	for _, n := range []int{1, 3, 6} {
		f := setup(t, fast)
		f.run(t, context.Background(), newRecorder(), nil)
		r := newRecorder()
		fs := &failingStore{Store: f.store, n: n}
		_, err := engine.Rollback(context.Background(), f.options(r, func(o *engine.Options) { o.Store = fs }), []string{"web", "docs"})
		var se *engine.StoreError
		if !errors.As(err, &se) {
			t.Fatalf("write %d fails: Rollback = %v; want a StoreError", n, err)
		}
		var rolledBack int
		f.store.View(func(st *state.State) {
			for _, name := range []string{"web", "docs"} {
				for _, u := range st.App(name).Units {
					for _, s := range u.Steps {
						if s.Status == state.RolledBack {
							rolledBack++
						}
					}
				}
			}
		})
		r.mu.Lock()
		undone := len(r.undone)
		r.mu.Unlock()
		if undone > rolledBack+1 {
			t.Errorf("write %d fails: %d undos ran, the record holds %d rolled back (at most one more may be in flight)", n, undone, rolledBack)
		}
	}
}
