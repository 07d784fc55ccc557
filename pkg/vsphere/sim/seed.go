package sim

// Seeding: from a plan to an inventory.
//
//	/<source datacenter>
//	    host/legacy-cluster            hosts esx01.legacy-cluster.<dc> ...
//	    datastore/legacy-ds-01
//	    network/VM Network, and every source network the plan names
//	    vm/<source.folder>/<every source VM>
//	    vm/<retirement folder>
//	/<each target datacenter>
//	    host/<each cluster>            hosts esx01.<cluster>.<dc> ..., and
//	                                   the hosts and resource pools placements name
//	    datastore/<each datastore>     mounted on every host of the datacenter
//	    network/VM Network, dvs-<dc>/<each target portgroup>
//	    vm/<each folder path>, vm/<retirement folder>
//	    vm/templates/<each template an application there clones from>
//
// Sizes: clusters get at least Options.HostsPerCluster hosts (default 4) of
// 64 cores and 1 TiB each, and more when the plan's VMs need them (twice
// their memory, half a core per vCPU); datastores twice the plan's disks,
// at least 10 TiB. Source VMs take their sizes, networks and power state
// from the plan, else 2 vCPU, 4096 MB, one 40 GB disk on "VM Network",
// powered on. Physical servers (virtualise) are not in the inventory: they
// are not VMs yet. Replacement VMs are not either: deploying them is the
// migration's job.

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/plan"
)

// Defaults and sizes; see the top of this file.
const (
	DefaultCPUs     = 2
	DefaultMemoryMB = 4096
	DefaultDiskGB   = 40
	DefaultNetwork  = "VM Network"
	DefaultGuestID  = "otherLinux64Guest"

	// SourceCluster and SourceDatastore hold the source VMs; the plan does
	// not name them. A "-src" suffix avoids a target of the same name.
	SourceCluster   = "legacy-cluster"
	SourceDatastore = "legacy-ds-01"
	// TemplateFolder is the VM folder templates live in, in each target
	// datacenter that clones from them.
	TemplateFolder = "templates"

	defaultHostsPerCluster = 4
	hostCores              = 64
	hostMHz                = 2600
	hostMemoryMB           = 1 << 20
	minDatastoreGB         = 10 << 10
	seedWorkers            = 8
)

type seeder struct {
	s       *Sim
	c       *vim25.Client
	p       *plan.Plan
	summary Summary

	dcs     map[string]*dcPlan
	dcOrder []string
	vms     []*vmSpec
	tpls    map[string]*vmSpec // by datacenter + "/" + name
}

type dcPlan struct {
	name       string
	clusters   map[string]*clusterPlan
	datastores map[string]*dsPlan
	stdNets    map[string]bool
	portgroups map[string]bool
	folders    map[string]bool

	obj     *object.Datacenter
	folder  *object.DatacenterFolders
	hosts   []*object.HostSystem
	vmDirs  map[string]*object.Folder
	network map[string]types.ManagedObjectReference
}

type clusterPlan struct {
	name       string
	evc        string // its EVC mode; see evc.go
	standalone bool   // a host the plan names with no cluster
	named      []string
	pools      map[string]bool
	vcpus      int64
	memMB      int64

	obj      types.ManagedObjectReference
	hosts    []*object.HostSystem
	poolObjs map[string]*object.ResourcePool
	next     int
}

type dsPlan struct {
	name   string
	needGB int64 // what the plan will put there
	usedGB int64 // what is there already

	obj types.ManagedObjectReference
}

type vmSpec struct {
	name     string
	cpus     int
	memMB    int
	disksGB  []int
	networks []string
	on       bool
	guestID  string
	version  string
	template bool
	hotAdd   bool
	evc      string // the least EVC mode it needs; "" its cluster's
	// managedBy marks the VM as a vSphere solution's (config.managedBy),
	// as the plan says it is.
	managedBy string

	dc      *dcPlan
	cluster *clusterPlan
	ds      *dsPlan
	folder  string
	host    *object.HostSystem
}

func newSeeder(s *Sim, c *vim25.Client, p *plan.Plan) *seeder {
	return &seeder{s: s, c: c, p: p, dcs: map[string]*dcPlan{}, tpls: map[string]*vmSpec{}}
}

