// Package plan holds the migration plan: its model, loading from YAML with
// positions, defaults, validation and the JSON Schema generated from the model.
package plan

import (
	"strings"
	"time"
)

// APIVersion and Kind are the only values a plan's header may carry.
const (
	APIVersion = "wavectl/v1"
	Kind       = "MigrationPlan"
)

// Strategies, in the order the README lists them.
const (
	Virtualise = "virtualise"
	Redeploy   = "redeploy"
	Remediate  = "remediate"
	Replace    = "replace"
)

// Strategies lists every strategy name a plan may use.
var Strategies = []string{Virtualise, Redeploy, Remediate, Replace}

// OnFailure policies for a wave.
const (
	OnFailureContinue = "continue"
	OnFailureStop     = "stop"
	OnFailureRollback = "rollback"
)

// Defaults applied by Resolve when a plan leaves a setting out. perHost and
// perDatastore are caps on VMs in flight on top of vCenter's budgets
// (costs.go), which decide how many of each kind of operation run at once.
const (
	DefaultConcurrency  = 16
	DefaultPerHost      = 8
	DefaultPerDatastore = 8
	DefaultRetries      = 3
	DefaultInFlight     = 1
	DefaultCriticality  = "medium"
	DefaultOnFailure    = OnFailureStop
	DefaultHookTimeout  = Duration(5 * time.Minute)
	DefaultRetainDays   = 30
	DefaultRetireFolder = "wavectl-retired"
)

// Plan is a whole migration plan, as written in YAML.
type Plan struct {
	APIVersion   string              `yaml:"apiVersion" req:"true" enum:"wavectl/v1" doc:"Plan format version; always wavectl/v1."`
	Kind         string              `yaml:"kind" req:"true" enum:"MigrationPlan" doc:"Always MigrationPlan."`
	Metadata     Metadata            `yaml:"metadata" req:"true" doc:"Name and description of the plan."`
	VCenters     map[string]VCenter  `yaml:"vcenters" req:"true" doc:"vCenter connections by name. No credentials here: they come from flags, WAVECTL_* or GOVC_* env, or the config file."`
	Source       Source              `yaml:"source" req:"true" doc:"Where the estate lives today."`
	Target       Placement           `yaml:"target" req:"true" doc:"Default placement in the new data centre; a wave, the conveyor or an application may override any field."`
	Limits       Limits              `yaml:"limits" doc:"Concurrency bounds: VMs in flight per run, per ESXi host and per datastore, and vCenter's cost model (a budget per host, datastore and vMotion network, and each step kind's cost against them)."`
	Estimates    map[string]Duration `yaml:"estimates" doc:"Estimated duration per step kind (e.g. clone: 20m), overriding wavectl's defaults for the whole plan."`
	Move         string              `yaml:"move" enum:"auto,cold,live" doc:"How remediated VMs move: live (powered on, vMotion) when nothing needs them off (auto, the default), always cold (shut down, move, power on), or always live. An application may override it."`
	Hooks        *Hooks              `yaml:"hooks" doc:"Commands run for every application (before, after, and to verify it)."`
	Applications []*Application      `yaml:"applications" req:"true" doc:"The applications that move."`
	Waves        []*Wave             `yaml:"waves" doc:"Ordered waves; each runs after the one before it."`
	Conveyor     *Conveyor           `yaml:"conveyor" doc:"Small, low-risk applications moved one by one, alongside the waves."`
	// Governance around the waves: see governance.go.
	Calibration *Calibration `yaml:"calibration" doc:"Recorded runs to fit step durations from (wavectl plan --calibrate does the same from the command line)."`
	Gates       []*Gate      `yaml:"gates" doc:"Approvals a wave or the conveyor needs before apply starts it (wavectl approve records them)."`
	Freezes     []*Freeze    `yaml:"freezes" doc:"Change freezes: apply starts no step inside one."`

	// File is the path the plan was loaded from; Hash is the SHA-256 of its
	// bytes, which ties a state file to the exact plan it ran.
	File string `yaml:"-"`
	Hash string `yaml:"-"`

	pos positions
}

// Metadata names a plan.
type Metadata struct {
	Name        string            `yaml:"name" req:"true" pattern:"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$" hint:"use lower-case letters, digits and dashes, e.g. crown-hosting" doc:"Short name: lower case, digits and dashes. Names the default state file."`
	Description string            `yaml:"description" doc:"What the plan moves, in a sentence."`
	Owner       string            `yaml:"owner" doc:"Who to call about this plan."`
	Labels      map[string]string `yaml:"labels" doc:"Free-form labels copied into reports."`
}

