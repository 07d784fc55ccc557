package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func vmAt(t *testing.T, ctx context.Context, c *govmomi.Client, path string) *object.VirtualMachine {
	t.Helper()
	vm, err := find.NewFinder(c.Client).VirtualMachine(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// done waits for the task a call returned.
func done(t *object.Task, err error) error {
	if err != nil {
		return err
	}
	return t.Wait(context.Background())
}

func faultOf(err error) types.BaseMethodFault {
	var terr task.Error
	if errors.As(err, &terr) {
		return terr.Fault()
	}
	return nil
}

func powerState(t *testing.T, ctx context.Context, vm *object.VirtualMachine) types.VirtualMachinePowerState {
	t.Helper()
	st, err := vm.PowerState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestNamedVMsAlwaysFail(t *testing.T) {
	ctx := context.Background()
	p := loadPlan(t, "../../../examples/demo.yaml")
	_, c := start(t, p, Options{Faults: []Fault{
		{Op: "PowerOffVM_Task", VMs: []string{"ccm-app-01"}, Message: "the VM is welded on"},
		{Op: "CloneVm", VMs: []string{"portal-web-01-new"}},
	}})
	welded := vmAt(t, ctx, c, "/DC-OLD/vm/ccm-app-01")
	for range 2 {
		err := done(welded.PowerOff(ctx))
		if err == nil || err.Error() != "the VM is welded on" {
			t.Fatalf("power off: %v, want the fault's own text", err)
		}
		if _, ok := faultOf(err).(*types.NotSupported); !ok {
			t.Errorf("fault %T, want a permanent one (NotSupported)", faultOf(err))
		}
	}
	if st := powerState(t, ctx, welded); st != types.VirtualMachinePowerStatePoweredOn {
		t.Errorf("a failed power off left the VM %s", st)
	}
	other := vmAt(t, ctx, c, "/DC-OLD/vm/ccm-app-02")
	if err := done(other.PowerOff(ctx)); err != nil {
		t.Errorf("another VM: %v", err)
	}

	// A clone fails by the name of the VM it would make.
	tpl := vmAt(t, ctx, c, "/DC1/vm/templates/tpl-rhel9-web")
	ct := demoTarget(t, ctx, c)
	err := done(tpl.Clone(ctx, ct.folder, "portal-web-01-new", ct.spec(1)))
	if err == nil || !strings.Contains(err.Error(), "portal-web-01-new") || !strings.Contains(err.Error(), "CloneVM_Task") {
		t.Errorf("clone: %v, want the default text naming the operation and VM", err)
	}
	if _, err := find.NewFinder(c.Client).VirtualMachine(ctx, "/DC1/vm/migrated/portal-web-01-new"); err == nil {
		t.Error("a failed clone left a VM behind")
	}
	if err := done(tpl.Clone(ctx, ct.folder, "portal-web-02-new", ct.spec(1))); err != nil {
		t.Errorf("another clone: %v", err)
	}
}

// demoTarget is where the demo plan's carers-portal goes.
func demoTarget(t *testing.T, ctx context.Context, c *govmomi.Client) cloneTarget {
	t.Helper()
	f := find.NewFinder(c.Client)
	folder, err := f.Folder(ctx, "/DC1/vm/migrated")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := f.ClusterComputeResource(ctx, "/DC1/host/C1-Gold")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := cl.ResourcePool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := cl.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := f.Datastore(ctx, "/DC1/datastore/ds-gold-01")
	if err != nil {
		t.Fatal(err)
	}
	return cloneTarget{folder: folder, pool: pool.Reference(), ds: ds.Reference(), hosts: hosts}
}

// reconfigureMany reconfigures vm n times, one after the other, and says
// which attempts failed.
func reconfigureMany(t *testing.T, ctx context.Context, vm *object.VirtualMachine, n int) []bool {
	t.Helper()
	failed := make([]bool, n)
	for i := range n {
		err := done(vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{Annotation: fmt.Sprint("attempt ", i)}))
		if err == nil {
			continue
		}
		if _, ok := faultOf(err).(*types.HostCommunication); !ok {
			t.Fatalf("attempt %d: %v (%T), want a transient HostCommunication fault", i, err, faultOf(err))
		}
		failed[i] = true
	}
	return failed
}

func TestTransientFaultsFailAShareOfTasks(t *testing.T) {
	const attempts, share = 200, 0.3
	ctx := context.Background()
	p := loadPlan(t, "../../../examples/demo.yaml")
	opts := Options{Seed: 42, Faults: []Fault{{Op: "ReconfigVM_Task", Fraction: share, Transient: true}}}

	var runs [][]bool
	for range 2 {
		s, c := start(t, p, opts)
		failed := reconfigureMany(t, ctx, vmAt(t, ctx, c, "/DC-OLD/vm/careri-01"), attempts)
		n := 0
		for _, f := range failed {
			if f {
				n++
			}
		}
		if lo, hi := attempts*(share-0.1), attempts*(share+0.1); float64(n) < lo || float64(n) > hi {
			t.Errorf("%d of %d reconfigures failed, want %v to %v", n, attempts, lo, hi)
		}
		runs = append(runs, failed)
		_ = s.Close()
	}
	if fmt.Sprint(runs[0]) != fmt.Sprint(runs[1]) {
		t.Error("the same seed and the same calls failed different attempts")
	}
}

// A permanent fault picks VMs, not attempts: a retry fails again.
func TestPermanentFaultFractionSticksToVMs(t *testing.T) {
	ctx := context.Background()
	p := loadPlan(t, "../../../examples/demo.yaml")
	_, c := start(t, p, Options{Seed: 7, Faults: []Fault{{Op: "ReconfigVM_Task", Fraction: 0.5}}})
	vms, err := find.NewFinder(c.Client).VirtualMachineList(ctx, "/DC-OLD/vm/*")
	if err != nil {
		t.Fatal(err)
	}
	failing := 0
	for _, vm := range vms {
		var outcomes []bool
		for range 3 {
			err := done(vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{Annotation: "x"}))
			if err != nil {
				if _, ok := faultOf(err).(*types.NotSupported); !ok {
					t.Fatalf("%s: %v (%T), want NotSupported", vm.Name(), err, faultOf(err))
				}
			}
			outcomes = append(outcomes, err != nil)
		}
		if outcomes[0] != outcomes[1] || outcomes[1] != outcomes[2] {
			t.Errorf("%s: outcomes %v change between attempts", vm.Name(), outcomes)
		}
		if outcomes[0] {
			failing++
		}
	}
	if failing == 0 || failing == len(vms) {
		t.Errorf("%d of %d VMs fail: want some of them", failing, len(vms))
	}
}

func TestAPIFaultsFailTheCall(t *testing.T) {
	ctx := context.Background()
	p := loadPlan(t, "../../../examples/demo.yaml")
	_, c := start(t, p, Options{Faults: []Fault{
		{Op: "ShutdownGuest", VMs: []string{"ccm-app-01"}, Message: "tools are not answering"},
		{Op: "RelocateVM_Task", API: true, VMs: []string{"careri-01"}, Transient: true},
	}})
	err := vmAt(t, ctx, c, "/DC-OLD/vm/ccm-app-01").ShutdownGuest(ctx)
	if err == nil || !strings.Contains(err.Error(), "tools are not answering") {
		t.Errorf("shutdown: %v", err)
	}
	if err := vmAt(t, ctx, c, "/DC-OLD/vm/ccm-app-02").ShutdownGuest(ctx); err != nil {
		t.Errorf("another VM's shutdown: %v", err)
	}
	// The call itself fails: there is no task to wait for.
	_, err = vmAt(t, ctx, c, "/DC-OLD/vm/careri-01").Relocate(ctx, types.VirtualMachineRelocateSpec{}, "")
	if err == nil || !strings.Contains(err.Error(), "transient fault injected by wavectl sim in RelocateVM_Task") {
		t.Errorf("relocate: %v", err)
	}
}

func TestDelaysMakeTasksTakeTime(t *testing.T) {
	const delay = 300 * time.Millisecond
	ctx := context.Background()
	p := loadPlan(t, "../../../examples/demo.yaml")
	s, c := start(t, p, Options{Delays: map[string]time.Duration{
		"PowerOffVM_Task": delay, // through simulator.TaskDelay
		"CloneVM_Task":    delay, // applied by the clone guard
		"ReconfigVm":      delay, // by task name
		"PowerOnVM_Task":  delay,
	}, Faults: []Fault{{Op: "ReconfigVM_Task", VMs: []string{"ccm-app-02"}}}})

	timed := func(what string, f func() error) {
		t.Helper()
		begin := time.Now()
		if err := f(); err != nil && what != "failing reconfigure" {
			t.Errorf("%s: %v", what, err)
		}
		if took := time.Since(begin); took < delay {
			t.Errorf("%s took %v, want at least %v", what, took, delay)
		}
	}
	vm := vmAt(t, ctx, c, "/DC-OLD/vm/ccm-app-01")
	timed("power off", func() error { return done(vm.PowerOff(ctx)) })
	timed("reconfigure", func() error {
		return done(vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{Annotation: "slow"}))
	})
	timed("failing reconfigure", func() error {
		return done(vmAt(t, ctx, c, "/DC-OLD/vm/ccm-app-02").Reconfigure(ctx, types.VirtualMachineConfigSpec{Annotation: "slow"}))
	})
	ct := demoTarget(t, ctx, c)
	tpl := vmAt(t, ctx, c, "/DC1/vm/templates/tpl-rhel9-web")
	timed("clone", func() error { return done(tpl.Clone(ctx, ct.folder, "slow-clone", ct.spec(0))) })

	// The task runs while the delay lasts, as a vCenter task would.
	task, err := vm.PowerOn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mt mo.Task
	if err := task.Properties(ctx, task.Reference(), []string{"info.state"}, &mt); err != nil {
		t.Fatal(err)
	}
	if mt.Info.State != types.TaskInfoStateRunning && mt.Info.State != types.TaskInfoStateQueued {
		t.Errorf("task %s right after the call, want running", mt.Info.State)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, set := simulator.TaskDelay.MethodDelay["PowerOff"]; set {
		t.Error("Close left simulator.TaskDelay set")
	}
}
