package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wavectl/wavectl/pkg/state"
	"github.com/wavectl/wavectl/pkg/state/pgtest"
	"github.com/wavectl/wavectl/pkg/state/postgres"
	"github.com/wavectl/wavectl/pkg/state/statetest"
)

func TestMain(m *testing.M) {
	statetest.MaybeWriter(openPG)
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}

// open is a migrated database with one programme, "prog", of lineage L1.
func open(t *testing.T) (*postgres.DB, context.Context) {
	t.Helper()
	url := pgtest.DB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Create(ctx, "prog", "L1", 3, []byte(`{"snapshot":0}`)); err != nil {
		t.Fatal(err)
	}
	return db, ctx
}

func holder(id string) state.Holder {
	return state.Holder{ID: id, Operation: "apply", Host: "h-" + id, PID: 4242, User: "op", Command: "wavectl apply", Since: time.Now()}
}

func TestMigrateIsVersionedAndIdempotent(t *testing.T) {
	url := pgtest.DB(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Before migrate, the store says what to run.
	var se *postgres.SchemaError
	if _, err := db.Programmes(ctx); !errors.As(err, &se) || !strings.Contains(err.Error(), "wavectl state migrate") {
		t.Fatalf("unmigrated database: got %v, want a SchemaError naming wavectl state migrate", err)
	}
	from, to, err := db.Migrate(ctx)
	if err != nil || from != 0 || to != postgres.SchemaVersion {
		t.Fatalf("first migrate: %d -> %d, %v", from, to, err)
	}
	from, to, err = db.Migrate(ctx)
	if err != nil || from != postgres.SchemaVersion || to != postgres.SchemaVersion {
		t.Fatalf("second migrate: %d -> %d, %v", from, to, err)
	}
	// A database written by a newer wavectl is refused, not downgraded.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE wavectl_schema SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Migrate(ctx); !errors.As(err, &se) || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("newer schema: got %v", err)
	}
	if _, err := db.Programmes(ctx); !errors.As(err, &se) {
		t.Fatalf("newer schema on read: got %v", err)
	}
}

func TestForeignLineageIsRefused(t *testing.T) {
	db, ctx := open(t)
	if _, err := db.Create(ctx, "prog", "L1", 3, []byte(`{}`)); err != nil {
		t.Fatalf("same lineage again: %v", err)
	}
	var fe *postgres.ForeignError
	if _, err := db.Create(ctx, "prog", "OTHER", 3, []byte(`{}`)); !errors.As(err, &fe) {
		t.Fatalf("other lineage: got %v, want ForeignError", err)
	}
	var nf *postgres.NotFoundError
	if _, err := db.Find(ctx, "nope"); !errors.As(err, &nf) || !strings.Contains(err.Error(), "prog") {
		t.Fatalf("unknown programme: got %v", err)
	}
	if p, err := db.Find(ctx, ""); err != nil || p.Name != "prog" {
		t.Fatalf("the only programme: %v %v", p, err)
	}
}

