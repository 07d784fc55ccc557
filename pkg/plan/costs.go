package plan

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// vCenter's cost model, from VMware's "Limits on Simultaneous Migrations"
// (vCenter Server and Host Management, vSphere 6.7):
// https://docs.vmware.com/en/VMware-vSphere/6.7/com.vmware.vsphere.vcenterhost.doc/GUID-25EA5833-03B5-4EDD-A167-87578B8009B3.html
//
// vCenter gives every migration and provisioning operation a cost against
// the host, the datastore and the vMotion network it uses, and each of
// those a maximum cost it runs at once. An operation that would take a
// resource over its maximum is not refused: vCenter queues it until
// others finish. Documented there:
//
//   - network: every vMotion costs 1; a host's vMotion network runs 4 at
//     once on 1GbE and 8 on 10GbE;
//   - datastore: a vMotion costs 1, a Storage vMotion 16, against 128 per
//     datastore;
//   - host: a vMotion costs 1, a Storage vMotion 4, a vMotion without
//     shared storage (host and datastore at once) 4, and "other
//     provisioning operations" (cloning, deployment, cold migration) 1,
//     against 8 per host. A vMotion without shared storage takes the
//     costs of both, plus a network cost of 1.
//
// How wavectl's steps map onto that:
//
//   - clone, create-vm and import-image (deploy from OVF) are provisioning
//     operations; relocate of a VM that is off is a cold migration: each
//     costs 1 of its target host. VMware documents no datastore cost for
//     them; wavectl charges 1, one access to the target datastore as a
//     vMotion's, so that the datastore budget sees them (perDatastore is
//     the cap that bounds them in practice);
//   - relocate-live, a relocate of a running VM, is a vMotion into the new
//     data centre's storage, a vMotion without shared storage: host 4,
//     datastore 16, network 1;
//   - every other step (power on and off, snapshots, reconfigure, hardware
//     upgrade, marking, verifying, hooks) is no migration or provisioning
//     operation: vCenter documents no cost for them and does not queue them
//     against these budgets, so they cost nothing here and only the caps
//     (concurrency, perHost, perDatastore) bound them.
//
// wavectl charges the target side: the target host, the target datastore
// and the target host's vMotion network. A move's source host and
// datastore lie in the source estate, often behind another vCenter whose
// budgets the target's do not share; they are not modelled.
const (
	DefaultHostBudget      = 8
	DefaultDatastoreBudget = 128
	DefaultNetworkBudget   = 8 // 10GbE vMotion networks; 4 for 1GbE
)

// RelocateLive names a relocate of a running VM (a vMotion) in
// limits.costs: it costs what a relocate of a VM that is off does not.
const RelocateLive = "relocate-live"

// CostKinds are the keys limits.costs takes: every step kind, and
// relocate-live.
var CostKinds = append(slices.Clone(StepKinds), RelocateLive)

// DefaultCosts are vCenter's documented costs, as mapped above. A kind
// missing here costs nothing.
var DefaultCosts = map[string]Cost{
	StepClone:       {Host: 1, Datastore: 1},
	StepCreateVM:    {Host: 1, Datastore: 1},
	StepImportImage: {Host: 1, Datastore: 1},
	StepRelocate:    {Host: 1, Datastore: 1},
	RelocateLive:    {Host: 4, Datastore: 16, Network: 1},
}

// Zero reports whether the cost touches no budget.
func (c Cost) Zero() bool { return c == Cost{} }

// String is "host 1, datastore 16, network 1", leaving out what is 0.
func (c Cost) String() string {
	var parts []string
	for _, x := range []struct {
		n    int
		name string
	}{{c.Host, "host"}, {c.Datastore, "datastore"}, {c.Network, "network"}} {
		if x.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", x.name, x.n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// CostOf is what one step of kind costs while it runs; live says the step
// moves a running VM (a live relocate).
func (l Limits) CostOf(kind string, live bool) Cost {
	if kind == StepRelocate && live {
		kind = RelocateLive
	}
	if c, ok := l.Costs[kind]; ok {
		return c
	}
	return DefaultCosts[kind]
}

// Budgets returns the host, datastore and network budgets, vCenter's
// defaults where the limits leave them at 0.
func (l Limits) Budgets() (host, datastore, network int) {
	host, datastore, network = l.HostBudget, l.DatastoreBudget, l.NetworkBudget
	if host <= 0 {
		host = DefaultHostBudget
	}
	if datastore <= 0 {
		datastore = DefaultDatastoreBudget
	}
	if network <= 0 {
		network = DefaultNetworkBudget
	}
	return host, datastore, network
}

// resolveCosts fills in the budgets and every kind's cost: vCenter's
// defaults, with the fields the plan gives on top.
func (p *Plan) resolveCosts() {
	l := &p.Limits
	l.HostBudget, l.DatastoreBudget, l.NetworkBudget = l.Budgets()
	out := maps.Clone(DefaultCosts)
	for k, c := range l.Costs {
		d := out[k]
		if p.pos == nil {
			d = c // built in code: the cost as given
		} else {
			at := "limits.costs[" + k + "]."
			if _, ok := p.pos[at+"host"]; ok {
				d.Host = c.Host
			}
			if _, ok := p.pos[at+"datastore"]; ok {
				d.Datastore = c.Datastore
			}
			if _, ok := p.pos[at+"network"]; ok {
				d.Network = c.Network
			}
		}
		out[k] = d
	}
	l.Costs = out
}

// costs checks limits.costs: known kinds, and no cost above its budget,
// which no step could ever be admitted with.
func (v *validator) costs() {
	l := v.p.Limits
	host, ds, network := l.Budgets()
	for _, k := range slices.Sorted(maps.Keys(l.Costs)) {
		at := "limits.costs[" + k + "]"
		if !contains(CostKinds, k) {
			hint := "keys are step kinds, or relocate-live: " + strings.Join(CostKinds, ", ")
			if s := suggest(k, CostKinds); s != "" {
				hint = fmt.Sprintf("did you mean %q? ", s) + hint
			}
			v.errorf(at+"#key", hint, "limits.costs: %q is not a step kind", k)
			continue
		}
		c := l.Costs[k]
		for _, x := range []struct {
			field, budget string
			cost, max     int
		}{{"host", "hostBudget", c.Host, host}, {"datastore", "datastoreBudget", c.Datastore, ds}, {"network", "networkBudget", c.Network, network}} {
			if x.cost <= x.max {
				continue
			}
			path := at + "." + x.field
			if _, given := v.p.pos[path]; !given {
				// vCenter's default cost, above a budget the plan lowered.
				path = "limits." + x.budget
			}
			v.errorf(path, fmt.Sprintf("raise limits.%s to at least %d, or lower limits.costs.%s.%s (to bound how many run at once, use perHost or perDatastore)", x.budget, x.cost, k, x.field),
				"%s costs %d of the %s budget, above limits.%s (%d): no %s step could ever start", k, x.cost, x.field, x.budget, x.max, k)
		}
	}
}
