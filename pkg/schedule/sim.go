package schedule

import (
	"container/heap"
	"sort"
	"time"
)

// task is one unit of work in the estimate: a VM's chain of steps, a hook,
// or a whole application on the conveyor. Tasks start in index order as
// soon as their dependencies are done and every resource they hold has a
// free slot: the same greedy list scheduling the engine does.
type task struct {
	dur  time.Duration
	deps []int
	res  []string

	waiting    int
	dependents []int
	start, end time.Duration
}

type tasks []*task

func (ts *tasks) add(dur time.Duration, res []string, deps ...int) int {
	*ts = append(*ts, &task{dur: dur, res: res, deps: deps})
	return len(*ts) - 1
}

// run simulates the tasks against resource capacities and returns the
// makespan. Resources missing from caps are unbounded.
func (ts tasks) run(caps map[string]int) time.Duration {
	for i, t := range ts {
		t.waiting = len(t.deps)
		t.dependents = t.dependents[:0]
		_ = i
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
	for len(ready) > 0 || running.Len() > 0 {
		kept := ready[:0]
		for _, i := range ready {
			t := ts[i]
			if !fits(t) {
				kept = append(kept, i)
				continue
			}
			for _, r := range t.res {
				used[r]++
			}
			t.start, t.end = now, sat(now, t.dur)
			heap.Push(running, endItem{t.end, i})
		}
		ready = kept
		if running.Len() == 0 {
			break // only reachable with a zero capacity
		}
		it := heap.Pop(running).(endItem)
		now = it.end
		makespan = max(makespan, now)
		done := ts[it.idx]
		for _, r := range done.res {
			used[r]--
		}
		var woke []int
		for _, d := range done.dependents {
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
