package vsphere

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// taskWatcher waits for all of a driver's tasks through one property
// collector, instead of one per task. Waiting for a task the usual way
// (govmomi's Task.Wait) costs five or six calls: make a collector, make a
// filter, wait for updates once or twice, destroy the filter and the
// collector. The watcher has one collector with one filter on the task
// manager's recent tasks, and one loop that waits for their updates and
// hands each finished task's info to whoever waits for it; a task then
// costs the call that starts it and a share of one wait.
//
// When the watcher cannot say (its collector failed, the session ended, or
// a task left the recent tasks before it was seen to finish), the waiter
// falls back to waiting for its task on its own.
type taskWatcher struct {
	g *Govmomi

	mu      sync.Mutex
	waiters map[types.ManagedObjectReference]chan taskResult
	// seen holds tasks seen finished that nobody waited for yet (a task
	// can end before its starter registers), with when they were seen.
	seen    map[types.ManagedObjectReference]seenTask
	running bool
	idle    time.Time // when the last waiter left, while running
}

type taskResult struct {
	info *types.TaskInfo
	// unknown: the watcher could not follow the task; wait on your own.
	unknown bool
}

type seenTask struct {
	info types.TaskInfo
	at   time.Time
}

// watcherIdle is how long the watcher's loop outlives its last waiter.
const watcherIdle = 2 * time.Second

func (g *Govmomi) watcher() *taskWatcher {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.tasks == nil {
		g.tasks = &taskWatcher{g: g, waiters: map[types.ManagedObjectReference]chan taskResult{}, seen: map[types.ManagedObjectReference]seenTask{}}
	}
	return g.tasks
}

// wait returns the finished task's info, or ok false when the watcher
// cannot follow it (the caller then waits on its own).
func (w *taskWatcher) wait(ctx context.Context, task types.ManagedObjectReference) (info *types.TaskInfo, ok bool, err error) {
	w.mu.Lock()
	if s, found := w.seen[task]; found {
		delete(w.seen, task)
		w.mu.Unlock()
		return &s.info, true, nil
	}
	ch := make(chan taskResult, 1)
	w.waiters[task] = ch
	if !w.running {
		w.running = true
		go w.loop()
	}
	w.mu.Unlock()
	leave := func() {
		w.mu.Lock()
		delete(w.waiters, task)
		if len(w.waiters) == 0 {
			w.idle = time.Now()
		}
		w.mu.Unlock()
	}
	// A safety net: should an update be missed, the task is looked at
	// directly now and then (one small read), so no wait outlives its
	// task by more than taskRecheck.
	recheck := time.NewTicker(taskRecheck)
	defer recheck.Stop()
	for {
		select {
		case r := <-ch:
			return r.info, !r.unknown, nil
		case <-ctx.Done():
			leave()
			return nil, false, ctx.Err()
		case <-recheck.C:
			var t mo.Task
			err := property.DefaultCollector(w.g.c).RetrieveOne(ctx, task, []string{"info"}, &t)
			if err != nil || t.Info.State == types.TaskInfoStateSuccess || t.Info.State == types.TaskInfoStateError {
				leave()
				select {
				case r := <-ch: // it came in meanwhile
					return r.info, !r.unknown, nil
				default:
				}
				if err != nil {
					return nil, false, nil // wait on your own
				}
				return &t.Info, true, nil
			}
		}
	}
}

// taskRecheck is how often a waiter looks at its task itself.
const taskRecheck = 10 * time.Second

