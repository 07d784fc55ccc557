package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/v3.json from sampleState")

func TestDefaultPathIsThePlanNameInTheWorkingDirectory(t *testing.T) {
	if got := DefaultPath("crown-hosting"); got != "crown-hosting.state.json" {
		t.Errorf("DefaultPath = %q", got)
	}
}

func TestNewStateHasAVersionALineageAndACreatedTime(t *testing.T) {
	a, b := NewState("p", "p.yaml", "h"), NewState("p", "p.yaml", "h")
	if a.FormatVersion != FormatVersion || a.Created.IsZero() || len(a.Lineage) != 32 {
		t.Errorf("NewState = %+v", a)
	}
	if a.Lineage == b.Lineage {
		t.Errorf("two states share lineage %s", a.Lineage)
	}
}

// The golden file pins the format: decoding it must give sampleState field
// for field (a renamed JSON key would not), and encoding it again must give
// the same bytes, checksum included.
func TestGoldenV3RoundTripsByteForByte(t *testing.T) {
	const golden = "testdata/v3.json"
	if *update {
		data, err := Encode(sampleState())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Read(golden)
	if err != nil {
		t.Fatal(err)
	}
	if want := sampleState(); !reflect.DeepEqual(st, want) {
		t.Errorf("decoding %s does not give sampleState: the format changed (run with -update only if that is meant, and raise FormatVersion with a migration)", golden)
	}
	again, err := Encode(st)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Errorf("re-encoding %s changed it:\n%s", golden, again)
	}
	if !bytes.Contains(data, []byte(`"checksum": "sha256:`)) {
		t.Errorf("%s is not sealed", golden)
	}
}

// A file of format version 1 (written by wavectl before the checksum)
// still reads, through the migration, as the record it holds; its first
// write is in this build's format.
func TestGoldenV1ReadsThroughTheMigration(t *testing.T) {
	const golden = "testdata/v1.json"
	st, err := Read(golden)
	if err != nil {
		t.Fatal(err)
	}
	if want := sampleStateV2(); !reflect.DeepEqual(st, want) {
		t.Errorf("decoding %s through the migration does not give sampleState", golden)
	}
	path := filepath.Join(t.TempDir(), "p.state.json")
	data, _ := os.ReadFile(golden)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(*State) {}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Contains(after, []byte(fmt.Sprintf(`"formatVersion": %d,`, FormatVersion))) || !bytes.Contains(after, []byte(`"checksum": "sha256:`)) {
		t.Errorf("the first write kept the old format:\n%.200s", after)
	}
	if _, err := Read(path); err != nil {
		t.Error(err)
	}
}

// A file of format version 2 reads through the migration as the record it
// holds, its run's options read once from its recorded command line.
func TestGoldenV2ReadsThroughTheMigration(t *testing.T) {
	st, err := Read("testdata/v2.json")
	if err != nil {
		t.Fatal(err)
	}
	if want := sampleStateV2(); !reflect.DeepEqual(st, want) {
		t.Errorf("decoding testdata/v2.json through the migration gives\n%+v\nwant\n%+v", st.Runs[0], want.Runs[0])
	}
}

func TestMigrationsLeadFromVersionOneToThisBuilds(t *testing.T) {
	if len(migrations) != FormatVersion-1 {
		t.Fatalf("%d migrations for format version %d: each version after 1 needs one from the version before", len(migrations), FormatVersion)
	}
}

func TestCreateThenOpenRoundTrips(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultPath("crown-hosting"))
	st := sampleState()
	st.Serial = 0
	s, err := Create(path, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(st *State) { st.App("pension-calc").Status = Running }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s2.View(func(got *State) {
		if got.Serial != 2 {
			t.Errorf("serial %d after create and one update, want 2", got.Serial)
		}
		if got.App("pension-calc").Status != Running {
			t.Errorf("the update was not kept")
		}
		if got.Lineage != st.Lineage {
			t.Errorf("lineage %s, want %s", got.Lineage, st.Lineage)
		}
		if !got.Updated.After(got.Created) {
			t.Errorf("updated %v not after created %v", got.Updated, got.Created)
		}
	})
}

func TestCreateFillsWhatTheStateLacks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, &State{Plan: "p"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	st, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.FormatVersion != FormatVersion || st.Lineage == "" || st.Created.IsZero() || st.Serial != 1 {
		t.Errorf("created %+v", st)
	}
}

func TestCreateRefusesToReplaceAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.state.json")
	if err := os.WriteFile(path, []byte("earlier run"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Create(path, NewState("p", "p.yaml", "h"))
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Create over a file: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "earlier run" {
		t.Errorf("the file was changed to %q", data)
	}
	assertNoTempFiles(t, filepath.Dir(path))
}

func TestTheFileIsReadableByItsOwnerOnly(t *testing.T) {
	checkpointAlways(t)
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, NewState("p", "p.yaml", "h"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(when string) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v %s, want 0600", fi.Mode().Perm(), when)
		}
	}
	check("after Create")
	// A file made readable by hand is put back to 0600 by the next write.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(*State) {}); err != nil {
		t.Fatal(err)
	}
	check("after Update")
}

func TestConcurrentUpdatesAllLandAndTheSerialCountsThem(t *testing.T) {
	const goroutines, each = 200, 5
	path := filepath.Join(t.TempDir(), "p.state.json")
	st := NewState("p", "p.yaml", "h")
	for g := range goroutines {
		st.Apps = append(st.Apps, &App{Name: fmt.Sprint("app-", g), Status: Pending,
			Units: []*Unit{{Name: "vm", Steps: []*Step{{Kind: "relocate"}}}}})
	}
	s, err := Create(path, st)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				err := s.Update(func(st *State) { st.Apps[g].Units[0].Steps[0].Attempts++ })
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	writes := s.writes.Load()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(1 + goroutines*each); got.Serial != want {
		t.Errorf("serial %d, want %d (create + every update)", got.Serial, want)
	}
	for _, a := range got.Apps {
		if n := a.Units[0].Steps[0].Attempts; n != each {
			t.Errorf("%s has %d attempts on disk, want %d", a.Name, n, each)
		}
	}
	t.Logf("%d updates, %d writes", goroutines*each, writes)
	if writes >= goroutines*each {
		t.Errorf("%d writes for %d concurrent updates: they were not grouped", writes, goroutines*each)
	}
}

// Each Update returns only once its change is on disk: read the file back
// the moment Update returns.
func TestUpdateReturnsOnceItsChangeIsOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.state.json")
	st := NewState("p", "p.yaml", "h")
	for g := range 16 {
		st.Apps = append(st.Apps, &App{Name: fmt.Sprint("app-", g)})
	}
	s, err := Create(path, st)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 1; i <= 20; i++ {
				if err := s.Update(func(st *State) { st.Apps[g].Users = i }); err != nil {
					t.Error(err)
					return
				}
				disk, err := Read(path)
				if err != nil {
					t.Error(err)
					return
				}
				// Later writes may hold later values of this goroutine's
				// own field only if it wrote them; it has not yet.
				if got := disk.Apps[g].Users; got != i {
					t.Errorf("app-%d: Update returned with users=%d on disk, want %d", g, got, i)
					return
				}
			}
		})
	}
	wg.Wait()
}

// A crash between writing the temp file and renaming it leaves the target
// as it was, whole: simulated by failing there, after cutting the temp
// file in half.
func TestAFailedWriteLeavesTheTargetWhole(t *testing.T) {
	checkpointAlways(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "p.state.json")
	s, err := Create(path, sampleState())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	s.beforeRename = func(tmp string) error {
		fi, err := os.Stat(tmp)
		if err != nil {
			return err
		}
		if err := os.Truncate(tmp, fi.Size()/2); err != nil {
			return err
		}
		return errors.New("simulated crash")
	}
	err = s.Update(func(st *State) { st.Apps[0].Status = Done })
	if err == nil || !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("Update through a failing write: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Errorf("the target changed although the write failed")
	}
	if _, err := Read(path); err != nil {
		t.Errorf("the target no longer reads: %v", err)
	}
	assertNoTempFiles(t, dir)

	// The change stayed in memory: the next good write carries it.
	s.beforeRename = nil
	if err := s.Update(func(st *State) { st.Apps[1].Status = Failed }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Apps[0].Status != Done || got.Apps[1].Status != Failed {
		t.Errorf("on disk: %s, %s; want done, failed", got.Apps[0].Status, got.Apps[1].Status)
	}
}

// Readers (status, report) never see a half-written file, however hard a
// run writes.
func TestReadersNeverSeeAHalfWrittenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, bigState(4, 10))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			// A bounded number of updates: every Read replays the journal
			// lines newer than the file, so unbounded writers make the
			// readers' work grow without end (minutes under -race).
			for i := 0; i < 200; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := s.Update(func(st *State) {
					u := st.Apps[w%len(st.Apps)].Units[i%10]
					u.Steps[i%8].Attempts++
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var reads atomic.Int64
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			last := int64(0)
			for range 50 {
				st, err := Read(path)
				if err != nil {
					t.Errorf("read %d: %v", reads.Load(), err)
					return
				}
				if st.Serial < last {
					t.Errorf("serial went back from %d to %d", last, st.Serial)
				}
				last = st.Serial
				reads.Add(1)
			}
		})
	}
	readers.Wait()
	close(stop)
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads while %d writes went on", reads.Load(), s.writes.Load())
}

