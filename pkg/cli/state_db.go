package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/state/postgres"
)

// The state database's own commands: create or upgrade its schema, and
// move a programme's record between a file and the database.

// dbOnly refuses a --state that is not a database URL.
func dbOnly(cmd, ref string) error {
	if !isDatabase(ref) {
		return usageError{fmt.Errorf("%s needs --state postgres://USER@HOST/DB (or WAVECTL_STATE), got %q", cmd, postgres.Redact(ref))}
	}
	return nil
}

func newCmdStateMigrate(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the state database's schema",
		Long: `Create the tables wavectl keeps programmes in, or upgrade them to this
wavectl's schema version. It is safe to run again: a schema that is up to
date is left as it is. The password comes from PGPASSWORD, ~/.pgpass or
PGSERVICEFILE, never from a file of wavectl's.`,
		Example: `  export PGPASSWORD=...   # or a ~/.pgpass line
  wavectl state migrate --state postgres://wavectl@db.example.gov/migrations`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref := f.Config.GetString("state")
			if err := dbOnly("state migrate", ref); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			db, err := postgres.Open(ctx, ref)
			if err != nil {
				return databaseError(err)
			}
			defer db.Close()
			from, to, err := db.Migrate(ctx)
			if err != nil {
				return databaseError(err)
			}
			if from == to {
				fmt.Fprintf(f.IO.Out, "The schema of %s is up to date (version %d).\n", db.URL(), to)
				return nil
			}
			fmt.Fprintf(f.IO.Out, "Upgraded the schema of %s from version %d to %d.\n", db.URL(), from, to)
			return nil
		},
	}
	cmd.Flags().String("state", "", "the state database, postgres://USER@HOST[:PORT]/DB")
	return cmd
}

func newCmdStatePush(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "push FILE",
		Short: "Copy a state file's record into the state database",
		Long: `Copy the record in a state file into the state database, as the programme
named by the URL's ?programme= or else by the record's plan. The file stays as
it is; from then on pass --state URL to apply, resume, status and report. A
programme the database holds already is not replaced.`,
		Example: `  wavectl state push crown-hosting.state.json --state postgres://wavectl@db.example.gov/migrations`,
		Args:    exactArgs(1, "state push takes the state file to copy"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := f.Config.GetString("state")
			if err := dbOnly("state push", ref); err != nil {
				return err
			}
			st, err := state.Read(args[0])
			if err != nil {
				return stateReadError(args[0], &StatusOptions{State: args[0]}, err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			b, closeB, err := openBackend(ctx, ref, st.Plan)
			if err != nil {
				return err
			}
			defer closeB()
			pb := b.(*postgres.Backend)
			if have, err := pb.DB().Find(ctx, pb.Programme()); err == nil {
				return exitf(ExitState, "the state database holds programme %q already (lineage %s, %d journal rows): nothing was copied; "+
					"pull it to a file to compare, or push under another name with ?programme=NAME", have.Name, have.Lineage, have.LastSeq)
			}
			body, err := state.Encode(st)
			if err != nil {
				return exitf(ExitState, "%v", err)
			}
			if _, err := pb.DB().Create(ctx, pb.Programme(), st.Lineage, st.FormatVersion, body); err != nil {
				return databaseError(err)
			}
			fmt.Fprintf(f.IO.Out, "Copied %s (plan %s, serial %d, %d applications) into %s.\n", args[0], st.Plan, st.Serial, len(st.Apps), b.Name())
			return nil
		},
	}
	cmd.Flags().String("state", "", "the state database, postgres://USER@HOST[:PORT]/DB[?programme=NAME]")
	return cmd
}

func newCmdStatePull(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pull FILE",
		Short: "Copy a programme's record from the state database into a new state file",
		Long: `Write a programme's record, as the database holds it now, into a new state
file (which must not exist): to work on without the database, to keep as a
backup, or to read with tools that read state files.`,
		Example: `  wavectl state pull crown-hosting.state.json --state 'postgres://wavectl@db.example.gov/migrations?programme=crown-hosting'`,
		Args:    exactArgs(1, "state pull takes the state file to write"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := f.Config.GetString("state")
			if err := dbOnly("state pull", ref); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			b, closeB, err := openBackend(ctx, ref, "")
			if err != nil {
				return err
			}
			defer closeB()
			st, err := b.Read(ctx)
			if err != nil {
				if state.IsNotExist(err) {
					return notInDatabase(ref, err)
				}
				return databaseError(err)
			}
			if _, err := os.Lstat(args[0]); !errors.Is(err, fs.ErrNotExist) {
				return usageError{fmt.Errorf("%s exists: pull writes a new file; name another, or move it aside", args[0])}
			}
			s, err := state.Create(args[0], st)
			if err != nil {
				return exitf(ExitState, "%v", err)
			}
			if err := s.Close(); err != nil {
				return exitf(ExitState, "%v", err)
			}
			fmt.Fprintf(f.IO.Out, "Wrote %s: plan %s, %d applications, %d runs, from %s.\n", args[0], st.Plan, len(st.Apps), len(st.Runs), b.Name())
			return nil
		},
	}
	cmd.Flags().String("state", "", "the state database, postgres://USER@HOST[:PORT]/DB[?programme=NAME]")
	return cmd
}

// exactArgs is cobra.ExactArgs with a usage error that says what is wanted.
func exactArgs(n int, want string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s (%d argument%s, got %d)", want, n, map[bool]string{true: "", false: "s"}[n == 1], len(args))}
		}
		return nil
	}
}
