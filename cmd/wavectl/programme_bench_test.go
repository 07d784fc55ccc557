package main

// The reference programme run as it runs for real: `wavectl apply` as one
// process against `wavectl sim` as another, with realistic task durations.
// Apart, the simulator's CPU is not counted as wavectl's, wavectl's own
// peak memory can be read (maxrss), and the share of the machine's CPU the
// two used says whether the run was bound by the schedule or by the CPU.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	gomaps "maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"gopkg.in/yaml.v3"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state/pgtest"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

const referencePlan = "../../plans/crown-hosting.yaml"

// BenchmarkProgrammeProcess applies the reference programme (and, apart,
// its largest wave that depends on no other) with sim.RealisticDelays
// scaled down so that the run's lower bound is about 15 minutes (one
// wave: 4; WAVECTL_BENCH_BOUND sets both), 10% jitter, under the plan's own
// limits, the plan's estimates set to the same task durations (as
// calibrated from a rehearsal). It reports the makespan against schedule.LowerBound (the
// schedule efficiency), the peak resident memory of the wavectl process,
// the CPU seconds of wavectl and of the simulator, and the machine's idle
// share during the run (from /proc/stat: other work on a shared machine
// shows there). WAVECTL_BENCH_STATE=FILE keeps the run's record there
// (a new file each run: remove it first).
//
//	go test -run '^$' -bench ProgrammeProcess -benchtime 1x -timeout 60m ./cmd/wavectl
func BenchmarkProgrammeProcess(b *testing.B) {
	bin, err := exec.LookPath("wavectl") // testscript.Main put this binary there
	if err != nil {
		b.Fatal(err)
	}
	var boundGiven time.Duration
	if v := os.Getenv("WAVECTL_BENCH_BOUND"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("WAVECTL_BENCH_BOUND=%q: want a duration, e.g. 90s", v)
		}
		boundGiven = d
	}
	ref, err := filepath.Abs(referencePlan)
	if err != nil {
		b.Fatal(err)
	}
	p, probs, err := plan.LoadFile(ref)
	if err != nil || probs.Errors() > 0 {
		b.Fatalf("reference plan: %v %v", err, probs)
	}
	largest := p.Waves[0]
	for _, w := range p.Waves {
		if selfContained(p, w) && countUnits(p, w.Applications) > countUnits(p, largest.Applications) {
			largest = w
		}
	}
	for _, c := range []struct {
		name  string
		wave  string // "" for the whole programme
		bound time.Duration
		// postgres: the record in PostgreSQL (a throwaway server, as the
		// tests start), not in a state file.
		postgres bool
	}{
		// The whole programme costs wavectl and the simulator about 11
		// minutes of CPU however fast its tasks are (measured 2026-12-02:
		// 227 s and 455 s), 6 on 2 CPUs: a bound of 15 minutes keeps the
		// CPU under half the machine, so that the figure measures the
		// schedule. One wave's CPU is well under its bound of 4 minutes.
		{"whole-programme", "", 15 * time.Minute, false},
		{"one-wave", largest.Name, 4 * time.Minute, false},
		{"one-wave-postgres", largest.Name, 4 * time.Minute, true},
	} {
		boundTarget := c.bound
		if boundGiven > 0 {
			boundTarget = boundGiven
		}
		b.Run(c.name, func(b *testing.B) {
			sim.TaskEstimates(p, sim.RealisticDelays)
			real, _ := schedule.Compile(p)
			factor := schedule.LowerBound(onlyWave(real, c.wave), nil).Total.Seconds() / boundTarget.Seconds()
			delays := sim.ScaledDelays(factor)
			sim.TaskEstimates(p, delays)
			sched, _ := schedule.Compile(p)
			calibrated := calibratedPlan(b, ref, p.Estimates)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				var state *benchState
				if c.postgres {
					state = postgresState(b, bin)
				}
				r := runProgramme(b, bin, calibrated, c.wave, delays, state)
				bound := schedule.LowerBound(onlyWave(sched, c.wave), r.hosts)
				b.ReportMetric(r.wall.Seconds(), "makespan-s")
				b.ReportMetric(bound.Total.Seconds(), "bound-s")
				b.ReportMetric(bound.Total.Seconds()/r.wall.Seconds(), "efficiency")
				b.ReportMetric(float64(r.maxRSS)/(1<<20), "peakMB")
				b.ReportMetric(r.cpuWavectl.Seconds(), "wavectl-cpu-s")
				b.ReportMetric(r.cpuSim.Seconds(), "sim-cpu-s")
				b.ReportMetric(100*r.idle, "machine-idle%")
				b.ReportMetric(float64(runtime.NumCPU()), "cpus")
				b.ReportMetric(float64(r.units), "VMs")
				b.ReportMetric(r.persist, "persist%")
				b.Logf("%d VMs: makespan %s, bound %s (%s): efficiency %.2f; tasks scaled down %.0fx (a 3-minute clone takes %s)",
					r.units, r.wall.Round(time.Millisecond), bound.Total.Round(time.Millisecond), bound.Binding,
					bound.Total.Seconds()/r.wall.Seconds(), factor, delays["CloneVM_Task"].Round(time.Millisecond))
				b.Logf("wavectl: peak RSS %.0f MB, CPU %.1fs, %.1f%% of the run persisting state; simulator CPU %.1fs; %d CPUs, machine idle %.0f%% of the run",
					float64(r.maxRSS)/(1<<20), r.cpuWavectl.Seconds(), r.persist, r.cpuSim.Seconds(), runtime.NumCPU(), 100*r.idle)
				for _, w := range bound.Waves {
					b.Logf("  wave %s: bound %s (%s)", w.Name, w.Bound.Round(time.Millisecond), w.Binding)
				}
				if cb := bound.Conveyor; cb != nil {
					b.Logf("  conveyor: bound %s (%s)", cb.Bound.Round(time.Millisecond), cb.Binding)
				}
			}
		})
	}
}

