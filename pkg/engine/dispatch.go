package engine

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
)

// Dispatch: which waiting unit gets the next slot, and which steps need
// one at all.
//
// The limiter (limits.go) says whether a unit fits; on its own it lets
// whichever waiter wakes first have the slot, so a wave's order is chance.
// The dispatcher queues the units waiting for each target datastore and
// lets only the first of each queue try the limiter:
//
//   - a unit already under way (it held a slot earlier in this run) goes
//     before one that has not started, so that a VM's steps follow each
//     other closely (a remediated VM is down from its power-off to its
//     verification) and the VMs in progress stay few;
//   - then the unit with the most work left on its critical path goes
//     first: its own remaining steps, its application's later phases,
//     and the longest chain of applications that wait for its application
//     (dependsOn). The applications others wait for start first, the
//     longest units start early rather than last (a 10-minute relocate
//     started last is the wave's tail), and short units fill the gaps.
//
// A unit that arrives ahead of a queue's first preempts it (the first's
// try at the limiter is cancelled and it waits again). A queue's first
// waits only for the limiter: for room on its datastore, on a host of its
// cluster, and in the run's concurrency.
type dispatcher struct {
	l *limiter

	mu     sync.Mutex
	seq    int
	queues map[string][]*waiter // by target datastore, in dispatch order
}

// waiter is one unit waiting for a slot.
type waiter struct {
	started bool          // it held a slot earlier in this run
	left    time.Duration // work left on its critical path
	seq     int           // arrival, for ties

	// turn is closed when the waiter is first in its queue (up); try
	// cancels its attempt at the limiter while it makes one.
	turn chan struct{}
	up   bool
	try  context.CancelFunc
}

func newDispatcher(l *limiter) *dispatcher {
	return &dispatcher{l: l, queues: map[string][]*waiter{}}
}

// before says whether a goes before b.
func (a *waiter) before(b *waiter) bool {
	if a.started != b.started {
		return a.started
	}
	if a.left != b.left {
		return a.left > b.left
	}
	return a.seq < b.seq
}

// acquire waits for the unit's turn on datastore ds, then for a slot from
// the limiter (on ds and one of hosts); it returns the host chosen and the
// slot's release.
func (d *dispatcher) acquire(ctx context.Context, ds string, hosts []string, started bool, left time.Duration) (string, func(), error) {
	w := &waiter{started: started, left: left, turn: make(chan struct{})}
	d.mu.Lock()
	d.seq++
	w.seq = d.seq
	q := d.queues[ds]
	i, _ := slices.BinarySearchFunc(q, w, func(x, w *waiter) int {
		if x.before(w) {
			return -1
		}
		return 1
	})
	q = slices.Insert(q, i, w)
	d.queues[ds] = q
	if i == 0 {
		if len(q) > 1 {
			d.demote(q[1])
		}
		d.promote(w)
	}
	d.mu.Unlock()
	for {
		d.mu.Lock()
		turn := w.turn
		d.mu.Unlock()
		select {
		case <-turn:
		case <-ctx.Done():
			d.leave(ds, w)
			return "", nil, ctx.Err()
		}
		d.mu.Lock()
		if q := d.queues[ds]; len(q) == 0 || q[0] != w {
			d.mu.Unlock() // overtaken since: demote gave it a new turn to wait for
			continue
		}
		try, cancel := context.WithCancel(ctx)
		w.try = cancel
		d.mu.Unlock()
		host, release, err := d.l.acquire(try, ds, hosts)
		cancel()
		d.mu.Lock()
		w.try = nil
		d.mu.Unlock()
		if err == nil || ctx.Err() != nil {
			d.leave(ds, w)
			if err != nil {
				return "", nil, ctx.Err()
			}
			return host, release, nil
		}
		// Overtaken while trying: wait for the turn again.
	}
}

// promote makes w the one of its queue that may try the limiter. Called
// with d.mu held.
func (d *dispatcher) promote(w *waiter) {
	if !w.up {
		w.up = true
		close(w.turn)
	}
}

