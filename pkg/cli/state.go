package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/state"
)

// NewCmdState builds `wavectl state`, the commands that repair a state
// file.
func NewCmdState(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Repair a state file; set up a state database, and move records to and from it",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCmdStateRebuild(f), newCmdStateMigrate(f), newCmdStatePush(f), newCmdStatePull(f))
	return cmd
}

// StateRebuildOptions are `state rebuild`'s parsed flags.
type StateRebuildOptions struct {
	IO    *IOStreams
	Plan  string
	State string
	Now   func() time.Time
}

func newCmdStateRebuild(f *Factory) *cobra.Command {
	opts := &StateRebuildOptions{IO: f.IO, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "rebuild [PLAN]",
		Short: "Rebuild a damaged state file from its journal",
		Long: `Rebuild a state file that is damaged (its checksum does not match, it is cut
short, it is not JSON) from its journal, <state>.journal, which records every
change: the journal's last whole record with every line after it applied.
The damaged file is kept beside it as <state>.damaged-<time>; a state file
that reads cleanly is left alone.

The state file is --state PATH; else, with PLAN, <metadata.name>.state.json in
the working directory; else the one *.state.json file in the working directory.
It takes the state's run lock, so it never runs beside apply, resume or
rollback.

Exit codes: 0 rebuilt; 2 no such state file; 8 a run holds the lock; 9 the
file reads cleanly, or the journal cannot rebuild it (the message says why).`,
		Example: `  wavectl state rebuild --state crown-hosting.state.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("state rebuild takes at most one plan file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Plan = args[0]
			}
			opts.State = f.Config.GetString("state")
			return stateRebuildRun(f, opts)
		},
	}
	cmd.Flags().String("state", "", "state file (default <plan name>.state.json in the working directory)")
	return cmd
}

func stateRebuildRun(f *Factory, opts *StateRebuildOptions) error {
	path, _, err := statePath(&StatusOptions{IO: opts.IO, Plan: opts.Plan, State: opts.State, Dir: "."})
	if err != nil {
		return err
	}
	if isDatabase(path) {
		return usageError{fmt.Errorf("state rebuild repairs a state file; a database's record is rows with their own checksums: restore the database from its backup")}
	}
	_, ferr := os.Lstat(path)
	_, jerr := os.Lstat(path + state.JournalSuffix)
	if errors.Is(ferr, fs.ErrNotExist) && errors.Is(jerr, fs.ErrNotExist) {
		return usageError{fmt.Errorf("state file %s does not exist, nor its journal %s: pass --state PATH", path, path+state.JournalSuffix)}
	}
	lock, err := takeLock(context.Background(), f, state.FileBackend{File: path}, "state rebuild", state.Scope{})
	if err != nil {
		return err
	}
	defer func() { _ = lock.Unlock() }()
	st, aside, err := state.RebuildFile(path, opts.Now())
	if err != nil {
		return exitf(ExitState, "%v", err)
	}
	fmt.Fprintf(opts.IO.Out, "Rebuilt %s from its journal: serial %d, written %s, %d applications.\n",
		path, st.Serial, st.Updated.UTC().Format(time.RFC3339), len(st.Apps))
	if aside != "" {
		fmt.Fprintf(opts.IO.Out, "The damaged file is kept as %s.\n", aside)
	}
	return nil
}
