package vsphere_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/vsphere"
)

// taskReads records, for every read of tasks, how many tasks it read, and
// every call that makes or uses a property collector of its own.
type taskReads struct {
	soap.RoundTripper
	mu         sync.Mutex
	reads      []int
	collectors []string
}

func (r *taskReads) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	r.mu.Lock()
	switch b := req.(type) {
	case *methods.RetrievePropertiesExBody:
		if readsTask(b.Req) {
			n := 0
			for _, spec := range b.Req.SpecSet {
				n += len(spec.ObjectSet)
			}
			r.reads = append(r.reads, n)
		}
	case *methods.CreatePropertyCollectorBody, *methods.CreateFilterBody, *methods.WaitForUpdatesExBody:
		r.collectors = append(r.collectors, strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", req), "*methods."), "Body"))
	}
	r.mu.Unlock()
	return r.RoundTripper.RoundTrip(ctx, req, res)
}

// TestOnePollerWaitsForManyTasksInFlightAtOnce runs a task on each of 16
// VMs at once through one driver (run it with -race): every wait ends
// with its own task's outcome, one that fails with its fault, one whose
// caller gives up with its context; the waits share their reads and make
// no property collector of their own.
func TestOnePollerWaitsForManyTasksInFlightAtOnce(t *testing.T) {
	s := newSim(t, func(m *simulator.Model) { m.Datacenter, m.Machine = 1, 8 })
	// Power-offs run for a while in vCenter, so that they overlap.
	old := simulator.TaskDelay
	simulator.TaskDelay = simulator.DelayConfig{MethodDelay: map[string]int{"PowerOff": 300, "LockHandoff": 0}}
	t.Cleanup(func() { simulator.TaskDelay = old })
	ctx := context.Background()
	c := s.client.Client
	rec := &taskReads{RoundTripper: c.RoundTripper}
	c.RoundTripper = rec
	d := vsphere.NewGovmomi("sim", c)
	inv, err := d.Inventory(ctx, "DC0")
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.VMs) < 10 {
		t.Fatalf("%d VMs in the simulator, want at least 10", len(inv.VMs))
	}
	failing, cancelled, rest := inv.VMs[0], inv.VMs[1], inv.VMs[2:]
	// Its reconfigure task fails in vCenter (TaskInProgress).
	s.model.Map().Put(&busyVM{s.model.Map().Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: failing.Ref}).(*simulator.VirtualMachine)})

	var wg sync.WaitGroup
	errs := make(chan error, len(rest))
	for _, vm := range rest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.PowerOff(ctx, vm.Ref); err != nil {
				errs <- err
			}
		}()
	}
	var failErr, cancelErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		failErr = d.Reconfigure(ctx, failing.Ref, vsphere.ReconfigureSpec{CPUs: failing.CPUs + 1})
	}()
	go func() {
		defer wg.Done()
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		cancelErr = d.PowerOff(cctx, cancelled.Ref)
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("power off: %v", err)
	}
	var f *vsphere.Fault
	if !errors.As(failErr, &f) || f.Kind != "TaskInProgress" || f.Op != "reconfigure" {
		t.Errorf("the failing task's wait ended with %#v, want its TaskInProgress fault", failErr)
	}
	if !errors.Is(cancelErr, context.DeadlineExceeded) {
		t.Errorf("the abandoned wait ended with %v, want its context's deadline", cancelErr)
	}
	for _, vm := range rest {
		got, err := d.VM(ctx, vm.Ref)
		if err != nil {
			t.Fatal(err)
		}
		if got.PowerState != vsphere.PoweredOff {
			t.Errorf("%s is %s after its power-off's wait ended", got.Name, got.PowerState)
		}
	}
	// The abandoned task carries on in vCenter; a new wait (a new poll
	// loop) sees it end.
	if n, err := d.WaitForTasks(ctx, 10*time.Second); err != nil || n > 1 {
		t.Errorf("waiting for the abandoned task: %d tasks, %v", n, err)
	}
	if got, err := d.VM(ctx, cancelled.Ref); err != nil || got.PowerState != vsphere.PoweredOff {
		t.Errorf("the abandoned power-off's VM: %+v, %v", got, err)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.collectors) > 0 {
		t.Errorf("waits made property collector calls: %s", strings.Join(rec.collectors, " "))
	}
	most := 0
	for _, n := range rec.reads {
		most = max(most, n)
	}
	tasks := len(rest) + 2
	if most < tasks/2 {
		t.Errorf("the most tasks one read covered is %d (reads %v), want at least %d of the %d in flight", most, rec.reads, tasks/2, tasks)
	}
	t.Logf("%d tasks waited for in %d reads of tasks (%v)", tasks, len(rec.reads), rec.reads)
}

