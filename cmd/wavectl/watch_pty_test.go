package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/wavectl/wavectl/pkg/state"
)

// status --watch on a terminal: each change of the record redraws the
// screen (clear, then the new view), and Ctrl-C (the terminal's own ^C,
// not a signal sent by the test) ends it with exit 0.
func TestStatusWatchOnATerminal(t *testing.T) {
	bin, err := exec.LookPath("wavectl")
	if err != nil {
		t.Fatalf("wavectl is not on PATH (TestMain sets it up): %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "watch.state.json")
	st := state.NewState("watch", "plan.yaml", "sha256:1")
	st.Apps = []*state.App{{Name: "payroll", Strategy: "remediate", Status: state.Pending, Users: 900,
		Units: []*state.Unit{{Name: "pay-01", Status: state.Pending, Steps: []*state.Step{{Kind: "snapshot", Status: state.Pending}}}}}}
	store, err := state.Create(path, st)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	cmd := exec.Command(bin, "status", "--watch", "--state", path)
	cmd.Env = append(os.Environ(), "TERM=xterm", "COLUMNS=120")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	waitFor := func(what string, cond func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			mu.Lock()
			s := screen.String()
			mu.Unlock()
			if cond(s) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("no %s on the terminal; it shows:\n%q", what, screen.String())
	}
	const clear = "\x1b[H\x1b[2J"
	waitFor("first view", func(s string) bool { return strings.Contains(s, clear) && strings.Contains(s, "payroll") })
	if err := store.UpdateApp("payroll", func(a *state.App) { a.Status = state.Failed; a.Reason = "snapshot refused" }); err != nil {
		t.Fatal(err)
	}
	waitFor("redraw with the change", func(s string) bool {
		i := strings.LastIndex(s, clear)
		return strings.Count(s, clear) >= 2 && strings.Contains(s[i:], "failed")
	})
	if _, err := f.Write([]byte{3}); err != nil { // ^C, as typed
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("status --watch ended with %v on Ctrl-C, want exit 0", err)
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("status --watch did not stop on Ctrl-C")
	}
}
