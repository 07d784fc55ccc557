package cli

import (
	"bytes"
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IOStreams are the command's standard streams and whether they are
// terminals: progress bars and colour only go to a terminal.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	OutTTY bool
	ErrTTY bool
	InTTY  bool

	// OpenTTY opens the controlling terminal for prompts; nil in tests.
	OpenTTY func() (io.WriteCloser, error)
}

// System returns the process's own streams.
func System() *IOStreams {
	tty := func(f *os.File) bool { return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()) }
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		InTTY: tty(os.Stdin), OutTTY: tty(os.Stdout), ErrTTY: tty(os.Stderr),
		OpenTTY: func() (io.WriteCloser, error) { return os.OpenFile("/dev/tty", os.O_WRONLY, 0) }}
}

// Test returns streams backed by buffers, none of them a terminal.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// Prompt returns where a question to the operator goes and where the
// answer comes from: the terminal itself (/dev/tty), so that a question
// is seen even when stderr is redirected to a log; else the error and
// input streams. close releases the terminal.
func (s *IOStreams) Prompt() (w io.Writer, r io.Reader, close func()) {
	if s.OpenTTY != nil {
		if tty, err := s.OpenTTY(); err == nil {
			return tty, s.In, func() { _ = tty.Close() }
		}
	}
	return s.ErrOut, s.In, func() {}
}