func (sd *seeder) seed(ctx context.Context) error {
	if err := sd.collect(); err != nil {
		return err
	}
	steps := []struct {
		what string
		do   func(context.Context) error
	}{
		{"datacenters", sd.buildDatacenters},
		{"hosts", sd.buildHosts},
		{"datastores", sd.buildDatastores},
		{"networks", sd.buildNetworks},
		{"folders", sd.buildFolders},
		{"virtual machines", sd.buildVMs},
	}
	for _, st := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := st.do(ctx); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	return nil
}

// collect turns the plan into what each datacenter must hold.
func (sd *seeder) collect() error {
	p := sd.p
	if strings.TrimSpace(p.Source.Datacenter) == "" {
		return fmt.Errorf("the plan names no source datacenter")
	}
	// An instance that does not serve the source vCenter still collects
	// the source's needs, into a datacenter it never builds.
	src := newDCPlan(p.Source.Datacenter)
	if sd.s.serves(p.Source.VCenter) {
		src = sd.dc(p.Source.Datacenter)
	}
	srcFolder := cleanPath(p.Source.Folder)
	if srcFolder != "" {
		src.folders[srcFolder] = true
	}
	// The source cluster and datastore are added after the targets, so
	// that their names can avoid the targets'.
	var sources []*vmSpec
	seen := map[string]bool{}
	for _, a := range p.Applications {
		if a == nil {
			continue
		}
		for _, v := range a.VMs {
			if v == nil || v.Name == "" || seen[v.Name] {
				continue
			}
			seen[v.Name] = true
			spec, err := vmFromRef(v)
			if err != nil {
				return fmt.Errorf("application %s: %w", a.Name, err)
			}
			spec.dc, spec.folder = src, srcFolder
			for _, n := range spec.networks {
				src.stdNets[n] = true
			}
			sources = append(sources, spec)
		}
		if err := sd.collectTarget(a, src); err != nil {
			return err
		}
	}

	cl := sd.cluster(src, sd.unused(src, SourceCluster, func(d *dcPlan, n string) bool { return d.clusters[n] != nil }))
	cl.evc = SourceEVC
	ds := sd.datastore(src, sd.unused(src, SourceDatastore, func(d *dcPlan, n string) bool { return d.datastores[n] != nil }))
	for _, v := range sources {
		v.cluster, v.ds = cl, ds
		cl.vcpus += int64(v.cpus)
		cl.memMB += int64(v.memMB)
		for _, gb := range v.disksGB {
			ds.usedGB += int64(gb)
		}
	}
	if sd.s.serves(p.Source.VCenter) {
		sd.vms = append(sources, sd.vms...)
	}
	return nil
}

