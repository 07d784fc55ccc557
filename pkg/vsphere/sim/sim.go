// Package sim is govmomi's in-process vCenter simulator seeded from a plan:
// the source estate, templates and target data centre a plan names, with
// optional task delays and injected faults for rehearsals and tests.
//
// A Sim is one vCenter. New builds one that stands in for every vCenter
// the plan names (the source and target datacenters in one inventory);
// NewEstate (estate.go) builds one per vCenter URL, as `wavectl sim` and
// `--simulate` do, so that a move between vCenters is a cross-vCenter
// relocation (cross.go).
//
// Beyond seeding, the package guards the simulator against crashes it is
// known to have under concurrent use (see guard.go): migrations run many
// clones at once, and an unguarded simulator can panic the whole process.
package sim

import (
	"context"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // a name-based UUID, not a secret
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere"
)

// Sim is a running vCenter simulator seeded from a plan. Create it with New,
// serve it on loopback with Start (Client does that for you), and always
// Close it: Close removes the simulator's datastore files.
type Sim struct {
	model *simulator.Model
	opts  Options
	inv   Summary

	guest    *guestAgent
	faults   *faultSet
	budgets  *budgets // vCenter's cost model (budgets.go)
	sessions sessionOverrides
	placed   atomic.Int64 // round-robin host placement, see pickHost

	// vcenters are the plan's vCenter names this instance serves; nil
	// serves them all (see estate.go).
	vcenters map[string]bool
	estate   *Estate
	moving   sync.Map // VMs in a cross-vCenter relocation (cross.go)

	mu      sync.Mutex
	server  *simulator.Server
	closed  bool
	broken  bool
	prevTD  *simulator.DelayConfig // TaskDelay before New set it, restored by Close
	ownsTD  bool
	homeDir string
}

// Summary counts what New put in the inventory.
type Summary struct {
	Datacenters int // source and target datacenters
	Clusters    int
	Hosts       int
	Datastores  int
	Networks    int // standard networks and distributed portgroups, "VM Network" included
	Folders     int // VM folders created for the plan (not the datacenters' own)
	Pools       int // resource pools named by the plan (not the clusters' root pools)
	VMs         int // source VMs, templates excluded
	Templates   int // templates, one per target datacenter that uses each
}

// New builds a simulator holding everything the plan refers to: the source
// datacenter with the plan's VMs, the templates, and each target
// datacenter's clusters (with hosts), datastores, portgroups, folders and
// resource pools, sized to hold the whole plan. See seed.go for the shape.
//
// New sets the process-wide simulator.TaskDelay when opts asks for delays;
// see Options.Delays.
func New(p *plan.Plan, opts Options) (*Sim, error) {
	return NewContext(context.Background(), p, opts)
}

// NewContext is New, seeding until ctx is done: a cancelled seeding
// closes what it built and returns ctx's error.
func NewContext(ctx context.Context, p *plan.Plan, opts Options) (*Sim, error) {
	return newInstance(ctx, p, opts, nil, 0)
}

// newInstance builds the simulator of the vCenters named in vcenters (all
// of them when nil); index keeps its guests' addresses apart from other
// instances' in the process.
func newInstance(ctx context.Context, p *plan.Plan, opts Options, vcenters map[string]bool, index int) (*Sim, error) {
	if p == nil {
		return nil, errors.New("sim: no plan")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}

	model := simulator.VPX()
	// An empty vCenter: the plan supplies every datacenter and object.
	model.Datacenter = 0
	model.Portgroup = 0
	model.Host = 0
	model.Cluster = 0
	model.ClusterHost = 0
	model.Datastore = 0
	model.Machine = 0
	model.Autostart = false
	if err := model.Create(); err != nil {
		model.Remove()
		return nil, fmt.Errorf("sim: create simulator: %w", err)
	}

	// Every vCenter has an instance UUID of its own, and keeps it across
	// restarts, as a real one does (a state file records it); the
	// simulator's generator gives every model of a process the same one.
	// One instance for every vCenter keeps the simulator's.
	if si, ok := model.Map().Get(vim25.ServiceInstance).(*simulator.ServiceInstance); ok && vcenters != nil {
		si.Content.About.InstanceUuid = instanceUUID(slices.Sorted(maps.Keys(vcenters)))
	}
	s := &Sim{model: model, opts: opts, vcenters: vcenters}
	limits := p.Limits
	if opts.Limits != nil {
		limits = *opts.Limits
	}
	s.budgets = newBudgets(limits, opts.NoBudgets)
	s.homeDir = homeDir(model)
	s.guest = newGuestAgent(model.Map(), &s.sessions)
	s.guest.next = uint32(index) << 16
	s.guest.serveChecks(p)
	model.Map().AddHandler(s.guest)

	c, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sim: in-process client: %w", err)
	}
	sd := newSeeder(s, c, p)
	if err := sd.seed(ctx); err != nil {
		s.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("sim: seed from plan %s: %w", p.Metadata.Name, err)
	}
	s.inv = sd.summary

	// Faults and delays apply to clients, not to seeding, so they are
	// switched on only now.
	s.faults = newFaultSet(opts)
	s.faults.install(model.Service)
	s.applyTaskDelay()
	model.Map().Handler = s.dispatch
	return s, nil
}

// serves reports whether this instance serves the plan's vCenter name.
func (s *Sim) serves(vcenter string) bool { return s.vcenters == nil || s.vcenters[vcenter] }

// Summary reports what New put in the inventory.
func (s *Sim) Summary() Summary { return s.inv }

// Model is the underlying simulator model, for tests that need to reach
// behind the API (simulator.Map lookups, Service.AddFaultRule, ...).
func (s *Sim) Model() *simulator.Model { return s.model }