// Concurrent writers on different scopes: every committed row is read back,
// numbered without gaps, in commit order, and the snapshots in between keep
// the rows after them.
func TestAppendsFromConcurrentWritersAreAllKeptInOrder(t *testing.T) {
	db, ctx := open(t)
	const writers, each = 4, 40
	leases := make([]*postgres.Lease, writers)
	for w := range leases {
		l, _, err := db.Acquire(ctx, "prog", fmt.Sprintf("wave:w%d", w), []string{fmt.Sprintf("app%d", w)}, holder(fmt.Sprint(w)), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		leases[w] = l
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := db.Append(ctx, "prog", leases[w], []byte(fmt.Sprintf("w%d-%d", w, i))); err != nil {
					errs <- err
					return
				}
				if w == 0 && i == each/2 {
					_, snap, rows, err := db.Load(ctx, "prog")
					if err != nil {
						errs <- err
						return
					}
					last := int64(0)
					if len(rows) > 0 {
						last = rows[len(rows)-1].Seq
					}
					if err := db.Snapshot(ctx, "prog", last, append(snap, fmt.Sprintf("+%d", len(rows))...)); err != nil {
						errs <- err
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	snapSeq, _, rows, err := db.Load(ctx, "prog")
	if err != nil {
		t.Fatal(err)
	}
	if snapSeq == 0 {
		t.Fatalf("the mid-run snapshot was not the newest")
	}
	if got, want := int64(len(rows))+snapSeq, int64(writers*each); got != want {
		t.Fatalf("snapshot at %d and %d rows after it, want %d in all", snapSeq, len(rows), want)
	}
	next := make(map[int]int)
	for i, r := range rows {
		if r.Seq != snapSeq+int64(i)+1 {
			t.Fatalf("row %d has seq %d, want %d (a gap or disorder)", i, r.Seq, snapSeq+int64(i)+1)
		}
		var w, n int
		if _, err := fmt.Sscanf(string(r.Entry), "w%d-%d", &w, &n); err != nil {
			t.Fatal(err)
		}
		if n < next[w] {
			t.Fatalf("writer %d's row %d after its row %d", w, n, next[w])
		}
		next[w] = n + 1
	}
}

func TestLeasesConflictOnlyWhenTheirApplicationsOverlap(t *testing.T) {
	db, ctx := open(t)
	a, _, err := db.Acquire(ctx, "prog", "wave:wave-1", []string{"pay", "tax"}, holder("aaaa0001"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Acquire(ctx, "prog", "wave:wave-2", []string{"hr"}, holder("bbbb0002"), time.Minute); err != nil {
		t.Fatalf("a disjoint wave: %v", err)
	}
	var he *postgres.HeldError
	for _, try := range []struct {
		scope string
		apps  []string
	}{
		{"wave:wave-1", []string{"pay", "tax"}},   // the same wave again
		{"app:tax", []string{"tax"}},              // one of its applications
		{"programme", []string{postgres.AllApps}}, // the whole programme
		{"conveyor", []string{"intranet", "pay"}}, // an overlap
	} {
		_, _, err := db.Acquire(ctx, "prog", try.scope, try.apps, holder("cccc0003"), time.Minute)
		if !errors.As(err, &he) {
			t.Fatalf("%s: got %v, want HeldError", try.scope, err)
		}
	}
	for _, want := range []string{"aaaa0001", "h-aaaa0001", "4242", "wavectl unlock aaaa0001"} {
		if !strings.Contains(he.Error(), want) && he.Other.Holder.ID == "aaaa0001" {
			t.Errorf("lock message lacks %q: %s", want, he.Error())
		}
	}
	if err := db.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Acquire(ctx, "prog", "app:tax", []string{"tax"}, holder("cccc0003"), time.Minute); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

// expire makes a lease's expiry pass, as if its holder stopped renewing.
func expire(t *testing.T, db *postgres.DB, ctx context.Context, l *postgres.Lease) {
	t.Helper()
	if err := db.Exec(ctx, `UPDATE wavectl_leases SET expires_at = now() - interval '1 second' WHERE programme = $1 AND scope = $2`,
		l.Programme, l.Scope); err != nil {
		t.Fatal(err)
	}
}

func TestTakeOverFencesTheStaleWriter(t *testing.T) {
	db, ctx := open(t)
	old, _, err := db.Acquire(ctx, "prog", "wave:wave-1", []string{"pay"}, holder("0000aaaa"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, "prog", old, []byte("before")); err != nil {
		t.Fatal(err)
	}
	var he *postgres.HeldError
	if _, _, err := db.Acquire(ctx, "prog", "wave:wave-1", []string{"pay"}, holder("0000bbbb"), time.Minute); !errors.As(err, &he) {
		t.Fatalf("a live lease was taken: %v", err)
	}
	expire(t, db, ctx, old)
	nw, taken, err := db.Acquire(ctx, "prog", "wave:wave-1", []string{"pay"}, holder("0000bbbb"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(taken) != 1 || taken[0].Holder.ID != "0000aaaa" || nw.Epoch <= old.Epoch {
		t.Fatalf("take-over: taken %+v, epochs %d -> %d", taken, old.Epoch, nw.Epoch)
	}
	// The old holder wakes up: neither its writes nor its renewals land.
	var fe *postgres.FencedError
	if _, err := db.Append(ctx, "prog", old, []byte("stale")); !errors.As(err, &fe) || fe.Now == nil || fe.Now.Holder.ID != "0000bbbb" {
		t.Fatalf("stale append: got %v, want FencedError naming the new holder", err)
	}
	if err := db.Renew(ctx, old, time.Minute); !errors.As(err, &fe) {
		t.Fatalf("stale renew: got %v", err)
	}
	if err := db.Renew(ctx, nw, time.Minute); err != nil {
		t.Fatalf("the new holder's renew: %v", err)
	}
	if _, err := db.Append(ctx, "prog", nw, []byte("after")); err != nil {
		t.Fatal(err)
	}
	_, _, rows, err := db.Load(ctx, "prog")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, string(r.Entry))
	}
	if strings.Join(got, ",") != "before,after" {
		t.Fatalf("journal %v: the stale write landed or a write was lost", got)
	}
}

// A take-over that races an append waits for it, and then sees it.
func TestTakeOverWaitsForAnAppendInFlight(t *testing.T) {
	db, ctx := open(t)
	old, _, err := db.Acquire(ctx, "prog", "conveyor", []string{"x"}, holder("1111aaaa"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	expire(t, db, ctx, old)
	var wg sync.WaitGroup
	var appendErr, acquireErr error
	wg.Add(2)
	go func() { defer wg.Done(); _, appendErr = db.Append(ctx, "prog", old, []byte("racing")) }()
	go func() {
		defer wg.Done()
		_, _, acquireErr = db.Acquire(ctx, "prog", "conveyor", []string{"x"}, holder("2222bbbb"), time.Minute)
	}()
	wg.Wait()
	if acquireErr != nil {
		t.Fatal(acquireErr)
	}
	_, _, rows, err := db.Load(ctx, "prog")
	if err != nil {
		t.Fatal(err)
	}
	var fe *postgres.FencedError
	switch {
	case appendErr == nil && len(rows) == 1:
		// The append committed before the take-over.
	case errors.As(appendErr, &fe) && len(rows) == 0:
		// The take-over came first and the append was refused.
	default:
		t.Fatalf("append %v with %d rows: a write was half-fenced", appendErr, len(rows))
	}
}

func TestUnlockRemovesALeaseAndFencesItsHolder(t *testing.T) {
	db, ctx := open(t)
	l, _, err := db.Acquire(ctx, "prog", "programme", nil, holder("deadbeef"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var nl *postgres.NoLeaseError
	if _, err := db.Unlock(ctx, "prog", "00000000"); !errors.As(err, &nl) || !strings.Contains(err.Error(), "deadbeef") {
		t.Fatalf("unlock of an unknown id: %v", err)
	}
	got, err := db.Unlock(ctx, "prog", "deadbeef")
	if err != nil || got.Holder.Host != "h-deadbeef" {
		t.Fatalf("unlock: %+v %v", got, err)
	}
	var fe *postgres.FencedError
	if _, err := db.Append(ctx, "prog", l, []byte("x")); !errors.As(err, &fe) {
		t.Fatalf("append after unlock: %v", err)
	}
}

func TestChangedRowsFailTheirChecksum(t *testing.T) {
	db, ctx := open(t)
	l, _, err := db.Acquire(ctx, "prog", "programme", nil, holder("abcd0000"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, "prog", l, []byte(`{"network":"pg-101"}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(ctx, `UPDATE wavectl_journal SET entry = convert_to('{"network":"pg-111"}', 'UTF8')`); err != nil {
		t.Fatal(err)
	}
	var ce *postgres.CorruptError
	if _, _, _, err := db.Load(ctx, "prog"); !errors.As(err, &ce) || ce.Seq != 1 {
		t.Fatalf("a changed row: got %v", err)
	}
}

func TestWaitWakesOnAnAppend(t *testing.T) {
	db, ctx := open(t)
	l, _, err := db.Acquire(ctx, "prog", "programme", nil, holder("abcd0001"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	woke := make(chan error, 1)
	go func() { woke <- db.Wait(ctx, "prog", 0, time.Hour) }()
	time.Sleep(200 * time.Millisecond) // let it LISTEN; a missed notice is caught by the last_seq check anyway
	if _, err := db.Append(ctx, "prog", l, []byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-woke:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Wait did not wake on an append")
	}
}

func TestPasswordNeverInErrors(t *testing.T) {
	s := pgtest.Shared(t)
	ctx := context.Background()
	u := strings.Replace(s.URLWithPassword("postgres"), s.Password, "Sekr1tWrong", 1)
	t.Setenv("PGPASSWORD", "")
	_, err := postgres.Open(ctx, u)
	if err == nil {
		t.Fatal("a wrong password logged in")
	}
	if strings.Contains(err.Error(), "Sekr1tWrong") {
		t.Fatalf("the password is in the error: %v", err)
	}
	if got := postgres.Redact(u); strings.Contains(got, "Sekr1tWrong") {
		t.Fatalf("Redact kept the password: %s", got)
	}
	_, err = postgres.Open(ctx, "postgres://u:Sekr1tWrong@[::1/x")
	if err == nil || strings.Contains(err.Error(), "Sekr1tWrong") {
		t.Fatalf("unparsable URL: %v", err)
	}
}

// A holder on this host whose process is gone is taken over at once, as a
// state file's lock is: kill -9, then resume, needs no unlock and no wait.
func TestAGoneProcessOnThisHostIsTakenOverAtOnce(t *testing.T) {
	db, ctx := open(t)
	host, _ := os.Hostname()
	gone := state.Holder{ID: "feedf00d", Operation: "apply", Host: host, PID: 1 << 30, Since: time.Now()}
	if _, _, err := db.Acquire(ctx, "prog", "programme", nil, gone, time.Hour); err != nil {
		t.Fatal(err)
	}
	alive := state.Holder{ID: "0000cafe", Operation: "apply", Host: host, PID: os.Getpid(), Since: time.Now()}
	_, taken, err := db.Acquire(ctx, "prog", "programme", nil, alive, time.Hour)
	if err != nil || len(taken) != 1 || taken[0].Holder.ID != "feedf00d" {
		t.Fatalf("taken %+v, %v; want the gone holder's lease taken over", taken, err)
	}
	// This process is alive: its lease is not taken.
	var he *postgres.HeldError
	if _, _, err := db.Acquire(ctx, "prog", "programme", nil, gone, time.Hour); !errors.As(err, &he) {
		t.Fatalf("a live holder's lease was taken: %v", err)
	}
}

// Two runs on different scopes that start a new programme at once both
// work on one record, whichever created it.
func TestTwoFirstRunsShareOneRecord(t *testing.T) {
	url := pgtest.DB(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	lineages := make([]string, 2)
	for i, scope := range []string{"wave:a", "wave:b"} {
		wg.Add(1)
		go func(i int, scope string) {
			defer wg.Done()
			b, err := postgres.OpenBackend(ctx, url, "prog")
			if err != nil {
				t.Error(err)
				return
			}
			defer b.Close()
			l, err := b.Lock(ctx, "apply", state.Scope{Name: scope, Apps: []string{scope}})
			if err != nil {
				t.Error(err)
				return
			}
			defer func() { _ = l.Unlock() }()
			s, err := b.Create(ctx, l, state.NewState("prog", "p.yaml", "h"))
			if err != nil {
				t.Errorf("%s: %v", scope, err)
				return
			}
			s.View(func(st *state.State) { lineages[i] = st.Lineage })
			_ = s.Close()
		}(i, scope)
	}
	wg.Wait()
	if lineages[0] == "" || lineages[0] != lineages[1] {
		t.Fatalf("lineages %q: the two runs work on different records", lineages)
	}
}

// The password comes from libpq's usual places: a .pgpass file here (and
// PGSERVICEFILE), as well as PGPASSWORD.
func TestPasswordFromPgpassAndServiceFile(t *testing.T) {
	s := pgtest.Shared(t)
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("PGPASSWORD", "")
	if _, err := postgres.Open(ctx, s.URL("postgres")); err == nil {
		t.Fatal("logged in with no password anywhere")
	}
	pass := dir + "/pgpass"
	if err := os.WriteFile(pass, []byte(fmt.Sprintf("127.0.0.1:%d:*:%s:%s\n", s.Port, s.User, s.Password)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGPASSFILE", pass)
	db, err := postgres.Open(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatalf(".pgpass: %v", err)
	}
	db.Close()
	t.Setenv("PGPASSFILE", dir+"/none")
	svc := dir + "/pg_service.conf"
	if err := os.WriteFile(svc, []byte(fmt.Sprintf("[migrations]\nhost=127.0.0.1\nport=%d\nuser=%s\npassword=%s\ndbname=postgres\nsslmode=disable\n",
		s.Port, s.User, s.Password)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGSERVICEFILE", svc)
	db, err = postgres.Open(ctx, "postgres:///?service=migrations")
	if err != nil {
		t.Fatalf("service file: %v", err)
	}
	db.Close()
}

// A queued change (a step's end) whose row the database refuses (the
// lease was taken over meanwhile) or does not take (the database failed),
// fails the next update that waits, even when the database works again,
// and every one after it, and Close: the run stops rather than carry on
// with a record the database does not hold.
func TestAFailedQueuedChangeFailsTheNextWaitedUpdate(t *testing.T) {
	var fe *postgres.FencedError
	for _, c := range []struct {
		name      string
		break_    func(t *testing.T, db *postgres.DB, ctx context.Context, l *postgres.Lease) (mend func())
		wantFence bool
	}{
		{"fenced", func(t *testing.T, db *postgres.DB, ctx context.Context, l *postgres.Lease) func() {
			expire(t, db, ctx, l)
			if _, _, err := db.Acquire(ctx, "prog", "wave:w", []string{"pay"}, holder("2222bbbb"), time.Minute); err != nil {
				t.Fatal(err)
			}
			return func() {}
		}, true},
		{"failed", func(t *testing.T, db *postgres.DB, ctx context.Context, _ *postgres.Lease) func() {
			if err := db.Exec(ctx, `ALTER TABLE wavectl_journal RENAME TO wavectl_journal_away`); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := db.Exec(ctx, `ALTER TABLE wavectl_journal_away RENAME TO wavectl_journal`); err != nil {
					t.Fatal(err)
				}
			}
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, ctx := open(t)
			st := state.NewState("prog", "p.yaml", "h")
			st.Apps = []*state.App{{Name: "pay", Status: state.Running, Units: []*state.Unit{{Name: "vm1", Status: state.Running,
				Steps: []*state.Step{{Kind: "snapshot", Status: state.Running}, {Kind: "relocate", Status: state.Pending}}}}}}
			body, err := state.Encode(st)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Delete(ctx, "prog"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Create(ctx, "prog", st.Lineage, state.FormatVersion, body); err != nil {
				t.Fatal(err)
			}
			l, _, err := db.Acquire(ctx, "prog", "wave:w", []string{"pay"}, holder("2222aaaa"), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			s, err := db.Open(ctx, "prog", l)
			if err != nil {
				t.Fatal(err)
			}
			mend := c.break_(t, db, ctx, l)
			if err := s.QueueStepOf("pay", "vm1", "snapshot", 0, func(_ *state.App, r *state.Step, _ *state.Unit) { r.Status = state.Done }); err != nil {
				t.Fatalf("queueing: %v", err)
			}
			// Once the store has tried the commit and failed, it refuses
			// every change at once (a probe the record has no place for
			// gets that refusal, not its own error).
			deadline := time.Now().Add(time.Minute)
			for {
				err := s.QueueStepOf("pay", "nope", "x", 0, func(*state.App, *state.Step, *state.Unit) {})
				if !strings.Contains(err.Error(), "no unit") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the queued change was not tried within a minute")
				}
				time.Sleep(5 * time.Millisecond)
			}
			mend()
			for i := range 2 {
				err := s.UpdateStepOf("pay", "vm1", "relocate", 0, func(_ *state.App, r *state.Step, _ *state.Unit) { r.Status = state.Running })
				if err == nil || errors.As(err, &fe) != c.wantFence {
					t.Fatalf("update %d after the failed queued change: %v; want it to fail (fenced: %v)", i+1, err, c.wantFence)
				}
			}
			if err := s.Close(); err == nil {
				t.Fatal("Close after a failed queued change: no error")
			}
			got, err := db.Read(ctx, "prog")
			if err != nil {
				t.Fatal(err)
			}
			if u := got.App("pay").Unit("vm1"); u.Step("snapshot", 0).Status != state.Running || u.Step("relocate", 0).Status != state.Pending {
				t.Fatalf("a change after the failed one landed: %+v %+v", u.Steps[0], u.Steps[1])
			}
		})
	}
}