func (sd *seeder) collectTarget(a *plan.Application, src *dcPlan) error {
	pl := a.Resolved
	if strings.TrimSpace(pl.Datacenter) == "" {
		return fmt.Errorf("application %s has no target datacenter", a.Name)
	}
	// Another instance builds a datacenter of another vCenter: collect
	// its needs into a throwaway.
	dc := newDCPlan(pl.Datacenter)
	if sd.s.serves(pl.VCenter) {
		dc = sd.dc(pl.Datacenter)
	}
	var cl *clusterPlan
	switch {
	case pl.Cluster != "":
		cl = sd.cluster(dc, pl.Cluster)
		if pl.EVCMode != "" {
			cl.evc = pl.EVCMode
		}
		if pl.Host != "" && !slices.Contains(cl.named, pl.Host) {
			cl.named = append(cl.named, pl.Host)
		}
		if rp := cleanPath(pl.ResourcePool); rp != "" {
			cl.pools[rp] = true
		}
	case pl.Host != "":
		cl = sd.cluster(dc, pl.Host)
		cl.standalone = true
		cl.named = []string{pl.Host}
	}
	var ds *dsPlan
	if pl.Datastore != "" {
		ds = sd.datastore(dc, pl.Datastore)
	}
	if f := cleanPath(pl.Folder); f != "" {
		dc.folders[f] = true
	}
	if f := cleanPath(pl.RetirementFolder); f != "" {
		// Retired source VMs stay in the source datacenter; the target
		// gets one too, for plans that retire there.
		src.folders[f] = true
		dc.folders[f] = true
	}
	for from, to := range pl.Networks {
		src.stdNets[from] = true
		dc.portgroups[to] = true
	}
	if r := a.Remediate; r != nil {
		for from, to := range r.Networks {
			src.stdNets[from] = true
			dc.portgroups[to] = true
		}
	}

	// What the application will need in the target.
	need := func(cpus, memMB int, disksGB []int) {
		if cl != nil {
			cl.vcpus += int64(cpus)
			cl.memMB += int64(memMB)
		}
		if ds != nil {
			for _, gb := range disksGB {
				ds.needGB += int64(gb)
			}
		}
	}
	for _, v := range a.VMs {
		if v == nil {
			continue
		}
		cpus, mem := orDefault(v.CPUs, DefaultCPUs), orDefault(v.MemoryMB, DefaultMemoryMB)
		if r := a.Remediate; r != nil {
			cpus, mem = orDefault(r.CPUs, cpus), orDefault(r.MemoryMB, mem)
		}
		need(cpus, mem, disksOrDefault(v.DisksGB))
	}
	for _, s := range a.Servers {
		if s != nil {
			need(s.CPUs, s.MemoryMB, s.DisksGB)
		}
	}
	if r := a.Replacement; r != nil {
		need(orDefault(r.CPUs, DefaultCPUs), orDefault(r.MemoryMB, DefaultMemoryMB), []int{DefaultDiskGB})
	}

	var tpls []string
	if !sd.s.serves(pl.VCenter) {
		return nil // its templates are the target vCenter's
	}
	if a.Template != "" {
		tpls = append(tpls, a.Template)
	}
	if a.Replacement != nil && a.Replacement.Template != "" {
		tpls = append(tpls, a.Replacement.Template)
	}
	for _, name := range tpls {
		key := dc.name + "/" + name
		if sd.tpls[key] != nil {
			continue
		}
		t := &vmSpec{
			name: name, cpus: DefaultCPUs, memMB: DefaultMemoryMB, disksGB: []int{DefaultDiskGB},
			networks: []string{DefaultNetwork}, guestID: templateGuest(name), template: true,
			dc: dc, cluster: cl, ds: ds, folder: TemplateFolder,
		}
		dc.folders[TemplateFolder] = true
		sd.tpls[key] = t
		sd.vms = append(sd.vms, t)
	}
	return nil
}

func (sd *seeder) dc(name string) *dcPlan {
	if d, ok := sd.dcs[name]; ok {
		return d
	}
	d := newDCPlan(name)
	sd.dcs[name] = d
	sd.dcOrder = append(sd.dcOrder, name)
	return d
}

func newDCPlan(name string) *dcPlan {
	return &dcPlan{
		name: name, clusters: map[string]*clusterPlan{}, datastores: map[string]*dsPlan{},
		stdNets: map[string]bool{}, portgroups: map[string]bool{}, folders: map[string]bool{},
		vmDirs: map[string]*object.Folder{}, network: map[string]types.ManagedObjectReference{},
	}
}

func (sd *seeder) cluster(d *dcPlan, name string) *clusterPlan {
	if c, ok := d.clusters[name]; ok {
		return c
	}
	c := &clusterPlan{name: name, pools: map[string]bool{}, poolObjs: map[string]*object.ResourcePool{}}
	d.clusters[name] = c
	return c
}

func (sd *seeder) datastore(d *dcPlan, name string) *dsPlan {
	if ds, ok := d.datastores[name]; ok {
		return ds
	}
	ds := &dsPlan{name: name}
	d.datastores[name] = ds
	return ds
}

// unused returns name, or name-src when the datacenter already has one.
func (sd *seeder) unused(d *dcPlan, name string, taken func(*dcPlan, string) bool) string {
	for i := 0; ; i++ {
		n := name
		if i == 1 {
			n = name + "-src"
		} else if i > 1 {
			n = fmt.Sprintf("%s-src%d", name, i)
		}
		if !taken(d, n) {
			return n
		}
	}
}

func vmFromRef(v *plan.VMRef) (*vmSpec, error) {
	spec := &vmSpec{
		name:      v.Name,
		cpus:      orDefault(v.CPUs, DefaultCPUs),
		memMB:     orDefault(v.MemoryMB, DefaultMemoryMB),
		disksGB:   disksOrDefault(v.DisksGB),
		networks:  v.Networks,
		on:        v.PowerState != string(types.VirtualMachinePowerStatePoweredOff),
		guestID:   v.GuestID,
		version:   v.Hardware,
		hotAdd:    v.HotAdd,
		evc:       v.EVCMode,
		managedBy: v.ManagedBy,
	}
	if len(spec.networks) == 0 {
		spec.networks = []string{DefaultNetwork}
	}
	if spec.guestID == "" {
		spec.guestID = DefaultGuestID
	} else if !slices.Contains(simulator.GuestID, types.VirtualMachineGuestOsIdentifier(spec.guestID)) {
		return nil, fmt.Errorf("VM %s: guestId %q is not a vSphere guest OS identifier (e.g. rhel9_64Guest)", v.Name, spec.guestID)
	}
	return spec, nil
}

