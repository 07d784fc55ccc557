package main

// The README's console blocks and every command's --help examples are run
// by these tests, so that they cannot drift from what wavectl does: the
// README's walkthrough as one session in a temporary folder holding the
// repository's examples and plans, each command's output compared with
// the README's up to timings, hashes, ports and names of the machine; the
// help examples as one story against a simulator seeded from the demo.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wavectl/wavectl/pkg/cli"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

// docSession is a shell session in a temporary folder: each command runs
// with /bin/sh -c, with the variables earlier commands exported.
type docSession struct {
	t    *testing.T
	dir  string
	env  []string
	last int // the exit code of the last command, for `echo $?`
	bg   []*exec.Cmd
}

func newDocSession(t *testing.T) *docSession {
	t.Helper()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, sub := range []string{"examples", "plans"} {
		if err := os.CopyFS(filepath.Join(dir, sub), os.DirFS(filepath.Join(repo, sub))); err != nil {
			t.Fatal(err)
		}
	}
	// The files the README shows with cat.
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(repo, "testdata", "readme"))); err != nil {
		t.Fatal(err)
	}
	// The public RVTools export the README's discover example reads, as a
	// reader fetches it from testdata/discover/public.
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(repo, "testdata", "discover", "public"))); err != nil {
		t.Fatal(err)
	}
	s := &docSession{t: t, dir: dir}
	s.env = append(cleanEnv(os.Environ()), "HOME="+dir,
		"PATH="+filepath.Join(repo, "bin", "tools")+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Cleanup(s.stop)
	return s
}

// stop interrupts the background commands, as Ctrl-C would: their whole
// process group, so that what sh started stops too (a wavectl sim left
// serving otherwise).
func (s *docSession) stop() {
	for _, c := range s.bg {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	s.bg = nil
}

func (s *docSession) setEnv(k, v string) {
	s.env = slices.DeleteFunc(s.env, func(kv string) bool { return strings.HasPrefix(kv, k+"=") })
	s.env = append(s.env, k+"="+v)
}

// source reads `export NAME=value` lines into the session.
func (s *docSession) source(file string) {
	data, err := os.ReadFile(filepath.Join(s.dir, file))
	if err != nil {
		s.t.Fatalf("source %s: %v", file, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if ok {
			s.setEnv(k, strings.Trim(v, "'"))
		}
	}
}

var (
	sourceLine = regexp.MustCompile(`^(?:\.|source) +(\S+)$`)
	envFile    = regexp.MustCompile(`--env-file[ =](\S+)`)
)

// stripComment cuts a shell comment off a line: a # after a space, outside
// quotes.
func stripComment(line string) string {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return strings.TrimRight(line[:i], " \t")
		}
	}
	return line
}

// missing names a program the line runs that is not installed here (jq,
// or govc before `make tools`), or returns "".
func (s *docSession) missing(line string) string {
	path := ""
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	line = stripComment(line)
	line = regexp.MustCompile(`'[^']*'|"[^"]*"`).ReplaceAllString(line, "ARG")
	for _, seg := range regexp.MustCompile(`\||&&|;`).Split(line, -1) {
		f := strings.Fields(seg)
		for len(f) > 0 && strings.Contains(f[0], "=") {
			f = f[1:]
		}
		if len(f) == 0 || slices.Contains([]string{".", "source", "echo", "cat", "cd", "export"}, f[0]) || strings.Contains(f[0], "/") {
			continue
		}
		found := false
		for _, dir := range filepath.SplitList(path) {
			if st, err := os.Stat(filepath.Join(dir, f[0])); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				found = true
				break
			}
		}
		if !found {
			return f[0]
		}
	}
	return ""
}

// run runs one command line and returns its stdout, stderr and exit code.
func (s *docSession) run(line string) (stdout, stderr string, code int) {
	s.t.Helper()
	line = strings.TrimSpace(stripComment(line))
	switch {
	case line == "echo $?":
		return strconv.Itoa(s.last) + "\n", "", 0
	case sourceLine.MatchString(line):
		s.source(sourceLine.FindStringSubmatch(line)[1])
		return "", "", 0
	case strings.HasSuffix(line, "&"):
		cmd := exec.Command("/bin/sh", "-c", strings.TrimSuffix(line, "&"))
		cmd.Dir, cmd.Env = s.dir, s.env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			s.t.Fatalf("%s: %v", line, err)
		}
		s.bg = append(s.bg, cmd)
		if m := envFile.FindStringSubmatch(line); m != nil {
			s.waitFile(m[1])
		}
		return "", "", 0
	}
	// A command that has not ended in 3 minutes is hung (the demo takes
	// seconds): it is stopped, and fails.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	cmd.Dir, cmd.Env = s.dir, s.env
	// A hung command is killed with everything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		s.t.Fatalf("%s: %v", line, err)
	}
	s.last = code
	if ctx.Err() != nil {
		s.t.Errorf("`%s` did not end within 3 minutes:\n%s\n%s", line, tail(out.String(), 2000), tail(errOut.String(), 3000))
	}
	if crash.MatchString(out.String()) || crash.MatchString(errOut.String()) {
		s.t.Errorf("%s panicked:\n%s", line, tail(errOut.String(), 4000))
	}
	return out.String(), errOut.String(), code
}

