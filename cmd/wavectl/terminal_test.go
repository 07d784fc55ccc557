package main

// The operator at a terminal: wavectl run on a pseudo-terminal, as a
// person runs it, where the progress bars, the prompt and Ctrl-C live.
// Tests without a terminal never draw a bar, which is how a freeze of the
// progress display (a lock the render loop waited on) went unseen.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

// hangLimit is how long a run may take before it counts as hung: far
// more than the few seconds the demo takes, even on a loaded machine.
// It is a deadline, not a measurement.
const hangLimit = 2 * time.Minute

// termRun is wavectl running on a pseudo-terminal of 120x40.
type termRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	raw  bytes.Buffer
	done chan struct{}
	read chan struct{}
}

// startOnTerminal runs wavectl with args in dir, its stdin, stdout and
// stderr all the terminal.
func startOnTerminal(t *testing.T, dir string, env []string, args ...string) *termRun {
	t.Helper()
	return startOnTerminalWith(t, dir, func(c *exec.Cmd) { c.Env = append(c.Env, env...) }, args...)
}

// startOnTerminalWith is startOnTerminal with a change to the command
// first: a stream that is not the terminal, more env.
func startOnTerminalWith(t *testing.T, dir string, change func(*exec.Cmd), args ...string) *termRun {
	t.Helper()
	bin, err := exec.LookPath("wavectl")
	if err != nil {
		t.Fatalf("wavectl is not on PATH (TestMain sets it up): %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(os.Environ()), "TERM=xterm", "HOME="+dir)
	if change != nil {
		change(cmd)
	}
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	r := &termRun{t: t, cmd: cmd, tty: tty, done: make(chan struct{}), read: make(chan struct{})}
	go func() {
		defer close(r.read)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			r.mu.Lock()
			r.raw.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = cmd.Process.Kill()
			<-r.done
		}
		tty.Close()
	})
	return r
}

// output is everything the terminal received so far.
func (r *termRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.raw.String()
}