func templateGuest(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.Contains(n, "win2022"), strings.Contains(n, "windows2022"):
		return string(types.VirtualMachineGuestOsIdentifierWindows2019srvNext_64Guest)
	case strings.Contains(n, "win"):
		return string(types.VirtualMachineGuestOsIdentifierWindows9Server64Guest)
	case strings.Contains(n, "rhel9"):
		return string(types.VirtualMachineGuestOsIdentifierRhel9_64Guest)
	case strings.Contains(n, "rhel8"):
		return string(types.VirtualMachineGuestOsIdentifierRhel8_64Guest)
	case strings.Contains(n, "ubuntu"):
		return string(types.VirtualMachineGuestOsIdentifierUbuntu64Guest)
	}
	return DefaultGuestID
}

func orDefault(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

func disksOrDefault(d []int) []int {
	var out []int
	for _, gb := range d {
		if gb > 0 {
			out = append(out, gb)
		}
	}
	if len(out) == 0 {
		return []int{DefaultDiskGB}
	}
	return out
}

// cleanPath turns a folder path into "a/b", "" for the root.
func cleanPath(p string) string {
	var parts []string
	for _, s := range strings.Split(p, "/") {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "/")
}

func (sd *seeder) buildDatacenters(ctx context.Context) error {
	root := object.NewRootFolder(sd.c)
	for _, name := range sd.dcOrder {
		d := sd.dcs[name]
		dc, err := root.CreateDatacenter(ctx, name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		d.obj = dc
		if d.folder, err = dc.Folders(ctx); err != nil {
			return err
		}
		sd.summary.Datacenters++
	}
	return nil
}

func (sd *seeder) buildHosts(ctx context.Context) error {
	min := sd.s.opts.HostsPerCluster
	if min == 0 {
		min = defaultHostsPerCluster
	}
	for _, name := range sd.dcOrder {
		d := sd.dcs[name]
		for _, cname := range slices.Sorted(maps.Keys(d.clusters)) {
			cl := d.clusters[cname]
			if cl.standalone {
				task, err := d.folder.HostFolder.AddStandaloneHost(ctx, types.HostConnectSpec{HostName: cl.named[0]}, true, nil, nil)
				if err != nil {
					return fmt.Errorf("standalone host %s: %w", cl.named[0], err)
				}
				info, err := task.WaitForResult(ctx, nil)
				if err != nil {
					return fmt.Errorf("standalone host %s: %w", cl.named[0], err)
				}
				h := object.NewHostSystem(sd.c, info.Result.(types.ManagedObjectReference))
				cl.hosts = append(cl.hosts, h)
				d.hosts = append(d.hosts, h)
				sd.sizeHost(h)
				sd.summary.Hosts++
				continue
			}
			spec := types.ClusterConfigSpecEx{
				DrsConfig: &types.ClusterDrsConfigInfo{
					Enabled:           types.NewBool(true),
					DefaultVmBehavior: types.DrsBehaviorFullyAutomated,
				},
				DasConfig: &types.ClusterDasConfigInfo{Enabled: types.NewBool(true)},
			}
			c, err := d.folder.HostFolder.CreateCluster(ctx, cname, spec)
			if err != nil {
				return fmt.Errorf("cluster %s/%s: %w", name, cname, err)
			}
			cl.obj = c.Reference()
			sd.summary.Clusters++
			mode := cl.evc
			if mode == "" {
				mode = DefaultTargetEVC
			}
			cl.evc = mode
			setClusterEVC(sd.s.model.Map().Get(cl.obj).(*simulator.ClusterComputeResource), mode)
			n := max(min, len(cl.named),
				int(math.Ceil(float64(cl.vcpus)/2/hostCores)),
				int(math.Ceil(float64(cl.memMB)*2/hostMemoryMB)))
			names := append([]string{}, cl.named...)
			for i := 1; len(names) < n; i++ {
				h := strings.ToLower(strings.ReplaceAll(fmt.Sprintf("esx%02d.%s.%s", i, cname, name), " ", "-"))
				if !slices.Contains(names, h) {
					names = append(names, h)
				}
			}
			cobj := sd.s.model.Map().Get(cl.obj).(*simulator.ClusterComputeResource)
			for _, hn := range names {
				res, err := sd.run(cobj, func(c *simulator.Context) soap.HasFault {
					return cobj.AddHostTask(c, &types.AddHost_Task{This: cobj.Self, Spec: types.HostConnectSpec{HostName: hn}, AsConnected: true})
				})
				if err != nil {
					return fmt.Errorf("host %s: %w", hn, err)
				}
				h := object.NewHostSystem(sd.c, res.(types.ManagedObjectReference))
				cl.hosts = append(cl.hosts, h)
				d.hosts = append(d.hosts, h)
				sd.sizeHost(h)
				sd.summary.Hosts++
			}
			sd.sizeCluster(cl)
			root, err := c.ResourcePool(ctx)
			if err != nil {
				return err
			}
			cl.poolObjs[""] = root
			for _, p := range slices.Sorted(maps.Keys(cl.pools)) {
				if _, err := sd.pool(ctx, cl, p); err != nil {
					return fmt.Errorf("resource pool %s/%s: %w", cname, p, err)
				}
			}
		}
	}
	return nil
}

// pool returns the resource pool at path under the cluster, making it and
// its parents.
func (sd *seeder) pool(ctx context.Context, cl *clusterPlan, p string) (*object.ResourcePool, error) {
	if rp, ok := cl.poolObjs[p]; ok {
		return rp, nil
	}
	parent, err := sd.pool(ctx, cl, parentPath(p))
	if err != nil {
		return nil, err
	}
	rp, err := parent.Create(ctx, path.Base(p), types.DefaultResourceConfigSpec())
	if err != nil {
		return nil, err
	}
	cl.poolObjs[p] = rp
	sd.summary.Pools++
	return rp, nil
}

func parentPath(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i]
	}
	return ""
}