func (s *docSession) waitFile(name string) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if st, err := os.Stat(filepath.Join(s.dir, name)); err == nil && st.Size() > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("%s did not appear within a minute", name)
}

// consoleBlock is one ```console block: commands and the output shown
// after each.
type consoleBlock struct {
	line int // of the opening fence
	cmds []consoleCmd
	// skip is why the block cannot run here, from a comment on the line
	// before its fence: <!-- docs-test: skip: REASON -->.
	skip string
}

type consoleCmd struct {
	line int
	text string
	want []string
}

func consoleBlocks(t *testing.T, file string) []consoleBlock {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []consoleBlock
	var cur *consoleBlock
	prev := ""
	for i, l := range strings.Split(string(data), "\n") {
		before := prev
		prev = l
		switch {
		case cur == nil && strings.TrimSpace(l) == "```console":
			cur = &consoleBlock{line: i + 1}
			if m := skipBlock.FindStringSubmatch(before); m != nil {
				cur.skip = m[1]
			}
		case cur == nil:
		case strings.TrimSpace(l) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case strings.HasPrefix(l, "$ "):
			cur.cmds = append(cur.cmds, consoleCmd{line: i + 1, text: strings.TrimPrefix(l, "$ ")})
		case len(cur.cmds) > 0:
			c := &cur.cmds[len(cur.cmds)-1]
			c.want = append(c.want, l)
		default:
			t.Fatalf("%s:%d: output before any command in a console block", file, i+1)
		}
	}
	return blocks
}

// skipBlock marks a console block that cannot run in a test, and says why.
var skipBlock = regexp.MustCompile(`^<!-- docs-test: skip: (.+?) -->$`)

// What varies from run to run and machine to machine, and is not what the
// README shows: each becomes a placeholder on both sides.
var docNoise = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`), ""},
	{regexp.MustCompile(`(https?://)(?:[^@/\s]+@)?127\.0\.0\.1:\d+`), "${1}127.0.0.1:PORT"},
	{regexp.MustCompile(`(PASSWORD=)\S+`), "${1}PASSWORD"},
	{regexp.MustCompile(`\b[0-9a-f]{12,64}\b`), "HASH"},
	{regexp.MustCompile(`\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z| UTC)?`), "TIME"},
	{regexp.MustCompile(`\b\d{2}-\d{2} \d{2}:\d{2}\b`), "TIME"},
	{regexp.MustCompile(`\b\d{2}:\d{2}(:\d{2})?( UTC)?\b`), "TIME"},
	{regexp.MustCompile(`\b\d+(\.\d+)?(h|m|s|ms|µs)(\d+(\.\d+)?(m|s|ms))*\b`), "DUR"},
	{regexp.MustCompile(`\(pid \d+\)`), "(pid N)"},
	{regexp.MustCompile(`\bby \S+ on \S+`), "by USER on HOST"},
	{regexp.MustCompile(`\bby [^\s@]+@\S+ at\b`), "by USER@HOST at"},
	{regexp.MustCompile(`\bserial \d+`), "serial N"},
	{regexp.MustCompile(`\bvm-\d+\b`), "vm-N"},
	{regexp.MustCompile(`[ \t]+`), " "},
}

func docNormal(s string) string {
	for _, n := range docNoise {
		s = n.re.ReplaceAllString(s, n.with)
	}
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		lines = append(lines, strings.TrimSpace(l))
	}
	return strings.Join(lines, "\n")
}

