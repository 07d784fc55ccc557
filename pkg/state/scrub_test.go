package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpeningAStateThatHoldsAPasswordScrubsTheFileItsBackupAndJournal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultPath("crown-hosting"))
	st := sampleState()
	st.Serial = 0
	// As an older wavectl recorded it: a scheme-less URL was not redacted.
	st.Runs = append(st.Runs, &Run{Command: "apply", Args: []string{"--url", "admin:s3cret@vc.example", "--password=s3cret", "plan.yaml"}, Result: "failed",
		Note: "login to https://admin:s3cret@vc.example/sdk failed"})
	s, err := Create(path, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, reason := range []string{"Post https://admin:s3cret@vc.example/sdk: EOF", "again"} {
		if err := s.Update(func(st *State) { st.App("pension-calc").Reason = reason }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !filesHold(t, dir, "s3cret") {
		t.Fatal("the test's state holds no password to scrub: it tests nothing")
	}
	// status and report read without writing: what they get is clean.
	read, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := Encode(read); strings.Contains(string(data), "s3cret") {
		t.Error("Read returns the password an older wavectl recorded")
	}
	if !filesHold(t, dir, "s3cret") {
		t.Fatal("Read changed the files")
	}

	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if filesHold(t, dir, "s3cret") {
		t.Error("a file beside the state still holds the password after Open")
	}
	if err := s2.Update(func(st *State) { st.App("pension-calc").Reason = "third" }); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if filesHold(t, dir, "s3cret") {
		t.Error("a file beside the state holds the password after an update")
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Runs[len(got.Runs)-1]; strings.Join(r.Args, " ") != "--url admin:***@vc.example --password=*** plan.yaml" {
		t.Errorf("scrubbed args %q", r.Args)
	}
	if got.App("pension-calc").Reason != "third" {
		t.Errorf("the update after the scrub was lost: %q", got.App("pension-calc").Reason)
	}
}

// filesHold reports whether any file in dir contains s.
func filesHold(t *testing.T, dir, s string) bool {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), s) {
			t.Logf("%s holds %q", e.Name(), s)
			found = true
		}
	}
	return found
}
