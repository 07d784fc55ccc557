package vsphere

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/session/keepalive"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/wavectl/wavectl/pkg/redact"
)

// Connection errors, for the CLI to map to exit codes: errors.Is(err,
// ErrUnreachable) for "could not reach vCenter" (DNS, refused, timeout, an
// untrusted certificate, not a vSphere endpoint), errors.Is(err,
// ErrBadCredentials) for "vCenter refused the username or password".
var (
	ErrUnreachable    = errors.New("cannot reach vCenter")
	ErrBadCredentials = errors.New("vCenter refused the username or password")
	// ErrClosed is returned for calls on a session (or a Sessions) after
	// Logout (CloseAll).
	ErrClosed = errors.New("vCenter session closed")
)

// ConnectError is a failed connection or login. Kind is ErrUnreachable or
// ErrBadCredentials; errors.Is matches it. Err is the cause (a
// *CertificateError when the certificate was the problem).
type ConnectError struct {
	VCenter string
	URL     string
	Kind    error
	Hint    string
	Err     error
}

func (e *ConnectError) Error() string {
	var msg string
	if e.Kind == ErrBadCredentials {
		msg = fmt.Sprintf("vCenter %s at %s refused the login: %v", e.VCenter, e.URL, e.Err)
	} else {
		msg = fmt.Sprintf("cannot reach vCenter %s at %s: %v", e.VCenter, e.URL, e.Err)
	}
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnreachable) and errors.Is(err,
// ErrBadCredentials) work.
func (e *ConnectError) Is(target error) bool { return target == e.Kind }

// CertificateError is a server certificate that wavectl does not trust:
// not signed by a known CA, or not matching the expected thumbprint.
// SHA1 and SHA256 are the server certificate's thumbprints, shown so that
// the user can check them and pin one.
type CertificateError struct {
	Addr     string // host:port
	Expected string // the thumbprint that did not match, if one was given
	SHA1     string
	SHA256   string
	Err      error // the TLS verification error
}

func (e *CertificateError) Error() string {
	got := ""
	if e.SHA256 != "" {
		got = fmt.Sprintf("; the server's certificate has SHA-256 thumbprint %s (SHA-1 %s)", e.SHA256, e.SHA1)
	}
	if e.Expected != "" {
		return fmt.Sprintf("the certificate of %s does not match the expected thumbprint %s%s", e.Addr, e.Expected, got)
	}
	return fmt.Sprintf("the certificate of %s is not trusted (%v)%s", e.Addr, e.Err, got)
}

func (e *CertificateError) Unwrap() error { return e.Err }

// Option changes how Connect works.
type Option func(*options)

type options struct {
	keepAlive   time.Duration
	dialTimeout time.Duration
	userAgent   string
}

// WithKeepAlive sets how often an idle session is touched to keep it
// alive (default 5 minutes; vCenter's idle timeout is 30).
func WithKeepAlive(d time.Duration) Option { return func(o *options) { o.keepAlive = d } }

// WithDialTimeout bounds connecting and the TLS handshake (default 30s).
func WithDialTimeout(d time.Duration) Option { return func(o *options) { o.dialTimeout = d } }

// WithUserAgent sets the HTTP User-Agent (default "wavectl"), which
// vCenter shows in its session list.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// Session is one logged-in connection to a vCenter, shared by everything a
// run does there. Its client logs in again by itself when vCenter ends the
// session (idle timeout, restart, an administrator), retrying the call
// that found out; a keepalive touches the session while it is idle.
//
// Objects that live in a session (container views, property collectors
// and their filters, as task waits create) die with it: a call on one
// after a re-login fails with ManagedObjectNotFound. Create them per
// operation and treat that fault as worth a retry.
type Session struct {
	name     string
	settings Settings
	log      zerolog.Logger

	soap   *soap.Client
	client *vim25.Client
	ka     *keepalive.HandlerSOAP

	mu     sync.Mutex // serialises logins and logout
	gen    atomic.Uint64
	closed atomic.Bool
	user   types.UserSession // guarded by mu
	logins atomic.Int64
}

// Connect logs in to a vCenter once and returns the session. Errors are
// *ConnectError (ErrUnreachable or ErrBadCredentials) or *SettingsError
// (an unreadable CA file); none contains the password.
func Connect(ctx context.Context, name string, s Settings, log zerolog.Logger, opts ...Option) (*Session, error) {
	o := options{keepAlive: 5 * time.Minute, dialTimeout: 30 * time.Second, userAgent: "wavectl"}
	for _, opt := range opts {
		opt(&o)
	}
	u, err := parseEndpoint(s.URL)
	if err != nil {
		return nil, &SettingsError{VCenter: name, Msg: fmt.Sprintf("vCenter %s: URL %q: %v", name, redact.URL(s.URL), err)}
	}
	u.User = nil
	s.URL = u.String()

	sc := soap.NewClient(u, s.Insecure)
	sc.UserAgent = o.userAgent
	if s.CAFile != "" {
		if err := sc.SetRootCAs(s.CAFile); err != nil {
			return nil, &SettingsError{VCenter: name, Msg: fmt.Sprintf("vCenter %s: CA file %s: %v; give a readable PEM file with --ca-file or GOVC_TLS_CA_CERTS", name, s.CAFile, err)}
		}
	}
	if s.Thumbprint != "" {
		tp, err := NormalizeThumbprint(s.Thumbprint)
		if err != nil {
			return nil, &SettingsError{VCenter: name, Msg: fmt.Sprintf("vCenter %s: %v", name, err)}
		}
		s.Thumbprint = tp
		sc.SetThumbprint(u.Host, tp)
	}
	t := sc.DefaultTransport()
	d := &dialer{sc: sc, config: t.TLSClientConfig, timeout: o.dialTimeout}
	t.DialTLSContext = d.dialTLS
	// A run has up to its concurrency's worth of calls in flight to one
	// vCenter; Go keeps 2 idle connections per host by default, so the
	// rest were closed after each call and each next call paid a TLS
	// handshake (29% of a 200-VM wave's CPU).
	t.MaxIdleConnsPerHost = MaxIdleConns

	sess := &Session{name: name, settings: s, soap: sc,
		log: log.With().Str("vcenter", name).Logger()}
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		sc.CloseIdleConnections()
		return nil, sess.classify(ctx, err)
	}
	c.RoundTripper = &reauth{s: sess, next: sc}
	sess.client = c

	if err := sess.login(ctx); err != nil {
		sc.CloseIdleConnections()
		return nil, sess.classify(ctx, err)
	}
	sess.ka = keepalive.NewHandlerSOAP(sc, o.keepAlive, sess.keepAlive)
	sess.ka.Start()

	about := c.ServiceContent.About
	sess.log.Info().Str("url", s.URL).Str("user", s.Username).Str("api", about.ApiVersion).
		Str("server", about.FullName).Msg("connected to vCenter")
	return sess, nil
}

