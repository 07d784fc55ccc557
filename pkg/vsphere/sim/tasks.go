package sim

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var taskSeq atomic.Int64

// startTask registers a vCenter task on entity and runs work in the
// background. It exists because a simulator task reports any fault with its
// Go type name as the message ("*types.NotSupported"); a task started here
// carries the fault's own text, as vCenter's localized message does, and can
// wrap simulator tasks without their delays being counted twice.
//
// name is the simulator's lower-case task id ("cloneVm"); the task's
// Info.Name is the same, capitalised, as for the simulator's own tasks.
func startTask(ctx *simulator.Context, entity types.ManagedObjectReference, name string,
	work func() (types.AnyType, *types.LocalizedMethodFault)) types.ManagedObjectReference {
	t := simulator.CreateTask(entity, name, nil)
	// A reference of our own: the registry's counter is not exported, and a
	// distinct prefix cannot collide with it.
	t.Self = types.ManagedObjectReference{Type: "Task", Value: fmt.Sprintf("task-wsim-%d", taskSeq.Add(1))}
	t.Info.Key = t.Self.Value
	t.Info.Task = t.Self
	ctx.Map.Put(t)
	ctx.Map.AtomicUpdate(ctx, t, []types.PropertyChange{
		{Name: "info.startTime", Val: time.Now()},
		{Name: "info.state", Val: types.TaskInfoStateRunning},
	})
	go func() {
		res, fault := work()
		finishTask(ctx, t, res, fault)
	}()
	return t.Self
}

// finishTask records a task's end: its result, or its fault.
func finishTask(ctx *simulator.Context, t *simulator.Task, res types.AnyType, fault *types.LocalizedMethodFault) {
	state := types.TaskInfoStateSuccess
	var errv any
	if fault != nil {
		state = types.TaskInfoStateError
		errv = *fault
		res = nil
	}
	ctx.Map.AtomicUpdate(ctx, t, []types.PropertyChange{
		{Name: "info.completeTime", Val: time.Now()},
		{Name: "info.state", Val: state},
		{Name: "info.result", Val: res},
		{Name: "info.error", Val: errv},
	})
}

// failedTask starts a task that runs for d and then fails with fault,
// changing nothing.
func failedTask(ctx *simulator.Context, entity types.ManagedObjectReference, name string, d time.Duration,
	fault *types.LocalizedMethodFault) types.ManagedObjectReference {
	return startTask(ctx, entity, name, func() (types.AnyType, *types.LocalizedMethodFault) {
		time.Sleep(d)
		return nil, fault
	})
}

// awaitBody waits for the simulator task a method body returned, and gives
// its result or its fault. A body that failed outright (no task) gives that
// fault.
func awaitBody(ctx *simulator.Context, body soap.HasFault) (types.AnyType, *types.LocalizedMethodFault) {
	if f := body.Fault(); f != nil {
		return nil, soapFault(f)
	}
	ref, ok := taskRef(body)
	if !ok {
		return nil, nil
	}
	t, ok := ctx.Map.Get(ref).(*simulator.Task)
	if !ok {
		return nil, &types.LocalizedMethodFault{Fault: &types.ManagedObjectNotFound{Obj: ref}, LocalizedMessage: "task vanished: " + ref.Value}
	}
	waitTask(ctx.Map, t)
	if t.Info.Error != nil {
		return nil, t.Info.Error
	}
	return t.Info.Result, nil
}

// waitTask waits for a simulator task to finish. Task.Wait polls every
// 10ms; seeding and the guards wait for thousands of short tasks.
func waitTask(reg *simulator.Registry, t *simulator.Task) {
	lock := &simulator.Context{} // not the task's: its goroutine needs that
	for pause := 50 * time.Microsecond; ; pause = min(2*pause, 5*time.Millisecond) {
		done := false
		reg.WithLock(lock, t, func() {
			done = t.Info.State == types.TaskInfoStateSuccess || t.Info.State == types.TaskInfoStateError
		})
		if done {
			return
		}
		time.Sleep(pause)
	}
}

func soapFault(f *soap.Fault) *types.LocalizedMethodFault {
	bf, _ := f.Detail.Fault.(types.BaseMethodFault)
	if bf == nil {
		bf = &types.SystemError{Reason: f.String}
	}
	msg := f.String
	if msg == "" {
		msg = fmt.Sprintf("%T", bf)
	}
	return &types.LocalizedMethodFault{Fault: bf, LocalizedMessage: msg}
}

// faultBody is a method's immediate (non-task) failure.
func faultBody(msg string, fault types.BaseMethodFault) *soap.Fault {
	return simulator.Fault(msg, fault)
}
