package main_test

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkOfflineProcess runs wavectl as a process, as CI does, on the
// reference programme (60+ applications, 1,500+ VMs): the wall time of a
// whole `validate` and `plan --offline`, start-up included, and the peak
// resident memory of the process (maxrss). The baseline is `wavectl
// --version`: the cost of starting the binary at all.
func BenchmarkOfflineProcess(b *testing.B) {
	bin, err := exec.LookPath("wavectl") // testscript.Main put this binary there
	if err != nil {
		b.Fatal(err)
	}
	ref, err := filepath.Abs("../../plans/crown-hosting.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"baseline-version", []string{"--version"}},
		{"validate", []string{"validate", ref}},
		{"plan-offline", []string{"plan", "--offline", ref}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var peak int64
			for b.Loop() {
				cmd := exec.Command(bin, c.args...)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("wavectl %v: %v\n%s", c.args, err, out)
				}
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					peak = max(peak, ru.Maxrss) // KiB on Linux
				}
			}
			b.ReportMetric(float64(peak)/1024, "peakMB")
		})
	}
}