// waitFor waits until the terminal's screen matches re, or the run ends.
func (r *termRun) waitFor(re *regexp.Regexp) bool {
	deadline := time.After(hangLimit)
	for {
		if re.MatchString(screen(r.output())) {
			return true
		}
		select {
		case <-r.done:
			return re.MatchString(screen(r.output()))
		case <-deadline:
			r.hung("waiting for " + re.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// wait waits for the run to end and returns its exit code. A run that
// does not end within hangLimit is hung: its goroutines are dumped
// (SIGQUIT) into the failure.
func (r *termRun) wait() int {
	select {
	case <-r.done:
	case <-time.After(hangLimit):
		r.hung("waiting for it to exit")
	}
	select { // the rest of its output
	case <-r.read:
	case <-time.After(5 * time.Second):
	}
	return r.cmd.ProcessState.ExitCode()
}

func (r *termRun) hung(doing string) {
	r.t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	time.Sleep(200 * time.Millisecond)
	r.t.Fatalf("wavectl hung on a terminal (%s, %s limit); its goroutines:\n%s", doing, hangLimit, tail(r.output(), 20000))
}

// ctrlC types Ctrl-C on the terminal, as a person does: the terminal
// echoes "^C" where the cursor is and sends SIGINT to the foreground
// process group.
func (r *termRun) ctrlC() {
	if _, err := r.tty.Write([]byte{0x03}); err != nil {
		r.t.Fatalf("typing Ctrl-C: %v", err)
	}
}

func (r *termRun) signal(sig os.Signal) {
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("signal %v: %v", sig, err)
	}
}

// screen replays what a terminal received and returns what it shows,
// scrolled-off lines included: enough of a terminal to follow mpb's
// redraws (cursor up, erase down), so that a line drawn over by the next
// frame is not on the screen.
func screen(raw string) string {
	lines := []string{""}
	row, col := 0, 0
	put := func(c rune) {
		for row >= len(lines) {
			lines = append(lines, "")
		}
		l := []rune(lines[row])
		for len(l) < col {
			l = append(l, ' ')
		}
		if col < len(l) {
			l[col] = c
		} else {
			l = append(l, c)
		}
		lines[row] = string(l)
		col++
	}
	rs := []rune(raw)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\r':
			col = 0
		case c == '\n':
			row++
			col = 0
			for row >= len(lines) {
				lines = append(lines, "")
			}
		case c == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && (rs[j] < 0x40 || rs[j] > 0x7e) {
				j++
			}
			if j >= len(rs) {
				i = j
				break
			}
			param, final := string(rs[i+2:j]), rs[j]
			n, err := strconv.Atoi(param)
			if err != nil || n == 0 {
				n = 1
			}
			switch final {
			case 'A':
				row = max(row-n, 0)
			case 'J': // erase from the cursor to the end of the screen
				if row < len(lines) {
					l := []rune(lines[row])
					if col < len(l) {
						lines[row] = string(l[:col])
					}
					lines = lines[:row+1]
				}
			case 'K':
				if row < len(lines) {
					l := []rune(lines[row])
					if col < len(l) {
						lines[row] = string(l[:col])
					}
				}
			}
			i = j
		case c < 0x20:
		default:
			put(c)
		}
	}
	return strings.Join(lines, "\n")
}

func TestScreenFollowsRedraws(t *testing.T) {
	got := screen("frame 1\r\nbar a\r\n\x1b[2A\x1b[Jnotice\r\nframe 2\r\nbar b\r\n")
	if want := "notice\nframe 2\nbar b\n"; got != want {
		t.Errorf("screen = %q, want %q", got, want)
	}
}

// demoDir is a working folder with the examples, as a new user has them.
// extra, when set, is appended to its demo.yaml.
func demoDir(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "demo.yaml"), append(data, extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

var (
	barsDrawn = regexp.MustCompile(`overall\s+\d+/78 steps`)
	verifying = regexp.MustCompile(`\] verify \S+`)
	stopping  = regexp.MustCompile(`(?m)^stopping: nothing new starts and in-flight steps finish`)
)

// TestApplyOnATerminalNeverHangs runs the demo's whole apply on a
// terminal, bars drawn, several times: each run is 78 steps, some 250
// events as fast as the simulator goes, every one through the display.
// Before the display drained its events on its own goroutine, about 7
// runs of 23 froze for good.
func TestApplyOnATerminalNeverHangs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo's apply several times on a pseudo-terminal; skipped with -short")
	}
	runs := 4
	if n, err := strconv.Atoi(os.Getenv("WAVECTL_TERMINAL_RUNS")); err == nil && n > 0 {
		runs = n
	}
	dir := demoDir(t, "")
	for i := range runs {
		r := startOnTerminal(t, dir, nil, "apply", "--simulate", "--yes", "--ignore-windows", "demo.yaml")
		code := r.wait()
		out := screen(r.output())
		if code != 0 {
			t.Fatalf("run %d exited %d, want 0; its terminal:\n%s", i+1, code, tail(out, 6000))
		}
		for _, want := range []string{"overall", "78/78 steps", "wave wave-1", "conveyor", "Run succeeded"} {
			if !strings.Contains(out, want) {
				t.Errorf("run %d: the terminal never showed %q:\n%s", i+1, want, tail(out, 6000))
			}
		}
		// Log lines go above the bars, as notices do: written straight to
		// the terminal they were drawn over and left a stale bar behind.
		if n := strings.Count(out, "overall"); n != 1 {
			t.Errorf("run %d: %d overall bars on the screen, want 1 (a frame was broken):\n%s", i+1, n, tail(out, 6000))
		}
		if !strings.Contains(out, "left powered off as it was before the migration") {
			t.Errorf("run %d: the log line about ccm-batch-01 is not on the screen:\n%s", i+1, tail(out, 6000))
		}
		if strings.Contains(out, "FileAlreadyExists") {
			t.Errorf("run %d: the simulator's own log noise reached the terminal:\n%s", i+1, tail(out, 3000))
		}
	}
}