// demote takes the turn from w, overtaken by a unit that goes before it,
// cancelling its attempt at the limiter. Called with d.mu held.
func (d *dispatcher) demote(w *waiter) {
	if w.try != nil {
		w.try()
	}
	if w.up {
		w.up = false
		w.turn = make(chan struct{})
	}
}

// leave takes w out of its queue and gives the turn to the next.
func (d *dispatcher) leave(ds string, w *waiter) {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.queues[ds]
	i := slices.Index(q, w)
	if i < 0 {
		return
	}
	q = slices.Delete(q, i, i+1)
	if len(q) == 0 {
		delete(d.queues, ds)
		return
	}
	d.queues[ds] = q
	if i == 0 {
		d.promote(q[0])
	}
}

// slotless says whether a step kind runs without a slot: it puts no work
// on vCenter's hosts or datastores. Verification waits for the guest (its
// tools, its IP, the TCP checks and verify hooks), often for minutes, and
// a unit waiting for its guest would otherwise keep another VM's clone or
// relocate from starting.
func slotless(kind string) bool {
	return kind == plan.StepVerify
}

// criticalPaths is, per application, the work left after each phase of it
// ends: its later phases (each as long as its longest unit) and the
// longest chain of the applications that wait for it, by the schedule's
// estimates; at beforeAll, the whole of it.
type criticalPaths map[string]map[int]time.Duration

// beforeAll keys an application's whole critical path in criticalPaths.
const beforeAll = -1

func newCriticalPaths(apps map[string]*appRun) criticalPaths {
	dependents := map[string][]string{}
	for name, ar := range apps {
		if ar.app == nil {
			continue
		}
		for _, dep := range ar.app.DependsOn {
			dependents[dep] = append(dependents[dep], name)
		}
	}
	spans := map[string]map[int]time.Duration{} // per app, per phase: its longest unit
	phases := map[string][]int{}
	for name, ar := range apps {
		span, per := map[int]time.Duration{}, map[phaseUnit]time.Duration{}
		for _, st := range ar.sched.Steps {
			if !st.Deferred {
				per[phaseUnit{st.Phase, st.Unit}] += time.Duration(st.Estimate)
			}
		}
		for k, d := range per {
			span[k.phase] = max(span[k.phase], d)
		}
		spans[name] = span
		for ph := range span {
			phases[name] = append(phases[name], ph)
		}
		slices.Sort(phases[name])
	}
	// downstream: the longest chain of dependents after an application.
	down := map[string]time.Duration{}
	var walk func(name string, seen map[string]bool) time.Duration
	walk = func(name string, seen map[string]bool) time.Duration {
		if d, ok := down[name]; ok {
			return d
		}
		if seen[name] { // a cycle: validation refuses them, but never loop
			return 0
		}
		seen[name] = true
		var longest time.Duration
		for _, dep := range dependents[name] {
			var span time.Duration
			for _, d := range spans[dep] {
				span += d
			}
			longest = max(longest, span+walk(dep, seen))
		}
		down[name] = longest
		return longest
	}
	out := criticalPaths{}
	for name := range apps {
		after := map[int]time.Duration{}
		rest := walk(name, map[string]bool{})
		ph := phases[name]
		for i := len(ph) - 1; i >= 0; i-- {
			after[ph[i]] = rest
			rest += spans[name][ph[i]]
		}
		after[beforeAll] = rest
		out[name] = after
	}
	return out
}

type phaseUnit struct {
	phase int
	unit  string
}

// left is the work on the critical path of a unit about to run steps (the
// rest of its phase), in application app's phase.
func (c criticalPaths) left(app string, phase int, steps []schedule.Step) time.Duration {
	var d time.Duration
	for _, st := range steps {
		if !st.Deferred {
			d += time.Duration(st.Estimate)
		}
	}
	return d + c[app][phase]
}

// order is apps with the longest critical path first (stable).
func (c criticalPaths) order(apps []*schedule.App) []*schedule.App {
	out := slices.Clone(apps)
	slices.SortStableFunc(out, func(a, b *schedule.App) int { return cmp.Compare(c[b.Name][beforeAll], c[a.Name][beforeAll]) })
	return out
}
