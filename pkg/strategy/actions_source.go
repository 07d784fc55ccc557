package strategy

// The steps that act on a unit's source VM: record-state, snapshot,
// power-off, upgrade-hardware, reconfigure, relocate, remove-snapshot,
// retire and decommission (and, for remediate, power-on and verify in
// actions_vm.go).

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// recorded is what record-state keeps of a source VM.
var recordedKeys = []string{OutSource, OutPowerState, OutDatacenter, OutCluster, OutHost, OutPool, OutDatastore, OutFolder, OutCPUs, OutMemoryMB, OutNetworks, OutHardware}

func record(vm *vsphere.VM) map[string]string {
	ds := ""
	if len(vm.Datastores) > 0 {
		ds = vm.Datastores[0]
	}
	return map[string]string{
		OutSource:     vm.Ref,
		OutPowerState: vm.PowerState,
		OutDatacenter: vm.Datacenter,
		OutCluster:    vm.Cluster,
		OutHost:       vm.Host,
		OutPool:       vm.ResourcePool,
		OutDatastore:  ds,
		OutFolder:     vm.Folder,
		OutCPUs:       strconv.Itoa(vm.CPUs),
		OutMemoryMB:   strconv.Itoa(vm.MemoryMB),
		OutNetworks:   strings.Join(vm.Networks, ","),
		OutHardware:   vm.HardwareVersion,
	}
}

// recordState: read the source VM before anything touches it, keep its
// power state, placement and size in the outputs and in a marker on the
// VM itself. Check: the record exists (in the outputs, or on the VM).
func recordState() Action {
	return Action{
		Check: func(ctx context.Context, rt *Runtime) (bool, error) {
			if rt.Outputs[OutPowerState] != "" && rt.Outputs[OutSource] != "" {
				return true, nil
			}
			_, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return false, err
			}
			if !ours(rt, vm) || vm.Markers[MarkerRecorded] == "" {
				return false, nil
			}
			var rec map[string]string
			if err := json.Unmarshal([]byte(vm.Markers[MarkerRecorded]), &rec); err != nil || rec[OutPowerState] == "" {
				return false, nil
			}
			for _, k := range recordedKeys {
				rt.Outputs[k] = rec[k]
			}
			remember(rt, vm)
			rt.Outputs[OutSourceMarked] = "true"
			return true, nil
		},
		Do: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			if err := notManaged(rt, vm); err != nil {
				return err
			}
			rec := record(vm)
			b, _ := json.Marshal(rec)
			if err := setMarkers(ctx, d, vm, marks(rt, plan.StepRecordState, MarkerRecorded, string(b))); err != nil {
				return err
			}
			for k, v := range rec {
				rt.Outputs[k] = v
			}
			rt.Outputs[OutSourceMarked] = "true"
			return nil
		},
		// Undo clears every marker wavectl put on the source VM: the last
		// undo of a remediate, the undo after un-retiring an old VM.
		Undo: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if vsphere.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			clear := map[string]string{}
			for k := range vm.Markers {
				clear[k] = ""
			}
			if len(clear) == 0 {
				delete(rt.Outputs, OutSourceMarked)
				return nil
			}
			if err := setMarkers(ctx, d, vm, clear); err != nil {
				return err
			}
			delete(rt.Outputs, OutSourceMarked)
			return nil
		},
	}
}

// notManaged refuses a source VM that a vSphere solution manages (vCLS,
// Workload Management, NSX, SRM placeholders: config.managedBy) unless the
// plan names that solution on this VM. Record-state is the first step of
// every strategy to touch a source VM, so nothing is changed before.
func notManaged(rt *Runtime, vm *vsphere.VM) error {
	if vm.ManagedBy == "" {
		return nil
	}
	where := ""
	for j, ref := range rt.App.VMs {
		if ref != nil && ref.Name == rt.Unit {
			if ref.ManagedBy == vm.ManagedBy {
				return nil
			}
			where = fmt.Sprintf(" (applications[%d].vms[%d])", rt.App.Index, j)
		}
	}
	return fmt.Errorf("VM %s is managed by the vSphere solution %s (config.managedBy): wavectl changes no such VM unless the plan says so; leave it out of the plan, or, only with the solution owner's agreement, add managedBy: %s to it%s", vm.Name, vm.ManagedBy, vm.ManagedBy, where)
}

