package main

// wavectl side by side with the tools engineers use without it: a redeploy
// wave of N VMs (clone from template into the target, resize, remap the
// NIC, power on, wait for an IP, power the old VM off, mark both) done by
//
//   - wavectl apply, with the plan's default limits and with 8 in flight;
//   - a govc script, a per-VM function fed to `xargs -P 8`
//     (testdata/bench/peers/govc-redeploy.sh);
//   - an Ansible playbook, community.vmware with 8 forks
//     (testdata/bench/peers/redeploy.yml),
//
// each against a fresh `wavectl sim` process started with the same flags
// (the realistic task durations scaled down 200 times, 10% jitter, the
// same seed). Only the tool's own run is timed. After it, vCenter's
// inventory is read through the property collector, independently of the
// tool, and compared with the end state the plan asks for; any difference
// fails the benchmark.
//
// BenchmarkPeers is long (minutes, Ansible most of them) and runs only with
// WAVECTL_BENCH_PEERS=1; testdata/bench/install-peers.sh installs the
// peers. TestPeersHarness checks the harness itself, cheaply, in `make test`.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

// The estate every peer run starts from: what `wavectl sim` seeds from the
// generated plan (see peerWave.plan).
const (
	peerSrcDC     = "DC-OLD"
	peerSrcFolder = "estate"
	peerDC        = "DC1"
	peerCluster   = "C1"
	peerFolder    = "migrated"
	peerTemplate  = "tpl-rhel9"
	peerAppSize   = 5 // VMs per application
	peerSeed      = 8
	peerJitter    = "0.1"
)

var (
	peerDatastores = []string{"ds-gold-01", "ds-gold-02"}
	// peerNetworks maps source networks to target portgroups.
	peerNetworks = [][2]string{{"App-101", "pg-app-101"}, {"App-102", "pg-app-102"}}
	// peerSizes are the VMs' sizes, in turn (the template is 2 vCPU, 4 GB).
	peerSizes = [][2]int{{2, 4096}, {4, 8192}, {2, 2048}, {8, 16384}, {4, 6144}}
)

// peerVM is one VM of the wave, and where its redeployed self goes.
type peerVM struct {
	Name, App, Datastore, SrcNet, Portgroup string
	CPUs, MemoryMB                          int
}

// peerWave is a redeploy wave of N VMs in applications of peerAppSize,
// alternating between the datastores and the networks by application.
type peerWave struct {
	Name string // the plan's name, which the markers carry
	VMs  []peerVM
}

func newPeerWave(n int) peerWave {
	w := peerWave{Name: fmt.Sprintf("bench-redeploy-%d", n)}
	for i := 0; i < n; i++ {
		a := i / peerAppSize
		size := peerSizes[i%len(peerSizes)]
		w.VMs = append(w.VMs, peerVM{
			Name:      fmt.Sprintf("app%03d-vm%d", a+1, i%peerAppSize+1),
			App:       fmt.Sprintf("app%03d", a+1),
			Datastore: peerDatastores[a%len(peerDatastores)],
			SrcNet:    peerNetworks[a%len(peerNetworks)][0],
			Portgroup: peerNetworks[a%len(peerNetworks)][1],
			CPUs:      size[0],
			MemoryMB:  size[1],
		})
	}
	return w
}

