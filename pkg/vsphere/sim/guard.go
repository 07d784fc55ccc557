package sim

// Guards against simulator crashes, and the hook that injects faults and
// delays.
//
// The crash this file exists for: concurrent clones from different source
// VMs into one folder can panic the process ("*mo.VirtualMachine object
// VirtualMachine:vm-423 does not have a Name", from Registry.FindByName in
// the CloneVM task). Cause, in simulator v0.56.0:
//
//   - A clone task holds only its source VM's lock. Before creating the
//     clone it checks for a duplicate name with FindByName over the target
//     folder's childEntity, without the folder's lock.
//   - Meanwhile another clone's CreateVM task, which holds the folder's
//     lock, has already put its new VM in that folder (NewVirtualMachine
//     calls folderPutChild) but sets the VM's name only later (vm.create
//     applies the config spec).
//   - FindByName meets the nameless VM and entityName log.Panicf's, in a
//     task goroutine, so nothing recovers it and the process dies.
//
// Rename_Task has the same unlocked read of the parent folder, and so has
// SearchIndex.FindChild (and FindByInventoryPath, built on it), which a
// finder may call while clones run.
//
// The guard: every folder-reading operation runs while holding the
// folder's lock, on behalf of the same simulator context that runs the
// simulator's own task. Its locks are re-entrant per context, so the
// simulator's nested tasks proceed, while any other task that adds a VM
// to that folder (and holds the folder's lock while doing so) waits. As a
// bonus the duplicate-name check and the create are atomic per folder, as
// in vCenter: two clones with one name into one folder cannot both succeed.
//
// Objects are overridden at dispatch, through Registry.Handler and the
// caller's session registry (see sessionOverrides for why both), not by
// replacing them in the registry with Map().Put: the simulator's own code
// type-asserts registry objects (ctx.Map.Get(ref).(*VirtualMachine), e.g.
// in snapshot removal), and a wrapper there would itself panic.
//
// The same overrides refuse, with a vSphere fault, requests that would
// otherwise crash the simulator in a task goroutine: references of the
// wrong kind or to nothing, a datastore not in the target datacenter or
// not seen by the host, a NIC on a network the datacenter lacks, a
// create-VM whose cluster has no host that mounts the datastore. And they
// make a relocate to another datacenter survivable (see RelocateVMTask).

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/plan"
)

var (
	vmOverridden = map[string]bool{
		"CloneVM_Task": true, "Rename_Task": true, "RelocateVM_Task": true,
		"ReconfigVM_Task": true, "UpgradeVM_Task": true, "PowerOnVM_Task": true,
		"PowerOffVM_Task": true, "ResetVM_Task": true, "Destroy_Task": true,
		"CreateSnapshot_Task": true, "CreateSnapshotEx_Task": true,
		"RevertToCurrentSnapshot_Task": true, "RemoveAllSnapshots_Task": true,
		"CustomizeVM_Task": true, "ShutdownGuest": true, "SuspendVM_Task": true,
	}
	folderOverridden = map[string]bool{"CreateVM_Task": true, "MoveIntoFolder_Task": true, "Rename_Task": true}
	snapOverridden   = map[string]bool{"RemoveSnapshot_Task": true, "RevertToSnapshot_Task": true}
)

// dispatch is the registry's Handler: it picks the object that serves a
// call, and makes sure the caller's session serves it too (see override).
func (s *Sim) dispatch(ctx *simulator.Context, m *simulator.Method) (mo.Reference, types.BaseMethodFault) {
	w := s.override(ctx, m)
	if w == nil {
		return nil, nil
	}
	s.sessions.install(ctx, w)
	return w, nil
}

// busy returns vCenter's TaskInProgress fault, with vCenter's text, when
// a method would start a task on a VM that has one running; nil
// otherwise. Every override of a method whose task changes a VM calls it
// first: vCenter refuses such a method while another such task runs on
// the VM ("Another task is already in progress."), but the simulator runs
// them side by side, and two of its relocate or reconfigure tasks on one
// VM can panic it (a resumed run's step meeting the task a killed run
// left running does exactly that). Clones only read their source, and run
// side by side in vCenter too.
func busy(ctx *simulator.Context, vmRef types.ManagedObjectReference) *soap.Fault {
	vm, ok := ctx.Map.Get(vmRef).(*simulator.VirtualMachine)
	if !ok {
		return nil
	}
	var recent []types.ManagedObjectReference
	ctx.WithLock(vm, func() { recent = slices.Clone(vm.RecentTask) })
	lock := &simulator.Context{}
	for i := len(recent) - 1; i >= 0; i-- {
		t, ok := ctx.Map.Get(recent[i]).(*simulator.Task)
		if !ok {
			continue
		}
		running := false
		ctx.Map.WithLock(lock, t, func() {
			running = t.Info.State == types.TaskInfoStateRunning || t.Info.State == types.TaskInfoStateQueued
		})
		if running {
			return faultBody("Another task is already in progress.", &types.TaskInProgress{Task: t.Self})
		}
	}
	return nil
}

// override returns the object that overrides m's target for m, or nil.
func (s *Sim) override(ctx *simulator.Context, m *simulator.Method) mo.Reference {
	switch m.This.Type {
	case "VirtualMachine":
		if vmOverridden[m.Name] {
			if vm, ok := ctx.Map.Get(m.This).(*simulator.VirtualMachine); ok {
				return &vmOverride{VirtualMachine: vm, sim: s}
			}
		}
	case "Folder":
		if folderOverridden[m.Name] {
			if f, ok := ctx.Map.Get(m.This).(*simulator.Folder); ok {
				return &folderOverride{Folder: f, sim: s}
			}
		}
	case "SearchIndex":
		if m.Name == "FindChild" || m.Name == "FindByInventoryPath" {
			if si, ok := ctx.Map.Get(m.This).(*simulator.SearchIndex); ok {
				return &searchOverride{SearchIndex: si}
			}
		}
	case "VirtualMachineSnapshot":
		if snapOverridden[m.Name] {
			if snap, ok := ctx.Map.Get(m.This).(*simulator.VirtualMachineSnapshot); ok {
				return &snapshotOverride{VirtualMachineSnapshot: snap, sim: s}
			}
		}
	case "VirtualMachineProvisioningChecker":
		if m.Name == "CheckRelocate_Task" {
			if c, ok := ctx.Map.Get(m.This).(*simulator.VmProvisioningChecker); ok {
				return &checkerOverride{VmProvisioningChecker: c, sim: s} // evc.go
			}
		}
	case "Datastore":
		if m.Name == "RefreshDatastore" {
			if ds, ok := ctx.Map.Get(m.This).(*simulator.Datastore); ok {
				return &datastoreOverride{Datastore: ds}
			}
		}
	}
	return nil
}

