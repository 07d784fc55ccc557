// Package pgtest starts a throwaway PostgreSQL server for tests: Debian's
// `postgresql` package, initdb into a temporary folder, pg_ctl on a free
// loopback port, password authentication over TCP (so the tests go through
// the same libpq settings an operator uses: PGPASSWORD, .pgpass,
// PGSERVICEFILE).
//
// initdb refuses to run as root, and CI runs as root: as root the server is
// run as the `postgres` user (runuser), on a data folder that user owns.
//
// A test that needs a server calls Shared; the package's TestMain calls
// StopShared. Where no server can be started (no PostgreSQL installed) the
// test is skipped with one line saying why; with CI=true it fails instead,
// since CI must have it (.ci/run installs the package).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running throwaway PostgreSQL server.
type Server struct {
	Dir      string // data folder (and Unix socket folder)
	Port     int
	User     string // superuser name
	Password string
	bin      string
	asUser   string // run server commands as this user ("" = ourselves)
	log      string
}

// BinDir finds the folder with initdb and pg_ctl: $WAVECTL_PG_BIN, else the
// newest /usr/lib/postgresql/*/bin, else wherever pg_ctl is on PATH.
func BinDir() (string, error) {
	if d := os.Getenv("WAVECTL_PG_BIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server found (install Debian's postgresql package: apt-get install postgresql)")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initialises and starts a new server. Stop it with Stop.
func Start() (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	stopOrphans(bin)
	dir, err := os.MkdirTemp("", "wavectl-pg-")
	if err != nil {
		return nil, err
	}
	// Who started it: a later Start stops a server whose starter was
	// killed before it could (stopOrphans).
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{Dir: dir, User: "wavectl", Password: randomHex(12), bin: bin, log: filepath.Join(dir, "server.log")}
	if os.Geteuid() == 0 {
		s.asUser = "postgres"
		if _, err := user.Lookup(s.asUser); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root, and there is no postgres user to run the server as: %w", err)
		}
		// The postgres user must reach the folder and own the data in it.
		if err := os.Chmod(dir, 0o755); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		if out, err := exec.Command("chown", s.asUser, dir).CombinedOutput(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("chown %s: %v: %s", dir, err, out)
		}
	}
	data := filepath.Join(dir, "data")
	pwfile := filepath.Join(dir, "pw")
	if err := s.run("sh", "-c", fmt.Sprintf("umask 077 && printf '%%s' %s > %s", s.Password, pwfile)); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := s.run(filepath.Join(bin, "initdb"), "-D", data, "-U", s.User, "--pwfile", pwfile,
		"--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync", "--locale=C"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	_ = os.Remove(pwfile)
	for attempt := 0; ; attempt++ {
		s.Port, err = freePort()
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=100", s.Port, dir)
		err = s.run(filepath.Join(bin, "pg_ctl"), "-D", data, "-o", opts, "-l", s.log, "-w", "-t", "60", "start")
		if err == nil {
			break
		}
		if attempt == 2 {
			logText, _ := os.ReadFile(s.log)
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("%w\n%s", err, logText)
		}
	}
	return s, nil
}

func (s *Server) run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if s.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.asUser, "--", name}, args...)...)
	}
	cmd.Dir = s.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", filepath.Base(name), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// URL is a connection URL for database db, without the password (give it
// through PGPASSWORD, as an operator would).
func (s *Server) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User(s.User), Host: fmt.Sprintf("127.0.0.1:%d", s.Port), Path: "/" + db,
		RawQuery: "sslmode=disable"}
	return u.String()
}

// URLWithPassword is URL with the password in it.
func (s *Server) URLWithPassword(db string) string {
	u, _ := url.Parse(s.URL(db))
	u.User = url.UserPassword(s.User, s.Password)
	return u.String()
}

// CreateDB makes a new empty database and returns its name.
func (s *Server) CreateDB(ctx context.Context, prefix string) (string, error) {
	conn, err := pgx.Connect(ctx, s.URLWithPassword("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	name := prefix + "_" + randomHex(4)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	return name, nil
}

// Stop stops the server at once and removes its folder.
func (s *Server) Stop() error {
	err := s.run(filepath.Join(s.bin, "pg_ctl"), "-D", filepath.Join(s.Dir, "data"), "-m", "immediate", "-w", "stop")
	if rmErr := os.RemoveAll(s.Dir); err == nil {
		err = rmErr
	}
	return err
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Shared is one server for the whole test binary, started on first use.
// A test with no server is skipped, or failed under CI.
func Shared(t testing.TB) *Server {
	t.Helper()
	if _, err := SharedServer(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is needed in CI and could not be started: %v", sharedErr)
		}
		t.Skipf("no PostgreSQL server could be started here (%v)", firstLine(sharedErr.Error()))
	}
	return shared
}

// SharedServer is the server Shared gives, for callers without a
// testing.TB (a testscript condition or setup); StopShared stops it.
func SharedServer() (*Server, error) {
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	return shared, sharedErr
}

// DB is a new database on the shared server, with PGPASSWORD set for the
// test; it returns the URL (without the password).
func DB(t testing.TB) string {
	t.Helper()
	s := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, err := s.CreateDB(ctx, "t")
	if err != nil {
		t.Fatalf("create database: %v", err)
	}
	if st, ok := t.(interface{ Setenv(k, v string) }); ok {
		st.Setenv("PGPASSWORD", s.Password)
	}
	return s.URL(name)
}

// StopShared stops the shared server, if one was started; for TestMain.
func StopShared() {
	if shared != nil {
		_ = shared.Stop()
	}
}

// stopOrphans stops the servers of earlier test processes that were killed
// before they could stop them (kill -9, a timeout), and removes their
// folders.
func stopOrphans(bin string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "wavectl-pg-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue // its owner still runs
		}
		s := &Server{Dir: dir, bin: bin}
		if os.Geteuid() == 0 {
			s.asUser = "postgres"
		}
		_ = s.Stop()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