// plan is the wave as a wavectl plan; concurrency 0 leaves the default
// limits, written out (16 in flight, 8 per host, 8 per datastore).
func (w peerWave) plan(concurrency int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: %s, description: peer benchmark - one redeploy wave of %d VMs}
vcenters:
  vc: {url: https://vc.bench.invalid/sdk}
source: {vcenter: vc, datacenter: %s, folder: %s}
target:
  vcenter: vc
  datacenter: %s
  cluster: %s
  datastore: %s
  folder: %s
  networks:
`, w.Name, len(w.VMs), peerSrcDC, peerSrcFolder, peerDC, peerCluster, peerDatastores[0], peerFolder)
	for _, n := range peerNetworks {
		fmt.Fprintf(&b, "    %s: %s\n", n[0], n[1])
	}
	if concurrency == 0 {
		fmt.Fprintf(&b, "limits: {concurrency: 16, perHost: 8, perDatastore: 8}\n")
	} else {
		fmt.Fprintf(&b, "limits: {concurrency: %d, perHost: 8, perDatastore: 8}\n", concurrency)
	}
	b.WriteString("applications:\n")
	var apps []string
	for _, vm := range w.VMs {
		if len(apps) == 0 || apps[len(apps)-1] != vm.App {
			apps = append(apps, vm.App)
			fmt.Fprintf(&b, "  - name: %s\n    strategy: redeploy\n    template: %s\n    target: {datastore: %s}\n    vms:\n", vm.App, peerTemplate, vm.Datastore)
		}
		fmt.Fprintf(&b, "      - {name: %s, cpus: %d, memoryMB: %d, disksGB: [60], networks: [%s]}\n", vm.Name, vm.CPUs, vm.MemoryMB, vm.SrcNet)
	}
	fmt.Fprintf(&b, "waves:\n  - name: wave-1\n    applications: [%s]\n", strings.Join(apps, ", "))
	return b.Bytes()
}

// list is the wave as the peers' VM list: NAME APPLICATION DATASTORE
// PORTGROUP CPUS MEMORY_MB, one VM a line.
func (w peerWave) list() []byte {
	var b bytes.Buffer
	b.WriteString("# name application datastore portgroup cpus memoryMB\n")
	for _, vm := range w.VMs {
		fmt.Fprintf(&b, "%s %s %s %s %d %d\n", vm.Name, vm.App, vm.Datastore, vm.Portgroup, vm.CPUs, vm.MemoryMB)
	}
	return b.Bytes()
}

// peerScale is how many times faster than sim.RealisticDelays the peers'
// simulator runs its tasks (a 3-minute clone takes 0.9 s).
const peerScale = 200

// peerInFlight is the concurrency the tools are compared at: govc's
// `xargs -P 8`, wavectl's `limits.concurrency: 8`.
const peerInFlight = 8

// peerFloorTasks are the vCenter tasks a redeploy of one VM cannot do
// without, whatever the tool:
//
//   - CloneVM_Task: the new VM from the template, its config spec carrying
//     the size, the NIC's portgroup and the markers, so no reconfigure of
//     the new VM is needed;
//   - PowerOnVM_Task: the new VM on (its IP follows at once in the
//     simulator, whose guest agent gives it one on power-on);
//   - ReconfigVM_Task: one, marking the old VM superseded.
//
// Powering the old VM off is not counted: a guest shutdown (ShutdownGuest)
// is no task, and the simulator completes it at once, so a tool that
// powers off with PowerOffVM_Task (govc's vm.power -off) pays its delay
// above the floor. Reads and task waits are not work vCenter queues.
var peerFloorTasks = []string{"CloneVM_Task", "PowerOnVM_Task", "ReconfigVM_Task"}

// peerFloor is the least time n VMs can be redeployed in at inFlight
// tasks at a time with the simulator's delays: the floor tasks' durations,
// summed over the VMs, over inFlight. The simulator's jitter is
// symmetric, so it averages out over a wave.
func peerFloor(n, inFlight int, delays map[string]time.Duration) time.Duration {
	var perVM time.Duration
	for _, op := range peerFloorTasks {
		perVM += delays[op]
	}
	return perVM * time.Duration(n) / time.Duration(inFlight)
}

// peerDefaultInFlight is how many VMs wavectl moves at once with the
// plan's default limits on the peers' wave: concurrency 16, perDatastore 8
// on each of its two datastores.
const peerDefaultInFlight = 16

// peerTool is one way of doing the wave.
type peerTool struct {
	name string
	// ready says why the tool cannot run here ("" when it can).
	ready func(h *peerHarness) string
	run   func(r *peerRun, tb testing.TB)
	// recorded: the tool keeps the old VM's pre-migration record
	// (wavectl.recorded, wavectl's rollback record) on it.
	recorded bool
	// inFlight is how many VMs the tool moves at once: its floor divides
	// the wave's tasks by it.
	inFlight int
}

func peerTools() []peerTool {
	return []peerTool{
		{name: "wavectl", ready: func(*peerHarness) string { return "" }, run: func(r *peerRun, tb testing.TB) { r.wavectl(tb, 0) }, recorded: true, inFlight: peerDefaultInFlight},
		{name: "wavectl-8-in-flight", ready: func(*peerHarness) string { return "" }, run: func(r *peerRun, tb testing.TB) { r.wavectl(tb, peerInFlight) }, recorded: true, inFlight: peerInFlight},
		{name: "govc-xargs-P8", ready: (*peerHarness).govcMissing, run: (*peerRun).govc, inFlight: peerInFlight},
		{name: "ansible-forks8", ready: (*peerHarness).ansibleMissing, run: (*peerRun).ansible, inFlight: peerInFlight},
	}
}

// BenchmarkPeers runs the wave of 50 and of 200 VMs with every tool. Run it
// as make bench does:
//
//	testdata/bench/install-peers.sh
//	WAVECTL_BENCH_PEERS=1 go test -run '^$' -bench BenchmarkPeers -benchtime 1x -timeout 60m ./cmd/wavectl
func BenchmarkPeers(b *testing.B) {
	if os.Getenv("WAVECTL_BENCH_PEERS") == "" {
		b.Skip("set WAVECTL_BENCH_PEERS=1 (make bench does)")
	}
	h := newPeerHarness(b)
	scaled := sim.ScaledDelays(peerScale)
	delays := sim.DelayFlags(scaled)
	for _, n := range []int{50, 200} {
		w := newPeerWave(n)
		b.Run(fmt.Sprintf("redeploy-%d", n), func(b *testing.B) {
			for _, tool := range peerTools() {
				b.Run(tool.name, func(b *testing.B) {
					floor := peerFloor(n, tool.inFlight, scaled)
					if why := tool.ready(h); why != "" {
						b.Skip(why)
					}
					var took time.Duration
					for i := 0; i < b.N; i++ {
						b.StopTimer()
						r := h.start(b, w, delays)
						before := r.inventory(b)
						b.StartTimer()
						began := time.Now()
						tool.run(r, b)
						took += time.Since(began)
						b.StopTimer()
						if diff := r.check(b, before, tool.recorded); diff != "" {
							b.Fatalf("%s left vCenter in a different state from the one the plan asks for (- wanted only, + found only, ~ differs: wanted -> found):\n%s", tool.name, diff)
						}
						r.stop(b)
					}
					secs := took.Seconds() / float64(b.N)
					b.ReportMetric(float64(n)/secs, "VMs/s")
					b.ReportMetric(floor.Seconds(), "floor-s")
					b.ReportMetric(floor.Seconds()/secs, "efficiency")
					b.Logf("%s: %d VMs in %.2fs (%.1f VMs/s), end state checked; floor %.2fs (%s per VM / %d), efficiency %.2f",
						tool.name, n, secs, float64(n)/secs, floor.Seconds(), peerFloorTasks, tool.inFlight, floor.Seconds()/secs)
					if secs < floor.Seconds() {
						// No tool can beat the tasks vCenter runs for it:
						// the floor (or the simulator's delays) is wrong.
						b.Errorf("%s took %.2fs, under the floor of %.2fs: the floor counts tasks the simulator did not run", tool.name, secs, floor.Seconds())
					}
				})
			}
		})
	}
}

// TestPeersHarness checks the harness cheaply: on a wave of 6 VMs (two
// applications, so both datastores and portgroups) with short tasks, wavectl and the govc script both leave the end state the
// plan asks for, and the check finds a VM left powered off and a missing
// marker, so a benchmark that passes its check has really been checked.
func TestPeersHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("starts simulators and runs wavectl and govc; skipped with -short")
	}
	h := newPeerHarness(t)
	w := newPeerWave(6)
	delays := sim.DelayFlags(sim.ScaledDelays(4000))

	r := h.start(t, w, delays)
	before := r.inventory(t)
	r.wavectl(t, 0)
	if diff := r.check(t, before, true); diff != "" {
		t.Fatalf("wavectl: the end state differs from the plan's:\n%s", diff)
	}
	// Without wavectl's own record, the same inventory must differ.
	if diff := r.check(t, before, false); !strings.Contains(diff, "wavectl.recorded") {
		t.Errorf("the check did not notice wavectl.recorded on the old VMs:\n%s", diff)
	}
	r.stop(t)

	if why := h.govcMissing(); why != "" {
		t.Skip(why)
	}
	r = h.start(t, w, delays)
	before = r.inventory(t)
	r.govc(t)
	if diff := r.check(t, before, false); diff != "" {
		t.Fatalf("govc script: the end state differs from the plan's:\n%s", diff)
	}
	// A deliberate difference: one new VM powered off again, another
	// stripped of its source marker. The check must name both.
	victim, stripped := w.VMs[1].Name, w.VMs[2].Name
	r.govcCmd(t, "vm.power", "-off", "/"+peerDC+"/vm/"+peerFolder+"/"+victim)
	r.govcCmd(t, "vm.change", "-vm", "/"+peerDC+"/vm/"+peerFolder+"/"+stripped, "-e", "wavectl.source=")
	diff := r.check(t, before, false)
	for _, want := range []string{
		"~ " + peerDC + "/vm/" + peerFolder + "/" + victim + `: power: "poweredOn" -> "poweredOff"`,
		"~ " + peerDC + "/vm/" + peerFolder + "/" + stripped + `: wavectl.source: "` + stripped + `" -> none`,
	} {
		if !strings.Contains(diff, want) {
			t.Errorf("the check missed a deliberate difference; want a line with\n%s\ngot:\n%s", want, diff)
		}
	}
	r.stop(t)
}

// peerHarness knows where the tools are.
type peerHarness struct {
	repo    string
	wavectl string
	govc    string // "" when absent
	// ansible: ansible-playbook, and the PYTHONPATH that gives its Python
	// a pyvmomi that can talk to the simulator; why says what is missing.
	ansible    string
	pythonPath string
	ansibleWhy string
}

func newPeerHarness(tb testing.TB) *peerHarness {
	tb.Helper()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		tb.Fatal(err)
	}
	h := &peerHarness{repo: repo}
	// testscript.Main (TestMain) put this test binary on $PATH as wavectl.
	if h.wavectl, err = exec.LookPath("wavectl"); err != nil {
		tb.Fatalf("wavectl is not on PATH (TestMain sets it up): %v", err)
	}
	if g := filepath.Join(repo, "bin", "tools", "govc"); isExec(g) {
		h.govc = g
	} else if g, err := exec.LookPath("govc"); err == nil {
		h.govc = g
	}
	h.findAnsible()
	return h
}

func isExec(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func (h *peerHarness) govcMissing() string {
	if h.govc == "" {
		return "govc is not installed (make tools, or testdata/bench/install-peers.sh, installs v0.46.0 into bin/tools): the govc peer is skipped"
	}
	return ""
}

func (h *peerHarness) ansibleMissing() string { return h.ansibleWhy }

// findAnsible finds ansible-playbook, the community.vmware collection, and
// a pyvmomi of version 8 or later for the Python Ansible runs modules with
// (/usr/bin/python3 on Debian): the private copy install-peers.sh unpacks
// into bin/tools/pyvmomi, else the system's.
func (h *peerHarness) findAnsible() {
	const hint = " (testdata/bench/install-peers.sh installs Debian's ansible and Debian 13's pyvmomi): the Ansible peer is skipped"
	ap, err := exec.LookPath("ansible-playbook")
	if err != nil {
		h.ansibleWhy = "ansible-playbook is not installed" + hint
		return
	}
	if out, err := exec.Command("ansible-galaxy", "collection", "list", "community.vmware").CombinedOutput(); err != nil || !bytes.Contains(out, []byte("community.vmware")) {
		h.ansibleWhy = "Ansible's community.vmware collection is not installed" + hint
		return
	}
	private := filepath.Join(h.repo, "bin", "tools", "pyvmomi", "usr", "lib", "python3", "dist-packages")
	if _, err := os.Stat(filepath.Join(private, "pyVmomi")); err == nil {
		h.pythonPath = private
	}
	probe := exec.Command(peerPython, "-c", "import importlib.metadata as m, pyVmomi, requests; v = m.version('pyvmomi'); assert int(v.split('.')[0]) >= 8, v; print(v)")
	probe.Env = append(os.Environ(), "PYTHONPATH="+h.pythonPath)
	if out, err := probe.CombinedOutput(); err != nil {
		h.ansibleWhy = fmt.Sprintf("%s has no pyvmomi 8 or later, or not its requests (%s)%s", peerPython, lastLine(string(out)), hint)
		return
	}
	h.ansible = ap
}

// peerPython runs Ansible's modules: Debian's Python, whatever python3
// comes first on PATH.
const peerPython = "/usr/bin/python3"

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// peerRun is one fresh `wavectl sim` and a working folder.
type peerRun struct {
	*simProc
	h   *peerHarness
	w   peerWave
	env []string // the environment the tools run with
}

// start starts `wavectl sim` on the wave's plan with the delays, and waits
// until it serves.
func (h *peerHarness) start(tb testing.TB, w peerWave, delays []string) *peerRun {
	tb.Helper()
	dir := tb.TempDir()
	for name, data := range map[string][]byte{"plan.yaml": w.plan(0), "plan-8.yaml": w.plan(peerInFlight), "vms.txt": w.list()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	sp := startSim(tb, h.wavectl, dir, "plan.yaml", append([]string{"--jitter", peerJitter, "--seed", strconv.Itoa(peerSeed)}, delays...))
	r := &peerRun{simProc: sp, h: h, w: w}
	r.env = append(cleanEnv(os.Environ()), "HOME="+dir, "PATH="+filepath.Join(h.repo, "bin", "tools")+string(os.PathListSeparator)+os.Getenv("PATH"))
	for k, v := range r.conn {
		r.env = append(r.env, k+"="+v)
	}
	return r
}

// simProc is a `wavectl sim` process serving a plan's vCenters.
type simProc struct {
	dir    string
	sim    *exec.Cmd
	exited chan error // the simulator's Wait, reaped by startSim's goroutine
	logs   *lockedBuffer
	conn   map[string]string // the settings it printed (GOVC_*, WAVECTL_VCENTER_*)
}

// startSim starts `wavectl sim --plan planFile` in dir with more flags,
// and waits until it serves (its env file holds its settings). The test's
// cleanup stops it.
func startSim(tb testing.TB, wavectl, dir, planFile string, flags []string) *simProc {
	tb.Helper()
	envFile := filepath.Join(dir, "sim.env")
	args := append([]string{"sim", "--plan", planFile, "--listen", "127.0.0.1:0", "--env-file", envFile}, flags...)
	cmd := exec.Command(wavectl, args...)
	cmd.Dir = dir
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = cleanEnv(os.Environ())
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	r := &simProc{dir: dir, sim: cmd, logs: logs, conn: map[string]string{}}
	tb.Cleanup(func() { r.stop(tb) })
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if data, err := os.ReadFile(envFile); err == nil && bytes.Contains(data, []byte("GOVC_PASSWORD")) {
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
				if ok && !strings.HasPrefix(k, "#") {
					r.conn[k] = strings.Trim(v, "'")
				}
			}
			break
		}
		select {
		case err := <-exited:
			r.sim = nil
			tb.Fatalf("wavectl sim ended before serving (%v):\n%s", err, tail(logs.String(), 4000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("wavectl sim did not serve within 3 minutes:\n%s", tail(logs.String(), 4000))
		}
	}
	r.exited = exited
	return r
}

// cleanEnv drops the connection settings of the environment: the tools see
// only the simulator's.
func cleanEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "WAVECTL_") && !strings.HasPrefix(kv, "GOVC_") && !strings.HasPrefix(kv, "VMWARE_") && !strings.HasPrefix(kv, "HOME=") {
			out = append(out, kv)
		}
	}
	return out
}

// stop interrupts the simulator (it removes its files on the way out) and
// waits for it; a simulator that does not stop within 20s is killed.
func (r *simProc) stop(tb testing.TB) {
	if r.sim == nil {
		return
	}
	_ = r.sim.Process.Signal(syscall.SIGINT)
	select {
	case err := <-r.exited:
		_ = err // stopped by the interrupt: its exit status (130) says no more
	case <-time.After(20 * time.Second):
		_ = r.sim.Process.Kill()
		err := <-r.exited
		tb.Logf("wavectl sim did not stop within 20s of an interrupt; killed it (%v)", err)
	}
	r.sim = nil
}

// exec runs a tool in the run's folder with the simulator's settings,
// failing with its output when it fails.
func (r *peerRun) exec(tb testing.TB, env []string, limit time.Duration, name string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = r.dir, append(append([]string{}, r.env...), env...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s %s: %v\n%s\nsimulator's log:\n%s", filepath.Base(name), strings.Join(args, " "), err, tail(out.String(), 6000), tail(r.logs.String(), 2000))
	}
	return out.String()
}

// wavectl applies the wave's plan: with the default limits, or with
// concurrency in flight.
func (r *peerRun) wavectl(tb testing.TB, concurrency int) {
	tb.Helper()
	planFile := "plan.yaml"
	if concurrency == peerInFlight {
		planFile = "plan-8.yaml"
	} else if concurrency != 0 {
		tb.Fatalf("no plan written for concurrency %d", concurrency)
	}
	r.exec(tb, nil, 30*time.Minute, r.h.wavectl, "apply", "--yes", "--ignore-windows", "--state", "wave.state.json", planFile)
}

// govc runs the govc script on the wave's VM list.
func (r *peerRun) govc(tb testing.TB) {
	tb.Helper()
	script := filepath.Join(r.h.repo, "testdata", "bench", "peers", "govc-redeploy.sh")
	r.exec(tb, []string{"GOVC=" + r.h.govc, "WAVE_PLAN=" + r.w.Name, "PARALLEL=" + strconv.Itoa(peerInFlight)}, 30*time.Minute, script, "vms.txt")
}

// govcCmd runs one govc command against the simulator.
func (r *peerRun) govcCmd(tb testing.TB, args ...string) string {
	tb.Helper()
	return r.exec(tb, nil, time.Minute, r.h.govc, args...)
}

// ansible runs the playbook with 8 forks, its inventory made from the same
// VM list as the govc script's.
func (r *peerRun) ansible(tb testing.TB) {
	tb.Helper()
	peers := filepath.Join(r.h.repo, "testdata", "bench", "peers")
	u, err := url.Parse(r.conn["GOVC_URL"])
	if err != nil {
		tb.Fatal(err)
	}
	env := []string{
		"ANSIBLE_CONFIG=" + filepath.Join(peers, "ansible.cfg"),
		"ANSIBLE_HOME=" + filepath.Join(r.dir, ".ansible"),
		"ANSIBLE_LOCAL_TEMP=" + filepath.Join(r.dir, ".ansible", "tmp"),
		"ANSIBLE_PYTHON_INTERPRETER=" + peerPython,
		"PYTHONPATH=" + r.h.pythonPath,
		"WAVECTL_BENCH_VMS=" + filepath.Join(r.dir, "vms.txt"),
		// community.vmware's modules read their connection from these.
		"VMWARE_HOST=" + u.Hostname(),
		"VMWARE_PORT=" + u.Port(),
		"VMWARE_USER=" + r.conn["GOVC_USERNAME"],
		"VMWARE_PASSWORD=" + r.conn["GOVC_PASSWORD"],
		"VMWARE_VALIDATE_CERTS=false", // the simulator's self-signed certificate
	}
	r.exec(tb, env, 60*time.Minute, r.h.ansible,
		"-i", filepath.Join(peers, "inventory.sh"),
		"-e", "wave_plan="+r.w.Name,
		filepath.Join(peers, "redeploy.yml"))
}

// inventory reads every VM the simulator holds.
func (r *peerRun) inventory(tb testing.TB) []invVM {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	vms, err := readInventory(ctx, r.conn["GOVC_URL"], r.conn["GOVC_USERNAME"], r.conn["GOVC_PASSWORD"])
	if err != nil {
		tb.Fatalf("inventory: %v", err)
	}
	return vms
}

// check reads the inventory and compares it with the one the plan asks
// for, starting from before (the estate as seeded): "" when they match.
// recorded says the old VMs must carry wavectl's record of their
// pre-migration state (only wavectl keeps one).
func (r *peerRun) check(tb testing.TB, before []invVM, recorded bool) string {
	tb.Helper()
	want, err := peerWant(before, r.w, recorded)
	if err != nil {
		tb.Fatal(err)
	}
	got := normalise(r.inventory(tb), r.w)
	return diffInventories(want, got)
}

// peerWant is the inventory a redeploy of the wave leaves, from the seeded
// one: each old VM powered off and marked superseded, a new VM for each in
// the target folder, cluster and datastore, from the template (its
// hardware version and disks), sized as the plan says, its NIC on the
// mapped portgroup, powered on and marked; nothing else changed, nothing
// added.
func peerWant(before []invVM, w peerWave, recorded bool) ([]normVM, error) {
	var tpl *invVM
	old := map[string]peerVM{}
	for _, vm := range w.VMs {
		old[vm.Name] = vm
	}
	var out []invVM
	seen := map[string]bool{}
	for _, v := range before {
		v.Markers = maps(v.Markers)
		switch {
		case v.Template && v.Name == peerTemplate && v.Folder == peerDC+"/vm/templates":
			t := v
			tpl = &t
		case v.Folder == peerSrcDC+"/vm/"+peerSrcFolder:
			p, ok := old[v.Name]
			if !ok {
				break
			}
			seen[v.Name] = true
			if v.Power != string(types.VirtualMachinePowerStatePoweredOn) || len(v.Markers) > 0 {
				return nil, fmt.Errorf("the seeded estate is not what the benchmark expects: %s is %s with markers %v", v.Name, v.Power, v.Markers)
			}
			v.Power = string(types.VirtualMachinePowerStatePoweredOff)
			v.Markers = map[string]string{
				"wavectl.plan": w.Name, "wavectl.application": p.App,
				"wavectl.step": "retire", "wavectl.state": "superseded",
			}
			if recorded {
				v.Markers["wavectl.recorded"] = "ok"
			}
		}
		out = append(out, v)
	}
	if tpl == nil {
		return nil, fmt.Errorf("the seeded estate has no template %s in %s/vm/templates", peerTemplate, peerDC)
	}
	for _, p := range w.VMs {
		if !seen[p.Name] {
			return nil, fmt.Errorf("the seeded estate has no VM %s in %s/vm/%s", p.Name, peerSrcDC, peerSrcFolder)
		}
		out = append(out, invVM{
			Name: p.Name, Folder: peerDC + "/vm/" + peerFolder, Cluster: peerCluster,
			Datastores: []string{p.Datastore}, Power: string(types.VirtualMachinePowerStatePoweredOn),
			Version: tpl.Version, CPUs: p.CPUs, MemoryMB: p.MemoryMB, DisksGB: tpl.DisksGB,
			Networks: []string{p.Portgroup},
			Markers: map[string]string{
				"wavectl.plan": w.Name, "wavectl.application": p.App,
				"wavectl.step": "clone", "wavectl.source": p.Name,
			},
		})
	}
	return normalise(out, w), nil
}

// normalise is the inventory as compared: without the hosts (chosen by
// placement within the cluster) and with wavectl's record of an old VM
// checked and replaced by "ok" when it says what the VM was before the
// migration (powered on, in the source datacenter and folder, its size).
func normalise(vms []invVM, w peerWave) []normVM {
	byName := map[string]peerVM{}
	for _, vm := range w.VMs {
		byName[vm.Name] = vm
	}
	out := make([]normVM, 0, len(vms))
	for _, v := range vms {
		if rec, ok := v.Markers["wavectl.recorded"]; ok && rec != "ok" {
			v.Markers = maps(v.Markers)
			v.Markers["wavectl.recorded"] = checkRecord(rec, byName[v.Name])
		}
		out = append(out, v.normal())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// checkRecord is "ok" when wavectl's record of a source VM says what the
// plan seeded, else the record itself.
func checkRecord(rec string, p peerVM) string {
	var m map[string]string
	if err := json.Unmarshal([]byte(rec), &m); err != nil {
		return rec
	}
	want := map[string]string{
		"powerState": "poweredOn", "datacenter": peerSrcDC, "folder": peerSrcFolder,
		"cpus": strconv.Itoa(p.CPUs), "memoryMB": strconv.Itoa(p.MemoryMB), "networks": p.SrcNet,
	}
	for k, v := range want {
		if m[k] != v {
			return rec
		}
	}
	return "ok"
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