// sessionOverrides puts overrides where the simulator's dispatcher looks
// last. In v0.56.0 it asks Registry.Handler for an object, then lets the
// caller's session registry replace it, and a session's Get falls back to
// the main registry: so for any logged-in caller the Handler's choice is
// always replaced by the plain object. An override registered in the
// session's own registry is found first instead. Overrides hold no state
// (a pointer to the real object), so one per session and object serves
// every later call; they are removed when their object is, so that a
// session never sees an object vCenter no longer has.
//
// Only sessions that logged in (govc, wavectl, Sim.Client) get overrides:
// the simulator's in-process transport shares one session registry across
// every simulator in the process, where references of two simulators
// collide. In-process clients (vim25.NewClient(ctx, Model().Service)) are
// therefore unguarded; use Sim.Client.
type sessionOverrides struct {
	mu   sync.Mutex
	regs map[*simulator.Registry]map[types.ManagedObjectReference]bool
}

func (so *sessionOverrides) install(ctx *simulator.Context, w mo.Reference) {
	if ctx.Session == nil || ctx.Session.Registry == nil || ctx.Session.UserName == "" {
		return
	}
	reg, ref := ctx.Session.Registry, w.Reference()
	so.mu.Lock()
	done := so.regs[reg][ref]
	so.mu.Unlock()
	if done {
		return
	}
	// Put marks the entity green and admin-owned, through the override into
	// the real object: take the object's lock as other writers do.
	ctx.WithLock(w, func() { reg.Put(w) })
	so.mu.Lock()
	if so.regs == nil {
		so.regs = map[*simulator.Registry]map[types.ManagedObjectReference]bool{}
	}
	if so.regs[reg] == nil {
		so.regs[reg] = map[types.ManagedObjectReference]bool{}
	}
	so.regs[reg][ref] = true
	so.mu.Unlock()
}

// forget removes the overrides of an object the simulator removed.
func (so *sessionOverrides) forget(ctx *simulator.Context, ref types.ManagedObjectReference) {
	so.mu.Lock()
	var regs []*simulator.Registry
	for reg, refs := range so.regs {
		if refs[ref] {
			delete(refs, ref)
			regs = append(regs, reg)
		}
	}
	so.mu.Unlock()
	for _, reg := range regs {
		reg.Remove(ctx, ref)
	}
}

// lcFirst turns a task name into the simulator's task id: "CloneVm" -> "cloneVm".
func lcFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// injected starts a failing task when a fault applies to method on this
// call. subject names the unit the call is about; names are every name a
// Fault's VMs may match.
func (s *Sim) injected(ctx *simulator.Context, entity types.ManagedObjectReference, method, subject string, names ...string) (types.ManagedObjectReference, bool) {
	f := s.faults.taskFault(method, subject, names...)
	if f == nil {
		return types.ManagedObjectReference{}, false
	}
	task := taskName(method)
	return failedTask(ctx, entity, lcFirst(task), s.faults.delay(task), f), true
}

// vmOverride serves the VM methods wavectl uses: it guards clone and
// rename, validates requests that would crash the simulator, and injects
// faults. Its first field must stay the simulator VM: the simulator finds
// the managed object (and the object's lock) through it.
type vmOverride struct {
	*simulator.VirtualMachine
	sim *Sim
}

