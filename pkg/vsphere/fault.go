package vsphere

import (
	"errors"
	"fmt"
)

// Fault is a failed vSphere operation. Message is the fault's own text, as
// vCenter gave it; Transient says whether retrying can help.
type Fault struct {
	Op        string // the operation: clone, power-on, relocate, ...
	Object    string // the VM (name or ref) or object it acted on
	Kind      string // the vSphere fault type, e.g. InvalidState, DuplicateName
	Message   string
	Transient bool
	Err       error
}

func (f *Fault) Error() string {
	kind := ""
	if f.Kind != "" {
		kind = " (" + f.Kind + ")"
	}
	return fmt.Sprintf("%s %s: %s%s", f.Op, f.Object, f.Message, kind)
}

func (f *Fault) Unwrap() error { return f.Err }

// IsTransient reports whether err is a fault worth retrying.
func IsTransient(err error) bool {
	var f *Fault
	return errors.As(err, &f) && f.Transient
}

// ErrReadOnly is returned by the read-only driver for every change.
var ErrReadOnly = errors.New("read-only: a dry run never changes vCenter")

// ErrNotFound is wrapped by reads that name an object (a datacenter, a VM
// ref) that does not exist, so callers can tell "missing" from "failed".
var ErrNotFound = errors.New("not found")
