package state

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// storeWithHistory creates a state at a temp path and makes n sequential
// updates, each marking one more step done; it returns the closed store's
// path.
func storeWithHistory(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, bigState(2, 3))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		err := s.UpdateStep(fmt.Sprintf("app-%02d", i%2), fmt.Sprintf("app%02d-vm-%03d", i%2, i%3), "relocate", 1, func(r *Step, u *Unit) {
			r.Status, r.Attempts = Done, r.Attempts+1
			u.Outputs["vm"] = fmt.Sprint("vm-", 500+i)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func serialOf(t *testing.T, path string) int64 {
	t.Helper()
	st, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Serial
}

func TestEveryWriteKeepsThePreviousVersionAsTheBackup(t *testing.T) {
	checkpointAlways(t)
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, NewState("p", "p.yaml", "h"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := serialOf(t, path+BackupSuffix); got != 1 {
		t.Errorf("after Create the backup has serial %d, want 1 (the file itself)", got)
	}
	for i := 2; i <= 5; i++ {
		if err := s.Update(func(st *State) { st.PlanFile = fmt.Sprint("p", i, ".yaml") }); err != nil {
			t.Fatal(err)
		}
		if got, bak := serialOf(t, path), serialOf(t, path+BackupSuffix); got != int64(i) || bak != int64(i-1) {
			t.Errorf("after update %d: file serial %d, backup %d; want %d and %d", i, got, bak, i, i-1)
		}
	}
	if runtime.GOOS != "windows" {
		for _, p := range []string{path + BackupSuffix, path + JournalSuffix} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != FileMode {
				t.Errorf("%s: %v, mode %v; want 0600", p, err, fi.Mode().Perm())
			}
		}
	}
	assertNoTempFiles(t, filepath.Dir(path))
	if _, err := os.Stat(path + BackupSuffix + ".tmp"); err == nil {
		t.Errorf("the backup's link was left behind")
	}
}

// A file that something else changed under a running store is no good
// version to go back to: the backup stays the last good one.
func TestAFileChangedBehindTheStoreDoesNotBecomeTheBackup(t *testing.T) {
	checkpointAlways(t)
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, NewState("p", "p.yaml", "h"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(func(*State) {}); err != nil { // serial 2; backup 1
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("{ damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(*State) {}); err != nil { // serial 3
		t.Fatal(err)
	}
	if got := serialOf(t, path+BackupSuffix); got != 1 {
		t.Errorf("backup has serial %d, want 1: the damaged file became the backup", got)
	}
	if got := serialOf(t, path); got != 3 {
		t.Errorf("file has serial %d, want 3", got)
	}
}

func TestACorruptFileSaysHowToRestoreTheBackupOrRebuild(t *testing.T) {
	checkpointAlways(t)
	for _, c := range []struct {
		name   string
		damage func([]byte) []byte
		reason string
	}{
		{"a status changed by one byte", func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"status": "done"`))
			b[i+len(`"status": "d`)] = 'e' // "dene"
			return b
		}, "its checksum does not match its content"},
		{"a file cut short", func(b []byte) []byte { return b[:len(b)*2/3] }, "cut short"},
		{"an empty file", func([]byte) []byte { return nil }, "the file is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := storeWithHistory(t, 5) // serials 1 to 6
			data, _ := os.ReadFile(path)
			if err := os.WriteFile(path, c.damage(data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Read(path)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Read: %v, want a CorruptError", err)
			}
			if !strings.Contains(ce.Reason, c.reason) {
				t.Errorf("reason %q lacks %q", ce.Reason, c.reason)
			}
			if ce.Backup != path+BackupSuffix || ce.BackupSerial != 5 {
				t.Errorf("backup %q serial %d, want %s serial 5", ce.Backup, ce.BackupSerial, path+BackupSuffix)
			}
			if ce.Journal != path+JournalSuffix || ce.JournalSerial != 6 {
				t.Errorf("journal %q serial %d, want %s serial 6", ce.Journal, ce.JournalSerial, path+JournalSuffix)
			}
			msg := err.Error()
			cp := fmt.Sprintf("cp -p %s %s", path+BackupSuffix, path)
			for _, want := range []string{cp, "serial 5", "Rebuild it from its journal " + path + JournalSuffix, "up to serial 6, newer than the backup", "nothing was changed"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			if _, oerr := Open(path); oerr == nil || oerr.Error() != msg {
				t.Errorf("Open gives %v", oerr)
			}

			// The command it prints works.
			if out, err := exec.Command("sh", "-c", cp).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cp, err, out)
			}
			restored, _ := os.ReadFile(path)
			if st, err := Decode(path, restored); err != nil || st.Serial != 5 {
				t.Errorf("restored file: serial %v, %v; want 5", st, err)
			}
			// Read brings it up to date with the journal's later lines.
			if got := serialOf(t, path); got != 6 {
				t.Errorf("restored record reads with serial %d, want 6 (the backup and the journal's last change)", got)
			}
			// And the journal rebuilds the newest.
			st, err := Rebuild(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Serial != 6 || st.App("app-00").Unit("app00-vm-001").Outputs["vm"] != "vm-504" {
				t.Errorf("rebuilt serial %d, outputs %v", st.Serial, st.App("app-00").Unit("app00-vm-001").Outputs)
			}
		})
	}
}

func TestAFileEditedAndVouchedForReads(t *testing.T) {
	path := storeWithHistory(t, 1)
	data, _ := os.ReadFile(path)
	st, _ := Read(path)
	edited := bytes.Replace(data, []byte(`"planFile": "plans/crown-hosting.yaml"`), []byte(`"planFile": "moved.yaml"`), 1)
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil {
		t.Fatal("an edited file reads")
	}
	vouched := regexp.MustCompile(`"checksum": "[^"]*"`).ReplaceAll(edited, []byte(`"checksum": ""`))
	if err := os.WriteFile(path, vouched, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatalf("a file with an empty checksum: %v", err)
	}
	if got.PlanFile != "moved.yaml" || got.Serial != st.Serial {
		t.Errorf("read %q serial %d", got.PlanFile, got.Serial)
	}
}

// encoded is the record as its file would hold it, for comparing records.
func encoded(t *testing.T, st *State) string {
	t.Helper()
	data, err := Encode(st)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The journal rebuilds the live record exactly, however it was changed:
// many goroutines at once, through Update, UpdateApp and UpdateStep, with
// new applications, units and runs, and across a reopen.
func TestRebuildFromTheJournalEqualsTheLiveState(t *testing.T) {
	checkpointAlways(t)
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, bigState(8, 6))
	if err != nil {
		t.Fatal(err)
	}
	work := func(s *File, round int) {
		var wg sync.WaitGroup
		for g := range 48 {
			wg.Go(func() {
				app := fmt.Sprintf("app-%02d", g%8)
				unit := fmt.Sprintf("app%02d-vm-%03d", g%8, g/8)
				for i, kind := range stepKinds {
					var err error
					switch (g + i) % 4 {
					case 0:
						err = s.UpdateStep(app, unit, kind, 1, func(r *Step, u *Unit) {
							now := time.Now().UTC()
							r.Status, r.Started = Running, &now
						})
						if err == nil {
							err = s.UpdateStep(app, unit, kind, 1, func(r *Step, u *Unit) {
								now := time.Now().UTC()
								r.Status, r.Ended, r.Attempts = Done, &now, r.Attempts+1
								out := map[string]string{"vm": fmt.Sprint("vm-", round, "-", g, "-", i)}
								for k, v := range u.Outputs {
									out[k] = v
								}
								u.Outputs = out
							})
						}
					case 1:
						err = s.Update(func(st *State) {
							r := st.App(app).Unit(unit).Step(kind, 1)
							r.Attempts++
							r.Retried = append(r.Retried, fmt.Sprint("transient ", round, i))
							r.Error = "Host is in maintenance mode"
						})
					case 2:
						err = s.UpdateApp(app, func(a *App) {
							a.Unit(unit).Status = []Status{Pending, Failed}[i%2]
							a.Hooks = append(a.Hooks, HookRun{Kind: "verify", Unit: unit, Command: "./check.sh", Output: fmt.Sprint("ok ", i), Started: t0, Ended: t0})
						})
					case 3:
						err = s.Update(func(st *State) {
							a := st.App(app)
							a.Status, a.Reason = Running, fmt.Sprint("step ", i)
							if g == 0 && i == 3 {
								st.Runs = append(st.Runs, &Run{Command: "resume", Host: "h", Started: t0, Result: "running"})
								st.WaveHooks = append(st.WaveHooks, HookRun{Kind: "pre", Wave: "wave-1", Command: "true"})
							}
							if g == 1 && i == 5 {
								// A new application, and a new unit for an old one.
								st.Apps = append(st.Apps, &App{Name: fmt.Sprint("late-", round), Status: Pending,
									Units: []*Unit{{Name: "late-vm", Steps: []*Step{{Kind: "clone", Phase: 1, Status: Pending}}}}})
								a.Units = append(a.Units, &Unit{Name: fmt.Sprint("extra-", round), Steps: []*Step{{Kind: "verify", Phase: 2}}})
							}
						})
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	work(s, 1)
	check := func(when string) {
		t.Helper()
		var live string
		s.View(func(st *State) { live = encoded(t, st) })
		rebuilt, err := Rebuild(path)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if got := encoded(t, rebuilt); got != live {
			t.Errorf("%s: the rebuilt record differs from the live one", when)
			diffLines(t, live, got)
		}
		disk, _ := os.ReadFile(path)
		if string(disk) != live {
			t.Errorf("%s: the file differs from the live record", when)
		}
	}
	check("after concurrent updates")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	work(s, 2)
	check("after a reopen and more updates")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	lines := journalLines(t, path)
	count := map[string]int{}
	for _, e := range lines {
		count[e.Type]++
	}
	t.Logf("journal: %d lines %v", len(lines), count)
	if count[EntryState] != 2 {
		t.Errorf("%d whole-state lines, want 2 (Create and Open)", count[EntryState])
	}
	for _, typ := range []string{EntryStep, EntryApp, EntryUnit, EntryRecord, EntryCommit} {
		if count[typ] == 0 {
			t.Errorf("no %s lines", typ)
		}
	}
}

func diffLines(t *testing.T, want, got string) {
	t.Helper()
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range min(len(w), len(g)) {
		if w[i] != g[i] {
			t.Errorf("first difference at line %d:\n live:    %s\n rebuilt: %s", i+1, w[i], g[i])
			return
		}
	}
	t.Errorf("lengths differ: %d and %d lines", len(w), len(g))
}

func journalLines(t *testing.T, path string) []Entry {
	t.Helper()
	f, err := os.Open(path + JournalSuffix)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("journal line %d: %v", len(out)+1, err)
		}
		out = append(out, e)
	}
	return out
}

// UpdateStep journals each transition as it is made, even two that one
// write covers.
func TestUpdateStepJournalsEveryTransition(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, bigState(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []Status{Running, Failed, Running, Done} {
		err := s.UpdateStep("app-00", "app00-vm-000", "relocate", 1, func(r *Step, u *Unit) {
			r.Status = to
			if to == Failed {
				r.Error = "Insufficient disk space on datastore 'ds-gold-01'."
			}
			r.Attempts++
			u.Status = to
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UpdateStep("app-00", "app00-vm-000", "no-such-step", 1, func(*Step, *Unit) { t.Error("fn called") }); err == nil {
		t.Error("UpdateStep of a missing step succeeded")
	}
	s.Close()
	var got []string
	for _, e := range journalLines(t, path) {
		if e.Type == EntryStep {
			got = append(got, fmt.Sprintf("%s %s->%s attempt %d %s", e.Kind, e.From, e.Status, e.Attempts, e.Error))
		}
	}
	want := []string{
		"relocate pending->running attempt 1 ",
		"relocate running->failed attempt 2 Insufficient disk space on datastore 'ds-gold-01'.",
		"relocate failed->running attempt 3 Insufficient disk space on datastore 'ds-gold-01'.",
		"relocate running->done attempt 4 Insufficient disk space on datastore 'ds-gold-01'.",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("step lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRebuildIgnoresALineCutShortByACrash(t *testing.T) {
	path := storeWithHistory(t, 4)
	want, _ := os.ReadFile(path)
	f, err := os.OpenFile(path+JournalSuffix, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"type":"step","serial":99,"app":"app-00","unit":"app00-vm-0`)
	f.Close()
	st, err := Rebuild(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := encoded(t, st); got != string(want) {
		t.Errorf("rebuilt record differs from the file")
		diffLines(t, string(want), got)
	}
}

// A run killed while appending to the journal leaves a line cut short; the
// next run's store carries on after it, and the journal still rebuilds.
func TestTheNextStoreCarriesOnAfterALineCutShort(t *testing.T) {
	path := storeWithHistory(t, 2)
	f, err := os.OpenFile(path+JournalSuffix, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"type":"step","serial":99,"app":"app-00","unit":"app00-vm-0`)
	f.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateStep("app-01", "app01-vm-002", "verify", 1, func(r *Step, _ *Unit) { r.Status = Failed }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(path)
	st, err := Rebuild(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := encoded(t, st); got != string(want) {
		t.Errorf("rebuilt record differs from the file")
		diffLines(t, string(want), got)
	}
}

// A record started afresh under the same name (the old one moved aside)
// starts its journal over in the same file; Rebuild takes the newest.
func TestRebuildTakesTheNewestRecordOfAReusedJournal(t *testing.T) {
	path := storeWithHistory(t, 3)
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	st := NewState("p", "p.yaml", "h")
	s, err := Create(path, st)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	got, err := Rebuild(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Lineage != st.Lineage || got.Serial != 1 {
		t.Errorf("rebuilt lineage %s serial %d, want %s and 1", got.Lineage, got.Serial, st.Lineage)
	}
	if bak := serialOf(t, path+BackupSuffix); bak != 1 {
		t.Errorf("the backup is still the old record's (serial %d)", bak)
	}
}

func TestRebuildWithoutAJournal(t *testing.T) {
	_, err := Rebuild(filepath.Join(t.TempDir(), "p.state.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Rebuild without a journal: %v", err)
	}
}

// A failed append loses lines; the next write starts the journal over
// with the whole record, so that it still rebuilds.
func TestTheJournalStartsOverAfterAFailedAppend(t *testing.T) {
	checkpointAlways(t)
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, bigState(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Break the journal's file under the store: its writes fail.
	s.j.f.Close()
	err = s.UpdateStep("app-00", "app00-vm-000", "relocate", 1, func(r *Step, u *Unit) { r.Status = Done })
	if err == nil || !strings.Contains(err.Error(), "journal") {
		t.Fatalf("update with a broken journal: %v", err)
	}
	s.j.f = nil // reopened by the next append
	if err := s.UpdateStep("app-00", "app00-vm-001", "relocate", 1, func(r *Step, u *Unit) { r.Status = Done }); err != nil {
		t.Fatal(err)
	}
	disk, _ := os.ReadFile(path)
	st, err := Rebuild(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := encoded(t, st); got != string(disk) {
		t.Errorf("rebuilt record differs from the file")
		diffLines(t, string(disk), got)
	}
}

// Every field of the record reaches the journal: one added to State, Run,
// App, Unit or Step that the journal's comparison misses fails here, by
// name. Each field is changed in turn, through Update and through
// UpdateApp, and the journal must then rebuild the live record.
func TestEveryFieldOfTheRecordSurvivesTheJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, sampleState())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(what string) {
		t.Helper()
		var live string
		s.View(func(st *State) { live = encoded(t, st) })
		rebuilt, err := Rebuild(path)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := encoded(t, rebuilt); got != live {
			t.Errorf("a change of %s is not in the journal", what)
			diffLines(t, live, got)
		}
	}
	skip := map[string]bool{"State.Apps": true, "State.Serial": true, "State.Updated": true, "State.Checksum": true,
		"App.Name": true, "App.Units": true, "Unit.Name": true, "Unit.Steps": true, "Step.Kind": true, "Step.Phase": true}
	targets := []struct {
		name string
		of   func(st *State) reflect.Value
	}{
		{"State", func(st *State) reflect.Value { return reflect.ValueOf(st).Elem() }},
		{"Run", func(st *State) reflect.Value { return reflect.ValueOf(st.Runs[0]).Elem() }},
		{"App", func(st *State) reflect.Value { return reflect.ValueOf(st.Apps[0]).Elem() }},
		{"Unit", func(st *State) reflect.Value { return reflect.ValueOf(st.Apps[0].Units[1]).Elem() }},
		{"Step", func(st *State) reflect.Value { return reflect.ValueOf(st.Apps[0].Units[1].Steps[1]).Elem() }},
	}
	for _, tg := range targets {
		var typ reflect.Type
		s.View(func(st *State) { typ = tg.of(st).Type() })
		for i := range typ.NumField() {
			field := tg.name + "." + typ.Field(i).Name
			if skip[field] {
				continue
			}
			for _, via := range []string{"Update", "UpdateApp"} {
				change := func(st *State) {
					if err := changeValue(tg.of(st).Field(i)); err != nil {
						t.Fatalf("%s: %v: teach changeValue", field, err)
					}
				}
				var err error
				if via == "Update" || tg.name == "State" || tg.name == "Run" {
					err = s.Update(change)
				} else {
					err = s.UpdateApp("pension-calc", func(*App) { change(s.st) }) // under the store's lock
				}
				if err != nil {
					t.Fatal(err)
				}
				check(field + " through " + via)
			}
		}
	}
}

// changeValue gives a field of the record another value.
func changeValue(v reflect.Value) error {
	switch x := v.Addr().Interface().(type) {
	case *time.Time:
		*x = x.Add(time.Hour)
	case **time.Time:
		t := t0
		if *x != nil {
			t = (*x).Add(time.Hour)
		}
		*x = &t
	case *[]string:
		*x = append(slices.Clone(*x), "changed")
	case *[]HookRun:
		*x = append(slices.Clone(*x), HookRun{Kind: "changed", Started: t0, Ended: t0})
	case *[]*Run:
		*x = append(slices.Clone(*x), &Run{Command: "changed", Started: t0})
	case *map[string]VCenter:
		m := maps.Clone(*x)
		if m == nil {
			m = map[string]VCenter{}
		}
		m["changed"] = VCenter{InstanceUUID: fmt.Sprint(len(m))}
		*x = m
	case *[]Approval:
		*x = append(slices.Clone(*x), Approval{Wave: "changed", As: "cab", PlanHash: "h", At: t0})
	case *[]Abort:
		*x = append(slices.Clone(*x), Abort{Wave: "changed", Criterion: "overrun", At: t0})
	case **Estimate:
		if *x != nil {
			c := **x
			c.Source += "-changed"
			*x = &c
			break
		}
		*x = &Estimate{Source: "changed", Waves: map[string]Span{"w": {P50: 1, P90: 2}}, Apps: map[string]map[string]float64{"a": {"clone": 3}}}
	case *RunOptions:
		x.Waves = append(slices.Clone(x.Waves), "changed")
		x.Simulate = !x.Simulate
	case *map[string]string:
		m := maps.Clone(*x)
		if m == nil {
			m = map[string]string{}
		}
		m["changed"] = fmt.Sprint(len(m))
		*x = m
	default:
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "-changed")
		case reflect.Int, reflect.Int64:
			v.SetInt(v.Int() + 7)
		case reflect.Bool:
			v.SetBool(!v.Bool())
		default:
			return fmt.Errorf("cannot change a %s", v.Type())
		}
	}
	return nil
}

// A queued change whose commit fails is not lost silently: the next
// update that waits returns the failure, even when its own commit works.
func TestAFailedQueuedCommitFailsTheNextWaitedUpdate(t *testing.T) {
	checkpointAlways(t)
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, bigState(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.j.f.Close() // its writes fail
	if err := s.QueueStepOf("app-00", "app00-vm-000", "relocate", 1, func(_ *App, r *Step, _ *Unit) { r.Status = Done }); err != nil {
		t.Fatalf("queueing: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Commits < 1 { // the queued change's
		if time.Now().After(deadline) {
			t.Fatal("the queued change was not committed within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	s.j.f = nil // reopened by the next append: the next commit works
	err = s.UpdateStep("app-00", "app00-vm-001", "relocate", 1, func(r *Step, _ *Unit) { r.Status = Running })
	if err == nil || !strings.Contains(err.Error(), "journal") {
		t.Fatalf("the update after a failed queued commit: %v; want the journal's failure", err)
	}
	if err := s.UpdateStep("app-00", "app00-vm-001", "relocate", 1, func(r *Step, _ *Unit) { r.Status = Done }); err != nil {
		t.Fatalf("the failure was reported twice: %v", err)
	}
}
