// Package state is the record of a migration run: one entry per
// application, VM and step, kept durably on disk so that a run can be
// reported, and resumed after a failure, a crash or a closed window.
package state

import (
	"time"
)

// FormatVersion is the version of the state file format this build writes.
// Version 2 added the checksum, the backup beside the file and the journal
// of every change; version 3 binds the record to its vCenters (their
// instance UUIDs), says whether it is a rehearsal's, records each run's
// options and each skip's dependency as data, and seals every journal
// line with its own checksum. Older files are read through migrations.
const FormatVersion = 3

// Status is where an application, unit or step stands.
type Status string

const (
	Pending    Status = "pending"
	Running    Status = "running"
	Done       Status = "done"
	Failed     Status = "failed"
	Skipped    Status = "skipped"
	RolledBack Status = "rolled-back"
	// Deferred steps wait for a date (a retention period) and are not part
	// of the run; a later apply runs them once the date has passed.
	Deferred Status = "deferred"
)

// State is the whole record of a plan's migration. It is written as
// indented JSON so that an operator can read it.
type State struct {
	FormatVersion int `json:"formatVersion"`
	// Checksum seals the file: "sha256:" and the hex SHA-256 of the file's
	// bytes with this value empty (""). It exists only in the file: Read
	// checks it and leaves it empty in memory, and every write fills it in.
	Checksum string `json:"checksum"`
	Plan     string `json:"plan"`     // the plan's metadata.name
	PlanFile string `json:"planFile"` // as given on the command line
	PlanHash string `json:"planHash"` // SHA-256 of the plan file's bytes
	// Lineage is fixed when the state is created; Serial rises with every
	// write.
	Lineage string    `json:"lineage"`
	Serial  int64     `json:"serial"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`

	// Rehearsal says the record is of --simulate runs against the embedded
	// simulator: such a record never carries on against a real vCenter,
	// and a rehearsal never reuses a real run's record.
	Rehearsal bool `json:"rehearsal,omitempty"`
	// VCenters are the vCenters the runs worked on, by their name in the
	// plan: a record is refused against a vCenter of another identity.
	VCenters map[string]VCenter `json:"vcenters,omitempty"`

	Runs []*Run `json:"runs"`
	Apps []*App `json:"applications"`
	// WaveHooks are the runs of the waves' own pre and post hooks.
	WaveHooks []HookRun `json:"waveHooks,omitempty"`
	// Approvals are the go/no-go approvals recorded by wavectl approve;
	// Aborts the back-out criteria that tripped (see governance.go).
	Approvals []Approval `json:"approvals,omitempty"`
	Aborts    []Abort    `json:"aborts,omitempty"`
}

// VCenter is the identity of a vCenter a record's runs worked on.
type VCenter struct {
	// InstanceUUID is the vCenter's own instance UUID (its about info):
	// kept across restarts and upgrades, new for another vCenter.
	InstanceUUID string `json:"instanceUuid"`
}

// Run is one invocation of apply, resume or rollback.
type Run struct {
	Command string `json:"command"` // apply, resume, rollback
	// Args is the command line as given (credentials hidden), for people:
	// nothing reads facts back from it; Options holds them.
	Args    []string   `json:"args,omitempty"`
	Options RunOptions `json:"options"`
	Host    string     `json:"host"`
	User    string     `json:"user"`
	PID     int        `json:"pid"`
	Started time.Time  `json:"started"`
	Ended   *time.Time `json:"ended,omitempty"`
	// Result: running, succeeded, failed, paused, interrupted.
	Result string `json:"result"`
	Note   string `json:"note,omitempty"` // why it paused or stopped
	// Estimate is what the run expected when it started.
	Estimate *Estimate `json:"estimate,omitempty"`
}

// RunOptions are the settings that shaped a run, as data: resume reuses
// them, status and report read them.
type RunOptions struct {
	// Waves, Conveyor and Apps are the scope (--wave, --conveyor, --app);
	// all empty is the whole plan.
	Waves    []string `json:"waves,omitempty"`
	Conveyor bool     `json:"conveyor,omitempty"`
	Apps     []string `json:"apps,omitempty"`
	// Simulate: the run was against the embedded simulator (--simulate).
	Simulate bool `json:"simulate,omitempty"`
	// IgnoreWindows: waves ran outside their change windows.
	IgnoreWindows bool `json:"ignoreWindows,omitempty"`
	// RetryBase and VerifyTimeout as Go durations ("2s", "10m0s"); ""
	// when the run did not say.
	RetryBase     string `json:"retryBase,omitempty"`
	VerifyTimeout string `json:"verifyTimeout,omitempty"`
	// NoRetryFailed: a resume left failed applications alone
	// (--retry-failed=false).
	NoRetryFailed bool `json:"noRetryFailed,omitempty"`
}

