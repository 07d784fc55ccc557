package sim

// An estate is one simulator instance per vCenter of a plan, as a real
// migration has: the legacy vCenter holding the source datacenter, and the
// new one (or ones) holding the target datacenters. Each instance has its
// own URL, credentials, certificate, instance UUID and inventory, so that
// nothing one vCenter knows is visible from the other, and a move between
// them has to be a cross-vCenter relocation (see cross.go). Names the plan
// gives the same URL share an instance, as they would share a vCenter.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/plan"
)

// Estate is the simulators of a plan's vCenters. Create it with NewEstate,
// start it with Start, and always Close it.
type Estate struct {
	sims  []*Sim          // in the order of their first vCenter name
	names map[string]*Sim // plan vCenter name -> instance
	// groups are the vCenter names each instance serves, sorted.
	groups map[*Sim][]string
}

// NewEstate builds one simulator per distinct vCenter URL of the plan,
// each seeded with the datacenters the plan puts in its vCenters: the
// source datacenter where the source vCenter is, each target datacenter
// where its application's target vCenter is. A plan with one vCenter (or
// all of them at one URL) gets one instance, exactly as New builds it.
//
// Delays set through opts.Delays on simulator.TaskDelay are process-wide
// and set once, by the first instance.
func NewEstate(p *plan.Plan, opts Options) (*Estate, error) {
	return NewEstateContext(context.Background(), p, opts)
}

// NewEstateContext is NewEstate, seeding until ctx is done.
func NewEstateContext(ctx context.Context, p *plan.Plan, opts Options) (*Estate, error) {
	if p == nil {
		return nil, errors.New("sim: no plan")
	}
	byURL := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(p.VCenters)) {
		u := normalURL(p.VCenters[name].URL)
		byURL[u] = append(byURL[u], name)
	}
	// The source vCenter's instance comes first: `wavectl sim --listen`
	// gives it the port asked for.
	var groups [][]string
	for _, names := range byURL {
		groups = append(groups, names)
	}
	slices.SortFunc(groups, func(a, b []string) int {
		as, bs := slices.Contains(a, p.Source.VCenter), slices.Contains(b, p.Source.VCenter)
		switch {
		case as && !bs:
			return -1
		case bs && !as:
			return 1
		}
		return strings.Compare(a[0], b[0])
	})
	e := &Estate{names: map[string]*Sim{}, groups: map[*Sim][]string{}}
	if len(groups) <= 1 {
		s, err := NewContext(ctx, p, opts)
		if err != nil {
			return nil, err
		}
		s.estate = e
		e.sims = []*Sim{s}
		var names []string
		for name := range p.VCenters {
			e.names[name] = s
			names = append(names, name)
		}
		slices.Sort(names)
		e.groups[s] = names
		return e, nil
	}
	for i, names := range groups {
		serve := map[string]bool{}
		for _, n := range names {
			serve[n] = true
		}
		o := opts
		if i > 0 {
			o.sharedTaskDelay = true
		}
		s, err := newInstance(ctx, p, o, serve, i)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("vCenter %s: %w", strings.Join(names, ", "), err)
		}
		s.estate = e
		e.sims = append(e.sims, s)
		e.groups[s] = names
		for _, n := range names {
			e.names[n] = s
		}
	}
	return e, nil
}

// normalURL is a vCenter URL as instances are told apart: scheme, host and
// path, case-insensitive host, no trailing slash.
func normalURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return strings.TrimSuffix(strings.TrimSpace(raw), "/")
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + strings.TrimSuffix(u.Path, "/")
}

// Sims are the instances, the source vCenter's first.
func (e *Estate) Sims() []*Sim { return e.sims }

// Sim is the instance serving the plan's vCenter name, or nil.
func (e *Estate) Sim(vcenter string) *Sim { return e.names[vcenter] }

// VCenters are the plan's vCenter names an instance serves, sorted.
func (e *Estate) VCenters(s *Sim) []string { return e.groups[s] }