// sizeHost makes a host a 2-socket, 64-core, 1 TiB server. Seeding runs
// before any client connects, so setting the fields directly is safe.
func (sd *seeder) sizeHost(h *object.HostSystem) {
	host := sd.s.model.Map().Get(h.Reference()).(*simulator.HostSystem)
	hw := host.Summary.Hardware
	hw.NumCpuPkgs = 2
	hw.NumCpuCores = hostCores
	hw.NumCpuThreads = 2 * hostCores
	hw.CpuMhz = hostMHz
	hw.MemorySize = int64(hostMemoryMB) << 20
	info := *host.Hardware
	info.MemorySize = hw.MemorySize
	info.CpuInfo.NumCpuPackages = 2
	info.CpuInfo.NumCpuCores = hostCores
	info.CpuInfo.NumCpuThreads = 2 * hostCores
	info.CpuInfo.Hz = int64(hostMHz) * 1e6
	host.Hardware = &info
}

// sizeCluster makes the cluster's summary add up its hosts (the simulator
// adds per-core MHz and counts bytes as effective MB).
func (sd *seeder) sizeCluster(cl *clusterPlan) {
	c := sd.s.model.Map().Get(cl.obj).(*simulator.ClusterComputeResource)
	s := c.Summary.GetComputeResourceSummary()
	n := len(cl.hosts)
	s.NumHosts = int32(n)
	s.NumEffectiveHosts = int32(n)
	s.NumCpuCores = int16(n * hostCores)
	s.NumCpuThreads = int16(n * 2 * hostCores)
	s.TotalCpu = int32(n * hostCores * hostMHz)
	s.EffectiveCpu = s.TotalCpu
	s.TotalMemory = int64(n) * int64(hostMemoryMB) << 20
	s.EffectiveMemory = int64(n) * hostMemoryMB
}

// datastoreSize is a datastore's seeded capacity and free space, in bytes.
type datastoreSize struct{ capacity, free int64 }

func setDatastoreSize(ds *simulator.Datastore, size datastoreSize) {
	ds.Summary.Capacity = size.capacity
	ds.Summary.FreeSpace = size.free
	info := ds.Info.GetDatastoreInfo()
	info.FreeSpace = size.free
	info.MaxFileSize = size.capacity
	info.MaxMemoryFileSize = size.capacity
	info.MaxVirtualDiskCapacity = size.capacity
}

