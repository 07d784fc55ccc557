package sim

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/types"
)

// manyVMsPlan is a plan with n source VMs in one remediate application.
func manyVMsPlan(n int) string {
	var vms []string
	for i := range n {
		vms = append(vms, fmt.Sprintf("src-%02d", i))
	}
	return `apiVersion: wavectl/v1
kind: MigrationPlan
metadata: {name: many}
vcenters: {lab: {url: "https://vc.example/sdk"}}
source: {vcenter: lab, datacenter: DC-OLD}
target: {datacenter: DC1, cluster: C1, datastore: ds1, folder: migrated, networks: {Legacy-DB: pg-db}}
applications:
  - name: many
    strategy: remediate
    vms: [` + strings.Join(vms, ", ") + `]
waves:
  - {name: w1, applications: [many]}
`
}

// cloneTarget is where the tests clone to.
type cloneTarget struct {
	folder *object.Folder
	pool   types.ManagedObjectReference
	ds     types.ManagedObjectReference
	hosts  []*object.HostSystem
}

func target(t *testing.T, ctx context.Context, c *govmomi.Client) cloneTarget {
	t.Helper()
	f := find.NewFinder(c.Client)
	folder, err := f.Folder(ctx, "/DC1/vm/migrated")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := f.ClusterComputeResource(ctx, "/DC1/host/C1")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := cl.ResourcePool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := cl.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := f.Datastore(ctx, "/DC1/datastore/ds1")
	if err != nil {
		t.Fatal(err)
	}
	return cloneTarget{folder: folder, pool: pool.Reference(), ds: ds.Reference(), hosts: hosts}
}

// spec clones into the target's pool and datastore. Odd clones name a
// host, even ones leave it to the simulator (which widens the window in
// which its new VM has no name).
func (ct cloneTarget) spec(i int) types.VirtualMachineCloneSpec {
	spec := types.VirtualMachineCloneSpec{Location: types.VirtualMachineRelocateSpec{
		Pool: &ct.pool, Datastore: &ct.ds,
	}}
	if i%2 == 1 {
		host := ct.hosts[i%len(ct.hosts)].Reference()
		spec.Location.Host = &host
	}
	return spec
}

func sources(t *testing.T, ctx context.Context, c *govmomi.Client) []*object.VirtualMachine {
	t.Helper()
	vms, err := find.NewFinder(c.Client).VirtualMachineList(ctx, "/DC-OLD/vm/src-*")
	if err != nil {
		t.Fatal(err)
	}
	return vms
}