// Name is the vCenter's name in the plan.
func (s *Session) Name() string { return s.name }

// URL is the SDK endpoint the session talks to.
func (s *Session) URL() string { return s.settings.URL }

// Client is the vim25 client to build a driver on. Its calls re-establish
// the session when it has expired.
func (s *Session) Client() *vim25.Client { return s.client }

// Logins counts successful logins: 1 after Connect, one more for every
// transparent re-login.
func (s *Session) Logins() int { return int(s.logins.Load()) }

// String names the session without its credentials.
func (s *Session) String() string {
	return fmt.Sprintf("vCenter %s at %s", s.name, s.settings.URL)
}

// Logout ends the session and stops its keepalive. Calls made after it
// fail with ErrClosed rather than logging in again. Logging out twice is
// no error.
func (s *Session) Logout(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	s.ka.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := methods.Logout(ctx, s.soap, &types.Logout{This: *s.client.ServiceContent.SessionManager})
	s.soap.CloseIdleConnections()
	if err != nil && !isNotAuthenticated(err) {
		return fmt.Errorf("log out of vCenter %s: %w", s.name, err)
	}
	s.log.Debug().Int("logins", s.Logins()).Msg("logged out of vCenter")
	return nil
}

// login logs in with the stored credentials. Callers hold mu, or own the
// session exclusively (Connect).
func (s *Session) login(ctx context.Context) error {
	req := types.Login{
		This:     *s.client.ServiceContent.SessionManager,
		UserName: s.settings.Username,
		Password: s.settings.Password,
		Locale:   session.Locale,
	}
	res, err := methods.Login(ctx, s.soap, &req)
	if err != nil {
		return err
	}
	s.user = res.Returnval
	s.logins.Add(1)
	return nil
}

// relogin logs in again after a call found the session gone, unless
// another goroutine already did since that call started (gen moved on):
// many calls failing at once cause one login.
func (s *Session) relogin(ctx context.Context, gen uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return fmt.Errorf("vCenter %s: %w", s.name, ErrClosed)
	}
	if s.gen.Load() != gen {
		return nil
	}
	if err := s.login(ctx); err != nil {
		return s.classify(ctx, err)
	}
	s.gen.Add(1)
	s.log.Warn().Int("logins", s.Logins()).Msg("vCenter session had ended; logged in again")
	return nil
}

