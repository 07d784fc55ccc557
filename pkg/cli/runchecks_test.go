package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

func loadDemo(t *testing.T) (*plan.Plan, *schedule.Schedule) {
	t.Helper()
	p, _, err := plan.LoadFile(demoPlan)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := schedule.Compile(p)
	return p, s
}

func TestTheQuestionNamesTheVCenterItsUserAndWhatChanges(t *testing.T) {
	p, s := loadDemo(t)
	opts := &ApplyOptions{Command: "apply", Scope: engine.Scope{Waves: []string{"wave-1"}},
		Settings: func(*plan.Plan) map[string]vsphere.Settings {
			return map[string]vsphere.Settings{"lab": {URL: "https://vc-lab.example.gov/sdk", Username: "alice@vsphere.local", Password: "secret"}}
		}}
	got := confirmText(opts, p, s)
	for _, want := range []string{
		"wavectl apply will migrate plan demo:\n",
		"  vCenter lab: https://vc-lab.example.gov/sdk as alice@vsphere.local\n",
		"  waves:         wave-1 (4 applications)\n",
		"  applications:  4, with 8 VMs and 51 steps\n",
		"Continue? [y/N] ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("question lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "secret") || strings.Contains(got, "conveyor") {
		t.Errorf("question shows the password or the conveyor, which is out of scope:\n%s", got)
	}
}

func TestScopeTyposSuggestTheNameMeant(t *testing.T) {
	_, s := loadDemo(t)
	for _, c := range []struct {
		scope engine.Scope
		want  string
	}{
		{engine.Scope{Waves: []string{"wave1"}}, "--wave wave1: the plan has no wave of that name; did you mean wave-1?"},
		{engine.Scope{Apps: []string{"care-record-db"}}, "--app care-record-db: the plan has no scheduled application of that name; did you mean care-records-db?"},
		{engine.Scope{Waves: []string{"weekend"}}, "--wave weekend: the plan has no wave of that name (wave-1)"},
	} {
		err := scopeCheck(c.scope, s)
		if err == nil || err.Error() != c.want || codeOf(err) != ExitUsage {
			t.Errorf("scope %+v: %v (exit %d), want %q (exit 2)", c.scope, err, codeOf(err), c.want)
		}
	}
	if err := scopeCheck(engine.Scope{Waves: []string{"wave-1"}, Apps: []string{"fax-gateway"}}, s); err != nil {
		t.Errorf("real names: %v", err)
	}
}

func TestHookProgramsAreFoundAsTheShellWill(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ok.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "noexec.sh"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ command, problem string }{
		{"./ok.sh arg", ""},
		{"FOO=1 ./ok.sh", ""},
		{"sh -c 'exit 0'", ""},
		{"true", ""},
		{"$HOOKS/x.sh", ""}, // built at run time: left alone
		{"./missing.sh", "does not exist"},
		{"./noexec.sh", "is not executable"},
		{"no-such-program-wavectl --flag", "is not on $PATH"},
	} {
		msg, _ := hookProgram(dir, c.command)
		if (c.problem == "") != (msg == "") || !strings.Contains(msg, c.problem) {
			t.Errorf("%q: %q, want %q", c.command, msg, c.problem)
		}
	}
}

func TestTheQuestionOfAResumeSaysWhatIsAlreadyDone(t *testing.T) {
	p, s := loadDemo(t)
	opts := &ApplyOptions{Command: "resume", Simulate: true, done: 25}
	got := confirmText(opts, p, s)
	for _, want := range []string{
		"wavectl resume will carry on migrating plan demo:\n",
		"  applications:  6, with 13 VMs and 78 steps (25 already done, by an earlier run)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("question lacks %q:\n%s", want, got)
		}
	}
}