// DefaultListen is where Start listens when given "".
const DefaultListen = "127.0.0.1:0"

// Start serves the simulator over HTTPS (a self-signed certificate, so
// clients need insecure mode or its thumbprint) on listen, e.g.
// "127.0.0.1:8989" or "" for a free loopback port. It returns the SDK URL,
// which carries the simulator's user and password: fine for a simulator,
// never for a real vCenter. Starting twice returns the first URL.
func (s *Sim) Start(listen string) (*url.URL, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("sim: closed")
	}
	if s.broken {
		return nil, errors.New("sim: an earlier Start failed; make a new Sim")
	}
	if s.server != nil {
		return cloneURL(s.server.URL), nil
	}
	if listen == "" {
		listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return nil, fmt.Errorf("sim: listen address %q: want host:port, e.g. 127.0.0.1:8989", listen)
	}
	// NewServer panics when it cannot listen, and cannot be retried: its
	// handlers are already registered by then. Find out first.
	if !strings.HasSuffix(listen, ":0") {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return nil, fmt.Errorf("sim: listen on %s: %w", listen, err)
		}
		_ = ln.Close()
	}
	svc := s.model.Service
	// Only the credentials Env prints are accepted, as a real vCenter
	// would, so that a wrong password is a failure a rehearsal can show.
	svc.Listen = &url.URL{Host: listen, User: url.UserPassword("wavectl", randomPassword())}
	// A certificate of its own, as every vCenter has: a thumbprint pins
	// one instance, and a cross-vCenter move can check it.
	cert, err := selfSigned()
	if err != nil {
		return nil, fmt.Errorf("sim: certificate: %w", err)
	}
	svc.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	svc.RegisterEndpoints = true
	server, err := newServer(svc)
	if err != nil {
		s.broken = true // the mux is half set up; this Sim cannot serve again
		return nil, fmt.Errorf("sim: listen on %s: %w", listen, err)
	}
	s.server = server
	return cloneURL(s.server.URL), nil
}

// instanceUUID is a name-based (version 5 style) UUID of the vCenter
// names an instance serves: stable across restarts, distinct per vCenter.
func instanceUUID(names []string) string {
	sum := sha1.Sum([]byte("wavectl-sim-vcenter:" + strings.Join(names, ",")))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newServer(svc *simulator.Service) (server *simulator.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return svc.NewServer(), nil
}

// URL is the SDK URL with credentials, or nil before Start.
func (s *Sim) URL() *url.URL {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.server == nil {
		return nil
	}
	return cloneURL(s.server.URL)
}

// Thumbprint is the SHA-1 thumbprint of the server's certificate, for
// clients that pin it rather than run insecure; "" before Start.
func (s *Sim) Thumbprint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.server == nil {
		return ""
	}
	return s.server.CertificateInfo().ThumbprintSHA1
}

// Env returns the shell lines that point govc and wavectl at the running
// simulator, one `export NAME=value` per line: GOVC_URL, GOVC_USERNAME,
// GOVC_PASSWORD, GOVC_INSECURE and the WAVECTL_ equivalents. The URL lines
// carry no credentials; the USERNAME and PASSWORD lines do. Nil before Start.
func (s *Sim) Env() []string {
	u := s.URL()
	if u == nil {
		return nil
	}
	user := u.User.Username()
	pass, _ := u.User.Password()
	bare := cloneURL(u)
	bare.User = nil
	var lines []string
	for _, prefix := range []string{"GOVC", "WAVECTL"} {
		lines = append(lines,
			"export "+prefix+"_URL="+shellQuote(bare.String()),
			"export "+prefix+"_USERNAME="+shellQuote(user),
			"export "+prefix+"_PASSWORD="+shellQuote(pass),
			"export "+prefix+"_INSECURE=1",
		)
	}
	return lines
}

// Client returns a govmomi client logged in to the simulator, starting the
// server on a free loopback port first if Start has not been called. It
// talks SOAP over HTTPS like a client of a real vCenter would, so sessions,
// the property collector and task waits behave as they do for real. Log it
// out (or let Close drop the server) when done.
func (s *Sim) Client(ctx context.Context) (*govmomi.Client, error) {
	u, err := s.Start("")
	if err != nil {
		return nil, err
	}
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return nil, fmt.Errorf("sim: connect: %w", err)
	}
	// As vsphere.Connect does: keep a connection per call in flight.
	c.DefaultTransport().MaxIdleConnsPerHost = vsphere.MaxIdleConns
	return c, nil
}

// Close stops the server, restores simulator.TaskDelay and removes the
// simulator's files under $TMPDIR/govcsim-*. It is safe to call twice.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	server := s.server
	s.mu.Unlock()

	if server != nil {
		server.Close()
	}
	s.restoreTaskDelay()
	s.guest.close()
	if s.model.Service != nil {
		s.model.Map().Handler = nil
		s.model.Service.ClearFaultRules()
		s.model.Remove()
	}
	if s.homeDir != "" {
		// Remove covers this too; make sure even if the model changes.
		_ = os.RemoveAll(s.homeDir)
	}
	return nil
}

// homeDir is the simulator's temporary folder ($TMPDIR/govcsim-*), which
// holds every datastore's files.
func homeDir(m *simulator.Model) string {
	for _, o := range m.Map().OptionManager().Setting {
		if v := o.GetOptionValue(); v.Key == "vcsim.home" {
			if dir, ok := v.Value.(string); ok {
				return dir
			}
		}
	}
	return ""
}

func cloneURL(u *url.URL) *url.URL {
	c := *u
	if u.User != nil {
		user := *u.User
		c.User = &user
	}
	return &c
}

// shellQuote quotes v for a POSIX shell when it needs it.
func shellQuote(v string) string {
	if v != "" && strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r))
	}) < 0 {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}