// TestCtrlCOnATerminal interrupts apply on a terminal while its bars are
// drawn: once (in-flight steps finish), and twice (they are abandoned).
// Ctrl-C is typed on the terminal, so the terminal's echo of "^C" moves
// the cursor under the bars. The run must end, exit 130, and the
// "stopping:" line must still be on the screen afterwards, whole, at the
// start of its line: not drawn over by the bars' next frame, nor drawn
// from where the echo left the cursor (it once read "ovstopping:").
func TestCtrlCOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo's apply on a pseudo-terminal; skipped with -short")
	}
	for _, tc := range []struct {
		name    string
		presses int
		extra   string
		note    string
	}{
		{"once", 1, "", "in-flight steps were finished"},
		// Verification that takes seconds keeps steps in flight long
		// enough for the second press to find them.
		{"twice", 2, "\nhooks: {verify: [\"sleep 5\"]}\n", "in-flight steps were abandoned, not finished"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := demoDir(t, tc.extra)
			// The signal must land while the run is going: the demo takes
			// seconds, so it nearly always does; a run that finished first
			// is tried again.
			for attempt := 1; ; attempt++ {
				r := startOnTerminal(t, dir, nil, "apply", "--simulate", "--yes", "--ignore-windows", "demo.yaml")
				if !r.waitFor(barsDrawn) {
					t.Fatalf("no progress bars drawn:\n%s", tail(screen(r.output()), 4000))
				}
				if tc.presses == 2 {
					// A verify (its hook sleeps 5s) in flight: the first press
					// waits for it, so the second finds it.
					r.waitFor(verifying)
				}
				r.ctrlC()
				landed := true
				if tc.presses == 2 {
					// Signals sent back to back merge into one: the second
					// goes once the first is seen, if the run is still going
					// (an interrupted demo ends in moments).
					r.waitFor(stopping)
					select {
					case <-r.done:
						landed = false
					default:
						r.ctrlC()
					}
				}
				code := r.wait()
				out := screen(r.output())
				if (code == 0 || !landed || (tc.presses == 2 && !strings.Contains(out, "stopping at once"))) && attempt < 5 {
					t.Logf("attempt %d: the run finished before the signals landed; again", attempt)
					continue
				}
				if code != 130 {
					t.Fatalf("exit %d, want 130 (interrupted); terminal:\n%s", code, tail(out, 6000))
				}
				if !stopping.MatchString(out) {
					t.Errorf("the stopping: line is not on the screen (drawn over?):\n%s", tail(out, 6000))
				}
				if !strings.Contains(out, "Run interrupted: "+tc.note) {
					t.Errorf("the summary does not say %q:\n%s", tc.note, tail(out, 6000))
				}
				return
			}
		})
	}
}

// TestThePromptOnATerminal answers apply's confirmation on a terminal,
// with stderr sent to a log file, as `2>log` does: the question is still
// on the terminal, says what will change, and each answer has its own exit
// code.
func TestThePromptOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs wavectl on a pseudo-terminal; skipped with -short")
	}
	question := regexp.MustCompile(`Continue\? \[y/N\] $`)
	for _, tc := range []struct {
		name   string
		answer string // typed at the prompt; "^C" is Ctrl-C
		code   int
		says   string
	}{
		{"no", "n\r", 11, "not confirmed; nothing was changed"},
		{"enter", "\r", 11, "not confirmed; nothing was changed"},
		{"ctrl-c", "^C", 130, "interrupted at the prompt; nothing was changed"},
		{"yes", "yes\r", 0, "Run succeeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := demoDir(t, "")
			logFile, err := os.Create(filepath.Join(dir, "log"))
			if err != nil {
				t.Fatal(err)
			}
			defer logFile.Close()
			r := startOnTerminalWith(t, dir, func(c *exec.Cmd) { c.Stderr = logFile },
				"apply", "--simulate", "--ignore-windows", "demo.yaml")
			if !r.waitFor(regexp.MustCompile(`Continue\? \[y/N\]`)) {
				t.Fatalf("no question on the terminal:\n%s", screen(r.output()))
			}
			shown := screen(r.output())
			for _, want := range []string{
				"wavectl apply will migrate plan demo:",
				"vCenter:       the embedded simulator (nothing real changes)",
				"waves:         wave-1 (4 applications), the conveyor (2 applications)",
				"applications:  6, with 13 VMs and 78 steps",
				"estimate:      1h06m; projected outage 827 user-hours",
				"windows:       ignored (--ignore-windows)",
			} {
				if !strings.Contains(shown, want) {
					t.Errorf("the question lacks %q:\n%s", want, shown)
				}
			}
			if !question.MatchString(strings.TrimRight(shown, "\n")) {
				t.Errorf("the question does not end the screen:\n%q", shown)
			}
			if tc.answer == "^C" {
				r.signal(os.Interrupt)
			} else if _, err := r.tty.Write([]byte(tc.answer)); err != nil {
				t.Fatal(err)
			}
			if code := r.wait(); code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			logged, _ := os.ReadFile(filepath.Join(dir, "log"))
			out := screen(r.output()) + string(logged)
			if !strings.Contains(out, tc.says) {
				t.Errorf("nothing says %q:\nterminal:\n%s\nlog:\n%s", tc.says, screen(r.output()), logged)
			}
			if strings.Contains(string(logged), "Continue?") {
				t.Errorf("the question went to the redirected stderr:\n%s", logged)
			}
			_, err = os.Stat(filepath.Join(dir, "demo.simulate.state.json"))
			if tc.code == 0 && err != nil {
				t.Errorf("yes: no state file: %v", err)
			}
			if tc.code != 0 && err == nil {
				t.Errorf("%s: a state file was written; nothing should have been", tc.name)
			}
		})
	}
}