// docPattern turns the README's shown output into a pattern: a line that
// is only "..." stands for any lines; "..." within a line for anything on
// that line.
func docPattern(want []string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	for _, l := range want {
		l = docNormal(l)
		if l == "..." {
			b.WriteString(`(?:[^\n]*\n)*?`)
			continue
		}
		parts := strings.Split(l, "...")
		for i, p := range parts {
			if i > 0 {
				b.WriteString(`[^\n]*`)
			}
			b.WriteString(regexp.QuoteMeta(p))
		}
		b.WriteString(`\n`)
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// logLine is a structured log line on stderr (not a terminal): the README
// shows what people read, not those.
var logLine = regexp.MustCompile(`(?m)^\{"level":.*\n?`)

// shows reports whether out matches what the README shows for a command:
// stdout alone, or with stderr's messages before or after it.
func shows(want []string, stdout, stderr string) bool {
	re := docPattern(want)
	msgs := logLine.ReplaceAllString(stderr, "")
	for _, out := range []string{stdout, msgs + stdout, stdout + msgs} {
		o := docNormal(out)
		if !strings.HasSuffix(o, "\n") {
			o += "\n"
		}
		if re.MatchString(o) {
			return true
		}
	}
	return false
}

// TestTheREADMEWorksAsPrinted runs the README's console blocks, in order,
// as one session: each command must exit 0 unless the README shows its
// exit code (`echo $?`), and print what the README shows.
func TestTheREADMEWorksAsPrinted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's walkthrough, simulated migrations included; skipped with -short")
	}
	s := newDocSession(t)
	blocks := consoleBlocks(t, filepath.Join("..", "..", "README.md"))
	if len(blocks) < 5 {
		t.Fatalf("found %d console blocks in the README; the walkthrough has more", len(blocks))
	}
	ran := 0
	for _, b := range blocks {
		if b.skip != "" {
			t.Logf("README.md:%d: console block not run: %s", b.line, b.skip)
			continue
		}
		for i, c := range b.cmds {
			if prog := s.missing(c.text); prog != "" {
				t.Logf("README.md:%d: `%s` not run: %s is not installed here", c.line, c.text, prog)
				continue
			}
			stdout, stderr, code := s.run(c.text)
			ran++
			shownCode := i+1 < len(b.cmds) && strings.TrimSpace(b.cmds[i+1].text) == "echo $?"
			if code != 0 && !shownCode {
				t.Errorf("README.md:%d: `%s` exited %d; the README shows no exit code, so 0:\n%s\n%s", c.line, c.text, code, tail(stdout, 3000), tail(stderr, 3000))
				continue
			}
			if len(c.want) == 0 {
				continue
			}
			if !shows(c.want, stdout, stderr) {
				t.Errorf("README.md:%d: `%s` does not print what the README shows (up to times, hashes and ports).\nREADME:\n%s\ngot stdout:\n%s\ngot stderr:\n%s",
					c.line, c.text, strings.Join(c.want, "\n"), tail(stdout, 4000), tail(logLine.ReplaceAllString(stderr, ""), 3000))
			}
		}
	}
	t.Logf("%d commands of %d console blocks run", ran, len(blocks))
}

// helpOrder runs the commands' examples as one story: each may use what an
// earlier one made (a state file, a simulator's env file).
var helpOrder = []string{"validate", "plan", "schema", "apply", "status", "report", "resume", "rollback", "sim", "approve", "estimates"}

// helpSkipped are the commands whose examples cannot run here, and why.
var helpSkipped = map[string]string{
	"unlock":   "its examples name a stale lock left by a process on another host, which a test cannot make",
	"discover": "its examples read the user's own inventory files (RVTools export, CMDB, rules)",
}

// TestEveryHelpExampleWorks runs each command's --help examples in a
// folder holding the repository's examples and plans, against a vCenter
// simulator seeded from the demo (GOVC_* set as a user's would be). An
// example works when it exits 0, or with a code that reports on the
// migration rather than on the command line: 4 (problems found), 6 (some
// applications failed), 7 (paused for a window).
func TestEveryHelpExampleWorks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every --help example, simulated migrations included; skipped with -short")
	}
	s := newDocSession(t)
	p, _, err := plan.LoadFile(filepath.Join(s.dir, "examples", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	vc, err := sim.New(p, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vc.Close() })
	if _, err := vc.Start(sim.DefaultListen); err != nil {
		t.Fatal(err)
	}
	for _, l := range vc.Env() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(l, "export "), "="); ok {
			s.setEnv(k, strings.Trim(v, "'"))
		}
	}

	ios, _, _, _ := cli.Test()
	root := cli.NewRootCmd(&cli.Factory{IO: ios})
	seen := map[string]bool{}
	for _, c := range root.Commands() {
		if c.Example == "" {
			continue
		}
		if _, skip := helpSkipped[c.Name()]; !skip && !slices.Contains(helpOrder, c.Name()) {
			t.Errorf("wavectl %s has examples that no test runs: add it to helpOrder", c.Name())
		}
	}
	for name, why := range helpSkipped {
		t.Logf("wavectl %s's examples are not run: %s", name, why)
	}
	n := 0
	for _, name := range helpOrder {
		c, _, err := root.Find([]string{name})
		if err != nil || c.Name() != name {
			t.Fatalf("no command %s", name)
		}
		for _, l := range strings.Split(c.Example, "\n") {
			l = strings.TrimSpace(l)
			if l == "" {
				continue
			}
			if prog := s.missing(l); prog != "" {
				t.Logf("wavectl %s --help example `%s` not run: %s is not installed here", name, l, prog)
				continue
			}
			if strings.Contains(l, "postgres://") {
				t.Logf("wavectl %s --help example `%s` not run: it needs that PostgreSQL server (testdata/script/state_postgres.txtar runs these commands against a throwaway one)", name, l)
				continue
			}
			stdout, stderr, code := s.run(l)
			n++
			if !slices.Contains([]int{0, 4, 6, 7}, code) {
				t.Errorf("wavectl %s --help example `%s` exited %d:\n%s\n%s", name, l, code, tail(stdout, 2000), tail(stderr, 3000))
			}
		}
		seen[name] = true
	}
	t.Logf("%d examples of %d commands run", n, len(seen))
}
