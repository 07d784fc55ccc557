package vsphere

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"

	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// taskErr is a failed task as task.Wait returns it.
func taskErr(f types.BaseMethodFault, msg string) error {
	return task.Error{LocalizedMethodFault: &types.LocalizedMethodFault{Fault: f, LocalizedMessage: msg}}
}

func soapErr(f types.BaseMethodFault, msg string) error {
	sf := &soap.Fault{Code: "ServerFaultCode", String: msg}
	sf.Detail.Fault = f
	return soap.WrapSoapFault(sf)
}

func withCause(f types.BaseMethodFault, cause types.BaseMethodFault) types.BaseMethodFault {
	f.GetMethodFault().FaultCause = &types.LocalizedMethodFault{Fault: cause}
	return f
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		kind      string
		message   string
		transient bool
		notFound  bool
	}{
		{"a duplicate name is permanent, with vCenter's text", taskErr(&types.DuplicateName{Name: "web-01"}, "The name 'web-01' already exists."), "DuplicateName", "The name 'web-01' already exists.", false, false},
		{"a task in progress is transient", taskErr(&types.TaskInProgress{}, "Another task is already in progress."), "TaskInProgress", "Another task is already in progress.", true, false},
		{"a vApp task in progress is transient", taskErr(&types.VAppTaskInProgress{}, "busy"), "VAppTaskInProgress", "busy", true, false},
		{"a host that does not answer is transient", taskErr(&types.HostNotConnected{}, "host not connected"), "HostNotConnected", "host not connected", true, false},
		{"a lost host connection is transient", taskErr(&types.HostCommunication{}, "comm"), "HostCommunication", "comm", true, false},
		{"a timeout is transient", taskErr(&types.Timedout{}, "Operation timed out."), "Timedout", "Operation timed out.", true, false},
		{"concurrent access is transient", taskErr(&types.ConcurrentAccess{}, "changed meanwhile"), "ConcurrentAccess", "changed meanwhile", true, false},
		{"an expired session is transient", soapErr(&types.NotAuthenticated{}, "The session is not authenticated."), "NotAuthenticated", "The session is not authenticated.", true, false},
		{"a resource in use is transient", taskErr(&types.ResourceInUse{Name: "ds"}, "The resource 'ds' is in use."), "ResourceInUse", "The resource 'ds' is in use.", true, false},
		{"a locked file is transient", taskErr(&types.FileLocked{}, "Unable to access file since it is locked"), "FileLocked", "Unable to access file since it is locked", true, false},
		{"too many clones at once is transient", taskErr(&types.TooManyConcurrentNativeClones{}, "throttled"), "TooManyConcurrentNativeClones", "throttled", true, false},
		{"a system error about a dropped connection is transient", taskErr(&types.SystemError{Reason: "Connection reset by peer"}, "A general system error occurred: Connection reset by peer"), "SystemError", "A general system error occurred: Connection reset by peer", true, false},
		{"other system errors are permanent", taskErr(&types.SystemError{Reason: "Invalid fault"}, "A general system error occurred: Invalid fault"), "SystemError", "A general system error occurred: Invalid fault", false, false},
		{"a permanent fault caused by a transient one is transient", taskErr(withCause(&types.SystemError{}, &types.HostNotReachable{}), "failed"), "SystemError", "failed", true, false},
		{"a task cancelled in vCenter is permanent", taskErr(&types.RequestCanceled{}, "The task was canceled by a user."), "RequestCanceled", "The task was canceled by a user.", false, false},
		{"an invalid argument is permanent", taskErr(&types.InvalidArgument{InvalidProperty: "spec"}, "A specified parameter was not correct: spec"), "InvalidArgument", "A specified parameter was not correct: spec", false, false},
		{"an invalid state is permanent", soapErr(&types.InvalidState{}, "cannot powerOn a template"), "InvalidState", "cannot powerOn a template", false, false},
		{"an invalid power state is permanent", taskErr(&types.InvalidPowerState{ExistingState: "poweredOn"}, "The attempted operation cannot be performed in the current state (Powered on)."), "InvalidPowerState", "The attempted operation cannot be performed in the current state (Powered on).", false, false},
		{"a missing object is permanent and not found", soapErr(&types.ManagedObjectNotFound{}, "The object 'vm-9' has already been deleted or has not been completely created"), "ManagedObjectNotFound", "The object 'vm-9' has already been deleted or has not been completely created", false, true},
		{"a missing thing is permanent and not found", taskErr(&types.NotFound{}, "not found"), "NotFound", "not found", false, true},
		{"a file fault is permanent", taskErr(&types.FileNotFound{FileFault: types.FileFault{File: "[ds] x.vmdk"}}, "File [ds] x.vmdk was not found"), "FileNotFound", "File [ds] x.vmdk was not found", false, false},
		{"too little memory is permanent", taskErr(&types.InsufficientMemoryResourcesFault{}, "Insufficient memory resources."), "InsufficientMemoryResourcesFault", "Insufficient memory resources.", false, false},
		{"a full datastore is permanent", taskErr(&types.NoDiskSpace{}, "no space"), "NoDiskSpace", "no space", false, false},
		{"an unsupported version is permanent", taskErr(&types.NotSupported{}, "vmx-99 not supported"), "NotSupported", "vmx-99 not supported", false, false},
		{"no permission is permanent", soapErr(&types.NoPermission{}, "Permission to perform this operation was denied."), "NoPermission", "Permission to perform this operation was denied.", false, false},
		{"a task fault without text is named by its type", taskErr(&types.InvalidDatastorePath{}, ""), "InvalidDatastorePath", "InvalidDatastorePath", false, false},
		{"a wrapped SOAP fault is still found", fmt.Errorf("clone: %w", soapErr(&types.InvalidLogin{}, "Cannot complete login")), "InvalidLogin", "Cannot complete login", false, false},
		{"a bare vim fault", soap.WrapVimFault(&types.NotAuthenticated{}), "NotAuthenticated", "NotAuthenticated", true, false},
		{"a refused connection is transient", &url.Error{Op: "Post", URL: "https://vc/sdk", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, "NetworkError", "", true, false},
		{"a connection cut mid-answer is transient", &url.Error{Op: "Post", URL: "https://vc/sdk", Err: io.ErrUnexpectedEOF}, "NetworkError", "", true, false},
		{"a reset connection is transient", fmt.Errorf("read: %w", syscall.ECONNRESET), "NetworkError", "", true, false},
		{"HTTP 503 is transient", &url.Error{Op: "POST", URL: "/sdk", Err: errors.New("503 Service Unavailable")}, "NetworkError", "", true, false},
		{"HTTP 502 is transient", &url.Error{Op: "POST", URL: "/sdk", Err: errors.New("502 Bad Gateway")}, "NetworkError", "", true, false},
		{"HTTP 404 is permanent", &url.Error{Op: "POST", URL: "/sdk", Err: errors.New("404 Not Found")}, "", "", false, false},
		{"a cancelled context is the caller's, not retried", fmt.Errorf("wait: %w", context.Canceled), "Canceled", "", false, false},
		{"a deadline is the caller's, not retried", context.DeadlineExceeded, "Canceled", "", false, false},
		{"any other error is permanent", errors.New("boom"), "", "boom", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := classify("clone", "web-01", tc.err)
			var f *Fault
			if !errors.As(err, &f) {
				t.Fatalf("classify gave %T, want *Fault", err)
			}
			if f.Op != "clone" || f.Object != "web-01" || f.Kind != tc.kind || f.Transient != tc.transient {
				t.Errorf("got op %q object %q kind %q transient %v; want kind %q transient %v", f.Op, f.Object, f.Kind, f.Transient, tc.kind, tc.transient)
			}
			want := tc.message
			if want == "" {
				want = tc.err.Error()
			}
			if f.Message != want {
				t.Errorf("message %q, want %q", f.Message, want)
			}
			if IsTransient(err) != tc.transient {
				t.Errorf("IsTransient %v", IsTransient(err))
			}
			if IsNotFound(err) != tc.notFound || errors.Is(err, ErrNotFound) != tc.notFound {
				t.Errorf("IsNotFound %v, errors.Is ErrNotFound %v; want %v", IsNotFound(err), errors.Is(err, ErrNotFound), tc.notFound)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("the fault does not wrap the original error")
			}
		})
	}
}

func TestClassifyKeepsNilAndFaults(t *testing.T) {
	if err := classify("op", "x", nil); err != nil {
		t.Errorf("classify(nil) = %v", err)
	}
	f := &Fault{Op: "power-on", Object: "vm-1", Kind: "TaskInProgress", Transient: true}
	if err := classify("clone", "other", fmt.Errorf("again: %w", f)); !errors.Is(err, f) {
		t.Errorf("a wrapped *Fault was classified again: %v", err)
	}
}
