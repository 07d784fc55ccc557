package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/gate"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/preflight"
	"github.com/wavectl/wavectl/pkg/report"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// PlanOptions are plan's parsed flags.
type PlanOptions struct {
	IO       *IOStreams
	Log      zerolog.Logger
	Plan     string
	Output   string
	Offline  bool
	Simulate bool
	Detail   bool
	// Calibrate are recorded runs to fit estimates from (--calibrate);
	// State is the record whose approvals the gates show (--state).
	Calibrate         []string
	IncludeRehearsals bool
	State             string
	// Connect returns read-only drivers for the plan's vCenters and a
	// function that closes them. It connects lazily: --offline never
	// calls it.
	Connect connector
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

Without --offline, it also checks the plan against vCenter, read-only: every
source VM, template, cluster, host, datastore, portgroup, folder and resource
pool exists; no VM name it will create is taken (except by this plan's own
earlier work, known by its markers); and each target cluster and datastore has
the CPU, memory and space for the waves in order. Every vSphere call goes
through a read-only driver, so a dry run cannot change anything.

--offline skips vCenter. --simulate checks against an in-process vCenter
simulator seeded from the plan instead of a real vCenter.

--calibrate STATE... (or calibration: {from: [...]} in the plan) replaces the
estimates with durations fitted from recorded runs (see wavectl estimates):
each wave then shows a P50 and a P90, the waves likely to overrun their window
and by how much, and how many runs and steps each figure rests on. A plan with
gates shows each gate's status from the record (--state); freezes are listed.

Exit codes: 0 ready, 2 a calibration record that does not exist, 3 invalid plan, 4 problems found in vCenter,
5 vCenter unreachable or login refused.`,
		Example: `  wavectl plan --offline examples/demo.yaml
  wavectl plan --offline --detail examples/remediate.yaml   # every step of every VM
  wavectl plan --offline -o json plans/crown-hosting.yaml   # for CI
  wavectl plan --simulate examples/demo.yaml                # against the embedded simulator
  wavectl plan examples/demo.yaml   # against the vCenter in GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD (wavectl sim serves one)`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("plan takes one plan file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Plan = args[0]
			var err error
			if opts.Output, err = outputFormat(f, cmd, "text", "json"); err != nil {
				return err
			}
			opts.Offline = f.Config.GetBool("offline")
			opts.Simulate = f.Config.GetBool("simulate")
			opts.Detail = f.Config.GetBool("detail")
			if c := f.Config.GetStringSlice("calibrate"); len(c) > 0 {
				opts.Calibrate = c
			}
			opts.IncludeRehearsals = f.Config.GetBool("include-rehearsals")
			opts.State = f.Config.GetString("state")
			opts.Log = f.Log
			if opts.Offline && opts.Simulate {
				return usageError{errors.New("--offline and --simulate exclude each other: --simulate checks against a simulated vCenter")}
			}
			if opts.Simulate {
				opts.Connect = simulatedDrivers(f, vsphere.NewReadOnlyDriver, nil)
			} else {
				opts.Connect = vcenterDrivers(f, cmd, vsphere.NewReadOnlyDriver)
			}
			if runF != nil {
				return runF(opts)
			}
			return planRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringP("output", "o", "text", "output format: text or json")
	cmd.Flags().Bool("offline", false, "do not contact vCenter; check and compile the plan only")
	cmd.Flags().Bool("detail", false, "list every step of every VM (text output)")
	cmd.Flags().Bool("simulate", false, "check against an in-process vCenter simulator seeded from the plan")
	cmd.Flags().StringSlice("calibrate", nil, "fit step durations from these recorded runs (state files or postgres:// URLs; repeat or comma-separate)")
	cmd.Flags().Bool("include-rehearsals", false, "with --calibrate, also learn from --simulate rehearsals")
	cmd.Flags().String("state", "", "the record whose approvals the gates show (default <plan name>.state.json)")
	AddConnectionFlags(cmd)
	return cmd
}

