package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestACommandThatIgnoresAnInterruptIsLeftBehindWithExit130(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	started := make(chan struct{})
	build := func(f *Factory) *cobra.Command {
		root := NewRootCmd(f)
		root.AddCommand(&cobra.Command{Use: "stuck", RunE: func(*cobra.Command, []string) error {
			close(started)
			<-stuck // reads a pipe that never ends, say
			return nil
		}})
		return root
	}
	ctx, cancel := context.WithCancel(context.Background())
	ios, _, _, stderr := Test()
	code := make(chan int, 1)
	go func() { code <- run(ctx, ios, []string{"stuck"}, build) }()
	<-started
	cancel()
	if got := <-code; got != ExitInterrupted {
		t.Errorf("exit %d, want %d", got, ExitInterrupted)
	}
	if !strings.Contains(stderr.String(), "interrupted (SIGINT/SIGTERM)") {
		t.Errorf("stderr %q does not say it was interrupted", stderr.String())
	}
}

func TestACommandThatDrainsIsWaitedFor(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	build := func(f *Factory) *cobra.Command {
		root := NewRootCmd(f)
		for _, c := range root.Commands() {
			if c.Name() == "apply" {
				root.RemoveCommand(c) // a stand-in takes its name
			}
		}
		root.AddCommand(&cobra.Command{Use: "apply", RunE: func(cmd *cobra.Command, _ []string) error {
			close(started)
			<-cmd.Context().Done()
			<-release // steps in flight finish and are recorded
			return silentExit(ExitInterrupted)
		}})
		return root
	}
	ctx, cancel := context.WithCancel(context.Background())
	ios, _, _, _ := Test()
	code := make(chan int, 1)
	go func() { code <- run(ctx, ios, []string{"apply"}, build) }()
	<-started
	cancel()
	select {
	case got := <-code:
		t.Fatalf("run returned %d while the command was still draining", got)
	case <-time.After(interruptGrace + time.Second):
	}
	close(release)
	if got := <-code; got != ExitInterrupted {
		t.Errorf("exit %d, want %d", got, ExitInterrupted)
	}
}

func TestTheSimulatorStopsOnAnInterruptWithExit130(t *testing.T) {
	env := filepath.Join(t.TempDir(), "env.sh")
	ctx, cancel := context.WithCancel(context.Background())
	ios, _, _, _ := Test()
	code := make(chan int, 1)
	go func() { code <- Run(ctx, ios, []string{"sim", "--plan", demoPlan, "--env-file", env}) }()
	for {
		if st, err := os.Stat(env); err == nil && st.Size() > 0 {
			break
		}
		select {
		case got := <-code:
			t.Fatalf("sim ended with %d before serving", got)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if got := <-code; got != ExitInterrupted {
		t.Errorf("exit %d, want %d", got, ExitInterrupted)
	}
}
