package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/state"
)

// hostile is text a vCenter fault or a hook could carry: clear the screen,
// home the cursor, and overwrite the line.
const hostile = "\x1b[2J\x1b[Hall clear\rOK"

// onTerminal runs wavectl with stdout and stderr on a pseudo-terminal and
// returns what the terminal received.
func onTerminal(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(&out, ptmx) // ends with EIO once the terminal side is closed
		close(done)
	}()
	ios := &IOStreams{In: strings.NewReader(""), Out: tty, ErrOut: tty, OutTTY: true, ErrTTY: true}
	code := Run(context.Background(), ios, args)
	tty.Close()
	<-done
	return code, out.String()
}

func TestStatusOnATerminalShowsControlCharactersFromVCenterEscaped(t *testing.T) {
	dir := isolate(t)
	data, err := os.ReadFile(filepath.Join(stateFixtures, "failed.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Decode("failed.json", data)
	if err != nil {
		t.Fatal(err)
	}
	faults := 0
	for _, a := range st.Apps {
		for _, u := range a.Units {
			for _, s := range u.Steps {
				if s.Error != "" {
					s.Error = "fault " + hostile
					faults++
				}
			}
		}
	}
	if faults == 0 {
		t.Fatal("the fixture has no fault to make hostile")
	}
	path := filepath.Join(dir, "demo.state.json")
	s, err := state.Create(path, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	code, out := onTerminal(t, "status", "--state", path)
	if code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if strings.Contains(out, "\x1b") || strings.Contains(out, "clear\rOK") {
		t.Errorf("the terminal received raw control characters:\n%q", out)
	}
	if !strings.Contains(out, `fault \x1b[2J\x1b[Hall clear\rOK`) {
		t.Errorf("the fault is not shown escaped:\n%q", out)
	}
}

func TestAnErrorOnATerminalIsEscaped(t *testing.T) {
	isolate(t)
	code, out := onTerminal(t, "validate", "no-such-plan-"+hostile+".yaml")
	if code != ExitUsage {
		t.Fatalf("exit %d:\n%q", code, out)
	}
	if strings.Contains(out, "\x1b") || !strings.Contains(out, `\x1b[2J`) {
		t.Errorf("the error reached the terminal unescaped:\n%q", out)
	}
}

func TestProgressEventsAreEscapedForTheTerminal(t *testing.T) {
	ev := terminalEvent(engine.Event{App: "app" + hostile, Unit: "vm\r", Step: "relocate", Message: hostile, Err: os.ErrNotExist})
	for _, s := range []string{ev.App, ev.Unit, ev.Message, ev.Err.Error()} {
		if strings.ContainsAny(s, "\x1b\r") {
			t.Errorf("%q holds a raw control character", s)
		}
	}
	if ev.App != `app\x1b[2J\x1b[Hall clear\rOK` {
		t.Errorf("app %q", ev.App)
	}
}

func TestConsoleLogsEscapeTheirMessage(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, true, "info", "console")
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Str("vm", "vm"+hostile).Msg("hook said " + hostile)
	if strings.Contains(buf.String(), "\x1b[2J") || strings.Contains(buf.String(), "\r") {
		t.Errorf("a console log line holds raw control characters:\n%q", buf.String())
	}
}

func TestLogLinesHideCredentials(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		var buf bytes.Buffer
		log, err := newLogger(&buf, false, "info", format)
		if err != nil {
			t.Fatal(err)
		}
		log.Warn().Str("url", "https://admin:s3cret@vc.example/sdk").Msg("retrying Post https://admin:s3cret@vc.example/sdk")
		if strings.Contains(buf.String(), "s3cret") || !strings.Contains(buf.String(), "admin:***@vc.example") {
			t.Errorf("%s log line: %s", format, buf.String())
		}
	}
}