// keepAlive is the keepalive handler's send: a cheap call that needs a
// session, through the re-login wrapper, so that it also revives a session
// that ended. It never reports failure, which would stop the keepalive
// for the rest of the run; the next real call deals with a real problem.
func (s *Session) keepAlive() error {
	if s.closed.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := methods.GetCurrentTime(ctx, s.client); err != nil {
		s.log.Warn().Err(err).Msg("vCenter keepalive failed")
	} else {
		s.log.Debug().Msg("vCenter keepalive")
	}
	return nil
}

// MaxIdleConns is how many connections to one vCenter a session keeps
// open between calls: above any run's concurrency, well below vCenter's
// own limits.
const MaxIdleConns = 64

// reauth is the client's RoundTripper: a call that fails because the
// session is gone (NotAuthenticated) logs in again and is retried once.
type reauth struct {
	s    *Session
	next soap.RoundTripper
}

func (r *reauth) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	switch req.(type) {
	case *methods.LoginBody, *methods.LogoutBody:
		return r.next.RoundTrip(ctx, req, res)
	}
	if r.s.closed.Load() {
		return fmt.Errorf("vCenter %s: %w", r.s.name, ErrClosed)
	}
	gen := r.s.gen.Load()
	err := r.next.RoundTrip(ctx, req, res)
	if err == nil || !isNotAuthenticated(err) {
		return err
	}
	if lerr := r.s.relogin(ctx, gen); lerr != nil {
		return lerr
	}
	// The failed call decoded its fault into res; start afresh.
	reset(res)
	return r.next.RoundTrip(ctx, req, res)
}

func reset(v any) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().CanSet() {
		rv.Elem().Set(reflect.Zero(rv.Elem().Type()))
	}
}

func isNotAuthenticated(err error) bool {
	return fault.Is(err, &types.NotAuthenticated{})
}

// classify turns a connection or login failure into a *ConnectError with a
// hint, leaving cancellation as it is.
func (s *Session) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return fmt.Errorf("connect to vCenter %s: %w", s.name, err)
	}
	ce := &ConnectError{VCenter: s.name, URL: s.settings.URL, Kind: ErrUnreachable, Err: err}
	// The URL is in the message already: drop net/http's "Post \"URL\": ".
	var ue *url.Error
	if errors.As(err, &ue) {
		ce.Err = ue.Err
	}
	var cert *CertificateError
	var tlsRecord tls.RecordHeaderError
	var syntax *xml.SyntaxError
	switch {
	case fault.Is(err, &types.InvalidLogin{}):
		ce.Kind = ErrBadCredentials
		ce.Err = errors.New("the user name or password is wrong")
		ce.Hint = fmt.Sprintf("user %s from %s, password from %s", s.settings.Username,
			orUnknown(s.settings.Origin.Username), orUnknown(s.settings.Origin.Password))
	case errors.As(err, &cert):
		ce.Err = cert
		ce.Hint = certHint(s.name, cert, s.settings.Origin.Trust)
	case errors.As(err, &tlsRecord), strings.Contains(err.Error(), "HTTP response to HTTPS client"):
		ce.Hint = "the server does not speak TLS there: check the URL's scheme and port"
	case ue != nil && ue.Op == http.MethodPost, errors.As(err, &syntax):
		// soap reports an HTTP status as a url.Error with the request's
		// method; net/http's own errors have Op "Post".
		ce.Err = fmt.Errorf("it answered %v, not as a vSphere SDK endpoint", ce.Err)
		ce.Hint = fmt.Sprintf("check the URL (from %s); it normally ends in /sdk", orUnknown(s.settings.Origin.URL))
	case soap.IsSoapFault(err):
		return fmt.Errorf("vCenter %s at %s: %w", s.name, s.settings.URL, err)
	default:
		ce.Hint = fmt.Sprintf("check the URL (from %s) and that this machine can reach it", orUnknown(s.settings.Origin.URL))
	}
	return ce
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown source"
	}
	return s
}

func certHint(name string, e *CertificateError, trustFrom string) string {
	pin := e.SHA256
	if pin == "" {
		pin = "THUMBPRINT"
	}
	if e.Expected != "" {
		from := ""
		if trustFrom != "" {
			from = " (from " + trustFrom + ")"
		}
		return fmt.Sprintf("check that this is the right server; if its certificate was replaced on purpose, update the thumbprint%s to %s", from, pin)
	}
	return fmt.Sprintf("if that is your vCenter's certificate, trust it with --thumbprint %s (or %sTHUMBPRINT, or thumbprint under vcenters.%s in the plan), give its CA with --ca-file, or, in a lab only, use --insecure",
		pin, EnvPrefix(name), name)
}