func (w *vmOverride) CloneVMTask(ctx *simulator.Context, req *types.CloneVM_Task) soap.HasFault {
	body := &methods.CloneVM_TaskBody{}
	folder, ok := ctx.Map.Get(req.Folder).(*simulator.Folder)
	if !ok {
		body.Fault_ = faultBody("Invalid folder", &types.RuntimeFault{})
		return body
	}
	loc := req.Spec.Location
	if f := checkRefs(ctx, "spec.location", loc.Host, loc.Pool, loc.Datastore, nil); f != nil {
		body.Fault_ = f
		return body
	}
	dc := datacenterOf(ctx, folder)
	dsName := vmDatastore(w.VirtualMachine)
	if loc.Datastore != nil {
		dsName = ctx.Map.Get(*loc.Datastore).(*simulator.Datastore).Name
	}
	if f := checkDatastore(ctx, dc, dsName, "spec.location.datastore"); f != nil {
		body.Fault_ = f
		return body
	}
	inner := *req
	// The clone's files go to its host's view of the datastore: a host that
	// cannot see it would crash the simulator. Like DRS, place a clone into
	// a pool on one of the pool's hosts that sees the datastore.
	host := w.Runtime.Host
	switch {
	case loc.Host != nil:
		host = loc.Host
	case loc.Pool != nil:
		if h, ok := w.sim.pickHost(ctx, *loc.Pool, dsName); ok {
			host = &h
			inner.Spec.Location.Host = &h
		}
	}
	if host == nil {
		body.Fault_ = faultBody("clone of "+w.Name+" needs spec.location.host", &types.InvalidArgument{InvalidProperty: "spec.location.host"})
		return body
	}
	if f := checkHostSees(ctx, *host, dsName); f != nil {
		body.Fault_ = f
		return body
	}
	// The simulator creates the clone with the source's NICs first and
	// applies the spec's NIC changes after, so each inherited NIC's network
	// must exist in the clone's datacenter too, even one the spec remaps.
	for _, d := range w.Config.Hardware.Device {
		if card, ok := d.(types.BaseVirtualEthernetCard); ok {
			b, ok := card.GetVirtualEthernetCard().Backing.(*types.VirtualEthernetCardNetworkBackingInfo)
			if ok && dc != nil && !dcHasNetwork(ctx, dc, b.DeviceName) {
				body.Fault_ = faultBody(fmt.Sprintf("%s has a NIC on %q, which datacenter %s lacks: the simulator cannot clone it there, even with the NIC remapped (relocate it instead)",
					w.Name, b.DeviceName, dc.Name), &types.NotSupported{})
				return body
			}
		}
	}
	changes := loc.DeviceChange
	if req.Spec.Config != nil {
		changes = append(append([]types.BaseVirtualDeviceConfigSpec{}, changes...), req.Spec.Config.DeviceChange...)
	}
	if f := checkNICs(ctx, dc, changes); f != nil {
		body.Fault_ = f
		return body
	}

	fault := w.sim.faults.taskFault("CloneVM_Task", req.Name, req.Name, w.Name)
	delay := w.sim.faults.delay("CloneVm")
	src := w.VirtualMachine
	inner.Spec.PowerOn = false
	powerOn := req.Spec.PowerOn && !req.Spec.Template

	// A clone is a provisioning operation: it waits queued while its host's
	// or datastore's budget is spent (budgets.go).
	cs := w.sim.budgets.costsOf(plan.StepClone, false, hostName(ctx, host), dsName)
	ref := startQueuedTask(ctx, w.sim.budgets, cs, w.Self, "cloneVm", func() (types.AnyType, *types.LocalizedMethodFault) {
		time.Sleep(delay)
		if fault != nil {
			return nil, fault
		}
		var res types.AnyType
		var lf *types.LocalizedMethodFault
		ctx.WithLock(src, func() {
			ctx.WithLock(folder, func() {
				res, lf = awaitBody(ctx, src.CloneVMTask(ctx, &inner))
			})
		})
		if lf != nil || !powerOn {
			return res, lf
		}
		// Powered on outside the folder's lock, so that a power-on delay
		// does not hold up other clones into the folder.
		cref, _ := res.(types.ManagedObjectReference)
		clone, ok := ctx.Map.Get(cref).(*simulator.VirtualMachine)
		if !ok {
			return res, nil
		}
		var pbody soap.HasFault
		ctx.WithLock(clone, func() {
			pbody = clone.PowerOnVMTask(ctx, &types.PowerOnVM_Task{This: cref})
		})
		if _, lf := awaitBody(ctx, pbody); lf != nil {
			return nil, lf
		}
		return res, nil
	})
	body.Res = &types.CloneVM_TaskResponse{Returnval: ref}
	return body
}

func (w *vmOverride) RenameTask(ctx *simulator.Context, req *types.Rename_Task) soap.HasFault {
	return &methods.Rename_TaskBody{Res: &types.Rename_TaskResponse{
		Returnval: guardedRename(ctx, w.sim, w.VirtualMachine, w.Name, req, w.VirtualMachine.RenameTask),
	}}
}

// guardedRename renames an entity while holding its parent folder's lock;
// see the top of this file.
func guardedRename(ctx *simulator.Context, s *Sim, e mo.Entity, name string, req *types.Rename_Task,
	rename func(*simulator.Context, *types.Rename_Task) soap.HasFault) types.ManagedObjectReference {
	self := e.Entity().Self
	fault := s.faults.taskFault("Rename_Task", name, name, req.NewName)
	delay := s.faults.delay("Rename")
	var parent mo.Reference
	if p := e.Entity().Parent; p != nil {
		parent = ctx.Map.Get(*p)
	}
	return startTask(ctx, self, "rename", func() (types.AnyType, *types.LocalizedMethodFault) {
		time.Sleep(delay)
		if fault != nil {
			return nil, fault
		}
		var res types.AnyType
		var lf *types.LocalizedMethodFault
		ctx.WithLock(e, func() {
			run := func() { res, lf = awaitBody(ctx, rename(ctx, req)) }
			if parent != nil {
				ctx.WithLock(parent, run)
			} else {
				run()
			}
		})
		return res, lf
	})
}