func (sd *seeder) buildDatastores(ctx context.Context) error {
	for i, name := range sd.dcOrder {
		d := sd.dcs[name]
		if len(d.datastores) > 0 && len(d.hosts) == 0 {
			return fmt.Errorf("datacenter %s has datastores but no hosts to mount them", name)
		}
		for _, dsName := range slices.Sorted(maps.Keys(d.datastores)) {
			ds := d.datastores[dsName]
			dir := filepath.Join(sd.s.homeDir, fmt.Sprintf("dc%d-%s", i, safeFileName(dsName)))
			if err := os.Mkdir(dir, 0o700); err != nil {
				return err
			}
			// Every host of the datacenter mounts every datastore, so any
			// placement the plan pairs works.
			for _, h := range d.hosts {
				dss, err := h.ConfigManager().DatastoreSystem(ctx)
				if err != nil {
					return err
				}
				ref, err := dss.CreateLocalDatastore(ctx, dsName, dir)
				if err != nil {
					return fmt.Errorf("%s on %s: %w", dsName, h.Reference().Value, err)
				}
				// Only the first mount returns the datastore: the simulator
				// answers later ones with a copy it did not register.
				if ds.obj.Value == "" {
					ds.obj = ref.Reference()
				}
			}
			// Free space goes down as the VMs' disks are created.
			gb := max(int64(minDatastoreGB), roundUp(2*ds.needGB+ds.usedGB, 1<<10))
			size := datastoreSize{capacity: gb << 30, free: gb << 30}
			setDatastoreSize(sd.s.model.Map().Get(ds.obj).(*simulator.Datastore), size)
			sd.summary.Datastores++
		}
	}
	return nil
}

func roundUp(v, unit int64) int64 { return (v + unit - 1) / unit * unit }

func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

// buildNetworks adds the source networks as standard portgroups and the
// target portgroups to one distributed switch per datacenter, which every
// host of the datacenter joins.
func (sd *seeder) buildNetworks(ctx context.Context) error {
	for _, name := range sd.dcOrder {
		d := sd.dcs[name]
		existing, err := sd.networks(ctx, d)
		if err != nil {
			return err
		}
		sd.summary.Networks += len(existing)
		var std []string
		for n := range d.stdNets {
			if _, ok := existing[n]; !ok {
				std = append(std, n)
			}
		}
		sort.Strings(std)
		if len(std) > 0 && len(d.hosts) == 0 {
			return fmt.Errorf("datacenter %s has networks but no hosts", name)
		}
		for _, n := range std {
			// The simulator files the portgroup under the datacenter's
			// network folder once; more hosts would be a duplicate name.
			ns, err := d.hosts[0].ConfigManager().NetworkSystem(ctx)
			if err != nil {
				return err
			}
			err = ns.AddPortGroup(ctx, types.HostPortGroupSpec{Name: n, VswitchName: "vSwitch0", Policy: types.HostNetworkPolicy{}})
			if err != nil {
				return fmt.Errorf("standard portgroup %s in %s: %w", n, name, err)
			}
			existing[n] = types.ManagedObjectReference{}
			sd.summary.Networks++
			sd.onEveryHost(d, n)
		}
		var pgs []types.DVPortgroupConfigSpec
		for _, n := range slices.Sorted(maps.Keys(d.portgroups)) {
			if _, ok := existing[n]; ok {
				continue
			}
			pgs = append(pgs, types.DVPortgroupConfigSpec{
				Name:       n,
				Type:       string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding),
				NumPorts:   8,
				AutoExpand: types.NewBool(true),
			})
		}
		if len(pgs) == 0 {
			continue
		}
		dvsName := "dvs-" + name
		task, err := d.folder.NetworkFolder.CreateDVS(ctx, types.DVSCreateSpec{ConfigSpec: &types.VMwareDVSConfigSpec{
			DVSConfigSpec: types.DVSConfigSpec{Name: dvsName},
		}})
		if err != nil {
			return fmt.Errorf("switch %s: %w", dvsName, err)
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			return fmt.Errorf("switch %s: %w", dvsName, err)
		}
		dvs := object.NewDistributedVirtualSwitch(sd.c, info.Result.(types.ManagedObjectReference))
		// The simulator ignores hosts in the create spec: join them after.
		members := make([]types.DistributedVirtualSwitchHostMemberConfigSpec, len(d.hosts))
		for i, h := range d.hosts {
			members[i] = types.DistributedVirtualSwitchHostMemberConfigSpec{
				Operation: string(types.ConfigSpecOperationAdd),
				Host:      h.Reference(),
			}
		}
		task, err = dvs.Reconfigure(ctx, &types.DVSConfigSpec{Host: members})
		if err != nil {
			return fmt.Errorf("hosts of %s: %w", dvsName, err)
		}
		if err := task.Wait(ctx); err != nil {
			return fmt.Errorf("hosts of %s: %w", dvsName, err)
		}
		task, err = dvs.AddPortgroup(ctx, pgs)
		if err != nil {
			return fmt.Errorf("portgroups on %s: %w", dvsName, err)
		}
		if err := task.Wait(ctx); err != nil {
			return fmt.Errorf("portgroups on %s: %w", dvsName, err)
		}
		sd.summary.Networks += len(pgs)
	}
	return nil
}