// snapshot: wavectl-<plan> on the remediated VM. Check: it is there.
// Undo: revert to it, remove it, and restore the recorded power state (a
// revert to a snapshot without memory leaves the VM off).
func snapshot() Action {
	find := func(vm *vsphere.VM, rt *Runtime) *vsphere.Snapshot {
		name := SnapshotPrefix + rt.Plan.Metadata.Name
		for i := range vm.Snapshots {
			if vm.Snapshots[i].Name == name || (rt.Outputs[OutSnapshot] != "" && vm.Snapshots[i].Ref == rt.Outputs[OutSnapshot]) {
				return &vm.Snapshots[i]
			}
		}
		return nil
	}
	return Action{
		Check: func(ctx context.Context, rt *Runtime) (bool, error) {
			_, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return false, err
			}
			if s := find(vm, rt); s != nil {
				rt.Outputs[OutSnapshot] = s.Ref
				return true, nil
			}
			return progressed(rt, vm, plan.StepSnapshot), nil
		},
		Do: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			// No marker: the snapshot itself, found by name, says it was
			// taken (see markPast for when that evidence goes).
			s, err := d.CreateSnapshot(ctx, vm.Ref, SnapshotPrefix+rt.Plan.Metadata.Name,
				fmt.Sprintf("wavectl: %s before plan %s remediates it (application %s)", vm.Name, rt.Plan.Metadata.Name, rt.App.Name))
			if err != nil {
				return err
			}
			rt.Outputs[OutSnapshot] = s.Ref
			return nil
		},
		Undo: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			if s := find(vm, rt); s != nil {
				if err := d.RevertSnapshot(ctx, vm.Ref, s.Ref); err != nil {
					return err
				}
				if err := d.RemoveSnapshot(ctx, vm.Ref, s.Ref); err != nil {
					return err
				}
			} else {
				rt.Log.Warn().Str("vm", vm.Name).Msg("wavectl's snapshot is gone: nothing to revert to")
			}
			delete(rt.Outputs, OutSnapshot)
			if err := restorePower(ctx, rt, d, vm.Ref); err != nil {
				return err
			}
			return rewind(ctx, rt, d, vm, plan.StepSnapshot)
		},
	}
}

// restorePower powers the VM on when record-state found it on.
func restorePower(ctx context.Context, rt *Runtime, d vsphere.Driver, ref string) error {
	if rt.Outputs[OutPowerState] == vsphere.PoweredOn {
		return d.PowerOn(ctx, ref)
	}
	return nil
}

func shutdownTimeout(rt *Runtime) time.Duration {
	if rt.ShutdownTimeout > 0 {
		return rt.ShutdownTimeout
	}
	return DefaultShutdownTimeout
}

// powerOff: shut the source VM down (guest shutdown, then power off). It
// refuses to run before its power state is recorded. Check: it is off.
// Undo: power it back on if it was on.
func powerOff() Action {
	return Action{
		Check: func(ctx context.Context, rt *Runtime) (bool, error) {
			_, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return false, err
			}
			return vm.PowerState == vsphere.PoweredOff || progressed(rt, vm, plan.StepPowerOff), nil
		},
		Do: func(ctx context.Context, rt *Runtime) error {
			if rt.Outputs[OutPowerState] == "" {
				return fmt.Errorf("%s's power state is not recorded: record-state must run before power-off", rt.Unit)
			}
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			// No marker: the power state says it is done, until power-on
			// turns the VM on again (see markPast).
			return d.Shutdown(ctx, vm.Ref, shutdownTimeout(rt))
		},
		Undo: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			if err := restorePower(ctx, rt, d, vm.Ref); err != nil {
				return err
			}
			return rewind(ctx, rt, d, vm, plan.StepPowerOff)
		},
	}
}

// hardwareAtLeast reports whether version have is want or later.
func hardwareAtLeast(have, want string) bool {
	h, errH := strconv.Atoi(strings.TrimPrefix(have, "vmx-"))
	w, errW := strconv.Atoi(strings.TrimPrefix(want, "vmx-"))
	return errH == nil && errW == nil && h >= w
}

