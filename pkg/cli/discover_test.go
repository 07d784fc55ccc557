package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiscoverStopsWhenInterrupted: SIGINT and SIGTERM cancel the
// command's context (root.go); discover checks it while it reads, and the
// cancellation is exit 130 with no plan written.
func TestDiscoverStopsWhenInterrupted(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("VM,CPUs,Memory\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "vm-%d,2,4096\n", i)
	}
	export := filepath.Join(dir, "vinfo.csv")
	if err := os.WriteFile(export, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	io, _, _, _ := Test()
	out := filepath.Join(dir, "plan.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := discoverRun(ctx, &DiscoverOptions{IO: io, From: "rvtools", File: export, Out: out})
	if code := codeOf(err); code != ExitInterrupted {
		t.Fatalf("exit %d (%v), want %d", code, err, ExitInterrupted)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a plan was written: %v", err)
	}
}
