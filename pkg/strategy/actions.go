package strategy

// Actions: what each step kind does against vSphere. Every step finds its
// VM afresh (by the ref the unit's outputs hold, by name in the source
// datacenter, or by wavectl's markers in the target), so that a retried,
// resumed or rolled-back step acts on what vCenter really holds.
//
// Which VM a step acts on:
//   - create-vm, import-image, clone make the unit's new VM (OutVM) in the
//     target; power-on and verify act on it, except for remediate.
//   - record-state, snapshot, power-off, upgrade-hardware, reconfigure,
//     relocate, remove-snapshot, retire and decommission act on the source
//     VM (OutSource); for remediate so do power-on and verify: the VM
//     itself moves.
//
// Every VM wavectl creates or changes carries the markers plan and
// application, and step: a kind the unit has reached. Most steps' Checks
// read their effect in the VM itself (it exists, is off, has the size, the
// hardware, the placement, the snapshot), so the step marker is written
// only where it costs nothing or where a later step destroys that
// evidence:
//   - in the spec of a change that is made anyway: clone, create and
//     import carry the markers in the new VM's config, reconfigure in its
//     own config spec, record-state and retire are marker writes;
//   - before an act that removes the evidence of an earlier step (see
//     markPast): power-on turns on again a remediated VM that power-off
//     left off, and remove-snapshot removes the snapshot; unless the
//     marker already says the unit is past that step (reconfigure's spec).
// Power-off, snapshot, upgrade-hardware and relocate write none (a power
// change, a snapshot, an upgrade and a relocate spec carry no
// extraConfig): each would cost a reconfigure task of its own.
// A marker is written before the act, not after: when a run dies while
// vCenter carries out the act's task, the next run's Check finds the
// effect and skips the step, and the marker must already say so. A VM
// wavectl made also carries source (the unit it stands for: the old VM's
// or server's name, or the replacement's), which is how a step finds its
// earlier work.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// Markers and states of wavectl's own, beyond the driver's.
const (
	// MarkerRecorded holds, as JSON, what record-state read of a source VM
	// (its power state, placement and size), so that the record survives
	// even a lost state file.
	MarkerRecorded = vsphere.MarkerPrefix + "recorded"
	// StateSuperseded marks a redeployed application's old VM; StateRetired
	// a replaced one's.
	StateSuperseded = "superseded"
	StateRetired    = "retired"
)

// Defaults for Runtime fields left zero.
const (
	DefaultShutdownTimeout = 2 * time.Minute
	DefaultVerifyTimeout   = 10 * time.Minute
	DefaultCheckTimeout    = 2 * time.Minute
	DefaultGuestID         = "otherLinux64Guest"
)

// ErrNotYet is the error a step returns when it must wait for a date (a
// retired VM's retention period). The error is a *NotYetError, which says
// until when; the engine records the step as deferred.
var ErrNotYet = errors.New("not due yet")

// NotYetError puts a step off until a date.
type NotYetError struct {
	VM    string
	Until time.Time
}

