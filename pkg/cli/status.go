package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/report"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/state/postgres"
)

// StatusOptions are status's parsed flags.
type StatusOptions struct {
	IO     *IOStreams
	Log    zerolog.Logger
	Plan   string // optional: names the default state file
	State  string // --state
	Output string
	Detail bool
	// Dir is where to look for the state file when neither --state nor a
	// plan names it; "" is the working directory.
	Dir string
	Now func() time.Time
	// Watch follows the record: status again whenever it changes.
	Watch bool
}

// NewCmdStatus builds `wavectl status`.
func NewCmdStatus(f *Factory, runF func(*StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{IO: f.IO, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "status [PLAN]",
		Short: "Show what a run did and what to do next, from its state file",
		Long: `Show a migration's record: per wave and the conveyor, each application, VM
and step with its status, times, attempts and fault text, the transient
faults that were retried and the hooks that ran, and for every application
that is not done, what an operator should do next.

It reads the state file only: it never contacts vCenter, never takes the run
lock and never writes, so it is safe to run while apply is running.

The state file is --state PATH; else, with PLAN, <metadata.name>.state.json
in the working directory (where apply keeps it by default); else the one
*.state.json file in the working directory.

Exit codes: 0 the state was read, whatever the run's result; 2 no state
file found; 9 the state file is unreadable, corrupt, of another plan or
from a newer wavectl.`,
		Example: `  wavectl status examples/demo.yaml    # its state, demo.state.json, here
  wavectl status --state demo.state.json --detail
  wavectl status --state demo.state.json -o json | jq '.groups[].applications[] | select(.next) | .next.text'
  wavectl status --watch --state 'postgres://wavectl@db.example.gov/migrations?programme=crown-hosting'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("status takes at most one plan file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Plan = args[0]
			}
			var err error
			if opts.Output, err = outputFormat(f, cmd, "text", "json"); err != nil {
				return err
			}
			opts.State = f.Config.GetString("state")
			opts.Detail = f.Config.GetBool("detail")
			opts.Watch = f.Config.GetBool("watch")
			opts.Log = f.Log
			if runF != nil {
				return runF(opts)
			}
			if opts.Watch {
				return statusWatch(cmd.Context(), opts)
			}
			return statusRun(opts)
		},
	}
	cmd.Flags().StringP("output", "o", "text", "output format: text or json")
	cmd.Flags().String("state", "", "state file (default <plan name>.state.json in the working directory)")
	cmd.Flags().BoolP("detail", "v", false, "list every step of every VM, and every hook's output (text output)")
	cmd.Flags().BoolP("watch", "w", false, "follow the record live, showing it again whenever it changes, until Ctrl-C (with -o json: one document a line)")
	return cmd
}

func statusRun(opts *StatusOptions) error {
	st, path, err := readState(opts)
	if err != nil {
		return err
	}
	opts.Log.Debug().Str("state", path).Int64("serial", st.Serial).Msg("read state")
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	r := report.StatusWith(st, now(), report.Options{StatePath: path})
	if opts.Output == "json" {
		return report.WriteJSON(opts.IO.Out, r)
	}
	return report.WriteText(opts.IO.Out, r, opts.Detail)
}

// statePath finds the state file: --state, else the plan's default, else
// the one *.state.json in the folder. planName is set when a plan was
// given, to check the state against.
func statePath(opts *StatusOptions) (path, planName string, err error) {
	if opts.Plan != "" {
		if planName, err = planNameOf(opts.Plan); err != nil {
			return "", "", err
		}
	}
	switch {
	case opts.State != "":
		return opts.State, planName, nil
	case planName != "":
		return filepath.Join(opts.Dir, state.DefaultPath(planName)), planName, nil
	}
	dir := opts.Dir
	if dir == "" {
		dir = "."
	}
	found, err := filepath.Glob(filepath.Join(dir, "*"+state.FileSuffix))
	if err != nil {
		return "", "", err
	}
	sort.Strings(found)
	switch len(found) {
	case 1:
		return found[0], "", nil
	case 0:
		return "", "", usageError{fmt.Errorf("no state file (*%s) in %s: apply keeps it in <plan metadata.name>%s in the folder it ran in; "+
			"run status there, or name it with --state PATH, or pass the plan file", state.FileSuffix, where(dir), state.FileSuffix)}
	}
	return "", "", usageError{fmt.Errorf("%d state files in %s: %s; name one with --state PATH, or pass the plan file",
		len(found), where(dir), strings.Join(found, ", "))}
}

func where(dir string) string {
	if dir == "." {
		return "the working directory"
	}
	return dir
}

// planNameOf reads a plan only for its metadata.name: a plan that has
// errors elsewhere (edited since the run) still names its state.
func planNameOf(path string) (string, error) {
	if err := planArg(path); err != nil {
		return "", err
	}
	p, _, err := plan.LoadFile(path)
	var inv *plan.InvalidError
	if err != nil && !errors.As(err, &inv) {
		return "", exitf(ExitUsage, "%v", err)
	}
	if p == nil || p.Metadata.Name == "" {
		return "", exitf(ExitInvalid, "%s has no metadata.name, which names its state file: fix it (`wavectl validate %s`), or pass --state PATH", path, path)
	}
	return p.Metadata.Name, nil
}

// stateReadError maps the state file's read errors to exit codes: a
// missing file is a usage mistake (2), anything else about the file is 9.
func stateReadError(path string, opts *StatusOptions, err error) error {
	var ce *state.CorruptError
	var ve *state.VersionError
	var je *state.JournalError
	switch {
	case isDatabase(path) && errors.Is(err, fs.ErrNotExist):
		return notInDatabase(path, err)
	case isDatabase(path):
		return databaseError(err)
	case errors.Is(err, fs.ErrNotExist):
		how := "named with --state"
		if opts.State == "" {
			how = fmt.Sprintf("the default for plan %s: <metadata.name>%s in the working directory, where apply keeps it unless given --state", opts.Plan, state.FileSuffix)
		}
		return usageError{fmt.Errorf("state file %s does not exist (%s); run status in the folder apply ran in, or pass --state PATH", path, how)}
	case errors.As(err, &ce), errors.As(err, &ve), errors.As(err, &je):
		return exitf(ExitState, "%v", err)
	}
	if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
		return usageError{fmt.Errorf("state file %s is a folder: name the file with --state PATH", path)}
	}
	return exitf(ExitState, "%v; check the file's permissions (status only reads it)", err)
}

// readState finds the state file (see statePath), reads it without the
// lock, and checks it belongs to the plan when one was given: what status,
// report, resume and rollback all start with.
func readState(opts *StatusOptions) (*state.State, string, error) {
	path, planName, err := statePath(opts)
	if err != nil {
		return nil, "", err
	}
	st, err := readRecord(path, planName)
	if err != nil {
		return nil, "", stateReadError(path, opts, err)
	}
	if isDatabase(path) {
		path = postgres.Redact(path) // shown, and put in the commands status suggests
	}
	if planName != "" {
		if err := state.CheckPlan(path, st, planName); err != nil {
			return nil, "", exitf(ExitState, "%v", err)
		}
	}
	return st, path, nil
}