func (w *vmOverride) RelocateVMTask(ctx *simulator.Context, req *types.RelocateVM_Task) soap.HasFault {
	if f := busy(ctx, w.Self); f != nil {
		return &methods.RelocateVM_TaskBody{Fault_: f}
	}
	if req.Spec.Service != nil {
		return w.crossRelocate(ctx, req) // cross.go
	}
	body := &methods.RelocateVM_TaskBody{}
	spec := req.Spec
	if f := checkRefs(ctx, "spec", spec.Host, spec.Pool, spec.Datastore, spec.Folder); f != nil {
		body.Fault_ = f
		return body
	}
	if spec.Pool != nil {
		if _, ok := ctx.Map.Get(*spec.Pool).(*simulator.ResourcePool); !ok {
			// The simulator's relocate handles plain resource pools only.
			body.Fault_ = faultBody("relocate into a vApp is not supported by the simulator", &types.NotSupported{})
			return body
		}
	}
	var dc *simulator.Datacenter
	if spec.Folder != nil {
		dc = datacenterOf(ctx, ctx.Map.Get(*spec.Folder).(*simulator.Folder))
	} else {
		dc = datacenterOf(ctx, w.VirtualMachine)
	}
	if f := checkNICs(ctx, dc, spec.DeviceChange); f != nil {
		body.Fault_ = f
		return body
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "RelocateVM_Task", w.Name, w.Name); ok {
		body.Res = &types.RelocateVM_TaskResponse{Returnval: ref}
		return body
	}
	// Like DRS, move a VM relocated into another cluster's pool onto one
	// of that cluster's hosts; the simulator would leave it on its old host.
	host := w.Runtime.Host
	if spec.Host != nil {
		host = spec.Host
	} else if spec.Pool != nil && host != nil && !slices.Contains(poolHosts(ctx, *spec.Pool), *host) {
		ds := ""
		if spec.Datastore != nil {
			ds = ctx.Map.Get(*spec.Datastore).(*simulator.Datastore).Name
		}
		if h, ok := w.sim.pickHost(ctx, *spec.Pool, ds); ok {
			inner := *req
			inner.Spec.Host = &h
			req, host = &inner, &h
		}
	}
	// The simulator moves neither the VM's files nor their datastore: they
	// stay where they were, and every later reconfigure, snapshot or power
	// operation looks them up through the VM's new host, which panics when
	// that host cannot see them (a move to another datacenter, say). Let
	// the new host see them, as shared storage would.
	if host != nil {
		attachDatastores(ctx, *host, w.Datastore)
	}
	// A relocate is a migration: cold, or a vMotion with its storage when
	// the VM runs; it waits queued while a budget it needs is spent
	// (budgets.go).
	dsName := vmDatastore(w.VirtualMachine)
	if spec.Datastore != nil {
		dsName = datastoreName(ctx, spec.Datastore)
	}
	cs := w.sim.budgets.costsOf(plan.StepRelocate, w.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn, hostName(ctx, host), dsName)
	if len(spec.DeviceChange) == 0 || host == nil || w.Runtime.Host == nil || *host == *w.Runtime.Host {
		if len(cs) == 0 {
			return w.VirtualMachine.RelocateVMTask(ctx, req)
		}
		vm, inner := w.VirtualMachine, *req
		ref := startQueuedTask(ctx, w.sim.budgets, cs, w.Self, "relocateVm", func() (types.AnyType, *types.LocalizedMethodFault) {
			var b soap.HasFault
			ctx.WithLock(vm, func() { b = vm.RelocateVMTask(ctx, &inner) })
			return awaitBody(ctx, b)
		})
		body.Res = &types.RelocateVM_TaskResponse{Returnval: ref}
		return body
	}
	// The simulator changes NICs before it moves the VM to its new host, so
	// a NIC on the new host's distributed switch fails its membership check
	// (InvalidArgument). Move first, then change the NICs, in one task.
	vm := w.VirtualMachine
	move := *req
	move.Spec.DeviceChange = nil
	nics := types.VirtualMachineConfigSpec{DeviceChange: spec.DeviceChange}
	ref := startQueuedTask(ctx, w.sim.budgets, cs, w.Self, "relocateVm", func() (types.AnyType, *types.LocalizedMethodFault) {
		var b soap.HasFault
		ctx.WithLock(vm, func() { b = vm.RelocateVMTask(ctx, &move) })
		if _, lf := awaitBody(ctx, b); lf != nil {
			return nil, lf
		}
		ctx.WithLock(vm, func() { b = vm.ReconfigVMTask(ctx, &types.ReconfigVM_Task{This: vm.Self, Spec: nics}) })
		_, lf := awaitBody(ctx, b)
		return nil, lf
	})
	body.Res = &types.RelocateVM_TaskResponse{Returnval: ref}
	return body
}

func (w *vmOverride) ReconfigVMTask(ctx *simulator.Context, req *types.ReconfigVM_Task) soap.HasFault {
	if f := busy(ctx, w.Self); f != nil {
		return &methods.ReconfigVM_TaskBody{Fault_: f}
	}
	if f := checkNICs(ctx, datacenterOf(ctx, w.VirtualMachine), req.Spec.DeviceChange); f != nil {
		return &methods.ReconfigVM_TaskBody{Fault_: f}
	}
	if f := reconfigGuard(ctx, w.VirtualMachine, &req.Spec); f != nil { // hotadd.go
		return &methods.ReconfigVM_TaskBody{Fault_: f}
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "ReconfigVM_Task", w.Name, w.Name); ok {
		return &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: ref}}
	}
	return w.VirtualMachine.ReconfigVMTask(ctx, req)
}

func (w *vmOverride) UpgradeVMTask(ctx *simulator.Context, req *types.UpgradeVM_Task) soap.HasFault {
	if f := busy(ctx, w.Self); f != nil {
		return &methods.UpgradeVM_TaskBody{Fault_: f}
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "UpgradeVM_Task", w.Name, w.Name); ok {
		return &methods.UpgradeVM_TaskBody{Res: &types.UpgradeVM_TaskResponse{Returnval: ref}}
	}
	return w.VirtualMachine.UpgradeVMTask(ctx, req)
}

func (w *vmOverride) PowerOnVMTask(ctx *simulator.Context, req *types.PowerOnVM_Task) soap.HasFault {
	if f := busy(ctx, w.Self); f != nil {
		return &methods.PowerOnVM_TaskBody{Fault_: f}
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "PowerOnVM_Task", w.Name, w.Name); ok {
		return &methods.PowerOnVM_TaskBody{Res: &types.PowerOnVM_TaskResponse{Returnval: ref}}
	}
	return w.VirtualMachine.PowerOnVMTask(ctx, req)
}

func (w *vmOverride) PowerOffVMTask(ctx *simulator.Context, req *types.PowerOffVM_Task) soap.HasFault {
	if f := busy(ctx, w.Self); f != nil {
		return &methods.PowerOffVM_TaskBody{Fault_: f}
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "PowerOffVM_Task", w.Name, w.Name); ok {
		return &methods.PowerOffVM_TaskBody{Res: &types.PowerOffVM_TaskResponse{Returnval: ref}}
	}
	stopping(ctx, w.VirtualMachine)
	return w.VirtualMachine.PowerOffVMTask(ctx, req)
}

func (w *vmOverride) ResetVMTask(ctx *simulator.Context, req *types.ResetVM_Task) soap.HasFault {
	if f := busy(ctx, w.Self); f != nil {
		return &methods.ResetVM_TaskBody{Fault_: f}
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "ResetVM_Task", w.Name, w.Name); ok {
		return &methods.ResetVM_TaskBody{Res: &types.ResetVM_TaskResponse{Returnval: ref}}
	}
	stopping(ctx, w.VirtualMachine)
	return w.VirtualMachine.ResetVMTask(ctx, req)
}

