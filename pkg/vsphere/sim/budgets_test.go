package sim

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/plan"
)

// cloneAll starts n clones of the demo's web template onto one host of its
// target cluster at once, as a tool that ignores vCenter's budgets would,
// and returns their tasks.
func cloneAll(t *testing.T, ctx context.Context, s *Sim, n int) (tasks []types.ManagedObjectReference, host string) {
	t.Helper()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	tpl := vmAt(t, ctx, c, "/DC1/vm/templates/tpl-rhel9-web")
	ct := demoTarget(t, ctx, c)
	h := ct.hosts[0].Reference()
	for i := range n {
		spec := types.VirtualMachineCloneSpec{Location: types.VirtualMachineRelocateSpec{Pool: &ct.pool, Datastore: &ct.ds, Host: &h}}
		task, err := tpl.Clone(ctx, ct.folder, "budget-"+string(rune('a'+i)), spec)
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task.Reference())
	}
	name, err := ct.hosts[0].ObjectName(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tasks, name
}

// taskInfos reads the tasks' info through the property collector.
func taskInfos(t *testing.T, ctx context.Context, s *Sim, refs []types.ManagedObjectReference) []types.TaskInfo {
	t.Helper()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Logout(context.Background()) }()
	var ts []mo.Task
	if err := property.DefaultCollector(c.Client).Retrieve(ctx, refs, []string{"info"}, &ts); err != nil {
		t.Fatal(err)
	}
	out := make([]types.TaskInfo, len(ts))
	for i, x := range ts {
		out[i] = x.Info
	}
	return out
}

// mostAtOnce is the most tasks running at one moment, from vCenter's
// own start and complete times.
func mostAtOnce(infos []types.TaskInfo) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var es []edge
	for _, in := range infos {
		if in.StartTime != nil && in.CompleteTime != nil {
			es = append(es, edge{*in.StartTime, 1}, edge{*in.CompleteTime, -1})
		}
	}
	sort.Slice(es, func(i, j int) bool {
		if !es[i].at.Equal(es[j].at) {
			return es[i].at.Before(es[j].at)
		}
		return es[i].delta < es[j].delta // an end before a start at the same instant
	})
	n, most := 0, 0
	for _, e := range es {
		n += e.delta
		most = max(most, n)
	}
	return most
}

// Six clones sent at once onto one host whose budget runs two (a clone
// costs 1 of it): the simulator, as vCenter, refuses none, runs two at a
// time and holds the rest queued (state queued, queueTime set, no
// startTime), as the property collector shows while they wait; all six
// succeed. Without the budgets, the same six run at once.
func TestClonesOverAHostsBudgetWaitQueuedAndAllSucceed(t *testing.T) {
	const n, budget = 6, 2
	ctx := context.Background()
	p := loadPlan(t, "../../../examples/demo.yaml")
	s, _ := start(t, p, Options{Limits: &plan.Limits{HostBudget: budget}, Delays: map[string]time.Duration{"CloneVm": time.Second}})
	refs, host := cloneAll(t, ctx, s, n)

	sawQueued := false
	for {
		infos := taskInfos(t, ctx, s, refs)
		running, finished := 0, 0
		for _, in := range infos {
			switch in.State {
			case types.TaskInfoStateQueued:
				sawQueued = true
				if in.StartTime != nil || in.QueueTime.IsZero() {
					t.Errorf("queued task %s: startTime %v, queueTime %v; want no startTime and a queueTime", in.Key, in.StartTime, in.QueueTime)
				}
			case types.TaskInfoStateRunning:
				running++
			default:
				finished++
			}
		}
		if running > budget {
			t.Errorf("%d clones running at once on one host, budget %d", running, budget)
		}
		if finished == n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sawQueued {
		t.Error("no clone was ever seen queued")
	}
	infos := taskInfos(t, ctx, s, refs)
	for _, in := range infos {
		if in.State != types.TaskInfoStateSuccess {
			t.Errorf("task %s ended %s: %v", in.Key, in.State, in.Error)
		}
		if in.StartTime == nil || in.StartTime.Before(in.QueueTime) {
			t.Errorf("task %s: queued %v, started %v", in.Key, in.QueueTime, in.StartTime)
		}
	}
	if most := mostAtOnce(infos); most > budget {
		t.Errorf("vCenter's task times show %d clones running at once, budget %d", most, budget)
	}
	peaks, max, waited := s.BudgetUse()
	if peaks["host "+host] != budget || max["host"] != budget || waited == 0 {
		t.Errorf("budget use %v of %v, %d waited; want host %s at %d, and some waiting", peaks, max, waited, host, budget)
	}

	// The same clones with the budgets off run side by side: the budget
	// is what held them back.
	s2, _ := start(t, p, Options{NoBudgets: true, Delays: map[string]time.Duration{"CloneVm": time.Second}})
	refs2, _ := cloneAll(t, ctx, s2, n)
	c2, err := s2.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refs2 {
		if err := object.NewTask(c2.Client, r).Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if most := mostAtOnce(taskInfos(t, ctx, s2, refs2)); most <= budget {
		t.Errorf("without budgets at most %d clones ran at once; want more than %d (the simulator's own behaviour)", most, budget)
	}
}

// Two live moves (relocates of running VMs, a vMotion with storage: 4 of
// a host's budget) onto a host whose budget is 4 run one after the other:
// the second waits queued, and both arrive.
func TestLiveMovesOverAHostsBudgetWaitQueued(t *testing.T) {
	ctx := context.Background()
	p := loadPlan(t, "../../../examples/demo.yaml")
	s, c := start(t, p, Options{Limits: &plan.Limits{HostBudget: 4}, Delays: map[string]time.Duration{"RelocateVm": time.Second}})
	ct := demoTarget(t, ctx, c)
	h := ct.hosts[0].Reference()
	folder := ct.folder.Reference()
	var refs []types.ManagedObjectReference
	for _, name := range []string{"ccm-app-01", "ccm-app-02"} {
		vm := vmAt(t, ctx, c, "/DC-OLD/vm/"+name)
		if st := powerState(t, ctx, vm); st != types.VirtualMachinePowerStatePoweredOn {
			t.Fatalf("%s is %s; the test needs it running", name, st)
		}
		task, err := vm.Relocate(ctx, types.VirtualMachineRelocateSpec{Host: &h, Pool: &ct.pool, Datastore: &ct.ds, Folder: &folder}, types.VirtualMachineMovePriorityDefaultPriority)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, task.Reference())
	}
	if infos := taskInfos(t, ctx, s, refs); infos[1].State != types.TaskInfoStateQueued && infos[0].State != types.TaskInfoStateQueued {
		t.Errorf("neither live move is queued while the other runs: %s, %s", infos[0].State, infos[1].State)
	}
	for _, r := range refs {
		if err := object.NewTask(c.Client, r).Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	infos := taskInfos(t, ctx, s, refs)
	if most := mostAtOnce(infos); most != 1 {
		t.Errorf("%d live moves ran at once on a host of budget 4, want 1", most)
	}
	for _, name := range []string{"ccm-app-01", "ccm-app-02"} {
		vmAt(t, ctx, c, "/DC1/vm/migrated/"+name)
	}
	if peaks, _, waited := s.BudgetUse(); waited != 1 || peaks["network "+hostNameOf(t, ctx, ct)] != 1 {
		t.Errorf("budget use %v, %d waited; want the host's network at 1 and one move waiting", peaks, waited)
	}
}

func hostNameOf(t *testing.T, ctx context.Context, ct cloneTarget) string {
	t.Helper()
	n, err := ct.hosts[0].ObjectName(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
