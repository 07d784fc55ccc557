// Package vsphere is the small set of vSphere operations wavectl's
// strategies use: a Driver interface, its govmomi implementation, and a
// read-only decorator that makes dry runs safe by construction.
package vsphere

import (
	"context"
	"time"
)

// Marker keys are written into a VM's extraConfig by every step that
// creates or changes it, so that a later step (or a resumed run) can find
// its own earlier work.
const (
	MarkerPlan        = "wavectl.plan"
	MarkerApplication = "wavectl.application"
	MarkerStep        = "wavectl.step"
	MarkerSource      = "wavectl.source"    // the source VM a new VM replaces
	MarkerState       = "wavectl.state"     // superseded, retired
	MarkerRetiredAt   = "wavectl.retiredAt" // RFC 3339
	MarkerPrefix      = "wavectl."
)

// Power states, as vSphere names them.
const (
	PoweredOn  = "poweredOn"
	PoweredOff = "poweredOff"
	Suspended  = "suspended"
)

// VM is what wavectl reads of a virtual machine or template.
type VM struct {
	// Ref is the managed object id (vm-123): stable for the VM's life,
	// but only within one vCenter's life: a vCenter restored from a
	// backup, or another vCenter, may give the same id to another VM.
	Ref  string `json:"ref"`
	Name string `json:"name"`
	// InstanceUUID is vCenter's own id of the VM (config.instanceUuid),
	// unique within a vCenter; BIOSUUID is the guest-visible one
	// (config.uuid), kept by clones' sources and copies. Together with the
	// name they tell one VM from another when a Ref may have been reused.
	InstanceUUID string `json:"instanceUuid,omitempty"`
	BIOSUUID     string `json:"biosUuid,omitempty"`
	// Path is the inventory path (/DC1/vm/migrated/web-01).
	Path       string `json:"path"`
	Datacenter string `json:"datacenter"`
	// Folder is the VM folder's path relative to the datacenter's vm
	// folder ("" for the root, "migrated/conveyor").
	Folder       string   `json:"folder"`
	Host         string   `json:"host,omitempty"`
	Cluster      string   `json:"cluster,omitempty"`
	ResourcePool string   `json:"resourcePool,omitempty"`
	Datastores   []string `json:"datastores,omitempty"`
	Template     bool     `json:"template,omitempty"`

	CPUs            int      `json:"cpus"`
	MemoryMB        int      `json:"memoryMB"`
	DisksGB         []int    `json:"disksGB,omitempty"`
	Networks        []string `json:"networks,omitempty"` // one per NIC, in device order
	GuestID         string   `json:"guestId,omitempty"`
	HardwareVersion string   `json:"hardwareVersion,omitempty"`
	// ScheduledHardware is the version of a pending upgrade scheduled for
	// the VM's next guest reboot ("" when none).
	ScheduledHardware string `json:"scheduledHardware,omitempty"`
	// ManagedBy is the extension key of the vSphere solution that manages
	// the VM (config.managedBy: vCLS and ESX Agent Manager agents,
	// Workload Management, NSX, SRM placeholders), "" for none.
	ManagedBy string `json:"managedBy,omitempty"`

	PowerState   string `json:"powerState"`
	ToolsRunning bool   `json:"toolsRunning,omitempty"`
	IP           string `json:"ip,omitempty"`

	// Markers are the VM's wavectl.* extraConfig values.
	Markers   map[string]string `json:"markers,omitempty"`
	Snapshots []Snapshot        `json:"snapshots,omitempty"`
}

// Snapshot is one snapshot of a VM.
type Snapshot struct {
	Ref  string `json:"ref"`
	Name string `json:"name"`
}

// Placement says where a VM goes. Names are inventory names within the
// datacenter; Folder is a path under the datacenter's vm folder and
// ResourcePool a path under the cluster's root pool. Empty fields keep the
// VM's current value (relocate) or take the cluster's default (clone).
type Placement struct {
	Datacenter   string `json:"datacenter,omitempty"`
	Cluster      string `json:"cluster,omitempty"`
	Host         string `json:"host,omitempty"`
	ResourcePool string `json:"resourcePool,omitempty"`
	Datastore    string `json:"datastore,omitempty"`
	Folder       string `json:"folder,omitempty"`
}

// Customization is guest customisation applied at clone time.
type Customization struct {
	Hostname string   `json:"hostname,omitempty"`
	Domain   string   `json:"domain,omitempty"`
	IP       string   `json:"ip,omitempty"` // DHCP when empty
	Netmask  string   `json:"netmask,omitempty"`
	Gateway  string   `json:"gateway,omitempty"`
	DNS      []string `json:"dns,omitempty"`
}

// CloneSpec clones a VM or template.
type CloneSpec struct {
	// Source is the VM or template to clone, by Ref.
	Source string
	Name   string
	Target Placement
	// Networks maps a source NIC's network to the target portgroup.
	Networks      map[string]string
	CPUs          int // 0 keeps the source's
	MemoryMB      int // 0 keeps the source's
	Customization *Customization
	Markers       map[string]string
	PowerOn       bool
}

// CreateSpec creates a new, empty VM from a hardware description.
type CreateSpec struct {
	Name            string
	Target          Placement
	GuestID         string
	CPUs            int
	MemoryMB        int
	DisksGB         []int
	Networks        []string // target portgroups, one NIC each
	HardwareVersion string   // empty: the host's default
	Markers         map[string]string
}

