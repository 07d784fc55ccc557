package vsphere

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Change is a change a read-only driver was asked for and refused.
type Change struct {
	Op     string `json:"op"`
	Object string `json:"object"`
	Detail string `json:"detail,omitempty"`
}

// ReadOnly wraps a driver so that reads pass through and every change is
// recorded and refused with ErrReadOnly. `wavectl plan` always runs
// through it, so a dry run cannot change vCenter even if a step is wrong.
type ReadOnly struct {
	d Driver

	mu      sync.Mutex
	changes []Change
}

// NewReadOnly returns the read-only view of d.
func NewReadOnly(d Driver) *ReadOnly { return &ReadOnly{d: d} }

// Changes returns the changes refused so far, in order.
func (r *ReadOnly) Changes() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Change(nil), r.changes...)
}

func (r *ReadOnly) refuse(op, object, format string, args ...any) error {
	r.mu.Lock()
	r.changes = append(r.changes, Change{Op: op, Object: object, Detail: fmt.Sprintf(format, args...)})
	r.mu.Unlock()
	return fmt.Errorf("%s %s: %w", op, object, ErrReadOnly)
}

var _ Driver = (*ReadOnly)(nil)

func (r *ReadOnly) Name() string { return r.d.Name() }

// InstanceUUID is the vCenter's instance UUID.
func (r *ReadOnly) InstanceUUID() string { return r.d.InstanceUUID() }

// WaitForTasks waits through: waiting changes nothing.
func (r *ReadOnly) WaitForTasks(ctx context.Context, timeout time.Duration) (int, error) {
	return r.d.WaitForTasks(ctx, timeout)
}

// FindByInstanceUUID reads through.
func (r *ReadOnly) FindByInstanceUUID(ctx context.Context, uuid string) (*VM, error) {
	return r.d.FindByInstanceUUID(ctx, uuid)
}

func (r *ReadOnly) Inventory(ctx context.Context, dc string) (*Inventory, error) {
	return r.d.Inventory(ctx, dc)
}

func (r *ReadOnly) VM(ctx context.Context, ref string) (*VM, error) { return r.d.VM(ctx, ref) }

func (r *ReadOnly) FindVMs(ctx context.Context, dc, name string) ([]*VM, error) {
	return r.d.FindVMs(ctx, dc, name)
}

func (r *ReadOnly) FindByMarker(ctx context.Context, dc, key, value string) ([]*VM, error) {
	return r.d.FindByMarker(ctx, dc, key, value)
}

func (r *ReadOnly) WaitForIP(ctx context.Context, ref string, timeout time.Duration) (string, error) {
	return r.d.WaitForIP(ctx, ref, timeout)
}

func (r *ReadOnly) Clone(ctx context.Context, s CloneSpec) (*VM, error) {
	return nil, r.refuse("clone", s.Source, "as %s into %+v", s.Name, s.Target)
}

func (r *ReadOnly) Create(ctx context.Context, s CreateSpec) (*VM, error) {
	return nil, r.refuse("create", s.Name, "in %+v", s.Target)
}

func (r *ReadOnly) Import(ctx context.Context, s ImportSpec) (*VM, error) {
	return nil, r.refuse("import", s.Name, "from %s into %+v", s.Path, s.Target)
}

func (r *ReadOnly) Relocate(ctx context.Context, ref string, s RelocateSpec) error {
	return r.refuse("relocate", ref, "to %+v", s.Target)
}

func (r *ReadOnly) Reconfigure(ctx context.Context, ref string, s ReconfigureSpec) error {
	return r.refuse("reconfigure", ref, "cpus=%d memoryMB=%d networks=%v", s.CPUs, s.MemoryMB, s.Networks)
}

func (r *ReadOnly) UpgradeHardware(ctx context.Context, ref, version string) error {
	return r.refuse("upgrade-hardware", ref, "to %s", version)
}

func (r *ReadOnly) PowerOn(ctx context.Context, ref string) error {
	return r.refuse("power-on", ref, "")
}

func (r *ReadOnly) PowerOff(ctx context.Context, ref string) error {
	return r.refuse("power-off", ref, "")
}

func (r *ReadOnly) Shutdown(ctx context.Context, ref string, timeout time.Duration) error {
	return r.refuse("shutdown", ref, "timeout %s", timeout)
}

func (r *ReadOnly) CreateSnapshot(ctx context.Context, ref, name, desc string) (Snapshot, error) {
	return Snapshot{}, r.refuse("snapshot", ref, "%s", name)
}

func (r *ReadOnly) RevertSnapshot(ctx context.Context, ref, snap string) error {
	return r.refuse("revert-snapshot", ref, "%s", snap)
}

func (r *ReadOnly) RemoveSnapshot(ctx context.Context, ref, snap string) error {
	return r.refuse("remove-snapshot", ref, "%s", snap)
}

func (r *ReadOnly) Rename(ctx context.Context, ref, name string) error {
	return r.refuse("rename", ref, "to %s", name)
}

func (r *ReadOnly) MoveToFolder(ctx context.Context, ref, dc, folder string) error {
	return r.refuse("move", ref, "to %s/%s", dc, folder)
}

func (r *ReadOnly) Destroy(ctx context.Context, ref string) error {
	return r.refuse("destroy", ref, "")
}

func (r *ReadOnly) SetMarkers(ctx context.Context, ref string, m map[string]string) error {
	return r.refuse("set-markers", ref, "%v", m)
}

// NewReadOnlyDriver is NewReadOnly as a plain Driver decorator.
func NewReadOnlyDriver(d Driver) Driver { return NewReadOnly(d) }
