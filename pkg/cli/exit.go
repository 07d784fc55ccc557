package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/wavectl/wavectl/pkg/vsphere"
)

// Exit codes, in one place. Scripts and CI rely on them; the README and
// `wavectl --help` list them.
const (
	ExitOK          = 0   // success
	ExitFailure     = 1   // an unexpected failure; the message says what
	ExitUsage       = 2   // a bad flag, argument or config file, or a plan file that cannot be read
	ExitInvalid     = 3   // the plan is invalid (validate, plan, and every command that loads a plan)
	ExitProblems    = 4   // plan: checked against vCenter, problems found
	ExitUnreachable = 5   // vCenter could not be reached, or refused the login
	ExitFailed      = 6   // apply: some applications failed or were skipped
	ExitPaused      = 7   // apply: paused, a change window closed
	ExitLocked      = 8   // another run holds the state's lock
	ExitState       = 9   // the state file is unreadable, corrupt, foreign or from a newer wavectl; another vCenter's or a rehearsal's; a write failed
	ExitUnapproved  = 10  // apply: a wave or the conveyor lacks the approvals its gate requires
	ExitDeclined    = 11  // apply, resume, rollback: the confirmation was answered no
	ExitInterrupted = 130 // stopped by SIGINT/SIGTERM
)

// exitCodeHelp is appended to the root command's help.
const exitCodeHelp = `Exit codes:
  0    success
  1    unexpected failure (the message says what)
  2    bad flag, argument, config file, or unreadable plan file
  3    the plan is invalid (errors listed with file:line:col); discover: a mistake in an input file
  4    plan: checked against vCenter, problems found (listed with file:line:col)
  5    vCenter could not be reached or refused the login
  6    apply: some applications failed or were skipped
  7    apply: paused because a change window closed or a change freeze began
  8    another run holds the state's lock (the message names it)
  9    the state file is unreadable, corrupt, foreign or from a newer wavectl; the record
       is of another vCenter or a rehearsal's; a write of the record failed during the run
  10   apply/resume: a wave or the conveyor lacks the approvals its gate requires
       (the message names who must approve, and the wavectl approve command)
  11   apply, resume, rollback: not confirmed at the prompt; nothing changed
  130  interrupted (SIGINT/SIGTERM)`

// ExitError carries an exit code with a message for the user. A message
// that was already printed (problems listed on stdout) is left empty.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// exitf returns an ExitError with a formatted message.
func exitf(code int, format string, args ...any) error {
	return &ExitError{Code: code, Err: fmt.Errorf(format, args...)}
}

// silentExit is an exit code whose reason has already been printed.
func silentExit(code int) error { return &ExitError{Code: code} }

// usageError marks flag and argument mistakes.
type usageError struct{ error }

// codeOf maps an error to its exit code.
func codeOf(err error) int {
	var ee *ExitError
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, vsphere.ErrUnreachable), errors.Is(err, vsphere.ErrBadCredentials):
		return ExitUnreachable
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "unknown flag"):
		return ExitUsage
	}
	return ExitFailure
}