// App is one application's record.
type App struct {
	Name     string `json:"name"`
	Wave     string `json:"wave,omitempty"` // empty on the conveyor
	Conveyor bool   `json:"conveyor,omitempty"`
	Strategy string `json:"strategy"`
	Users    int    `json:"users"`

	Status Status `json:"status"`
	// Reason says why it failed or was skipped, in words an operator can
	// act on.
	Reason string `json:"reason,omitempty"`
	// SkippedFor names the application it depends on that did not move,
	// when it was skipped for that.
	SkippedFor string     `json:"skippedFor,omitempty"`
	Started    *time.Time `json:"started,omitempty"`
	Ended      *time.Time `json:"ended,omitempty"`
	// OutageStart is when its service first went down (the first outage
	// step of any of its VMs began); OutageEnd when the last of those
	// steps finished and the application was verified. Both stay nil for
	// an application whose old service kept running until the new one was
	// verified (redeploy, replace).
	OutageStart *time.Time `json:"outageStart,omitempty"`
	OutageEnd   *time.Time `json:"outageEnd,omitempty"`

	Units []*Unit   `json:"units"`
	Hooks []HookRun `json:"hooks,omitempty"`
}

// Unit is one VM or server of an application, or "" for the steps that act
// on the application as a whole (its hooks).
type Unit struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Outputs are what later steps and a rollback need: the new VM's
	// managed object id (vm), the source VM's (source), the snapshot's,
	// the recorded power state and placement. Keys are documented in
	// package strategy.
	Outputs map[string]string `json:"outputs,omitempty"`
	Steps   []*Step           `json:"steps"`
}

// Step is one step's record.
type Step struct {
	Kind     string     `json:"kind"`
	Phase    int        `json:"phase"`
	Status   Status     `json:"status"`
	Attempts int        `json:"attempts"`
	Started  *time.Time `json:"started,omitempty"`
	Ended    *time.Time `json:"ended,omitempty"`
	// Error is the last failure's text: the vSphere fault's own message.
	Error string `json:"error,omitempty"`
	// Retried lists the transient faults that were retried.
	Retried []string `json:"retried,omitempty"`
	// NotBefore is when a deferred step may run.
	NotBefore *time.Time `json:"notBefore,omitempty"`
	// Size is what drives the step's duration, for calibration: GB of
	// disk for a clone, relocation, VM creation or image import, hook
	// commands for a hook step; 0 when unknown or one per VM.
	Size int `json:"size,omitempty"`
	// VCenterQueuedMs and VCenterRunningMs are how long the step's vCenter
	// tasks, over all its attempts, waited in vCenter's queue (over its
	// host, datastore or network budget) and ran, in milliseconds, from
	// vCenter's own task times: the step's duration holds both, and its
	// reads besides. 0 for a step that ran no task.
	VCenterQueuedMs  int64 `json:"vcenterQueuedMs,omitempty"`
	VCenterRunningMs int64 `json:"vcenterRunningMs,omitempty"`
}

// HookRun is one hook command's run.
type HookRun struct {
	Kind     string    `json:"kind"`           // pre, post, verify
	Wave     string    `json:"wave,omitempty"` // set for a wave's own hooks
	Unit     string    `json:"unit,omitempty"`
	Command  string    `json:"command"`
	ExitCode int       `json:"exitCode"`
	Output   string    `json:"output,omitempty"` // stdout and stderr, cut to OutputLimit
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended"`
}

// OutputLimit bounds the hook output kept per run.
const OutputLimit = 16 << 10

// App returns the named application's record, or nil.
func (s *State) App(name string) *App {
	for _, a := range s.Apps {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Unit returns the named unit's record, or nil.
func (a *App) Unit(name string) *Unit {
	for _, u := range a.Units {
		if u.Name == name {
			return u
		}
	}
	return nil
}

// Step returns the unit's step of that kind and phase, or nil.
func (u *Unit) Step(kind string, phase int) *Step {
	for _, s := range u.Steps {
		if s.Kind == kind && s.Phase == phase {
			return s
		}
	}
	return nil
}

// CurrentRun returns the run being recorded (the last), or nil.
func (s *State) CurrentRun() *Run {
	if len(s.Runs) == 0 {
		return nil
	}
	return s.Runs[len(s.Runs)-1]
}