// upgradeHardware: the remediation's hardware version, on the powered-off
// VM. Check: the VM has it or later. Undo: vSphere cannot downgrade a
// VM's hardware; the snapshot's undo (a revert) restores it.
func upgradeHardware() Action {
	want := func(rt *Runtime) string {
		if rt.App.Remediate != nil {
			return rt.App.Remediate.HardwareVersion
		}
		return ""
	}
	return Action{
		Check: func(ctx context.Context, rt *Runtime) (bool, error) {
			_, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return false, err
			}
			return want(rt) == "" || hardwareAtLeast(vm.HardwareVersion, want(rt)) ||
				(scheduled(rt) && vm.ScheduledHardware != "" && hardwareAtLeast(vm.ScheduledHardware, want(rt))), nil
		},
		Do: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			// No marker: the hardware version says it is done.
			if scheduled(rt) && vm.PowerState == vsphere.PoweredOn {
				return scheduleUpgrade(ctx, rt, d, vm, want(rt)) // live.go
			}
			return d.UpgradeHardware(ctx, vm.Ref, want(rt))
		},
		Verify: func(ctx context.Context, rt *Runtime) error {
			_, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			if scheduled(rt) && !hardwareAtLeast(vm.HardwareVersion, want(rt)) {
				if vm.ScheduledHardware == "" || !hardwareAtLeast(vm.ScheduledHardware, want(rt)) {
					return fmt.Errorf("%s has no upgrade to %s scheduled after scheduling it", vm.Name, want(rt))
				}
				return nil
			}
			if !hardwareAtLeast(vm.HardwareVersion, want(rt)) {
				return fmt.Errorf("%s has hardware %s after the upgrade to %s", vm.Name, vm.HardwareVersion, want(rt))
			}
			return nil
		},
		Undo: func(ctx context.Context, rt *Runtime) error {
			if rt.Outputs[OutHardware] != "" && want(rt) != "" && !hardwareAtLeast(rt.Outputs[OutHardware], want(rt)) {
				rt.Log.Warn().Str("from", rt.Outputs[OutHardware]).Str("to", want(rt)).
					Msg("vSphere cannot downgrade hardware: reverting wavectl's snapshot (the snapshot step's undo) restores it")
			}
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			if err := cancelScheduled(ctx, d, vm); err != nil { // live.go
				return err
			}
			return rewind(ctx, rt, d, vm, plan.StepUpgradeHardware)
		},
	}
}

// reconfigure: the remediation's CPUs and memory, on the powered-off VM.
// (Its NICs move to the target portgroups in relocate: those portgroups
// exist only in the target datacenter.) Check: the VM has that size.
// Undo: the recorded size.
func reconfigure() Action {
	want := func(rt *Runtime) (cpus, mem int) {
		if r := rt.App.Remediate; r != nil {
			return r.CPUs, r.MemoryMB
		}
		return 0, 0
	}
	sized := func(vm *vsphere.VM, cpus, mem int) bool {
		return (cpus == 0 || vm.CPUs == cpus) && (mem == 0 || vm.MemoryMB == mem)
	}
	return Action{
		Check: func(ctx context.Context, rt *Runtime) (bool, error) {
			_, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return false, err
			}
			cpus, mem := want(rt)
			return sized(vm, cpus, mem), nil
		},
		Do: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			cpus, mem := want(rt)
			// The step marker rides in the reconfigure's own spec: it
			// says the unit is past its snapshot and power-off, so a
			// later power-on or remove-snapshot need not write it.
			return d.Reconfigure(ctx, vm.Ref, vsphere.ReconfigureSpec{CPUs: cpus, MemoryMB: mem, Markers: marks(rt, plan.StepReconfigure)})
		},
		Verify: func(ctx context.Context, rt *Runtime) error {
			_, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			if cpus, mem := want(rt); !sized(vm, cpus, mem) {
				return fmt.Errorf("%s has %d vCPU and %d MB after the reconfigure to %d vCPU and %d MB", vm.Name, vm.CPUs, vm.MemoryMB, cpus, mem)
			}
			return nil
		},
		Undo: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			cpus, _ := strconv.Atoi(rt.Outputs[OutCPUs])
			mem, _ := strconv.Atoi(rt.Outputs[OutMemoryMB])
			if err := shrinkBack(ctx, rt, d, vm, cpus, mem); err != nil { // live.go
				return err
			}
			return rewind(ctx, rt, d, vm, plan.StepReconfigure)
		},
	}
}

// placed reports whether vm is at p. The host counts only when the plan
// pins one: otherwise it is the engine's choice within the cluster, which
// may differ on a resumed run.
func placed(rt *Runtime, vm *vsphere.VM, p vsphere.Placement) bool {
	switch {
	case vm.Datacenter != p.Datacenter,
		p.Cluster != "" && vm.Cluster != p.Cluster,
		rt.App.Resolved.Host != "" && vm.Host != p.Host,
		p.Datastore != "" && !slices.Contains(vm.Datastores, p.Datastore),
		p.Folder != "" && vm.Folder != p.Folder,
		p.ResourcePool != "" && vm.ResourcePool != p.ResourcePool:
		return false
	}
	return true
}

