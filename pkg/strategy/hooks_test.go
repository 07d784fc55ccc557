package strategy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/strategy"
)

type hookRun struct {
	kind, unit, command, output string
	code                        int
	err                         error
	took                        time.Duration
}

type hookLog struct {
	mu   sync.Mutex
	runs []hookRun
}

func (l *hookLog) record(kind, unit, command string, code int, output string, err error, started, ended time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runs = append(l.runs, hookRun{kind, unit, command, output, code, err, ended.Sub(started)})
}

func hookPlan(t *testing.T, hooks string) (*plan.Plan, *plan.Application) {
	t.Helper()
	p, probs, err := plan.Load("t.yaml", []byte(`apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: hooked}
vcenters: {lab: {url: "https://vc/sdk"}}
source: {vcenter: lab, datacenter: DC0}
target: {datacenter: DC1, cluster: C1, datastore: ds1}
hooks: {pre: ["echo plan-wide > order"]}
applications:
  - {name: web, strategy: redeploy, template: tpl, vms: [web-1], hooks: `+hooks+`}
waves: [{name: w1, applications: [web]}]
`))
	if err != nil {
		t.Fatalf("%v %v", err, probs)
	}
	return p, p.Application("web")
}

func hookRuntime(p *plan.Plan, a *plan.Application, kind, unit string, h strategy.HookRunner) (*strategy.Runtime, strategy.Action) {
	st := strategy.Step{Kind: kind, Unit: unit}
	return &strategy.Runtime{Plan: p, App: a, Unit: unit, Step: st, Hooks: h, Log: zerolog.Nop(),
		Outputs: map[string]string{strategy.OutIP: "127.64.9.9", strategy.OutVM: "vm-42"}}, strategy.ActionFor(st)
}

func TestHooksRunInThePlanFolderWithTheirEnvironment(t *testing.T) {
	dir := t.TempDir()
	p, a := hookPlan(t, `{pre: ["echo app >> order"], verify: ["env | grep ^WAVECTL_ | sort > env.txt; pwd > pwd.txt"]}`)
	log := &hookLog{}
	h := &strategy.ShellHooks{Dir: dir, Record: log.record}
	rt, act := hookRuntime(p, a, plan.StepPreHook, "", h)
	if err := act.Do(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "order")); string(b) != "plan-wide\napp\n" {
		t.Errorf("pre hooks ran as %q, want the plan's then the application's", b)
	}
	if err := h.Run(context.Background(), "verify", &strategy.Runtime{Plan: p, App: a, Unit: "web-1", Outputs: rt.Outputs}); err != nil {
		t.Fatal(err)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env.txt"))
	for _, want := range []string{"WAVECTL_PLAN=hooked", "WAVECTL_APP=web", "WAVECTL_WAVE=w1", "WAVECTL_UNIT=web-1", "WAVECTL_VM=web-1",
		"WAVECTL_IP=127.64.9.9", "WAVECTL_HOOK=verify", "WAVECTL_STRATEGY=redeploy", "WAVECTL_VM_REF=vm-42"} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("hook environment lacks %s:\n%s", want, env)
		}
	}
	if pwd, _ := os.ReadFile(filepath.Join(dir, "pwd.txt")); strings.TrimSpace(string(pwd)) != dir {
		t.Errorf("hook ran in %q, want %s", pwd, dir)
	}
	if len(log.runs) != 3 || log.runs[0].kind != "pre" || log.runs[2].unit != "web-1" || log.runs[2].code != 0 || log.runs[2].err != nil {
		t.Errorf("recorded runs: %+v", log.runs)
	}
}

func TestAFailingHookStopsTheRestAndSaysWhy(t *testing.T) {
	p, a := hookPlan(t, `{post: ["echo checking; echo 'smoke test: 503 from /health' >&2; exit 3", "touch ran"]}`)
	dir := t.TempDir()
	log := &hookLog{}
	rt, act := hookRuntime(p, a, plan.StepPostHook, "", &strategy.ShellHooks{Dir: dir, Record: log.record})
	err := act.Do(context.Background(), rt)
	var herr *strategy.HookError
	if !errors.As(err, &herr) || herr.ExitCode != 3 || herr.TimedOut {
		t.Fatalf("post hook: %v", err)
	}
	if !strings.Contains(err.Error(), `post hook "echo checking;`) || !strings.Contains(err.Error(), "exited 3: checking\nsmoke test: 503 from /health") {
		t.Errorf("error %q does not say which hook failed and why", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "ran")); serr == nil {
		t.Error("the command after the failing one ran")
	}
	if len(log.runs) != 1 || log.runs[0].code != 3 || log.runs[0].err == nil || !strings.Contains(log.runs[0].output, "503") {
		t.Errorf("recorded runs: %+v", log.runs)
	}
}

// A pre hook that runs over its timeout is killed, with the children it
// started, and fails the step.
func TestAPreHookThatRunsOverItsTimeoutIsKilledWithItsChildren(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	p, a := hookPlan(t, `{pre: ["sleep 30 & echo $! > child.pid; echo started; wait"], timeout: 500ms}`)
	dir := t.TempDir()
	log := &hookLog{}
	rt, act := hookRuntime(p, a, plan.StepPreHook, "", &strategy.ShellHooks{Dir: dir, Record: log.record})
	// The plan-wide pre hook runs first; the application's times out (its
	// sleep would run 30s): killed, not waited for.
	err := act.Do(context.Background(), rt)
	var herr *strategy.HookError
	if !errors.As(err, &herr) || !herr.TimedOut || herr.ExitCode != -1 {
		t.Fatalf("pre hook: %v", err)
	}
	if !strings.Contains(err.Error(), "did not finish within 500ms and was killed: started") {
		t.Errorf("error: %v", err)
	}
	b, rerr := os.ReadFile(filepath.Join(dir, "child.pid"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(3 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		// Gone, or a zombie waiting for init to reap it: dead either way.
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hook's child %d still runs: %s", pid, stat)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(log.runs); n != 2 || log.runs[1].code != -1 || log.runs[1].err == nil {
		t.Errorf("recorded runs: %+v", log.runs)
	}
}

func TestHookOutputKeepsItsLast16KiB(t *testing.T) {
	p, a := hookPlan(t, `{verify: ["i=0; while [ $i -lt 2000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"]}`)
	log := &hookLog{}
	h := &strategy.ShellHooks{Dir: t.TempDir(), Record: log.record}
	if err := h.Run(context.Background(), "verify", &strategy.Runtime{Plan: p, App: a, Unit: "web-1"}); err != nil {
		t.Fatal(err)
	}
	out := log.runs[0].output
	if !strings.HasSuffix(out, "line-1999-xxxxxxxxxxxxxxxxxxxxxxxxx\n") || !strings.HasPrefix(out, "[") || len(out) > strategy.HookOutputLimit+64 {
		t.Errorf("kept %d bytes, starting %q", len(out), out[:min(len(out), 40)])
	}
}

func TestHookStepsWithoutARunnerFail(t *testing.T) {
	p, a := hookPlan(t, `{verify: ["true"]}`)
	rt, act := hookRuntime(p, a, plan.StepPreHook, "", nil)
	if err := act.Do(context.Background(), rt); err == nil || !strings.Contains(err.Error(), "no hook runner") {
		t.Errorf("pre hook without a runner: %v", err)
	}
}