// Without the guard this crashes the test binary about one round in ten
// (govmomi v0.56.0: a clone task meets another clone's VM before it has a
// name, and the simulator panics in a task goroutine). The test passing,
// rounds after rounds, is the assertion that it no longer can.
func TestConcurrentClonesFromManySourcesIntoOneFolder(t *testing.T) {
	const clones, inFlight, rounds = 40, 8, 5
	ctx := context.Background()
	_, c := start(t, planFromYAML(t, manyVMsPlan(clones)), Options{})
	srcs := sources(t, ctx, c)
	if len(srcs) != clones {
		t.Fatalf("%d source VMs, want %d", len(srcs), clones)
	}
	ct := target(t, ctx, c)

	var want []string
	for round := range rounds {
		sem := make(chan struct{}, inFlight)
		errs := make(chan error, clones)
		var wg sync.WaitGroup
		for i, src := range srcs {
			name := fmt.Sprintf("r%d-%s", round, src.Name())
			want = append(want, name)
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				task, err := src.Clone(ctx, ct.folder, name, ct.spec(i))
				if err == nil {
					err = task.Wait(ctx)
				}
				if err != nil {
					errs <- fmt.Errorf("clone %s: %w", name, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}

	children, err := ct.folder.Children(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ch := range children {
		if vm, ok := ch.(*object.VirtualMachine); ok {
			name, err := vm.ObjectName(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, name)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("folder holds %d VMs, want the %d clones", len(got), len(want))
	}
}

// vCenter checks a clone's name and creates it in one step; so does the
// guarded simulator, so racing clones of one name cannot both succeed.
func TestConcurrentClonesWithOneNameMakeOneVM(t *testing.T) {
	const racers = 8
	ctx := context.Background()
	_, c := start(t, planFromYAML(t, manyVMsPlan(racers)), Options{})
	srcs := sources(t, ctx, c)
	ct := target(t, ctx, c)
	errs := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			task, err := src.Clone(ctx, ct.folder, "the-one", ct.spec(i))
			if err == nil {
				err = task.Wait(ctx)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		var terr task.Error
		switch {
		case err == nil:
			won++
		case errors.As(err, &terr):
			if _, ok := terr.Fault().(*types.DuplicateName); !ok {
				t.Errorf("a losing clone failed with %T (%v), want DuplicateName", terr.Fault(), err)
			}
		default:
			t.Errorf("clone: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d clones named the-one succeeded, want 1", won)
	}
}

// Looking a VM up by path while clones land in its folder reads the
// folder's children too; it must not crash either.
func TestFindWhileCloning(t *testing.T) {
	const clones = 24
	ctx := context.Background()
	_, c := start(t, planFromYAML(t, manyVMsPlan(clones)), Options{})
	srcs := sources(t, ctx, c)
	ct := target(t, ctx, c)
	si := object.NewSearchIndex(c.Client)
	done := make(chan struct{})
	var lookups sync.WaitGroup
	lookups.Add(1)
	go func() {
		defer lookups.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := si.FindByInventoryPath(ctx, "/DC1/vm/migrated/c-src-00"); err != nil {
				t.Error(err)
				return
			}
			if _, err := si.FindChild(ctx, ct.folder, "c-src-01"); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			task, err := src.Clone(ctx, ct.folder, "c-"+src.Name(), ct.spec(i))
			if err == nil {
				err = task.Wait(ctx)
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(done)
	lookups.Wait()
	ref, err := si.FindByInventoryPath(ctx, "/DC1/vm/migrated/c-src-00")
	if err != nil || ref == nil {
		t.Errorf("clone not found by path: %v, %v", ref, err)
	}
}

// Requests the simulator would crash on come back as vSphere faults.
func TestBadRequestsFailCleanly(t *testing.T) {
	ctx := context.Background()
	_, c := start(t, planFromYAML(t, manyVMsPlan(2)), Options{})
	ct := target(t, ctx, c)
	src := vmAt(t, ctx, c, "/DC-OLD/vm/src-00")

	// No datastore named: the clone would go to the source's, which the
	// target datacenter does not have.
	spec := ct.spec(0)
	spec.Location.Datastore = nil
	if _, err := src.Clone(ctx, ct.folder, "no-ds", spec); err == nil || !strings.Contains(err.Error(), "not in datacenter DC1") {
		t.Errorf("clone without a target datastore: %v", err)
	}

	// A NIC on a network the target datacenter lacks.
	spec = ct.spec(0)
	spec.Location.DeviceChange = []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{
		Operation: types.VirtualDeviceConfigSpecOperationAdd,
		Device: &types.VirtualVmxnet3{VirtualVmxnet: types.VirtualVmxnet{VirtualEthernetCard: types.VirtualEthernetCard{
			VirtualDevice: types.VirtualDevice{Backing: &types.VirtualEthernetCardNetworkBackingInfo{
				VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "no-such-net"},
			}},
		}}},
	}}
	if _, err := src.Clone(ctx, ct.folder, "no-net", spec); err == nil || !strings.Contains(err.Error(), "no-such-net") {
		t.Errorf("clone onto a missing network: %v", err)
	}

	// A source VM on a network the target lacks: the simulator would crash
	// creating the clone's inherited NIC.
	onCareDB := vmAt(t, ctx, c, "/DC-OLD/vm/src-01")
	must(t, "move a NIC", done(onCareDB.Reconfigure(ctx, types.VirtualMachineConfigSpec{DeviceChange: nicOn(t, ctx, onCareDB, "Legacy-DB")})))
	if _, err := onCareDB.Clone(ctx, ct.folder, "legacy-nic", ct.spec(0)); err == nil || !strings.Contains(err.Error(), "Legacy-DB") {
		t.Errorf("clone of a VM on a source-only network: %v", err)
	}

	// A relocate to a "datastore" that is a folder.
	folderRef := ct.folder.Reference()
	if _, err := src.Relocate(ctx, types.VirtualMachineRelocateSpec{Datastore: &folderRef}, types.VirtualMachineMovePriorityDefaultPriority); err == nil {
		t.Error("relocate onto a folder: no error")
	}

	// The simulator still works.
	task, err := src.Clone(ctx, ct.folder, "fine", ct.spec(0))
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Errorf("a good clone after the bad ones: %v", err)
	}
}

// nicOn moves a VM's first NIC to the named standard network.
func nicOn(t *testing.T, ctx context.Context, vm *object.VirtualMachine, network string) []types.BaseVirtualDeviceConfigSpec {
	t.Helper()
	devices, err := vm.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nic := devices.SelectByType((*types.VirtualEthernetCard)(nil))[0]
	nic.GetVirtualDevice().Backing = &types.VirtualEthernetCardNetworkBackingInfo{
		VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: network},
	}
	return []types.BaseVirtualDeviceConfigSpec{&types.VirtualDeviceConfigSpec{
		Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: nic,
	}}
}