// onEveryHost connects every host of the datacenter to the standard
// network called name, which the simulator put on the first host only:
// vCenter's checks of a move ask whether the target host has it.
func (sd *seeder) onEveryHost(d *dcPlan, name string) {
	dc, ok := sd.s.model.Map().Get(d.obj.Reference()).(*simulator.Datacenter)
	if !ok {
		return
	}
	for _, ref := range dc.Network {
		n, ok := sd.s.model.Map().Get(ref).(*mo.Network)
		if !ok || n.Name != name {
			continue
		}
		for _, h := range d.hosts {
			host := sd.s.model.Map().Get(h.Reference()).(*simulator.HostSystem)
			if !slices.Contains(host.Network, ref) {
				host.Network = append(host.Network, ref)
			}
			if !slices.Contains(n.Host, h.Reference()) {
				n.Host = append(n.Host, h.Reference())
			}
		}
	}
}

// networks names the datacenter's networks.
func (sd *seeder) networks(_ context.Context, d *dcPlan) (map[string]types.ManagedObjectReference, error) {
	dc, ok := sd.s.model.Map().Get(d.obj.Reference()).(*simulator.Datacenter)
	if !ok {
		return nil, fmt.Errorf("datacenter %s vanished", d.name)
	}
	out := map[string]types.ManagedObjectReference{}
	for _, ref := range dc.Network {
		if n := networkName(sd.s.model.Map().Get(ref)); n != "" {
			out[n] = ref
		}
	}
	return out, nil
}

func (sd *seeder) buildFolders(ctx context.Context) error {
	for _, name := range sd.dcOrder {
		d := sd.dcs[name]
		d.vmDirs[""] = d.folder.VmFolder
		for _, p := range slices.Sorted(maps.Keys(d.folders)) {
			if _, err := sd.vmFolder(ctx, d, p); err != nil {
				return fmt.Errorf("%s/vm/%s: %w", name, p, err)
			}
		}
	}
	return nil
}

func (sd *seeder) vmFolder(ctx context.Context, d *dcPlan, p string) (*object.Folder, error) {
	if f, ok := d.vmDirs[p]; ok {
		return f, nil
	}
	parent, err := sd.vmFolder(ctx, d, parentPath(p))
	if err != nil {
		return nil, err
	}
	f, err := parent.CreateFolder(ctx, path.Base(p))
	if err != nil {
		return nil, err
	}
	d.vmDirs[p] = f
	sd.summary.Folders++
	return f, nil
}