// loop follows the recent tasks until nobody has waited for watcherIdle,
// or the collector fails; then every waiter left is told to wait on its
// own.
func (w *taskWatcher) loop() {
	ctx := context.Background()
	c := w.g.c
	pc, err := w.start(ctx)
	if err == nil {
		defer func() {
			_, _ = methods.DestroyPropertyCollector(ctx, c, &types.DestroyPropertyCollector{This: pc})
		}()
	}
	infos := map[types.ManagedObjectReference]*types.TaskInfo{}
	version := ""
	for err == nil {
		if w.stopIfIdle() {
			return
		}
		var res *types.WaitForUpdatesExResponse
		res, err = methods.WaitForUpdatesEx(ctx, c, &types.WaitForUpdatesEx{
			This: pc, Version: version,
			// Short waits, so that an idle watcher notices and stops.
			Options: &types.WaitOptions{MaxWaitSeconds: types.NewInt32(1)},
		})
		if err != nil || res.Returnval == nil {
			continue
		}
		set := res.Returnval
		version = set.Version
		for _, fs := range set.FilterSet {
			for _, u := range fs.ObjectSet {
				w.update(u, infos)
			}
		}
	}
	// The collector failed: let everyone wait on their own, and start again
	// for the next waiter.
	w.mu.Lock()
	for t, ch := range w.waiters {
		ch <- taskResult{unknown: true}
		delete(w.waiters, t)
	}
	w.running = false
	w.mu.Unlock()
}

// stopIfIdle ends the loop when nobody has waited for watcherIdle.
func (w *taskWatcher) stopIfIdle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.waiters) > 0 {
		w.idle = time.Time{}
		return false
	}
	if w.idle.IsZero() {
		w.idle = time.Now()
	}
	if time.Since(w.idle) < watcherIdle {
		return false
	}
	w.running = false
	w.idle = time.Time{}
	clear(w.seen)
	return true
}

// update records a task's change and hands it over when it has finished.
func (w *taskWatcher) update(u types.ObjectUpdate, infos map[types.ManagedObjectReference]*types.TaskInfo) {
	if u.Obj.Type != "Task" {
		return
	}
	if u.Kind == types.ObjectUpdateKindLeave {
		delete(infos, u.Obj)
		w.mu.Lock()
		if ch, ok := w.waiters[u.Obj]; ok {
			ch <- taskResult{unknown: true} // gone from the recent tasks unseen
			delete(w.waiters, u.Obj)
		}
		w.mu.Unlock()
		return
	}
	for _, c := range u.ChangeSet {
		if c.Name != "info" {
			continue
		}
		if info, ok := c.Val.(types.TaskInfo); ok {
			infos[u.Obj] = &info
		}
	}
	info := infos[u.Obj]
	if info == nil || (info.State != types.TaskInfoStateSuccess && info.State != types.TaskInfoStateError) {
		return
	}
	delete(infos, u.Obj)
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.waiters[u.Obj]; ok {
		ch <- taskResult{info: info}
		delete(w.waiters, u.Obj)
		if len(w.waiters) == 0 {
			w.idle = time.Now()
		}
		return
	}
	now := time.Now()
	w.seen[u.Obj] = seenTask{info: *info, at: now}
	for t, s := range w.seen {
		if now.Sub(s.at) > time.Minute {
			delete(w.seen, t) // another client's task, or one given up on
		}
	}
}

// start makes the watcher's collector and its filter: every task in the
// task manager's recentTask, with its info.
func (w *taskWatcher) start(ctx context.Context) (types.ManagedObjectReference, error) {
	c := w.g.c
	if c.ServiceContent.TaskManager == nil {
		return types.ManagedObjectReference{}, errors.New("no task manager")
	}
	pc, err := methods.CreatePropertyCollector(ctx, c, &types.CreatePropertyCollector{This: c.ServiceContent.PropertyCollector})
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	_, err = methods.CreateFilter(ctx, c, &types.CreateFilter{This: pc.Returnval, Spec: types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{Obj: *c.ServiceContent.TaskManager, Skip: types.NewBool(true), SelectSet: []types.BaseSelectionSpec{
			&types.TraversalSpec{Type: "TaskManager", Path: "recentTask", Skip: types.NewBool(false)},
		}}},
		PropSet: []types.PropertySpec{{Type: "Task", PathSet: []string{"info"}}},
	}})
	if err != nil {
		_, _ = methods.DestroyPropertyCollector(ctx, c, &types.DestroyPropertyCollector{This: pc.Returnval})
		return types.ManagedObjectReference{}, err
	}
	return pc.Returnval, nil
}
