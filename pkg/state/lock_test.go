package state

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a process that takes a lock and holds it
// until killed: TestMain runs it when this variable names a state file.
const lockHelperEnv = "WAVECTL_TEST_HOLD_LOCK"

func TestMain(m *testing.M) {
	if path := os.Getenv(lockHelperEnv); path != "" {
		l, err := Lock(path, "apply")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked", l.Holder().ID)
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holdLockInAnotherProcess starts a process that takes the lock of path,
// and returns it once it holds it.
func holdLockInAnotherProcess(t *testing.T, path string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	id, ok := strings.CutPrefix(strings.TrimSpace(line), "locked ")
	if err != nil || !ok {
		t.Fatalf("the helper did not take the lock: %q %v", line, err)
	}
	return cmd, id
}

func statePathIn(t *testing.T) string {
	return filepath.Join(t.TempDir(), "p.state.json")
}

func TestASecondLockFailsAtOnceNamingTheHolder(t *testing.T) {
	path := statePathIn(t)
	first, err := Lock(path, "apply")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	second, err := Lock(path, "resume")
	if err == nil {
		_ = second.Unlock()
		t.Fatal("a second lock was granted")
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("the second lock took %v to fail; it must not wait", d)
	}
	var le *LockedError
	if !errors.As(err, &le) || le.Holder == nil {
		t.Fatalf("%v (%T) is not a LockedError naming its holder", err, err)
	}
	h := first.Holder()
	if *le.Holder != h || le.Stale || le.Unconfirmed {
		t.Errorf("holder %+v (stale %v, unconfirmed %v), want %+v", *le.Holder, le.Stale, le.Unconfirmed, h)
	}
	host, _ := os.Hostname()
	if h.Operation != "apply" || h.Host != host || h.PID != os.Getpid() || len(h.ID) != 8 || h.Since.IsZero() || h.User == "" {
		t.Errorf("holder %+v", h)
	}
	for _, want := range []string{path, "apply on host " + host, fmt.Sprintf("PID %d", os.Getpid()), "user " + h.User,
		"since " + h.Since.Format(time.RFC3339), ", for ", "wavectl unlock " + h.ID + " --state " + path + "` only if that process is gone"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%v", want, err)
		}
	}
	if got, err := ReadLock(path); err != nil || got == nil || *got != h {
		t.Errorf("ReadLock = %+v, %v", got, err)
	}
	if err := first.Unlock(); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadLock(path); err != nil || got != nil {
		t.Errorf("ReadLock after Unlock = %+v, %v", got, err)
	}
	second, err = Lock(path, "resume")
	if err != nil {
		t.Fatalf("after the first unlocked: %v", err)
	}
	if second.TookOver() != nil {
		t.Errorf("a released lock counted as taken over from %+v", second.TookOver())
	}
	_ = second.Unlock()
	if err := second.Unlock(); err != nil {
		t.Errorf("a second Unlock: %v", err)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(path + LockSuffix); fi.Mode().Perm() != FileMode {
			t.Errorf("lock file mode %v", fi.Mode().Perm())
		}
	}
}

// A run killed with kill -9 leaves its description but not its OS lock
// (the kernel drops it): the next run takes the lock over, saying so,
// with no manual unlock.
func TestALockLeftByAKilledProcessIsTakenOver(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no kill -9")
	}
	path := statePathIn(t)
	cmd, id := holdLockInAnotherProcess(t, path)

	_, err := Lock(path, "resume")
	var le *LockedError
	if !errors.As(err, &le) || le.Holder == nil || le.Holder.ID != id || le.Holder.PID != cmd.Process.Pid || le.Stale {
		t.Fatalf("while the holder runs: %v", err)
	}
	if _, err := Unlock(path, id); !errors.As(err, &le) {
		t.Errorf("Unlock of a live holder's lock: %v, want a LockedError", err)
	}

	_ = cmd.Process.Kill() // SIGKILL
	_ = cmd.Wait()
	if h, _ := ReadLock(path); h == nil || h.ID != id {
		t.Fatalf("the killed holder's description is gone: %+v", h)
	} else if alive, known := h.Alive(); alive || !known {
		t.Errorf("Alive = %v, %v for a killed process", alive, known)
	}
	// What a run killed while writing leaves beside the state.
	dir := filepath.Dir(path)
	for _, f := range []string{".p.state.json.tmp-123", ".p.state.json.backup.tmp-456", "p.state.json.backup.tmp"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := Lock(path, "resume")
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	defer func() { _ = l.Unlock() }()
	if left, _ := filepath.Glob(filepath.Join(dir, "*tmp*")); len(left) > 0 {
		t.Errorf("temp files of the killed run are left: %v", left)
	}
	if p := l.TookOver(); p == nil || p.ID != id || p.PID != cmd.Process.Pid {
		t.Errorf("TookOver = %+v", p)
	}
	w := l.TakeoverWarning()
	if !strings.HasPrefix(w, "taking over the lock of apply on host") || !strings.HasSuffix(w, "(process gone)") || !strings.Contains(w, id) {
		t.Errorf("warning %q", w)
	}
	if h, _ := ReadLock(path); h == nil || h.ID != l.Holder().ID || h.Operation != "resume" {
		t.Errorf("the lock file says %+v after the takeover", h)
	}
}

// writeDescription fakes a lock file left behind, with no OS lock held.
func writeDescription(t *testing.T, path string, h Holder) {
	t.Helper()
	data, _ := json.Marshal(h)
	if err := os.WriteFile(path+LockSuffix, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func deadPID(t *testing.T) int {
	t.Helper()
	for pid := 4_000_000; pid > 3_000_000; pid -= 7919 {
		if !processAlive(pid) {
			return pid
		}
	}
	t.Skip("no free PID")
	return 0
}

func TestADescriptionOfAGoneProcessOnThisHostIsTakenOver(t *testing.T) {
	path := statePathIn(t)
	host, _ := os.Hostname()
	pid := deadPID(t)
	writeDescription(t, path, Holder{ID: "0badc0de", Operation: "rollback", Host: host, PID: pid, User: "bob", Since: t0})
	l, err := Lock(path, "apply")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Unlock() }()
	if p := l.TookOver(); p == nil || p.ID != "0badc0de" {
		t.Errorf("TookOver = %+v", p)
	}
	want := fmt.Sprintf("taking over the lock of rollback on host %s (PID %d, user bob) since 2019-03-02T20:00:00Z, for ", host, pid)
	if w := l.TakeoverWarning(); !strings.HasPrefix(w, want) || !strings.HasSuffix(w, "(process gone)") {
		t.Errorf("warning %q, want %q...", w, want)
	}
}

// A lock taken on another host is not taken over: this host cannot tell
// whether that run is over. wavectl unlock removes it, given its ID.
func TestALockFromAnotherHostWaitsForUnlock(t *testing.T) {
	path := statePathIn(t)
	other := Holder{ID: "5ca1ab1e", Operation: "apply", Host: "jump-02.example", PID: 4242, User: "carol", Command: "wavectl apply plan.yaml", Since: t0}
	writeDescription(t, path, other)
	_, err := Lock(path, "resume")
	var le *LockedError
	if !errors.As(err, &le) || !le.Unconfirmed || le.Holder == nil || *le.Holder != other {
		t.Fatalf("Lock: %v", err)
	}
	for _, want := range []string{"apply on host jump-02.example (PID 4242, user carol) since 2019-03-02T20:00:00Z", "another host",
		"wavectl unlock 5ca1ab1e --state " + path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%v", want, err)
		}
	}

	_, err = Unlock(path, "deadbeef")
	var ide *LockIDError
	if !errors.As(err, &ide) || ide.Holder != other || !strings.Contains(err.Error(), "not by lock deadbeef") || !strings.Contains(err.Error(), "jump-02.example") {
		t.Errorf("Unlock with the wrong ID: %v", err)
	}
	if h, _ := ReadLock(path); h == nil || *h != other {
		t.Errorf("the wrong ID removed the lock")
	}
	got, err := Unlock(path, "5ca1ab1e")
	if err != nil || got != other {
		t.Fatalf("Unlock = %+v, %v", got, err)
	}
	if h, _ := ReadLock(path); h != nil {
		t.Errorf("after Unlock the lock file says %+v", h)
	}
	var nle *NoLockError
	if _, err := Unlock(path, "5ca1ab1e"); !errors.As(err, &nle) {
		t.Errorf("Unlock again: %v", err)
	}
	l, err := Lock(path, "resume")
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Unlock()
}

func TestUnlockRefusesALiveHoldersLock(t *testing.T) {
	path := statePathIn(t)
	l, err := Lock(path, "apply")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Unlock() }()
	var le *LockedError
	if _, err := Unlock(path, l.Holder().ID); !errors.As(err, &le) || le.Holder == nil || le.Holder.ID != l.Holder().ID {
		t.Fatalf("Unlock: %v", err)
	}
	if h, _ := ReadLock(path); h == nil || h.ID != l.Holder().ID {
		t.Errorf("the live holder's description was removed")
	}
}

func TestNothingToUnlock(t *testing.T) {
	path := statePathIn(t)
	var nle *NoLockError
	if _, err := Unlock(path, "12345678"); !errors.As(err, &nle) || !strings.Contains(err.Error(), "is not locked") {
		t.Errorf("Unlock without a lock file: %v", err)
	}
	if h, err := ReadLock(path); h != nil || err != nil {
		t.Errorf("ReadLock without a lock file: %+v, %v", h, err)
	}
}

func TestTheHoldersCommandLineHasNoCredentials(t *testing.T) {
	got := commandLine([]string{"/usr/local/bin/wavectl", "apply", "--password", "s3cret", "--vcenter", "lab=https://admin:s3cret@vc.example/sdk",
		"--api-token=s3cret", "-y", "plan.yaml"})
	want := "wavectl apply --password *** --vcenter lab=https://admin:***@vc.example/sdk --api-token=*** -y plan.yaml"
	if got != want {
		t.Errorf("commandLine = %q, want %q", got, want)
	}
}
