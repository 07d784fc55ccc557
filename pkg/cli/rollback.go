package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/engine"
)

// NewCmdRollback builds `wavectl rollback`.
func NewCmdRollback(f *Factory, runF func(*ApplyOptions) error) *cobra.Command {
	opts := &ApplyOptions{IO: f.IO, Command: "rollback"}
	cmd := &cobra.Command{
		Use:   "rollback --app A | --wave W [PLAN]",
		Short: "Undo the migration of applications or waves, newest step first",
		Long: `Undo what the run recorded in the state file did to the named applications
(--app, repeatable) or to every application of the named waves (--wave):
their completed steps in reverse order: VMs wavectl created are destroyed,
snapshots reverted and removed, moved VMs relocated back, recorded power
states restored, retired and superseded VMs brought back.

Rollback is itself recorded step by step, so an interrupted rollback run
again undoes only what is left. An application that depends on one being
rolled back, and has moved, must be rolled back with it.

The state and plan are found as for resume. Exit codes as for apply.`,
		Example: `  wavectl rollback --yes --app meals-on-wheels examples/demo.yaml
  wavectl rollback --yes --wave wave-1 --state demo.state.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("rollback takes at most one plan file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := fillRunOptions(f, cmd, opts); err != nil {
				return err
			}
			if len(opts.Scope.Apps) == 0 && len(opts.Scope.Waves) == 0 {
				return usageError{errors.New("rollback needs --app A or --wave W: it never undoes a whole plan by accident")}
			}
			if len(args) == 1 {
				opts.Plan = args[0]
			}
			if p := f.Config.GetString("plan"); p != "" {
				opts.Plan = p
			}
			if runF != nil {
				return runF(opts)
			}
			return rollbackRun(cmd.Context(), f, opts)
		},
	}
	addRunFlags(cmd)
	cmd.Flags().String("plan", "", "the plan file, when it is no longer where the state says")
	AddConnectionFlags(cmd)
	return cmd
}

func rollbackRun(ctx context.Context, f *Factory, opts *ApplyOptions) error {
	p, sched, path, err := recorded(opts)
	if err != nil {
		return err
	}
	opts.Plan = p.File
	apps := append([]string{}, opts.Scope.Apps...)
	for _, w := range opts.Scope.Waves {
		found := false
		for _, sw := range sched.Waves {
			if sw.Name == w {
				found = true
				for _, a := range sw.Apps {
					apps = append(apps, a.Name)
				}
			}
		}
		if !found {
			return usageError{fmt.Errorf("--wave %s: the plan has no such wave", w)}
		}
	}
	opts.Scope = engine.Scope{Apps: apps}
	opts.IgnoreWindows = true // undoing is not held to the change window
	return execute(ctx, f, opts, p, sched, path, func(o engine.Options) (*engine.Result, error) {
		return engine.Rollback(ctx, o, apps)
	})
}
