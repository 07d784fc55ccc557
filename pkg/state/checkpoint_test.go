package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyRecordFiles copies the state file and its journal as they stand, as
// a kill -9 at this moment would leave them.
func copyRecordFiles(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(path))
	for _, suffix := range []string{"", JournalSuffix} {
		data, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, data, FileMode); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func fileSerialOf(t *testing.T, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Decode(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return st.Serial
}

// Between checkpoints an Update is durable in the journal alone: the file
// is not rewritten, and Read (what status, report and resume use) sees the
// change.
func TestUpdatesAreDurableInTheJournalBetweenCheckpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, bigState(3, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 20 {
		if err := s.UpdateStep("app-00", "app00-vm-001", "relocate", 1, func(r *Step, u *Unit) { r.Attempts = i + 1 }); err != nil {
			t.Fatal(err)
		}
	}
	if got := fileSerialOf(t, path); got != 1 {
		t.Errorf("the state file was rewritten (serial %d) within %s of its creation; want it left at serial 1", got, CheckpointEvery)
	}
	st, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Serial != 21 || st.App("app-00").Unit("app00-vm-001").Step("relocate", 1).Attempts != 20 {
		t.Errorf("Read: serial %d, attempts %d; want 21 and 20", st.Serial, st.App("app-00").Unit("app00-vm-001").Step("relocate", 1).Attempts)
	}
	if n := s.Stats(); n.Writes != 0 || n.Commits != 20 {
		t.Errorf("stats %+v, want 20 commits and no file writes", n)
	}
}

// A run killed between checkpoints: the files it leaves read as the live
// record, and a store opened on them carries on from there and writes the
// whole record out.
func TestAKilledRunsFilesReadAsItsLastUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, bigState(4, 6))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, a := range []string{"app-00", "app-01", "app-02"} {
		if err := s.UpdateApp(a, func(app *App) { app.Status = Done; app.Reason = strings.Repeat("x", i) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(func(st *State) { st.Runs = append(st.Runs, &Run{Command: "apply", Started: t0}) }); err != nil {
		t.Fatal(err)
	}
	var live []byte
	s.View(func(st *State) { live, _ = Encode(st) })

	crashed := copyRecordFiles(t, path)
	got, err := Read(crashed)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := Encode(got); !bytes.Equal(b, live) {
		t.Error("the killed run's files read differently from its live record")
		diffLines(t, string(live), string(b))
	}
	// Open carries on, and its Close writes the whole record to the file.
	s2, err := Open(crashed)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.UpdateApp("app-03", func(app *App) { app.Status = Failed }); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(crashed)
	onDisk, err := Decode(crashed, data)
	if err != nil {
		t.Fatal(err)
	}
	if onDisk.App("app-02").Status != Done || onDisk.App("app-03").Status != Failed || len(onDisk.Runs) != 2 {
		t.Errorf("after Open and Close the file has app-02 %s, app-03 %s, %d runs; want done, failed, 2",
			onDisk.App("app-02").Status, onDisk.App("app-03").Status, len(onDisk.Runs))
	}
}

// While updates go on, the file catches up every CheckpointEvery, and after
// the last one without waiting for another Update.
func TestTheFileCatchesUpOnItsOwn(t *testing.T) {
	prev := checkpointEvery
	checkpointEvery = 50 * time.Millisecond
	t.Cleanup(func() { checkpointEvery = prev })
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, bigState(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 5 {
		if err := s.UpdateApp("app-01", func(a *App) { a.Users++ }); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for fileSerialOf(t, path) != 6 {
		if time.Now().After(deadline) {
			t.Fatalf("the state file is at serial %d 10s after the last Update; want 6", fileSerialOf(t, path))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if w := s.Stats().Writes; w < 1 || w > 5 {
		t.Errorf("%d checkpoints for 5 updates", w)
	}
}

// While updates go on, a checkpoint waits until the journal has grown by
// the state file's size, however long CheckpointEvery has passed: a big
// record is not rewritten for a few small changes. (Checkpoints every
// CheckpointEvery rewrite this record some 14 times in this loop.)
func TestABusyFileIsCheckpointedAsItsJournalGrows(t *testing.T) {
	prev := checkpointEvery
	checkpointEvery = 20 * time.Millisecond
	t.Cleanup(func() { checkpointEvery = prev })
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, bigState(20, 20))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	size, journal := fileSize(t, path), fileSize(t, path+JournalSuffix)
	start := time.Now()
	for i := 0; time.Since(start) < time.Second || i < 50; i++ {
		if err := s.UpdateApp("app-01", func(a *App) { a.Users++ }); err != nil {
			t.Fatal(err)
		}
	}
	grown := fileSize(t, path+JournalSuffix) - journal
	// A checkpoint per file size the journal grew, and one more for a pause
	// of CheckpointEvery between two commits (a loaded machine makes some).
	if w, most := s.Stats().Writes, grown/size+3; w > most {
		t.Errorf("%d checkpoints of a %d-byte record while its journal grew by %d bytes; want at most %d", w, size, grown, most)
	}
	// Once the updates stop, the file catches up on its own.
	var serial int64
	s.View(func(st *State) { serial = st.Serial })
	deadline := time.Now().Add(10 * time.Second)
	for fileSerialOf(t, path) != serial {
		if time.Now().After(deadline) {
			t.Fatalf("the state file is at serial %d 10s after the last update; want %d", fileSerialOf(t, path), serial)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// A journal damaged in the lines the file lacks stops Read with the line
// and what to do, rather than a record that silently lost steps.
func TestADamagedJournalTailSaysWhereAndWhatToDo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, bigState(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.UpdateApp("app-00", func(a *App) { a.Users++ }); err != nil {
			t.Fatal(err)
		}
	}
	crashed := copyRecordFiles(t, path)
	s.Close()
	j, _ := os.ReadFile(crashed + JournalSuffix)
	lines := bytes.SplitAfter(j, []byte("\n"))
	// lines: state, app (users 1), app (2), app (3), "" — damage the second app line.
	lines[2] = []byte("{\"type\":\"app\",\"serial\":3,\"time\": garbage\n")
	if err := os.WriteFile(crashed+JournalSuffix, bytes.Join(lines, nil), FileMode); err != nil {
		t.Fatal(err)
	}
	_, err = Read(crashed)
	var je *JournalError
	if !errors.As(err, &je) || je.Line != 3 {
		t.Fatalf("Read: %v; want a JournalError at line 3", err)
	}
	for _, want := range []string{crashed + JournalSuffix + ":3:", "mv " + crashed + JournalSuffix, "nothing was changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%s", want, err)
		}
	}
	if _, err := Open(crashed); !errors.As(err, &je) {
		t.Errorf("Open: %v; want the JournalError", err)
	}
	// Moving the journal aside, as it says, leaves the file's record.
	if err := os.Rename(crashed+JournalSuffix, crashed+JournalSuffix+".damaged"); err != nil {
		t.Fatal(err)
	}
	if st, err := Read(crashed); err != nil || st.Serial != 1 {
		t.Errorf("without the journal: %v, %v; want the file's serial 1", st, err)
	}
}

// A journal that another record started (the state file was moved aside
// and a new one created, or copied in from elsewhere) is not this file's.
func TestAnotherRecordsJournalIsNotApplied(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.state.json")
	s, err := Create(path, bigState(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateApp("app-00", func(a *App) { a.Users = 99 }); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "p.state.json")
	o, err := Create(other, bigState(2, 2)) // a fresh lineage
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	// The other record's file beside this record's journal.
	data, _ := os.ReadFile(other)
	if err := os.WriteFile(path, data, FileMode); err != nil {
		t.Fatal(err)
	}
	st, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.App("app-00").Users == 99 {
		t.Errorf("a change from another lineage's journal was applied")
	}
	// A run does not carry on with it: the file was replaced by another
	// record's (a finished run's copied over a half-done one, say).
	st, err = Read(path)
	if err != nil {
		t.Fatal(err)
	}
	err = CheckContinues(path, st)
	var re *ReplacedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "mv "+path+JournalSuffix) {
		t.Errorf("Open of another record's file beside this journal: %v; want a ReplacedError saying what to do", err)
	}
	s.Close()
}

// Killed twice between checkpoints: the second run opened a record the
// journal had caught up, started the journal over with it, and was killed
// before writing the file. Both runs' changes are in the record.
func TestKilledTwiceBetweenCheckpointsLosesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, bigState(3, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.UpdateApp("app-00", func(a *App) { a.Status = Done }); err != nil {
		t.Fatal(err)
	}
	first := copyRecordFiles(t, path) // kill -9 number one

	s2, err := Open(first)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.UpdateApp("app-01", func(a *App) { a.Status = Done }); err != nil {
		t.Fatal(err)
	}
	second := copyRecordFiles(t, first) // kill -9 number two
	if got := fileSerialOf(t, second); got != 1 {
		t.Fatalf("the file was written (serial %d): the case needs it left at serial 1", got)
	}
	st, err := Read(second)
	if err != nil {
		t.Fatal(err)
	}
	if st.App("app-00").Status != Done || st.App("app-01").Status != Done || st.Serial != 3 {
		t.Errorf("after two kills: app-00 %s, app-01 %s, serial %d; want done, done, 3",
			st.App("app-00").Status, st.App("app-01").Status, st.Serial)
	}
}
