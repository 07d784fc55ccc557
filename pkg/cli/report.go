package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/report"
	"github.com/wavectl/wavectl/pkg/state"
)

// ReportOptions are report's parsed flags.
type ReportOptions struct {
	IO  *IOStreams
	Log zerolog.Logger
	// Plan names the default state file (as for status) and gives the
	// projections; PlanFlag (--plan) gives the projections only.
	Plan     string
	PlanFlag string
	State    string
	Output   string // md, html or json
	Out      string // --out FILE; "" is stdout
	// Dir is where to look for the state file when neither --state nor a
	// plan names it; "" is the working directory.
	Dir string
	Now func() time.Time
}

// NewCmdReport builds `wavectl report`.
func NewCmdReport(f *Factory, runF func(*ReportOptions) error) *cobra.Command {
	opts := &ReportOptions{IO: f.IO, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "report [PLAN]",
		Short: "Report what a migration did: outage, user-hours lost, change success, as Markdown, HTML or JSON",
		Long: `Report what a migration did, from its state file: per wave, the conveyor and
the whole run, the applications and VMs migrated, failed, rolled back and
skipped; the changes attempted and the change success rate; the transient
faults retried and the faults steps failed with; each application's measured
outage and user-hours lost next to the plan's projection; the slowest steps;
and how long it took against the plan's estimate.

The figures are defined in the report itself. In short: a change is one
application's migration, attempted once any of its steps ran and a success
when it ended done; user-hours lost = users x measured outage in hours, the
outage running from the first outage step to the application's verification.

Formats (-o): md (the default; for a change ticket), html (one self-contained
page with a timeline and charts, readable on a phone and printable; it
fetches nothing) and json (for dashboards; field names documented in
package report). Without -o, --out FILE picks the format from its extension
(.md, .html, .json). --out writes the file atomically; otherwise the report
goes to stdout.

The state file is found as status finds it: --state PATH; else, with PLAN,
<metadata.name>.state.json in the working directory; else the one
*.state.json file there. The projections come from PLAN or --plan, else the
plan file the state records; when that file is missing or has changed since
the run (its sha256 differs), the report leaves the projections out and says
so. It never contacts vCenter and never writes the state.

Exit codes: 0 the report was made, whatever the run's result; 2 no state
file, or a bad flag or plan path; 9 the state file is unreadable, corrupt,
of another plan or from a newer wavectl.`,
		Example: `  wavectl report examples/demo.yaml                        # Markdown, from its state, demo.state.json
  wavectl report examples/demo.yaml --out demo-report.html # the extension picks HTML
  wavectl report --state demo.state.json -o json | jq '.total.changes.successRate, .total.userHoursLost'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("report takes at most one plan file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Plan = args[0]
			}
			opts.State = f.Config.GetString("state")
			opts.PlanFlag = f.Config.GetString("plan")
			opts.Out = f.Config.GetString("out")
			var err error
			if opts.Output, err = outputFormat(f, cmd, "md", "html", "json"); err != nil {
				return err
			}
			// The file's extension beats a format inherited from
			// WAVECTL_OUTPUT or the config file: --out x.html is HTML.
			if byExt := formatOf(opts.Out); byExt != "" && outputInherited(cmd) {
				opts.Output = byExt
			}
			opts.Log = f.Log
			if runF != nil {
				return runF(opts)
			}
			return reportRun(opts)
		},
	}
	cmd.Flags().StringP("output", "o", "md", "output format: md, html or json")
	cmd.Flags().String("out", "", "write the report to FILE (atomically) instead of stdout; its extension picks the format when -o is not given")
	cmd.Flags().String("plan", "", "the plan file, for the projections (default PLAN, else the plan file the state records)")
	cmd.Flags().String("state", "", "state file (default <plan name>.state.json in the working directory)")
	return cmd
}

// formatOf is the report format a file's extension asks for, or "".
func formatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".md", ".markdown":
		return "md"
	case ".html", ".htm":
		return "html"
	case ".json":
		return "json"
	}
	return ""
}

func reportRun(opts *ReportOptions) error {
	if opts.Plan != "" && opts.PlanFlag != "" && !sameFile(opts.Plan, opts.PlanFlag) {
		return usageError{fmt.Errorf("two plan files: %s and --plan %s; give one", opts.Plan, opts.PlanFlag)}
	}
	if opts.PlanFlag != "" {
		if err := planArg(opts.PlanFlag); err != nil {
			return err
		}
	}
	st, path, err := readState(&StatusOptions{Plan: opts.Plan, State: opts.State, Dir: opts.Dir})
	if err != nil {
		return err
	}
	p, noPlan := projectionPlan(opts, st, path)
	opts.Log.Debug().Str("state", path).Int64("serial", st.Serial).Bool("projections", p != nil).Msg("read state")
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	r := report.BuildWith(st, p, now(), report.ReportOptions{StatePath: path, NoPlan: noPlan, Generator: "wavectl " + Version})
	var buf bytes.Buffer
	switch opts.Output {
	case "html":
		err = r.WriteHTML(&buf)
	case "json":
		err = r.WriteJSON(&buf)
	default:
		err = r.WriteMarkdown(&buf)
		if err == nil {
			err = report.WriteDriftMarkdown(&buf, r.Drift)
		}
		if err == nil {
			err = report.WriteGovernanceMarkdown(&buf, r.Approvals, r.Aborts)
		}
	}
	if err != nil {
		return err
	}
	if opts.Out == "" {
		_, err = opts.IO.Out.Write(buf.Bytes())
		return err
	}
	if err := writeFileAtomic(opts.Out, buf.Bytes(), 0o644); err != nil {
		return exitf(ExitFailure, "write the report: %v", err)
	}
	opts.Log.Debug().Str("out", opts.Out).Int("bytes", buf.Len()).Msg("wrote report")
	return nil
}

// projectionPlan loads the plan to project from: PLAN or --plan, else the
// one the state records (as given to apply, so looked for from here and
// from the state file's folder). It returns nil and why when there is
// none to use; a plan that has changed since the run is returned, and the
// report says so.
func projectionPlan(opts *ReportOptions, st *state.State, statePath string) (*plan.Plan, string) {
	path := opts.Plan
	if path == "" {
		path = opts.PlanFlag
	}
	if path == "" {
		if st.PlanFile == "" {
			return nil, "the state records no plan file; pass it with --plan"
		}
		path = st.PlanFile
		if _, err := os.Stat(path); err != nil && !filepath.IsAbs(path) {
			if alt := filepath.Join(filepath.Dir(statePath), path); fileExists(alt) {
				path = alt
			}
		}
		if !fileExists(path) {
			return nil, fmt.Sprintf("the plan file the state records, %s, is not here; pass it with --plan", st.PlanFile)
		}
	}
	p, _, err := plan.LoadFile(path)
	var inv *plan.InvalidError
	switch {
	case errors.As(err, &inv):
		return nil, fmt.Sprintf("the plan file %s is invalid now (`wavectl validate %s` says why)", path, path)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Sprintf("the plan file %s is not there", path)
	case err != nil:
		return nil, fmt.Sprintf("the plan file %s cannot be read (%v)", path, err)
	}
	return p, ""
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}

// writeFileAtomic writes data to path so that a reader sees the old file
// or the new one, never half of one: a temporary file in the same folder,
// synced, renamed over path, then the folder synced.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a folder: name a file", path)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // after a successful rename, there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		defer d.Close()
		_ = d.Sync() // not every filesystem syncs a folder; the rename has happened
	}
	return nil
}
