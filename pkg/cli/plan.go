package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
)

// PlanOptions are plan's parsed flags.
type PlanOptions struct {
	IO      *IOStreams
	Log     zerolog.Logger
	Plan    string
	Output  string
	Offline bool
	Detail  bool
}

// NewCmdPlan builds `wavectl plan`.
func NewCmdPlan(f *Factory, runF func(*PlanOptions) error) *cobra.Command {
	opts := &PlanOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "plan PLAN",
		Short: "Show what apply would do: ordered steps, estimates, projected user-hours lost",
		Long: `Compile a plan into what would run: waves in order, applications in dependency
order within each wave, the conveyor's order, each application's steps for its
strategy, estimated durations under the plan's limits, and the projected outage
in user-hours lost (users x estimated outage). Never changes anything.

--offline skips vCenter; it is required until the vSphere driver is built.`,
		Example: `  wavectl plan --offline examples/demo.yaml
  wavectl plan --offline --detail examples/remediate.yaml   # every step of every VM
  wavectl plan --offline -o json plans/crown-hosting.yaml   # for CI`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("plan takes one plan file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Plan = args[0]
			var err error
			if opts.Output, err = outputFormat(f, "text", "json"); err != nil {
				return err
			}
			opts.Offline = f.Config.GetBool("offline")
			opts.Detail = f.Config.GetBool("detail")
			opts.Log = f.Log
			if runF != nil {
				return runF(opts)
			}
			return planRun(opts)
		},
	}
	cmd.Flags().StringP("output", "o", "text", "output format: text or json")
	cmd.Flags().Bool("offline", false, "do not contact vCenter; check and compile the plan only")
	cmd.Flags().Bool("detail", false, "list every step of every VM (text output)")
	return cmd
}

func planRun(opts *PlanOptions) error {
	if !opts.Offline {
		return usageError{errors.New("checking a plan against vCenter is not built yet: run `wavectl plan --offline PLAN`")}
	}
	p, err := loadPlan(opts.IO, opts.Plan)
	if err != nil {
		return err
	}
	s, warnings := schedule.Compile(p)
	opts.Log.Debug().Str("plan", opts.Plan).Int("applications", s.Totals.Applications).Int("units", s.Totals.Units).
		Int("steps", s.Totals.Steps).Dur("estimate", time.Duration(s.Totals.Estimate)).Msg("compiled schedule")
	for _, w := range warnings {
		fmt.Fprintln(opts.IO.ErrOut, w.String())
	}
	if opts.Output == "json" {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		if warnings == nil {
			warnings = plan.Problems{}
		}
		return enc.Encode(struct {
			*schedule.Schedule
			Warnings plan.Problems `json:"warnings"`
		}{s, warnings})
	}
	writePlanText(opts.IO.Out, s, opts.Detail)
	return nil
}

// loadPlan loads and validates a plan for commands that act on it: errors
// are listed on stderr and end the command with ExitInvalid; warnings are
// listed and the command goes on.
func loadPlan(io *IOStreams, path string) (*plan.Plan, error) {
	if err := planArg(path); err != nil {
		return nil, err
	}
	p, probs, err := plan.LoadFile(path)
	for _, pr := range probs {
		fmt.Fprintln(io.ErrOut, pr.String())
	}
	var inv *plan.InvalidError
	if errors.As(err, &inv) {
		return nil, exitf(ExitInvalid, "%s is invalid: %s; fix them and run `wavectl validate %s`", path, countText(probs), path)
	}
	if err != nil {
		return nil, exitf(ExitUsage, "%v", err)
	}
	return p, nil
}

func countText(probs plan.Problems) string {
	return plural(probs.Errors(), "error") + ", " + plural(probs.Warnings(), "warning")
}

func writePlanText(w io.Writer, s *schedule.Schedule, detail bool) {
	fmt.Fprintf(w, "Plan %s (%s, sha256 %s)\n", s.Plan, s.File, short(s.Hash))
	fmt.Fprintf(w, "Limits: %d in flight, %d per host, %d per datastore, %d retries\n",
		s.Limits.Concurrency, s.Limits.PerHost, s.Limits.PerDatastore, s.Limits.Retries)
	for _, wv := range s.Waves {
		fmt.Fprintf(w, "\nWave %s%s, on failure: %s\n", wv.Name, windowText(wv.Window), wv.OnFailure)
		fmt.Fprintf(w, "  estimated %s; %s, %s; projected %s user-hours lost\n",
			wv.Estimate, plural(len(wv.Apps), "application"), plural(units(wv.Apps), "VM"), hours(wv.ProjectedUserHours))
		writeApps(w, wv.Apps, detail)
	}
	if c := s.Conveyor; c != nil {
		fmt.Fprintf(w, "\nConveyor%s, %d in flight, on failure: %s\n", windowText(c.Window), c.InFlight, c.OnFailure)
		fmt.Fprintf(w, "  estimated %s; %s, %s; projected %s user-hours lost\n",
			c.Estimate, plural(len(c.Apps), "application"), plural(units(c.Apps), "VM"), hours(c.ProjectedUserHours))
		writeApps(w, c.Apps, detail)
	}
	t := s.Totals
	fmt.Fprintf(w, "\nTotal: %s, %s, %s; estimated %s (waves back to back, the conveyor alongside); projected %s user-hours lost.\n",
		plural(t.Applications, "application"), plural(t.Units, "VM"), plural(t.Steps, "step"), t.Estimate, hours(t.ProjectedUserHours))
	fmt.Fprintln(w, "Steps marked * are outage: the application's service is down while they run.")
}

