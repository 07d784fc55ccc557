package main

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

// sims are the simulators scripts started, by script.
var sims sync.Map // *testscript.TestScript -> *sim.Sim

// cmdStartSim starts a vCenter simulator seeded from a plan, in this test
// process, and points the script's GOVC_* variables at it, as the lines
// `wavectl sim` prints would. It stops when the script ends.
//
//	startsim PLAN
func cmdStartSim(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: startsim PLAN")
	}
	p, _, err := plan.LoadFile(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("startsim: %v", err)
	}
	s, err := sim.New(p, sim.Options{})
	if err != nil {
		ts.Fatalf("startsim: %v", err)
	}
	ts.Defer(func() { s.Close() })
	if _, err := s.Start(sim.DefaultListen); err != nil {
		ts.Fatalf("startsim: %v", err)
	}
	sims.Store(ts, s)
	setEnvLines(ts, s.Env())
}

func setEnvLines(ts *testscript.TestScript, lines []string) {
	for _, line := range lines {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			continue
		}
		ts.Setenv(k, strings.Trim(v, "'"))
	}
}

// cmdLoadEnv sets the variables of `export NAME=value` lines in a file,
// such as the one `wavectl sim --env-file` writes.
//
//	loadenv FILE
func cmdLoadEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: loadenv FILE")
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(ts.ReadFile(args[0])))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	setEnvLines(ts, lines)
}

// cmdWaitFile waits up to a minute for a file to exist and be non-empty:
// for a background command to get ready.
//
//	waitfile FILE
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if st, err := os.Stat(ts.MkAbs(args[0])); err == nil && st.Size() > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("waitfile: %s did not appear within a minute", args[0])
}

// cmdInventory writes what vCenter (at $GOVC_URL) holds, read
// independently of wavectl through govmomi's property collector: every VM
// with its folder path, host, datastores, power state, hardware version,
// size, networks, snapshot count and wavectl markers, sorted, one per line.
//
//	inventory FILE
func cmdInventory(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: inventory FILE")
	}
	u, err := url.Parse(ts.Getenv("GOVC_URL"))
	if err != nil || u.Host == "" {
		ts.Fatalf("inventory: GOVC_URL %q: run startsim or loadenv first", ts.Getenv("GOVC_URL"))
	}
	u.User = url.UserPassword(ts.Getenv("GOVC_USERNAME"), ts.Getenv("GOVC_PASSWORD"))
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		ts.Fatalf("inventory: %v", err)
	}
	defer func() { _ = c.Logout(ctx) }()
	v, err := view.NewManager(c.Client).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		ts.Fatalf("inventory: %v", err)
	}
	defer func() { _ = v.Destroy(ctx) }()
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "parent", "runtime.host", "datastore", "runtime.powerState", "config", "snapshot"}, &vms); err != nil {
		ts.Fatalf("inventory: %v", err)
	}
	pgv, err := view.NewManager(c.Client).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"DistributedVirtualPortgroup"}, true)
	if err != nil {
		ts.Fatalf("inventory: %v", err)
	}
	defer func() { _ = pgv.Destroy(ctx) }()
	var pgs []mo.DistributedVirtualPortgroup
	if err := pgv.Retrieve(ctx, []string{"DistributedVirtualPortgroup"}, []string{"name", "key"}, &pgs); err != nil {
		ts.Fatalf("inventory: %v", err)
	}
	portgroups := map[string]string{}
	for _, pg := range pgs {
		portgroups[pg.Key] = pg.Name
	}
	names := map[types.ManagedObjectReference]string{}
	name := func(ref *types.ManagedObjectReference) string {
		if ref == nil {
			return "-"
		}
		if n, ok := names[*ref]; ok {
			return n
		}
		var e mo.ManagedEntity
		if err := c.RetrieveOne(ctx, *ref, []string{"name"}, &e); err != nil {
			ts.Fatalf("inventory: %v", err)
		}
		names[*ref] = e.Name
		return e.Name
	}
	var lines []string
	for _, vm := range vms {
		var ds, nets, markers []string
		for i := range vm.Datastore {
			ds = append(ds, name(&vm.Datastore[i]))
		}
		if vm.Config != nil {
			// Each NIC's backing, not the VM's network list (which the
			// simulator leaves empty), says where it is connected.
			for _, dev := range vm.Config.Hardware.Device {
				nic, ok := dev.(types.BaseVirtualEthernetCard)
				if !ok {
					continue
				}
				switch b := nic.GetVirtualEthernetCard().Backing.(type) {
				case *types.VirtualEthernetCardNetworkBackingInfo:
					nets = append(nets, b.DeviceName)
				case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
					nets = append(nets, portgroups[b.Port.PortgroupKey])
				}
			}
		}
		sort.Strings(nets)
		line := fmt.Sprintf("%s folder=%s host=%s ds=%s power=%s", vm.Name, name(vm.Parent), name(vm.Runtime.Host), strings.Join(ds, ","), vm.Runtime.PowerState)
		if cfg := vm.Config; cfg != nil {
			for _, o := range cfg.ExtraConfig {
				if kv := o.GetOptionValue(); strings.HasPrefix(kv.Key, "wavectl.") {
					markers = append(markers, fmt.Sprintf("%s=%v", kv.Key, kv.Value))
				}
			}
			sort.Strings(markers)
			var disks []string
			for _, dev := range cfg.Hardware.Device {
				if d, ok := dev.(*types.VirtualDisk); ok {
					disks = append(disks, fmt.Sprint(d.CapacityInKB/(1<<20)))
				}
			}
			line += fmt.Sprintf(" template=%t version=%s cpus=%d memoryMB=%d disksGB=%s", cfg.Template, cfg.Version, cfg.Hardware.NumCPU, cfg.Hardware.MemoryMB, strings.Join(disks, ","))
		}
		snaps := 0
		if vm.Snapshot != nil {
			snaps = len(vm.Snapshot.RootSnapshotList)
		}
		line += fmt.Sprintf(" nets=%s snapshots=%d markers=%s", strings.Join(nets, ","), snaps, strings.Join(markers, ","))
		lines = append(lines, line)
	}
	sort.Strings(lines)
	if err := os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		ts.Fatalf("inventory: %v", err)
	}
}

// cmdSleep waits, to let a background command get going.
//
//	sleep DURATION
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		ts.Fatalf("sleep: %v", err)
	}
	time.Sleep(d)
}