func planRun(ctx context.Context, opts *PlanOptions) error {
	p, err := loadPlanChecked(opts.IO, opts.Plan, opts.Output)
	if err != nil {
		return err
	}
	s, warnings, err := calibrated(p, opts.Calibrate, opts.IncludeRehearsals)
	if err != nil {
		return err
	}
	var gates []gate.Status
	record := ""
	if len(p.Gates) > 0 {
		approvals, shown, err := approvalsFor(ctx, p, opts.State)
		if err != nil {
			return err
		}
		gates, record = gate.All(p, approvals), shown
	}
	var check *preflightResult
	offline := s
	if !opts.Offline {
		if check, err = runPreflight(ctx, opts, p); err != nil {
			return err
		}
		// vCenter told how many hosts each target cluster has: the
		// estimate charges perHost and the hosts' budgets over them.
		if len(check.Summary.Hosts) > 0 {
			if s, warnings, err = calibratedHosts(p, opts.Calibrate, opts.IncludeRehearsals, check.Summary.Hosts); err != nil {
				return err
			}
		}
	}
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
		if err := enc.Encode(struct {
			*schedule.Schedule
			Warnings  plan.Problems    `json:"warnings"`
			Preflight *preflightResult `json:"preflight,omitempty"`
			Gates     []gate.Status    `json:"gates,omitempty"`
			Freezes   []*plan.Freeze   `json:"freezes,omitempty"`
		}{s, warnings, check, gates, p.Freezes}); err != nil {
			return err
		}
	} else {
		writePlanText(opts.IO.Out, s, opts.Detail)
		writeHostsText(opts.IO.Out, s, offline)
		writeGovernanceText(opts.IO.Out, p, s, gates, record)
		if check != nil {
			writePreflightText(opts.IO.Out, check)
		}
	}
	if check != nil && check.Problems.Errors() > 0 {
		return silentExit(ExitProblems)
	}
	return nil
}

type preflightResult struct {
	Target   string             `json:"target"` // "vcenter" or "simulator"
	Problems plan.Problems      `json:"problems"`
	Summary  *preflight.Summary `json:"summary"`
	// Refused lists changes the read-only driver refused; always empty
	// unless a check tried to change something, which is a bug.
	Refused []vsphere.Change `json:"refusedChanges"`
}

func runPreflight(ctx context.Context, opts *PlanOptions, p *plan.Plan) (*preflightResult, error) {
	drivers, closeAll, err := opts.Connect(ctx, p)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	var used []*vsphere.ReadOnly
	var mu sync.Mutex
	probs, sum, err := preflight.Check(ctx, p, func(ctx context.Context, name string) (vsphere.Driver, error) {
		d, err := drivers(ctx, name)
		if ro, ok := d.(*vsphere.ReadOnly); ok {
			mu.Lock()
			if !slices.Contains(used, ro) {
				used = append(used, ro)
			}
			mu.Unlock()
		}
		return d, err
	})
	var un *preflight.UnreachableError
	switch {
	case errors.As(err, &un):
		return nil, exitf(ExitUnreachable, "%v", err)
	case err != nil:
		return nil, err
	}
	if probs == nil {
		probs = plan.Problems{}
	}
	for _, pr := range probs {
		fmt.Fprintln(opts.IO.ErrOut, pr.String())
	}
	res := &preflightResult{Target: "vcenter", Problems: probs, Summary: sum, Refused: []vsphere.Change{}}
	if opts.Simulate {
		res.Target = "simulator"
	}
	for _, ro := range used {
		res.Refused = append(res.Refused, ro.Changes()...)
	}
	return res, nil
}

