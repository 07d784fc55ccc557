package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/wavectl/wavectl/pkg/state/pgtest"
)

// Scripts that use the team store run against a real PostgreSQL server,
// started once for all scripts (pgtest) on first use; each script gets a
// database of its own in $PGURL (no password in it: PGPASSWORD is set, as
// an operator would). `[!pg] skip` skips a script where no server can be
// started; under CI the condition fails instead.

func scriptPGServer() (*pgtest.Server, error) { return pgtest.SharedServer() }

func stopScriptPG() { pgtest.StopShared() }

func scriptPGCondition() (bool, error) {
	_, err := scriptPGServer()
	if err != nil && os.Getenv("CI") != "" {
		return false, fmt.Errorf("PostgreSQL is needed in CI and could not be started: %v", err)
	}
	return err == nil, nil
}

// setupScriptPG gives each script a database of its own.
func setupScriptPG(env *testscript.Env) error {
	s, err := scriptPGServer()
	if err != nil {
		return nil // the script's [!pg] skip says why
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name, err := s.CreateDB(ctx, "script")
	if err != nil {
		return err
	}
	env.Setenv("PGURL", s.URL(name))
	env.Setenv("PGURLPW", s.URLWithPassword(name)) // for the test that no password is kept
	env.Setenv("PGPASSWORD", s.Password)
	return nil
}

// stopsPG runs the tests, then stops the PostgreSQL server if one started.
type stopsPG struct{ m *testing.M }

func (s stopsPG) Run() int {
	code := s.m.Run()
	stopScriptPG()
	return code
}
