package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/state/postgres"
)

// UnlockOptions are unlock's parsed flags.
type UnlockOptions struct {
	IO    *IOStreams
	ID    string
	Plan  string // optional: names the default state file
	State string // --state
	// Dir is where to look for the state file when neither --state nor a
	// plan names it; "" is the working directory.
	Dir string
	Now func() time.Time
}

// NewCmdUnlock builds `wavectl unlock`.
func NewCmdUnlock(f *Factory, runF func(*UnlockOptions) error) *cobra.Command {
	opts := &UnlockOptions{IO: f.IO, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "unlock LOCK_ID [PLAN]",
		Short: "Remove a state's lock that a run left behind",
		Long: `Remove the lock on a state file that a run (apply, resume, rollback) left
behind, and show who held it. LOCK_ID is the lock's ID, as the error of the run
that found the state locked shows it (and as the lock file, <state>.lock, says):
giving it makes sure the lock removed is the one meant.

A lock is an OS lock held by the running wavectl process, which the kernel
releases when that process ends, however it ends. A lock left by a run on this
host whose process is gone (killed, crashed) needs no unlock: the next run takes
it over, with a warning. unlock is for a lock taken on another host sharing the
state's folder, which this host cannot check: run it once that run is over.
A lock whose process still runs cannot be removed (stop the run instead).

The state file is --state PATH; else, with PLAN, <metadata.name>.state.json in
the working directory; else the one *.state.json file in the working directory.

Exit codes: 0 the lock was removed; 2 no lock, or LOCK_ID is not the holder's
(the message names the holder); 8 the holder's process still holds the lock.`,
		Example: `  wavectl unlock 3f2a9c1b
  wavectl unlock 3f2a9c1b --state /srv/runs/crown-hosting.state.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError{fmt.Errorf("unlock takes a lock ID and at most one plan file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if len(args) == 2 {
				opts.Plan = args[1]
			}
			opts.State = f.Config.GetString("state")
			if runF != nil {
				return runF(opts)
			}
			return unlockRun(opts)
		},
	}
	cmd.Flags().String("state", "", "state file (default <plan name>.state.json in the working directory)")
	return cmd
}

func unlockRun(opts *UnlockOptions) error {
	path, _, err := statePath(&StatusOptions{IO: opts.IO, Plan: opts.Plan, State: opts.State, Dir: opts.Dir})
	if err != nil {
		return err
	}
	if isDatabase(path) {
		return unlockLease(opts, path)
	}
	h, err := state.Unlock(path, opts.ID)
	var nl *state.NoLockError
	var id *state.LockIDError
	var le *state.LockedError
	switch {
	case errors.As(err, &nl), errors.As(err, &id):
		return usageError{err}
	case errors.As(err, &le):
		return &ExitError{Code: ExitLocked, Err: fmt.Errorf("%w\n  unlock removes only a lock whose process is gone", err)}
	case err != nil:
		return exitf(ExitState, "%v", err)
	}
	if h.ID == "" {
		fmt.Fprintf(opts.IO.Out, "Removed the unreadable lock of %s (no process held it).\n", path)
		return nil
	}
	gone := ""
	if alive, known := h.Alive(); known && !alive {
		gone = "; that process is gone"
	}
	fmt.Fprintf(opts.IO.Out, "Removed lock %s of %s: %s%s.\n", h.ID, path, h.Describe(opts.Now()), gone)
	return nil
}

// unlockLease removes a lease from a database: its holder's next write is
// refused (fencing), so this is safe even if the holder still runs.
func unlockLease(opts *UnlockOptions, ref string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	planName := ""
	if opts.Plan != "" {
		name, err := planNameOf(opts.Plan)
		if err != nil {
			return err
		}
		planName = name
	}
	b, closeB, err := openBackend(ctx, ref, planName)
	if err != nil {
		return err
	}
	defer closeB()
	h, err := b.Unlock(ctx, opts.ID)
	var nl *postgres.NoLeaseError
	switch {
	case errors.As(err, &nl):
		return usageError{err}
	case err != nil:
		return databaseError(err)
	}
	fmt.Fprintf(opts.IO.Out, "Removed lock %s of %s: %s; if it still runs, its next write is refused.\n", h.ID, b.Name(), h.Describe(opts.Now()))
	return nil
}
