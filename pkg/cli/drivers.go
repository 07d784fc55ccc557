package cli

import (
	"context"
	"log"
	"net"
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
			var d vsphere.Driver = vsphere.NewGovmomi(name, sess.Client())
			if wrap != nil {
				d = wrap(d)
			}
			cache[name] = d
			return d, nil
		}
		return drivers, func() { _ = ss.CloseAll(context.Background()) }, nil
	}
}

// simulatedDrivers starts the embedded simulator seeded from the plan; it
// stands in for every vCenter the plan names. dial, when set, receives the
// simulator's dialer, which reaches the guests it serves for TCP checks.
func simulatedDrivers(f *Factory, wrap func(vsphere.Driver) vsphere.Driver, dial *func(context.Context, string, string) (net.Conn, error)) connector {
	return func(ctx context.Context, p *plan.Plan) (func(context.Context, string) (vsphere.Driver, error), func(), error) {
		quietSimulator(f)
		s, err := sim.NewContext(ctx, p, sim.Options{})
		if err != nil {
			return nil, nil, err
		}
		c, err := s.Client(ctx)
		if err != nil {
			s.Close()
			return nil, nil, err
		}
		f.Log.Debug().Str("url", s.URL().Redacted()).Msg("embedded simulator started")
		if dial != nil {
			*dial = s.DialContext
		}
		var mu sync.Mutex
		cache := map[string]vsphere.Driver{}
		return func(ctx context.Context, name string) (vsphere.Driver, error) {
				mu.Lock()
				defer mu.Unlock()
				if d, ok := cache[name]; ok {
					return d, nil
				}
				var d vsphere.Driver = vsphere.NewGovmomi(name, c.Client)
				if wrap != nil {
					d = wrap(d)
				}
				cache[name] = d
				return d, nil
			}, func() {
				_ = c.Logout(context.Background())
				s.Close()
			}, nil
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