// VCenter is one vCenter connection. Credentials never appear in a plan.
type VCenter struct {
	URL        string `yaml:"url" req:"true" doc:"SDK URL, e.g. https://vc.example/sdk. Overridden by --vcenter NAME=URL, WAVECTL_VCENTER_<NAME>_URL, or GOVC_URL / WAVECTL_URL for every vCenter."`
	Thumbprint string `yaml:"thumbprint" doc:"SHA-1 or SHA-256 thumbprint of the vCenter certificate, to trust it without a CA."`
	CAFile     string `yaml:"caFile" doc:"PEM file of CA certificates to verify the vCenter certificate."`
	Insecure   bool   `yaml:"insecure" doc:"Skip TLS verification (labs only)."`
}

// Source says where the estate lives today.
type Source struct {
	VCenter    string `yaml:"vcenter" req:"true" doc:"Name of a vCenter under vcenters."`
	Datacenter string `yaml:"datacenter" req:"true" doc:"Datacenter that holds the source VMs."`
	Folder     string `yaml:"folder" doc:"VM folder to look for source VMs in (default: the whole datacenter)."`
}

// Placement is where migrated VMs land. Every field may be overridden by a
// wave, the conveyor or an application; Resolve merges them.
type Placement struct {
	VCenter          string            `yaml:"vcenter" json:"vcenter,omitempty" doc:"Name of a vCenter under vcenters."`
	Datacenter       string            `yaml:"datacenter" json:"datacenter,omitempty" doc:"Target datacenter."`
	Cluster          string            `yaml:"cluster" json:"cluster,omitempty" doc:"Target cluster (its root resource pool is used unless resourcePool is set)."`
	Host             string            `yaml:"host" json:"host,omitempty" doc:"Target ESXi host, when VMs must land on one host."`
	ResourcePool     string            `yaml:"resourcePool" json:"resourcePool,omitempty" doc:"Target resource pool, as a path under the cluster."`
	Datastore        string            `yaml:"datastore" json:"datastore,omitempty" doc:"Target datastore."`
	Folder           string            `yaml:"folder" json:"folder,omitempty" doc:"Target VM folder, relative to the datacenter's vm folder."`
	Networks         map[string]string `yaml:"networks" json:"networks,omitempty" doc:"Source network name -> target portgroup."`
	RetirementFolder string            `yaml:"retirementFolder" json:"retirementFolder,omitempty" doc:"Folder that retired source VMs move to (default wavectl-retired)."`
	EVCMode          string            `yaml:"evcMode" json:"evcMode,omitempty" doc:"EVC mode the target cluster runs (e.g. intel-cascadelake): what the embedded simulator gives it; against a real vCenter its own mode counts."`
}

// Limits bound how much runs at once. Zero means "use the default".
// Concurrency, PerHost and PerDatastore are caps on VMs in flight: a VM
// holds its slot for its whole chain of steps in a phase. The budgets and
// costs are vCenter's own model (costs.go): a step takes its kind's cost
// from its host's, datastore's and vMotion network's budget only while it
// runs.
type Limits struct {
	Concurrency  int `yaml:"concurrency" json:"concurrency" min:"1" doc:"VMs in flight across the whole run (default 16)."`
	PerHost      int `yaml:"perHost" json:"perHost" min:"1" doc:"VMs in flight per target ESXi host, a cap on top of hostBudget; a VM holds its slot for its whole chain of steps and it decides placement (default 8)."`
	PerDatastore int `yaml:"perDatastore" json:"perDatastore" min:"1" doc:"VMs in flight per target datastore, a cap on top of datastoreBudget (default 8)."`
	Retries      int `yaml:"retries" json:"retries" min:"0" doc:"Retries of a step after a transient vSphere fault (default 3)."`
	// vCenter's cost model: see costs.go.
	HostBudget      int             `yaml:"hostBudget" json:"hostBudget" min:"1" doc:"Cost an ESXi host runs at once, vCenter's maximum cost per host (default 8): a clone or cold move costs 1 of it, a live move with its storage 4."`
	DatastoreBudget int             `yaml:"datastoreBudget" json:"datastoreBudget" min:"1" doc:"Cost a datastore runs at once, vCenter's maximum cost per datastore (default 128): a live move with its storage costs 16 of it."`
	NetworkBudget   int             `yaml:"networkBudget" json:"networkBudget" min:"1" doc:"Live moves (vMotions) a target host's vMotion network runs at once, vCenter's maximum network cost per host (default 8, for 10GbE; 4 for 1GbE)."`
	Costs           map[string]Cost `yaml:"costs" json:"costs,omitempty" doc:"Cost of a step kind (or relocate-live, a relocate of a running VM) against the host, datastore and network budgets, overriding vCenter's documented costs; a field left out keeps its default. Steps with no cost are bound by the caps alone."`
}

