package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBenchTable checks make bench's table script (testdata/benchtable.awk)
// on benchmark output made up for it: each figure of issue 17 is printed
// against its target, with the verdict its value deserves, ratios taken
// between benchmarks of the same output.
func TestBenchTable(t *testing.T) {
	awk, err := exec.LookPath("awk")
	if err != nil {
		t.Skip("no awk on PATH: make bench needs one to print its table")
	}
	out := strings.Join([]string{
		"BenchmarkApplyReference-2 1 300000000000 ns/op 12.00 req/VM 6.100 min-req/VM 4.5 persist% 9000 commits 800 peakMB 1562 VMs",
		"BenchmarkProgrammeProcess/one-wave-2 1 250000000000 ns/op 250.0 makespan-s 240.0 bound-s 0.9600 efficiency 120 peakMB 20 wavectl-cpu-s 60 sim-cpu-s 40 machine-idle% 2 cpus 122 VMs",
		"BenchmarkProgrammeProcess/whole-programme-2 1 300000000000 ns/op 300.0 makespan-s 240.0 bound-s 0.8000 efficiency 310 peakMB 100 wavectl-cpu-s 300 sim-cpu-s 5 machine-idle% 2 cpus 1562 VMs 0.8 persist%",
		"BenchmarkProgrammeProcess/one-wave-postgres-2 1 260000000000 ns/op 260.0 makespan-s 240.0 bound-s 0.9231 efficiency 130 peakMB 25 wavectl-cpu-s 60 sim-cpu-s 40 machine-idle% 2 cpus 122 VMs 5.5 persist%",
		"BenchmarkPeers/redeploy-50/wavectl-2 1 6000000000 ns/op 8.3 VMs/s 3.203 floor-s 0.5338 efficiency",
		"BenchmarkPeers/redeploy-50/wavectl-8-in-flight-2 1 7000000000 ns/op 7.1 VMs/s 6.406 floor-s 0.9151 efficiency",
		"BenchmarkPeers/redeploy-50/govc-xargs-P8-2 1 12000000000 ns/op 4.2 VMs/s 6.406 floor-s 0.5338 efficiency",
		"BenchmarkPeers/redeploy-200/wavectl-8-in-flight-2 1 30000000000 ns/op 6.7 VMs/s 25.62 floor-s 0.8542 efficiency",
		"BenchmarkPeers/redeploy-200/govc-xargs-P8-2 1 40000000000 ns/op 5.0 VMs/s 25.62 floor-s 0.6406 efficiency",
		"",
	}, "\n")
	cmd := exec.Command(awk, "-v", "date=2026-12-02", "-v", "cpus=2", "-v", "cpu=test", "-f", filepath.Join("..", "..", "testdata", "benchtable.awk"))
	cmd.Stdin = strings.NewReader(out)
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("awk: %v\n%s", err, got)
	}
	table := string(got)
	for _, want := range []struct{ measure, value, target, met string }{
		{"vCenter API requests per VM (least the strategies need)", "12.0 (6.1) = 2.0x", "<= 2x", "yes"},
		{"time persisting state, share of the run", "4.5 %", "< 5 %", "yes"},
		{"schedule efficiency, one wave alone (122 VMs): bound 240 s / makespan 250 s", "0.96", ">= 0.9", "yes"},
		{"schedule efficiency, whole programme (1562 VMs): bound 240 s / makespan 300 s", "0.80", ">= 0.85", "NO"},
		{"CPU: wavectl 100 s + simulator 300 s, of 2 CPUs x 300 s", "67 %", "", ""},
		{"peak memory of wavectl apply (maxrss), reference run", "310 MB", "< 300 MB", "NO"},
		{"time persisting state (file store), share of the run", "0.8 %", "< 5 %", "yes"},
		{"one wave, record in PostgreSQL: makespan 260 s (file: 250 s), persistence share", "5.5 %", "< 5 %", "NO"},
		{"redeploy wave of 50 VMs: floor (its tasks / 8 in flight)", "6.4 s", "", ""},
		{"wavectl at 8 in flight: time, efficiency (floor / time)", "7.0 s, 0.92", ">= 0.9", "yes"},
		{"govc script, xargs -P 8: time, efficiency", "12.0 s, 0.53", "", ""},
		{"wavectl / govc, both at 8 in flight", "0.58", "<= 0.75", "yes"},
		{"wavectl, default limits (16 in flight): time, efficiency", "6.0 s, 0.53", "", ""},
		{"redeploy wave of 200 VMs: floor (its tasks / 8 in flight)", "25.6 s", "", ""},
		{"wavectl at 8 in flight: time, efficiency (floor / time)", "30.0 s, 0.85", ">= 0.9", "NO"},
		{"wavectl / govc, both at 8 in flight", "0.75", "<= 0.75", "yes"},
	} {
		re := regexp.MustCompile(`(?m)^\|\s+` + regexp.QuoteMeta(want.measure) + `\s+\|\s+` + regexp.QuoteMeta(want.value) +
			`\s+\|\s+` + regexp.QuoteMeta(want.target) + `\s+\|\s+` + regexp.QuoteMeta(want.met) + `\s+\|$`)
		if !re.MatchString(table) {
			t.Errorf("the table has no row | %s | %s | %s | %s |:\n%s", want.measure, want.value, want.target, want.met, table)
		}
	}
}