func (w *vmOverride) DestroyTask(ctx *simulator.Context, req *types.Destroy_Task) soap.HasFault {
	if f := busy(ctx, w.Self); f != nil {
		return &methods.Destroy_TaskBody{Fault_: f}
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "Destroy_Task", w.Name, w.Name); ok {
		return &methods.Destroy_TaskBody{Res: &types.Destroy_TaskResponse{Returnval: ref}}
	}
	return w.VirtualMachine.DestroyTask(ctx, req)
}

func (w *vmOverride) CreateSnapshotTask(ctx *simulator.Context, req *types.CreateSnapshot_Task) soap.HasFault {
	if f := busy(ctx, w.Self); f != nil {
		return &methods.CreateSnapshot_TaskBody{Fault_: f}
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "CreateSnapshot_Task", w.Name, w.Name); ok {
		return &methods.CreateSnapshot_TaskBody{Res: &types.CreateSnapshot_TaskResponse{Returnval: ref}}
	}
	return w.VirtualMachine.CreateSnapshotTask(ctx, req)
}

func (w *vmOverride) CreateSnapshotExTask(ctx *simulator.Context, req *types.CreateSnapshotEx_Task) soap.HasFault {
	if f := busy(ctx, w.Self); f != nil {
		return &methods.CreateSnapshotEx_TaskBody{Fault_: f}
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "CreateSnapshotEx_Task", w.Name, w.Name); ok {
		return &methods.CreateSnapshotEx_TaskBody{Res: &types.CreateSnapshotEx_TaskResponse{Returnval: ref}}
	}
	return w.VirtualMachine.CreateSnapshotExTask(ctx, req)
}

func (w *vmOverride) RevertToCurrentSnapshotTask(ctx *simulator.Context, req *types.RevertToCurrentSnapshot_Task) soap.HasFault {
	if f := busy(ctx, w.Self); f != nil {
		return &methods.RevertToCurrentSnapshot_TaskBody{Fault_: f}
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "RevertToCurrentSnapshot_Task", w.Name, w.Name); ok {
		return &methods.RevertToCurrentSnapshot_TaskBody{Res: &types.RevertToCurrentSnapshot_TaskResponse{Returnval: ref}}
	}
	return w.VirtualMachine.RevertToCurrentSnapshotTask(ctx, req)
}

func (w *vmOverride) RemoveAllSnapshotsTask(ctx *simulator.Context, req *types.RemoveAllSnapshots_Task) soap.HasFault {
	if f := busy(ctx, w.Self); f != nil {
		return &methods.RemoveAllSnapshots_TaskBody{Fault_: f}
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "RemoveAllSnapshots_Task", w.Name, w.Name); ok {
		return &methods.RemoveAllSnapshots_TaskBody{Res: &types.RemoveAllSnapshots_TaskResponse{Returnval: ref}}
	}
	return w.VirtualMachine.RemoveAllSnapshotsTask(ctx, req)
}

func (w *vmOverride) CustomizeVMTask(ctx *simulator.Context, req *types.CustomizeVM_Task) soap.HasFault {
	if f := busy(ctx, w.Self); f != nil {
		return &methods.CustomizeVM_TaskBody{Fault_: f}
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "CustomizeVM_Task", w.Name, w.Name); ok {
		return &methods.CustomizeVM_TaskBody{Res: &types.CustomizeVM_TaskResponse{Returnval: ref}}
	}
	return w.VirtualMachine.CustomizeVMTask(ctx, req)
}

// folderOverride serves CreateVM_Task, MoveIntoFolder_Task and Rename_Task
// on folders.
type folderOverride struct {
	*simulator.Folder
	sim *Sim
}

func (w *folderOverride) CreateVMTask(ctx *simulator.Context, req *types.CreateVM_Task) soap.HasFault {
	body := &methods.CreateVM_TaskBody{}
	if f := checkRefs(ctx, "", req.Host, &req.Pool, nil, nil); f != nil {
		body.Fault_ = f
		return body
	}
	dc := datacenterOf(ctx, w.Folder)
	dsName := ""
	if req.Config.Files != nil {
		var p object.DatastorePath
		if p.FromString(req.Config.Files.VmPathName) {
			dsName = p.Datastore
		}
	}
	if dsName != "" {
		if f := checkDatastore(ctx, dc, dsName, "config.files.vmPathName"); f != nil {
			body.Fault_ = f
			return body
		}
		if req.Host == nil {
			if f := checkPoolSeesDatastore(ctx, req.Pool, dsName); f != nil {
				body.Fault_ = f
				return body
			}
		}
	}
	if f := checkNICs(ctx, dc, req.Config.DeviceChange); f != nil {
		body.Fault_ = f
		return body
	}
	name := req.Config.Name
	fault := w.sim.faults.taskFault("CreateVM_Task", name, name, w.Name)
	delay := w.sim.faults.delay("CreateVm")
	folder := w.Folder
	// vCenter refuses a VM whose name the folder already holds
	// (DuplicateName); the simulator's own CreateVM does not check, so two
	// creates of one name (a run killed mid-task, then resumed) would both
	// succeed here as they cannot there. The check and the create happen
	// under the folder's lock, as one.
	cs := w.sim.budgets.costsOf(plan.StepCreateVM, false, hostName(ctx, req.Host), dsName)
	ref := startQueuedTask(ctx, w.sim.budgets, cs, w.Self, "createVm", func() (types.AnyType, *types.LocalizedMethodFault) {
		time.Sleep(delay)
		if fault != nil {
			return nil, fault
		}
		var res types.AnyType
		var lf *types.LocalizedMethodFault
		ctx.WithLock(folder, func() {
			if obj := ctx.Map.FindByName(name, folder.ChildEntity); obj != nil {
				lf = &types.LocalizedMethodFault{
					Fault:            &types.DuplicateName{Name: name, Object: obj.Reference()},
					LocalizedMessage: fmt.Sprintf("The name '%s' already exists.", name),
				}
				return
			}
			res, lf = awaitBody(ctx, folder.CreateVMTask(ctx, req))
		})
		return res, lf
	})
	body.Res = &types.CreateVM_TaskResponse{Returnval: ref}
	return body
}