func writePreflightText(w io.Writer, r *preflightResult) {
	sum := r.Summary
	what := "vCenter"
	if r.Target == "simulator" {
		what = "the embedded vCenter simulator"
	}
	fmt.Fprintf(w, "\nChecked against %s (read-only): %s; %d VMs read; %d source VMs found, %d already moved by this plan.\n",
		what, strings.Join(sum.Datacenters, ", "), sum.VMsRead, sum.SourceFound, sum.SourceMoved)
	if sum.LiveChecked > 0 {
		fmt.Fprintf(w, "Live moves: vCenter's compatibility checks (CPU/EVC, networks and datastore on the target hosts) pass for %s.\n", plural(sum.LiveChecked, "VM"))
	}
	if len(sum.Capacity) > 0 {
		fmt.Fprintln(w, "Capacity used by the plan, all waves and the conveyor:")
		for _, c := range sum.Capacity {
			if c.Kind == "cluster" {
				fmt.Fprintf(w, "  cluster   %-40s %6d of %6d vCPUs, %8d of %8d MB memory\n", c.Name, c.NeedCPUs, c.HaveCPUs, c.NeedMemMB, c.HaveMemMB)
			} else {
				fmt.Fprintf(w, "  datastore %-40s %6d of %6d GB free\n", c.Name, c.NeedGB, c.FreeGB)
			}
		}
	}
	if n := r.Problems.Errors(); n > 0 {
		fmt.Fprintf(w, "Not ready: %s found (listed on stderr with their plan lines).\n", plural(n, "problem"))
	} else {
		fmt.Fprintln(w, "Ready: no problems found.")
	}
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

// loadPlanChecked loads a plan for plan: as loadPlan, and a hook whose
// program is not there makes it invalid too. With -o json the problems
// of an invalid plan go to stdout as validate prints them, for CI.
func loadPlanChecked(io *IOStreams, path, output string) (*plan.Plan, error) {
	if err := planArg(path); err != nil {
		return nil, err
	}
	p, probs, err := plan.LoadFile(path)
	var inv *plan.InvalidError
	if err != nil && !errors.As(err, &inv) {
		return nil, exitf(ExitUsage, "%v", err)
	}
	if err == nil && p != nil {
		probs = append(probs, HookProblems(p, plan.SeverityError, nil)...)
	}
	if probs.Errors() == 0 {
		for _, pr := range probs {
			fmt.Fprintln(io.ErrOut, pr.String())
		}
		return p, nil
	}
	if output == "json" {
		r := validateResult{File: path, Errors: probs.Errors(), Warnings: probs.Warnings(), Problems: probs}
		if err := writeJSON(io.Out, struct {
			Valid bool             `json:"valid"`
			Files []validateResult `json:"files"`
		}{false, []validateResult{r}}); err != nil {
			return nil, err
		}
		return nil, silentExit(ExitInvalid)
	}
	for _, pr := range probs {
		fmt.Fprintln(io.ErrOut, pr.String())
	}
	return nil, exitf(ExitInvalid, "%s is invalid: %s; fix them and run `wavectl validate %s`", path, countText(probs), path)
}

func countText(probs plan.Problems) string {
	return plural(probs.Errors(), "error") + ", " + plural(probs.Warnings(), "warning")
}

func writePlanText(w io.Writer, s *schedule.Schedule, detail bool) {
	fmt.Fprintf(w, "Plan %s (%s, sha256 %s)\n", s.Plan, s.File, short(s.Hash))
	fmt.Fprintf(w, "Limits: %d in flight, %d per host, %d per datastore, %d retries\n",
		s.Limits.Concurrency, s.Limits.PerHost, s.Limits.PerDatastore, s.Limits.Retries)
	fmt.Fprintln(w, budgetsText(s.Limits))
	for _, wv := range s.Waves {
		fmt.Fprintf(w, "\nWave %s%s, on failure: %s\n", wv.Name, windowText(wv.Window), wv.OnFailure)
		fmt.Fprintf(w, "  %s %s; %s, %s; %s %s\n", report.NameEstimate,
			wv.Estimate, plural(len(wv.Apps), "application"), plural(units(wv.Apps), "VM"), hours(wv.ProjectedUserHours), report.NameProjectedHours)
		writeApps(w, wv.Apps, detail)
	}
	if c := s.Conveyor; c != nil {
		fmt.Fprintf(w, "\nConveyor%s, %d in flight, on failure: %s\n", windowText(c.Window), c.InFlight, c.OnFailure)
		fmt.Fprintf(w, "  %s %s; %s, %s; %s %s\n", report.NameEstimate,
			c.Estimate, plural(len(c.Apps), "application"), plural(units(c.Apps), "VM"), hours(c.ProjectedUserHours), report.NameProjectedHours)
		writeApps(w, c.Apps, detail)
	}
	t := s.Totals
	fmt.Fprintf(w, "\nTotal: %s, %s, %s; %s %s (waves back to back, the conveyor alongside); %s %s.\n",
		plural(t.Applications, "application"), plural(t.Units, "VM"), plural(t.Steps, "step"), report.NameEstimate, t.Estimate,
		hours(t.ProjectedUserHours), report.NameProjectedHours)
	if t.LiveMoves > 0 {
		fmt.Fprintf(w, "Live moves: %s, powered on throughout, each down only for its switch-over; %s %s against moving them cold.\n",
			plural(t.LiveMoves, "VM"), hours(t.UserHoursAvoided), NameHoursAvoided)
	}
	fmt.Fprintln(w, "Steps marked * are outage: the application's service is down while they run.")
}

// writeHostsText says, when the estimate counted the target clusters'
// hosts (read from vCenter), how many, what that changed against the
// offline estimate, which cannot count them, and the run's lower bound
// with what sets it.
func writeHostsText(w io.Writer, s, offline *schedule.Schedule) {
	if len(s.Hosts) == 0 {
		return
	}
	var counts []string
	for _, c := range slices.Sorted(maps.Keys(s.Hosts)) {
		counts = append(counts, fmt.Sprintf("%s %s", c, plural(s.Hosts[c], "host")))
	}
	hb, _, nb := s.Limits.Budgets()
	fmt.Fprintf(w, "\nHosts counted in vCenter's target clusters: %s. The estimate charges each cluster %d per host and each host's budgets (host %d, vMotion network %d) over its hosts: %s, against %s offline (--offline cannot count them and leaves a cluster's hosts to vCenter's placement).\n",
		strings.Join(counts, ", "), s.Limits.PerHost, hb, nb, s.Totals.Estimate, offline.Totals.Estimate)
	b := schedule.LowerBound(s, nil)
	fmt.Fprintf(w, "Lower bound with these hosts: %s (%s).\n", schedule.Seconds(b.Total), b.Binding)
}

func writeApps(w io.Writer, apps []*schedule.App, detail bool) {
	for i, a := range apps {
		deps := ""
		if len(a.DependsOn) > 0 {
			deps = ", after " + strings.Join(a.DependsOn, ", ")
		}
		fmt.Fprintf(w, "\n  %d. %s (%s, %s, %d users%s)\n", i+1, a.Name, a.Strategy, a.Criticality, a.Users, deps)
		fmt.Fprintf(w, "     starts +%s, %s %s, %s %s, %s %s\n", a.Start, report.NameEstimate, a.Estimate,
			report.NameEstimatedOutage, a.Outage, hours(a.ProjectedUserHours), report.NameProjectedHours)
		fmt.Fprintf(w, "     target: %s\n", placementText(a.Target))
		if detail {
			for _, st := range a.Steps {
				unit := st.Unit
				if unit == "" {
					unit = "(application)"
				}
				fmt.Fprintf(w, "       %-18s %-16s %6s%s %s\n", unit, st.Kind, st.Estimate, mark(st), st.Description)
			}
			writeMoves(w, a)
			continue
		}
		for _, line := range stepSummary(a) {
			fmt.Fprintf(w, "     %s\n", line)
		}
		writeMoves(w, a) // plan_moves.go
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

// budgetsText is the plan's vCenter cost model in a line: the budgets, and
// the step costs the plan changed from vCenter's.
func budgetsText(l plan.Limits) string {
	h, d, n := l.Budgets()
	out := fmt.Sprintf("vCenter budgets: host %d, datastore %d, vMotion network %d", h, d, n)
	var changed []string
	for _, k := range plan.CostKinds {
		if c, ok := l.Costs[k]; ok && c != plan.DefaultCosts[k] {
			changed = append(changed, fmt.Sprintf("%s %s", k, c))
		}
	}
	if len(changed) > 0 {
		return out + "; costs set by the plan: " + strings.Join(changed, "; ")
	}
	return out + " (vCenter's documented costs)"
}