func TestUpdateAfterCloseFails(t *testing.T) {
	s, err := Create(filepath.Join(t.TempDir(), "p.state.json"), NewState("p", "p.yaml", "h"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(*State) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBadFilesGiveTheirOwnErrors(t *testing.T) {
	good, err := Encode(sampleState())
	if err != nil {
		t.Fatal(err)
	}
	future := bytes.Replace(good, []byte(fmt.Sprintf(`"formatVersion": %d`, FormatVersion)), []byte(`"formatVersion": 7`), 1)
	badType := bytes.Replace(good, []byte(`"serial": 42`), []byte(`"serial": "42"`), 1)
	nullApp := bytes.Replace(good, []byte(`"applications": [`), []byte(`"applications": [null, `), 1)
	flipped := bytes.Replace(good, []byte(`"status": "failed"`), []byte(`"status": "faile\u0064"`), 1)
	unsealed := regexp.MustCompile(`\n  "checksum": "[^"]*",`).ReplaceAll(good, nil)
	var compactBuf bytes.Buffer
	if err := json.Compact(&compactBuf, good); err != nil {
		t.Fatal(err)
	}
	compact := compactBuf.Bytes()
	for _, c := range []struct {
		name string
		data []byte
		// want: "notexist", "version", or "corrupt" with a line (0: no
		// position; -1: the data's last line) and text in the message.
		want     string
		line     int
		contains string
	}{
		{name: "a missing file", want: "notexist"},
		{name: "a file cut in half", data: good[:len(good)/2], want: "corrupt", line: -1, contains: "cut short"},
		{name: "a file cut at its last brace", data: good[:len(good)-2], want: "corrupt", line: -1, contains: "cut short"},
		{name: "garbage", data: []byte("\x00\x01PK\x03\x04 not json"), want: "corrupt", line: 1, contains: "invalid character"},
		{name: "an empty file", data: nil, want: "corrupt", contains: "empty"},
		{name: "JSON that is not a state", data: []byte(`{"apiVersion": "wavectl/v1"}`), want: "corrupt", contains: "not a wavectl state file"},
		{name: "a JSON list", data: []byte(`[1, 2]`), want: "corrupt", line: 1, contains: "holds a JSON array, not an object"},
		{name: "format version zero", data: []byte(`{"formatVersion": 0, "plan": "p"}`), want: "corrupt", contains: "formatVersion 0"},
		{name: "a value of the wrong type", data: badType, want: "corrupt", line: 8, contains: "serial is a JSON string, want a whole number"},
		{name: "a null application", data: nullApp, want: "corrupt", contains: "applications[0] is null"},
		{name: "a newer format version", data: future, want: "version", contains: "upgrade wavectl"},
		{name: "a byte changed in a status", data: flipped, want: "corrupt", contains: "its checksum does not match its content: the file was changed or damaged"},
		{name: "no checksum", data: unsealed, want: "corrupt", contains: "it has no checksum"},
		{name: "a checksum moved by reformatting", data: compact, want: "corrupt", contains: "its checksum cannot be checked"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.state.json")
			if c.want != "notexist" {
				if err := os.WriteFile(path, c.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Read(path)
			if err == nil {
				t.Fatal("Read succeeded")
			}
			if _, oerr := Open(path); oerr == nil || oerr.Error() != err.Error() {
				t.Errorf("Open gives %v, Read %v", oerr, err)
			}
			var ce *CorruptError
			var ve *VersionError
			switch c.want {
			case "notexist":
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%v does not wrap os.ErrNotExist", err)
				}
			case "version":
				if !errors.As(err, &ve) || ve.Found != 7 || ve.Supported != FormatVersion {
					t.Errorf("%v is not a VersionError for 7", err)
				}
			case "corrupt":
				if !errors.As(err, &ce) {
					t.Fatalf("%v (%T) is not a CorruptError", err, err)
				}
				want := c.line
				if want == -1 {
					want = bytes.Count(bytes.TrimRight(c.data, "\n"), []byte("\n")) + 1
				}
				if ce.Line != want {
					t.Errorf("line %d, want %d", ce.Line, want)
				}
				if ce.Line > 0 && !strings.Contains(err.Error(), fmt.Sprintf("p.state.json:%d:%d is corrupt", ce.Line, ce.Col)) {
					t.Errorf("message lacks the position: %v", err)
				}
				if !strings.Contains(err.Error(), "nothing was changed") {
					t.Errorf("message does not say what to do: %v", err)
				}
			}
			if c.contains != "" && !strings.Contains(err.Error(), c.contains) {
				t.Errorf("message %q lacks %q", err, c.contains)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("message %q does not name the file", err)
			}
		})
	}
}

func TestATruncatedFileIsLocatedAtItsEnd(t *testing.T) {
	data := []byte("{\n  \"formatVersion\": 1,\n  \"plan\": \"p\",\n  \"runs\": [")
	path := filepath.Join(t.TempDir(), "p.state.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Read(path)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Line != 4 || ce.Col != 11 {
		t.Fatalf("got %v, want a CorruptError at 4:11", err)
	}
}

func TestCheckPlanRefusesAnotherPlansState(t *testing.T) {
	st := sampleState()
	if err := CheckPlan("x", st, "crown-hosting"); err != nil {
		t.Errorf("own plan: %v", err)
	}
	var fe *ForeignError
	if err := CheckPlan("x", st, "other"); !errors.As(err, &fe) || fe.Got != "crown-hosting" {
		t.Errorf("other plan: %v", err)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
}

// BenchmarkUpdate measures group commit against writing the file once per
// Update, on a record the size of the reference programme (1,500 VMs x 8
// steps, about 3 MB), with 64 goroutines updating at once as a run's VMs
// do. ns/op is wall time per Update (1/throughput); latency-ms is how long
// each caller waits; writes/update is how many file writes each Update
// cost.
func BenchmarkUpdate(b *testing.B) {
	const goroutines = 64
	for _, mode := range []struct {
		name  string
		naive bool
		step  bool // through UpdateStep, which journals each change at once
	}{{"baseline-naive-write-per-update", true, false}, {"group-commit", false, false}, {"group-commit-UpdateStep", false, true}} {
		b.Run(mode.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "crown-hosting.state.json")
			s, err := Create(path, bigState(60, 25))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			update := s.Update
			if mode.naive {
				update = s.updateNaive
			}
			writes0 := s.writes.Load()
			var next, waited atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						start := time.Now()
						var err error
						if mode.step {
							a, u := i%60, (i/60)%25
							err = s.UpdateStep(fmt.Sprintf("app-%02d", a), fmt.Sprintf("app%02d-vm-%03d", a, u), stepKinds[4], 1, func(stp *Step, _ *Unit) {
								stp.Attempts++
								stp.Status = Done
							})
						} else {
							err = update(func(st *State) {
								a := st.Apps[i%len(st.Apps)]
								stp := a.Units[(i/len(st.Apps))%len(a.Units)].Steps[4]
								stp.Attempts++
								stp.Status = Done
							})
						}
						waited.Add(int64(time.Since(start)))
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(s.writes.Load()-writes0)/float64(b.N), "writes/update")
			b.ReportMetric(float64(waited.Load())/float64(b.N)/1e6, "latency-ms")
			if fi, err := os.Stat(path); err == nil {
				b.ReportMetric(float64(fi.Size())/1e6, "MB-file")
			}
		})
	}
	// What one write costs before it reaches the disk.
	b.Run("encode-only", func(b *testing.B) {
		st := bigState(60, 25)
		for b.Loop() {
			if _, err := Encode(st); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// updateNaive is the baseline: each Update encodes and writes the whole
// file itself, under the lock, as a store without group commit would.
func (s *File) updateNaive(fn func(*State)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.st)
	s.st.Serial++
	s.st.Updated = s.now()
	data, err := Encode(s.st)
	if err != nil {
		return err
	}
	return s.write(data)
}
