package sim

// vCenter's cost model, enforced as vCenter enforces it. Every migration
// and provisioning operation costs a share of its host's, datastore's and
// vMotion network's budget (plan/costs.go has VMware's figures and where
// they come from). vCenter does not refuse an operation over budget: its
// task waits in the queued state (TaskInfo.state queued, queueTime set,
// no startTime) and starts when other operations release enough. The
// simulator has no such limits and runs every task at once; a tool tested
// against it would look faster than it is on a real vCenter. Here the
// tasks of clone, create-VM and relocate (within one vCenter and across
// vCenters) wait queued the same way, so a tool that ignores the budgets
// gets slower, not wrong.
//
// The charged resources are the operation's destination: the host it runs
// the VM on, the datastore its files go to, and that host's vMotion
// network for a live move. The source side is not charged, as wavectl's
// engine does not charge it: a move's source usually lies behind another
// vCenter.

import (
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/plan"
)

// budgets holds one vCenter's budgets and what its running tasks take.
type budgets struct {
	limits  plan.Limits
	max     map[string]int // by kind: host, datastore, network
	off     bool
	mu      sync.Mutex
	changed chan struct{}
	used    map[string]int // by "host NAME", "datastore NAME", "network NAME"
	peak    map[string]int
	queued  int // tasks waiting now
	waited  int // tasks that waited at all
}

func newBudgets(l plan.Limits, off bool) *budgets {
	h, d, n := l.Budgets()
	return &budgets{limits: l, off: off, max: map[string]int{"host": h, "datastore": d, "network": n},
		changed: make(chan struct{}), used: map[string]int{}, peak: map[string]int{}}
}

// cost is one resource an operation charges.
type cost struct {
	kind, name string
	n          int
}

func (c cost) key() string { return c.kind + " " + c.name }

// costsOf is what an operation of step kind on host and datastore (names;
// "" when not known) costs; live says it moves a running VM.
func (b *budgets) costsOf(kind string, live bool, host, ds string) []cost {
	if b == nil || b.off {
		return nil
	}
	c := b.limits.CostOf(kind, live)
	var out []cost
	if c.Host > 0 && host != "" {
		out = append(out, cost{"host", host, c.Host})
	}
	if c.Datastore > 0 && ds != "" {
		out = append(out, cost{"datastore", ds, c.Datastore})
	}
	if c.Network > 0 && host != "" {
		out = append(out, cost{"network", host, c.Network})
	}
	for i := range out {
		// A cost above its budget runs alone rather than never (a plan
		// with one does not validate).
		out[i].n = min(out[i].n, b.max[out[i].kind])
	}
	return out
}

// acquire blocks until every charged budget has room, takes the costs
// and returns their release.
func (b *budgets) acquire(cs []cost) func() {
	if len(cs) == 0 {
		return func() {}
	}
	b.mu.Lock()
	counted := false
	for {
		fits := true
		for _, c := range cs {
			fits = fits && b.used[c.key()]+c.n <= b.max[c.kind]
		}
		if fits {
			break
		}
		if !counted {
			counted = true
			b.queued++
			b.waited++
		}
		ch := b.changed
		b.mu.Unlock()
		<-ch
		b.mu.Lock()
	}
	if counted {
		b.queued--
	}
	for _, c := range cs {
		b.used[c.key()] += c.n
		b.peak[c.key()] = max(b.peak[c.key()], b.used[c.key()])
	}
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			for _, c := range cs {
				b.used[c.key()] -= c.n
			}
			close(b.changed)
			b.changed = make(chan struct{})
			b.mu.Unlock()
		})
	}
}

// BudgetUse reports, for this vCenter, the most of each budget its tasks
// held at once (keyed "host NAME", "datastore NAME", "network NAME"), the
// budgets by kind, and how many tasks waited queued for room.
func (s *Sim) BudgetUse() (peaks map[string]int, max map[string]int, waited int) {
	b := s.budgets
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.peak), maps.Clone(b.max), b.waited
}

// startQueuedTask is startTask for an operation with costs: its task is
// queued (queueTime set, no startTime) until the budgets of bs have room
// for cs, then runs work and releases them. An operation with no cost
// starts at once.
func startQueuedTask(ctx *simulator.Context, bs *budgets, cs []cost, entity types.ManagedObjectReference, name string,
	work func() (types.AnyType, *types.LocalizedMethodFault)) types.ManagedObjectReference {
	if len(cs) == 0 {
		return startTask(ctx, entity, name, work)
	}
	t := simulator.CreateTask(entity, name, nil) // queued, with its queueTime
	t.Self = types.ManagedObjectReference{Type: "Task", Value: fmt.Sprintf("task-wsim-%d", taskSeq.Add(1))}
	t.Info.Key = t.Self.Value
	t.Info.Task = t.Self
	ctx.Map.Put(t)
	go func() {
		release := bs.acquire(cs)
		ctx.Map.AtomicUpdate(ctx, t, []types.PropertyChange{
			{Name: "info.startTime", Val: time.Now()},
			{Name: "info.state", Val: types.TaskInfoStateRunning},
		})
		res, fault := work()
		release()
		finishTask(ctx, t, res, fault)
	}()
	return t.Self
}

// hostName and datastoreName name the objects a cost is charged to.
func hostName(ctx *simulator.Context, ref *types.ManagedObjectReference) string {
	if ref == nil {
		return ""
	}
	if h, ok := ctx.Map.Get(*ref).(*simulator.HostSystem); ok {
		return h.Name
	}
	return ""
}

func datastoreName(ctx *simulator.Context, ref *types.ManagedObjectReference) string {
	if ref == nil {
		return ""
	}
	if d, ok := ctx.Map.Get(*ref).(*simulator.Datastore); ok {
		return d.Name
	}
	return ""
}
