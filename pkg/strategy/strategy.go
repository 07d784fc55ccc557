// Package strategy defines the four ways an application moves (virtualise,
// redeploy, remediate, replace) as ordered step lists over its VMs.
package strategy

import (
	"fmt"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
)

// Step is one step of an application's migration, for one unit (a VM or a
// server) or for the application as a whole (Unit == "").
type Step struct {
	Kind string `json:"kind"`
	// Unit is the VM or server the step acts on; empty for steps that act
	// on the application (hooks).
	Unit string `json:"unit,omitempty"`
	// Phase orders groups of steps within an application: every step of
	// phase n finishes before any of phase n+1 starts; within a phase, each
	// unit's steps run in order and units run side by side.
	Phase int `json:"phase"`
	// Description says what the step does, for people.
	Description string `json:"description"`
	// Outage is true when the application's service is down during the step.
	Outage bool `json:"outage,omitempty"`
	// Deferred steps wait for a later date (a retention period) and are not
	// part of the run's estimate.
	Deferred bool `json:"deferred,omitempty"`
}

// DefaultDurations are wavectl's estimates per step kind, overridable by
// the plan's `estimates`.
var DefaultDurations = map[string]time.Duration{
	plan.StepPreHook:         1 * time.Minute,
	plan.StepRecordState:     5 * time.Second,
	plan.StepCreateVM:        2 * time.Minute,
	plan.StepImportImage:     30 * time.Minute,
	plan.StepClone:           10 * time.Minute,
	plan.StepSnapshot:        30 * time.Second,
	plan.StepPowerOff:        2 * time.Minute,
	plan.StepUpgradeHardware: 1 * time.Minute,
	plan.StepReconfigure:     1 * time.Minute,
	plan.StepRelocate:        15 * time.Minute,
	plan.StepPowerOn:         1 * time.Minute,
	plan.StepVerify:          3 * time.Minute,
	plan.StepRemoveSnapshot:  2 * time.Minute,
	plan.StepRetire:          30 * time.Second,
	plan.StepDecommission:    1 * time.Minute,
	plan.StepPostHook:        1 * time.Minute,
	plan.StepSwitchOver:      DefaultSwitchOver,
}

// Estimate returns the expected duration of a step kind for an
// application: its own estimates, then the plan's, then the default.
func Estimate(p *plan.Plan, a *plan.Application, kind string) time.Duration {
	if d, ok := a.Estimates[kind]; ok {
		return time.Duration(d)
	}
	if d, ok := p.Estimates[kind]; ok {
		return time.Duration(d)
	}
	return DefaultDurations[kind]
}

// Steps returns the application's steps in order.
func Steps(a *plan.Application) []Step {
	var b builder
	if h := a.AllHooks; h != nil && len(h.Pre) > 0 {
		b.add(0, plan.StepPreHook, "", false, "run %d pre hook(s)", len(h.Pre))
	}
	switch a.Strategy {
	case plan.Virtualise:
		virtualise(&b, a)
	case plan.Redeploy:
		redeploy(&b, a)
	case plan.Remediate:
		remediate(&b, a)
	case plan.Replace:
		replace(&b, a)
	}
	if h := a.AllHooks; h != nil && len(h.Post) > 0 {
		b.add(b.last+1, plan.StepPostHook, "", false, "run %d post hook(s)", len(h.Post))
	}
	return b.steps
}

type builder struct {
	steps []Step
	last  int
}

func (b *builder) add(phase int, kind, unit string, outage bool, format string, args ...any) *Step {
	b.steps = append(b.steps, Step{Kind: kind, Unit: unit, Phase: phase, Outage: outage, Description: fmt.Sprintf(format, args...)})
	b.last = max(b.last, phase)
	return &b.steps[len(b.steps)-1]
}

func where(t plan.Placement) string {
	parts := []string{}
	if t.Cluster != "" {
		parts = append(parts, "cluster "+t.Cluster)
	}
	if t.Host != "" {
		parts = append(parts, "host "+t.Host)
	}
	if t.Datastore != "" {
		parts = append(parts, "datastore "+t.Datastore)
	}
	if t.Folder != "" {
		parts = append(parts, "folder "+t.Folder)
	}
	return strings.Join(parts, ", ")
}

func verifyText(a *plan.Application) string {
	s := "wait for power on, tools running and an IP"
	if n := len(a.Checks); n > 0 {
		s += fmt.Sprintf(", %d TCP check(s)", n)
	}
	if h := a.AllHooks; h != nil && len(h.Verify) > 0 {
		s += fmt.Sprintf(", %d verify hook(s)", len(h.Verify))
	}
	return s
}