// Cost is what one running step takes from the budgets of its target
// host, its target datastore and its target host's vMotion network.
type Cost struct {
	Host      int `yaml:"host" json:"host" min:"0" doc:"Cost against the target host's hostBudget."`
	Datastore int `yaml:"datastore" json:"datastore" min:"0" doc:"Cost against the target datastore's datastoreBudget."`
	Network   int `yaml:"network" json:"network" min:"0" doc:"Cost against the target host's networkBudget (live moves)."`
}

// Hooks are commands run around an application. Each list entry is one
// command line, run by /bin/sh.
type Hooks struct {
	Pre     []string `yaml:"pre" doc:"Run before the application's first change; a failure fails the application."`
	Post    []string `yaml:"post" doc:"Run after the application is verified; a failure is reported, not fatal."`
	Verify  []string `yaml:"verify" doc:"Run to verify the migrated application; a failure fails it."`
	Timeout Duration `yaml:"timeout" doc:"Time limit per hook command (default 5m)."`
}

// Check is a health check run after power-on.
type Check struct {
	TCP     int      `yaml:"tcp" req:"true" min:"1" max:"65535" doc:"TCP port that must accept a connection on the VM's IP."`
	Timeout Duration `yaml:"timeout" doc:"How long to keep trying (default 2m)."`
}

// Application is one application and how it moves.
type Application struct {
	Name        string   `yaml:"name" req:"true" pattern:"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$" hint:"use letters, digits, dots, dashes and underscores, starting and ending with a letter or digit" doc:"Unique application name."`
	Description string   `yaml:"description" doc:"What the application is."`
	Strategy    string   `yaml:"strategy" req:"true" enum:"virtualise,redeploy,remediate,replace" doc:"How it moves."`
	Criticality string   `yaml:"criticality" enum:"low,medium,high,critical" doc:"Business criticality (default medium)."`
	Users       int      `yaml:"users" min:"0" doc:"Staff affected while it is down; user-hours lost = users x outage."`
	DependsOn   []string `yaml:"dependsOn" doc:"Applications that must be migrated first."`

	VMs     []*VMRef  `yaml:"vms" doc:"Existing source VMs (remediate, redeploy, replace): a name, or an object with the VM's known size."`
	Servers []*Server `yaml:"servers" doc:"Physical servers to virtualise."`

	Target        *Placement          `yaml:"target" doc:"Overrides of the plan's target for this application."`
	Template      string              `yaml:"template" doc:"redeploy: template that new VMs are cloned from."`
	Customization *Customization      `yaml:"customization" doc:"redeploy/replace: guest customisation applied at clone time."`
	Remediate     *Remediation        `yaml:"remediate" doc:"remediate: what to change on each VM."`
	Move          string              `yaml:"move" enum:"auto,cold,live" doc:"remediate: how its VMs move (default: the plan's move, else auto)."`
	Replacement   *Replacement        `yaml:"replacement" doc:"replace: the service that replaces the old VMs."`
	RetainDays    *int                `yaml:"retainDays" min:"0" doc:"replace: days to keep retired VMs before deletion (default 30)."`
	Hooks         *Hooks              `yaml:"hooks" doc:"Commands run before, after and to verify this application."`
	Checks        []Check             `yaml:"checks" doc:"Health checks after power-on."`
	Estimates     map[string]Duration `yaml:"estimates" doc:"Estimated duration per step kind for this application."`

	// Resolved is the application's effective placement: plan target, then
	// wave or conveyor, then the application's own overrides.
	Resolved Placement `yaml:"-"`
	// AllHooks are the hooks that run for it: the plan's, then its own.
	AllHooks *Hooks `yaml:"-"`
	// Wave is the wave it belongs to ("" when on the conveyor or unscheduled).
	Wave string `yaml:"-"`
	// OnConveyor is true when the conveyor lists it.
	OnConveyor bool `yaml:"-"`
	// Index is its position in the plan's applications list.
	Index int `yaml:"-"`
}

