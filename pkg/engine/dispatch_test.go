package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
)

// queued starts a goroutine per waiter, one after another, each waiting
// on the dispatcher for datastore ds until the previous one is queued, and
// returns the order in which they got the slot (each holds it until the
// next is let in by the caller releasing it through the returned channel).
func queueUp(t *testing.T, d *dispatcher, ds string, waiters []waiter) (order chan string, wg *sync.WaitGroup) {
	t.Helper()
	order = make(chan string, len(waiters))
	wg = &sync.WaitGroup{}
	for i, w := range waiters {
		name := fmt.Sprintf("w%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, release, err := d.acquire(context.Background(), ds, nil, w.started, w.left)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			order <- name
			release()
		}()
		// Wait until it is queued, so that arrival order is the slice's.
		for {
			d.mu.Lock()
			n := len(d.queues[ds])
			d.mu.Unlock()
			if n == i+1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	return order, wg
}

func TestUnitsUnderWayThenTheLongestCriticalPathGetTheNextSlot(t *testing.T) {
	l := newLimiter(plan.Limits{Concurrency: 1, PerHost: 1, PerDatastore: 1})
	d := newDispatcher(l)
	// The slot is taken: everyone queues behind it.
	_, hold, err := l.acquire(context.Background(), "ds1", nil)
	if err != nil {
		t.Fatal(err)
	}
	order, wg := queueUp(t, d, "ds1", []waiter{
		{left: time.Minute},                  // w0
		{left: 10 * time.Minute},             // w1: longest of the new
		{started: true, left: time.Second},   // w2: under way
		{left: 10 * time.Minute},             // w3: ties w1, came later
		{started: true, left: 5 * time.Hour}, // w4: under way, more left
	})
	hold()
	wg.Wait()
	close(order)
	var got []string
	for n := range order {
		got = append(got, n)
	}
	want := []string{"w4", "w2", "w1", "w3", "w0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("slots went to %v, want %v (under way first, then most work left, then arrival)", got, want)
	}
}

func TestAUnitThatGoesFirstOvertakesOneAlreadyTrying(t *testing.T) {
	l := newLimiter(plan.Limits{Concurrency: 1, PerHost: 1, PerDatastore: 1})
	d := newDispatcher(l)
	_, hold, err := l.acquire(context.Background(), "ds1", nil)
	if err != nil {
		t.Fatal(err)
	}
	// w0 is first in its queue and waits in the limiter; w1, under way,
	// arrives and must get the slot before it.
	order, wg := queueUp(t, d, "ds1", []waiter{{left: time.Hour}, {started: true, left: time.Second}})
	hold()
	wg.Wait()
	close(order)
	if first := <-order; first != "w1" {
		t.Errorf("the slot went to %s first, want w1 (under way) before w0", first)
	}
}

func TestAWaiterWhoseRunStopsLeavesTheQueueToTheNext(t *testing.T) {
	l := newLimiter(plan.Limits{Concurrency: 1, PerHost: 1, PerDatastore: 1})
	d := newDispatcher(l)
	_, hold, err := l.acquire(context.Background(), "ds1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() {
		_, _, err := d.acquire(ctx, "ds1", nil, true, time.Hour)
		stopped <- err
	}()
	for {
		d.mu.Lock()
		n := len(d.queues["ds1"])
		d.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	got := make(chan struct{})
	go func() {
		_, release, err := d.acquire(context.Background(), "ds1", nil, false, time.Second)
		if err == nil {
			release()
		}
		close(got)
	}()
	cancel()
	if err := <-stopped; err == nil {
		t.Fatal("a waiter whose context ended got a slot")
	}
	hold()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter behind a stopped one never got the slot")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.queues) != 0 {
		t.Errorf("queues left behind: %v", d.queues)
	}
}

func TestTheCriticalPathCountsLaterPhasesAndDependents(t *testing.T) {
	p, _, err := plan.Load("t.yaml", []byte(`apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: t}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: OLD}
target: {datacenter: NEW, cluster: C1, datastore: ds1}
estimates: {clone: 10m, power-on: 1m, verify: 3m, record-state: 0s, power-off: 2m, retire: 0s}
applications:
  - {name: base, strategy: redeploy, template: tpl, vms: [b1]}
  - {name: mid, strategy: redeploy, template: tpl, vms: [m1], dependsOn: [base]}
  - {name: top, strategy: redeploy, template: tpl, vms: [t1], dependsOn: [mid]}
  - {name: solo, strategy: redeploy, template: tpl, vms: [s1]}
waves: [{name: w1, applications: [base, mid, top, solo]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEngine(Options{Plan: p, Schedule: mustCompile(t, p)})
	if err != nil {
		t.Fatal(err)
	}
	const chain = 16 * time.Minute // clone, power-on, verify, power-off
	for _, c := range []struct {
		app  string
		want time.Duration
	}{
		{"solo", chain},
		{"top", chain},
		{"mid", 2 * chain},
		{"base", 3 * chain},
	} {
		if got := e.paths.left(c.app, 1, e.apps[c.app].sched.Steps); got != c.want {
			t.Errorf("%s: critical path %s, want %s", c.app, got, c.want)
		}
	}
}

func mustCompile(t *testing.T, p *plan.Plan) *schedule.Schedule {
	t.Helper()
	s, probs := schedule.Compile(p)
	if probs.Errors() > 0 {
		t.Fatal(probs)
	}
	return s
}