// buildVMs creates the VMs and templates a few at a time; the simulator
// serialises what must be serialised (creates into one folder).
func (sd *seeder) buildVMs(ctx context.Context) error {
	// Templates need a home: the application's cluster and datastore, or
	// the datacenter's first.
	for _, v := range sd.vms {
		if v.cluster == nil {
			for _, n := range slices.Sorted(maps.Keys(v.dc.clusters)) {
				v.cluster = v.dc.clusters[n]
				break
			}
		}
		if v.ds == nil {
			for _, n := range slices.Sorted(maps.Keys(v.dc.datastores)) {
				v.ds = v.dc.datastores[n]
				break
			}
		}
		if v.cluster == nil || len(v.cluster.hosts) == 0 || v.ds == nil {
			return fmt.Errorf("%s: datacenter %s has no cluster with hosts or no datastore to hold it", v.name, v.dc.name)
		}
	}
	work := make(chan *vmSpec)
	errs := make(chan error, len(sd.vms))
	var wg sync.WaitGroup
	for range seedWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range work {
				if ctx.Err() != nil {
					continue // drain: seeding was cancelled
				}
				if err := sd.createVM(ctx, v); err != nil {
					errs <- fmt.Errorf("%s: %w", v.name, err)
				}
			}
		}()
	}
	for _, v := range sd.vms {
		// Hosts are handed out round-robin here, not by the workers, so
		// that placement is the same on every run.
		v.host = v.cluster.hosts[v.cluster.next%len(v.cluster.hosts)]
		v.cluster.next++
		work <- v
		if v.template {
			sd.summary.Templates++
		} else {
			sd.summary.VMs++
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err, ok := <-errs; ok {
		return err
	}
	return ctx.Err()
}

func (sd *seeder) createVM(ctx context.Context, v *vmSpec) error {
	cl, host := v.cluster, v.host
	pool := cl.poolObjs[""]
	if pool == nil {
		var err error
		if pool, err = host.ResourcePool(ctx); err != nil {
			return err
		}
	}
	folder := v.dc.vmDirs[v.folder]
	spec := types.VirtualMachineConfigSpec{
		Name:     v.name,
		GuestId:  v.guestID,
		NumCPUs:  int32(v.cpus),
		MemoryMB: int64(v.memMB),
		Version:  v.version,
		Files:    &types.VirtualMachineFileInfo{VmPathName: "[" + v.ds.name + "]"},
	}
	if v.hotAdd {
		spec.CpuHotAddEnabled, spec.MemoryHotAddEnabled = types.NewBool(true), types.NewBool(true)
	}
	if v.managedBy != "" {
		spec.ManagedBy = &types.ManagedByInfo{ExtensionKey: v.managedBy, Type: "VirtualMachine"}
	}
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return err
	}
	devices = append(devices, scsi)
	ctrl := scsi.(types.BaseVirtualController)
	for i, gb := range v.disksGB {
		disk := devices.CreateDisk(ctrl, v.ds.obj, fmt.Sprintf("[%s] %s/%s_%d.vmdk", v.ds.name, v.name, v.name, i))
		disk.CapacityInKB = int64(gb) << 20
		disk.CapacityInBytes = int64(gb) << 30
		devices = append(devices, disk)
	}
	for _, n := range v.networks {
		nic, err := devices.CreateEthernetCard("vmxnet3", &types.VirtualEthernetCardNetworkBackingInfo{
			VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: n},
		})
		if err != nil {
			return err
		}
		devices = append(devices, nic)
	}
	if spec.DeviceChange, err = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd); err != nil {
		return err
	}
	// Straight to the simulator, not through a client: a client's
	// round trip and task wait copy every object through XML, which made
	// seeding a 1,500-VM plan four times slower.
	reg := sd.s.model.Map()
	f := reg.Get(folder.Reference()).(*simulator.Folder)
	hostRef := host.Reference()
	res, err := sd.run(f, func(c *simulator.Context) soap.HasFault {
		return f.CreateVMTask(c, &types.CreateVM_Task{This: f.Self, Config: spec, Pool: pool.Reference(), Host: &hostRef})
	})
	if err != nil {
		return err
	}
	vm := reg.Get(res.(types.ManagedObjectReference)).(*simulator.VirtualMachine)
	if need := v.evc; !v.template {
		if need == "" {
			need = cl.evc
		}
		setMinEVC(vm, need)
	}
	switch {
	case v.template:
		_, err = sd.run(vm, func(*simulator.Context) soap.HasFault {
			return vm.MarkAsTemplate(&types.MarkAsTemplate{This: vm.Self})
		})
	case v.on:
		_, err = sd.run(vm, func(c *simulator.Context) soap.HasFault {
			return vm.PowerOnVMTask(c, &types.PowerOnVM_Task{This: vm.Self})
		})
	}
	return err
}

// run calls a simulator method the way its dispatcher would (holding the
// object's lock, on behalf of a context of its own) and waits for the task
// it returns, if any.
func (sd *seeder) run(obj mo.Reference, call func(*simulator.Context) soap.HasFault) (types.AnyType, error) {
	c := *sd.s.model.Service.Context // a fresh context: contexts own locks
	ctx := &c
	var body soap.HasFault
	ctx.WithLock(obj, func() { body = call(ctx) })
	res, lf := awaitBody(ctx, body)
	if lf != nil {
		return nil, fmt.Errorf("%s (%T)", lf.LocalizedMessage, lf.Fault)
	}
	return res, nil
}
