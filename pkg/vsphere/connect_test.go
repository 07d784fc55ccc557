package vsphere

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/sim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	simUser = "wavectl-admin"
	simPass = "Sup3r-s3cret-pa55"
)

// vcsim is a simulated vCenter served over TLS with its own self-signed
// certificate, accepting only simUser/simPass.
type vcsim struct {
	model  *simulator.Model
	server *simulator.Server
	url    string
	sha1   string
	sha256 string
}

func startSim(t *testing.T) *vcsim {
	t.Helper()
	m := simulator.VPX()
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	m.Service.TLS = new(tls.Config)
	m.Service.Listen = &url.URL{User: url.UserPassword(simUser, simPass)}
	s := m.Service.NewServer()
	t.Cleanup(func() {
		s.Close()
		m.Remove()
	})
	u := *s.URL
	u.User = nil
	v := &vcsim{model: m, server: s, url: u.String()}
	v.sha1, v.sha256 = thumbprints(s.Certificate())
	return v
}

// settings are good credentials for the simulator, with no trust set.
func (v *vcsim) settings() Settings {
	return Settings{URL: v.url, Username: simUser, Password: simPass,
		Origin: Origin{URL: "GOVC_URL", Username: "GOVC_USERNAME", Password: "GOVC_PASSWORD"}}
}

// logs collects log lines; every test checks that none holds the password.
type logs struct {
	t   *testing.T
	buf bytes.Buffer
	mu  sync.Mutex
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogs(t *testing.T) (*logs, zerolog.Logger) {
	l := &logs{t: t}
	t.Cleanup(func() {
		if strings.Contains(l.String(), simPass) {
			t.Errorf("a log line holds the password:\n%s", l.String())
		}
	})
	return l, zerolog.New(l).Level(zerolog.DebugLevel)
}

func connect(t *testing.T, s Settings, opts ...Option) (*Session, error) {
	t.Helper()
	_, log := newLogs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sess, err := Connect(ctx, "crown", s, log, opts...)
	if err != nil {
		if strings.Contains(err.Error(), simPass) {
			t.Errorf("the error holds the password: %v", err)
		}
		return nil, err
	}
	t.Cleanup(func() { _ = sess.Logout(context.Background()) })
	return sess, nil
}

func mustConnect(t *testing.T, s Settings, opts ...Option) *Session {
	t.Helper()
	sess, err := connect(t, s, opts...)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return sess
}

// call makes a call that needs a session (the simulator lets a few,
// such as property reads, through without one).
func call(ctx context.Context, sess *Session) error {
	_, err := methods.GetCurrentTime(ctx, sess.Client())
	return err
}

// terminate ends the session from another client, as an administrator
// (or a vCenter restart) would.
func terminate(t *testing.T, v *vcsim, victim *Session) {
	t.Helper()
	s := v.settings()
	s.Insecure = true
	admin := mustConnect(t, s)
	victim.mu.Lock()
	key := victim.user.Key
	victim.mu.Unlock()
	_, err := methods.TerminateSession(context.Background(), admin.Client(), &types.TerminateSession{
		This: *admin.Client().ServiceContent.SessionManager, SessionId: []string{key}})
	if err != nil {
		t.Fatalf("TerminateSession: %v", err)
	}
}

func TestConnectTrust(t *testing.T) {
	v := startSim(t)
	caFile, err := v.server.CertificateFile()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Settings)
	}{
		{"insecure connects without checking the certificate", func(s *Settings) { s.Insecure = true }},
		{"the server's SHA-256 thumbprint trusts its certificate", func(s *Settings) { s.Thumbprint = v.sha256 }},
		{"the server's SHA-1 thumbprint trusts its certificate", func(s *Settings) { s.Thumbprint = v.sha1 }},
		{"a thumbprint in lower case without colons works too", func(s *Settings) {
			s.Thumbprint = strings.ToLower(strings.ReplaceAll(v.sha256, ":", ""))
		}},
		{"a CA file holding the server's certificate trusts it", func(s *Settings) { s.CAFile = caFile }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := v.settings()
			tt.change(&s)
			sess := mustConnect(t, s)
			if err := call(context.Background(), sess); err != nil {
				t.Fatalf("call after Connect: %v", err)
			}
			if n := sess.Logins(); n != 1 {
				t.Errorf("Logins() = %d, want 1", n)
			}
			if !sess.Client().IsVC() {
				t.Errorf("the client does not see a vCenter")
			}
		})
	}
}