func writeApps(w io.Writer, apps []*schedule.App, detail bool) {
	for i, a := range apps {
		deps := ""
		if len(a.DependsOn) > 0 {
			deps = ", after " + strings.Join(a.DependsOn, ", ")
		}
		fmt.Fprintf(w, "\n  %d. %s (%s, %s, %d users%s)\n", i+1, a.Name, a.Strategy, a.Criticality, a.Users, deps)
		fmt.Fprintf(w, "     starts +%s, takes %s, outage %s, projected %s user-hours lost\n", a.Start, a.Estimate, a.Outage, hours(a.ProjectedUserHours))
		fmt.Fprintf(w, "     target: %s\n", placementText(a.Target))
		if detail {
			for _, st := range a.Steps {
				unit := st.Unit
				if unit == "" {
					unit = "(application)"
				}
				fmt.Fprintf(w, "       %-18s %-16s %6s%s %s\n", unit, st.Kind, st.Estimate, mark(st), st.Description)
			}
			continue
		}
		for _, line := range stepSummary(a) {
			fmt.Fprintf(w, "     %s\n", line)
		}
	}
}

// stepSummary prints each distinct per-unit step sequence once, with the
// units it applies to, so that a 200-VM application stays readable.
func stepSummary(a *schedule.App) []string {
	type seq struct {
		key   string
		units []string
	}
	var seqs []*seq
	byKey := map[string]*seq{}
	perUnit := map[string][]string{}
	var order []string
	for _, st := range a.Steps {
		if _, ok := perUnit[st.Unit]; !ok {
			order = append(order, st.Unit)
		}
		txt := fmt.Sprintf("%s %s%s", st.Kind, st.Estimate, mark(st))
		if st.Deferred {
			txt = fmt.Sprintf("%s (deferred)", st.Kind)
		}
		perUnit[st.Unit] = append(perUnit[st.Unit], txt)
	}
	var lines []string
	for _, u := range order {
		if u == "" {
			lines = append(lines, "application: "+strings.Join(perUnit[u], " -> "))
			continue
		}
		key := strings.Join(perUnit[u], " -> ")
		if s, ok := byKey[key]; ok {
			s.units = append(s.units, u)
			continue
		}
		s := &seq{key: key, units: []string{u}}
		byKey[key] = s
		seqs = append(seqs, s)
	}
	for _, s := range seqs {
		lines = append(lines, fmt.Sprintf("%s: %s", unitList(s.units), s.key))
	}
	return lines
}

func unitList(units []string) string {
	if len(units) <= 4 {
		return strings.Join(units, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(units[:3], ", "), len(units)-3)
}

func mark(st schedule.Step) string {
	if st.Outage {
		return "*"
	}
	return ""
}

func units(apps []*schedule.App) int {
	n := 0
	for _, a := range apps {
		n += len(a.Units)
	}
	return n
}

func hours(h float64) string { return fmt.Sprintf("%.1f", h) }

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

func windowText(win *plan.Window) string {
	if win == nil {
		return " (no window)"
	}
	const layout = "2006-01-02 15:04 MST"
	return fmt.Sprintf(" (window %s to %s, %s)", win.Start.Format(layout), win.End.Format(layout), schedule.Seconds(win.End.Sub(win.Start)))
}

func placementText(t plan.Placement) string {
	parts := []string{}
	add := func(label, v string) {
		if v != "" {
			parts = append(parts, label+" "+v)
		}
	}
	add("vcenter", t.VCenter)
	add("datacenter", t.Datacenter)
	add("cluster", t.Cluster)
	add("host", t.Host)
	add("pool", t.ResourcePool)
	add("datastore", t.Datastore)
	add("folder", t.Folder)
	return strings.Join(parts, ", ")
}
