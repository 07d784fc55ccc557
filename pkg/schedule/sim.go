package schedule

import (
	"container/heap"
	"sort"
	"time"
)

// task is one unit of work in the estimate: a VM's chain of steps, a hook,
// or a whole application on the conveyor. Tasks start in index order as
// soon as their dependencies are done and every resource they hold (res:
// the run's, a datastore's and a host's slots) has a free slot, and hold
// those slots until their last step ends: the same greedy list scheduling
// the engine does. A chain's steps (segs) run one after another, each
// waiting, when it has a cost, until every budget it charges has room
// for it, and holding that cost only while it runs: vCenter's cost model
// (plan/costs.go), as the engine keeps it.
type task struct {
	dur  time.Duration
	deps []int
	res  []string
	segs []seg

	waiting    int
	dependents []int
	start, end time.Duration
	next       int // the step to run next
}

// seg is one step of a chain: how long it runs and what it costs, by
// budget ("bh:HOST", "bd:DATASTORE", "bn:HOST").
type seg struct {
	dur  time.Duration
	cost map[string]int
}

type tasks []*task

func (ts *tasks) add(dur time.Duration, res []string, deps ...int) int {
	*ts = append(*ts, &task{dur: dur, res: res, deps: deps})
	return len(*ts) - 1
}

// addChain adds a chain of steps holding res from its first step's start
// to its last one's end.
func (ts *tasks) addChain(segs []seg, res []string, deps ...int) int {
	var dur time.Duration
	for _, s := range segs {
		dur = sat(dur, s.dur)
	}
	*ts = append(*ts, &task{dur: dur, res: res, deps: deps, segs: segs})
	return len(*ts) - 1
}

// run simulates the tasks against capacities (slots for res, budgets for
// segments' costs) and returns the makespan. Resources missing from caps
// are unbounded.
func (ts tasks) run(caps map[string]int) time.Duration {
	for _, t := range ts {
		t.waiting = len(t.deps)
		t.dependents = t.dependents[:0]
		t.next = 0
		if len(t.segs) == 0 {
			t.segs = []seg{{dur: t.dur}}
		}
	}
	for i, t := range ts {
		for _, d := range t.deps {
			ts[d].dependents = append(ts[d].dependents, i)
		}
	}
	var ready []int // sorted by index
	for i, t := range ts {
		if t.waiting == 0 {
			ready = append(ready, i)
		}
	}
	used := map[string]int{}
	var active []int // started chains whose next step waits for its budgets, sorted by index
	running := &endHeap{}
	var now, makespan time.Duration
	fits := func(t *task) bool {
		for _, r := range t.res {
			if c, ok := caps[r]; ok && used[r] >= c {
				return false
			}
		}
		return true
	}
	affords := func(s seg) bool {
		for r, n := range s.cost {
			// A cost above its budget (validation refuses it) runs alone.
			if c, ok := caps[r]; ok && used[r] > 0 && used[r]+n > c {
				return false
			}
		}
		return true
	}
	for len(ready) > 0 || len(active) > 0 || running.Len() > 0 {
		kept := ready[:0]
		started := false
		for _, i := range ready {
			t := ts[i]
			if !fits(t) {
				kept = append(kept, i)
				continue
			}
			for _, r := range t.res {
				used[r]++
			}
			t.start = now
			active = append(active, i)
			started = true
		}
		ready = kept
		if started {
			sort.Ints(active)
		}
		waiting := active[:0]
		for _, i := range active {
			t := ts[i]
			s := t.segs[t.next]
			if !affords(s) {
				waiting = append(waiting, i)
				continue
			}
			for r, n := range s.cost {
				used[r] += n
			}
			heap.Push(running, endItem{sat(now, s.dur), i})
		}
		active = waiting
		if running.Len() == 0 {
			break // only reachable with a zero capacity
		}
		it := heap.Pop(running).(endItem)
		now = it.end
		makespan = max(makespan, now)
		t := ts[it.idx]
		for r, n := range t.segs[t.next].cost {
			used[r] -= n
		}
		t.next++
		if t.next < len(t.segs) {
			active = append(active, it.idx)
			sort.Ints(active)
			continue
		}
		t.end = now
		for _, r := range t.res {
			used[r]--
		}
		var woke []int
		for _, d := range t.dependents {
			ts[d].waiting--
			if ts[d].waiting == 0 {
				woke = append(woke, d)
			}
		}
		if len(woke) > 0 {
			ready = append(ready, woke...)
			sort.Ints(ready)
		}
	}
	return makespan
}

type endItem struct {
	end time.Duration
	idx int
}

type endHeap []endItem

func (h endHeap) Len() int { return len(h) }
func (h endHeap) Less(i, j int) bool {
	if h[i].end != h[j].end {
		return h[i].end < h[j].end
	}
	return h[i].idx < h[j].idx
}
func (h endHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *endHeap) Push(x any)   { *h = append(*h, x.(endItem)) }
func (h *endHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
