package plan

import "cmp"

// Step kinds name the operations strategies are made of. They are part of
// the plan format because `estimates` overrides durations by kind.
const (
	StepPreHook         = "pre-hook"
	StepRecordState     = "record-state"
	StepCreateVM        = "create-vm"
	StepImportImage     = "import-image"
	StepClone           = "clone"
	StepSnapshot        = "snapshot"
	StepPowerOff        = "power-off"
	StepUpgradeHardware = "upgrade-hardware"
	StepReconfigure     = "reconfigure"
	StepRelocate        = "relocate"
	StepPowerOn         = "power-on"
	StepVerify          = "verify"
	StepRemoveSnapshot  = "remove-snapshot"
	StepRetire          = "retire"
	StepDecommission    = "decommission"
	StepPostHook        = "post-hook"
	// StepSwitchOver is a live move's switch-over: the moment vMotion hands
	// the running VM to its new host, the only outage of a live move.
	StepSwitchOver = "switch-over"
)

// How a remediated VM moves (plan and application `move`).
const (
	MoveAuto = "auto" // live when nothing needs the VM off
	MoveCold = "cold" // shut down, move, power on
	MoveLive = "live" // always live; vCenter's checks decide
)

// When a remediation's hardware upgrade happens (remediate.hardwareUpgrade).
const (
	UpgradeNow        = "now"
	UpgradeNextReboot = "nextReboot"
)

// StepKinds lists every step kind, in the order they tend to run.
var StepKinds = []string{
	StepPreHook, StepRecordState, StepCreateVM, StepImportImage, StepClone, StepSnapshot,
	StepPowerOff, StepUpgradeHardware, StepReconfigure, StepRelocate, StepSwitchOver, StepPowerOn,
	StepVerify, StepRemoveSnapshot, StepRetire, StepDecommission, StepPostHook,
}

// Resolve fills in defaults and computes each application's effective
// placement and scheduling. It is the one place defaults are applied; Load
// calls it before validation.
func (p *Plan) Resolve() {
	if p.Limits.Concurrency == 0 {
		p.Limits.Concurrency = DefaultConcurrency
	}
	if p.Limits.PerHost == 0 {
		p.Limits.PerHost = DefaultPerHost
	}
	if p.Limits.PerDatastore == 0 {
		p.Limits.PerDatastore = DefaultPerDatastore
	}
	if _, set := p.pos["limits.retries"]; !set {
		p.Limits.Retries = DefaultRetries
	}
	p.resolveCosts() // costs.go
	if p.Target.RetirementFolder == "" {
		p.Target.RetirementFolder = DefaultRetireFolder
	}
	if p.Target.VCenter == "" && len(p.VCenters) == 1 {
		for name := range p.VCenters {
			p.Target.VCenter = name
		}
	}
	defaultHooks(p.Hooks)

	overrides := map[string]*Placement{}
	for _, w := range p.Waves {
		if w == nil {
			continue
		}
		if w.OnFailure == "" {
			w.OnFailure = DefaultOnFailure
		}
		defaultHooks(w.Hooks)
		for _, name := range w.Applications {
			if a := p.Application(name); a != nil && a.Wave == "" && !a.OnConveyor {
				a.Wave = w.Name
				overrides[name] = w.Target
			}
		}
	}
	if c := p.Conveyor; c != nil {
		if c.InFlight == 0 {
			c.InFlight = DefaultInFlight
		}
		if c.OnFailure == "" {
			c.OnFailure = OnFailureContinue
		}
		for _, name := range c.Applications {
			if a := p.Application(name); a != nil && a.Wave == "" && !a.OnConveyor {
				a.OnConveyor = true
				overrides[name] = c.Target
			}
		}
	}
	for _, a := range p.Applications {
		if a == nil {
			continue
		}
		if a.Criticality == "" {
			a.Criticality = DefaultCriticality
		}
		if a.Move == "" {
			a.Move = p.Move
		}
		if a.Move == "" {
			a.Move = MoveAuto
		}
		if a.Strategy == Replace && a.RetainDays == nil {
			d := DefaultRetainDays
			a.RetainDays = &d
		}
		defaultHooks(a.Hooks)
		a.AllHooks = combineHooks(p.Hooks, a.Hooks)
		a.Resolved = merge(merge(p.Target, overrides[a.Name]), a.Target)
	}
}

func defaultHooks(h *Hooks) {
	if h != nil && h.Timeout == 0 {
		h.Timeout = DefaultHookTimeout
	}
}

// merge returns base with every field that over sets replaced. Network
// mappings merge key by key.
func merge(base Placement, over *Placement) Placement {
	if over == nil {
		return base
	}
	out := base
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&out.VCenter, over.VCenter)
	set(&out.Datacenter, over.Datacenter)
	set(&out.Cluster, over.Cluster)
	set(&out.Host, over.Host)
	set(&out.ResourcePool, over.ResourcePool)
	set(&out.Datastore, over.Datastore)
	set(&out.Folder, over.Folder)
	set(&out.RetirementFolder, over.RetirementFolder)
	if over.Cluster != "" && over.Cluster != base.Cluster {
		out.EVCMode = "" // the mode belongs to the cluster it was given with
	}
	set(&out.EVCMode, over.EVCMode)
	if len(over.Networks) > 0 {
		out.Networks = make(map[string]string, len(base.Networks)+len(over.Networks))
		for k, v := range base.Networks {
			out.Networks[k] = v
		}
		for k, v := range over.Networks {
			out.Networks[k] = v
		}
	}
	return out
}

// combineHooks puts the plan's hooks, which apply to every application,
// before the application's own. The application's timeout wins.
func combineHooks(plan, app *Hooks) *Hooks {
	if plan == nil {
		return app
	}
	if app == nil {
		c := *plan
		return &c
	}
	return &Hooks{
		Pre:     append(append([]string{}, plan.Pre...), app.Pre...),
		Post:    append(append([]string{}, plan.Post...), app.Post...),
		Verify:  append(append([]string{}, plan.Verify...), app.Verify...),
		Timeout: cmp.Or(app.Timeout, plan.Timeout),
	}
}