// Start serves every instance on loopback: the first on listen (host:port,
// port 0 for a free one), the others on the ports after it, or on free
// ports when listen's port is 0.
func (e *Estate) Start(listen string) error {
	if listen == "" {
		listen = DefaultListen
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("sim: listen address %q: want host:port, e.g. 127.0.0.1:8989", listen)
	}
	first, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("sim: listen address %q: the port must be a number", listen)
	}
	for i, s := range e.sims {
		p := 0
		if first != 0 {
			p = first + i
		}
		if _, err := s.Start(net.JoinHostPort(host, strconv.Itoa(p))); err != nil {
			return err
		}
	}
	return nil
}

// peerByURL finds the instance serving a ServiceLocator's URL.
func (e *Estate) peerByURL(raw string) *Sim {
	want, err := url.Parse(raw)
	if err != nil || want.Host == "" {
		return nil
	}
	for _, s := range e.sims {
		if u := s.URL(); u != nil && strings.EqualFold(u.Host, want.Host) {
			return s
		}
	}
	return nil
}

// Env returns the export lines for every vCenter. With one instance they
// are Sim.Env's (GOVC_* and WAVECTL_*, standing in for every vCenter).
// With several, each vCenter name gets WAVECTL_VCENTER_<NAME>_URL,
// _USERNAME and _PASSWORD; WAVECTL_INSECURE=1 covers them all; GOVC_*
// point at the source vCenter, and a comment per other vCenter shows the
// GOVC_* set that reaches it.
func (e *Estate) Env() []string {
	if len(e.sims) == 1 {
		return e.sims[0].Env()
	}
	var lines []string
	for i, s := range e.sims {
		u := s.URL()
		if u == nil {
			return nil
		}
		user := u.User.Username()
		pass, _ := u.User.Password()
		bare := cloneURL(u)
		bare.User = nil
		for _, name := range e.groups[s] {
			v := "WAVECTL_VCENTER_" + envName(name)
			lines = append(lines,
				"export "+v+"_URL="+shellQuote(bare.String()),
				"export "+v+"_USERNAME="+shellQuote(user),
				"export "+v+"_PASSWORD="+shellQuote(pass),
			)
		}
		if i == 0 {
			lines = append(lines,
				"export GOVC_URL="+shellQuote(bare.String()),
				"export GOVC_USERNAME="+shellQuote(user),
				"export GOVC_PASSWORD="+shellQuote(pass),
				"export GOVC_INSECURE=1",
			)
		}
	}
	lines = append(lines, "export WAVECTL_INSECURE=1")
	for _, s := range e.sims[1:] {
		v := "WAVECTL_VCENTER_" + envName(e.groups[s][0])
		lines = append(lines, fmt.Sprintf("# govc on vCenter %s: GOVC_URL=$%s_URL GOVC_USERNAME=$%s_USERNAME GOVC_PASSWORD=$%s_PASSWORD govc ...",
			strings.Join(e.groups[s], ", "), v, v, v))
	}
	return lines
}

// envName is a vCenter name as wavectl's env variables spell it.
func envName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Close closes every instance, the last first (the first restores the
// process-wide task delays).
func (e *Estate) Close() error {
	for i := len(e.sims) - 1; i >= 0; i-- {
		_ = e.sims[i].Close()
	}
	return nil
}

// selfSigned makes a certificate for a loopback vCenter, as a fresh
// vCenter has its own self-signed one.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "wavectl-sim", Organization: []string{"wavectl simulator"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// DialContext dials a guest's address as Sim.DialContext does, through
// whichever instance serves that guest.
func (e *Estate) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	for _, s := range e.sims {
		if a := s.GuestAddr(addr); a != addr {
			var d net.Dialer
			return d.DialContext(ctx, network, a)
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// GovcEnv returns the export lines that point govc (and wavectl, through
// GOVC_*) at the instance serving one vCenter of the plan, nil for a name
// the plan does not have or before Start.
func (e *Estate) GovcEnv(vcenter string) []string {
	s := e.names[vcenter]
	if s == nil {
		return nil
	}
	u := s.URL()
	if u == nil {
		return nil
	}
	pass, _ := u.User.Password()
	bare := cloneURL(u)
	bare.User = nil
	return []string{
		"export GOVC_URL=" + shellQuote(bare.String()),
		"export GOVC_USERNAME=" + shellQuote(u.User.Username()),
		"export GOVC_PASSWORD=" + shellQuote(pass),
		"export GOVC_INSECURE=1",
	}
}
