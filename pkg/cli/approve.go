package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/gate"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/state/postgres"
)

// ApproveOptions are approve's parsed flags.
type ApproveOptions struct {
	IO       *IOStreams
	Plan     string
	State    string
	Wave     string
	Conveyor bool
	As       string
	Note     string
	Now      func() time.Time
}

// NewCmdApprove builds `wavectl approve`.
func NewCmdApprove(f *Factory, runF func(*ApproveOptions) error) *cobra.Command {
	opts := &ApproveOptions{IO: f.IO, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "approve PLAN (--wave NAME | --conveyor) --as APPROVER",
		Short: "Record a go/no-go approval of a wave or the conveyor",
		Long: `Record that APPROVER (a role or name the plan's gates list) approves a wave,
or the conveyor, of this exact plan: the approval carries the plan file's
content hash, so a changed plan needs approving again. The approval goes into
the plan's record (--state: a state file or a postgres:// URL, as apply uses),
with who recorded it (user and host) and when; apply refuses to start a wave
whose gate lacks a valid approval (exit 10), status lists approvals and the
report includes them.

A gate may say how long before the window opens an approval must exist
(before: 24h): an approval recorded later does not count.

In a database, approve locks a scope of its own, so it never waits for a run
of another wave; a state file is locked whole, so approve waits for no one
but is refused (exit 8) while a run holds the file.

Exit codes: 0 recorded, 2 a bad flag or an approver the gate does not list,
3 invalid plan, 8 a run holds the state file, 9 the record belongs to
another plan or cannot be read.`,
		Example: `  wavectl approve examples/governance.yaml --wave benefits-1 --as change-advisory-board --note "CAB 2027-05-10, CHG0012345"
  wavectl approve examples/governance.yaml --wave benefits-1 --as service-owner --state postgres://ops@db/wavectl`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("approve takes one plan file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Plan = args[0]
			v := f.Config
			opts.State = v.GetString("state")
			opts.Wave, opts.Conveyor = v.GetString("wave"), v.GetBool("conveyor")
			opts.As, opts.Note = strings.TrimSpace(v.GetString("as")), v.GetString("note")
			if (opts.Wave == "") == !opts.Conveyor {
				return usageError{fmt.Errorf("approve needs one of --wave NAME or --conveyor")}
			}
			if opts.As == "" {
				return usageError{fmt.Errorf("approve needs --as APPROVER: a role or name the plan's gate lists")}
			}
			if runF != nil {
				return runF(opts)
			}
			return approveRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.String("state", "", "the record: a state file (default <plan name>.state.json) or a postgres:// URL")
	fl.String("wave", "", "the wave approved")
	fl.Bool("conveyor", false, "approve the conveyor")
	fl.String("as", "", "the approver: a role or name the plan's gate lists")
	fl.String("note", "", "a note kept with the approval, e.g. the change record")
	return cmd
}

func approveRun(ctx context.Context, opts *ApproveOptions) error {
	p, err := loadPlan(opts.IO, opts.Plan)
	if err != nil {
		return err
	}
	target, what := opts.Wave, "wave "+opts.Wave
	if opts.Conveyor {
		target, what = plan.ConveyorGate, "the conveyor"
		if p.Conveyor == nil {
			return usageError{fmt.Errorf("plan %s has no conveyor", p.Metadata.Name)}
		}
	} else if p.Wave(opts.Wave) == nil {
		var names []string
		for _, w := range p.Waves {
			names = append(names, w.Name)
		}
		return usageError{fmt.Errorf("plan %s has no wave %q; its waves: %s", p.Metadata.Name, opts.Wave, strings.Join(names, ", "))}
	}
	before := gate.Check(p, nil, target)
	if !before.Gated() {
		return usageError{fmt.Errorf("%s of plan %s has no gate, so it needs no approval: add one under gates: in the plan", what, p.Metadata.Name)}
	}
	if !slices.Contains(before.Required, opts.As) {
		return usageError{fmt.Errorf("%q is not an approver of %s; its gate lists: %s", opts.As, what, strings.Join(before.Required, ", "))}
	}
	path := opts.State
	if path == "" {
		path = state.DefaultPath(p.Metadata.Name)
	}
	backend, closeBackend, err := openBackend(ctx, path, p.Metadata.Name)
	if err != nil {
		return err
	}
	defer closeBackend()
	scope := state.Scope{Name: "approve:" + target, Apps: []string{"approve:" + target}}
	lock, err := backend.Lock(ctx, "approve", scope)
	var le *state.LockedError
	switch {
	case errors.As(err, &le):
		return &ExitError{Code: ExitLocked, Err: fmt.Errorf("%w; a state file is locked whole while a run holds it: approve once it ends, or keep the record in a database", err)}
	case err != nil:
		return databaseError(err)
	}
	defer func() { _ = lock.Unlock() }()
	store, err := backend.Open(ctx, lock)
	if state.IsNotExist(err) {
		store, err = backend.Create(ctx, lock, state.NewState(p.Metadata.Name, p.File, p.Hash))
	}
	if err != nil {
		return databaseError(err)
	}
	var owner string
	store.View(func(st *state.State) { owner = st.Plan })
	if owner != p.Metadata.Name {
		store.Close()
		return exitf(ExitState, "state %s belongs to plan %s, not %s: pass --state to use another record", backend.Name(), owner, p.Metadata.Name)
	}
	h := state.NewHolder("approve")
	a := state.Approval{Wave: target, As: opts.As, Note: opts.Note, PlanHash: p.Hash, At: opts.Now().UTC().Truncate(time.Second), User: h.User, Host: h.Host}
	var status gate.Status
	err = store.AddApproval(a)
	if err == nil {
		store.View(func(st *state.State) { status = gate.Check(p, st.Approvals, target) })
	}
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return exitf(ExitState, "record the approval in %s: %v", backend.Name(), err)
	}
	fmt.Fprintf(opts.IO.Out, "Approved %s of plan %s (sha256 %s) as %s, by %s@%s at %s.\n", what, p.Metadata.Name, short(p.Hash), opts.As, a.User, a.Host, a.At.Format(time.RFC3339))
	if status.Open() {
		fmt.Fprintf(opts.IO.Out, "The gate of %s is open: every approver (%s) has approved.\n", what, strings.Join(status.Required, ", "))
	} else {
		var miss []string
		for _, m := range status.Missing {
			miss = append(miss, m.Approver+" ("+m.Why+")")
		}
		fmt.Fprintf(opts.IO.Out, "Still missing for %s: %s.\n", what, strings.Join(miss, ", "))
	}
	return nil
}

// stateFlag is " --state REF" for a record that is not the plan's default
// (a database URL without its password), for the commands messages give.
func stateFlag(ref string) string {
	if ref == "" {
		return ""
	}
	return " --state " + postgres.Redact(ref)
}