// remapped reports whether no NIC of vm is left on a network nets moves.
func remapped(vm *vsphere.VM, nets map[string]string) bool {
	for _, n := range vm.Networks {
		if to, ok := nets[n]; ok && to != "" && to != n {
			return false
		}
	}
	return true
}

// relocate: move the VM into the target cluster, datastore and folder
// (in another datacenter of its vCenter), remapping its NICs to the target portgroups on the way. Check: it is
// there with its NICs remapped. Undo: move it back to the recorded
// placement and networks.
func relocate() Action {
	return Action{
		Check: func(ctx context.Context, rt *Runtime) (bool, error) {
			_, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return false, err
			}
			return placed(rt, vm, target(rt)) && remapped(vm, networks(rt.App)), nil
		},
		Do: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			// Into the target vCenter: a cross-vCenter relocation when it
			// is another than the one holding the VM.
			spec := vsphere.RelocateSpec{Target: target(rt), Networks: networks(rt.App)}
			if live(rt) {
				// vCenter's checks again, just before the move (live.go).
				if err := moveChecked(ctx, rt, d, vm, spec); err != nil {
					return err
				}
			}
			// No marker: the placement says it is done (and a relocate
			// spec carries no extraConfig).
			return relocateAcross(ctx, rt, d, vm, rt.Target, spec) // cross.go
		},
		Verify: func(ctx context.Context, rt *Runtime) error {
			_, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			p := target(rt)
			if !placed(rt, vm, p) {
				return fmt.Errorf("%s is at %s (cluster %s, datastores %s) after the move to cluster %s, datastore %s, folder %s",
					vm.Name, vm.Path, vm.Cluster, strings.Join(vm.Datastores, ","), p.Cluster, p.Datastore, p.Folder)
			}
			if !remapped(vm, networks(rt.App)) {
				return fmt.Errorf("%s's NICs are on %s after the remap", vm.Name, strings.Join(vm.Networks, ", "))
			}
			return nil
		},
		Undo: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			back := vsphere.Placement{
				Datacenter: rt.Outputs[OutDatacenter], Cluster: rt.Outputs[OutCluster], Host: rt.Outputs[OutHost],
				ResourcePool: rt.Outputs[OutPool], Datastore: rt.Outputs[OutDatastore], Folder: rt.Outputs[OutFolder],
			}
			if back.Datacenter == "" {
				return fmt.Errorf("%s's placement before the move is not recorded: move it back by hand", vm.Name)
			}
			nets := map[string]string{}
			if rec := rt.Outputs[OutNetworks]; rec != "" {
				was := strings.Split(rec, ",")
				for i, n := range vm.Networks {
					if i < len(was) && was[i] != n {
						if _, dup := nets[n]; !dup {
							nets[n] = was[i]
						}
					}
				}
			}
			spec := vsphere.RelocateSpec{Target: back, Networks: nets}
			if vm.Datacenter == back.Datacenter && vm.Host == back.Host && vm.Folder == back.Folder &&
				slices.Contains(vm.Datastores, back.Datastore) && vm.ResourcePool == back.ResourcePool {
				spec.Target = vsphere.Placement{}
			}
			home := d
			if crossVCenter(rt) {
				home = rt.Source
			}
			if err := moveBack(ctx, rt, d, vm, home, spec); err != nil { // live.go
				return err
			}
			if home != d {
				// Back in the source vCenter, under a new id.
				d, vm, err = sourceVM(ctx, rt)
				if err != nil {
					return err
				}
			}
			return rewind(ctx, rt, d, vm, plan.StepRelocate)
		},
	}
}

