package vsphere_test

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/vsphere"
	"github.com/wavectl/wavectl/pkg/vsphere/vspheretest"
)

// sim is an in-process vCenter simulator and a logged-in client.
type sim struct {
	model  *simulator.Model
	server *simulator.Server
	client *govmomi.Client
}

// newSim starts a VPX simulator: by default two datacenters, each with a
// standalone host, a cluster of three hosts, two datastores and a
// distributed portgroup; VMs are powered on.
func newSim(t testing.TB, configure func(*simulator.Model)) *sim {
	t.Helper()
	m := simulator.VPX()
	m.Datacenter = 2
	m.Datastore = 2
	if configure != nil {
		configure(m)
	}
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Remove)
	s := m.Service.NewServer()
	t.Cleanup(s.Close)
	c, err := govmomi.NewClient(context.Background(), s.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	return &sim{model: m, server: s, client: c}
}

func (s *sim) finder(t testing.TB, dc string) (*find.Finder, *object.Datacenter) {
	t.Helper()
	ctx := context.Background()
	f := find.NewFinder(s.client.Client)
	d, err := f.Datacenter(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(d)
	return f, d
}

func (s *sim) vm(t testing.TB, dc, name string) *object.VirtualMachine {
	t.Helper()
	f, _ := s.finder(t, dc)
	vm, err := f.VirtualMachine(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// wait returns a function that waits for a task a call started:
// wait(t)(vm.PowerOff(ctx)).
func wait(t testing.TB) func(*object.Task, error) {
	return func(task *object.Task, err error) {
		t.Helper()
		if err == nil {
			err = task.Wait(context.Background())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// session connects to the simulator as wavectl does (vsphere.Connect:
// keepalive, re-login), logged out when the test ends.
func (s *sim) session(t testing.TB) *vsphere.Session {
	t.Helper()
	u := *s.server.URL
	pass, _ := u.User.Password()
	settings := vsphere.Settings{Username: u.User.Username(), Password: pass, Insecure: true}
	u.User = nil
	settings.URL = u.String()
	sess, err := vsphere.Connect(context.Background(), "sim", settings, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Logout(context.Background()) })
	return sess
}

// folder makes a VM folder path under a datacenter's vm folder.
func (s *sim) folder(t testing.TB, dc, path string) {
	t.Helper()
	ctx := context.Background()
	_, d := s.finder(t, dc)
	folders, err := d.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := folders.VmFolder
	for _, name := range strings.Split(path, "/") {
		if f, err = f.CreateFolder(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
}

// portgroup adds a distributed portgroup to the datacenter's switch.
func (s *sim) portgroup(t testing.TB, dc, name string) {
	t.Helper()
	ctx := context.Background()
	f, _ := s.finder(t, dc)
	dvs, err := f.Network(ctx, "DVS0")
	if err != nil {
		t.Fatal(err)
	}
	task, err := dvs.(*object.DistributedVirtualSwitch).AddPortgroup(ctx, []types.DVPortgroupConfigSpec{{
		Name: name, Type: string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding), NumPorts: 16,
	}})
	wait(t)(task, err)
}

// guest gives a VM running tools and an IP, through the simulator-only
// SET.guest.* extraConfig keys.
func (s *sim) guest(t testing.TB, vm *object.VirtualMachine, ip string) {
	t.Helper()
	task, err := vm.Reconfigure(context.Background(), types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
		&types.OptionValue{Key: "SET.guest.toolsRunningStatus", Value: string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)},
		&types.OptionValue{Key: "SET.guest.ipAddress", Value: ip},
	}})
	wait(t)(task, err)
}

// simFixture builds the conformance suite's fixture on a fresh simulator.
func simFixture(t *testing.T) vspheretest.Fixture {
	s := newSim(t, nil)
	ctx := context.Background()
	s.portgroup(t, "DC0", "DC0_DVPG1")
	s.folder(t, "DC0", "migrated/conveyor")
	s.folder(t, "DC1", "landing")

	src := s.vm(t, "DC0", "DC0_C0_RP0_VM0")
	s.guest(t, src, "10.0.0.42")

	tpl := s.vm(t, "DC0", "DC0_C0_RP0_VM1")
	wait(t)(tpl.PowerOff(ctx))
	if err := tpl.MarkAsTemplate(ctx); err != nil {
		t.Fatal(err)
	}

	return vspheretest.Fixture{
		Driver:          vsphere.NewGovmomi("sim", s.client.Client),
		Client:          s.client.Client,
		Datacenter:      "DC0",
		SourceVM:        "DC0_C0_RP0_VM0",
		SourceIP:        "10.0.0.42",
		Template:        "DC0_C0_RP0_VM1",
		Network:         "DC0_DVPG0",
		Portgroup:       "DC0_DVPG1",
		StandardNetwork: "VM Network",
		Cluster:         "DC0_C0",
		Host:            "DC0_C0_H0",
		Datastore:       "LocalDS_0",
		Folder:          "migrated/conveyor",
		OtherHost:       "DC0_C0_H1",
		OtherDatastore:  "LocalDS_1",
		Remote:          &vsphere.Placement{Datacenter: "DC1", Cluster: "DC1_C0", Host: "DC1_C0_H2", Datastore: "LocalDS_1", Folder: "landing"},
		// The simulator checks a distributed portgroup in a relocate's
		// device changes against the VM's host before the move (vCenter:
		// the destination host), so the cross-datacenter move remaps onto
		// DC1's standard network; DC1_DVPG0 fails there with
		// InvalidArgument spec.deviceChange.device.port.switchUuid.
		RemotePortgroup:   "VM Network",
		HardwareVersion:   "vmx-15",
		OVA:               tinyOVA(t),
		OVANetwork:        "VM Network",
		CustomizationWait: 0,
	}
}

// TestGovmomiConformance runs the suite on one simulator for all its
// tests, as it would run on a shared vCenter: each test makes, checks and
// destroys its own VMs.
func TestGovmomiConformance(t *testing.T) {
	f := simFixture(t)
	vspheretest.Run(t, func(*testing.T) vspheretest.Fixture { return f })
}

// tinyOVA writes a one-VM OVA (1 vCPU, 256 MB, a 1 GB disk, a vmxnet3 NIC
// on the OVF network "VM Network") and returns its path.
func tinyOVA(t testing.TB) string {
	t.Helper()
	disk := []byte("# Disk DescriptorFile\nversion=1\n") // the simulator discards disk content
	ovf := fmt.Sprintf(tinyOVF, len(disk))
	path := filepath.Join(t.TempDir(), "tiny.ova")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{{"tiny.ovf", []byte(ovf)}, {"tiny-disk1.vmdk", disk}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

const tinyOVF = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>
    <File ovf:href="tiny-disk1.vmdk" ovf:id="file1" ovf:size="%d"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The VM Network network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="tiny">
    <Info>A virtual machine</Info>
    <Name>tiny</Name>
    <OperatingSystemSection ovf:id="101" vmw:osType="otherLinux64Guest">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>tiny</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>1 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>256MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>256</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:ElementName>ethernet0</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`

// silentVM ignores guest shutdown requests, like a guest that hangs.
type silentVM struct {
	*simulator.VirtualMachine
}

func (vm *silentVM) ShutdownGuest(ctx *simulator.Context, req *types.ShutdownGuest) soap.HasFault {
	return &methods.ShutdownGuestBody{Res: new(types.ShutdownGuestResponse)}
}

func TestShutdownPowersOffAHungGuestAfterTheTimeout(t *testing.T) {
	s := newSim(t, func(m *simulator.Model) { m.Datacenter = 1 })
	vm := s.vm(t, "DC0", "DC0_C0_RP0_VM0")
	s.guest(t, vm, "10.0.0.7")
	obj := s.model.Map().Get(vm.Reference()).(*simulator.VirtualMachine)
	s.model.Map().Put(&silentVM{obj})

	d := vsphere.NewGovmomi("sim", s.client.Client)
	start := time.Now()
	if err := d.Shutdown(context.Background(), vm.Reference().Value, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	got, err := d.VM(context.Background(), vm.Reference().Value)
	if err != nil {
		t.Fatal(err)
	}
	if got.PowerState != vsphere.PoweredOff {
		t.Errorf("power state %s, want poweredOff", got.PowerState)
	}
	if took < 1500*time.Millisecond || took > 10*time.Second {
		t.Errorf("took %s: want the 1.5s timeout, then a power off", took)
	}
}

func TestShutdownWithToolsAsksTheGuest(t *testing.T) {
	s := newSim(t, func(m *simulator.Model) { m.Datacenter = 1 })
	vm := s.vm(t, "DC0", "DC0_C0_RP0_VM0")
	s.guest(t, vm, "10.0.0.7")
	d := vsphere.NewGovmomi("sim", s.client.Client)
	// Count the calls: a guest shutdown, and no PowerOff task.
	rt := &recorder{RoundTripper: s.client.Client.RoundTripper}
	s.client.Client.RoundTripper = rt
	if err := d.Shutdown(context.Background(), vm.Reference().Value, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	calls := rt.calls()
	if !strings.Contains(calls, "ShutdownGuest") || strings.Contains(calls, "PowerOffVM_Task") {
		t.Errorf("calls %s: want ShutdownGuest and no PowerOffVM_Task", calls)
	}
}

// busyVM fails every reconfigure task with TaskInProgress, as vCenter does
// when another task holds the VM.
type busyVM struct {
	*simulator.VirtualMachine
}

func (vm *busyVM) ReconfigVMTask(ctx *simulator.Context, req *types.ReconfigVM_Task) soap.HasFault {
	task := simulator.CreateTask(req.This, "reconfigVM", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, &types.TaskInProgress{}
	})
	return &methods.ReconfigVM_TaskBody{Res: &types.ReconfigVM_TaskResponse{Returnval: task.Run(ctx)}}
}

func TestAFailedTaskIsClassified(t *testing.T) {
	s := newSim(t, func(m *simulator.Model) { m.Datacenter = 1 })
	vm := s.vm(t, "DC0", "DC0_C0_RP0_VM0")
	obj := s.model.Map().Get(vm.Reference()).(*simulator.VirtualMachine)
	s.model.Map().Put(&busyVM{obj})
	d := vsphere.NewGovmomi("sim", s.client.Client)
	ctx := context.Background()

	err := d.Reconfigure(ctx, vm.Reference().Value, vsphere.ReconfigureSpec{CPUs: 3})
	var f *vsphere.Fault
	if !errors.As(err, &f) || f.Kind != "TaskInProgress" || !f.Transient || f.Op != "reconfigure" {
		t.Errorf("busy reconfigure: %#v, want a transient TaskInProgress fault", err)
	}

	// A permanent one: powering on a template is an InvalidState fault
	// from the API call itself, with the simulator's text.
	tpl := s.vm(t, "DC0", "DC0_C0_RP0_VM1")
	wait(t)(tpl.PowerOff(ctx))
	if err := tpl.MarkAsTemplate(ctx); err != nil {
		t.Fatal(err)
	}
	err = d.PowerOn(ctx, tpl.Reference().Value)
	if !errors.As(err, &f) || f.Kind != "InvalidState" || f.Transient || f.Message != "cannot powerOn a template" {
		t.Errorf("power on a template: %#v, want a permanent InvalidState fault with the simulator's text", err)
	}
}

// recorder counts the SOAP calls a client makes.
type recorder struct {
	soap.RoundTripper
	mu    sync.Mutex
	names []string
}

func (r *recorder) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	name := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", req), "*methods."), "Body")
	r.mu.Lock()
	r.names = append(r.names, name)
	r.mu.Unlock()
	return r.RoundTripper.RoundTrip(ctx, req, res)
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.names = nil
	r.mu.Unlock()
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.names)
}

func (r *recorder) calls() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.names, " ")
}

// inventoryCalls builds a simulator with n VMs (spread over folders) and
// counts the SOAP calls of a first and a second Inventory, and of a
// FindByMarker and a FindVMs.
func inventoryCalls(t *testing.T, n int) (first, second, byMarker, byName int, calls string) {
	s := newSim(t, func(m *simulator.Model) {
		m.Datacenter, m.Host, m.Cluster, m.ClusterHost, m.Machine = 1, 0, 1, 4, n
		m.Autostart = false
	})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		s.folder(t, "DC0", fmt.Sprintf("app-%d", i))
	}
	f, _ := s.finder(t, "DC0")
	vms, err := f.VirtualMachineList(ctx, "*")
	if err != nil {
		t.Fatal(err)
	}
	for i, vm := range vms {
		if i%10 == 0 {
			folder, err := f.Folder(ctx, fmt.Sprintf("/DC0/vm/app-%d", i/10%5))
			if err != nil {
				t.Fatal(err)
			}
			wait(t)(folder.MoveInto(ctx, []types.ManagedObjectReference{vm.Reference()}))
		}
	}
	rt := &recorder{RoundTripper: s.client.Client.RoundTripper}
	s.client.Client.RoundTripper = rt
	d := vsphere.NewGovmomi("sim", s.client.Client)
	count := func(fn func() int) int {
		rt.reset()
		if got := fn(); got != n {
			t.Fatalf("read %d VMs, want %d", got, n)
		}
		return rt.count()
	}
	inv := func() int {
		inv, err := d.Inventory(ctx, "DC0")
		if err != nil {
			t.Fatal(err)
		}
		return len(inv.VMs)
	}
	first = count(inv)
	calls = rt.calls()
	second = count(inv)
	byMarker = count(func() int {
		// It reads every VM's extraConfig, whatever it finds.
		found, err := d.FindByMarker(ctx, "DC0", vsphere.MarkerPlan, "nobody")
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 0 {
			t.Fatalf("FindByMarker found %d VMs of plan nobody", len(found))
		}
		return n
	})
	byName = count(func() int {
		found, err := d.FindVMs(ctx, "DC0", vms[n/2].Name())
		if err != nil || len(found) != 1 {
			t.Fatalf("FindVMs %s: %v %v", vms[n/2].Name(), found, err)
		}
		return n
	})
	return
}

func TestInventoryReadsInBulk(t *testing.T) {
	var results [2][4]int
	for i, n := range []int{20, 200} {
		first, second, byMarker, byName, calls := inventoryCalls(t, n)
		results[i] = [4]int{first, second, byMarker, byName}
		t.Logf("%d VMs: Inventory %d SOAP calls the first time (%s), %d after; FindByMarker %d; FindVMs %d",
			n, first, calls, second, byMarker, byName)
	}
	if results[0] != results[1] {
		t.Errorf("SOAP calls grow with the number of VMs: 20 VMs %v, 200 VMs %v (Inventory first, again, FindByMarker, FindVMs)", results[0], results[1])
	}
	if results[1][1] > 3 {
		t.Errorf("Inventory of a known datacenter made %d calls, want at most 3 (create view, retrieve, destroy view)", results[1][1])
	}
}

func TestCrossVCenterRelocateSendsTheServiceLocator(t *testing.T) {
	src := newSim(t, func(m *simulator.Model) { m.Datacenter = 1 })
	dst := newSim(t, func(m *simulator.Model) { m.Datacenter = 1 })
	dst.folder(t, "DC0", "arrivals")
	ctx := context.Background()
	d := vsphere.NewGovmomi("old", src.client.Client)
	peer := vsphere.NewGovmomi("new", dst.client.Client)
	vm := src.vm(t, "DC0", "DC0_C0_RP0_VM0")
	spec := vsphere.RelocateSpec{
		Target:   vsphere.Placement{Datacenter: "DC0", Cluster: "DC0_C0", Host: "DC0_C0_H1", Datastore: "LocalDS_0", Folder: "arrivals"},
		Networks: map[string]string{"DC0_DVPG0": "VM Network"},
		Service:  &vsphere.ServiceLocator{URL: "https://vc-new.example/sdk", Thumbprint: "AA:BB", Username: "u", Password: "p"},
	}
	if err := d.Relocate(ctx, vm.Reference().Value, spec); !strings.Contains(fmt.Sprint(err), "needs a connection") {
		t.Errorf("relocate to an unknown vCenter: %v", err)
	}

	// The simulator ignores the ServiceLocator and would look the peer's
	// references up in its own inventory, so the call is caught on the
	// way out and checked instead of sent.
	d.AddPeer("new", peer, vsphere.PeerAccess{URL: "https://vc-new.example/sdk"})
	var sent *types.RelocateVM_Task
	src.client.Client.RoundTripper = interceptor{src.client.Client.RoundTripper, func(req soap.HasFault) bool {
		if r, ok := req.(*methods.RelocateVM_TaskBody); ok {
			sent = r.Req
			return true
		}
		return false
	}}
	err := d.Relocate(ctx, vm.Reference().Value, spec)
	if !errors.Is(err, errIntercepted) {
		t.Fatalf("relocate: %v", err)
	}
	want := func(kind, path string) types.ManagedObjectReference {
		obj, err := find.NewFinder(dst.client.Client).ManagedObjectList(ctx, path)
		if err != nil || len(obj) != 1 {
			t.Fatalf("%s %s in the peer: %v", kind, path, err)
		}
		return obj[0].Object.Reference()
	}
	s := sent.Spec
	if s.Service == nil || s.Service.Url != spec.Service.URL || s.Service.SslThumbprint != "AA:BB" ||
		s.Service.InstanceUuid != strings.ToUpper(dst.client.Client.ServiceContent.About.InstanceUuid) {
		t.Errorf("service locator %+v", s.Service)
	}
	if cred, ok := s.Service.Credential.(*types.ServiceLocatorNamePassword); !ok || cred.Username != "u" || cred.Password != "p" {
		t.Errorf("credential %+v", s.Service.Credential)
	}
	if *s.Host != want("host", "/DC0/host/DC0_C0/DC0_C0_H1") || *s.Folder != want("folder", "/DC0/vm/arrivals") ||
		*s.Datastore != want("datastore", "/DC0/datastore/LocalDS_0") {
		t.Errorf("placement %v %v %v, want the peer's objects", s.Host, s.Folder, s.Datastore)
	}
	if len(s.DeviceChange) != 1 {
		t.Fatalf("device changes %v, want the NIC remapped", s.DeviceChange)
	}
	b := s.DeviceChange[0].GetVirtualDeviceConfigSpec().Device.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().Backing
	if nb, ok := b.(*types.VirtualEthernetCardNetworkBackingInfo); !ok || nb.DeviceName != "VM Network" {
		t.Errorf("NIC backing %#v, want the peer's VM Network", b)
	}
}

var errIntercepted = errors.New("intercepted")

type interceptor struct {
	soap.RoundTripper
	catch func(soap.HasFault) bool
}

func (i interceptor) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	if i.catch(req) {
		return errIntercepted
	}
	return i.RoundTripper.RoundTrip(ctx, req, res)
}

var _ soap.RoundTripper = (*recorder)(nil)

// TestGovmomiIsSafeForConcurrentUse runs many VMs' steps at once through
// one driver (run it with -race). Container-view reads and folder moves are
// kept apart: the simulator itself races there (CreateContainerView walks a
// folder's children without the lock MoveIntoFolder holds to change them).
func TestGovmomiIsSafeForConcurrentUse(t *testing.T) {
	s := newSim(t, func(m *simulator.Model) { m.Datacenter, m.Machine = 1, 8 })
	ctx := context.Background()
	d := vsphere.NewGovmomi("sim", s.client.Client)
	s.folder(t, "DC0", "moved")
	inv, err := d.Inventory(ctx, "DC0")
	if err != nil {
		t.Fatal(err)
	}
	each := func(step func(vm *vsphere.VM) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, len(inv.VMs))
		for _, vm := range inv.VMs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- step(vm)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	}
	each(func(vm *vsphere.VM) error {
		if _, err := d.FindVMs(ctx, "DC0", vm.Name); err != nil {
			return err
		}
		if err := d.PowerOff(ctx, vm.Ref); err != nil {
			return err
		}
		if err := d.SetMarkers(ctx, vm.Ref, map[string]string{vsphere.MarkerStep: vm.Name}); err != nil {
			return err
		}
		_, err := d.Inventory(ctx, "DC0")
		return err
	})
	each(func(vm *vsphere.VM) error {
		if err := d.MoveToFolder(ctx, vm.Ref, "DC0", "moved"); err != nil {
			return err
		}
		got, err := d.VM(ctx, vm.Ref)
		if err != nil {
			return err
		}
		if got.PowerState != vsphere.PoweredOff || got.Folder != "moved" || got.Markers[vsphere.MarkerStep] != vm.Name {
			return fmt.Errorf("%s: %+v", vm.Name, got)
		}
		return nil
	})
}

// sessionKiller ends the session, from an administrator's client, right
// after the first read of a task wait returns: the next read finds the
// session gone, logs in again and carries on.
type sessionKiller struct {
	soap.RoundTripper
	admin  *govmomi.Client
	victim *govmomi.Client
	done   bool
}

func (k *sessionKiller) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	err := k.RoundTripper.RoundTrip(ctx, req, res)
	if r, ok := req.(*methods.RetrievePropertiesExBody); ok && readsTask(r.Req) && !k.done && err == nil {
		k.done = true
		us, uerr := session.NewManager(k.victim.Client).UserSession(ctx)
		if uerr == nil && us != nil {
			_, uerr = methods.TerminateSession(ctx, k.admin.Client, &types.TerminateSession{
				This: *k.admin.Client.ServiceContent.SessionManager, SessionId: []string{us.Key}})
		}
		if uerr != nil {
			return fmt.Errorf("terminate the session: %w", uerr)
		}
	}
	return err
}

// readsTask reports whether a read asks for a task's properties.
func readsTask(req *types.RetrievePropertiesEx) bool {
	for _, spec := range req.SpecSet {
		for _, ps := range spec.PropSet {
			if ps.Type == "Task" {
				return true
			}
		}
	}
	return false
}

func TestASessionEndingWhileATaskRunsDoesNotFailTheStep(t *testing.T) {
	s := newSim(t, func(m *simulator.Model) { m.Datacenter = 1 })
	ctx := context.Background()
	sess := s.session(t)

	// The clone runs for a second, so the wait reads it more than once.
	old := simulator.TaskDelay
	simulator.TaskDelay = simulator.DelayConfig{MethodDelay: map[string]int{"CloneVm": 1000, "LockHandoff": 0}}
	t.Cleanup(func() { simulator.TaskDelay = old })

	c := sess.Client()
	victim := &govmomi.Client{Client: c, SessionManager: session.NewManager(c)}
	c.RoundTripper = &sessionKiller{RoundTripper: c.RoundTripper, admin: s.client, victim: victim}
	d := vsphere.NewGovmomi("sim", c)
	src := s.vm(t, "DC0", "DC0_C0_RP0_VM0")
	vm, err := d.Clone(ctx, vsphere.CloneSpec{
		Source: src.Reference().Value, Name: "survivor",
		Target: vsphere.Placement{Datacenter: "DC0", Cluster: "DC0_C0", Datastore: "LocalDS_0"},
	})
	if err != nil {
		t.Fatalf("clone across a session end: %v", err)
	}
	if vm.Name != "survivor" || sess.Logins() != 2 {
		t.Errorf("clone %s after %d logins, want survivor after 2", vm.Name, sess.Logins())
	}
}

// Each search sees every change that finished before it started: a new VM,
// a marker, a rename, a deletion; and searches carry on after the session
// ends behind the driver's back.
func TestSearchesSeeEveryChangeBeforeThem(t *testing.T) {
	s := newSim(t, func(m *simulator.Model) { m.Datacenter = 1 })
	ctx := context.Background()
	sess := s.session(t)
	d := vsphere.NewGovmomi("sim", sess.Client())
	names := func(name string) int {
		t.Helper()
		vms, err := d.FindVMs(ctx, "DC0", name)
		if err != nil {
			t.Fatal(err)
		}
		return len(vms)
	}
	marked := func(value string) []*vsphere.VM {
		t.Helper()
		vms, err := d.FindByMarker(ctx, "DC0", vsphere.MarkerPlan, value)
		if err != nil {
			t.Fatal(err)
		}
		return vms
	}
	if names("fresh") != 0 || len(marked("p1")) != 0 {
		t.Fatal("found VMs that do not exist yet")
	}
	src := s.vm(t, "DC0", "DC0_C0_RP0_VM0")
	vm, err := d.Clone(ctx, vsphere.CloneSpec{Source: src.Reference().Value, Name: "fresh",
		Target: vsphere.Placement{Datacenter: "DC0", Cluster: "DC0_C0", Datastore: "LocalDS_0"}})
	if err != nil {
		t.Fatal(err)
	}
	if names("fresh") != 1 {
		t.Error("a new VM is not found by name")
	}
	if err := d.SetMarkers(ctx, vm.Ref, map[string]string{vsphere.MarkerPlan: "p1"}); err != nil {
		t.Fatal(err)
	}
	if got := marked("p1"); len(got) != 1 || got[0].Ref != vm.Ref {
		t.Errorf("a new marker: found %v", got)
	}
	if err := d.SetMarkers(ctx, vm.Ref, map[string]string{vsphere.MarkerPlan: "p2"}); err != nil {
		t.Fatal(err)
	}
	if len(marked("p1")) != 0 || len(marked("p2")) != 1 {
		t.Error("a changed marker is found by its old value, or not by its new one")
	}
	if err := d.Rename(ctx, vm.Ref, "renamed"); err != nil {
		t.Fatal(err)
	}
	if names("fresh") != 0 || names("renamed") != 1 {
		t.Error("a renamed VM is found by its old name, or not by its new one")
	}

	// End the session behind the driver's back: the next search logs in
	// again and still finds what exists.
	us, err := session.NewManager(sess.Client()).UserSession(ctx)
	if err != nil || us == nil {
		t.Fatalf("user session: %v", err)
	}
	if _, err := methods.TerminateSession(ctx, s.client.Client, &types.TerminateSession{
		This: *s.client.Client.ServiceContent.SessionManager, SessionId: []string{us.Key}}); err != nil {
		t.Fatal(err)
	}
	if names("DC0_C0_RP0_VM1") != 1 {
		t.Error("after the session ended, searches no longer find what exists")
	}
	if err := d.Destroy(ctx, vm.Ref); err != nil {
		t.Fatal(err)
	}
	if names("renamed") != 0 || len(marked("p2")) != 0 {
		t.Error("a deleted VM is still found")
	}
}

// beforeCall runs fn before the first call that match picks.
type beforeCall struct {
	soap.RoundTripper
	match func(soap.HasFault) bool
	fn    func()
	done  bool
}

func (b *beforeCall) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	if !b.done && b.match(req) {
		b.done = true
		b.fn()
	}
	return b.RoundTripper.RoundTrip(ctx, req, res)
}

// A snapshot removed by another task between the driver's look and its
// call (a killed run's removal, which vCenter finishes on its own) is
// removed, as asked: not a failure.
func TestRemovingASnapshotRemovedMeanwhileSucceeds(t *testing.T) {
	s := newSim(t, func(m *simulator.Model) { m.Datacenter = 1 })
	ctx := context.Background()
	admin, err := govmomi.NewClient(ctx, s.server.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	vm := s.vm(t, "DC0", "DC0_C0_RP0_VM0")
	d := vsphere.NewGovmomi("sim", s.client.Client)
	snap, err := d.CreateSnapshot(ctx, vm.Reference().Value, "wavectl", "")
	if err != nil {
		t.Fatal(err)
	}
	s.client.Client.RoundTripper = &beforeCall{RoundTripper: s.client.Client.RoundTripper,
		match: func(req soap.HasFault) bool { _, ok := req.(*methods.RemoveSnapshot_TaskBody); return ok },
		fn: func() {
			other := object.NewVirtualMachine(admin.Client, vm.Reference())
			wait(t)(other.RemoveSnapshot(ctx, snap.Ref, false, types.NewBool(true)))
		}}
	if err := d.RemoveSnapshot(ctx, vm.Reference().Value, snap.Ref); err != nil {
		t.Errorf("remove a snapshot removed meanwhile: %v", err)
	}
	got, err := d.VM(ctx, vm.Reference().Value)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Snapshots) != 0 {
		t.Errorf("snapshots left: %v", got.Snapshots)
	}
}
