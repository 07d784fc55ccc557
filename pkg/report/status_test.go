package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/state"
)

// TestStatusTextMatchesTheGoldenFiles renders every fixture, as people see
// it and with --detail; -update rewrites testdata/*.txt.
func TestStatusTextMatchesTheGoldenFiles(t *testing.T) {
	for name, build := range fixtures {
		for _, detail := range []bool{false, true} {
			golden := filepath.Join("testdata", name+".txt")
			if detail {
				golden = filepath.Join("testdata", name+"-detail.txt")
			}
			t.Run(filepath.Base(golden), func(t *testing.T) {
				r := StatusWith(build(t), reportTime, Options{StatePath: "demo.state.json"})
				var buf bytes.Buffer
				if err := WriteText(&buf, r, detail); err != nil {
					t.Fatal(err)
				}
				if *update {
					if err := os.MkdirAll("testdata", 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("output differs from %s (run with -update if meant):\n%s", golden, buf.String())
				}
			})
		}
	}
}

// Lines stay within 100 columns, except fault texts and names, which are
// kept whole for searching, and commands, which are kept whole for
// copying.
func TestTextFitsIn100Columns(t *testing.T) {
	for name, build := range fixtures {
		var buf bytes.Buffer
		if err := WriteText(&buf, StatusWith(build(t), reportTime, Options{}), true); err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(buf.String(), "\n") {
			if len(line) > Width && !strings.Contains(line, "fault:") && !strings.Contains(line, "retried:") && !strings.Contains(line, "`") {
				t.Errorf("%s line %d is %d columns: %s", name, i+1, len(line), line)
			}
		}
	}
}

func appOf(r *StatusReport, name string) *AppStatus {
	for _, g := range r.Groups {
		for _, a := range g.Apps {
			if a.Name == name {
				return a
			}
		}
	}
	return nil
}

func TestEachApplicationSaysWhatToDoNext(t *testing.T) {
	for _, c := range []struct {
		fixture, app string
		kind         string
		want         []string // all in the text
	}{
		{"failed", "care-case-mgmt", "retry", []string{
			"retry: fix the cause, then `wavectl resume examples/demo.yaml` carries on from step relocate of ccm-app-02",
			"(attempt 3 failed: Insufficient disk space on datastore 'ds-gold-01'.)"}},
		{"failed", "carers-portal", "fix-dependency", []string{
			"skipped because it depends on care-case-mgmt, which failed: fix care-case-mgmt first"}},
		{"failed", "fax-gateway", "deferred", []string{
			"deferred: decommission of fax-legacy-01 and 1 more runs on 2027-04-05 or later with `wavectl resume examples/demo.yaml`"}},
		{"failed", "care-records-db", "", nil},
		{"paused", "care-case-mgmt", "carry-on", []string{
			"stopped part-way (window closed: the window ended at 2027-03-07T06:00:00Z): `wavectl resume examples/demo.yaml` carries on from step power-on of ccm-app-02"}},
		{"paused", "carers-portal", "start", []string{"not started: the change window closed"}},
		{"running", "care-case-mgmt", "wait", []string{
			"running: step relocate of ccm-app-02 (attempt 1, since 2027-03-06 20:27 UTC)",
			"if that process is gone, `wavectl resume examples/demo.yaml` checks vCenter for this step's result before redoing it"}},
		{"running", "carers-portal", "start", []string{"not started yet: `wavectl resume examples/demo.yaml` moves it"}},
		{"not-started", "care-records-db", "start", []string{"not started yet"}},
	} {
		t.Run(c.fixture+"/"+c.app, func(t *testing.T) {
			r := Status(fixtures[c.fixture](t), reportTime)
			a := appOf(r, c.app)
			if c.kind == "" {
				if a.Next != nil {
					t.Errorf("next = %+v, want none", a.Next)
				}
				return
			}
			if a.Next == nil || a.Next.Kind != c.kind {
				t.Fatalf("next = %+v, want kind %s", a.Next, c.kind)
			}
			for _, w := range c.want {
				if !strings.Contains(a.Next.Text, w) {
					t.Errorf("next %q\nlacks %q", a.Next.Text, w)
				}
			}
			if a.Next.Command != "wavectl resume examples/demo.yaml" && !(c.fixture == "not-started" && a.Next.Command == "wavectl apply examples/demo.yaml") {
				t.Errorf("command %q", a.Next.Command)
			}
		})
	}
}

// A step left running by a run that ended (the engine could not record its
// end, or was killed after recording the run's) is to be reconciled.
func TestAStepRunningAfterItsRunEndedIsReconciled(t *testing.T) {
	st := runningState(t)
	endRun(st, st.CurrentRun(), reportTime.Add(-time.Hour), "interrupted", "interrupted: in-flight steps were finished; apply again to carry on")
	a := appOf(Status(st, reportTime), "care-case-mgmt")
	if a.Next.Kind != "reconcile" || !strings.Contains(a.Next.Text,
		"running when the run stopped (step relocate of ccm-app-02): `wavectl resume examples/demo.yaml` checks vCenter for this step's result before redoing it") {
		t.Errorf("next = %+v", a.Next)
	}
}

func TestAnInterruptedStepIsCheckedBeforeItIsRedone(t *testing.T) {
	st := pausedState(t)
	s := stepAt(st, "care-case-mgmt", "ccm-app-02", "power-on")
	s.Error = "interrupted while running (it may have taken effect; the next run checks vCenter): context canceled"
	a := appOf(Status(st, reportTime), "care-case-mgmt")
	if a.Next.Kind != "reconcile" || !strings.Contains(a.Next.Text, "step power-on of ccm-app-02 interrupted: `wavectl resume examples/demo.yaml` checks vCenter for its result") {
		t.Errorf("next = %+v", a.Next)
	}
}

func TestTheWholeMigrationsNextAction(t *testing.T) {
	for _, c := range []struct {
		fixture, kind, want string
	}{
		{"not-started", "start", "nothing has run yet: `wavectl apply examples/demo.yaml` starts the migration"},
		{"failed", "retry", "fix what failed"},
		{"paused", "carry-on", "the run paused because a change window closed"},
		{"running", "wait", "if it is still going, let it finish"},
		{"succeeded", "deferred", "deferred steps (retired VMs' deletion) run from 2027-04-05"},
	} {
		r := Status(fixtures[c.fixture](t), reportTime)
		if r.Next == nil || r.Next.Kind != c.kind || !strings.Contains(r.Next.Text, c.want) {
			t.Errorf("%s: next = %+v, want %s with %q", c.fixture, r.Next, c.kind, c.want)
		}
	}
	// A month later, the deferred steps are due.
	r := Status(succeededState(t), reportTime.AddDate(0, 2, 0))
	if r.Next.Kind != "due" || appOf(r, "fax-gateway").Next.Kind != "due" {
		t.Errorf("two months on: %+v, %+v", r.Next, appOf(r, "fax-gateway").Next)
	}
}

func TestTotalsCountApplicationsVMsAndSteps(t *testing.T) {
	r := Status(failedState(t), reportTime)
	tt := r.Totals
	if tt.Apps.Total != 6 || tt.Apps.Done != 4 || tt.Apps.Failed != 1 || tt.Apps.Skipped != 1 {
		t.Errorf("applications %+v", tt.Apps)
	}
	if tt.VMs.Total != 13 || tt.VMs.Failed != 1 {
		t.Errorf("VMs %+v", tt.VMs)
	}
	if tt.Steps.Deferred != 2 || tt.Steps.Failed != 1 || tt.RetriedFaults != 2 {
		t.Errorf("steps %+v, %d retried", tt.Steps, tt.RetriedFaults)
	}
	if r.Result != "failed" || r.LastRun == nil || r.LastRun.Duration != 39*60e9+1e9 {
		t.Errorf("result %s, last run %+v", r.Result, r.LastRun)
	}
	if g := r.Groups; len(g) != 2 || g[0].Name != "wave-1" || g[0].Status != "failed" || g[1].Kind != "conveyor" || g[1].Status != "done" {
		t.Errorf("groups %+v %+v", g[0], g[1])
	}
}

func hookState() *state.State {
	t0 := time.Date(2027, 3, 6, 20, 0, 0, 0, time.UTC)
	end := t0.Add(time.Minute)
	return &state.State{FormatVersion: 1, Plan: "p", PlanFile: "p.yaml",
		Runs: []*state.Run{{Command: "apply", Args: []string{"apply", "--yes", "--password", "s3cret", "--url=https://admin:pw@vc.example/sdk", "p.yaml"},
			Started: t0, Ended: &end, Result: "failed"}},
		Apps: []*state.App{{Name: "billing", Wave: "w1", Strategy: "remediate", Status: state.Failed,
			Reason: "step pre-hook of the application: pre hook ./drain.sh exited 3",
			Units: []*state.Unit{{Name: "", Status: state.Failed, Steps: []*state.Step{
				{Kind: "pre-hook", Status: state.Failed, Attempts: 1, Started: &t0, Ended: &end, Error: "pre hook ./drain.sh exited 3"}}}},
			Hooks: []state.HookRun{{Kind: "pre", Command: "./drain.sh", ExitCode: 3, Started: t0, Ended: end,
				Output: "one\ntwo\nthree\nfour\nload balancer refused: pool busy\n"}}}},
	}
}

func TestAFailedHookShowsItsExitCodeAndLastLines(t *testing.T) {
	r := Status(hookState(), time.Date(2027, 3, 7, 0, 0, 0, 0, time.UTC))
	a := appOf(r, "billing")
	if h := a.Hooks[0]; !h.Failed || h.ExitCode != 3 || len(h.Tail) != 5 || h.Tail[4] != "load balancer refused: pool busy" {
		t.Errorf("hook %+v", h)
	}
	if !strings.Contains(a.Next.Text, "step pre-hook of the application") ||
		!strings.Contains(a.Next.Text, "pre hook `./drain.sh` exited 3 (last output: load balancer refused: pool busy)") {
		t.Errorf("next %q", a.Next.Text)
	}
	if r.Totals.HookRuns != 1 || r.Totals.HookFailures != 1 {
		t.Errorf("totals %+v", r.Totals)
	}
	var buf bytes.Buffer
	_ = WriteText(&buf, r, false)
	out := buf.String()
	for _, want := range []string{"pre hook `./drain.sh`: exit 3", "      | three\n", "      | load balancer refused: pool busy\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| two") {
		t.Errorf("text shows more than the last 3 lines without --detail:\n%s", out)
	}
}

func TestCredentialsInARecordedCommandLineAreNotShown(t *testing.T) {
	r := Status(hookState(), time.Now())
	data, _ := json.Marshal(r)
	var buf bytes.Buffer
	_ = WriteText(&buf, r, true)
	for _, secret := range []string{"s3cret", "admin:pw"} {
		if bytes.Contains(data, []byte(secret)) || strings.Contains(buf.String(), secret) {
			t.Errorf("%q shows in the report", secret)
		}
	}
	if !strings.Contains(buf.String(), "--url=https://admin:***@vc.example/sdk") {
		t.Errorf("URL not shown redacted:\n%s", buf.String())
	}
}

func TestTheCarryOnCommandKeepsTheRunsScopeAndStateFile(t *testing.T) {
	st := failedState(t)
	run := st.CurrentRun()
	wave := st.App("care-case-mgmt")
	conv := st.App("fax-gateway")
	for _, c := range []struct {
		name      string
		opts      state.RunOptions
		statePath string
		app       *state.App
		want      string
	}{
		{"the default state file", state.RunOptions{}, "demo.state.json", wave, "wavectl resume examples/demo.yaml"},
		{"another state file", state.RunOptions{}, "runs/night 1.json", wave, "wavectl resume --state 'runs/night 1.json'"},
		{"a --state the run was given", state.RunOptions{}, "x.json", wave, "wavectl resume --state x.json"},
		{"a wave the app is in", state.RunOptions{Waves: []string{"wave-1"}}, "", wave, "wavectl resume --wave wave-1 examples/demo.yaml"},
		{"a wave the app is not in", state.RunOptions{Waves: []string{"wave-1"}}, "", conv, "wavectl resume examples/demo.yaml"},
		{"the conveyor", state.RunOptions{Conveyor: true, Apps: []string{"fax-gateway"}}, "", conv, "wavectl resume --conveyor --app fax-gateway examples/demo.yaml"},
		{"a run started with --ignore-windows", state.RunOptions{IgnoreWindows: true, VerifyTimeout: "1m0s"}, "", wave, "wavectl resume --ignore-windows examples/demo.yaml"},
		// The whole migration: the run's scope only if it covers every
		// application not done (here care-case-mgmt, carers-portal).
		{"the whole migration, in scope", state.RunOptions{Waves: []string{"wave-1"}}, "", nil, "wavectl resume --wave wave-1 examples/demo.yaml"},
		{"the whole migration, out of scope", state.RunOptions{Apps: []string{"care-case-mgmt"}}, "", nil, "wavectl resume examples/demo.yaml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			run.Options = c.opts
			if got := carryOn(st, run, c.statePath, c.app); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
	// A --simulate rehearsal starts afresh: it is rehearsed again with
	// apply, never resumed.
	run.Options = state.RunOptions{Simulate: true, IgnoreWindows: true, VerifyTimeout: "1m0s"}
	if got, want := applyAgain(st, run, "", wave), "wavectl apply --simulate --ignore-windows examples/demo.yaml"; got != want {
		t.Errorf("rehearsal: got  %s\nwant %s", got, want)
	}
	r := Status(st, reportTime)
	if r.Next == nil || !strings.HasPrefix(r.Next.Command, "wavectl apply --simulate") {
		t.Errorf("after a rehearsal, next = %+v; want apply --simulate", r.Next)
	}
}

func TestJSONIsTheReport(t *testing.T) {
	r := StatusWith(failedState(t), reportTime, Options{StatePath: "demo.state.json"})
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"plan", "result", "summary", "lastRun", "totals", "next", "groups", "stateFile", "serial", "lineage"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %s", k)
		}
	}
	g := doc["groups"].([]any)[0].(map[string]any)
	app := g["applications"].([]any)[1].(map[string]any)
	if app["name"] != "care-case-mgmt" || app["next"].(map[string]any)["kind"] != "retry" {
		t.Errorf("applications[1] = %v", app)
	}
	if _, ok := app["next"].(map[string]any)["saysWhy"]; ok {
		t.Errorf("an internal field leaked into JSON")
	}
}

// A --simulate run starts afresh every time, so nothing carries on: the
// next actions say so rather than promise a carry-on.
func TestASimulatedRunIsRehearsedAgainNotCarriedOn(t *testing.T) {
	st := failedState(t)
	st.CurrentRun().Args = []string{"apply", "--simulate", "--yes", "examples/demo.yaml"}
	st.CurrentRun().Options.Simulate = true
	r := Status(st, reportTime)
	if r.Next.Kind != "rehearse" || !strings.Contains(r.Next.Text, "`wavectl apply --simulate examples/demo.yaml` rehearses again from the beginning") {
		t.Errorf("next = %+v", r.Next)
	}
	if n := appOf(r, "care-case-mgmt").Next; n == nil || n.Kind != "rehearse" || strings.Contains(n.Text, "carries on") {
		t.Errorf("care-case-mgmt next = %+v", n)
	}
	if n := appOf(r, "fax-gateway").Next; n != nil {
		t.Errorf("a done application of a rehearsal has next %+v", n)
	}
	var buf bytes.Buffer
	_ = WriteText(&buf, r, false)
	if !strings.Contains(buf.String(), "why: step relocate of ccm-app-02: Insufficient disk space") {
		t.Errorf("the reason is not shown:\n%s", buf.String())
	}
}

func TestARunsResultIsNotSaidTwice(t *testing.T) {
	st := runningState(t)
	endRun(st, st.CurrentRun(), reportTime, "interrupted", "interrupted: in-flight steps were finished; apply again to carry on")
	r := Status(st, reportTime)
	if want := "demo: interrupted (in-flight steps were finished; apply again to carry on);"; !strings.HasPrefix(r.Summary, want) {
		t.Errorf("summary %q, want it to start %q", r.Summary, want)
	}
	if got := runText(r.LastRun); strings.Contains(got, "interrupted: interrupted") {
		t.Errorf("run %q", got)
	}
}

func TestAnApplicationStoppedPartWayIsNeverNotStarted(t *testing.T) {
	r := Status(pausedState(t), reportTime)
	if want := "2 of 6 applications done, 1 stopped part-way, 3 not started"; !strings.Contains(r.Summary, want) {
		t.Errorf("summary %q lacks %q", r.Summary, want)
	}
	a := appOf(r, "care-case-mgmt")
	if !a.StoppedPartWay || appOf(r, "carers-portal").StoppedPartWay {
		t.Errorf("stoppedPartWay: care-case-mgmt %v (want true), carers-portal %v (want false)", a.StoppedPartWay, appOf(r, "carers-portal").StoppedPartWay)
	}
	if r.Totals.Apps.StoppedPartWay != 1 {
		t.Errorf("totals count %d stopped part-way, want 1", r.Totals.Apps.StoppedPartWay)
	}
}

func TestAnApplicationLeftPoweredOffIsDownNow(t *testing.T) {
	st := pausedState(t)
	r := Status(st, reportTime)
	if len(r.DownNow) != 1 || r.DownNow[0].Name != "care-case-mgmt" {
		t.Fatalf("downNow = %+v, want care-case-mgmt only", r.DownNow)
	}
	d := r.DownNow[0]
	off := stepAt(st, "care-case-mgmt", "ccm-app-02", "power-off")
	if !d.Since.Equal(*off.Started) || d.Users != 1800 || strings.Join(d.VMs, ",") != "ccm-app-02" {
		t.Errorf("down = %+v; want since %s (its power-off), 1800 users, VM ccm-app-02", d, off.Started)
	}
	if want := 1800 * reportTime.Sub(*off.Started).Hours(); d.UserHours != want {
		t.Errorf("user-hours so far %.1f, want %.1f", d.UserHours, want)
	}
	n := appOf(r, "care-case-mgmt").Next
	for _, w := range []string{"DOWN NOW since", "Carry on: ", "`wavectl resume examples/demo.yaml`", "Or roll back: `wavectl rollback --app care-case-mgmt examples/demo.yaml`"} {
		if !strings.Contains(n.Text, w) {
			t.Errorf("next %q lacks %q", n.Text, w)
		}
	}
	if n.Rollback != "wavectl rollback --app care-case-mgmt examples/demo.yaml" {
		t.Errorf("rollback command %q", n.Rollback)
	}

	// Powered on again: no longer down.
	stepAt(st, "care-case-mgmt", "ccm-app-02", "power-on").Status = state.Done
	if r := Status(st, reportTime); len(r.DownNow) != 0 {
		t.Errorf("after power-on, downNow = %+v", r.DownNow)
	}
	// A VM that was off before the migration is not an outage.
	stepAt(st, "care-case-mgmt", "ccm-app-02", "power-on").Status = state.Pending
	st.App("care-case-mgmt").Unit("ccm-app-02").Outputs["powerState"] = "poweredOff"
	if r := Status(st, reportTime); len(r.DownNow) != 0 {
		t.Errorf("a VM off before the migration counts as down: %+v", r.DownNow)
	}
}
