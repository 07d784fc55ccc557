package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// killedRecord makes a record with a journal tail newer than its file: the
// files a run killed between checkpoints leaves. It returns their path and
// the record as the file, and as each of the tail's lines in turn, leave it
// (encoded), and the journal's bytes.
func killedRecord(t testing.TB) (path string, records []string, journal []byte) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.state.json")
	s, err := Create(live, bigState(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap := func() {
		s.View(func(st *State) {
			b, err := Encode(st)
			if err != nil {
				t.Fatal(err)
			}
			records = append(records, string(b))
		})
	}
	snap()
	for i := range 3 {
		if err := s.UpdateApp("app-00", func(a *App) { a.Users++; a.Reason = "network pg-app-10" + string(rune('1'+i)) }); err != nil {
			t.Fatal(err)
		}
		snap()
	}
	path = filepath.Join(dir, "p.state.json")
	for _, suffix := range []string{"", JournalSuffix} {
		data, err := os.ReadFile(live + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+suffix, data, FileMode); err != nil {
			t.Fatal(err)
		}
	}
	journal, _ = os.ReadFile(path + JournalSuffix)
	return path, records, journal
}

// Every single-bit flip in the journal's lines newer than the file is
// caught: reading refuses the journal (saying where), or, when the flip
// hits the last line's newline (a line cut short, which never counted),
// reads the record as it was before that line. Never a changed record.
func TestEveryFlippedBitInTheJournalTailIsCaught(t *testing.T) {
	path, records, journal := killedRecord(t)
	tail := bytes.IndexByte(journal, '\n') + 1 // the lines after the whole-state line
	accepted, refused := 0, 0
	// One bit a byte, in turn (all eight of every byte take 20 s).
	for i := tail; i < len(journal); i++ {
		for _, bit := range []int{i % 8} {
			damaged := bytes.Clone(journal)
			damaged[i] ^= 1 << bit
			if err := os.WriteFile(path+JournalSuffix, damaged, FileMode); err != nil {
				t.Fatal(err)
			}
			st, err := Read(path)
			if err != nil {
				var je *JournalError
				if !errors.As(err, &je) {
					t.Fatalf("byte %d bit %d: %v; want a JournalError", i, bit, err)
				}
				refused++
				continue
			}
			got, _ := Encode(st)
			if string(got) != records[len(records)-1] && !(i == len(journal)-1 && string(got) == records[len(records)-2]) {
				t.Fatalf("byte %d bit %d (%q) was accepted and changed the record", i, bit, journal[i])
			}
			accepted++
		}
	}
	if refused == 0 {
		t.Fatal("no flip was refused")
	}
	t.Logf("%d flips refused, %d read as a line cut short", refused, accepted)
}

// FuzzCatchUp appends random bytes to a killed run's journal: reading never
// panics, and what it reads is the record as a whole number of the
// journal's own lines leave it, or a refusal; never half a line applied.
func FuzzCatchUp(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("\n"))
	f.Add([]byte(`{"type":"step","serial":99,"app":"app-00","unit":"app00-vm-0`))
	f.Add([]byte(`{"type":"app","serial":9,"time":"2019-03-02T20:00:00Z","app":"app-00","application":{"name":"app-00"}}` + "\n"))
	f.Add([]byte(`{"type":"app","serial":9,"time":"2019-03-02T20:00:00Z","app":"app-00","application":{"name":"app-00"},"sum":"00000000"}` + "\n"))
	f.Add([]byte(`{"type":"state","serial":99,"state":{}}` + "\n"))
	src, records, journal := killedRecord(f)
	file, _ := os.ReadFile(src)
	f.Fuzz(func(t *testing.T, tail []byte) {
		path := filepath.Join(t.TempDir(), "p.state.json")
		if err := os.WriteFile(path, file, FileMode); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+JournalSuffix, append(bytes.Clone(journal), tail...), FileMode); err != nil {
			t.Fatal(err)
		}
		st, err := Read(path)
		if err != nil {
			return
		}
		got, _ := Encode(st)
		last := records[len(records)-1]
		if string(got) != last {
			// Only a sealed line can change the record, and random bytes
			// do not seal; a seed's own sealed line could.
			t.Fatalf("the tail %q changed the record", tail)
		}
	})
}

// FuzzDecode: any bytes as a state file decode to a record or to an error,
// never a panic; a record that decodes encodes and decodes to itself.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"testdata/v1.json", "testdata/v2.json", "testdata/v3.json"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"formatVersion":3,"checksum":"","plan":"p","runs":[null]}`))
	f.Add([]byte(`{"formatVersion":2,"checksum":"","plan":"p","runs":[{"args":["--wave"]}],"applications":[{"reason":"skipped: it depends on x, which failed"}]}`))
	f.Add([]byte(`{"formatVersion":99}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Decode("fuzz.state.json", data)
		if err != nil {
			return
		}
		enc, err := Encode(st)
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
		again, err := Decode("again.state.json", enc)
		if err != nil {
			t.Fatalf("a decoded record, encoded, does not decode: %v", err)
		}
		if enc2, _ := Encode(again); !bytes.Equal(enc, enc2) {
			t.Fatal("encode, decode, encode is not stable")
		}
	})
}

// A journal written by format 2 has no checksums: it still catches up, but
// in a format-3 journal a line without its checksum is refused.
func TestAFormat2JournalCatchesUpAndAnUnsealedLineInAFormat3OneIsRefused(t *testing.T) {
	path, records, journal := killedRecord(t)
	unseal := regexp.MustCompile(`,"sum":"[0-9a-f]{8}"}\n`)
	legacy := unseal.ReplaceAll(journal, []byte("}\n"))
	if err := os.WriteFile(path+JournalSuffix, legacy, FileMode); err != nil {
		t.Fatal(err)
	}
	st, err := Read(path)
	if err != nil {
		t.Fatalf("a journal with no checksums (format 2): %v", err)
	}
	if got, _ := Encode(st); string(got) != records[len(records)-1] {
		t.Error("the format-2 journal's tail was not applied")
	}
	lines := bytes.SplitAfter(journal, []byte("\n"))
	last := len(lines) - 2 // the last line; SplitAfter leaves "" after it
	lines[last] = unseal.ReplaceAll(lines[last], []byte("}\n"))
	if err := os.WriteFile(path+JournalSuffix, bytes.Join(lines, nil), FileMode); err != nil {
		t.Fatal(err)
	}
	_, err = Read(path)
	var je *JournalError
	if !errors.As(err, &je) || !strings.Contains(err.Error(), "it has no checksum") {
		t.Errorf("an unsealed line in a sealed journal: %v; want a JournalError", err)
	}
}