func (e *NotYetError) Error() string {
	return fmt.Sprintf("%s is kept until %s (its retention period); it is deleted by the first run after that", e.VM, e.Until.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrNotYet) true.
func (e *NotYetError) Is(target error) bool { return target == ErrNotYet }

// NotBefore is when the step may run.
func (e *NotYetError) NotBefore() time.Time { return e.Until }

// ActionFor returns how step st of application rt.App is carried out.
func ActionFor(st Step) Action {
	var a Action
	switch st.Kind {
	case plan.StepPreHook:
		a = hookAction("pre")
	case plan.StepPostHook:
		a = hookAction("post")
	case plan.StepRecordState:
		a = recordState()
	case plan.StepCreateVM:
		a = createVM()
	case plan.StepImportImage:
		a = importImage()
	case plan.StepClone:
		a = cloneVM()
	case plan.StepSnapshot:
		a = snapshot()
	case plan.StepPowerOff:
		a = powerOff()
	case plan.StepUpgradeHardware:
		a = upgradeHardware()
	case plan.StepReconfigure:
		a = reconfigure()
	case plan.StepRelocate:
		a = relocate()
	case plan.StepSwitchOver:
		a = switchOver()
	case plan.StepPowerOn:
		a = powerOn()
	case plan.StepVerify:
		a = verify()
	case plan.StepRemoveSnapshot:
		a = removeSnapshot()
	case plan.StepRetire:
		a = retire()
	case plan.StepDecommission:
		a = decommission()
	default:
		return Action{Do: func(context.Context, *Runtime) error {
			return fmt.Errorf("step kind %q is not one wavectl knows", st.Kind)
		}}
	}
	return guard(a)
}

// stepReads are the VMs a step's Check read (the unit's source VM, its
// new VM), handed to its Do: a Check reads the VM to see whether the step
// is done, and the Do that follows at once (engine.attempt) would read the
// same VM again to act on it. Each is handed over once: the Do's later
// reads, and Verify's, which must see the act's effect, read afresh.
//
// A Do that makes the unit's new VM gets it back from vCenter as the task
// left it (the driver reads it after the task); it hands that read to its
// Verify (made), which would otherwise read the VM again at once.
type stepReads struct {
	checking bool
	source   *held
	own      *vsphere.VM
	made     *vsphere.VM
}

// madeVM hands the new VM a Do made, as read after its task, to Verify.
func madeVM(rt *Runtime, vm *vsphere.VM) {
	if rt.reads == nil {
		rt.reads = &stepReads{}
	}
	rt.reads.made = vm
}

type held struct {
	d  vsphere.Driver
	vm *vsphere.VM
}

// guard gives every function of a an outputs map to write to and a
// runtime that names its application; it keeps a Check's reads for the Do
// right after it, and nothing longer.
func guard(a Action) Action {
	ready := func(rt *Runtime) error {
		if rt == nil || rt.Plan == nil || rt.App == nil {
			return errors.New("step run without its plan and application")
		}
		if rt.Outputs == nil {
			rt.Outputs = map[string]string{}
		}
		return nil
	}
	wrap := func(f func(context.Context, *Runtime) error) func(context.Context, *Runtime) error {
		if f == nil {
			return nil
		}
		return func(ctx context.Context, rt *Runtime) error {
			if err := ready(rt); err != nil {
				return err
			}
			return f(ctx, rt)
		}
	}
	fresh := func(f func(context.Context, *Runtime) error) func(context.Context, *Runtime) error {
		if f == nil {
			return nil
		}
		return func(ctx context.Context, rt *Runtime) error {
			if rt != nil {
				rt.reads = nil
			}
			return f(ctx, rt)
		}
	}
	out := Action{Undo: fresh(wrap(a.Undo))}
	if verify := wrap(a.Verify); verify != nil {
		out.Verify = func(ctx context.Context, rt *Runtime) error {
			if rt != nil {
				defer func() { rt.reads = nil }()
			}
			return verify(ctx, rt)
		}
	}
	if do := wrap(a.Do); do != nil {
		out.Do = func(ctx context.Context, rt *Runtime) error {
			if rt != nil && rt.reads != nil {
				rt.reads.checking = false
			}
			err := do(ctx, rt)
			if rt != nil {
				// Only what the Do made goes on to Verify.
				if r := rt.reads; err == nil && r != nil && r.made != nil {
					rt.reads = &stepReads{own: r.made}
				} else {
					rt.reads = nil
				}
			}
			return err
		}
	}
	if a.Check != nil {
		out.Check = func(ctx context.Context, rt *Runtime) (bool, error) {
			if err := ready(rt); err != nil {
				return false, err
			}
			rt.reads = &stepReads{checking: true}
			done, err := a.Check(ctx, rt)
			if done || err != nil {
				rt.reads = nil
			}
			return done, err
		}
	}
	return out
}

// never is the Check of steps whose effect is knowledge (verify, hooks):
// they run every time they are asked to, changing nothing in vCenter.
func never(context.Context, *Runtime) (bool, error) { return false, nil }

// marks are the markers a step puts on a VM it creates or changes.
func marks(rt *Runtime, kind string, extra ...string) map[string]string {
	m := map[string]string{
		vsphere.MarkerPlan:        rt.Plan.Metadata.Name,
		vsphere.MarkerApplication: rt.App.Name,
		vsphere.MarkerStep:        kind,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// ours reports whether the VM carries this plan's and application's
// markers.
func ours(rt *Runtime, vm *vsphere.VM) bool {
	return vm != nil && vm.Markers[vsphere.MarkerPlan] == rt.Plan.Metadata.Name && vm.Markers[vsphere.MarkerApplication] == rt.App.Name
}

// unitKinds are the kinds of the unit's steps, in order (each kind comes
// once per unit).
func unitKinds(rt *Runtime) []string {
	var out []string
	for _, st := range Steps(rt.App) {
		if st.Unit == rt.Unit {
			out = append(out, st.Kind)
		}
	}
	return out
}

// progressed reports whether the VM's step marker says the unit got past
// kind: a remediated VM powered on again has still been powered off, and
// its snapshot taken, even when the snapshot has since been removed.
func progressed(rt *Runtime, vm *vsphere.VM, kind string) bool {
	if !ours(rt, vm) {
		return false
	}
	kinds := unitKinds(rt)
	at, me := slices.Index(kinds, vm.Markers[vsphere.MarkerStep]), slices.Index(kinds, kind)
	return at >= 0 && me >= 0 && at > me
}

// setMarkers writes the markers of want that vm does not already carry
// as asked: the driver writes without reading the VM, and an empty value
// for a key the VM does not have would leave an empty key behind (in
// govmomi's simulator) rather than nothing.
func setMarkers(ctx context.Context, d vsphere.Driver, vm *vsphere.VM, want map[string]string) error {
	diff := map[string]string{}
	for k, v := range want {
		if have, ok := vm.Markers[k]; (ok && have != v) || (!ok && v != "") {
			diff[k] = v
		}
	}
	if len(diff) == 0 {
		return nil
	}
	return d.SetMarkers(ctx, vm.Ref, diff)
}

// markPast makes the VM's step marker say the unit got past evidence (a
// step whose Check reads its effect in the VM) before kind's act removes
// that effect: after it, only the marker tells a run that lost its record
// (TestChecksFindEarlierWorkWithoutTheRecord) that evidence was done, and
// must not be done again (a second shutdown of the moved VM, a second
// snapshot). Nothing is written when the unit has no such step before
// kind, or when the marker already says so (written by reconfigure's
// spec).
func markPast(ctx context.Context, rt *Runtime, d vsphere.Driver, vm *vsphere.VM, evidence, kind string) error {
	kinds := unitKinds(rt)
	if e, k := slices.Index(kinds, evidence), slices.Index(kinds, kind); e < 0 || k < e || progressed(rt, vm, evidence) {
		return nil // no such step before kind in this unit (the old VM's power-off comes after a new VM's power-on)
	}
	return setMarkers(ctx, d, vm, marks(rt, kind))
}

// rewind sets the VM's step marker back to the step before kind, once
// kind is undone, so that progressed tells the truth after a rollback.
func rewind(ctx context.Context, rt *Runtime, d vsphere.Driver, vm *vsphere.VM, kind string) error {
	kinds := unitKinds(rt)
	me := slices.Index(kinds, kind)
	if me <= 0 || !ours(rt, vm) || slices.Index(kinds, vm.Markers[vsphere.MarkerStep]) < me {
		return nil
	}
	return setMarkers(ctx, d, vm, map[string]string{vsphere.MarkerStep: kinds[me-1]})
}

func now(rt *Runtime) time.Time {
	if rt.Now != nil {
		return rt.Now()
	}
	return time.Now()
}

// target is where the unit goes: the engine's placement, with what it
// left empty taken from the application's resolved target.
func target(rt *Runtime) vsphere.Placement {
	p, r := rt.Placement, rt.App.Resolved
	if p.Datacenter == "" {
		p.Datacenter = r.Datacenter
	}
	if p.Cluster == "" {
		p.Cluster = r.Cluster
	}
	if p.Host == "" {
		p.Host = r.Host
	}
	if p.ResourcePool == "" {
		p.ResourcePool = r.ResourcePool
	}
	if p.Datastore == "" {
		p.Datastore = r.Datastore
	}
	if p.Folder == "" {
		p.Folder = r.Folder
	}
	p.Folder = cleanFolder(p.Folder)
	p.ResourcePool = cleanFolder(p.ResourcePool)
	return p
}

func cleanFolder(f string) string {
	var parts []string
	for _, s := range strings.Split(f, "/") {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "/")
}

// networks is the application's NIC remap: the target's, then the
// remediation's own on top.
func networks(a *plan.Application) map[string]string {
	out := map[string]string{}
	for k, v := range a.Resolved.Networks {
		out[k] = v
	}
	if a.Strategy == plan.Remediate && a.Remediate != nil {
		for k, v := range a.Remediate.Networks {
			out[k] = v
		}
	}
	return out
}

// mapped is the target portgroup for a source network: its mapping, or
// the same name when it has none.
func mapped(nets map[string]string, n string) string {
	if to, ok := nets[n]; ok && to != "" {
		return to
	}
	return n
}

// readVM reads a VM by ref from the source vCenter or, failing that, the
// target (the same driver within one vCenter), returning the driver that
// holds it. A VM that exists in neither is an error wrapping
// vsphere.ErrNotFound.
func readVM(ctx context.Context, rt *Runtime, ref string) (vsphere.Driver, *vsphere.VM, error) {
	var firstErr error
	for _, d := range drivers(rt) {
		vm, err := d.VM(ctx, ref)
		if err == nil {
			return d, vm, nil
		}
		if !vsphere.IsNotFound(err) {
			return nil, nil, err
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("VM %s: no vCenter to read it from: %w", ref, vsphere.ErrNotFound)
	}
	return nil, nil, firstErr
}

func drivers(rt *Runtime) []vsphere.Driver {
	var out []vsphere.Driver
	if rt.Source != nil {
		out = append(out, rt.Source)
	}
	if rt.Target != nil && rt.Target != rt.Source {
		out = append(out, rt.Target)
	}
	return out
}

// sourceVM finds the unit's source VM: by the ref its outputs hold, or by
// name in the source datacenter (and folder), and records its ref and
// identity. A VM found at the recorded ref must be the one recorded (see
// identify): a ref names a VM only within one vCenter's life.
func sourceVM(ctx context.Context, rt *Runtime) (vsphere.Driver, *vsphere.VM, error) {
	if r := rt.reads; r != nil && !r.checking && r.source != nil {
		h := r.source
		r.source = nil
		return h.d, h.vm, nil
	}
	d, vm, err := findSourceVM(ctx, rt)
	if r := rt.reads; err == nil && r != nil && r.checking {
		r.source = &held{d: d, vm: vm}
	}
	return d, vm, err
}

func findSourceVM(ctx context.Context, rt *Runtime) (vsphere.Driver, *vsphere.VM, error) {
	if ref := rt.Outputs[OutSource]; ref != "" {
		d, vm, err := readHeld(ctx, rt, ref) // cross.go: in the vCenter that holds it
		if err != nil && !vsphere.IsNotFound(err) {
			return nil, nil, err
		}
		if err == nil && sameSource(rt, vm) == "" {
			remember(rt, vm)
			heldBy(rt, d)
			return d, vm, nil
		}
		d, vm, err = findSource(ctx, rt, ref, vm, err)
		if err == nil {
			heldBy(rt, d)
		}
		return d, vm, err
	}
	d, vm, err := sourceByName(ctx, rt)
	if err == nil {
		remember(rt, vm)
		heldBy(rt, d)
	}
	return d, vm, err
}

// remember records the source VM's ref and identity.
func remember(rt *Runtime, vm *vsphere.VM) {
	rt.Outputs[OutSource] = vm.Ref
	if vm.InstanceUUID != "" {
		rt.Outputs[OutSourceUUID] = vm.InstanceUUID
	}
	if vm.BIOSUUID != "" {
		rt.Outputs[OutSourceBIOS] = vm.BIOSUUID
	}
}

// sameSource says why vm is not the unit's source VM as the record knows
// it, or "" when it is: its name is the unit's, its UUIDs are the ones
// recorded, and it carries wavectl's markers once record-state put them
// on it.
func sameSource(rt *Runtime, vm *vsphere.VM) string {
	switch id, bios := rt.Outputs[OutSourceUUID], rt.Outputs[OutSourceBIOS]; {
	case vm.Name != rt.Unit:
		return fmt.Sprintf("it is called %s", vm.Name)
	case id != "" && vm.InstanceUUID != id:
		return fmt.Sprintf("its instance UUID is %s, the record's %s", orNone(vm.InstanceUUID), id)
	case bios != "" && vm.BIOSUUID != bios:
		return fmt.Sprintf("its BIOS UUID is %s, the record's %s", orNone(vm.BIOSUUID), bios)
	case rt.Outputs[OutSourceMarked] == "true" && !ours(rt, vm):
		return fmt.Sprintf("it does not carry the markers (wavectl.plan %s, wavectl.application %s) that record-state put on it",
			rt.Plan.Metadata.Name, rt.App.Name)
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// findSource looks the unit's source VM up by its recorded instance UUID
// when the recorded ref no longer names it (a vCenter restored from a
// backup, or another vCenter answering at the same URL), and refuses with
// an *IdentityError when no VM is surely it. at and readErr are what the
// recorded ref read.
func findSource(ctx context.Context, rt *Runtime, ref string, at *vsphere.VM, readErr error) (vsphere.Driver, *vsphere.VM, error) {
	why := "it no longer exists"
	impostor := readErr == nil // a VM that is not it answers to its ref or its UUID
	if readErr == nil {
		why = fmt.Sprintf("the VM there is not it: %s", sameSource(rt, at))
	}
	if id := rt.Outputs[OutSourceUUID]; id != "" {
		for _, d := range drivers(rt) {
			vm, err := d.FindByInstanceUUID(ctx, id)
			if vsphere.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			if problem := sameSource(rt, vm); problem != "" {
				impostor = true
				why += fmt.Sprintf("; the VM with its instance UUID, %s (%s), is not it either: %s", vm.Name, vm.Ref, problem)
				break
			}
			rt.Log.Warn().Str("vm", vm.Name).Str("recorded", ref).Str("ref", vm.Ref).
				Msg("the source VM's id changed since it was recorded (vCenter restored, or re-registered); found it by its instance UUID")
			remember(rt, vm)
			return d, vm, nil
		}
	}
	if !impostor {
		// Gone, and no VM has its identity: it no longer exists (a
		// decommissioned VM), which the caller may expect.
		return nil, nil, fmt.Errorf("source VM %s (%s) no longer exists: %w", rt.Unit, ref, readErr)
	}
	return nil, nil, &IdentityError{Unit: rt.Unit, Ref: ref, Why: why}
}

// IdentityError is a step that refused to act: the VM at the ref the
// record holds is not the unit's VM, and no VM surely is.
type IdentityError struct {
	Unit, Ref, Why string
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("source VM %s: the record says it is %s, but %s; nothing was changed. "+
		"Is this the vCenter the run worked on? If the VM was replaced on purpose, roll the application back "+
		"(wavectl rollback --app), or move the state file aside to start a new record", e.Unit, e.Ref, e.Why)
}

// sourceByName finds the unit's source VM by name in the source
// datacenter (and folder), or, for remediate, moved into the target and
// carrying wavectl's markers.
func sourceByName(ctx context.Context, rt *Runtime) (vsphere.Driver, *vsphere.VM, error) {
	if rt.Source == nil {
		return nil, nil, errors.New("no source vCenter")
	}
	dc, folder := rt.Plan.Source.Datacenter, cleanFolder(rt.Plan.Source.Folder)
	found, err := rt.Source.FindVMs(ctx, dc, rt.Unit)
	if err != nil {
		return nil, nil, err
	}
	retired := cleanFolder(rt.App.Resolved.RetirementFolder)
	var vms []*vsphere.VM
	for _, vm := range found {
		switch {
		case vm.Template, vm.Ref == rt.Outputs[OutVM]:
		case vm.Markers[vsphere.MarkerSource] != "" && vm.Markers[vsphere.MarkerPlan] == rt.Plan.Metadata.Name:
			// A VM wavectl made for this plan, in the same datacenter.
		case folder != "" && vm.Folder != folder && !strings.HasPrefix(vm.Folder, folder+"/") &&
			!(vm.Folder == retired && ours(rt, vm)):
		default:
			vms = append(vms, vm)
		}
	}
	if len(vms) == 0 && rt.App.Strategy == plan.Remediate && rt.Target != nil {
		// Already moved (and the record of it lost): it carries our
		// markers in the target datacenter.
		if moved, err := rt.Target.FindVMs(ctx, target(rt).Datacenter, rt.Unit); err == nil {
			for _, vm := range moved {
				if ours(rt, vm) && vm.Markers[vsphere.MarkerSource] == "" && !vm.Template {
					vms = append(vms, vm)
				}
			}
			if len(vms) == 1 {
				return rt.Target, vms[0], nil
			}
		}
	}
	switch len(vms) {
	case 0:
		where := "datacenter " + dc
		if folder != "" {
			where += ", folder " + folder
		}
		return nil, nil, fmt.Errorf("source VM %s not found in %s: %w", rt.Unit, where, vsphere.ErrNotFound)
	case 1:
		return rt.Source, vms[0], nil
	}
	var paths []string
	for _, vm := range vms {
		paths = append(paths, vm.Path)
	}
	return nil, nil, fmt.Errorf("%d VMs are called %s (%s): set source.folder in the plan to say which", len(vms), rt.Unit, strings.Join(paths, ", "))
}

// ownVMs finds the VMs wavectl made for the unit: in the target
// datacenter, carrying this plan's and application's markers and source
// = the unit.
func ownVMs(ctx context.Context, rt *Runtime) ([]*vsphere.VM, error) {
	if rt.Target == nil {
		return nil, errors.New("no target vCenter")
	}
	found, err := rt.Target.FindByMarker(ctx, target(rt).Datacenter, vsphere.MarkerSource, rt.Unit)
	if err != nil {
		return nil, err
	}
	var vms []*vsphere.VM
	for _, vm := range found {
		if ours(rt, vm) && !vm.Template {
			vms = append(vms, vm)
		}
	}
	return vms, nil
}

// findOwn is the Check of the steps that make a VM: done when exactly one
// VM of ours stands for the unit.
func findOwn(ctx context.Context, rt *Runtime) (bool, error) {
	vms, err := ownVMs(ctx, rt)
	if err != nil {
		return false, err
	}
	switch len(vms) {
	case 0:
		return false, nil
	case 1:
		rt.Outputs[OutVM] = vms[0].Ref
		return true, nil
	}
	var refs []string
	for _, vm := range vms {
		refs = append(refs, vm.Path+" ("+vm.Ref+")")
	}
	return false, fmt.Errorf("%d VMs carry wavectl's markers for %s: %s; delete the ones that should not be there and run again", len(vms), rt.Unit, strings.Join(refs, ", "))
}

// newVM reads the unit's new VM: by OutVM, else by its markers.
func newVM(ctx context.Context, rt *Runtime) (*vsphere.VM, error) {
	if r := rt.reads; r != nil && !r.checking && r.own != nil {
		vm := r.own
		r.own = nil
		return vm, nil
	}
	vm, err := findNewVM(ctx, rt)
	if r := rt.reads; err == nil && r != nil && r.checking {
		r.own = vm
	}
	return vm, err
}

func findNewVM(ctx context.Context, rt *Runtime) (*vsphere.VM, error) {
	if ref := rt.Outputs[OutVM]; ref != "" {
		vm, err := rt.Target.VM(ctx, ref)
		switch {
		case err == nil && ours(rt, vm) && vm.Markers[vsphere.MarkerSource] == rt.Unit:
			return vm, nil
		case err == nil:
			// Another VM has the id now (a vCenter restored, or another
			// one): find ours by its markers, or refuse.
			rt.Log.Warn().Str("vm", vm.Name).Str("ref", ref).Msg("the VM at the recorded id does not carry wavectl's markers for this unit; looking for it by its markers")
			delete(rt.Outputs, OutVM)
		case !vsphere.IsNotFound(err):
			return nil, err
		}
	}
	ok, err := findOwn(ctx, rt)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("the new VM %s does not exist: %w", rt.Unit, vsphere.ErrNotFound)
	}
	return rt.Target.VM(ctx, rt.Outputs[OutVM])
}

// destroyOwn is the Undo of the steps that make a VM: it deletes the VM
// wavectl made for the unit, and only a VM that carries wavectl's markers
// for it.
func destroyOwn(ctx context.Context, rt *Runtime) error {
	vms, err := ownVMs(ctx, rt)
	if err != nil {
		return err
	}
	if ref := rt.Outputs[OutVM]; ref != "" && !slices.ContainsFunc(vms, func(v *vsphere.VM) bool { return v.Ref == ref }) {
		vm, err := rt.Target.VM(ctx, ref)
		switch {
		case vsphere.IsNotFound(err):
		case err != nil:
			return err
		case ours(rt, vm) && vm.Markers[vsphere.MarkerSource] == rt.Unit:
			vms = append(vms, vm)
		default:
			return fmt.Errorf("VM %s (%s) does not carry wavectl's markers for %s: not deleting it", vm.Name, ref, rt.Unit)
		}
	}
	for _, vm := range vms {
		if err := rt.Target.Destroy(ctx, vm.Ref); err != nil {
			return err
		}
		rt.Log.Info().Str("vm", vm.Name).Str("ref", vm.Ref).Msg("deleted the VM wavectl made")
	}
	delete(rt.Outputs, OutVM)
	return nil
}

// subjectVM is the VM power-on and verify act on: the source VM for
// remediate, else the new one.
func subjectVM(ctx context.Context, rt *Runtime) (vsphere.Driver, *vsphere.VM, error) {
	if rt.App.Strategy == plan.Remediate {
		return sourceVM(ctx, rt)
	}
	vm, err := newVM(ctx, rt)
	return rt.Target, vm, err
}

// sortedValues are a map's values in key order.
func sortedValues(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// imagePath is a server's image, relative to the plan file's folder.
func imagePath(rt *Runtime, image string) string {
	if filepath.IsAbs(image) {
		return image
	}
	return filepath.Join(filepath.Dir(rt.Plan.File), image)
}