// calibratedPlan writes a copy of the plan whose estimates are the
// simulator's task durations, beside a link to the plan's hook scripts:
// wavectl orders its work by its estimates, and a real programme has them
// fitted from its rehearsals (plan --calibrate), which is what this stands
// for. The bound is computed from the same estimates.
func calibratedPlan(b *testing.B, ref string, est map[string]plan.Duration) string {
	b.Helper()
	data, err := os.ReadFile(ref)
	if err != nil {
		b.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		b.Fatalf("%s: %v", ref, err)
	}
	var m yaml.Node
	m.Kind, m.Tag = yaml.MappingNode, "!!map"
	for _, kind := range slices.Sorted(gomaps.Keys(est)) {
		m.Content = append(m.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kind},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: time.Duration(est[kind]).String()})
	}
	root, found := doc.Content[0], false
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "estimates" {
			root.Content[i+1], found = &m, true
		}
	}
	if !found {
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "estimates"}, &m)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := os.Symlink(filepath.Join(filepath.Dir(ref), "checks"), filepath.Join(dir, "checks")); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(dir, filepath.Base(ref))
	if err := os.WriteFile(file, out, 0o644); err != nil {
		b.Fatal(err)
	}
	return file
}

// programmeRun is what one process run measured.
type programmeRun struct {
	wall               time.Duration
	maxRSS             int64 // bytes, of the wavectl process
	cpuWavectl, cpuSim time.Duration
	idle               float64 // the machine's idle share over the run
	hosts              map[string]int
	units              int
	// persist is the share of the run wavectl's state store spent keeping
	// the record durable, from apply's own debug line (state.Stats).
	persist float64
}