// failingReads fails the first n reads of tasks.
type failingReads struct {
	soap.RoundTripper
	mu sync.Mutex
	n  int
}

func (r *failingReads) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	if b, ok := req.(*methods.RetrievePropertiesExBody); ok && readsTask(b.Req) {
		r.mu.Lock()
		fail := r.n > 0
		r.n--
		r.mu.Unlock()
		if fail {
			return errors.New("connection reset by peer")
		}
	}
	return r.RoundTripper.RoundTrip(ctx, req, res)
}

// A wait carries on across reads that fail (a network blip, a session
// being logged in again) and gives up, with the read's error, only after
// three in a row.
func TestATaskWaitOutlastsFailingReadsAndGivesUpAfterThree(t *testing.T) {
	s := newSim(t, func(m *simulator.Model) { m.Datacenter = 1 })
	ctx := context.Background()
	c := s.client.Client
	fr := &failingReads{RoundTripper: c.RoundTripper, n: 2}
	c.RoundTripper = fr
	d := vsphere.NewGovmomi("sim", c)
	vm := s.vm(t, "DC0", "DC0_C0_RP0_VM0").Reference().Value
	if err := d.PowerOff(ctx, vm); err != nil {
		t.Fatalf("power off across two failed reads: %v", err)
	}
	fr.mu.Lock()
	fr.n = 3
	fr.mu.Unlock()
	err := d.PowerOn(ctx, vm)
	if err == nil || !strings.Contains(err.Error(), "connection reset by peer") {
		t.Errorf("power on with three failed reads: %v, want the read's error", err)
	}
	// The task itself went on in vCenter.
	if got, err := d.VM(ctx, vm); err != nil || got.PowerState != vsphere.PoweredOn {
		t.Errorf("after the wait gave up: %+v %v", got, err)
	}
}

// A task of a kind the driver has seen end is read around when it should
// end, not every few tens of milliseconds while it runs: once the first
// power-ons have taught it that they take about 300ms, each further one
// costs a few reads.
func TestALongTaskOfAKnownKindIsReadAFewTimes(t *testing.T) {
	s := newSim(t, func(m *simulator.Model) { m.Datacenter = 1 })
	old := simulator.TaskDelay
	simulator.TaskDelay = simulator.DelayConfig{MethodDelay: map[string]int{"PowerOn": 300, "LockHandoff": 0}}
	t.Cleanup(func() { simulator.TaskDelay = old })
	ctx := context.Background()
	c := s.client.Client
	rec := &taskReads{RoundTripper: c.RoundTripper}
	c.RoundTripper = rec
	d := vsphere.NewGovmomi("sim", c)
	vm := s.vm(t, "DC0", "DC0_C0_RP0_VM0").Reference().Value
	reads := func() int {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.reads)
	}
	var per []int
	for i := 0; i < 5; i++ {
		if err := d.PowerOff(ctx, vm); err != nil {
			t.Fatal(err)
		}
		before := reads()
		if err := d.PowerOn(ctx, vm); err != nil {
			t.Fatal(err)
		}
		per = append(per, reads()-before)
	}
	t.Logf("reads of each 300ms power-on: %v", per)
	// Unknown, the first is read every 20ms for 160ms and then every
	// eighth of its age: about 14 reads.
	for i, n := range per[2:] {
		if n > 4 {
			t.Errorf("power-on #%d of a kind seen before took %d reads (all: %v), want at most 4", i+3, n, per)
		}
	}
}