// TestTheQuestionSaysWhatWaitsForItsWindow: the demo's wave opens in
// 2027; the conveyor can run now, so apply asks, and says the wave will
// wait.
func TestTheQuestionSaysWhatWaitsForItsWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("runs wavectl on a pseudo-terminal; skipped with -short")
	}
	r := startOnTerminal(t, demoDir(t, ""), nil, "apply", "--simulate", "demo.yaml")
	if !r.waitFor(regexp.MustCompile(`Continue\? \[y/N\]`)) {
		t.Fatalf("no question:\n%s", screen(r.output()))
	}
	if out := screen(r.output()); !strings.Contains(out, "windows:       wave-1 waits for its window, which opens at 2027-03-06T20:00:00Z") {
		t.Errorf("the question does not say wave-1 waits:\n%s", out)
	}
	if _, err := r.tty.Write([]byte("n\r")); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(); code != 11 {
		t.Errorf("exit %d, want 11", code)
	}
}

// TestNoQuestionWhenNothingCanRun: with every window shut, apply says so
// and pauses (exit 7) without asking to confirm a run that would do
// nothing.
func TestNoQuestionWhenNothingCanRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs wavectl on a pseudo-terminal; skipped with -short")
	}
	dir := demoDir(t, "")
	data, err := os.ReadFile(filepath.Join(dir, "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The conveyor gets a window long past, so nothing can run now.
	data = bytes.Replace(data, []byte("conveyor:\n"), []byte("conveyor:\n  window: {start: \"2020-01-01T00:00:00Z\", end: \"2020-01-02T00:00:00Z\"}\n"), 1)
	if err := os.WriteFile(filepath.Join(dir, "demo.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := startOnTerminal(t, dir, nil, "apply", "--simulate", "demo.yaml")
	code := r.wait()
	out := screen(r.output())
	if code != 7 || strings.Contains(out, "Continue?") || !strings.Contains(out, "window opens at 2027-03-06T20:00:00Z") {
		t.Errorf("exit %d (want 7), without a question, saying when the window opens:\n%s", code, out)
	}
}

// TestAResumedRunsBarsStartFromWhatIsDone interrupts an apply against a
// served simulator, then resumes it on a terminal: the resumed run's
// overall bar starts from the steps already done, not from zero.
func TestAResumedRunsBarsStartFromWhatIsDone(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo's apply and resume on a pseudo-terminal; skipped with -short")
	}
	dir := demoDir(t, "")
	p, _, err := plan.LoadFile(filepath.Join(dir, "demo.yaml"))
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
	var env []string
	for _, l := range vc.Env() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(l, "export "), "="); ok {
			env = append(env, k+"="+strings.Trim(v, "'"))
		}
	}
	halfway := regexp.MustCompile(`overall\s+([1-9]\d*)/78 steps`)
	for attempt := 1; ; attempt++ {
		_ = os.Remove(filepath.Join(dir, "demo.state.json"))
		r := startOnTerminal(t, dir, env, "apply", "--yes", "--ignore-windows", "demo.yaml")
		if !r.waitFor(halfway) {
			t.Fatalf("no progress drawn:\n%s", screen(r.output()))
		}
		r.signal(os.Interrupt)
		if code := r.wait(); code == 130 {
			break
		} else if attempt == 5 {
			t.Fatalf("the apply was never interrupted in 5 tries (last exit %d)", code)
		}
		// It finished first: again, on a fresh record (the steps find
		// their earlier work in the simulator by wavectl's markers).
		t.Logf("attempt %d: the apply finished before the signal landed; again", attempt)
	}
	st, err := state.Read(filepath.Join(dir, "demo.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, a := range st.Apps {
		for _, u := range a.Units {
			for _, s := range u.Steps {
				if s.Status == state.Done || s.Status == state.Deferred {
					done++
				}
			}
		}
	}
	if done == 0 || done == 78 {
		t.Fatalf("the interrupted run recorded %d of 78 steps done; want some", done)
	}
	r := startOnTerminal(t, dir, env, "resume", "--yes")
	code := r.wait()
	first := halfway.FindStringSubmatch(r.output())
	if code != 0 || first == nil {
		t.Fatalf("resume exited %d; its terminal:\n%s", code, screen(r.output()))
	}
	if n, _ := strconv.Atoi(first[1]); n < done {
		t.Errorf("the resumed run's first frame shows %s/78 steps; %d were already done", first[1], done)
	}
	if out := screen(r.output()); !strings.Contains(out, "resume carries on with the options the run it continues had") || !strings.Contains(out, "--ignore-windows") || !strings.Contains(out, "Run succeeded") {
		t.Errorf("resume did not carry on as the run was started:\n%s", out)
	}
}
