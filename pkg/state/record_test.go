package state

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
)

// The typed changes of a run (its start and end with its options, a
// vCenter's identity, hooks' runs) are journaled as lines of their own,
// and a killed run's files read as its live record.
func TestTypedChangesAreJournaledAsTheirOwnLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.state.json")
	s, err := Create(path, bigState(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run := Run{Command: "resume", Options: RunOptions{Waves: []string{"wave-1"}, IgnoreWindows: true, RetryBase: "2s"}, Started: t0, Result: "running"}
	steps := []func() error{
		func() error {
			return s.BeginRun(run, []*App{{Name: "app-09", Strategy: "redeploy", Units: []*Unit{{Name: "vm-9", Steps: []*Step{{Kind: "clone"}}}}}})
		},
		func() error {
			return s.SetVCenter("lab", VCenter{InstanceUUID: "5f1e0c9a-0000-4000-8000-000000000001"})
		},
		func() error {
			return s.AddWaveHook(HookRun{Kind: "pre", Wave: "wave-1", Command: "./drain.sh", Started: t0, Ended: t0})
		},
		func() error {
			return s.AddHook("app-01", HookRun{Kind: "verify", Command: "./check.sh", ExitCode: 1, Started: t0, Ended: t0})
		},
		func() error { return s.EndRun(*at(5), "failed", "1 application failed") },
		// A resume: every application is in the record already.
		func() error {
			return s.BeginRun(run, []*App{{Name: "app-09", Units: []*Unit{{Name: "vm-9", Steps: []*Step{{Kind: "clone"}}}}}})
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	if err := s.AddHook("no-such-app", HookRun{}); err == nil {
		t.Error("a hook of an application the record lacks was recorded")
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
	if r := got.Runs[len(got.Runs)-2]; r.Result != "failed" || !r.Options.IgnoreWindows || len(got.Runs) != 3 || got.VCenters["lab"].InstanceUUID == "" ||
		len(got.WaveHooks) != 1 || len(got.App("app-01").Hooks) != 1 || got.App("app-09") == nil {
		t.Errorf("the record read back lacks a change: %+v", got)
	}
	var types []string
	for _, e := range journalLines(t, crashed) {
		types = append(types, e.Type)
	}
	for _, want := range []string{EntryVCenter, EntryWaveHook, EntryHook, EntryRun} {
		if !slices.Contains(types, want) {
			t.Errorf("no %s line in the journal (lines: %v)", want, types)
		}
	}
	runs := 0
	for _, ty := range types {
		if ty == EntryRun {
			runs++
		}
	}
	if runs != 2 {
		t.Errorf("%d run lines, want 2 (the end of one run, the start of the next): %v", runs, types)
	}
	if slices.Contains(types[1:], EntryState) {
		t.Errorf("a whole-state line after the first: %v", types)
	}
}
