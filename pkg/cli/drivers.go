package cli

import (
	"context"
	"fmt"
	"log"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

// connector opens the drivers of a plan's vCenters, lazily, and returns a
// function that closes them. Commands hold one and call it only when they
// run, so that nothing connects for --offline or a usage mistake.
type connector func(ctx context.Context, p *plan.Plan) (func(context.Context, string) (vsphere.Driver, error), func(), error)

// vcenterDrivers connects to the plan's vCenters, one session each, on
// first use. wrap, when set, decorates each driver (the read-only one for
// dry runs).
func vcenterDrivers(f *Factory, cmd *cobra.Command, wrap func(vsphere.Driver) vsphere.Driver) connector {
	return func(ctx context.Context, p *plan.Plan) (func(context.Context, string) (vsphere.Driver, error), func(), error) {
		ss, err := VCenterSessions(f, cmd, p, nil)
		if err != nil {
			return nil, nil, err
		}
		var mu sync.Mutex
		cache := map[string]vsphere.Driver{}
		type opened struct {
			g      *vsphere.Govmomi
			access vsphere.PeerAccess
		}
		var open []opened
		drivers := func(ctx context.Context, name string) (vsphere.Driver, error) {
			mu.Lock()
			defer mu.Unlock()
			if d, ok := cache[name]; ok {
				return d, nil
			}
			sess, err := ss.Get(ctx, name)
			if err != nil {
				return nil, err
			}
			g := vsphere.NewGovmomi(name, sess.Client())
			// Every vCenter the run opened can move VMs to every other
			// (cross-vCenter relocation); two names of one URL are one.
			me := opened{g, sess.PeerAccess()}
			for _, o := range open {
				if strings.TrimSuffix(o.access.URL, "/") == strings.TrimSuffix(me.access.URL, "/") {
					g.AddAlias(o.g.Name())
					o.g.AddAlias(name)
					continue
				}
				g.AddPeer(o.g.Name(), o.g, o.access)
				o.g.AddPeer(name, g, me.access)
			}
			open = append(open, me)
			var d vsphere.Driver = g
			if wrap != nil {
				d = wrap(d)
			}
			cache[name] = d
			return d, nil
		}
		return drivers, func() { _ = ss.CloseAll(context.Background()) }, nil
	}
}

// simulatedDrivers starts the embedded simulator seeded from the plan: one
// instance per vCenter URL, each its own vCenter, so that moves between
// them are cross-vCenter relocations. dial, when set, receives a dialer
// that reaches the guests the instances serve for TCP checks.
func simulatedDrivers(f *Factory, wrap func(vsphere.Driver) vsphere.Driver, dial *func(context.Context, string, string) (net.Conn, error)) connector {
	return func(ctx context.Context, p *plan.Plan) (func(context.Context, string) (vsphere.Driver, error), func(), error) {
		quietSimulator(f)
		e, err := sim.NewEstateContext(ctx, p, sim.Options{})
		if err != nil {
			return nil, nil, err
		}
		if err := e.Start(""); err != nil {
			e.Close()
			return nil, nil, err
		}
		// One client per simulator instance, shared by the vCenter names
		// it serves.
		type simClient struct {
			logout    func()
			newDriver func(name string) *vsphere.Govmomi
		}
		clients := map[*sim.Sim]simClient{}
		closeAll := func() {
			for _, c := range clients {
				c.logout()
			}
			e.Close()
		}
		govs := map[string]*vsphere.Govmomi{}
		for _, name := range slices.Sorted(maps.Keys(p.VCenters)) {
			s := e.Sim(name)
			sc, ok := clients[s]
			if !ok {
				c, err := s.Client(ctx)
				if err != nil {
					closeAll()
					return nil, nil, err
				}
				sc = simClient{
					logout:    func() { _ = c.Logout(context.Background()) },
					newDriver: func(name string) *vsphere.Govmomi { return vsphere.NewGovmomi(name, c.Client) },
				}
				clients[s] = sc
				f.Log.Debug().Str("url", s.URL().Redacted()).Strs("vcenters", e.VCenters(s)).Msg("embedded simulator started")
			}
			govs[name] = sc.newDriver(name)
		}
		// Each vCenter can move VMs to every other, as linked vCenters can.
		for name, g := range govs {
			for peer, pg := range govs {
				if peer == name {
					continue
				}
				if e.Sim(peer) == e.Sim(name) {
					g.AddAlias(peer)
					continue
				}
				u := e.Sim(peer).URL()
				pass, _ := u.User.Password()
				bare := *u
				bare.User = nil
				g.AddPeer(peer, pg, vsphere.PeerAccess{URL: bare.String(), Username: u.User.Username(), Password: pass,
					Thumbprint: e.Sim(peer).Thumbprint()})
			}
		}
		if dial != nil {
			*dial = e.DialContext
		}
		var mu sync.Mutex
		cache := map[string]vsphere.Driver{}
		return func(ctx context.Context, name string) (vsphere.Driver, error) {
			mu.Lock()
			defer mu.Unlock()
			if d, ok := cache[name]; ok {
				return d, nil
			}
			g, ok := govs[name]
			if !ok {
				return nil, fmt.Errorf("the plan names no vCenter %s", name)
			}
			var d vsphere.Driver = g
			if wrap != nil {
				d = wrap(d)
			}
			cache[name] = d
			return d, nil
		}, closeAll, nil
	}
}

// quietSimulator sends what govmomi's simulator prints with the standard
// logger (FileAlreadyExists for every disk a create makes, and the like:
// its own bookkeeping, nothing a user can act on) to the debug log.
func quietSimulator(f *Factory) {
	log.SetFlags(0)
	log.SetOutput(debugWriter{f.Log})
}

type debugWriter struct{ log zerolog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug().Str("from", "simulator").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}
