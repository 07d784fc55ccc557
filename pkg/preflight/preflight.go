// Package preflight checks a plan against vCenter, read-only: the objects
// it names exist, the names it will create are free, and the target has the
// capacity for each wave. Every problem points at the plan line it comes from.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// VCPUPerCore is the vCPU-to-physical-core ratio the capacity check
// allows; memory is not overcommitted.
const VCPUPerCore = 4

// Drivers returns the (read-only) driver for a vCenter named in the plan.
type Drivers func(ctx context.Context, vcenter string) (vsphere.Driver, error)

// Summary is what the check read and found, for the command's output.
type Summary struct {
	Datacenters []string `json:"datacenters"`
	VMsRead     int      `json:"vmsRead"`
	SourceFound int      `json:"sourceVMsFound"`
	SourceMoved int      `json:"sourceVMsAlreadyMoved"`
	// LiveChecked counts live moves vCenter's compatibility checks passed.
	LiveChecked int         `json:"liveMovesChecked"`
	Capacity    []*Capacity `json:"capacity"`
	// Hosts counts each target cluster's usable hosts (connected, not in
	// maintenance), by cluster name as the plan writes it: the estimate
	// charges perHost and the hosts' budgets over them.
	Hosts map[string]int `json:"hosts,omitempty"`
}

// Capacity is one cluster's or datastore's use by the plan, cumulated over
// the waves in order.
type Capacity struct {
	Kind      string `json:"kind"` // cluster or datastore
	Name      string `json:"name"` // vcenter/datacenter/name
	NeedCPUs  int    `json:"needVCPUs,omitempty"`
	HaveCPUs  int    `json:"haveVCPUs,omitempty"`
	NeedMemMB int64  `json:"needMemoryMB,omitempty"`
	HaveMemMB int64  `json:"haveMemoryMB,omitempty"`
	NeedGB    int64  `json:"needGB,omitempty"`
	FreeGB    int64  `json:"freeGB,omitempty"`
}

