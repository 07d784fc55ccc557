package sim

import (
	"maps"
	"slices"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
)

// RealisticDelays are typical durations of the vSphere tasks wavectl uses
// on a production vCenter with shared storage (a 40 GB template cloned
// without VAAI offload at ~250 MB/s, a storage vMotion of a 100 GB VM, a
// guest that takes a while to shut down). The benchmarks scale them down
// (ScaledDelays) so a whole programme runs in a minute or two while the
// ratios between task kinds, which decide the schedule, stay real.
var RealisticDelays = map[string]time.Duration{
	"CloneVM_Task":          180 * time.Second,
	"CreateVM_Task":         20 * time.Second,
	"ReconfigVM_Task":       10 * time.Second,
	"UpgradeVM_Task":        30 * time.Second,
	"PowerOnVM_Task":        15 * time.Second,
	"PowerOffVM_Task":       10 * time.Second,
	"CreateSnapshot_Task":   20 * time.Second,
	"CreateSnapshotEx_Task": 20 * time.Second,
	"RemoveSnapshot_Task":   60 * time.Second,
	"RelocateVM_Task":       600 * time.Second,
	"MoveIntoFolder_Task":   2 * time.Second,
	"Destroy_Task":          10 * time.Second,
}

// ScaledDelays returns RealisticDelays divided by factor (e.g. 200: a
// three-minute clone takes 0.9 s).
func ScaledDelays(factor float64) map[string]time.Duration {
	out := make(map[string]time.Duration, len(RealisticDelays))
	for op, d := range RealisticDelays {
		out[op] = time.Duration(float64(d) / factor)
	}
	return out
}

// DelayFlags renders delays as `wavectl sim` flags (--delay OP=DURATION).
func DelayFlags(delays map[string]time.Duration) []string {
	var out []string
	for _, op := range slices.Sorted(maps.Keys(delays)) {
		out = append(out, "--delay", op+"="+delays[op].String())
	}
	return out
}

// StepTasks maps a step kind to the vSphere task that is the whole of its
// inherent work against vCenter. Kinds missing here (reads, verification,
// hooks, and power-off, which a guest shutdown does without a task) count
// as no work, so a bound computed from them is never above what can be done.
var StepTasks = map[string]string{
	plan.StepClone:           "CloneVM_Task",
	plan.StepCreateVM:        "CreateVM_Task",
	plan.StepPowerOn:         "PowerOnVM_Task",
	plan.StepSnapshot:        "CreateSnapshot_Task",
	plan.StepUpgradeHardware: "UpgradeVM_Task",
	plan.StepReconfigure:     "ReconfigVM_Task",
	plan.StepRelocate:        "RelocateVM_Task",
	plan.StepRemoveSnapshot:  "RemoveSnapshot_Task",
}

// TaskEstimates sets p's step estimates to the durations of their tasks
// (StepTasks) under delays, for every application, so that a schedule
// compiled from p, and its lower bound, count the work the simulator will
// make a run do.
func TaskEstimates(p *plan.Plan, delays map[string]time.Duration) {
	p.Estimates = map[string]plan.Duration{}
	for _, kind := range plan.StepKinds {
		p.Estimates[kind] = plan.Duration(delays[StepTasks[kind]])
	}
	for _, a := range p.Applications {
		a.Estimates = nil
	}
}