// ImportSpec imports an OVF or OVA as a new VM.
type ImportSpec struct {
	Name     string
	Path     string // .ovf or .ova on the local disk
	Target   Placement
	Networks map[string]string // OVF network -> target portgroup
	Markers  map[string]string
}

// RelocateSpec moves a VM. Target.Datacenter may differ from the VM's own
// (and, with Service, the vCenter may too).
type RelocateSpec struct {
	Target Placement
	// Networks remaps NICs on the way, as in CloneSpec.
	Networks map[string]string
	// VCenter is the plan's name of the target vCenter for a
	// cross-vCenter move ("" or the driver's own name: within this
	// vCenter). The driver builds the ServiceLocator from what it was told
	// of that peer (see Govmomi.AddPeer).
	VCenter string
	// Service is an explicit locator of the target vCenter, for callers
	// that know it; VCenter is the usual way.
	Service *ServiceLocator
}

// ServiceLocator names another vCenter for a cross-vCenter relocate.
type ServiceLocator struct {
	URL        string
	InstanceID string
	Thumbprint string
	Username   string
	Password   string
}

// ReconfigureSpec changes a VM's hardware. Zero values change nothing.
type ReconfigureSpec struct {
	CPUs     int
	MemoryMB int
	// Networks maps a NIC's current network to a new portgroup.
	Networks map[string]string
	Markers  map[string]string
}

// Inventory is a bulk read of one datacenter, for preflight checks and
// for finding many VMs at once.
type Inventory struct {
	Datacenter string                `json:"datacenter"`
	VMs        []*VM                 `json:"vms"`
	Clusters   map[string]*Cluster   `json:"clusters"`
	Datastores map[string]*Datastore `json:"datastores"`
	Networks   []string              `json:"networks"` // portgroup and network names
	Folders    []string              `json:"folders"`  // VM folder paths under the vm folder
	Pools      []string              `json:"resourcePools"`
}

// Cluster is a compute cluster's capacity.
type Cluster struct {
	Name string `json:"name"`
	// Hosts are the connected, not-in-maintenance hosts.
	Hosts []string `json:"hosts"`
	// CPUMHz and MemoryMB are the effective resources available to VMs.
	CPUMHz   int64 `json:"cpuMHz"`
	CPUCores int   `json:"cpuCores"`
	MemoryMB int64 `json:"memoryMB"`
}

// Datastore is a datastore's capacity.
type Datastore struct {
	Name       string `json:"name"`
	CapacityGB int64  `json:"capacityGB"`
	FreeGB     int64  `json:"freeGB"`
	Accessible bool   `json:"accessible"`
}

// Driver is the set of vSphere operations strategies use, for one vCenter.
// Every change waits for its vCenter task and, on failure, returns a
// *Fault carrying the fault's own text.
type Driver interface {
	// Name is the vCenter's name in the plan.
	Name() string
	// InstanceUUID is the vCenter's own instance UUID (its about info):
	// the same across its restarts, another for another vCenter.
	InstanceUUID() string

	// Reads.
	Inventory(ctx context.Context, datacenter string) (*Inventory, error)
	VM(ctx context.Context, ref string) (*VM, error)
	// FindVMs returns the VMs and templates of that name in the
	// datacenter (names are unique per folder, so there may be several).
	FindVMs(ctx context.Context, datacenter, name string) ([]*VM, error)
	// FindByMarker returns every VM in the datacenter whose marker key has
	// that value.
	FindByMarker(ctx context.Context, datacenter, key, value string) ([]*VM, error)
	// FindByInstanceUUID returns the VM with that instance UUID, or an
	// error wrapping ErrNotFound.
	FindByInstanceUUID(ctx context.Context, uuid string) (*VM, error)
	// WaitForTasks waits, up to timeout, for the change tasks this
	// driver's user started that still run in vCenter (a killed run's),
	// and says how many it waited for.
	WaitForTasks(ctx context.Context, timeout time.Duration) (int, error)
	// WaitForIP waits until the VM is powered on, its tools run and it
	// reports an IP, and returns the IP.
	WaitForIP(ctx context.Context, ref string, timeout time.Duration) (string, error)

	// Changes.
	Clone(ctx context.Context, spec CloneSpec) (*VM, error)
	Create(ctx context.Context, spec CreateSpec) (*VM, error)
	Import(ctx context.Context, spec ImportSpec) (*VM, error)
	Relocate(ctx context.Context, ref string, spec RelocateSpec) error
	Reconfigure(ctx context.Context, ref string, spec ReconfigureSpec) error
	UpgradeHardware(ctx context.Context, ref, version string) error
	PowerOn(ctx context.Context, ref string) error
	PowerOff(ctx context.Context, ref string) error
	// Shutdown asks the guest to shut down and powers the VM off when it
	// has not within timeout (or has no tools).
	Shutdown(ctx context.Context, ref string, timeout time.Duration) error
	CreateSnapshot(ctx context.Context, ref, name, description string) (Snapshot, error)
	RevertSnapshot(ctx context.Context, ref, snapshot string) error
	RemoveSnapshot(ctx context.Context, ref, snapshot string) error
	Rename(ctx context.Context, ref, name string) error
	MoveToFolder(ctx context.Context, ref, datacenter, folder string) error
	Destroy(ctx context.Context, ref string) error
	SetMarkers(ctx context.Context, ref string, markers map[string]string) error
}