func (w *folderOverride) MoveIntoFolderTask(ctx *simulator.Context, req *types.MoveIntoFolder_Task) soap.HasFault {
	names := []string{w.Name}
	subject := w.Name
	for _, ref := range req.List {
		if e, ok := ctx.Map.Get(ref).(mo.Entity); ok {
			names = append(names, e.Entity().Name)
			subject = e.Entity().Name
		}
	}
	if ref, ok := w.sim.injected(ctx, w.Self, "MoveIntoFolder_Task", subject, names...); ok {
		return &methods.MoveIntoFolder_TaskBody{Res: &types.MoveIntoFolder_TaskResponse{Returnval: ref}}
	}
	return w.Folder.MoveIntoFolderTask(ctx, req)
}

func (w *folderOverride) RenameTask(ctx *simulator.Context, req *types.Rename_Task) soap.HasFault {
	return &methods.Rename_TaskBody{Res: &types.Rename_TaskResponse{
		Returnval: guardedRename(ctx, w.sim, w.Folder, w.Name, req, w.Folder.RenameTask),
	}}
}

// snapshotOverride injects faults into snapshot removal and revert.
type snapshotOverride struct {
	*simulator.VirtualMachineSnapshot
	sim *Sim
}

func (w *snapshotOverride) vmName(ctx *simulator.Context) string {
	if vm, ok := ctx.Map.Get(w.Vm).(*simulator.VirtualMachine); ok {
		return vm.Name
	}
	return ""
}

func (w *snapshotOverride) RemoveSnapshotTask(ctx *simulator.Context, req *types.RemoveSnapshot_Task) soap.HasFault {
	if f := busy(ctx, w.Vm); f != nil {
		return &methods.RemoveSnapshot_TaskBody{Fault_: f}
	}
	name := w.vmName(ctx)
	if ref, ok := w.sim.injected(ctx, w.Vm, "RemoveSnapshot_Task", name, name); ok {
		return &methods.RemoveSnapshot_TaskBody{Res: &types.RemoveSnapshot_TaskResponse{Returnval: ref}}
	}
	// Two removals of one VM's snapshots at once crash the simulator (its
	// task dereferences the VM's snapshot list, which the other removal
	// may have emptied): a resumed run removing the snapshot a killed
	// run's task is still removing does exactly that. Removals are
	// serialised per VM, and one whose snapshot is already gone fails as
	// vCenter's would, with ManagedObjectNotFound.
	mu := snapshotLock(w.Vm)
	snap := w.Self
	ref := startTask(ctx, w.Vm, "removeSnapshot", func() (types.AnyType, *types.LocalizedMethodFault) {
		mu.Lock()
		defer mu.Unlock()
		gone := false
		vm, ok := ctx.Map.Get(w.Vm).(*simulator.VirtualMachine)
		if ok {
			ctx.WithLock(vm, func() { gone = vm.Snapshot == nil || !snapshotInTree(vm.Snapshot.RootSnapshotList, snap) })
		}
		if !ok || gone {
			return nil, &types.LocalizedMethodFault{Fault: &types.ManagedObjectNotFound{Obj: snap},
				LocalizedMessage: fmt.Sprintf("The object '%s' has already been deleted or has not been completely created", snap.Value)}
		}
		// Nested snapshots: the simulator drops a removed snapshot's
		// children from the tree (removeChildren) but leaves their objects
		// registered, and leaves the VM's current snapshot pointing at a
		// removed child, which later snapshot operations dereference.
		// Finish the removal as vCenter does.
		var children []types.ManagedObjectReference
		var parent *types.ManagedObjectReference
		ctx.WithLock(vm, func() {
			if node := snapshotNode(vm.Snapshot.RootSnapshotList, snap); node != nil && req.RemoveChildren {
				children = snapshotRefs(node.ChildSnapshotList)
			}
			parent = snapshotParent(vm.Snapshot.RootSnapshotList, snap, nil)
		})
		res, lf := awaitBody(ctx, w.VirtualMachineSnapshot.RemoveSnapshotTask(ctx, req))
		if lf != nil {
			return res, lf
		}
		ctx.WithLock(vm, func() {
			if vm.Snapshot != nil && vm.Snapshot.CurrentSnapshot != nil && !snapshotInTree(vm.Snapshot.RootSnapshotList, *vm.Snapshot.CurrentSnapshot) {
				ctx.Update(vm, []types.PropertyChange{{Name: "snapshot.currentSnapshot", Val: parent}})
			}
		})
		for _, c := range children {
			if ctx.Map.Get(c) != nil {
				ctx.Map.Remove(ctx, c)
			}
		}
		return res, nil
	})
	return &methods.RemoveSnapshot_TaskBody{Res: &types.RemoveSnapshot_TaskResponse{Returnval: ref}}
}

var snapshotLocks sync.Map // VM ref -> *sync.Mutex

func snapshotLock(vm types.ManagedObjectReference) *sync.Mutex {
	mu, _ := snapshotLocks.LoadOrStore(vm, &sync.Mutex{})
	return mu.(*sync.Mutex)
}

// snapshotNode is ref's node in the tree, or nil.
func snapshotNode(tree []types.VirtualMachineSnapshotTree, ref types.ManagedObjectReference) *types.VirtualMachineSnapshotTree {
	for i := range tree {
		if tree[i].Snapshot == ref {
			return &tree[i]
		}
		if n := snapshotNode(tree[i].ChildSnapshotList, ref); n != nil {
			return n
		}
	}
	return nil
}

// snapshotParent is ref's parent in the tree (under parent), or nil.
func snapshotParent(tree []types.VirtualMachineSnapshotTree, ref types.ManagedObjectReference, parent *types.ManagedObjectReference) *types.ManagedObjectReference {
	for i := range tree {
		if tree[i].Snapshot == ref {
			return parent
		}
		self := tree[i].Snapshot
		if p := snapshotParent(tree[i].ChildSnapshotList, ref, &self); p != nil {
			return p
		}
	}
	return nil
}

// snapshotRefs are every snapshot of the tree.
func snapshotRefs(tree []types.VirtualMachineSnapshotTree) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	for _, t := range tree {
		out = append(out, t.Snapshot)
		out = append(out, snapshotRefs(t.ChildSnapshotList)...)
	}
	return out
}

