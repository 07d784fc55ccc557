package sim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// A second task on a VM whose first is still running is refused with
// TaskInProgress, as vCenter refuses it, instead of running beside it (two
// relocates or reconfigures of one VM at once can panic the simulator);
// once the first ends, the VM takes tasks again.
func TestASecondTaskOnABusyVMIsRefusedWithTaskInProgress(t *testing.T) {
	const delay = 400 * time.Millisecond
	ctx := context.Background()
	p := loadPlan(t, "../../../examples/demo.yaml")
	_, c := start(t, p, Options{Delays: map[string]time.Duration{"ReconfigVm": delay}})
	vm := vmAt(t, ctx, c, "/DC-OLD/vm/ccm-app-01")
	first, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{Annotation: "first"})
	if err != nil {
		t.Fatal(err)
	}
	for what, call := range map[string]func() (*object.Task, error){
		"reconfigure": func() (*object.Task, error) {
			return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{Annotation: "second"})
		},
		"power off": func() (*object.Task, error) { return vm.PowerOff(ctx) },
		"snapshot":  func() (*object.Task, error) { return vm.CreateSnapshot(ctx, "s", "", false, false) },
	} {
		_, err := call()
		if _, ok := methodFault(err).(*types.TaskInProgress); !ok || !strings.Contains(err.Error(), "Another task is already in progress") {
			t.Errorf("%s while a reconfigure runs: %v; want TaskInProgress", what, err)
		}
	}
	if err := first.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := done(vm.PowerOff(ctx)); err != nil {
		t.Errorf("power off after the reconfigure: %v", err)
	}
}

// methodFault digs the method fault out of a call's error.
func methodFault(err error) types.BaseMethodFault {
	if err == nil {
		return nil
	}
	var te task.Error
	if errors.As(err, &te) {
		return te.Fault()
	}
	if soap.IsSoapFault(err) {
		switch f := soap.ToSoapFault(err).VimFault().(type) {
		case types.TaskInProgress:
			return &f
		case types.BaseMethodFault:
			return f
		}
	}
	return nil
}

// Removing a snapshot with its children, then working with the VM's
// snapshots, leaves the simulator whole and the VM's snapshot record
// consistent: no removed snapshot stays current.
func TestRemovingNestedSnapshotsLeavesTheVMConsistent(t *testing.T) {
	ctx := context.Background()
	p := loadPlan(t, "../../../examples/demo.yaml")
	_, c := start(t, p, Options{})
	vm := vmAt(t, ctx, c, "/DC-OLD/vm/ccm-app-01")
	for _, name := range []string{"s0", "s1", "s2", "s3"} {
		if err := done(vm.CreateSnapshot(ctx, name, "", false, false)); err != nil {
			t.Fatal(err)
		}
	}
	s1, err := vm.FindSnapshot(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	s3, err := vm.FindSnapshot(ctx, "s3")
	if err != nil {
		t.Fatal(err)
	}
	remove := func(snap types.ManagedObjectReference, children bool) error {
		res, err := methods.RemoveSnapshot_Task(ctx, c.Client, &types.RemoveSnapshot_Task{This: snap, RemoveChildren: children})
		if err != nil {
			return err
		}
		return object.NewTask(c.Client, res.Returnval).Wait(ctx)
	}
	if err := remove(*s1, true); err != nil {
		t.Fatal(err)
	}
	// s3 went with s1: removing it again is refused, as vCenter would.
	err = remove(*s3, false)
	if err == nil {
		t.Error("removing a snapshot removed with its parent succeeded")
	}
	// s0 is left, and current again.
	var mvm mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"snapshot"}, &mvm); err != nil {
		t.Fatal(err)
	}
	s0, err := vm.FindSnapshot(ctx, "s0")
	if err != nil {
		t.Fatal(err)
	}
	if mvm.Snapshot == nil || mvm.Snapshot.CurrentSnapshot == nil || *mvm.Snapshot.CurrentSnapshot != *s0 {
		t.Errorf("current snapshot %+v, want s0 (%s)", mvm.Snapshot, s0)
	}
	if err := done(vm.RevertToCurrentSnapshot(ctx, true)); err != nil {
		t.Errorf("revert to the current snapshot: %v", err)
	}
	if err := done(vm.CreateSnapshot(ctx, "again", "", false, false)); err != nil {
		t.Fatalf("a snapshot after the removal: %v", err)
	}
	if err := done(vm.RemoveAllSnapshot(ctx, nil)); err != nil {
		t.Fatalf("remove all: %v", err)
	}
}
