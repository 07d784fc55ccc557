package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const stateFixtures = "../../testdata/state"

// fixture copies a state fixture into dir under name and returns its path.
func fixture(t *testing.T, dir, which, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateFixtures, which+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return write(t, dir, name, string(data))
}

// statusOpts are status's options for a folder, at a fixed time the
// morning after the fixtures' runs.
func statusOpts(dir string) *StatusOptions {
	io, _, _, _ := Test()
	return &StatusOptions{IO: io, Dir: dir, Output: "text", Now: func() time.Time { return time.Date(2027, 3, 7, 7, 30, 0, 0, time.UTC) }}
}

func outOf(o *StatusOptions) string {
	return o.IO.Out.(*bytes.Buffer).String()
}

func TestStatusShowsARunsRecordAndExitsZeroWhateverItsResult(t *testing.T) {
	for _, c := range []struct {
		fixture string
		want    []string
	}{
		{"succeeded", []string{"demo: succeeded; 6 of 6 applications done", "Wave wave-1: done", "Conveyor: done"}},
		{"failed", []string{
			"demo: failed (not every application moved: care-case-mgmt, carers-portal)",
			"fault: Insufficient disk space on datastore 'ds-gold-01'.",
			"retried: The operation is not allowed in the current state. (x2)",
			"next: DOWN NOW since 2027-03-06 20:18 UTC (ccm-app-02 powered off by the migration; 1800",
			"Carry on: retry: fix the cause, then",
			"carries on from step relocate of ccm-app-02 (attempt 3 failed: Insufficient disk space on",
			"`wavectl rollback --app care-case-mgmt --state",
			"next: skipped because it depends on care-case-mgmt, which failed: fix care-case-mgmt first"}},
		{"paused", []string{"demo: paused (window closed: the window ended at 2027-03-07T06:00:00Z)", "not started: the change window closed"}},
		{"running", []string{"if that process is gone", "relocate          running"}},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			dir := isolate(t)
			opts := statusOpts(dir)
			opts.State = fixture(t, dir, c.fixture, "demo.state.json")
			if err := statusRun(opts); err != nil {
				t.Fatal(err)
			}
			out := outOf(opts)
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestStatusJSONIsTheReport(t *testing.T) {
	dir := isolate(t)
	opts := statusOpts(dir)
	opts.State = fixture(t, dir, "failed", "demo.state.json")
	opts.Output = "json"
	if err := statusRun(opts); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Plan   string `json:"plan"`
		Result string `json:"result"`
		Totals struct {
			Apps struct{ Failed, Skipped int } `json:"applications"`
		} `json:"totals"`
		Groups []struct {
			Apps []struct {
				Name string `json:"name"`
				Next *struct{ Kind, Command string }
			} `json:"applications"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(outOf(opts)), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Plan != "demo" || doc.Result != "failed" || doc.Totals.Apps.Failed != 1 || doc.Totals.Apps.Skipped != 1 {
		t.Errorf("report %+v", doc)
	}
	// The state file is not the plan's default in the working directory,
	// so the command names it.
	if n := doc.Groups[0].Apps[1].Next; n == nil || n.Kind != "retry" || n.Command != "wavectl resume --state "+opts.State {
		t.Errorf("care-case-mgmt next %+v", n)
	}
}

func TestStatusFindsTheStateFile(t *testing.T) {
	t.Run("from the plan's metadata.name", func(t *testing.T) {
		dir := isolate(t)
		fixture(t, dir, "failed", "demo.state.json")
		opts := statusOpts(dir)
		opts.Plan = demoPlan
		if err := statusRun(opts); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(outOf(opts), "demo: failed") {
			t.Errorf("output:\n%s", outOf(opts))
		}
	})
	t.Run("the one state file in the folder", func(t *testing.T) {
		dir := isolate(t)
		fixture(t, dir, "paused", "demo.state.json")
		write(t, dir, ".demo.state.json.tmp-123", "left by a crash")
		opts := statusOpts(dir)
		if err := statusRun(opts); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(outOf(opts), "demo: paused") {
			t.Errorf("output:\n%s", outOf(opts))
		}
	})
	t.Run("none in the folder", func(t *testing.T) {
		dir := isolate(t)
		opts := statusOpts(dir)
		err := statusRun(opts)
		if codeOf(err) != ExitUsage || !strings.Contains(err.Error(), "no state file (*.state.json) in "+dir) ||
			!strings.Contains(err.Error(), "<plan metadata.name>.state.json") || !strings.Contains(err.Error(), "--state PATH") {
			t.Errorf("got %d: %v", codeOf(err), err)
		}
	})
	t.Run("several in the folder", func(t *testing.T) {
		dir := isolate(t)
		fixture(t, dir, "paused", "a.state.json")
		fixture(t, dir, "failed", "b.state.json")
		opts := statusOpts(dir)
		err := statusRun(opts)
		if codeOf(err) != ExitUsage || !strings.Contains(err.Error(), "2 state files in") ||
			!strings.Contains(err.Error(), "a.state.json, ") || !strings.Contains(err.Error(), "b.state.json") {
			t.Errorf("got %d: %v", codeOf(err), err)
		}
	})
}

func TestStatusErrorsAboutTheStateFile(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(stateFixtures, "failed.json"))
	if err != nil {
		t.Fatal(err)
	}
	unsealed := regexp.MustCompile(`"checksum": "[^"]*"`).ReplaceAll(good, []byte(`"checksum": ""`))
	for _, c := range []struct {
		name    string
		content *string // nil: no file
		plan    string
		state   bool // pass --state
		code    int
		want    []string
	}{
		{name: "missing, from the plan", plan: demoPlan, code: ExitUsage, want: []string{
			"state file demo.state.json does not exist", "the default for plan", "<metadata.name>.state.json in the working directory", "pass --state PATH"}},
		{name: "missing, named by --state", state: true, code: ExitUsage, want: []string{"does not exist (named with --state)"}},
		{name: "truncated", content: ptrTo(string(good[:len(good)/3])), state: true, code: ExitState, want: []string{
			"is corrupt: it ends too early", "demo.state.json:", "nothing was changed"}},
		{name: "garbage", content: ptrTo("PK\x03\x04garbage"), state: true, code: ExitState, want: []string{"is corrupt: invalid character"}},
		{name: "from a newer wavectl", content: ptrTo(strings.Replace(string(good), `"formatVersion": 3`, `"formatVersion": 4`, 1)), state: true,
			code: ExitState, want: []string{"format version 4", "upgrade wavectl"}},
		// An edited file whose editor vouched for it (an empty checksum).
		{name: "of another plan", content: ptrTo(strings.Replace(string(unsealed), `"plan": "demo"`, `"plan": "payroll"`, 1)), state: true, plan: demoPlan,
			code: ExitState, want: []string{`belongs to plan "payroll", not "demo"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := isolate(t)
			path := filepath.Join(dir, "demo.state.json")
			var before os.FileInfo
			if c.content != nil {
				write(t, dir, "demo.state.json", *c.content)
				before, _ = os.Stat(path)
			}
			opts := statusOpts(dir)
			if c.plan != "" {
				opts.Plan, _ = filepath.Abs(c.plan)
			}
			if c.state {
				opts.State = path
			} else {
				t.Chdir(dir)
				opts.Dir = ""
			}
			err := statusRun(opts)
			if got := codeOf(err); got != c.code {
				t.Fatalf("exit %d, want %d: %v", got, c.code, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q:\n%v", w, err)
				}
			}
			if c.content != nil {
				after, _ := os.Stat(path)
				data, _ := os.ReadFile(path)
				if string(data) != *c.content || !after.ModTime().Equal(before.ModTime()) || after.Mode() != before.Mode() {
					t.Errorf("the state file changed")
				}
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.Name() != "demo.state.json" && e.Name() != "xdg" && e.Name() != "home" {
					t.Errorf("status left %s behind", e.Name())
				}
			}
		})
	}
}

func ptrTo(s string) *string { return &s }

// Through the whole command: flags, exit codes and messages.
func TestStatusCommandExitCodes(t *testing.T) {
	dir := isolate(t)
	ok := fixture(t, dir, "failed", "demo.state.json")
	bad := write(t, dir, "bad.json", `{"formatVersion": 1, "plan": "demo", "runs": [`)
	for _, c := range []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"status", "--state", ok}, ExitOK, "demo: failed", ""},
		{[]string{"status", "--state", ok, "-v"}, ExitOK, "crdb-phys-01: done", ""},
		{[]string{"status", "--state", ok, "--detail", "-o", "json"}, ExitOK, `"result": "failed"`, ""},
		{[]string{"status", "--state", bad}, ExitState, "", "Error: state file " + bad + ":1:"},
		{[]string{"status", "--state", ok, "-o", "yaml"}, ExitUsage, "", "output format \"yaml\""},
		{[]string{"status", "a.yaml", "b.yaml"}, ExitUsage, "", "at most one plan file"},
		{[]string{"status", filepath.Join(dir, "nope.yaml")}, ExitUsage, "", "nope.yaml does not exist"},
	} {
		io, _, out, errOut := Test()
		code := Run(context.Background(), io, c.args)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", c.args, code, c.code, out, errOut)
		}
		if !strings.Contains(out.String(), c.out) || !strings.Contains(errOut.String(), c.err) {
			t.Errorf("%v:\nstdout %s\nstderr %s\nwant %q, %q", c.args, out, errOut, c.out, c.err)
		}
		if crash.MatchString(out.String() + errOut.String()) {
			t.Errorf("%v panicked", c.args)
		}
	}
}

func TestStatusHelpListsExitCodeNine(t *testing.T) {
	io, _, out, _ := Test()
	Run(context.Background(), io, []string{"status", "--help"})
	for _, w := range []string{"9 the state file is unreadable", "never takes the run\nlock and never writes", "--state string", "-v, --detail"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("help lacks %q:\n%s", w, out)
		}
	}
}