// runProgramme starts `wavectl sim` on the plan with delays, then times
// `wavectl apply` (of one wave, or all) against it as its own process.
func runProgramme(b *testing.B, bin, planFile, wave string, delays map[string]time.Duration, state *benchState) programmeRun {
	b.Helper()
	dir := b.TempDir()
	sp := startSim(b, bin, dir, planFile, append([]string{"--jitter", "0.1", "--seed", "1"}, sim.DelayFlags(delays)...))
	defer sp.stop(b)
	hosts, err := clusterHosts(sp.conn)
	if err != nil {
		b.Fatalf("read the simulator's clusters: %v", err)
	}
	stateFile := filepath.Join(dir, "ref.state.json")
	if keep := os.Getenv("WAVECTL_BENCH_STATE"); keep != "" {
		// To look at the run afterwards (wavectl status, report).
		if stateFile, err = filepath.Abs(keep); err != nil {
			b.Fatal(err)
		}
	}
	var stateEnv []string
	if state != nil {
		stateFile, stateEnv = state.url, state.env
	}
	args := []string{"apply", "--yes", "--ignore-windows", "--state", stateFile, "--progress", "none", "--log-level", "debug", "--log-format", "json"}
	if wave != "" {
		args = append(args, "--wave", wave)
	}
	cmd := exec.Command(bin, append(args, planFile)...)
	cmd.Dir = dir
	cmd.Env = append(append(cleanEnv(os.Environ()), "HOME="+dir), stateEnv...)
	for k, v := range sp.conn {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	simBefore, err := procCPU(sp.sim.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	idleBefore, totalBefore, err := machineCPU()
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	began := time.Now()
	runErr := cmd.Run()
	wall := time.Since(began)
	b.StopTimer()
	idleAfter, totalAfter, _ := machineCPU()
	simAfter, _ := procCPU(sp.sim.Process.Pid)
	if runErr != nil { // exit 0 is a run that succeeded
		b.Fatalf("wavectl %s: %v\n%s\n%s\nsimulator's log:\n%s", strings.Join(args, " "), runErr, tail(out.String(), 3000), tail(errOut.String(), 3000), tail(sp.logs.String(), 2000))
	}
	r := programmeRun{wall: wall, cpuSim: simAfter - simBefore, hosts: hosts}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = ru.Maxrss * 1024 // KiB on Linux
		r.cpuWavectl = time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
	}
	if totalAfter > totalBefore {
		r.idle = float64(idleAfter-idleBefore) / float64(totalAfter-totalBefore)
	}
	if r.persist, err = persistShare(errOut.String()); err != nil {
		b.Fatal(err)
	}
	p, _, err := plan.LoadFile(planFile)
	if err != nil {
		b.Fatal(err)
	}
	var apps []string
	for _, a := range p.Applications {
		if wave == "" || a.Wave == wave {
			apps = append(apps, a.Name)
		}
	}
	r.units = countUnits(p, apps)
	return r
}

// benchState is a record elsewhere than a state file: its --state URL and
// the environment that logs in to it.
type benchState struct {
	url string
	env []string
}

// postgresState is a fresh database on the tests' shared PostgreSQL server,
// its schema made with `wavectl state migrate` as an operator makes it.
func postgresState(b *testing.B, bin string) *benchState {
	b.Helper()
	srv, err := pgtest.SharedServer()
	if err != nil {
		b.Skipf("no PostgreSQL server could be started here (%v)", err)
	}
	name, err := srv.CreateDB(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	st := &benchState{url: srv.URL(name), env: []string{"PGPASSWORD=" + srv.Password}}
	cmd := exec.Command(bin, "state", "migrate", "--state", st.url)
	cmd.Env = append(cleanEnv(os.Environ()), st.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("wavectl state migrate: %v\n%s", err, out)
	}
	return st
}

// persistShare reads apply's debug line about its state store from its
// JSON log: the share of the run, in percent, spent persisting the record.
func persistShare(log string) (float64, error) {
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Message string   `json:"message"`
			Persist *float64 `json:"persistPercent"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Message, "state store:") && l.Persist != nil {
			return *l.Persist, nil
		}
	}
	return 0, fmt.Errorf("wavectl apply logged no state store line (persistPercent); its log ends:\n%s", tail(log, 2000))
}

// clusterHosts counts the hosts of every cluster of every vCenter the
// simulator serves (WAVECTL_VCENTER_<NAME>_URL and its credentials).
func clusterHosts(conn map[string]string) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hosts := map[string]int{}
	for k, raw := range conn {
		name, ok := strings.CutSuffix(strings.TrimPrefix(k, "WAVECTL_VCENTER_"), "_URL")
		if !ok || !strings.HasPrefix(k, "WAVECTL_VCENTER_") {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, err
		}
		u.User = url.UserPassword(conn["WAVECTL_VCENTER_"+name+"_USERNAME"], conn["WAVECTL_VCENTER_"+name+"_PASSWORD"])
		c, err := govmomi.NewClient(ctx, u, true)
		if err != nil {
			return nil, fmt.Errorf("vCenter %s: %w", name, err)
		}
		v, err := view.NewManager(c.Client).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"ClusterComputeResource"}, true)
		if err != nil {
			return nil, err
		}
		var cs []mo.ClusterComputeResource
		err = v.Retrieve(ctx, []string{"ClusterComputeResource"}, []string{"name", "host"}, &cs)
		_ = v.Destroy(ctx)
		_ = c.Logout(ctx)
		if err != nil {
			return nil, err
		}
		for _, cl := range cs {
			hosts[cl.Name] = len(cl.Host)
		}
	}
	return hosts, nil
}

// procCPU is a process's user and system CPU time so far, from
// /proc/PID/stat (in clock ticks of 1/100 s, Linux's USER_HZ).
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis (utime and stime are fields 14 and 15).
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// machineCPU is the machine's idle and total CPU ticks so far, from the
// first line of /proc/stat.
func machineCPU() (idle, total int64, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	for i, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %q: %v", s, err)
		}
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return idle, total, nil
}

// onlyWave is the schedule narrowed to one wave (no conveyor), or all of
// it for "".
func onlyWave(s *schedule.Schedule, wave string) *schedule.Schedule {
	if wave == "" {
		return s
	}
	c := *s
	c.Waves, c.Conveyor = nil, nil
	for _, w := range s.Waves {
		if w.Name == wave {
			c.Waves = append(c.Waves, w)
		}
	}
	return &c
}

// selfContained reports whether a wave's applications depend only on
// applications of the same wave.
func selfContained(p *plan.Plan, w *plan.Wave) bool {
	for _, name := range w.Applications {
		if a := p.Application(name); a != nil {
			for _, d := range a.DependsOn {
				if !slices.Contains(w.Applications, d) {
					return false
				}
			}
		}
	}
	return true
}

// countUnits counts the VMs and servers of the named applications.
func countUnits(p *plan.Plan, apps []string) int {
	n := 0
	for _, name := range apps {
		if a := p.Application(name); a != nil {
			n += len(a.VMs) + len(a.Servers)
		}
	}
	return n
}