func TestConnectRefusesAnUntrustedCertificate(t *testing.T) {
	v := startSim(t)

	t.Run("with no thumbprint, CA or insecure, the error shows the server's thumbprint and the ways to trust it", func(t *testing.T) {
		_, err := connect(t, v.settings())
		if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrBadCredentials) {
			t.Fatalf("err = %v, want ErrUnreachable", err)
		}
		var ce *CertificateError
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v, want a *CertificateError inside", err)
		}
		if ce.SHA256 != v.sha256 || ce.SHA1 != v.sha1 {
			t.Errorf("thumbprints %s / %s, want the server's %s / %s", ce.SHA256, ce.SHA1, v.sha256, v.sha1)
		}
		for _, want := range []string{"cannot reach vCenter crown", "is not trusted", v.sha256,
			"--thumbprint " + v.sha256, "WAVECTL_VCENTER_CROWN_THUMBPRINT", "--ca-file", "--insecure"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\nlacks %q", err, want)
			}
		}
	})
	t.Run("a wrong thumbprint fails, naming both the expected and the server's thumbprint", func(t *testing.T) {
		s := v.settings()
		s.Thumbprint = sha256TP
		s.Origin.Trust = "--thumbprint"
		_, err := connect(t, s)
		var ce *CertificateError
		if !errors.Is(err, ErrUnreachable) || !errors.As(err, &ce) {
			t.Fatalf("err = %v, want ErrUnreachable with a *CertificateError", err)
		}
		if ce.Expected != sha256TP {
			t.Errorf("Expected = %q, want %q", ce.Expected, sha256TP)
		}
		for _, want := range []string{"does not match the expected thumbprint " + sha256TP, v.sha256, "update the thumbprint (from --thumbprint)"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\nlacks %q", err, want)
			}
		}
	})
}

func TestConnectClassifiesFailures(t *testing.T) {
	v := startSim(t)

	t.Run("a wrong password is bad credentials, not unreachable, and names where the credentials came from", func(t *testing.T) {
		s := v.settings()
		s.Insecure = true
		s.Password = "wrong-" + simPass // the test's log check covers this too
		_, err := connect(t, s)
		if !errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrUnreachable) {
			t.Fatalf("err = %v, want ErrBadCredentials", err)
		}
		for _, want := range []string{"vCenter crown at " + v.url + " refused the login", "user " + simUser + " from GOVC_USERNAME", "password from GOVC_PASSWORD"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\nlacks %q", err, want)
			}
		}
	})
	t.Run("a port nobody listens on is unreachable, with a hint to check the URL", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		s := v.settings()
		s.URL = "https://" + addr + "/sdk"
		_, err = connect(t, s, WithDialTimeout(5*time.Second))
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("err = %v, want ErrUnreachable", err)
		}
		if !strings.Contains(err.Error(), "check the URL (from GOVC_URL) and that this machine can reach it") {
			t.Errorf("error %q lacks the hint", err)
		}
	})
	t.Run("a web server that is not vSphere is unreachable, with a hint about /sdk", func(t *testing.T) {
		web := httptest.NewTLSServer(http.NotFoundHandler())
		defer web.Close()
		s := v.settings()
		s.URL = web.URL + "/sdk"
		s.Insecure = true
		_, err := connect(t, s)
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("err = %v, want ErrUnreachable", err)
		}
		for _, want := range []string{"404 Not Found, not as a vSphere SDK endpoint", "normally ends in /sdk"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\nlacks %q", err, want)
			}
		}
	})
	t.Run("plain HTTP on a TLS URL says the server does not speak TLS", func(t *testing.T) {
		web := httptest.NewServer(http.NotFoundHandler())
		defer web.Close()
		s := v.settings()
		s.URL = strings.Replace(web.URL, "http://", "https://", 1) + "/sdk"
		_, err := connect(t, s)
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "does not speak TLS") {
			t.Fatalf("err = %v, want ErrUnreachable saying it is not TLS", err)
		}
	})
	t.Run("a CA file that cannot be read is a settings error, before any connection", func(t *testing.T) {
		s := v.settings()
		s.CAFile = "/nonexistent/ca.pem"
		_, err := connect(t, s)
		var se *SettingsError
		if !errors.As(err, &se) || errors.Is(err, ErrUnreachable) {
			t.Fatalf("err = %v, want a *SettingsError", err)
		}
		if !strings.Contains(err.Error(), "CA file /nonexistent/ca.pem") {
			t.Errorf("error %q does not name the file", err)
		}
	})
	t.Run("a cancelled context is cancellation, not an unreachable vCenter", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s := v.settings()
		s.Insecure = true
		_, err := Connect(ctx, "crown", s, zerolog.Nop())
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) {
			t.Fatalf("err = %v, want context.Canceled only", err)
		}
	})
}

