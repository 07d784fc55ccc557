package vsphere

import (
	"context"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

// TaskTimes adds up, for the vCenter tasks run under one context, how long
// they waited in vCenter's queue and how long they ran, from vCenter's own
// TaskInfo: queueTime to startTime is time queued (vCenter holds a task
// queued while the host's, datastore's or network's budget is spent; see
// plan/costs.go), startTime to completeTime time running. A step's
// duration as wavectl sees it holds both, and its reads besides.
type TaskTimes struct {
	mu      sync.Mutex
	tasks   int
	queued  time.Duration
	running time.Duration
}

// Totals returns the tasks seen and their time queued and running.
func (t *TaskTimes) Totals() (tasks int, queued, running time.Duration) {
	if t == nil {
		return 0, 0, 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tasks, t.queued, t.running
}

func (t *TaskTimes) add(info *types.TaskInfo) {
	if info == nil || info.StartTime == nil {
		return
	}
	q := info.StartTime.Sub(info.QueueTime)
	var r time.Duration
	if info.CompleteTime != nil {
		r = info.CompleteTime.Sub(*info.StartTime)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tasks++
	t.queued += max(q, 0)
	t.running += max(r, 0)
}

type taskTimesKey struct{}

// WithTaskTimes returns a context under which every task the govmomi
// driver waits for adds its times to t.
func WithTaskTimes(ctx context.Context, t *TaskTimes) context.Context {
	return context.WithValue(ctx, taskTimesKey{}, t)
}

// noteTaskTimes adds a finished task's times to the context's TaskTimes,
// if it has one.
func noteTaskTimes(ctx context.Context, info *types.TaskInfo) {
	if t, ok := ctx.Value(taskTimesKey{}).(*TaskTimes); ok && t != nil {
		t.add(info)
	}
}