// UnreachableError is returned when a vCenter cannot be read at all; the
// CLI maps it to its own exit code.
type UnreachableError struct {
	VCenter string
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("vCenter %s: %v", e.VCenter, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

type dcKey struct{ vcenter, dc string }

type checker struct {
	p       *plan.Plan
	drivers Drivers
	inv     map[dcKey]*vsphere.Inventory
	missing map[dcKey]bool
	probs   plan.Problems
	sum     Summary
}

// Check reads every datacenter the plan names once, in bulk, and checks
// the plan against it. The error is non-nil only when a vCenter could not
// be read; problems found are returned as plan problems.
func Check(ctx context.Context, p *plan.Plan, drivers Drivers) (plan.Problems, *Summary, error) {
	c := &checker{p: p, drivers: drivers, inv: map[dcKey]*vsphere.Inventory{}, missing: map[dcKey]bool{}}
	if err := c.read(ctx); err != nil {
		return nil, nil, err
	}
	for _, a := range c.ordered() {
		c.app(a)
	}
	if err := c.liveMoves(ctx); err != nil { // live.go
		return nil, nil, err
	}
	c.capacity()
	c.hosts()
	c.probs.Sort()
	return c.probs, &c.sum, nil
}

func (c *checker) errorf(path, hint, format string, args ...any) {
	c.probs = append(c.probs, plan.Problem{Pos: c.p.Pos(path), Path: path, Severity: plan.SeverityError, Message: fmt.Sprintf(format, args...), Hint: hint})
}

// read takes one inventory of the source datacenter and of every target
// datacenter.
func (c *checker) read(ctx context.Context) error {
	keys := []dcKey{{c.p.Source.VCenter, c.p.Source.Datacenter}}
	paths := map[dcKey]string{keys[0]: "source.datacenter"}
	for _, a := range c.p.Applications {
		k := dcKey{a.Resolved.VCenter, a.Resolved.Datacenter}
		if _, ok := paths[k]; !ok {
			keys = append(keys, k)
			paths[k] = c.fieldPath(a, "datacenter")
		}
	}
	for _, k := range keys {
		d, err := c.drivers(ctx, k.vcenter)
		if err != nil {
			return &UnreachableError{VCenter: k.vcenter, Err: err}
		}
		inv, err := d.Inventory(ctx, k.dc)
		switch {
		case errors.Is(err, vsphere.ErrNotFound):
			c.missing[k] = true
			c.errorf(paths[k], "check the name in vCenter (govc ls /)", "datacenter %s does not exist in vCenter %s", k.dc, k.vcenter)
			continue
		case err != nil:
			return &UnreachableError{VCenter: k.vcenter, Err: err}
		}
		c.inv[k] = inv
		c.sum.Datacenters = append(c.sum.Datacenters, k.vcenter+"/"+k.dc)
		c.sum.VMsRead += len(inv.VMs)
	}
	return nil
}

// fieldPath is the plan path where an application's placement field was
// set: its own target, its wave's or the conveyor's, or the plan's.
func (c *checker) fieldPath(a *plan.Application, field string) string {
	set := func(pl *plan.Placement) bool {
		if pl == nil {
			return false
		}
		switch field {
		case "datacenter":
			return pl.Datacenter != ""
		case "cluster":
			return pl.Cluster != ""
		case "host":
			return pl.Host != ""
		case "resourcePool":
			return pl.ResourcePool != ""
		case "datastore":
			return pl.Datastore != ""
		case "folder":
			return pl.Folder != ""
		case "retirementFolder":
			return pl.RetirementFolder != ""
		}
		return false
	}
	if set(a.Target) {
		return fmt.Sprintf("applications[%d].target.%s", a.Index, field)
	}
	for i, w := range c.p.Waves {
		if w != nil && w.Name == a.Wave && a.Wave != "" && set(w.Target) {
			return fmt.Sprintf("waves[%d].target.%s", i, field)
		}
	}
	if a.OnConveyor && c.p.Conveyor != nil && set(c.p.Conveyor.Target) {
		return "conveyor.target." + field
	}
	return "target." + field
}

// ordered returns the scheduled applications, waves in order, then the
// conveyor: the order capacity is consumed in.
func (c *checker) ordered() []*plan.Application {
	var out []*plan.Application
	for _, w := range c.p.Waves {
		for _, n := range w.Applications {
			if a := c.p.Application(n); a != nil && a.Wave == w.Name {
				out = append(out, a)
			}
		}
	}
	if c.p.Conveyor != nil {
		for _, n := range c.p.Conveyor.Applications {
			if a := c.p.Application(n); a != nil && a.OnConveyor {
				out = append(out, a)
			}
		}
	}
	return out
}

func (c *checker) sourceInv() *vsphere.Inventory {
	return c.inv[dcKey{c.p.Source.VCenter, c.p.Source.Datacenter}]
}

func (c *checker) targetInv(a *plan.Application) *vsphere.Inventory {
	return c.inv[dcKey{a.Resolved.VCenter, a.Resolved.Datacenter}]
}

func findVM(inv *vsphere.Inventory, name string, template bool) *vsphere.VM {
	if inv == nil {
		return nil
	}
	for _, vm := range inv.VMs {
		if vm.Name == name && vm.Template == template {
			return vm
		}
	}
	return nil
}

// ours reports whether a VM carries this plan's markers for app.
func (c *checker) ours(vm *vsphere.VM, app string) bool {
	return vm.Markers[vsphere.MarkerPlan] == c.p.Metadata.Name && vm.Markers[vsphere.MarkerApplication] == app
}

func (c *checker) app(a *plan.Application) {
	src, tgt := c.sourceInv(), c.targetInv(a)
	if tgt == nil {
		return // its datacenter is missing, already reported
	}
	c.placement(a, tgt)
	if src != nil {
		for j, ref := range a.VMs {
			c.sourceVM(a, j, ref, src, tgt)
		}
	}
	if a.Strategy == plan.Redeploy {
		c.template(a, fmt.Sprintf("applications[%d].template", a.Index), a.Template, src, tgt)
	}
	if a.Strategy == plan.Replace && a.Replacement != nil {
		c.template(a, fmt.Sprintf("applications[%d].replacement.template", a.Index), a.Replacement.Template, src, tgt)
	}
	for _, n := range newNames(a) {
		c.nameFree(a, n.name, n.path, tgt)
	}
}

type newName struct{ name, path string }

// newNames are the VMs an application creates in the target.
func newNames(a *plan.Application) []newName {
	var out []newName
	switch a.Strategy {
	case plan.Virtualise:
		for j, s := range a.Servers {
			out = append(out, newName{s.Name, fmt.Sprintf("applications[%d].servers[%d].name", a.Index, j)})
		}
	case plan.Redeploy:
		for j, v := range a.VMs {
			out = append(out, newName{v.Name, fmt.Sprintf("applications[%d].vms[%d]", a.Index, j)})
		}
	case plan.Replace:
		if a.Replacement != nil {
			out = append(out, newName{a.Replacement.Name, fmt.Sprintf("applications[%d].replacement.name", a.Index)})
		}
	}
	return out
}

func (c *checker) placement(a *plan.Application, inv *vsphere.Inventory) {
	t := a.Resolved
	where := fmt.Sprintf("datacenter %s", t.Datacenter)
	if t.Cluster != "" {
		if _, ok := inv.Clusters[t.Cluster]; !ok {
			c.errorf(c.fieldPath(a, "cluster"), "clusters there: "+strings.Join(keys(inv.Clusters), ", "), "cluster %s does not exist in %s", t.Cluster, where)
		}
	}
	if t.Host != "" && !hasHost(inv, t.Cluster, t.Host) {
		c.errorf(c.fieldPath(a, "host"), "name an ESXi host of the target cluster", "host %s does not exist in %s", t.Host, clusterOr(t.Cluster, where))
	}
	if t.Datastore != "" {
		ds, ok := inv.Datastores[t.Datastore]
		switch {
		case !ok:
			c.errorf(c.fieldPath(a, "datastore"), "datastores there: "+strings.Join(keys(inv.Datastores), ", "), "datastore %s does not exist in %s", t.Datastore, where)
		case !ds.Accessible:
			c.errorf(c.fieldPath(a, "datastore"), "fix its connection in vCenter, or pick another datastore", "datastore %s is not accessible", t.Datastore)
		}
	}
	if t.Folder != "" && !contains(inv.Folders, t.Folder) {
		c.errorf(c.fieldPath(a, "folder"), fmt.Sprintf("create it first: govc folder.create /%s/vm/%s", t.Datacenter, t.Folder), "folder %s does not exist in %s", t.Folder, where)
	}
	if a.Strategy == plan.Replace && t.RetirementFolder != "" && !contains(inv.Folders, t.RetirementFolder) {
		c.errorf(c.fieldPath(a, "retirementFolder"), fmt.Sprintf("create it first: govc folder.create /%s/vm/%s", t.Datacenter, t.RetirementFolder), "retirement folder %s does not exist in %s", t.RetirementFolder, where)
	}
	if t.ResourcePool != "" && !contains(inv.Pools, t.ResourcePool) {
		c.errorf(c.fieldPath(a, "resourcePool"), "give the pool's path under the cluster", "resource pool %s does not exist in %s", t.ResourcePool, clusterOr(t.Cluster, where))
	}
}

// sourceVM checks that a listed source VM exists (or was already moved by
// this plan) and that each of its networks has a target portgroup there.
func (c *checker) sourceVM(a *plan.Application, j int, ref *plan.VMRef, src, tgt *vsphere.Inventory) {
	path := fmt.Sprintf("applications[%d].vms[%d]", a.Index, j)
	vm := findVM(src, ref.Name, false)
	if vm == nil {
		if moved := findVM(tgt, ref.Name, false); moved != nil && len(moved.Markers) > 0 && c.ours(moved, a.Name) {
			c.sum.SourceMoved++
			return
		}
		c.errorf(path, "check the name in the source vCenter (govc find / -type m -name NAME), or remove it from the plan", "VM %s not found in datacenter %s", ref.Name, c.p.Source.Datacenter)
		return
	}
	c.sum.SourceFound++
	if vm.ManagedBy != "" && vm.ManagedBy != ref.ManagedBy {
		c.errorf(path, fmt.Sprintf("leave it out of the plan; or, only with the solution owner's agreement, add managedBy: %s to this VM", vm.ManagedBy),
			"VM %s is managed by the vSphere solution %s (config.managedBy): no migration may change it unless the plan says so for this VM", vm.Name, vm.ManagedBy)
	}
	nets := map[string]string{}
	for k, v := range a.Resolved.Networks {
		nets[k] = v
	}
	if a.Remediate != nil {
		for k, v := range a.Remediate.Networks {
			nets[k] = v
		}
	}
	for _, n := range vm.Networks {
		pg, ok := nets[n]
		switch {
		case !ok && len(nets) > 0:
			c.errorf(path, fmt.Sprintf("add %q: <portgroup> under target.networks", n), "VM %s is on network %s, which has no target portgroup", vm.Name, n)
		case ok && !contains(tgt.Networks, pg):
			c.errorf(path, "create the portgroup, or fix the mapping under target.networks", "portgroup %s (for network %s) does not exist in datacenter %s", pg, n, tgt.Datacenter)
		}
	}
}

func (c *checker) template(a *plan.Application, path, name string, src, tgt *vsphere.Inventory) {
	if name == "" {
		return
	}
	for _, inv := range []*vsphere.Inventory{tgt, src} {
		if findVM(inv, name, true) != nil || findVM(inv, name, false) != nil {
			return
		}
	}
	where := c.p.Source.Datacenter
	if a.Resolved.Datacenter != where {
		where += " or " + a.Resolved.Datacenter
	}
	c.errorf(path, "check the template's name (govc find / -type m -config.template true)", "template %s not found in datacenter %s", name, where)
}

// nameFree checks that a VM name wavectl will create is not taken in the
// target folder by anything but this plan's own earlier work.
func (c *checker) nameFree(a *plan.Application, name, path string, tgt *vsphere.Inventory) {
	for _, vm := range tgt.VMs {
		if vm.Name != name || vm.Folder != a.Resolved.Folder || c.ours(vm, a.Name) {
			continue
		}
		if a.Strategy == plan.Redeploy && vm.Markers[vsphere.MarkerState] == "superseded" {
			continue
		}
		c.errorf(path, "rename the new VM, pick another target folder, or remove the existing VM", "VM name %s is already taken in folder %s of datacenter %s (%s)", name, folderName(vm.Folder), tgt.Datacenter, vm.Ref)
	}
}

func folderName(f string) string {
	if f == "" {
		return "/"
	}
	return f
}

// capacity adds up what each wave puts on each cluster and datastore, in
// order, and reports the first wave that overfills one.
func (c *checker) capacity() {
	type use struct {
		cpus   int
		memMB  int64
		diskGB int64
	}
	clusters := map[string]*use{}
	datastores := map[string]*use{}
	reported := map[string]bool{}
	var order []string
	src := c.sourceInv()
	for _, a := range c.ordered() {
		tgt := c.targetInv(a)
		if tgt == nil {
			continue
		}
		t := a.Resolved
		for _, sz := range c.sizes(a, src, tgt) {
			if t.Cluster != "" {
				k := t.VCenter + "/" + t.Datacenter + "/" + t.Cluster
				if clusters[k] == nil {
					clusters[k] = &use{}
					order = append(order, "c"+k)
				}
				u := clusters[k]
				u.cpus += sz.cpus
				u.memMB += int64(sz.memMB)
				if cl := tgt.Clusters[t.Cluster]; cl != nil && !reported["c"+k] {
					switch {
					case int64(u.memMB) > cl.MemoryMB:
						reported["c"+k] = true
						c.errorf(c.scopePath(a), "add hosts to the cluster, spread the applications over other clusters, or move some to a later phase", "cluster %s runs out of memory with %s: the plan puts %d MB on it, and it has %d MB", t.Cluster, c.scope(a), u.memMB, cl.MemoryMB)
					case cl.CPUCores > 0 && u.cpus > cl.CPUCores*VCPUPerCore:
						reported["c"+k] = true
						c.errorf(c.scopePath(a), fmt.Sprintf("at most %d vCPUs per physical core are allowed; add hosts or spread the load", VCPUPerCore), "cluster %s runs out of CPU with %s: the plan puts %d vCPUs on it, and it has %d cores", t.Cluster, c.scope(a), u.cpus, cl.CPUCores)
					}
				}
			}
			if t.Datastore != "" {
				k := t.VCenter + "/" + t.Datacenter + "/" + t.Datastore
				if datastores[k] == nil {
					datastores[k] = &use{}
					order = append(order, "d"+k)
				}
				u := datastores[k]
				u.diskGB += int64(sz.diskGB)
				if ds := tgt.Datastores[t.Datastore]; ds != nil && !reported["d"+k] && u.diskGB > ds.FreeGB {
					reported["d"+k] = true
					c.errorf(c.scopePath(a), "free space on the datastore, pick another one, or move some applications to a later phase", "datastore %s runs out of space with %s: the plan puts %d GB on it, and it has %d GB free", t.Datastore, c.scope(a), u.diskGB, ds.FreeGB)
				}
			}
		}
	}
	for _, k := range order {
		name := k[1:]
		parts := strings.Split(name, "/")
		inv := c.inv[dcKey{parts[0], parts[1]}]
		if k[0] == 'c' {
			u, row := clusters[name], &Capacity{Kind: "cluster", Name: name}
			row.NeedCPUs, row.NeedMemMB = u.cpus, u.memMB
			if cl := inv.Clusters[parts[2]]; cl != nil {
				row.HaveCPUs, row.HaveMemMB = cl.CPUCores*VCPUPerCore, cl.MemoryMB
			}
			c.sum.Capacity = append(c.sum.Capacity, row)
		} else {
			u, row := datastores[name], &Capacity{Kind: "datastore", Name: name}
			row.NeedGB = u.diskGB
			if ds := inv.Datastores[parts[2]]; ds != nil {
				row.FreeGB = ds.FreeGB
			}
			c.sum.Capacity = append(c.sum.Capacity, row)
		}
	}
}

func (c *checker) scope(a *plan.Application) string {
	if a.Wave != "" {
		return "wave " + a.Wave + " (at " + a.Name + ")"
	}
	return "the conveyor (at " + a.Name + ")"
}

func (c *checker) scopePath(a *plan.Application) string {
	for i, w := range c.p.Waves {
		if w != nil && w.Name == a.Wave && a.Wave != "" {
			return fmt.Sprintf("waves[%d]", i)
		}
	}
	return fmt.Sprintf("applications[%d]", a.Index)
}

type size struct {
	cpus   int
	memMB  int
	diskGB int
}

// sizes are the VMs an application adds to its target: created, cloned
// or moved there. VMs already in the target cluster add nothing.
func (c *checker) sizes(a *plan.Application, src, tgt *vsphere.Inventory) []size {
	var out []size
	fromVM := func(vm *vsphere.VM) size {
		s := size{cpus: vm.CPUs, memMB: vm.MemoryMB}
		for _, d := range vm.DisksGB {
			s.diskGB += d
		}
		return s
	}
	tmpl := func(name string) *vsphere.VM {
		for _, inv := range []*vsphere.Inventory{tgt, src} {
			if vm := findVM(inv, name, true); vm != nil {
				return vm
			}
			if vm := findVM(inv, name, false); vm != nil {
				return vm
			}
		}
		return nil
	}
	switch a.Strategy {
	case plan.Virtualise:
		for _, s := range a.Servers {
			sz := size{cpus: s.CPUs, memMB: s.MemoryMB}
			for _, d := range s.DisksGB {
				sz.diskGB += d
			}
			out = append(out, sz)
		}
	case plan.Remediate:
		for _, ref := range a.VMs {
			vm := findVM(src, ref.Name, false)
			if vm == nil {
				continue // missing (reported) or already moved
			}
			sz := fromVM(vm)
			if r := a.Remediate; r != nil {
				sz.cpus = max(sz.cpus, r.CPUs)
				sz.memMB = max(sz.memMB, r.MemoryMB)
			}
			out = append(out, sz)
		}
	case plan.Redeploy:
		if t := tmpl(a.Template); t != nil {
			for range a.VMs {
				out = append(out, fromVM(t))
			}
		}
	case plan.Replace:
		if r := a.Replacement; r != nil {
			if t := tmpl(r.Template); t != nil {
				sz := fromVM(t)
				if r.CPUs > 0 {
					sz.cpus = r.CPUs
				}
				if r.MemoryMB > 0 {
					sz.memMB = r.MemoryMB
				}
				out = append(out, sz)
			}
		}
	}
	return out
}

func hasHost(inv *vsphere.Inventory, cluster, host string) bool {
	for name, cl := range inv.Clusters {
		if cluster != "" && name != cluster {
			continue
		}
		if contains(cl.Hosts, host) {
			return true
		}
	}
	return false
}

func clusterOr(cluster, where string) string {
	if cluster != "" {
		return "cluster " + cluster
	}
	return where
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// hosts counts the usable hosts of every target cluster the plan places
// VMs in without fixing their host.
func (c *checker) hosts() {
	for _, a := range c.p.Applications {
		t := a.Resolved
		if t.Cluster == "" || t.Host != "" {
			continue
		}
		inv := c.targetInv(a)
		if inv == nil || inv.Clusters[t.Cluster] == nil {
			continue
		}
		if c.sum.Hosts == nil {
			c.sum.Hosts = map[string]int{}
		}
		c.sum.Hosts[t.Cluster] = len(inv.Clusters[t.Cluster].Hosts)
	}
}
