package term

import (
	"bytes"
	"testing"
)

func TestEscapeShowsWhatWouldActOnTheTerminal(t *testing.T) {
	for in, want := range map[string]string{
		"web-01":                    "web-01",
		"caf\u00e9 \u65e5\u672c":    "caf\u00e9 \u65e5\u672c",
		"\x1b[2J\x1b[Hclear":        `\x1b[2J\x1b[Hclear`,
		"ok\rFAILED":                `ok\rFAILED`,
		"two\nlines\tand tab":       `two\nlines\tand tab`,
		"bell\a del\x7f nul\x00":    `bell\x07 del\x7f nul\x00`,
		"c1 \u009b31m":              `c1 \u009b31m`,
		"bidi \u202eevil\u202c":     `bidi \u202eevil\u202c`,
		"bad \xff\xfe utf8":         `bad \xff\xfe utf8`,
		"\u00e9\x1b after unicode":  "\u00e9\\x1b after unicode",
		"\u00e9\nafter unicode too": "\u00e9\\nafter unicode too",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeTextKeepsLinesAndTabs(t *testing.T) {
	in := "line 1\n\tline 2\r\x1b[31mred\u00e9\n"
	want := "line 1\n\tline 2\\r\\x1b[31mred\u00e9\n"
	if got := EscapeText(in); got != want {
		t.Errorf("EscapeText(%q) = %q, want %q", in, got, want)
	}
}

func TestWriterEscapesAcrossWritesAndKeepsSplitCharactersWhole(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	e := []byte("caf\u00e9\u65e5")
	for _, p := range [][]byte{[]byte("a\x1b[2Jb "), e[:4], e[4:6], e[6:], []byte("\rz\n")} {
		if n, err := w.Write(p); err != nil || n != len(p) {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if want := "a\\x1b[2Jb caf\u00e9\u65e5\\rz\n"; out.String() != want {
		t.Errorf("wrote %q, want %q", out.String(), want)
	}
}