// dialer replaces govmomi's TLS dial: it honours the context and a
// timeout, accepts a certificate by thumbprint (the soap client's list:
// the vCenter's from Settings, and ESXi hosts' that govmomi learns for
// NFC transfers), and on failure says which certificate the server showed.
type dialer struct {
	sc      *soap.Client
	config  *tls.Config
	timeout time.Duration
}

func (d *dialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	cfg := d.config.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	conn, err := d.dial(ctx, network, addr, cfg)
	if err == nil {
		return conn, nil
	}
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) && !soap.IsCertificateUntrusted(err) {
		return nil, err
	}
	// Look at the certificate without trusting it: to compare it with a
	// known thumbprint, or to show it.
	insecure := &tls.Config{InsecureSkipVerify: true, ServerName: cfg.ServerName, Certificates: cfg.Certificates}
	raw, rerr := d.dial(ctx, network, addr, insecure)
	if rerr != nil {
		return nil, &CertificateError{Addr: addr, Err: err}
	}
	peer := raw.(*tls.Conn).ConnectionState().PeerCertificates
	ce := &CertificateError{Addr: addr, Err: err}
	if len(peer) > 0 {
		ce.SHA1, ce.SHA256 = thumbprints(peer[0])
	}
	if want := d.sc.Thumbprint(addr); want != "" {
		norm, nerr := NormalizeThumbprint(want)
		// A pinned thumbprint is trust in that exact certificate, whatever
		// else is wrong with it (self-signed, another name, expired).
		if nerr == nil && (norm == ce.SHA1 || norm == ce.SHA256) {
			return raw, nil
		}
		ce.Expected = want
	}
	raw.Close()
	return nil, ce
}

func (d *dialer) dial(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
	td := &tls.Dialer{NetDialer: &net.Dialer{Timeout: d.timeout, KeepAlive: 30 * time.Second}, Config: cfg}
	return td.DialContext(ctx, network, addr)
}

func thumbprints(cert *x509.Certificate) (sha1Hex, sha256Hex string) {
	s1 := sha1.Sum(cert.Raw)
	s256 := sha256.Sum256(cert.Raw)
	a, _ := NormalizeThumbprint(fmt.Sprintf("%x", s1))
	b, _ := NormalizeThumbprint(fmt.Sprintf("%x", s256))
	return a, b
}

// Sessions holds one session per vCenter for a whole run, connecting each
// the first time it is asked for. It is safe for concurrent use.
type Sessions struct {
	settings map[string]Settings
	log      zerolog.Logger
	opts     []Option

	mu      sync.Mutex
	closed  bool
	entries map[string]*entry
}

type entry struct {
	done chan struct{}
	sess *Session
	err  error
}

// NewSessions prepares sessions for the given vCenters; nothing connects
// until Get.
func NewSessions(settings map[string]Settings, log zerolog.Logger, opts ...Option) *Sessions {
	return &Sessions{settings: settings, log: log, opts: opts, entries: map[string]*entry{}}
}

// Get returns the vCenter's session, connecting on first use. Concurrent
// callers share one connection attempt; a failed attempt is not kept, so a
// later Get tries again.
func (ss *Sessions) Get(ctx context.Context, name string) (*Session, error) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return nil, ErrClosed
	}
	if e, ok := ss.entries[name]; ok {
		ss.mu.Unlock()
		select {
		case <-e.done:
			return e.sess, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s, ok := ss.settings[name]
	if !ok {
		ss.mu.Unlock()
		names := make([]string, 0, len(ss.settings))
		for n := range ss.settings {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("no settings for vCenter %q; known: %s", name, strings.Join(names, ", "))
	}
	e := &entry{done: make(chan struct{})}
	ss.entries[name] = e
	ss.mu.Unlock()

	e.sess, e.err = Connect(ctx, name, s, ss.log, ss.opts...)
	ss.mu.Lock()
	if e.err != nil {
		delete(ss.entries, name)
	} else if ss.closed {
		// CloseAll ran while this one was connecting.
		_ = e.sess.Logout(ctx)
		e.sess, e.err = nil, ErrClosed
	}
	ss.mu.Unlock()
	close(e.done)
	return e.sess, e.err
}

// CloseAll logs out of every connected vCenter. Later Gets fail with
// ErrClosed.
func (ss *Sessions) CloseAll(ctx context.Context) error {
	ss.mu.Lock()
	ss.closed = true
	var open []*Session
	for _, e := range ss.entries {
		select {
		case <-e.done:
			if e.sess != nil {
				open = append(open, e.sess)
			}
		default: // still connecting: Get logs it out when done
		}
	}
	ss.mu.Unlock()

	errs := make([]error, len(open))
	var wg sync.WaitGroup
	for i, s := range open {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Logout(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