// removeSnapshot: remove wavectl's snapshot once the VM verified. Check:
// it is gone. No undo: after this a rollback cannot revert.
func removeSnapshot() Action {
	name := func(rt *Runtime) string { return SnapshotPrefix + rt.Plan.Metadata.Name }
	has := func(vm *vsphere.VM, rt *Runtime) bool {
		return slices.ContainsFunc(vm.Snapshots, func(s vsphere.Snapshot) bool {
			return s.Name == name(rt) || (rt.Outputs[OutSnapshot] != "" && s.Ref == rt.Outputs[OutSnapshot])
		})
	}
	return Action{
		Check: func(ctx context.Context, rt *Runtime) (bool, error) {
			_, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return false, err
			}
			return !has(vm, rt), nil
		},
		Do: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			if err := markPast(ctx, rt, d, vm, plan.StepSnapshot, plan.StepRemoveSnapshot); err != nil {
				return err
			}
			// Every one of wavectl's, by ref: a run killed while vCenter
			// took the snapshot, and the next run's snapshot step taking
			// it again before that task ended, leave two of the name.
			for _, s := range vm.Snapshots {
				if s.Name == name(rt) || (rt.Outputs[OutSnapshot] != "" && s.Ref == rt.Outputs[OutSnapshot]) {
					if err := d.RemoveSnapshot(ctx, vm.Ref, s.Ref); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
}

// retire: redeploy marks the old VM superseded; replace marks it retired
// (with the time) and moves it to the retirement folder of its
// datacenter. Check: the mark (and folder) are there. Undo: move it back
// and clear the marks.
func retire() Action {
	replace := func(rt *Runtime) bool { return rt.App.Strategy == plan.Replace }
	folder := func(rt *Runtime) string {
		f := cleanFolder(rt.App.Resolved.RetirementFolder)
		if f == "" {
			f = plan.DefaultRetireFolder
		}
		return f
	}
	return Action{
		Check: func(ctx context.Context, rt *Runtime) (bool, error) {
			_, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return false, err
			}
			if !replace(rt) {
				return ours(rt, vm) && vm.Markers[vsphere.MarkerState] == StateSuperseded, nil
			}
			if ours(rt, vm) && vm.Markers[vsphere.MarkerState] == StateRetired && vm.Folder == folder(rt) && vm.Markers[vsphere.MarkerRetiredAt] != "" {
				rt.Outputs[OutRetiredAt] = vm.Markers[vsphere.MarkerRetiredAt]
				return true, nil
			}
			return false, nil
		},
		Do: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			if !replace(rt) {
				return setMarkers(ctx, d, vm, marks(rt, plan.StepRetire, vsphere.MarkerState, StateSuperseded))
			}
			at := vm.Markers[vsphere.MarkerRetiredAt]
			if !ours(rt, vm) || vm.Markers[vsphere.MarkerState] != StateRetired || at == "" {
				at = now(rt).UTC().Format(time.RFC3339)
			}
			if err := setMarkers(ctx, d, vm, marks(rt, plan.StepRetire, vsphere.MarkerState, StateRetired, vsphere.MarkerRetiredAt, at)); err != nil {
				return err
			}
			rt.Outputs[OutRetiredAt] = at
			return d.MoveToFolder(ctx, vm.Ref, vm.Datacenter, folder(rt))
		},
		Undo: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			if replace(rt) && rt.Outputs[OutDatacenter] != "" && vm.Datacenter == rt.Outputs[OutDatacenter] {
				if err := d.MoveToFolder(ctx, vm.Ref, vm.Datacenter, rt.Outputs[OutFolder]); err != nil {
					return err
				}
			}
			delete(rt.Outputs, OutRetiredAt)
			if err := setMarkers(ctx, d, vm, map[string]string{vsphere.MarkerState: "", vsphere.MarkerRetiredAt: ""}); err != nil {
				return err
			}
			return rewind(ctx, rt, d, vm, plan.StepRetire)
		},
	}
}

// decommission: delete a retired VM once its retention period has
// passed; before that, a *NotYetError with the date. Only a VM that
// wavectl retired for this application is deleted. Check: it is gone.
func decommission() Action {
	return Action{
		Check: func(ctx context.Context, rt *Runtime) (bool, error) {
			_, _, err := sourceVM(ctx, rt)
			if vsphere.IsNotFound(err) {
				return true, nil
			}
			return false, err
		},
		Do: func(ctx context.Context, rt *Runtime) error {
			d, vm, err := sourceVM(ctx, rt)
			if err != nil {
				return err
			}
			if !ours(rt, vm) || vm.Markers[vsphere.MarkerState] != StateRetired {
				return fmt.Errorf("%s (%s) is not marked retired by plan %s, application %s: not deleting it", vm.Name, vm.Path, rt.Plan.Metadata.Name, rt.App.Name)
			}
			at := vm.Markers[vsphere.MarkerRetiredAt]
			if at == "" {
				at = rt.Outputs[OutRetiredAt]
			}
			retiredAt, err := time.Parse(time.RFC3339, at)
			if err != nil {
				return fmt.Errorf("%s's retirement time %q: %v", vm.Name, at, err)
			}
			days := plan.DefaultRetainDays
			if rt.App.RetainDays != nil {
				days = *rt.App.RetainDays
			}
			if due := retiredAt.AddDate(0, 0, days); now(rt).Before(due) {
				return &NotYetError{VM: vm.Name, Until: due}
			}
			return d.Destroy(ctx, vm.Ref)
		},
	}
}