// VMRef names an existing source VM. In YAML it is either a plain name or a
// mapping; the sizes, when given, feed capacity checks and the simulator.
type VMRef struct {
	Name       string   `yaml:"name" req:"true" doc:"VM name in the source vCenter."`
	CPUs       int      `yaml:"cpus" min:"1" max:"768" doc:"vCPUs, when known."`
	MemoryMB   int      `yaml:"memoryMB" min:"1" max:"25165824" doc:"Memory in MB, when known."`
	DisksGB    []int    `yaml:"disksGB" doc:"Disk sizes in GB, when known."`
	Networks   []string `yaml:"networks" doc:"Source networks, when known."`
	PowerState string   `yaml:"powerState" enum:"poweredOn,poweredOff" doc:"Power state, when known (default poweredOn)."`
	GuestID    string   `yaml:"guestId" doc:"vSphere guest OS id, when known."`
	Hardware   string   `yaml:"hardwareVersion" pattern:"^vmx-[0-9]+$" hint:"write hardware versions as vmx-NN, e.g. vmx-19" doc:"Hardware version, when known (e.g. vmx-13)."`
	HotAdd     bool     `yaml:"hotAdd" doc:"CPU and memory hot-add are enabled on the VM, when known: a live move may then grow it."`
	EVCMode    string   `yaml:"evcMode" doc:"The least EVC mode the VM needs (its runtime.minRequiredEVCModeKey, e.g. intel-broadwell), when known."`
	ManagedBy  string   `yaml:"managedBy" doc:"The vSphere solution that manages this VM (config.managedBy's extension key, e.g. com.vmware.vim.eam), written only when its owner agreed to the move: plan flags, and apply refuses to change, a VM that vCenter reports managed unless this names that solution."`
}

// FromScalar lets a VM be written as its bare name.
func (v *VMRef) FromScalar(s string) { v.Name = s }

// Server is a physical server to virtualise.
type Server struct {
	Name     string   `yaml:"name" req:"true" doc:"Name of the VM to create (usually the server's hostname)."`
	CPUs     int      `yaml:"cpus" req:"true" min:"1" max:"768" doc:"vCPUs."`
	MemoryMB int      `yaml:"memoryMB" req:"true" min:"4" max:"25165824" doc:"Memory in MB."`
	DisksGB  []int    `yaml:"disksGB" req:"true" doc:"Disk sizes in GB, boot disk first."`
	Networks []string `yaml:"networks" doc:"Source networks its NICs sit on, mapped through target.networks (default: one NIC on the first mapped network)."`
	GuestID  string   `yaml:"guestId" doc:"vSphere guest OS id (default otherLinux64Guest)."`
	Image    string   `yaml:"image" doc:"OVF/OVA of the server's disks to import, relative to the plan file."`
}

// Customization is guest customisation applied when cloning.
type Customization struct {
	Hostname string   `yaml:"hostname" doc:"Guest hostname (default: the new VM's name)."`
	Domain   string   `yaml:"domain" doc:"DNS domain."`
	IP       string   `yaml:"ip" doc:"Static IPv4 address; DHCP when empty."`
	Netmask  string   `yaml:"netmask" doc:"Netmask for ip."`
	Gateway  string   `yaml:"gateway" doc:"Default gateway for ip."`
	DNS      []string `yaml:"dns" doc:"DNS servers."`
}

// Remediation says what to change on a VM that stays.
type Remediation struct {
	HardwareVersion string            `yaml:"hardwareVersion" pattern:"^vmx-[0-9]+$" hint:"write hardware versions as vmx-NN, e.g. vmx-19" doc:"Hardware version to upgrade to, e.g. vmx-19."`
	CPUs            int               `yaml:"cpus" min:"1" max:"768" doc:"New vCPU count."`
	MemoryMB        int               `yaml:"memoryMB" min:"4" max:"25165824" doc:"New memory in MB."`
	Networks        map[string]string `yaml:"networks" doc:"NIC remap for this application, on top of the target's networks."`
	HardwareUpgrade string            `yaml:"hardwareUpgrade" enum:"now,nextReboot" doc:"When the hardware version changes: now, with the VM off (a cold move), or at the VM's next guest reboot (vSphere's scheduled upgrade, onSoftPowerOff), which lets it move live (default now)."`
}

