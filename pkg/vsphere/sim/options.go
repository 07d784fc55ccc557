package sim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/plan"
)

// Options make the simulator slow and unreliable on purpose. The zero value
// is a fast, faultless vCenter.
type Options struct {
	// Delays is how long each operation's tasks run, keyed by vSphere method
	// ("CloneVM_Task", "PowerOnVM_Task") or by the simulator's task name
	// ("CloneVm", "PowerOn"). The task is created at once and completes
	// after the delay, as a real vCenter task would.
	//
	// Most delays go through simulator.TaskDelay, a package global: they
	// apply to every simulator in the process while this Sim is open, so
	// tests that set Delays must not run in parallel with other simulator
	// tests. Clone, create-VM and rename delays are applied by this package
	// instead (see guard.go), and only to this Sim.
	Delays map[string]time.Duration
	// Jitter varies every delay: the coefficient of variation (standard
	// deviation / mean) of a normal distribution around it; 0 is exact.
	Jitter float64

	// Faults are injected failures; the first that matches a call decides.
	Faults []Fault
	// Seed makes fault fractions and this package's jitter repeatable
	// (0 means 1). The simulator's own TaskDelay jitter is not seeded.
	// Concurrent callers still race for the sequence: determinism holds
	// for a given order of calls.
	Seed int64

	// Limits is the cost model the simulator enforces as vCenter does
	// (budgets.go): a clone, create-VM or relocate over its host's,
	// datastore's or vMotion network's budget waits queued until others
	// finish. Nil takes the plan's limits (vCenter's documented defaults
	// unless the plan sets its own); NoBudgets runs every task at once,
	// as govmomi's simulator does.
	Limits    *plan.Limits
	NoBudgets bool

	// HostsPerCluster is the least number of ESXi hosts in each cluster
	// (default 4); big plans get more, so that clusters hold their VMs.
	HostsPerCluster int

	// sharedTaskDelay: another instance of the estate set
	// simulator.TaskDelay, a process-wide setting.
	sharedTaskDelay bool
}

// Fault describes injected failures of one operation.
type Fault struct {
	// Op is the operation: a vSphere method such as "CloneVM_Task",
	// "RelocateVM_Task", "PowerOnVM_Task", "ShutdownGuest", or the
	// simulator's task name ("CloneVm").
	Op string
	// VMs, when set, always fail Op. A name matches the VM (or snapshot's
	// VM, or folder) the method is called on and, for CloneVM_Task and
	// CreateVM_Task, the name of the VM being made.
	VMs []string
	// Fraction, used when VMs is empty, is the share (0..1] of Op's calls
	// that fail. A transient fault draws afresh for every call, so retries
	// mostly succeed; a permanent one picks the same VMs every time (by
	// seed and the name of the VM being made or the VM called on), so
	// retrying a failed VM fails again.
	Fraction float64
	// Transient makes a fault that callers should retry (HostCommunication)
	// rather than a permanent one (NotSupported). Fault overrides both.
	Transient bool
	// API fails the call itself, through the simulator's fault injector
	// (Service.AddFaultRule), instead of returning a task that fails.
	// Methods that return no task (ShutdownGuest, ImportVApp, ...) always
	// fail this way.
	API bool
	// Message is the fault text callers see; by default it says what was
	// injected, where.
	Message string
	// Fault is the vSphere fault to raise, instead of the default.
	Fault types.BaseMethodFault
}

