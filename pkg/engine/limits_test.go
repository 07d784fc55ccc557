package engine

import (
	"context"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
)

// admitted tries to charge c on host h1 and datastore ds1 without
// waiting: it reports whether the step was admitted, and its release.
func admitted(t *testing.T, l *limiter, c plan.Cost) (bool, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	release, err := l.charge(ctx, c, "h1", "ds1")
	if err != nil {
		return false, nil
	}
	return true, release
}

// Steps of several kinds share one host's and one datastore's budgets,
// each holding its kind's cost (vCenter's defaults): a host runs two live
// moves (4 each of 8), or one live move and four clones (1 each), never
// more; a datastore runs eight live moves (16 each of 128); power-ons
// cost nothing and always run; what a finished step held is free again.
func TestStepsOfSeveralKindsShareAHostsAndADatastoresBudget(t *testing.T) {
	lim := plan.Limits{Concurrency: 16, PerHost: 8, PerDatastore: 8}
	live, clone, powerOn := lim.CostOf(plan.StepRelocate, true), lim.CostOf(plan.StepClone, false), lim.CostOf(plan.StepPowerOn, false)
	l := newLimiter(lim)

	ok, firstLive := admitted(t, l, live)
	if !ok {
		t.Fatal("a live move on an idle host waits")
	}
	var clones []func()
	for i := range 4 {
		ok, r := admitted(t, l, clone)
		if !ok {
			t.Fatalf("clone %d beside one live move waits: the host has 8-4 = 4 left", i+1)
		}
		clones = append(clones, r)
	}
	if ok, _ := admitted(t, l, clone); ok {
		t.Error("a fifth clone beside a live move was admitted: host h1 is over its budget of 8")
	}
	if ok, _ := admitted(t, l, live); ok {
		t.Error("a second live move beside four clones was admitted")
	}
	for range 3 {
		if ok, _ := admitted(t, l, powerOn); !ok {
			t.Error("a power-on waits: it costs nothing")
		}
	}
	for _, r := range clones {
		r()
	}
	ok, secondLive := admitted(t, l, live)
	if !ok {
		t.Fatal("a second live move waits once the clones ended")
	}
	peaks, budgets := l.BudgetPeaks()
	if peaks["host h1"] != 8 || budgets["host"] != 8 {
		t.Errorf("host h1 peaked at %d of %d, want 8 of 8", peaks["host h1"], budgets["host"])
	}
	if peaks["network h1"] != 2 || peaks["datastore ds1"] != 32 {
		t.Errorf("peaks %v, want network h1 at 2 and datastore ds1 at 32 (two live moves)", peaks)
	}
	firstLive()
	secondLive()
	firstLive() // a release is idempotent

	// The datastore's own budget: eight live moves of 16 fill 128, on
	// eight hosts so that no host budget binds.
	l = newLimiter(lim)
	for i := range 9 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := l.charge(ctx, live, "host-"+string(rune('a'+i)), "ds1")
		cancel()
		if got := err == nil; got != (i < 8) {
			t.Errorf("live move %d on datastore ds1 admitted %v, want %v (128 / 16 = 8)", i+1, got, i < 8)
		}
	}
}

// A step waiting for its budget runs as soon as another releases it, and
// a cancelled run stops the wait.
func TestAStepWaitingForItsBudgetRunsWhenOneIsReleased(t *testing.T) {
	lim := plan.Limits{HostBudget: 1}
	l := newLimiter(lim)
	c := lim.CostOf(plan.StepClone, false)
	release, err := l.charge(context.Background(), c, "h1", "ds1")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		r, err := l.charge(context.Background(), c, "h1", "ds1")
		if err == nil {
			r()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("the second clone did not wait for the host's budget of 1 (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-got; err != nil {
		t.Errorf("the waiting clone: %v", err)
	}
	release, _ = l.charge(context.Background(), c, "h1", "ds1")
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.charge(ctx, c, "h1", "ds1"); err == nil {
		t.Error("a cancelled run's step was admitted over budget")
	}
}

// Between hosts with as many VMs, a new VM goes where the budgets are
// least spent: h1 runs a live move (4 of its 8), h2 a power-on (nothing).
func TestAVMGoesToTheHostWhoseBudgetIsLeastSpent(t *testing.T) {
	lim := plan.Limits{Concurrency: 16, PerHost: 8, PerDatastore: 8}
	l := newLimiter(lim)
	hosts := []string{"h1", "h2"}
	ctx := context.Background()
	h, rel1, err := l.acquire(ctx, "ds1", []string{"h1"})
	if err != nil || h != "h1" {
		t.Fatalf("first VM on %q: %v", h, err)
	}
	defer rel1()
	move, err := l.charge(ctx, lim.CostOf(plan.StepRelocate, true), "h1", "ds1")
	if err != nil {
		t.Fatal(err)
	}
	defer move()
	h, rel2, err := l.acquire(ctx, "ds1", []string{"h2"})
	if err != nil || h != "h2" {
		t.Fatalf("second VM on %q: %v", h, err)
	}
	defer rel2()
	h, rel3, err := l.acquire(ctx, "ds1", hosts)
	if err != nil {
		t.Fatal(err)
	}
	defer rel3()
	if h != "h2" {
		t.Errorf("the third VM went to %s, where a live move holds half the budget; want h2", h)
	}
}
