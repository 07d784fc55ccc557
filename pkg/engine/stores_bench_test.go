package engine_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/wavectl/wavectl/pkg/engine"
	"github.com/wavectl/wavectl/pkg/plan"
	"github.com/wavectl/wavectl/pkg/schedule"
	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/state/pgtest"
	"github.com/wavectl/wavectl/pkg/state/postgres"
	"github.com/wavectl/wavectl/pkg/vsphere/sim"
)

// BenchmarkApplyStoresWaves is BenchmarkApplyReferenceStores on the first
// two waves of the reference programme (WAVECTL_BENCH_WAVES, comma-separated,
// names others): about a minute for both stores instead of ten, to profile
// the stores with -cpuprofile and -blockprofile and iterate on them.
func BenchmarkApplyStoresWaves(b *testing.B) {
	p := loadReference(b)
	sched, _ := schedule.Compile(p)
	scope := engine.Scope{Waves: []string{"wave-1-foundation", "wave-2-citizen-core"}}
	if w := os.Getenv("WAVECTL_BENCH_WAVES"); w != "" {
		scope.Waves = strings.Split(w, ",")
	}
	b.Run("file", func(b *testing.B) {
		for b.Loop() {
			r := runAgainstSim(b, p, sched, sim.Options{}, scope)
			reportStore(b, r)
		}
	})
	b.Run("postgres", func(b *testing.B) {
		srv, err := pgtest.Start()
		if err != nil {
			b.Skipf("no PostgreSQL server could be started here (%v)", err)
		}
		defer func() { _ = srv.Stop() }()
		b.Setenv("PGPASSWORD", srv.Password)
		for b.Loop() {
			r := runAgainstPostgres(b, srv, p, sched, scope)
			reportStore(b, r)
		}
	})
}

// runAgainstPostgres is runAgainstSim with the record in a new database of
// srv, written under a lease on the whole programme.
func runAgainstPostgres(b *testing.B, srv *pgtest.Server, p *plan.Plan, sched *schedule.Schedule, scope engine.Scope) benchRun {
	b.Helper()
	ctx := context.Background()
	name, err := srv.CreateDB(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	backend, err := postgres.OpenBackend(ctx, srv.URL(name), p.Metadata.Name)
	if err != nil {
		b.Fatal(err)
	}
	defer backend.Close()
	if _, _, err := backend.DB().Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	lock, err := backend.Lock(ctx, "apply", state.Scope{Name: "programme"})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = lock.Unlock() }()
	return runAgainstSimWith(b, p, sched, sim.Options{}, scope, func(st *state.State) state.Store {
		s, err := backend.Create(ctx, lock, st)
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
}

// reportStore reports a run's wall time, the share of it the store spent
// keeping the record durable (state.Stats.Busy), and its commits.
func reportStore(b *testing.B, r benchRun) {
	b.ReportMetric(r.wall.Seconds(), "wall-s")
	b.ReportMetric(100*r.store.Busy.Seconds()/r.wall.Seconds(), "persist%")
	b.ReportMetric(float64(r.store.Commits), "commits")
	b.ReportMetric(float64(r.store.Writes), "writes")
	b.ReportMetric(float64(r.store.Updates), "updates")
	b.ReportMetric(100*r.store.Checkpoints.Seconds()/r.wall.Seconds(), "snapshot%")
}
