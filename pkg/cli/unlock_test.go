package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wavectl/wavectl/pkg/state"
)

// leftLock writes a lock file as a run on another host leaves it, with no
// process holding the OS lock.
func leftLock(t *testing.T, statePath string) state.Holder {
	t.Helper()
	h := state.Holder{ID: "5ca1ab1e", Operation: "apply", Host: "jump-02.example", PID: 4242, User: "carol",
		Command: "wavectl apply --yes plan.yaml", Since: time.Date(2027, 3, 6, 20, 0, 0, 0, time.UTC)}
	data, _ := json.Marshal(h)
	if err := os.WriteFile(statePath+state.LockSuffix, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

func runWavectl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ios, _, out, errOut := Test()
	code = Run(context.Background(), ios, args)
	return code, out.String(), errOut.String()
}

func TestUnlock(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, path string) (id string)
		code  int
		out   []string
		err   []string
	}{
		{
			name: "a lock left on another host is removed, naming its holder",
			setup: func(t *testing.T, path string) string {
				return leftLock(t, path).ID
			},
			code: ExitOK,
			out:  []string{"Removed lock 5ca1ab1e of ", "demo.state.json: apply on host jump-02.example (PID 4242, user carol) since 2027-03-06T20:00:00Z"},
		},
		{
			name: "a wrong ID removes nothing and names the holder",
			setup: func(t *testing.T, path string) string {
				leftLock(t, path)
				return "deadbeef"
			},
			code: ExitUsage,
			err:  []string{"is locked by apply on host jump-02.example (PID 4242, user carol)", "lock 5ca1ab1e", "not by lock deadbeef"},
		},
		{
			name:  "no lock is a usage error",
			setup: func(t *testing.T, path string) string { return "12345678" },
			code:  ExitUsage,
			err:   []string{"is not locked: there is nothing to unlock"},
		},
		{
			name: "a live holder's lock stays, exit 8",
			setup: func(t *testing.T, path string) string {
				l, err := state.Lock(path, "resume")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = l.Unlock() })
				return l.Holder().ID
			},
			code: ExitLocked,
			err:  []string{"is locked by resume on host", fmt.Sprintf("PID %d", os.Getpid()), "unlock removes only a lock whose process is gone"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := isolate(t)
			path := filepath.Join(dir, "demo.state.json")
			id := c.setup(t, path)
			code, out, errOut := runWavectl(t, "unlock", "--state", path, id)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out, errOut)
			}
			for _, w := range c.out {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range c.err {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if c.code != ExitOK && c.name != "no lock is a usage error" {
				if h, _ := state.ReadLock(path); h == nil {
					t.Errorf("a refused unlock removed the lock")
				}
			}
		})
	}
}

func TestUnlockFindsTheStateLikeStatus(t *testing.T) {
	dir := isolate(t)
	fixture(t, dir, "failed", "demo.state.json")
	t.Chdir(dir)
	h := leftLock(t, filepath.Join(dir, "demo.state.json"))
	code, out, errOut := runWavectl(t, "unlock", h.ID)
	if code != ExitOK || !strings.Contains(out, "Removed lock 5ca1ab1e of demo.state.json") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runWavectl(t, "unlock"); code != ExitUsage || !strings.Contains(errOut, "takes a lock ID") {
		t.Errorf("without an ID: exit %d %s", code, errOut)
	}
}

func TestTakeLockRefusesASecondRunWithExitEight(t *testing.T) {
	dir := isolate(t)
	path := filepath.Join(dir, "demo.state.json")
	var logs bytes.Buffer
	f := &Factory{Log: zerolog.New(&logs)}
	first, err := takeLock(context.Background(), f, state.FileBackend{File: path}, "apply", state.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = takeLock(context.Background(), f, state.FileBackend{File: path}, "resume", state.Scope{})
	if codeOf(err) != ExitLocked || !strings.Contains(err.Error(), "is locked by apply on host") {
		t.Fatalf("second lock: exit %d: %v", codeOf(err), err)
	}
	_ = first.Unlock()

	// A run on this host whose process is gone: taken over, with a warning.
	host, _ := os.Hostname()
	gone := state.Holder{ID: "0badc0de", Operation: "apply", Host: host, PID: 1 << 30, Since: time.Now().Add(-time.Hour)}
	data, _ := json.Marshal(gone)
	if err := os.WriteFile(path+state.LockSuffix, data, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := takeLock(context.Background(), f, state.FileBackend{File: path}, "resume", state.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Unlock() }()
	if !strings.Contains(logs.String(), `"level":"warn"`) || !strings.Contains(logs.String(), "taking over the lock of apply on host") ||
		!strings.Contains(logs.String(), "(process gone)") {
		t.Errorf("no takeover warning: %s", logs.String())
	}
}

func TestHelpListsExitCodeEight(t *testing.T) {
	code, out, _ := runWavectl(t, "unlock", "--help")
	if code != ExitOK || !strings.Contains(out, "8    another run holds the state's lock") || !strings.Contains(out, "8 the holder's process still holds the lock") {
		t.Errorf("exit %d\n%s", code, out)
	}
}
