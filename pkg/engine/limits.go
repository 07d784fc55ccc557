package engine

import (
	"context"
	"maps"
	"sync"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// limiter bounds the units in flight: overall, per target datastore and
// per target ESXi host. It also picks the host for a unit: the least busy
// host of its cluster that has room, which is what makes the per-host
// limit hold when vCenter would otherwise place VMs where it liked.
//
// It also keeps vCenter's budgets (plan/costs.go): a unit's slots are
// held for its whole chain of steps, but each step takes its kind's cost
// from its target host's, datastore's and vMotion network's budget only
// while it runs (charge). vCenter queues work over those budgets rather
// than run it; a step the engine sent over budget would count vCenter's
// queue as its own running time and hold its slots meanwhile, so the
// engine does not send it until every budget it touches has room.
type limiter struct {
	total, perHost, perDS int
	budget                map[string]int // by resource kind: host, datastore, network

	mu      sync.Mutex
	changed chan struct{}
	inUse   int
	hosts   map[string]int
	ds      map[string]int
	// peak counts, for tests and the run's log
	peakTotal int
	peakHost  map[string]int
	peakDS    map[string]int
	// cost in use and its peak, by resource ("host h1", "datastore ds1",
	// "network h1")
	cost     map[string]int
	peakCost map[string]int
}

func newLimiter(l plan.Limits) *limiter {
	h, d, n := l.Budgets()
	return &limiter{total: l.Concurrency, perHost: l.PerHost, perDS: l.PerDatastore,
		budget:  map[string]int{"host": h, "datastore": d, "network": n},
		changed: make(chan struct{}), hosts: map[string]int{}, ds: map[string]int{},
		peakHost: map[string]int{}, peakDS: map[string]int{}, cost: map[string]int{}, peakCost: map[string]int{}}
}

// charge is one resource a step's cost takes from.
type charge struct {
	kind, name string // "host", "h1"
	cost       int
}

func (c charge) key() string { return c.kind + " " + c.name }

// chargesOf is what a step of cost c placed on host and datastore takes:
// the target host's budget, the target datastore's, and the target host's
// vMotion network's. A resource not known (no host when vCenter places
// the VM) is not charged.
func chargesOf(c plan.Cost, host, ds string) []charge {
	var out []charge
	if c.Host > 0 && host != "" {
		out = append(out, charge{"host", host, c.Host})
	}
	if c.Datastore > 0 && ds != "" {
		out = append(out, charge{"datastore", ds, c.Datastore})
	}
	if c.Network > 0 && host != "" {
		out = append(out, charge{"network", host, c.Network})
	}
	return out
}

// charge waits until every budget a step of cost c touches has room, takes
// the cost, and returns its release. A cost above a budget never fits:
// validation refuses such plans; here it is clamped to the budget, so that
// the step runs alone rather than never.
func (l *limiter) charge(ctx context.Context, c plan.Cost, host, ds string) (func(), error) {
	cs := chargesOf(c, host, ds)
	if len(cs) == 0 {
		return func() {}, nil
	}
	for i := range cs {
		cs[i].cost = min(cs[i].cost, l.budget[cs[i].kind])
	}
	for {
		l.mu.Lock()
		fits := true
		for _, x := range cs {
			fits = fits && l.cost[x.key()]+x.cost <= l.budget[x.kind]
		}
		if fits {
			for _, x := range cs {
				l.cost[x.key()] += x.cost
				l.peakCost[x.key()] = max(l.peakCost[x.key()], l.cost[x.key()])
			}
			l.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					l.mu.Lock()
					for _, x := range cs {
						l.cost[x.key()] -= x.cost
					}
					close(l.changed)
					l.changed = make(chan struct{})
					l.mu.Unlock()
				})
			}, nil
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// BudgetPeaks reports the most cost seen in use at once on each budget,
// keyed "host NAME", "datastore NAME" and "network NAME" (a host's vMotion
// network), with the budgets they were held to.
func (l *limiter) BudgetPeaks() (peaks map[string]int, budgets map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.peakCost), maps.Clone(l.budget)
}

// acquire waits for a slot on datastore ds (none when ds is "") and on
// one of hosts (any host when hosts is empty) and returns the host chosen
// and a release function.
func (l *limiter) acquire(ctx context.Context, ds string, hosts []string) (string, func(), error) {
	for {
		l.mu.Lock()
		if host, ok := l.fits(ds, hosts); ok {
			l.inUse++
			if ds != "" {
				l.ds[ds]++
				l.peakDS[ds] = max(l.peakDS[ds], l.ds[ds])
			}
			if host != "" {
				l.hosts[host]++
				l.peakHost[host] = max(l.peakHost[host], l.hosts[host])
			}
			l.peakTotal = max(l.peakTotal, l.inUse)
			l.mu.Unlock()
			var once sync.Once
			return host, func() { once.Do(func() { l.release(ds, host) }) }, nil
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
	}
}

func (l *limiter) fits(ds string, hosts []string) (string, bool) {
	if l.inUse >= l.total || (ds != "" && l.ds[ds] >= l.perDS) {
		return "", false
	}
	if len(hosts) == 0 {
		return "", true
	}
	// The least busy host with a free slot; between hosts as busy, the
	// one whose budgets are least spent, so that a VM does not queue for
	// a host's budget while another's is free.
	best, bestN, bestCost := "", l.perHost, 0
	for _, h := range hosts {
		n, c := l.hosts[h], l.cost["host "+h]+l.cost["network "+h]
		if n < bestN || (n == bestN && best != "" && c < bestCost) {
			best, bestN, bestCost = h, n, c
		}
	}
	return best, best != ""
}

func (l *limiter) release(ds, host string) {
	l.mu.Lock()
	l.inUse--
	if ds != "" {
		l.ds[ds]--
	}
	if host != "" {
		l.hosts[host]--
	}
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// Peaks reports the most units seen in flight at once: overall, per host
// and per datastore.
func (l *limiter) Peaks() (int, map[string]int, map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := map[string]int{}
	for k, v := range l.peakHost {
		h[k] = v
	}
	d := map[string]int{}
	for k, v := range l.peakDS {
		d[k] = v
	}
	return l.peakTotal, h, d
}

type dcKey struct{ vcenter, dc string }

// hostCache holds each target cluster's usable hosts, read once per
// datacenter in bulk.
type hostCache struct {
	mu  sync.Mutex
	inv map[dcKey]*vsphere.Inventory
}

// hosts returns the hosts a unit may be placed on: the fixed host, or the
// connected hosts of the target cluster.
func (e *engine) hosts(ctx context.Context, d vsphere.Driver, p vsphere.Placement) ([]string, error) {
	if p.Host != "" {
		return []string{p.Host}, nil
	}
	if p.Cluster == "" {
		return nil, nil
	}
	e.hc.mu.Lock()
	defer e.hc.mu.Unlock()
	k := dcKey{d.Name(), p.Datacenter}
	inv, ok := e.hc.inv[k]
	if !ok {
		var err error
		if inv, err = d.Inventory(ctx, p.Datacenter); err != nil {
			return nil, err
		}
		if e.hc.inv == nil {
			e.hc.inv = map[dcKey]*vsphere.Inventory{}
		}
		e.hc.inv[k] = inv
	}
	if c := inv.Clusters[p.Cluster]; c != nil {
		return c.Hosts, nil
	}
	return nil, nil
}
