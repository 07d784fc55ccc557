package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// reportRecord is pkg/report's fixture: the demo plan run with round
// times, its figures worked out by hand there.
const reportRecord = "../report/testdata/report/record.json"

func reportOpts(dir string) *ReportOptions {
	io, _, _, _ := Test()
	return &ReportOptions{IO: io, Dir: dir, Output: "md", Now: func() time.Time { return time.Date(2027, 3, 7, 7, 30, 0, 0, time.UTC) }}
}

func copyRecord(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(reportRecord)
	if err != nil {
		t.Fatal(err)
	}
	return write(t, dir, name, string(data))
}

func TestNewCmdReportParsesFlags(t *testing.T) {
	for _, c := range []struct {
		args   []string
		output string
		out    string
		plan   string
	}{
		{[]string{"report"}, "md", "", ""},
		{[]string{"report", "-o", "json"}, "json", "", ""},
		{[]string{"report", "--out", "r.html"}, "html", "r.html", ""},
		{[]string{"report", "--out", "r.HTM"}, "html", "r.HTM", ""},
		{[]string{"report", "--out", "r.json", "--plan", "p.yaml"}, "json", "r.json", "p.yaml"},
		{[]string{"report", "-o", "md", "--out", "r.html"}, "md", "r.html", ""}, // -o wins over the extension
		{[]string{"report", "--out", "report.txt"}, "md", "report.txt", ""},
	} {
		isolate(t)
		var got *ReportOptions
		_, err := execSub(t, func(f *Factory) *cobra.Command {
			return NewCmdReport(f, func(o *ReportOptions) error { got = o; return nil })
		}, c.args...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got.Output != c.output || got.Out != c.out || got.PlanFlag != c.plan {
			t.Errorf("%v: output %q, out %q, plan %q; want %q, %q, %q", c.args, got.Output, got.Out, got.PlanFlag, c.output, c.out, c.plan)
		}
	}
}

func TestReportSetsTheRecordAgainstThePlan(t *testing.T) {
	dir := isolate(t)
	opts := reportOpts(dir)
	opts.State = copyRecord(t, dir, "demo.state.json")
	opts.PlanFlag = "../../examples/demo.yaml"
	if err := reportRun(opts); err != nil {
		t.Fatal(err)
	}
	out := opts.IO.Out.(*bytes.Buffer).String()
	for _, w := range []string{
		"**demo: 5 of 6 applications migrated (1 rolled back); 12 of 13 VMs; change success rate 83.3% (5 of 6); 852.8 user-hours lost (projected 826.6); 0 of 1 VM planned live moved live, 43.9 projected user-hours avoided against moving them cold (without live moves: projected 870.5, measured about 896.7); took 1h03m (estimated 1h06m).**",
		"| care-case-mgmt | wave-1 | remediate | migrated | 1800 | 24m (20:10 to 20:34) | 720.0 | 23m | 690.0 |",
		"| Change success rate | 75% (3 of 4) | 100% (2 of 2) | 83.3% (5 of 6) |",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
}

func TestReportWithoutItsPlanSaysWhyThereAreNoProjections(t *testing.T) {
	dir := isolate(t)
	opts := reportOpts(dir)
	// The record names examples/demo.yaml, relative to where apply ran:
	// not here.
	opts.State = copyRecord(t, dir, "demo.state.json")
	if err := reportRun(opts); err != nil {
		t.Fatal(err)
	}
	out := opts.IO.Out.(*bytes.Buffer).String()
	if !strings.Contains(out, "> **No projections.** the plan file the state records, examples/demo.yaml, is not here; pass it with --plan: the report has no projections") {
		t.Errorf("report does not say why it has no projections:\n%s", out)
	}
	if !strings.Contains(out, "852.8 user-hours lost;") || strings.Contains(out, "projected 826.6") {
		t.Errorf("report without a plan:\n%s", out)
	}

	// A plan edited since the run: no projections either, saying so.
	edited := write(t, dir, "demo.yaml", strings.Replace(readFile(t, "../../examples/demo.yaml"), "users: 1800", "users: 1900", 1))
	opts = reportOpts(dir)
	opts.State, opts.PlanFlag = filepath.Join(dir, "demo.state.json"), edited
	if err := reportRun(opts); err != nil {
		t.Fatal(err)
	}
	if out := opts.IO.Out.(*bytes.Buffer).String(); !strings.Contains(out, "has changed since the run") {
		t.Errorf("report with an edited plan does not say so:\n%s", out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestReportWritesItsFileWhole(t *testing.T) {
	dir := isolate(t)
	opts := reportOpts(dir)
	opts.State = copyRecord(t, dir, "demo.state.json")
	opts.Output, opts.Out = "json", filepath.Join(dir, "out", "report.json")
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "out"), "report.json", "old")
	if err := reportRun(opts); err != nil {
		t.Fatal(err)
	}
	if opts.IO.Out.(*bytes.Buffer).Len() != 0 {
		t.Errorf("--out also wrote to stdout")
	}
	fi, err := os.Stat(opts.Out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("report file mode %v, want 0644", fi.Mode().Perm())
	}
	var doc struct {
		Total struct {
			Changes struct {
				Attempted, Succeeded int
			}
			UserHoursLost float64 `json:"userHoursLost"`
		}
	}
	if err := json.Unmarshal([]byte(readFile(t, opts.Out)), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Total.Changes.Attempted != 6 || doc.Total.Changes.Succeeded != 5 || doc.Total.UserHoursLost != 852.75 {
		t.Errorf("report.json total %+v", doc.Total)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "out", ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestReportCommandExitCodes(t *testing.T) {
	dir := isolate(t)
	ok := copyRecord(t, dir, "demo.state.json")
	bad := write(t, dir, "bad.json", `{"formatVersion": 1, "plan": "demo", "runs": [`)
	for _, c := range []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"report", "--state", ok}, ExitOK, "# Migration report: demo", ""},
		{[]string{"report", "--state", ok, "--plan", "../../examples/demo.yaml", "-o", "html"}, ExitOK, "<svg class=\"plot\"", ""},
		{[]string{"report", "--state", ok, "-o", "json"}, ExitOK, `"changes": {`, ""},
		{[]string{"report", "--state", bad}, ExitState, "", "Error: state file " + bad + ":1:"},
		{[]string{"report", "--state", filepath.Join(dir, "nope.json")}, ExitUsage, "", "nope.json does not exist (named with --state)"},
		{[]string{"report", "--state", ok, "-o", "pdf"}, ExitUsage, "", `output format "pdf"`},
		{[]string{"report", "--state", ok, "--plan", filepath.Join(dir, "nope.yaml")}, ExitUsage, "", "nope.yaml does not exist"},
		{[]string{"report", "../../examples/demo.yaml", "--plan", "../../examples/conveyor.yaml", "--state", ok}, ExitUsage, "", "two plan files"},
		{[]string{"report", "a.yaml", "b.yaml"}, ExitUsage, "", "at most one plan file"},
		{[]string{"report", "--state", ok, "--out", dir}, ExitFailure, "", "is a folder"},
	} {
		io, _, out, errOut := Test()
		code := Run(context.Background(), io, c.args)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", c.args, code, c.code, out, errOut)
		}
		if !strings.Contains(out.String(), c.out) || !strings.Contains(errOut.String(), c.err) {
			t.Errorf("%v:\nstdout %.300s\nstderr %s\nwant %q, %q", c.args, out, errOut, c.out, c.err)
		}
		if crash.MatchString(out.String() + errOut.String()) {
			t.Errorf("%v panicked", c.args)
		}
	}
}