// Replacement is the service that replaces an application's old VMs.
type Replacement struct {
	Template string `yaml:"template" req:"true" doc:"Template the replacement VM is cloned from."`
	Name     string `yaml:"name" req:"true" doc:"Name of the replacement VM."`
	CPUs     int    `yaml:"cpus" min:"1" max:"768" doc:"vCPUs (default: the template's)."`
	MemoryMB int    `yaml:"memoryMB" min:"4" max:"25165824" doc:"Memory in MB (default: the template's)."`
}

// Window is a change window. Work starts only inside it.
type Window struct {
	Start time.Time `yaml:"start" json:"start" req:"true" doc:"RFC 3339 time the window opens, e.g. 2019-03-02T20:00:00Z."`
	End   time.Time `yaml:"end" json:"end" req:"true" doc:"RFC 3339 time the window closes."`
}

// Wave is a group of applications moved together in one window.
type Wave struct {
	Name         string     `yaml:"name" req:"true" pattern:"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$" hint:"use letters, digits, dots, dashes and underscores, starting and ending with a letter or digit" doc:"Unique wave name."`
	Description  string     `yaml:"description" doc:"What the wave moves."`
	Window       *Window    `yaml:"window" doc:"Change window; without one the wave may run at any time."`
	Applications []string   `yaml:"applications" req:"true" doc:"Applications in this wave; wavectl orders them by dependency."`
	OnFailure    string     `yaml:"onFailure" enum:"continue,stop,rollback" doc:"When an application fails: continue with the others (its dependents are skipped), stop starting new ones, or roll the failed one back (default stop)."`
	Target       *Placement `yaml:"target" doc:"Overrides of the plan's target for this wave."`
	Hooks        *Hooks     `yaml:"hooks" doc:"Commands run before and after the wave."`
	AbortWhen    *AbortWhen `yaml:"abortWhen" doc:"Back-out criteria: when one trips, the wave stops and does what onFailure says (rollback undoes its applications)."`
}

// Conveyor moves applications one by one (or a few at a time), in order.
type Conveyor struct {
	Applications []string   `yaml:"applications" req:"true" doc:"Applications, in the order they go."`
	InFlight     int        `yaml:"inFlight" min:"1" doc:"Applications in flight at once (default 1)."`
	Window       *Window    `yaml:"window" doc:"Change window for the conveyor."`
	OnFailure    string     `yaml:"onFailure" enum:"continue,stop" doc:"When an application fails: go on with the next (default continue) or stop."`
	Target       *Placement `yaml:"target" doc:"Overrides of the plan's target for conveyor applications."`
}

// What vSphere holds, from VMware's Configuration Maximums for vSphere 8.0
// (the cpus and memoryMB fields carry the first two as max tags): a plan
// value beyond them would only fail at apply time, or, in the simulator,
// hang it.
const (
	MaxVCPUs    = 768                // virtual CPUs per VM
	MaxMemoryMB = 24 << 20           // 24 TB of memory per VM
	MaxDiskGB   = 62 << 10           // 62 TB, the largest virtual disk
	MaxNameLen  = 80                 // characters in a VM's name (vCenter's limit)
	MaxDuration = 7 * 24 * time.Hour // any duration a plan gives: sums of them cannot overflow
)

// Duration is a time.Duration written as "90s", "20m" or "1h30m".
type Duration time.Duration

// String prints the duration compactly ("1h30m", "45s").
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Application returns the named application, or nil.
func (p *Plan) Application(name string) *Application {
	for _, a := range p.Applications {
		if a != nil && a.Name == name {
			return a
		}
	}
	return nil
}

// Wave returns the named wave, or nil.
func (p *Plan) Wave(name string) *Wave {
	for _, w := range p.Waves {
		if w != nil && w.Name == name {
			return w
		}
	}
	return nil
}

// Units returns the names of the things an application moves: its VMs, or
// for virtualise its servers.
func (a *Application) Units() []string {
	var out []string
	for _, v := range a.VMs {
		if v != nil {
			out = append(out, v.Name)
		}
	}
	for _, s := range a.Servers {
		if s != nil {
			out = append(out, s.Name)
		}
	}
	return out
}
