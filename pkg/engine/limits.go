package engine

import (
	"context"
	"sync"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// limiter bounds the units in flight: overall, per target datastore and
// per target ESXi host. It also picks the host for a unit: the least busy
// host of its cluster that has room, which is what makes the per-host
// limit hold when vCenter would otherwise place VMs where it liked.
type limiter struct {
	total, perHost, perDS int

	mu      sync.Mutex
	changed chan struct{}
	inUse   int
	hosts   map[string]int
	ds      map[string]int
	// peak counts, for tests and the run's log
	peakTotal int
	peakHost  map[string]int
	peakDS    map[string]int
}

func newLimiter(l plan.Limits) *limiter {
	return &limiter{total: l.Concurrency, perHost: l.PerHost, perDS: l.PerDatastore,
		changed: make(chan struct{}), hosts: map[string]int{}, ds: map[string]int{},
		peakHost: map[string]int{}, peakDS: map[string]int{}}
}

// acquire waits for a slot on datastore ds and on one of hosts (any host
// when hosts is empty) and returns the host chosen and a release function.
func (l *limiter) acquire(ctx context.Context, ds string, hosts []string) (string, func(), error) {
	for {
		l.mu.Lock()
		if host, ok := l.fits(ds, hosts); ok {
			l.inUse++
			l.ds[ds]++
			if host != "" {
				l.hosts[host]++
				l.peakHost[host] = max(l.peakHost[host], l.hosts[host])
			}
			l.peakTotal = max(l.peakTotal, l.inUse)
			l.peakDS[ds] = max(l.peakDS[ds], l.ds[ds])
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
	best, bestN := "", l.perHost
	for _, h := range hosts {
		if n := l.hosts[h]; n < bestN {
			best, bestN = h, n
		}
	}
	return best, best != ""
}

func (l *limiter) release(ds, host string) {
	l.mu.Lock()
	l.inUse--
	l.ds[ds]--
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
