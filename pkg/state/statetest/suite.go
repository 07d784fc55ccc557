// Package statetest is the conformance suite every state store runs, the
// way restic and Terraform test their backends: the same behaviour asked of
// a state file and of a database.
//
// A store's test package calls Run with a Factory, and MaybeWriter from its
// TestMain (the kill -9 test runs a writer in a child process: the test
// binary itself).
package statetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/state"
)

// Factory makes records of one kind of store.
type Factory struct {
	// New makes a place for a new, empty record and returns its reference
	// (a file path, a database URL with its programme).
	New func(t *testing.T) string
	// Open is the backend for a reference. It runs in the writer child too.
	Open func(ctx context.Context, ref string) (state.Backend, error)
	// ScopedLocks: two runs on different applications may hold locks at
	// once (a database); a file is locked whole.
	ScopedLocks bool
	// Expire makes a held lock's holder look gone (a lease past its
	// expiry); nil when the lock's holder is gone once its process is (a
	// file's OS lock).
	Expire func(t *testing.T, ref string, l state.LockHandle)
	// Future makes the record look written by a newer wavectl (a higher
	// format version).
	Future func(t *testing.T, ref string)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// record is a small programme's record: apps a, b and c of two VMs each,
// two steps a VM.
func record() *state.State {
	st := state.NewState("conformance", "plan.yaml", "sha256:1")
	for _, name := range []string{"a", "b", "c"} {
		app := &state.App{Name: name, Strategy: "remediate", Status: state.Pending, Users: 10}
		for _, vm := range []string{name + "-vm1", name + "-vm2"} {
			u := &state.Unit{Name: vm, Status: state.Pending}
			for _, kind := range []string{"snapshot", "relocate"} {
				u.Steps = append(u.Steps, &state.Step{Kind: kind, Status: state.Pending})
			}
			app.Units = append(app.Units, u)
		}
		st.Apps = append(st.Apps, app)
	}
	return st
}

func create(t *testing.T, f Factory, ref string, scope state.Scope) (state.Backend, state.LockHandle, state.Store) {
	t.Helper()
	b, err := f.Open(ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	l, err := b.Lock(ctx(t), "apply", scope)
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Open(ctx(t), l)
	if state.IsNotExist(err) {
		s, err = b.Create(ctx(t), l, record())
	}
	if err != nil {
		t.Fatal(err)
	}
	return b, l, s
}

var whole = state.Scope{Name: "programme"}

// Run runs the suite.
func Run(t *testing.T, f Factory) {
	t.Run("EveryCommittedUpdateIsDurable", func(t *testing.T) { durable(t, f) })
	t.Run("ConcurrentUpdatesAllLand", func(t *testing.T) { concurrent(t, f) })
	t.Run("ASecondRunOfTheSameScopeIsRefused", func(t *testing.T) { sameScope(t, f) })
	t.Run("RunsOnDifferentScopes", func(t *testing.T) { differentScopes(t, f) })
	t.Run("ForeignAndFutureRecordsAreRefused", func(t *testing.T) { foreign(t, f) })
	t.Run("KillNineWriterThenTakeOver", func(t *testing.T) { killWriter(t, f) })
	t.Run("ApprovalsFromTwoWritersAreBothKept", func(t *testing.T) { approvals(t, f) })
	t.Run("AQueuedChangeIsDurableWithTheNextWaitedOne", func(t *testing.T) { queued(t, f) })
}

// queued: a change queued without waiting (a step's end) is durable once
// the next change that waits (the next step's start) has returned, or the
// store has closed; a queued change the record has no place for is
// refused at once.
func queued(t *testing.T, f Factory) {
	ref := f.New(t)
	b, l, s := create(t, f, ref, whole)
	other, err := f.Open(ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	stepOf := func(st *state.State, app, unit, kind string) *state.Step {
		return st.App(app).Unit(unit).Step(kind, 0)
	}
	for i := range 20 {
		if err := s.QueueStepOf("a", "a-vm1", "snapshot", 0, func(_ *state.App, r *state.Step, _ *state.Unit) {
			r.Status, r.Attempts = state.Done, i+1
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateStepOf("a", "a-vm1", "relocate", 0, func(_ *state.App, r *state.Step, _ *state.Unit) {
			r.Status, r.Attempts = state.Running, i+1
		}); err != nil {
			t.Fatal(err)
		}
		// Another reader (status) sees both: the queued one is durable.
		st, err := other.Read(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if r := stepOf(st, "a", "a-vm1", "snapshot"); r.Status != state.Done || r.Attempts != i+1 {
			t.Fatalf("round %d: the queued change is not in the record the waited one made durable: %+v", i, r)
		}
		if r := stepOf(st, "a", "a-vm1", "relocate"); r.Attempts != i+1 {
			t.Fatalf("round %d: the waited change is not in the record: %+v", i, r)
		}
	}
	if err := s.QueueStepOf("a", "nope", "snapshot", 0, func(*state.App, *state.Step, *state.Unit) {}); err == nil {
		t.Fatal("a queued change of a unit the record lacks was accepted")
	}
	if err := s.QueueStepOf("b", "b-vm2", "relocate", 0, func(_ *state.App, r *state.Step, u *state.Unit) {
		r.Status = state.Done
		u.Status = state.Done
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	st, err := b.Read(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if r := stepOf(st, "b", "b-vm2", "relocate"); r.Status != state.Done || st.App("b").Unit("b-vm2").Status != state.Done {
		t.Fatalf("a change queued before Close is not in the record: %+v", r)
	}
}

// approvals: two operators approve two waves while a run holds a wave of
// the same programme, each under a scope of its own (as wavectl approve
// does); every approval is in the record afterwards, and the run's own
// writes do not drop them. A file is locked whole, so there the writers
// take turns.
func approvals(t *testing.T, f Factory) {
	ref := f.New(t)
	_, runLock, run := create(t, f, ref, state.Scope{Name: "wave:w1", Apps: []string{"a"}})
	approve := func(wave, as string) {
		b, err := f.Open(ctx(t), ref)
		if err != nil {
			t.Error(err)
			return
		}
		l, err := b.Lock(ctx(t), "approve", state.Scope{Name: "approve:" + wave, Apps: []string{"approve:" + wave}})
		if err != nil {
			t.Error(err)
			return
		}
		defer func() { _ = l.Unlock() }()
		s, err := b.Open(ctx(t), l)
		if err != nil {
			t.Error(err)
			return
		}
		if err := s.AddApproval(state.Approval{Wave: wave, As: as, PlanHash: "sha256:1", At: time.Now().UTC(), User: as, Host: "h"}); err != nil {
			t.Error(err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
	if !f.ScopedLocks {
		// A file is locked whole: the run ends first.
		if err := run.BeginRun(state.Run{Command: "apply", Host: "h", PID: 1, Started: time.Now().UTC()}, nil); err != nil {
			t.Fatal(err)
		}
		_ = run.Close()
		_ = runLock.Unlock()
		approve("w2", "change-board")
		approve("w3", "service-owner")
	} else {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); approve("w2", "change-board") }()
		go func() { defer wg.Done(); approve("w3", "service-owner") }()
		wg.Wait()
		// The run writes its record after the approvals, from its own
		// older copy: the approvals must survive it.
		if err := run.BeginRun(state.Run{Command: "apply", Host: "h", PID: 1, Started: time.Now().UTC()}, nil); err != nil {
			t.Fatal(err)
		}
		if err := run.Close(); err != nil {
			t.Fatal(err)
		}
		_ = runLock.Unlock()
	}
	b, err := f.Open(ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.Read(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range st.Approvals {
		got[a.Wave] = a.As
	}
	if got["w2"] != "change-board" || got["w3"] != "service-owner" || len(st.Approvals) != 2 {
		t.Errorf("approvals in the record: %+v, want w2 by change-board and w3 by service-owner", st.Approvals)
	}
	if len(st.Runs) != 1 {
		t.Errorf("runs in the record: %d, want the run's 1", len(st.Runs))
	}
}

func durable(t *testing.T, f Factory) {
	ref := f.New(t)
	b, l, s := create(t, f, ref, whole)
	if err := s.BeginRun(state.Run{Command: "apply", Host: "h", PID: 1, Started: time.Now().UTC(), Result: "running"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetVCenter("lab", state.VCenter{InstanceUUID: "uuid-1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateApp("a", func(a *state.App) { a.Status = state.Running; a.Reason = "moving" }); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateStepOf("a", "a-vm1", "snapshot", 0, func(a *state.App, r *state.Step, u *state.Unit) {
		r.Status, r.Attempts = state.Done, 2
		u.Outputs = map[string]string{"snapshot": "snapshot-7"}
		now := time.Now().UTC()
		a.OutageStart = &now
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateStepOf("a", "nope", "snapshot", 0, func(*state.App, *state.Step, *state.Unit) {}); err == nil {
		t.Fatal("an update of a unit the record lacks succeeded")
	}
	check := func(st *state.State, when string) {
		t.Helper()
		a := st.App("a")
		if st.VCenters["lab"].InstanceUUID != "uuid-1" {
			t.Fatalf("%s: vCenters %v", when, st.VCenters)
		}
		if len(st.Runs) != 1 || a == nil || a.Status != state.Running || a.Reason != "moving" || a.OutageStart == nil {
			t.Fatalf("%s: runs %d, app a %+v", when, len(st.Runs), a)
		}
		u := a.Unit("a-vm1")
		if r := u.Step("snapshot", 0); r.Status != state.Done || r.Attempts != 2 || u.Outputs["snapshot"] != "snapshot-7" {
			t.Fatalf("%s: step %+v, outputs %v", when, r, u.Outputs)
		}
		if st.App("b").Status != state.Pending {
			t.Fatalf("%s: app b changed", when)
		}
	}
	// Read by another reader while the run holds the lock (status).
	other, err := f.Open(ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	st, err := other.Read(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	check(st, "read while open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	st, err = b.Read(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	check(st, "read after close")
	// Reopened, it carries on from there.
	_, l2, s2 := create(t, f, ref, whole)
	s2.View(func(st *state.State) { check(st, "reopened") })
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	_ = l2.Unlock()
}

func concurrent(t *testing.T, f Factory) {
	ref := f.New(t)
	b, l, s := create(t, f, ref, whole)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for _, app := range []string{"a", "b", "c"} {
		for _, vm := range []string{app + "-vm1", app + "-vm2"} {
			for _, kind := range []string{"snapshot", "relocate"} {
				wg.Add(1)
				go func(app, vm, kind string) {
					defer wg.Done()
					for i := 1; i <= 5; i++ {
						if err := s.UpdateStepOf(app, vm, kind, 0, func(_ *state.App, r *state.Step, _ *state.Unit) { r.Attempts = i }); err != nil {
							errs <- err
							return
						}
					}
				}(app, vm, kind)
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = l.Unlock()
	st, err := b.Read(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range st.Apps {
		for _, u := range a.Units {
			for _, r := range u.Steps {
				if r.Attempts != 5 {
					t.Fatalf("%s %s %s: attempts %d, want 5: an update was lost", a.Name, u.Name, r.Kind, r.Attempts)
				}
			}
		}
	}
}

func sameScope(t *testing.T, f Factory) {
	ref := f.New(t)
	_, l, s := create(t, f, ref, state.Scope{Name: "wave:w1", Apps: []string{"a"}})
	defer func() { _ = s.Close(); _ = l.Unlock() }()
	b2, err := f.Open(ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b2.Lock(ctx(t), "apply", state.Scope{Name: "wave:w1", Apps: []string{"a"}})
	if err == nil {
		t.Fatal("a second run of the same wave got the lock")
	}
	h := l.Holder()
	for _, want := range []string{h.ID, h.Host, strconv.Itoa(h.PID), "wavectl unlock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the lock error does not name %q: %v", want, err)
		}
	}
	// unlock removes it, naming the holder; the next run gets it.
	got, err := b2.Unlock(ctx(t), h.ID)
	if err != nil && f.ScopedLocks {
		t.Fatalf("unlock: %v", err)
	}
	if err == nil && got.ID != h.ID {
		t.Fatalf("unlock named %+v", got)
	}
}

func differentScopes(t *testing.T, f Factory) {
	ref := f.New(t)
	_, l1, s1 := create(t, f, ref, state.Scope{Name: "wave:w1", Apps: []string{"a"}})
	b2, err := f.Open(ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := b2.Lock(ctx(t), "apply", state.Scope{Name: "wave:w2", Apps: []string{"b"}})
	if !f.ScopedLocks {
		if err == nil {
			t.Fatal("a store locked whole let a second run in")
		}
		_ = s1.Close()
		_ = l1.Unlock()
		return
	}
	if err != nil {
		t.Fatalf("a run on another wave was refused: %v", err)
	}
	s2, err := b2.Open(ctx(t), l2)
	if err != nil {
		t.Fatal(err)
	}
	// Both runs write at once, each its own application and its own run.
	var wg sync.WaitGroup
	run := func(s state.Store, app string, pid int) {
		defer wg.Done()
		started := time.Now().UTC()
		if err := s.BeginRun(state.Run{Command: "apply", Host: "h", PID: pid, Started: started, Result: "running"}, nil); err != nil {
			t.Error(err)
			return
		}
		for _, vm := range []string{app + "-vm1", app + "-vm2"} {
			for _, kind := range []string{"snapshot", "relocate"} {
				if err := s.UpdateStepOf(app, vm, kind, 0, func(_ *state.App, r *state.Step, _ *state.Unit) { r.Status = state.Done }); err != nil {
					t.Error(err)
				}
			}
		}
		if err := s.UpdateApp(app, func(a *state.App) { a.Status = state.Done }); err != nil {
			t.Error(err)
		}
		if err := s.AddWaveHook(state.HookRun{Kind: "post", Wave: app, Command: "true", Started: started, Ended: started}); err != nil {
			t.Error(err)
		}
		if err := s.EndRun(time.Now().UTC(), "succeeded", ""); err != nil {
			t.Error(err)
		}
	}
	wg.Add(2)
	go run(s1, "a", 101)
	go run(s2, "b", 202)
	wg.Wait()
	for _, c := range []interface{ Close() error }{s1, s2} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	_ = l1.Unlock()
	_ = l2.Unlock()
	st, err := b2.Read(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.App("a").Status != state.Done || st.App("b").Status != state.Done || st.App("c").Status != state.Pending {
		t.Fatalf("apps a %s, b %s, c %s: one run's changes hid the other's", st.App("a").Status, st.App("b").Status, st.App("c").Status)
	}
	ended := 0
	for _, r := range st.Runs {
		if r.Result == "succeeded" && r.Ended != nil {
			ended++
		}
	}
	if len(st.Runs) != 2 || ended != 2 {
		t.Fatalf("runs %d (%d ended), want both runs ended: one run's record hid the other's", len(st.Runs), ended)
	}
	if len(st.WaveHooks) != 2 {
		t.Fatalf("wave hook runs %d, want both runs' hooks", len(st.WaveHooks))
	}
}

func foreign(t *testing.T, f Factory) {
	ref := f.New(t)
	b, l, s := create(t, f, ref, whole)
	_ = s.Close()
	// Another programme's record (another lineage) is not stored over it.
	other := record()
	other.Lineage = state.NewLineage()
	if _, err := b.Create(ctx(t), l, other); err == nil {
		t.Fatal("a record of another lineage replaced this one")
	}
	_ = l.Unlock()
	st, err := b.Read(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Lineage == other.Lineage {
		t.Fatal("the foreign record was stored")
	}
	f.Future(t, ref)
	var ve *state.VersionError
	if _, err := b.Read(ctx(t)); !errors.As(err, &ve) {
		t.Fatalf("a record from a newer wavectl: got %v, want a VersionError", err)
	}
}

// The writer child: it commits numbered updates and prints each number once
// its update returned (is durable); the parent kills it at a random moment.
const (
	envWriter = "WAVECTL_STATETEST_WRITER"
	envRef    = "WAVECTL_STATETEST_REF"
)

// MaybeWriter runs the writer when the test binary was started as one, and
// exits; call it first in TestMain.
func MaybeWriter(open func(ctx context.Context, ref string) (state.Backend, error)) {
	if os.Getenv(envWriter) != "1" {
		return
	}
	ctx := context.Background()
	fail := func(err error) { fmt.Fprintln(os.Stderr, "writer:", err); os.Exit(3) }
	b, err := open(ctx, os.Getenv(envRef))
	if err != nil {
		fail(err)
	}
	l, err := b.Lock(ctx, "apply", whole)
	if err != nil {
		fail(err)
	}
	s, err := b.Open(ctx, l)
	if state.IsNotExist(err) {
		s, err = b.Create(ctx, l, record())
	}
	if err != nil {
		fail(err)
	}
	fmt.Println("ready")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w, app := range []string{"a", "b", "c"} {
		wg.Add(1)
		go func(w int, app string) {
			defer wg.Done()
			for i := 1; ; i++ {
				if err := s.UpdateApp(app, func(a *state.App) { a.Users = i }); err != nil {
					fail(err)
				}
				mu.Lock()
				fmt.Printf("%s %d\n", app, i)
				mu.Unlock()
			}
		}(w, app)
	}
	wg.Wait()
}

func killWriter(t *testing.T, f Factory) {
	ref := f.New(t)
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envWriter+"=1", envRef+"="+ref)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[string]int{}
		sc := bufio.NewScanner(out)
		if !sc.Scan() || sc.Text() != "ready" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("round %d: the writer did not start: %s", round, stderr.String())
		}
		stopAt := 20 + rand.IntN(200) // acknowledged updates before the kill
		for n := 0; n < stopAt && sc.Scan(); n++ {
			var app string
			var i int
			if _, err := fmt.Sscanf(sc.Text(), "%s %d", &app, &i); err != nil {
				t.Fatal(err)
			}
			acked[app] = i
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if len(acked) == 0 {
			t.Fatalf("round %d: the writer acknowledged nothing: %s", round, stderr.String())
		}
		// The next run takes the lock over (at once for a file, once the
		// lease has expired for a database) and finds every acknowledged
		// update.
		b, err := f.Open(ctx(t), ref)
		if err != nil {
			t.Fatal(err)
		}
		var l state.LockHandle
		deadline := time.Now().Add(time.Minute)
		for {
			l, err = b.Lock(ctx(t), "resume", whole)
			if err == nil || time.Now().After(deadline) {
				break
			}
			if f.Expire == nil {
				t.Fatalf("round %d: the killed writer's lock was not taken over: %v", round, err)
			}
			f.Expire(t, ref, nil)
		}
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if l.TakeoverWarning() == "" {
			t.Errorf("round %d: a take-over without its warning", round)
		}
		s, err := b.Open(ctx(t), l)
		if err != nil {
			t.Fatalf("round %d: the killed writer's record does not open: %v", round, err)
		}
		s.View(func(st *state.State) {
			for app, i := range acked {
				if got := st.App(app).Users; got < i {
					t.Errorf("round %d: app %s at %d, but update %d was acknowledged before the kill", round, app, got, i)
				}
			}
		})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Unlock(); err != nil && !errors.Is(err, fs.ErrClosed) {
			t.Fatal(err)
		}
	}
}