// virtualise: a physical server becomes a new VM, imported from its disk
// image when it has one, else created empty in its shape. The service is
// down from the image import (the server is quiesced) until the VM
// verifies.
func virtualise(b *builder, a *plan.Application) {
	for _, s := range a.Servers {
		if s == nil {
			continue
		}
		// With an image, the import makes the VM (its disks come from the
		// image); without, an empty VM shaped like the server is created.
		if s.Image != "" {
			b.add(1, plan.StepImportImage, s.Name, true, "import VM %s (%d vCPU, %d MB) from disk image %s into %s", s.Name, s.CPUs, s.MemoryMB, s.Image, where(a.Resolved))
		} else {
			b.add(1, plan.StepCreateVM, s.Name, false, "create VM %s (%d vCPU, %d MB, %d disk(s)) in %s", s.Name, s.CPUs, s.MemoryMB, len(s.DisksGB), where(a.Resolved))
		}
		b.add(1, plan.StepPowerOn, s.Name, true, "power on %s", s.Name)
		b.add(1, plan.StepVerify, s.Name, true, "verify %s: %s", s.Name, verifyText(a))
	}
}

// redeploy: a fresh VM from a template; the old one keeps serving until the
// new one verifies, so the planned outage is nil.
func redeploy(b *builder, a *plan.Application) {
	for _, vm := range a.VMs {
		if vm == nil {
			continue
		}
		b.add(1, plan.StepClone, vm.Name, false, "clone %s from template %s into %s", vm.Name, a.Template, where(a.Resolved))
		b.add(1, plan.StepPowerOn, vm.Name, false, "power on the new %s", vm.Name)
		b.add(1, plan.StepVerify, vm.Name, false, "verify the new %s: %s", vm.Name, verifyText(a))
		b.add(1, plan.StepRecordState, vm.Name, false, "record the old %s's power state", vm.Name)
		b.add(1, plan.StepPowerOff, vm.Name, false, "power off the old %s", vm.Name)
		b.add(1, plan.StepRetire, vm.Name, false, "mark the old %s superseded", vm.Name)
	}
}

// remediate: the VM itself moves and is fixed on the way; it is down from
// power-off until it verifies again.
func remediate(b *builder, a *plan.Application) {
	r := a.Remediate
	for _, vm := range a.VMs {
		if vm == nil {
			continue
		}
		if m := MoveOf(a, vm); m.Live {
			remediateLive(b, a, vm, m) // live.go
			continue
		}
		// A VM that is off serves nothing: moving it takes no service down.
		down := vm.PowerState != "poweredOff"
		b.add(1, plan.StepRecordState, vm.Name, false, "record %s's power state and placement", vm.Name)
		b.add(1, plan.StepSnapshot, vm.Name, false, "snapshot %s", vm.Name)
		b.add(1, plan.StepPowerOff, vm.Name, down, "shut down %s (guest shutdown, then power off)", vm.Name)
		if r != nil && r.HardwareVersion != "" {
			b.add(1, plan.StepUpgradeHardware, vm.Name, down, "upgrade %s to hardware %s", vm.Name, r.HardwareVersion)
		}
		if changes := reconfigureText(r, a.Resolved.Networks); changes != "" {
			b.add(1, plan.StepReconfigure, vm.Name, down, "reconfigure %s: %s", vm.Name, changes)
		}
		b.add(1, plan.StepRelocate, vm.Name, down, "relocate %s to %s", vm.Name, where(a.Resolved))
		b.add(1, plan.StepPowerOn, vm.Name, down, "restore %s's power state", vm.Name)
		b.add(1, plan.StepVerify, vm.Name, down, "verify %s: %s", vm.Name, verifyText(a))
		b.add(1, plan.StepRemoveSnapshot, vm.Name, false, "remove %s's snapshot", vm.Name)
	}
}

func reconfigureText(r *plan.Remediation, nets map[string]string) string {
	var parts []string
	if r != nil && r.CPUs > 0 {
		parts = append(parts, fmt.Sprintf("%d vCPU", r.CPUs))
	}
	if r != nil && r.MemoryMB > 0 {
		parts = append(parts, fmt.Sprintf("%d MB", r.MemoryMB))
	}
	if len(nets) > 0 || (r != nil && len(r.Networks) > 0) {
		parts = append(parts, "NICs to target portgroups")
	}
	return strings.Join(parts, ", ")
}

// replace: the replacement service is deployed and verified first; the old
// VMs are then retired and, after their retention, deleted.
func replace(b *builder, a *plan.Application) {
	r := a.Replacement
	if r == nil {
		return
	}
	b.add(1, plan.StepClone, r.Name, false, "deploy replacement %s from template %s into %s", r.Name, r.Template, where(a.Resolved))
	b.add(1, plan.StepPowerOn, r.Name, false, "power on %s", r.Name)
	b.add(1, plan.StepVerify, r.Name, false, "verify %s: %s", r.Name, verifyText(a))
	retain := plan.DefaultRetainDays
	if a.RetainDays != nil {
		retain = *a.RetainDays
	}
	for _, vm := range a.VMs {
		if vm == nil {
			continue
		}
		b.add(2, plan.StepRecordState, vm.Name, false, "record the old %s's power state", vm.Name)
		b.add(2, plan.StepPowerOff, vm.Name, false, "power off the old %s", vm.Name)
		b.add(2, plan.StepRetire, vm.Name, false, "retire %s: mark it and move it to folder %s", vm.Name, a.Resolved.RetirementFolder)
		b.add(2, plan.StepDecommission, vm.Name, false, "delete %s after %d days of retention", vm.Name, retain).Deferred = true
	}
}