func (o *Options) validate() error {
	var errs []error
	for op, d := range o.Delays {
		if d < 0 {
			errs = append(errs, fmt.Errorf("delay for %s is negative", op))
		}
		if op == "" {
			errs = append(errs, errors.New("delay with no operation name"))
		}
	}
	if o.Jitter < 0 || math.IsNaN(o.Jitter) {
		errs = append(errs, fmt.Errorf("jitter %v: want 0 or more", o.Jitter))
	}
	if o.HostsPerCluster < 0 {
		errs = append(errs, fmt.Errorf("hosts per cluster %d: want 0 (default) or more", o.HostsPerCluster))
	}
	for i, f := range o.Faults {
		where := fmt.Sprintf("fault %d (%s)", i+1, f.Op)
		switch {
		case f.Op == "":
			errs = append(errs, fmt.Errorf("fault %d: no operation", i+1))
			continue
		case len(f.VMs) == 0 && !(f.Fraction > 0 && f.Fraction <= 1):
			errs = append(errs, fmt.Errorf("%s: fraction %v: want more than 0 and at most 1, or name VMs", where, f.Fraction))
		}
		if !f.API && isTaskOp(f.Op) && !taskFaultOps[methodName(f.Op)] {
			errs = append(errs, fmt.Errorf("%s: tasks of this operation cannot fail here; use API: true, or one of %s",
				where, strings.Join(slices.Sorted(maps.Keys(taskFaultOps)), ", ")))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sim: options: %w", errors.Join(errs...))
	}
	return nil
}

// ops lists the operations wavectl uses: vSphere method -> simulator task
// name (the key of simulator.TaskDelay).
var ops = map[string]string{
	"CloneVM_Task":                 "CloneVm",
	"CreateVM_Task":                "CreateVm",
	"RelocateVM_Task":              "RelocateVm",
	"ReconfigVM_Task":              "ReconfigVm",
	"UpgradeVM_Task":               "UpgradeVm",
	"PowerOnVM_Task":               "PowerOn",
	"PowerOffVM_Task":              "PowerOff",
	"ResetVM_Task":                 "Reset",
	"SuspendVM_Task":               "Suspend",
	"ShutdownGuest":                "ShutdownGuest",
	"Destroy_Task":                 "Destroy",
	"Rename_Task":                  "Rename",
	"CreateSnapshot_Task":          "CreateSnapshotEx",
	"CreateSnapshotEx_Task":        "CreateSnapshotEx",
	"RemoveSnapshot_Task":          "RemoveSnapshot",
	"RevertToSnapshot_Task":        "RevertToSnapshot",
	"RevertToCurrentSnapshot_Task": "RevertSnapshot",
	"RemoveAllSnapshots_Task":      "RemoveAllSnapshots",
	"MoveIntoFolder_Task":          "MoveIntoFolder",
	"CustomizeVM_Task":             "CustomizeVm",
}

// taskFaultOps are the methods whose tasks this package can fail (guard.go
// overrides each of them).
var taskFaultOps = map[string]bool{
	"CloneVM_Task": true, "CreateVM_Task": true, "RelocateVM_Task": true,
	"ReconfigVM_Task": true, "UpgradeVM_Task": true, "PowerOnVM_Task": true,
	"PowerOffVM_Task": true, "ResetVM_Task": true, "Destroy_Task": true,
	"Rename_Task": true, "CreateSnapshot_Task": true, "CreateSnapshotEx_Task": true,
	"RemoveSnapshot_Task": true, "RevertToSnapshot_Task": true,
	"RevertToCurrentSnapshot_Task": true, "RemoveAllSnapshots_Task": true,
	"MoveIntoFolder_Task": true, "CustomizeVM_Task": true,
}

// ownDelay are the task names whose delays this package applies itself:
// their simulator tasks run nested tasks or under a guard's folder lock,
// where a TaskDelay would be counted twice or hold the lock while sleeping.
var ownDelay = map[string]bool{"CloneVm": true, "CreateVm": true, "Rename": true}

// taskName maps an operation, given either way, to the simulator's task name.
func taskName(op string) string {
	if t, ok := ops[op]; ok {
		return t
	}
	if m, ok := methodOf(op); ok {
		return ops[m]
	}
	if strings.HasSuffix(op, "_Task") {
		return strings.Replace(strings.TrimSuffix(op, "_Task"), "VM", "Vm", 1)
	}
	return op
}

// methodName maps an operation, given either way, to its vSphere method.
func methodName(op string) string {
	if _, ok := ops[op]; ok {
		return op
	}
	if m, ok := methodOf(op); ok {
		return m
	}
	return op
}

func methodOf(task string) (string, bool) {
	best := ""
	for m, t := range ops {
		// CreateSnapshot_Task and CreateSnapshotEx_Task share a task
		// name; prefer the shorter, older method.
		if t == task && (best == "" || len(m) < len(best)) {
			best = m
		}
	}
	return best, best != ""
}

// isTaskOp reports whether op's method returns a task.
func isTaskOp(op string) bool { return strings.HasSuffix(methodName(op), "_Task") }

// faultSet decides which calls fail, and how long own tasks take.
type faultSet struct {
	mu     sync.Mutex
	rng    *rand.Rand
	seed   int64
	jitter float64
	delays map[string]time.Duration // by task name
	faults []*fault
}

type fault struct {
	Fault
	method string
	task   string
	vms    map[string]bool
}

func newFaultSet(o Options) *faultSet {
	seed := o.Seed
	if seed == 0 {
		seed = 1
	}
	fs := &faultSet{
		rng:    rand.New(rand.NewSource(seed)),
		seed:   seed,
		jitter: o.Jitter,
		delays: map[string]time.Duration{},
	}
	for op, d := range o.Delays {
		fs.delays[taskName(op)] = d
	}
	for _, f := range o.Faults {
		c := &fault{Fault: f, method: methodName(f.Op), task: taskName(f.Op)}
		if !isTaskOp(f.Op) {
			c.API = true
		}
		if len(f.VMs) > 0 {
			c.vms = map[string]bool{}
			for _, n := range f.VMs {
				c.vms[n] = true
			}
		}
		fs.faults = append(fs.faults, c)
	}
	return fs
}

// install registers the API faults with the simulator's fault injector. Its
// own probability draw is unseeded, so the rule always fires and the filter
// makes the seeded decision.
func (fs *faultSet) install(svc *simulator.Service) {
	for _, f := range fs.faults {
		if !f.API {
			continue
		}
		f := f
		svc.AddFaultRule(&simulator.FaultInjectionRule{
			MethodName:  f.method,
			ObjectType:  "*",
			ObjectName:  "*",
			Probability: 1,
			FaultType:   simulator.FaultTypeCustom,
			Fault:       f.fault(),
			Message:     f.message(""),
			Enabled:     true,
			InclusionPropertyFilter: func(obj mo.Reference) bool {
				name := ""
				if e, ok := obj.(mo.Entity); ok {
					name = e.Entity().Name
				}
				return fs.decide(f, name, []string{name})
			},
		})
	}
}

// taskFault returns the fault a task of method should fail with, or nil.
// subject names the unit the call is about (the VM being made, else the
// object called on); names are every name a Fault's VMs may match.
func (fs *faultSet) taskFault(method, subject string, names ...string) *types.LocalizedMethodFault {
	if fs == nil {
		return nil
	}
	task := taskName(method)
	for _, f := range fs.faults {
		if f.API || f.task != task {
			continue
		}
		if fs.decide(f, subject, names) {
			return &types.LocalizedMethodFault{Fault: f.fault(), LocalizedMessage: f.message(subject)}
		}
	}
	return nil
}

func (fs *faultSet) decide(f *fault, subject string, names []string) bool {
	if f.vms != nil {
		for _, n := range names {
			if f.vms[n] {
				return true
			}
		}
		return false
	}
	if !f.Transient {
		// Sticky: the same VMs fail every time, whatever the order of calls.
		h := fnv.New64a()
		fmt.Fprintf(h, "%d\x00%s\x00%s", fs.seed, f.task, subject)
		return float64(h.Sum64()>>11)/(1<<53) < f.Fraction
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.rng.Float64() < f.Fraction
}

func (f *fault) fault() types.BaseMethodFault {
	if f.Fault.Fault != nil {
		return f.Fault.Fault
	}
	rf := types.RuntimeFault{MethodFault: types.MethodFault{
		FaultMessage: []types.LocalizableMessage{{Key: "wavectl.sim.injected", Message: f.message("")}},
	}}
	if f.Transient {
		return &types.HostCommunication{RuntimeFault: rf}
	}
	return &types.NotSupported{RuntimeFault: rf}
}

func (f *fault) message(subject string) string {
	if f.Message != "" {
		return f.Message
	}
	kind := "permanent"
	if f.Transient {
		kind = "transient"
	}
	where := ""
	if subject != "" {
		where = " for " + subject
	}
	return fmt.Sprintf("%s fault injected by wavectl sim in %s%s", kind, f.method, where)
}

// delay is how long an own task of the named simulator task runs.
func (fs *faultSet) delay(task string) time.Duration {
	if fs == nil {
		return 0
	}
	d := fs.delays[task]
	if d <= 0 || fs.jitter == 0 {
		return d
	}
	fs.mu.Lock()
	n := fs.rng.NormFloat64()
	fs.mu.Unlock()
	return max(0, d+time.Duration(n*fs.jitter*float64(d)))
}

// applyTaskDelay sets simulator.TaskDelay for the delays this package does
// not apply itself. LockHandoff 0 lets a task sleep without holding its
// object's lock, so tasks on one VM or template do not queue behind each
// other's delays and the property collector can read it meanwhile.
func (s *Sim) applyTaskDelay() {
	md := map[string]int{}
	for op, d := range s.opts.Delays {
		t := taskName(op)
		if ownDelay[t] {
			continue
		}
		md[t] = int(d / time.Millisecond)
	}
	if len(md) == 0 || s.opts.sharedTaskDelay {
		return
	}
	md["LockHandoff"] = 0
	prev := simulator.TaskDelay
	s.prevTD = &prev
	s.ownsTD = true
	simulator.TaskDelay = simulator.DelayConfig{MethodDelay: md, DelayJitter: s.opts.Jitter}
}

func (s *Sim) restoreTaskDelay() {
	if s.ownsTD {
		simulator.TaskDelay = *s.prevTD
		s.ownsTD = false
	}
}
