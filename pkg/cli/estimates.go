package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/gate"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/state/postgres"
)

// EstimatesOptions are estimates' parsed flags.
type EstimatesOptions struct {
	IO                *IOStreams
	States            []string
	IncludeRehearsals bool
	Output            string
}

// NewCmdEstimates builds `wavectl estimates`.
func NewCmdEstimates(f *Factory, runF func(*EstimatesOptions) error) *cobra.Command {
	opts := &EstimatesOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "estimates STATE...",
		Short: "Show step durations fitted from recorded runs (what plan --calibrate uses)",
		Long: `Fit each step kind's duration from the steps recorded runs measured: state
files or postgres:// URLs (a URL names its programme with ?programme=NAME).
A clone, relocation, VM creation or image import is fitted per GB of the VM's
disks (per VM when its size is unknown), a hook step per hook command, any
other step per VM. Each kind shows the spread, not only the middle: P50 and
P90, mean, min and max, and how many steps and runs it rests on.

Records of --simulate rehearsals measure the embedded simulator, not vCenter,
and are left out unless --include-rehearsals.

wavectl plan --calibrate STATE... (or calibration: {from: [...]} in the plan)
uses this model for the kinds it has data on; other kinds keep their defaults.

Exit codes: 0 shown, 2 a bad flag or a state that does not exist, 9 a record
that cannot be read.`,
		Example: `  wavectl estimates examples/governance/pilot.state.json
  wavectl estimates -o json examples/governance/pilot.state.json
  wavectl estimates "postgres://ops@db/wavectl?programme=crown-hosting"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("estimates takes one or more state files or postgres:// URLs")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.States = args
			opts.IncludeRehearsals = f.Config.GetBool("include-rehearsals")
			var err error
			if opts.Output, err = outputFormat(f, cmd, "text", "json"); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			m, err := fitFrom(opts.States, "", opts.IncludeRehearsals)
			if err != nil {
				return err
			}
			if opts.Output == "json" {
				enc := json.NewEncoder(opts.IO.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(m)
			}
			writeModelText(opts.IO.Out, m)
			return nil
		},
	}
	cmd.Flags().StringP("output", "o", "text", "output format: text or json")
	cmd.Flags().Bool("include-rehearsals", false, "also learn from --simulate rehearsals")
	return cmd
}

// fitFrom reads the records refs name (files relative to dir when not
// absolute) and fits a model from them.
func fitFrom(refs []string, dir string, includeRehearsals bool) (*schedule.Model, error) {
	var records []*state.State
	var names []string
	for _, ref := range refs {
		path := ref
		if !isDatabase(ref) && dir != "" && !filepath.IsAbs(ref) {
			path = filepath.Join(dir, ref)
		}
		st, err := readRecord(path, "")
		if err != nil {
			shown := path
			if isDatabase(path) {
				shown = postgres.Redact(path)
			}
			if state.IsNotExist(err) {
				return nil, usageError{fmt.Errorf("calibration: %s does not exist: name a state file (or postgres:// URL) of recorded runs", shown)}
			}
			return nil, databaseError(fmt.Errorf("calibration: read %s: %w", shown, err))
		}
		records = append(records, st)
		names = append(names, ref)
	}
	return schedule.FitModel(records, names, includeRehearsals), nil
}

// calibrated compiles the plan with estimates fitted from refs (from the
// command line) or else the plan's calibration.from.
func calibrated(p *plan.Plan, refs []string, includeRehearsals bool) (*schedule.Schedule, plan.Problems, error) {
	return calibratedHosts(p, refs, includeRehearsals, nil)
}

// calibratedHosts is calibrated knowing the target clusters' host counts
// (see schedule.CompileHosts).
func calibratedHosts(p *plan.Plan, refs []string, includeRehearsals bool, hosts map[string]int) (*schedule.Schedule, plan.Problems, error) {
	dir := ""
	if len(refs) == 0 && p.Calibration != nil {
		refs, dir = p.Calibration.From, filepath.Dir(p.File)
		includeRehearsals = includeRehearsals || p.Calibration.IncludeRehearsals
	}
	if len(refs) == 0 {
		s, probs := schedule.CompileHosts(p, nil, hosts)
		return s, probs, nil
	}
	m, err := fitFrom(refs, dir, includeRehearsals)
	if err != nil {
		return nil, nil, err
	}
	s, probs := schedule.CompileHosts(p, m, hosts)
	return s, probs, nil
}

func writeModelText(w io.Writer, m *schedule.Model) {
	fmt.Fprintf(w, "Step durations fitted from %s: %s, %s measured.\n", plural(m.Records, "record"), plural(m.Runs, "run"), plural(m.Steps, "step"))
	for _, l := range m.LeftOut {
		fmt.Fprintf(w, "Left out: %s\n", l)
	}
	if len(m.Kinds) == 0 {
		fmt.Fprintln(w, "No measured steps: plans keep their default estimates.")
		return
	}
	fmt.Fprintf(w, "\n%-17s %-5s %6s %5s %10s %10s %10s %10s %10s\n", "kind", "per", "steps", "runs", "P50", "P90", "mean", "min", "max")
	for _, kind := range plan.StepKinds {
		k := m.Kinds[kind]
		if k == nil {
			continue
		}
		f := k.Rate
		if f.Steps > 0 {
			fmt.Fprintf(w, "%-17s %-5s %6d %5d %10s %10s %10s %10s %10s\n", kind, k.Per, f.Steps, k.Runs, dur(f.P50), dur(f.P90), dur(f.Mean), dur(f.Min), dur(f.Max))
		}
		if k.Per != schedule.PerVM {
			f = k.PerStep
			fmt.Fprintf(w, "%-17s %-5s %6d %5d %10s %10s %10s %10s %10s\n", "", "step", f.Steps, k.Runs, dur(f.P50), dur(f.P90), dur(f.Mean), dur(f.Min), dur(f.Max))
		}
	}
	fmt.Fprintln(w, "\nper GB: seconds per GB of the VM's disks; per step: whatever the size, used when a VM's size is unknown.")
}

// dur prints seconds compactly, keeping milliseconds under a minute.
func dur(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d < time.Minute {
		return d.Round(time.Millisecond).String()
	}
	return schedule.Seconds(d).String()
}

// writeGovernanceText adds to plan's text what governs the waves: what
// the estimates rest on, which waves will likely overrun, each gate's
// status and the freezes.
func writeGovernanceText(w io.Writer, p *plan.Plan, s *schedule.Schedule, gates []gate.Status, record string) {
	if c := s.Calibration; c != nil {
		var kinds []string
		for _, k := range c.Kinds {
			kinds = append(kinds, fmt.Sprintf("%s per %s (%s, %s)", k.Kind, k.Per, plural(k.Steps, "step"), plural(k.Runs, "run")))
		}
		fmt.Fprintf(w, "\nEstimates calibrated from %s (%s measured): %s.\n", plural(c.Runs, "run"), plural(c.Steps, "step"), strings.Join(kinds, ", "))
		if len(c.Defaulted) > 0 {
			fmt.Fprintf(w, "No measurements yet, so defaults for: %s.\n", strings.Join(c.Defaulted, ", "))
		}
		for _, wv := range s.Waves {
			line := fmt.Sprintf("  wave %s: P50 %s, P90 %s", wv.Name, wv.Estimate, wv.EstimateP90)
			if wv.Window != nil {
				length := schedule.Seconds(wv.Window.End.Sub(wv.Window.Start))
				switch {
				case wv.Overrun > 0:
					line += fmt.Sprintf(" against a %s window: likely to overrun by %s (by %s at P90)", length, wv.Overrun, wv.OverrunP90)
				case wv.OverrunP90 > 0:
					line += fmt.Sprintf(" against a %s window: fits at P50, may overrun by %s at P90", length, wv.OverrunP90)
				default:
					line += fmt.Sprintf(" against a %s window: fits", length)
				}
			}
			fmt.Fprintln(w, line)
		}
		if cv := s.Conveyor; cv != nil {
			fmt.Fprintf(w, "  conveyor: P50 %s, P90 %s\n", cv.Estimate, cv.EstimateP90)
		}
	}
	if len(gates) > 0 {
		fmt.Fprintf(w, "\nGates (approvals in %s):\n", record)
		for _, g := range gates {
			what := "wave " + g.Wave
			if g.Wave == plan.ConveyorGate {
				what = "conveyor"
			}
			var parts []string
			for _, a := range g.Approved {
				parts = append(parts, fmt.Sprintf("approved by %s (%s@%s, %s)", a.As, a.User, a.Host, a.At.Format(time.RFC3339)))
			}
			for _, m := range g.Missing {
				parts = append(parts, fmt.Sprintf("missing %s (%s)", m.Approver, m.Why))
			}
			verdict := "open"
			if !g.Open() {
				verdict = "closed: apply will not start it"
			}
			fmt.Fprintf(w, "  %-20s %s; %s\n", what, verdict, strings.Join(parts, "; "))
		}
	}
	if len(p.Freezes) > 0 {
		fmt.Fprintln(w, "\nFreezes (no step starts inside one):")
		for _, f := range p.Freezes {
			fmt.Fprintf(w, "  %s to %s: %s\n", f.Start.Format(time.RFC3339), f.End.Format(time.RFC3339), f.Reason)
		}
	}
}

// approvalsFor reads the approvals of the plan's record, for plan's gate
// status: none when there is no record yet. ref is --state, or "" for the
// plan's default file.
func approvalsFor(ctx context.Context, p *plan.Plan, ref string) ([]state.Approval, string, error) {
	if ref == "" {
		ref = state.DefaultPath(p.Metadata.Name)
	}
	shown := ref
	if isDatabase(ref) {
		shown = postgres.Redact(ref)
	}
	st, err := readRecord(ref, p.Metadata.Name)
	switch {
	case state.IsNotExist(err):
		return nil, shown + ", none yet", nil
	case err != nil:
		return nil, shown, databaseError(fmt.Errorf("read approvals from %s: %w", shown, err))
	}
	return st.Approvals, shown, nil
}