func snapshotInTree(tree []types.VirtualMachineSnapshotTree, ref types.ManagedObjectReference) bool {
	for _, t := range tree {
		if t.Snapshot == ref || snapshotInTree(t.ChildSnapshotList, ref) {
			return true
		}
	}
	return false
}

func (w *snapshotOverride) RevertToSnapshotTask(ctx *simulator.Context, req *types.RevertToSnapshot_Task) soap.HasFault {
	if f := busy(ctx, w.Vm); f != nil {
		return &methods.RevertToSnapshot_TaskBody{Fault_: f}
	}
	name := w.vmName(ctx)
	if ref, ok := w.sim.injected(ctx, w.Vm, "RevertToSnapshot_Task", name, name); ok {
		return &methods.RevertToSnapshot_TaskBody{Res: &types.RevertToSnapshot_TaskResponse{Returnval: ref}}
	}
	return w.VirtualMachineSnapshot.RevertToSnapshotTask(ctx, req)
}

// searchOverride reads a folder's children under the folder's lock.
type searchOverride struct {
	*simulator.SearchIndex
}

func (w *searchOverride) FindChild(ctx *simulator.Context, req *types.FindChild) soap.HasFault {
	obj := ctx.Map.Get(req.Entity)
	if obj == nil {
		return w.SearchIndex.FindChild(ctx, req)
	}
	var res soap.HasFault
	ctx.WithLock(obj, func() { res = w.SearchIndex.FindChild(ctx, req) })
	return res
}

func (w *searchOverride) FindByInventoryPath(ctx *simulator.Context, req *types.FindByInventoryPath) soap.HasFault {
	body := &methods.FindByInventoryPathBody{Res: new(types.FindByInventoryPathResponse)}
	si, ok := ctx.Map.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	if !ok {
		return w.SearchIndex.FindByInventoryPath(ctx, req)
	}
	o := si.Content.RootFolder
	for _, name := range strings.FieldsFunc(req.InventoryPath, func(r rune) bool { return r == '/' }) {
		r := w.FindChild(ctx, &types.FindChild{Entity: o, Name: name})
		found := r.(*methods.FindChildBody)
		if found.Fault_ != nil || found.Res == nil || found.Res.Returnval == nil {
			return body
		}
		o = *found.Res.Returnval
	}
	body.Res.Returnval = &o
	return body
}

// datastoreOverride keeps a datastore's size and free space when a client
// asks for a refresh: the simulator would reset it to 1 TB per mounting
// host, all free, forgetting the seeded size and the disks on it.
type datastoreOverride struct {
	*simulator.Datastore
}

func (w *datastoreOverride) RefreshDatastore(ctx *simulator.Context, req *types.RefreshDatastore) soap.HasFault {
	size := datastoreSize{capacity: w.Summary.Capacity, free: w.Summary.FreeSpace}
	res := w.Datastore.RefreshDatastore(ctx, req)
	setDatastoreSize(w.Datastore, size)
	return res
}

// checkRefs refuses references the simulator would type-assert and crash
// on: each must exist and be of its kind.
func checkRefs(ctx *simulator.Context, prefix string, host, pool, ds, folder *types.ManagedObjectReference) *soap.Fault {
	check := func(field string, ref *types.ManagedObjectReference, ok func(mo.Reference) bool) *soap.Fault {
		if ref == nil {
			return nil
		}
		if prefix != "" {
			field = prefix + "." + field
		}
		obj := ctx.Map.Get(*ref)
		if obj == nil {
			return faultBody(fmt.Sprintf("%s: managed object not found: %s", field, ref), &types.ManagedObjectNotFound{Obj: *ref})
		}
		if !ok(obj) {
			return faultBody(fmt.Sprintf("%s: %s is not of the right kind", field, ref), &types.InvalidArgument{InvalidProperty: field})
		}
		return nil
	}
	is := func(kinds ...reflect.Type) func(mo.Reference) bool {
		return func(o mo.Reference) bool {
			for _, k := range kinds {
				if reflect.TypeOf(o) == k {
					return true
				}
			}
			return false
		}
	}
	for _, f := range []*soap.Fault{
		check("host", host, is(reflect.TypeOf(&simulator.HostSystem{}))),
		check("pool", pool, is(reflect.TypeOf(&simulator.ResourcePool{}), reflect.TypeOf(&simulator.VirtualApp{}))),
		check("datastore", ds, is(reflect.TypeOf(&simulator.Datastore{}))),
		check("folder", folder, is(reflect.TypeOf(&simulator.Folder{}))),
	} {
		if f != nil {
			return f
		}
	}
	return nil
}

// datacenterOf walks up from e to its datacenter.
func datacenterOf(ctx *simulator.Context, e mo.Entity) *simulator.Datacenter {
	for e != nil {
		if dc, ok := e.(*simulator.Datacenter); ok {
			return dc
		}
		p := e.Entity().Parent
		if p == nil {
			return nil
		}
		next, _ := ctx.Map.Get(*p).(mo.Entity)
		e = next
	}
	return nil
}

// vmDatastore is the datastore holding vm's files.
func vmDatastore(vm *simulator.VirtualMachine) string {
	var p object.DatastorePath
	if vm.Config != nil && p.FromString(vm.Config.Files.VmPathName) {
		return p.Datastore
	}
	return ""
}

// checkDatastore refuses a datastore the datacenter does not have: the
// simulator would look it up there and panic on nil.
func checkDatastore(ctx *simulator.Context, dc *simulator.Datacenter, name, field string) *soap.Fault {
	if dc == nil || name == "" {
		return nil
	}
	for _, ref := range dc.Datastore {
		if ds, ok := ctx.Map.Get(ref).(*simulator.Datastore); ok && ds.Name == name {
			return nil
		}
	}
	return faultBody(fmt.Sprintf("datastore %q is not in datacenter %s; name one there in %s", name, dc.Name, field),
		&types.InvalidDatastore{Name: name})
}

