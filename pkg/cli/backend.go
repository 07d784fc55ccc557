package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/state/postgres"
)

// The record's place: --state (or WAVECTL_STATE, or the config file's
// state:) is a file path, or a PostgreSQL URL for a team's shared record
// (postgres://user@host/db?programme=NAME; the password from PGPASSWORD,
// ~/.pgpass or PGSERVICEFILE).

// isDatabase says whether a --state value names a database.
func isDatabase(ref string) bool { return postgres.IsURL(ref) }

// openBackend is the backend a --state value names; planName names the
// programme in a database whose URL does not.
func openBackend(ctx context.Context, ref, planName string) (state.Backend, func(), error) {
	if !isDatabase(ref) {
		return state.FileBackend{File: ref}, func() {}, nil
	}
	b, err := postgres.OpenBackend(ctx, ref, planName)
	if err != nil {
		return nil, nil, databaseError(err)
	}
	return b, b.Close, nil
}

// readRecord reads the record a --state value names, as it is now.
func readRecord(ref, planName string) (*state.State, error) {
	if !isDatabase(ref) {
		return state.Read(ref)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, closeB, err := openBackend(ctx, ref, planName)
	if err != nil {
		return nil, err
	}
	defer closeB()
	return b.Read(ctx)
}

// databaseError maps the database store's errors to exit codes: a lease
// another run holds is 8, anything else about the record 9.
func databaseError(err error) error {
	var he *postgres.HeldError
	var ee *ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return err
	case errors.As(err, &he):
		return &ExitError{Code: ExitLocked, Err: err}
	}
	return &ExitError{Code: ExitState, Err: err}
}

// lockScope is what a run's lock covers: in a database, only the
// applications of the waves, conveyor or applications it runs, so that two
// operators can run two waves of one programme at once.
func lockScope(sc engine.Scope, s *schedule.Schedule) state.Scope {
	if len(sc.Waves) == 0 && !sc.Conveyor && len(sc.Apps) == 0 {
		return state.Scope{Name: "programme"}
	}
	var names, apps []string
	for _, w := range s.Waves {
		if slices.Contains(sc.Waves, w.Name) {
			names = append(names, "wave:"+w.Name)
			for _, a := range w.Apps {
				apps = append(apps, a.Name)
			}
		}
	}
	if sc.Conveyor && s.Conveyor != nil {
		names = append(names, "conveyor")
		for _, a := range s.Conveyor.Apps {
			apps = append(apps, a.Name)
		}
	}
	for _, a := range sc.Apps {
		names = append(names, "app:"+a)
		apps = append(apps, a)
	}
	slices.Sort(apps)
	return state.Scope{Name: strings.Join(names, "+"), Apps: slices.Compact(apps)}
}

// notInDatabase is the message for a programme a database does not hold.
func notInDatabase(ref string, err error) error {
	return usageError{fmt.Errorf("%v; apply creates it (run `wavectl state migrate --state %s` first on a new database)", err, postgres.Redact(ref))}
}
