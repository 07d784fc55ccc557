package strategy

import (
	"context"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// Output keys a step stores in its unit's record, for later steps, a
// resumed run and a rollback.
const (
	OutVM         = "vm"           // managed object id of the VM the unit made (clone, create, import)
	OutSource     = "source"       // managed object id of the source VM (remediate, redeploy, replace)
	OutPowerState = "powerState"   // the source VM's power state before wavectl touched it
	OutHost       = "host"         // the source VM's host, datastore, folder, pool and datacenter before a move
	OutDatastore  = "datastore"    //
	OutFolder     = "folder"       //
	OutPool       = "resourcePool" //
	OutDatacenter = "datacenter"   //
	OutCPUs       = "cpus"         // the source VM's size before a reconfigure
	OutMemoryMB   = "memoryMB"     //
	OutNetworks   = "networks"     // its NICs' networks, comma-separated, in device order
	OutHardware   = "hardwareVersion"
	OutSnapshot   = "snapshot"   // managed object id of wavectl's snapshot
	OutIP         = "ip"         // the IP verification found
	OutTargetHost = "targetHost" // the host the engine chose for the unit
	OutRetiredAt  = "retiredAt"  // RFC 3339, when a replaced VM was retired
	OutCluster    = "cluster"    // the source VM's cluster before a move
	// The source VM's identity, recorded when a step first finds it, and
	// checked before any later step acts on the VM at OutSource: its
	// instance and BIOS UUIDs, and "true" in OutSourceMarked once
	// record-state has put wavectl's markers on it (until its undo takes
	// them off).
	OutSourceUUID   = "sourceInstanceUuid"
	OutSourceBIOS   = "sourceBiosUuid"
	OutSourceMarked = "sourceMarked"
	SnapshotPrefix  = "wavectl-" // wavectl's snapshots are named wavectl-<plan>
)

// Runtime is what a step's action works with: one unit of one application.
type Runtime struct {
	Plan *plan.Plan
	App  *plan.Application
	// Unit is the VM or server name ("" for application-wide steps).
	Unit string
	Step Step

	// Source and Target are the drivers of the source and target vCenters
	// (the same driver when they are one vCenter).
	Source vsphere.Driver
	Target vsphere.Driver
	// Placement is where the unit goes, with the host the engine chose to
	// keep within the per-host limit.
	Placement vsphere.Placement

	// Outputs is the unit's persisted outputs; actions read and write it.
	// The engine saves it with the step's completion.
	Outputs map[string]string

	// Hooks runs the plan's hook commands and records their output.
	Hooks HookRunner
	// VerifyTimeout bounds how long verify waits for tools and an IP, and
	// for each TCP check.
	VerifyTimeout time.Duration
	Log           zerolog.Logger
	Now           func() time.Time

	// Dial makes the TCP checks' connections; nil dials directly. The
	// simulator's DialContext reaches guests it had to serve elsewhere.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// ShutdownTimeout bounds a guest shutdown before the VM is powered
	// off hard (default DefaultShutdownTimeout).
	ShutdownTimeout time.Duration

	// reads holds what the step's Check read of its VMs, for its Do (see
	// reuse in actions.go).
	reads *stepReads
}

// HookRunner runs one kind of hook (pre, post, verify) for an application
// (and, for verify, a unit with its IP), returning the first failure.
type HookRunner interface {
	Run(ctx context.Context, kind string, rt *Runtime) error
}

// Action is how a step is carried out.
type Action struct {
	// Check reports whether the step's effect is already there (by
	// wavectl's markers and the VM's real state, not by trusting the
	// record), so that a retried or resumed step does not do it twice.
	// When it returns true it has filled the outputs the step would have.
	Check func(ctx context.Context, rt *Runtime) (bool, error)
	// Do carries the step out.
	Do func(ctx context.Context, rt *Runtime) error
	// Verify confirms the effect after Do; nil when Do's own result is
	// proof enough.
	Verify func(ctx context.Context, rt *Runtime) error
	// Undo reverses the step for a rollback; nil when there is nothing to
	// undo (a verification, a record).
	Undo func(ctx context.Context, rt *Runtime) error
}