// checkPoolSeesDatastore refuses a create-VM with no host named when no
// host of the pool's cluster mounts the datastore: the simulator would pick
// a random host from none and panic.
func checkPoolSeesDatastore(ctx *simulator.Context, pool types.ManagedObjectReference, ds string) *soap.Fault {
	for _, h := range poolHosts(ctx, pool) {
		if hostSees(ctx, h, ds) {
			return nil
		}
	}
	return faultBody(fmt.Sprintf("no host in the pool's cluster mounts datastore %q", ds), &types.InvalidDatastore{Name: ds})
}

// poolHosts are the hosts of a resource pool's cluster (or standalone host).
func poolHosts(ctx *simulator.Context, pool types.ManagedObjectReference) []types.ManagedObjectReference {
	var owner types.ManagedObjectReference
	switch p := ctx.Map.Get(pool).(type) {
	case *simulator.ResourcePool:
		owner = p.Owner
	case *simulator.VirtualApp:
		owner = p.Owner
	default:
		return nil
	}
	switch cr := ctx.Map.Get(owner).(type) {
	case *simulator.ClusterComputeResource:
		return cr.Host
	case *mo.ComputeResource:
		return cr.Host
	}
	return nil
}

// hostSees reports whether a host mounts the named datastore.
func hostSees(ctx *simulator.Context, host types.ManagedObjectReference, ds string) bool {
	h, ok := ctx.Map.Get(host).(*simulator.HostSystem)
	if !ok {
		return false
	}
	for _, ref := range h.Datastore {
		if d, ok := ctx.Map.Get(ref).(*simulator.Datastore); ok && d.Name == ds {
			return true
		}
	}
	return false
}

func checkHostSees(ctx *simulator.Context, host types.ManagedObjectReference, ds string) *soap.Fault {
	if ds == "" || hostSees(ctx, host, ds) {
		return nil
	}
	return faultBody(fmt.Sprintf("host %s cannot see datastore %q", host.Value, ds), &types.InvalidDatastore{Name: ds})
}

// pickHost chooses, round-robin, a host of the pool's cluster that sees
// the datastore (any host when ds is "").
func (s *Sim) pickHost(ctx *simulator.Context, pool types.ManagedObjectReference, ds string) (types.ManagedObjectReference, bool) {
	var hosts []types.ManagedObjectReference
	for _, h := range poolHosts(ctx, pool) {
		if ds == "" || hostSees(ctx, h, ds) {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return types.ManagedObjectReference{}, false
	}
	return hosts[int(s.placed.Add(1)-1)%len(hosts)], true
}

// attachDatastores makes a host see datastores it does not mount, and
// the datastores list it as mounting them.
func attachDatastores(ctx *simulator.Context, host types.ManagedObjectReference, dss []types.ManagedObjectReference) {
	h, ok := ctx.Map.Get(host).(*simulator.HostSystem)
	if !ok {
		return
	}
	for _, ref := range dss {
		ds, ok := ctx.Map.Get(ref).(*simulator.Datastore)
		if !ok {
			continue
		}
		added := false
		ctx.WithLock(h, func() {
			if !slices.Contains(h.Datastore, ref) {
				ctx.Update(h, []types.PropertyChange{{Name: "datastore", Val: append(slices.Clip(h.Datastore), ref)}})
				added = true
			}
		})
		if !added {
			continue
		}
		ctx.WithLock(ds, func() {
			mounts := append(slices.Clip(ds.Host), types.DatastoreHostMount{
				Key: host,
				MountInfo: types.HostMountInfo{
					AccessMode: string(types.HostMountModeReadWrite),
					Mounted:    types.NewBool(true),
					Accessible: types.NewBool(true),
				},
			})
			ctx.Update(ds, []types.PropertyChange{{Name: "host", Val: mounts}})
		})
	}
}

// checkNICs refuses a NIC backed by a network the datacenter lacks: the
// simulator looks the network up by name there and panics on nil.
func checkNICs(ctx *simulator.Context, dc *simulator.Datacenter, changes []types.BaseVirtualDeviceConfigSpec) *soap.Fault {
	if dc == nil {
		return nil
	}
	for _, c := range changes {
		spec := c.GetVirtualDeviceConfigSpec()
		if spec.Operation == types.VirtualDeviceConfigSpecOperationRemove || spec.Device == nil {
			continue
		}
		card, ok := spec.Device.(types.BaseVirtualEthernetCard)
		if !ok {
			continue
		}
		b, ok := card.GetVirtualEthernetCard().Backing.(*types.VirtualEthernetCardNetworkBackingInfo)
		if !ok {
			continue
		}
		if !dcHasNetwork(ctx, dc, b.DeviceName) {
			return faultBody(fmt.Sprintf("network %q not found in datacenter %s", b.DeviceName, dc.Name),
				&types.NotFound{})
		}
	}
	return nil
}

func dcHasNetwork(ctx *simulator.Context, dc *simulator.Datacenter, name string) bool {
	for _, ref := range dc.Network {
		if networkName(ctx.Map.Get(ref)) == name {
			return true
		}
	}
	return false
}

// networkName is a network's name: networks keep it in their own Name
// field, not the managed entity's.
func networkName(obj mo.Reference) string {
	switch n := obj.(type) {
	case *mo.Network:
		return n.Name
	case *simulator.DistributedVirtualPortgroup:
		return n.Name
	case *mo.OpaqueNetwork:
		return n.Name
	}
	return ""
}

// taskRef is the task reference in a method body's response.
func taskRef(body soap.HasFault) (types.ManagedObjectReference, bool) {
	v := reflect.ValueOf(body)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return types.ManagedObjectReference{}, false
	}
	res := v.FieldByName("Res")
	if !res.IsValid() || res.IsNil() {
		return types.ManagedObjectReference{}, false
	}
	ret := res.Elem().FieldByName("Returnval")
	if !ret.IsValid() {
		return types.ManagedObjectReference{}, false
	}
	ref, ok := ret.Interface().(types.ManagedObjectReference)
	return ref, ok && ref.Type == "Task"
}
