//go:build linux

package strategy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/strategy"
)

func TestNothingAHookStartedOutlivesIt(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("needs Linux's /proc to find processes that left the hook's group")
	}
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("needs setsid (util-linux) to start a child in a session of its own")
	}
	// A background job, a double-forked one, and one in a session of its
	// own, each holding the output open; the hook itself ends at once.
	p, a := hookPlan(t, `{pre: [
  "sleep 300 & echo $! > bg.pid; (sh -c 'echo $$ > double.pid; exec sleep 301' &); setsid sh -c 'echo $$ > session.pid; exec sleep 302' & while [ ! -s session.pid ] || [ ! -s double.pid ]; do sleep 0.05; done; echo started"]}`)
	dir := t.TempDir()
	log := &hookLog{}
	rt, act := hookRuntime(p, a, plan.StepPreHook, "", &strategy.ShellHooks{Dir: dir, Record: log.record})
	if err := act.Do(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	if n := len(log.runs); n != 2 || !strings.Contains(log.runs[1].output, "started") {
		t.Fatalf("recorded runs: %+v", log.runs)
	}
	for _, f := range []string{"bg.pid", "double.pid", "session.pid"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		// Killed before the hook's step returned: no waiting here. Gone,
		// or a zombie waiting for init to reap it: dead either way.
		if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(stat), ") Z ") {
			t.Errorf("%s: process %d outlived the hook: %s", f, pid, stat)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
