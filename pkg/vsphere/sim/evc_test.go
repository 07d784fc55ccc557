package sim

import (
	"context"
	"strings"
	"testing"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/vsphere"
)

// The simulator's provisioning checker refuses what vCenter's refuses of a
// live move: a VM needing a newer EVC mode than the target cluster's, a
// target host without the NIC's portgroup, a datastore the host does not
// mount.
func TestCheckRelocateRefusesWhatVCenterRefuses(t *testing.T) {
	e, drivers, _ := estate(t)
	ctx := context.Background()
	legacy := drivers["legacy"]
	ref := moved(t, legacy, "DC-OLD", "app-01")[0].Ref
	spec := vsphere.RelocateSpec{VCenter: "crown", Target: vsphere.Placement{Datacenter: "DC1", Cluster: "C1", Datastore: "ds-01", Folder: "migrated"},
		Networks: map[string]string{"VM Network": "pg-app", "Legacy-DB": "pg-db"}}
	if reasons, err := legacy.CheckMove(ctx, ref, spec, true); err != nil || len(reasons) != 0 {
		t.Fatalf("a compatible move: %v, %v", reasons, err)
	}

	// The VM needs a newer mode than C1 (DefaultTargetEVC) runs.
	src := e.Sim("legacy").Model().Map().Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}).(*simulator.VirtualMachine)
	setMinEVC(src, "intel-sapphirerapids")
	reasons, err := legacy.CheckMove(ctx, ref, spec, true)
	if err != nil || len(reasons) != 1 || !strings.Contains(reasons[0], "needs EVC mode intel-sapphirerapids or later, and cluster C1 runs "+DefaultTargetEVC) {
		t.Errorf("EVC: %v, %v", reasons, err)
	}
	setMinEVC(src, SourceEVC)

	// No host of C1 on pg-db, and none mounting ds-01.
	reg := e.Sim("crown").Model().Map()
	// (DC2 has a pg-db of its own: every one is cut off.)
	cut := map[*simulator.DistributedVirtualPortgroup][]types.ManagedObjectReference{}
	for _, obj := range reg.All("DistributedVirtualPortgroup") {
		if pg := obj.(*simulator.DistributedVirtualPortgroup); pg.Name == "pg-db" {
			cut[pg] = pg.Host
			pg.Host = nil
		}
	}
	reasons, err = legacy.CheckMove(ctx, ref, spec, true)
	for pg, h := range cut {
		pg.Host = h
	}
	if err != nil || len(reasons) != 1 || !strings.Contains(reasons[0], "Network adapter 2' uses network 'pg-db', which is not accessible from host") {
		t.Errorf("portgroup: %v, %v", reasons, err)
	}
	var hosts []*simulator.HostSystem
	for _, obj := range reg.All("HostSystem") {
		hosts = append(hosts, obj.(*simulator.HostSystem))
	}
	saved := map[*simulator.HostSystem][]types.ManagedObjectReference{}
	for _, h := range hosts {
		saved[h] = h.Datastore
		h.Datastore = nil
	}
	reasons, err = legacy.CheckMove(ctx, ref, spec, true)
	for h, ds := range saved {
		h.Datastore = ds
	}
	if err != nil || len(reasons) != 1 || !strings.Contains(reasons[0], "Datastore 'ds-01' is not accessible from host") {
		t.Errorf("datastore: %v, %v", reasons, err)
	}
}

// A running VM grows only with hot-add; a scheduled upgrade waits for the
// guest's next shutdown.
func TestARunningVMGrowsOnlyWithHotAddAndUpgradesAtItsNextShutdown(t *testing.T) {
	_, drivers, _ := estate(t)
	ctx := context.Background()
	legacy := drivers["legacy"]
	ref := moved(t, legacy, "DC-OLD", "app-01")[0].Ref
	err := legacy.Reconfigure(ctx, ref, vsphere.ReconfigureSpec{CPUs: 4})
	if err == nil || !strings.Contains(err.Error(), "CPU hot plug is not supported") {
		t.Fatalf("growing a running VM without hot-add: %v", err)
	}
	if err := legacy.ScheduleHardwareUpgrade(ctx, ref, "vmx-19"); err != nil {
		t.Fatal(err)
	}
	vm, _ := legacy.VM(ctx, ref)
	if vm.ScheduledHardware != "vmx-19" || vm.HardwareVersion == "vmx-19" {
		t.Fatalf("after scheduling: version %s, scheduled %q", vm.HardwareVersion, vm.ScheduledHardware)
	}
	if err := legacy.Shutdown(ctx, ref, 0); err != nil {
		t.Fatal(err)
	}
	vm, _ = legacy.VM(ctx, ref)
	if vm.HardwareVersion != "vmx-19" || vm.ScheduledHardware != "" {
		t.Errorf("after the guest shut down: version %s, scheduled %q", vm.HardwareVersion, vm.ScheduledHardware)
	}
	if err := legacy.Reconfigure(ctx, ref, vsphere.ReconfigureSpec{CPUs: 4}); err != nil {
		t.Errorf("growing a powered-off VM: %v", err)
	}
}
