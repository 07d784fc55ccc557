package main_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDiscoverInterrupted: SIGINT stops discover while it reads an export
// (here a named pipe that never ends, as a stalled share would), with exit
// 130 and no plan written.
func TestDiscoverInterrupted(t *testing.T) {
	bin, err := exec.LookPath("wavectl") // testscript.Main put this binary there
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "export.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	out := filepath.Join(dir, "plan.yaml")
	cmd := exec.Command(bin, "discover", "--from", "rvtools", fifo, "--out", out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Opening the pipe for writing returns once discover has opened it
	// for reading: by then its signal handling is in place.
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fmt.Fprintln(w, "VM,CPUs,Memory")
	for i := range 10 {
		fmt.Fprintf(w, "vm-%d,2,4096\n", i)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("discover ended with %v, want exit 130", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a plan was written: %v", err)
	}
}
