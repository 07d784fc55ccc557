package statetest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/state/statetest"
)

func openFile(_ context.Context, ref string) (state.Backend, error) {
	return state.FileBackend{File: ref}, nil
}

func TestMain(m *testing.M) {
	statetest.MaybeWriter(openFile)
	os.Exit(m.Run())
}

// The state file store passes the conformance suite.
func TestFileStore(t *testing.T) {
	statetest.Run(t, statetest.Factory{
		New:  func(t *testing.T) string { return filepath.Join(t.TempDir(), "conformance.state.json") },
		Open: openFile,
		Future: func(t *testing.T, ref string) {
			st, err := state.Read(ref)
			if err != nil {
				t.Fatal(err)
			}
			st.FormatVersion = state.FormatVersion + 1
			data, err := state.Encode(st)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(ref, data, 0o600); err != nil {
				t.Fatal(err)
			}
		},
	})
}