func TestSessionReloginsWhenTheSessionEnds(t *testing.T) {
	v := startSim(t)
	s := v.settings()
	s.Insecure = true
	ctx := context.Background()

	t.Run("the next call after the session is terminated succeeds after one re-login", func(t *testing.T) {
		logs, log := newLogs(t)
		sess, err := Connect(ctx, "crown", s, log)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sess.Logout(ctx) }()
		terminate(t, v, sess)
		if err := call(ctx, sess); err != nil {
			t.Fatalf("call after the session ended: %v", err)
		}
		if n := sess.Logins(); n != 2 {
			t.Errorf("Logins() = %d, want 2", n)
		}
		if !strings.Contains(logs.String(), "logged in again") {
			t.Errorf("no log line says the session was re-established:\n%s", logs)
		}
		if err := call(ctx, sess); err != nil || sess.Logins() != 2 {
			t.Errorf("a later call: err %v, %d logins; want no error and still 2", err, sess.Logins())
		}
	})

	t.Run("many calls at once when the session has ended cause one re-login", func(t *testing.T) {
		sess := mustConnect(t, s)
		for round := 1; round <= 3; round++ {
			terminate(t, v, sess)
			const callers = 32
			var wg sync.WaitGroup
			errs := make(chan error, callers)
			start := make(chan struct{})
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					errs <- call(ctx, sess)
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("round %d: a call failed: %v", round, err)
				}
			}
			if n := sess.Logins(); n != 1+round {
				t.Errorf("round %d: Logins() = %d, want %d", round, n, 1+round)
			}
		}
	})

	t.Run("after Logout calls fail with ErrClosed instead of logging in again", func(t *testing.T) {
		sess := mustConnect(t, s)
		if err := sess.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		if err := call(ctx, sess); !errors.Is(err, ErrClosed) {
			t.Errorf("call after Logout: err = %v, want ErrClosed", err)
		}
		if n := sess.Logins(); n != 1 {
			t.Errorf("Logins() = %d, want 1", n)
		}
		if err := sess.Logout(ctx); err != nil {
			t.Errorf("a second Logout: %v", err)
		}
	})
}

func TestSessionIdleTimeout(t *testing.T) {
	v := startSim(t)
	s := v.settings()
	s.Insecure = true
	ctx := context.Background()
	const timeout = 400 * time.Millisecond
	// The timeout applies to sessions that start after it is set.
	if err := sim25.SetSessionTimeout(ctx, mustConnect(t, s).Client(), timeout); err != nil {
		t.Fatal(err)
	}

	t.Run("the keepalive keeps an idle session from expiring", func(t *testing.T) {
		sess := mustConnect(t, s, WithKeepAlive(timeout/8))
		time.Sleep(4 * timeout)
		if err := call(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if n := sess.Logins(); n != 1 {
			t.Errorf("Logins() = %d, want 1: the session should not have expired", n)
		}
	})
	t.Run("without a keepalive an idle session expires and the next call logs in again", func(t *testing.T) {
		sess := mustConnect(t, s, WithKeepAlive(time.Hour))
		time.Sleep(4 * timeout)
		if err := call(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if n := sess.Logins(); n != 2 {
			t.Errorf("Logins() = %d, want 2", n)
		}
	})
}

func TestSessions(t *testing.T) {
	v := startSim(t)
	s := v.settings()
	s.Insecure = true
	bad := s
	bad.Password = "wrong"
	ctx := context.Background()
	_, log := newLogs(t)

	ss := NewSessions(map[string]Settings{"crown": s, "legacy": bad}, log)
	t.Run("concurrent Gets for one vCenter share one session", func(t *testing.T) {
		var wg sync.WaitGroup
		got := make([]*Session, 16)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sess, err := ss.Get(ctx, "crown")
				if err != nil {
					t.Errorf("Get: %v", err)
				}
				got[i] = sess
			}()
		}
		wg.Wait()
		for _, g := range got {
			if g != got[0] {
				t.Fatalf("Get returned different sessions")
			}
		}
		if n := got[0].Logins(); n != 1 {
			t.Errorf("Logins() = %d, want 1", n)
		}
	})
	t.Run("a failed connection is reported each time and not kept", func(t *testing.T) {
		for range 2 {
			if _, err := ss.Get(ctx, "legacy"); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("Get(legacy): err = %v, want ErrBadCredentials", err)
			}
		}
	})
	t.Run("a vCenter with no settings is an error naming the known ones", func(t *testing.T) {
		_, err := ss.Get(ctx, "nowhere")
		if err == nil || !strings.Contains(err.Error(), "known: crown, legacy") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("CloseAll logs out and later Gets fail with ErrClosed", func(t *testing.T) {
		sess, err := ss.Get(ctx, "crown")
		if err != nil {
			t.Fatal(err)
		}
		if err := ss.CloseAll(ctx); err != nil {
			t.Fatal(err)
		}
		if err := call(ctx, sess); !errors.Is(err, ErrClosed) {
			t.Errorf("call after CloseAll: err = %v, want ErrClosed", err)
		}
		if _, err := ss.Get(ctx, "crown"); !errors.Is(err, ErrClosed) {
			t.Errorf("Get after CloseAll: err = %v, want ErrClosed", err)
		}
	})
}

func TestSessionStringHidesThePassword(t *testing.T) {
	v := startSim(t)
	s := v.settings()
	s.Insecure = true
	sess := mustConnect(t, s)
	for _, out := range []string{sess.String(), sess.URL(), sess.Name()} {
		if strings.Contains(out, simPass) {
			t.Errorf("%q holds the password", out)
		}
	}
}
