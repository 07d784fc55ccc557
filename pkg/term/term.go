// Package term makes text from a plan, vCenter or a hook safe to show on a
// terminal: control characters (escape sequences, carriage returns, a
// clear-screen), bidirectional-text overrides and invalid UTF-8 are shown
// as Go-style escapes instead of acting on the terminal.
package term

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Escape returns s fit for one line of a terminal: every control
// character, newlines and tabs included, is written as an escape (\n, \r,
// \t, \x1b, \u202e), as is each byte of invalid UTF-8 (\xff).
func Escape(s string) string { return escape(s, false) }

// EscapeText is Escape for text of several lines (a hook's output, a
// message): newlines and tabs are kept.
func EscapeText(s string) string { return escape(s, true) }

func escape(s string, keepLines bool) string {
	if clean(s, keepLines) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// unsafe reports the non-ASCII runes a terminal acts on or that reorder
// what it shows: C1 controls (0x9b is a CSI on many terminals), and the
// bidirectional embeddings, overrides and isolates.
func unsafe(r rune) bool {
	return (r >= 0x80 && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// clean reports whether s needs no escaping: the common case, checked
// without allocating.
func clean(s string, keepLines bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return cleanUnicode(s[i:], keepLines)
		}
		if (c < 0x20 && !(keepLines && (c == '\n' || c == '\t'))) || c == 0x7f {
			return false
		}
	}
	return true
}

func cleanUnicode(s string, keepLines bool) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || (r < 0x20 && !(keepLines && (r == '\n' || r == '\t'))) || r == 0x7f || unsafe(r) {
			return false
		}
		i += n
	}
	return true
}

// Writer escapes what is written through it with EscapeText, for a stream
// that is a terminal: output can then print names and hook output as they
// are, whatever they hold. A multi-byte character split between two writes
// is held back until it is whole.
type Writer struct {
	w    io.Writer
	held []byte
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Raw returns w's own writer when w is a Writer, else w: for the escape
// sequences wavectl itself sends (clearing the screen to redraw a view).
func Raw(w io.Writer) io.Writer {
	if t, ok := w.(*Writer); ok {
		return t.w
	}
	return w
}

// Write writes p, escaped. It reports len(p) written when the escaped text
// was written whole.
func (t *Writer) Write(p []byte) (int, error) {
	buf := append(t.held, p...)
	t.held = nil
	// Hold back an incomplete UTF-8 sequence at the end.
	if k := incompleteTail(buf); k > 0 {
		t.held = append([]byte(nil), buf[len(buf)-k:]...)
		buf = buf[:len(buf)-k]
	}
	if _, err := io.WriteString(t.w, EscapeText(string(buf))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// incompleteTail is the length of a UTF-8 sequence begun but not finished
// at the end of b (0 when there is none).
func incompleteTail(b []byte) int {
	for k := 1; k <= 3 && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < 0x80 {
			return 0
		}
		if c >= 0xc0 { // a leading byte: how long should its sequence be?
			need := 2
			switch {
			case c >= 0xf0:
				need = 4
			case c >= 0xe0:
				need = 3
			}
			if need > k {
				return k
			}
			return 0
		}
	}
	return 0
}
