package vsphere

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"reflect"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// classify turns an error from govmomi into a *Fault: the fault's own text
// and type name, and whether retrying can help. nil stays nil, and a *Fault
// passes through unchanged.
func classify(op, object string, err error) error {
	if err == nil {
		return nil
	}
	var f *Fault
	if errors.As(err, &f) {
		return err
	}
	f = &Fault{Op: op, Object: object, Err: err}

	if mf, msg, ok := methodFault(err); ok && mf != nil {
		f.Kind = faultName(mf)
		f.Message = msg
		if f.Message == "" {
			f.Message = f.Kind
		}
		f.Transient = transientFault(mf)
		if f.Kind == "ManagedObjectNotFound" || f.Kind == "NotFound" {
			f.Err = errors.Join(err, ErrNotFound)
		}
		return f
	} else if ok {
		// A SOAP fault without a detail: only its text is known.
		f.Message = msg
		return f
	}

	f.Message = err.Error()
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The caller gave up; whether to try again is the caller's call.
		f.Kind = "Canceled"
	case transientNetwork(err):
		f.Kind = "NetworkError"
		f.Transient = true
	}
	return f
}

// methodFault digs the vSphere fault and its text out of an error: a failed
// task, a SOAP fault or a bare fault. ok is false when err carries none.
func methodFault(err error) (types.BaseMethodFault, string, bool) {
	var te task.Error
	if errors.As(err, &te) && te.LocalizedMethodFault != nil {
		return te.Fault(), te.LocalizedMessage, true
	}
	var pte *task.Error
	if errors.As(err, &pte) && pte != nil && pte.LocalizedMethodFault != nil {
		return pte.Fault(), pte.LocalizedMessage, true
	}
	var hf interface{ Fault() types.BaseMethodFault }
	if errors.As(err, &hf) {
		e := hf.(error)
		switch {
		case soap.IsSoapFault(e):
			sf := soap.ToSoapFault(e)
			msg := sf.String
			return hf.Fault(), msg, true
		case soap.IsVimFault(e):
			return hf.Fault(), "", true
		}
		return hf.Fault(), e.Error(), true
	}
	var lf types.HasLocalizedMethodFault
	if errors.As(err, &lf) {
		if l := lf.GetLocalizedMethodFault(); l != nil {
			return l.Fault, l.LocalizedMessage, true
		}
	}
	return nil, "", false
}

// faultName is the vSphere type name of a fault: DuplicateName,
// InvalidPowerState, ...
func faultName(f types.BaseMethodFault) string {
	t := reflect.TypeOf(f)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// transientFault says whether f, or a fault it was caused by, is one that
// goes away on its own: another task holds the object, a host or the
// session dropped out for a moment, vCenter is throttling.
func transientFault(f types.BaseMethodFault) bool {
	for depth := 0; f != nil && depth < 8; depth++ {
		if transientKind(f) {
			return true
		}
		cause := f.GetMethodFault().FaultCause
		if cause == nil {
			return false
		}
		f = cause.Fault
	}
	return false
}

// transientKind is the list of transient faults. RequestCanceled is not in
// it: that is mostly an operator cancelling the task in vCenter, which a
// retry would undo.
func transientKind(f types.BaseMethodFault) bool {
	switch x := f.(type) {
	case types.BaseTaskInProgress, // TaskInProgress, VAppTaskInProgress
		types.BaseHostCommunication, // HostNotConnected, HostNotReachable
		types.BaseTimedout,
		types.BaseResourceInUse,
		*types.ConcurrentAccess,
		*types.NotAuthenticated, // the session expired: a re-login fixes it
		*types.NetworkDisruptedAndConfigRolledBack,
		*types.FailToLockFaultToleranceVMs,
		*types.FileLocked, // another operation holds the VM's files
		*types.TooManyConcurrentNativeClones,
		*types.HostCommunication:
		return true
	case *types.SystemError:
		// "A general system error occurred" is mostly permanent, except
		// when its reason is a dropped connection between vCenter and a
		// host.
		r := strings.ToLower(x.Reason)
		return strings.Contains(r, "connection") || strings.Contains(r, "timed out") ||
			strings.Contains(r, "timeout") || strings.Contains(r, "busy")
	}
	return false
}

// transientNetwork says whether err is a dropped or refused connection or
// an HTTP status that means "try again later".
func transientNetwork(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) ||
		errors.Is(err, net.ErrClosed) {
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		// soap.Client reports an HTTP status other than 200 and 500 as a
		// url.Error whose text starts with the status.
		msg := ue.Err.Error()
		if len(msg) > 4 && msg[3] == ' ' && strings.Trim(msg[:3], "0123456789") == "" {
			switch msg[:3] {
			case "429", "502", "503", "504":
				return true
			}
			return false
		}
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return false
}

// IsNotFound reports whether err says the object it names does not exist
// (ManagedObjectNotFound, NotFound, or a name that resolves to nothing).
func IsNotFound(err error) bool {
	if errors.Is(err, ErrNotFound) {
		return true
	}
	var f *Fault
	return errors.As(err, &f) && (f.Kind == "ManagedObjectNotFound" || f.Kind == "NotFound")
}
