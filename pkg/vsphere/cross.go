package vsphere

// Cross-vCenter moves: a RelocateVM_Task whose spec carries a
// ServiceLocator naming the destination vCenter (its URL, an instance UUID,
// credentials the source vCenter logs in with, and the SHA-1 thumbprint of
// its certificate). The target placement is resolved in the destination's
// inventory, through the peer's driver.

import (
	"context"
	"crypto/sha1" //nolint:gosec // vCenter's ServiceLocator takes a SHA-1 thumbprint
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/types"
)

// PeerAccess is how a source vCenter reaches a destination vCenter in a
// cross-vCenter move: the destination's SDK URL, the credentials it
// accepts, and its certificate's thumbprint (SHA-1 or SHA-256; empty: read
// from the server when the move is made).
type PeerAccess struct {
	URL        string
	Username   string
	Password   string
	Thumbprint string
}

// String never shows the password.
func (a PeerAccess) String() string {
	return fmt.Sprintf("PeerAccess{URL:%q, Username:%q, Password:\"***\", Thumbprint:%q}", a.URL, a.Username, a.Thumbprint)
}

type peer struct {
	name   string
	driver *Govmomi
	access PeerAccess
}

// AddPeer registers another vCenter, by its name in the plan, so that a
// relocate with RelocateSpec.VCenter = name (or a ServiceLocator whose URL
// is access.URL) moves the VM there: the placement is resolved through
// d, and the ServiceLocator is built from access and d's instance UUID.
func (g *Govmomi) AddPeer(name string, d *Govmomi, access PeerAccess) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := &peer{name: name, driver: d, access: access}
	g.peers["name:"+name] = p
	if access.URL != "" {
		g.peers["url:"+strings.TrimSuffix(access.URL, "/")] = p
	}
}

// AddAlias says that the plan's vCenter name is this very vCenter (the plan
// gives two names one URL): a relocate "to" it stays within this vCenter.
func (g *Govmomi) AddAlias(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.peers["alias:"+name] = &peer{name: name, driver: g}
}

// PeerAccess is how other vCenters reach this session's vCenter in a
// cross-vCenter move: its URL, the credentials it was opened with and
// the thumbprint it is trusted by (empty: read from it at the move).
func (s *Session) PeerAccess() PeerAccess {
	return PeerAccess{URL: s.settings.URL, Username: s.settings.Username, Password: s.settings.Password, Thumbprint: s.settings.Thumbprint}
}

// Peer is the driver registered for the vCenter the plan calls name.
func (g *Govmomi) Peer(name string) (*Govmomi, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.peers["name:"+name]
	if p == nil {
		return nil, false
	}
	return p.driver, true
}

func (g *Govmomi) aliased(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peers["alias:"+name] != nil
}

// locator works out where a relocate goes: nil, nil for a move within
// this vCenter; else the ServiceLocator and the peer's driver.
func (g *Govmomi) locator(ctx context.Context, op, ref string, spec RelocateSpec) (*types.ServiceLocator, *Govmomi, error) {
	var p *peer
	g.mu.Lock()
	switch {
	case spec.Service != nil:
		p = g.peers["url:"+strings.TrimSuffix(spec.Service.URL, "/")]
	case spec.VCenter != "" && spec.VCenter != g.name && g.peers["alias:"+spec.VCenter] == nil:
		p = g.peers["name:"+spec.VCenter]
	}
	g.mu.Unlock()
	switch {
	case spec.Service != nil && p == nil:
		return nil, nil, invalid(op, ref, "a move to vCenter %s needs a connection to it as well", spec.Service.URL)
	case spec.Service == nil && p == nil && (spec.VCenter == "" || spec.VCenter == g.name || g.aliased(spec.VCenter)):
		return nil, nil, nil
	case p == nil:
		return nil, nil, invalid(op, ref, "a move to vCenter %s needs a connection to it as well", spec.VCenter)
	}
	s := spec.Service
	if s == nil {
		s = &ServiceLocator{URL: p.access.URL, Username: p.access.Username, Password: p.access.Password, Thumbprint: p.access.Thumbprint}
	}
	// The locator takes the SHA-1 thumbprint: read it from the peer when
	// none is known, or when only a SHA-256 one is, checking that one.
	tp := s.Thumbprint
	if n, err := NormalizeThumbprint(tp); tp == "" || (err == nil && len(n) > 59) {
		sha1tp, sha256tp, err := serverThumbprints(ctx, s.URL)
		if err != nil {
			return nil, nil, &Fault{Op: op, Object: ref, Kind: "HostConnectFault",
				Message: fmt.Sprintf("reach vCenter %s for its certificate's thumbprint: %v", p.name, err), Err: err}
		}
		if tp != "" && n != sha256tp {
			return nil, nil, &Fault{Op: op, Object: ref, Kind: "SSLVerifyFault",
				Message: fmt.Sprintf("vCenter %s presents a certificate with SHA-256 thumbprint %s, not the trusted %s", p.name, sha256tp, n)}
		}
		tp = sha1tp
	}
	id := s.InstanceID
	if id == "" {
		id = p.driver.c.ServiceContent.About.InstanceUuid
	}
	// vCenter compares instance UUIDs case-sensitively in some versions
	// and wants them in upper case; every version accepts that.
	return &types.ServiceLocator{
		InstanceUuid:  strings.ToUpper(id),
		Url:           s.URL,
		SslThumbprint: sha1Form(tp),
		Credential:    &types.ServiceLocatorNamePassword{Username: s.Username, Password: s.Password},
	}, p.driver, nil
}

// sha1Form keeps a SHA-1 thumbprint (the form vCenter's ServiceLocator
// takes) in upper-case colon form; other forms are passed on as given.
func sha1Form(tp string) string {
	if n, err := NormalizeThumbprint(tp); err == nil && len(n) == 59 {
		return n
	}
	return tp
}

// serverThumbprints reads the SHA-1 and SHA-256 thumbprints of the
// certificate the server at rawURL presents. It trusts nothing: the SHA-1
// one is handed to the source vCenter, which checks the peer against it.
func serverThumbprints(ctx context.Context, rawURL string) (string, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("URL %q: %v", rawURL, err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second},
		Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // only reads the certificate
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return "", "", err
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", "", fmt.Errorf("%s presented no certificate", host)
	}
	s1 := sha1.Sum(certs[0].Raw) //nolint:gosec // the form vCenter asks for
	s256 := sha256.Sum256(certs[0].Raw)
	a, _ := NormalizeThumbprint(fmt.Sprintf("%x", s1))
	b, _ := NormalizeThumbprint(fmt.Sprintf("%x", s256))
	return a, b, nil
}
