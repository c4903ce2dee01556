package jobqueue_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/servicecenterd/servicecenterd/internal/jobqueue"
	"github.com/servicecenterd/servicecenterd/internal/store/storetest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

var queues = map[string]int{"work": 1}

// run runs q until the test ends (or stop is called) and fails the test
// when Run fails.
func run(t *testing.T, q interface{ Run(context.Context) error }) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestPeriodicOncePerDatabase: a periodic task registered on two queues
// sharing one PostgreSQL database (two replicas) runs once per River job
// that River's leader inserts, never once per replica; a failing run is
// tried again at the next interval.
func TestPeriodicOncePerDatabase(t *testing.T) {
	st := storetest.Postgres(t)
	var calls atomic.Int64
	task := func(context.Context) error {
		if calls.Add(1) == 1 {
			return errors.New("the first run fails")
		}
		return nil
	}
	ctx := context.Background()
	var stops []func()
	for range 2 {
		q, err := jobqueue.Postgres(ctx, st.Pool(), jobqueue.Config{Queues: queues, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Periodic("prune", 200*time.Millisecond, task); err != nil {
			t.Fatal(err)
		}
		if err := q.Periodic("prune", time.Second, task); err == nil {
			t.Fatal("a second task of the same name was accepted")
		}
		stops = append(stops, run(t, q))
	}
	testserver.WaitFor(t, "three runs of the periodic task", func() bool { return calls.Load() >= 3 })
	for _, stop := range stops {
		stop()
	}
	var jobs, failed int64
	if err := st.Pool().QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state = 'discarded')
		FROM river_job WHERE kind = 'periodic' AND args->>'name' = 'prune' AND state IN ('completed', 'discarded')`).Scan(&jobs, &failed); err != nil {
		t.Fatal(err)
	}
	if jobs != calls.Load() || failed != 1 {
		t.Fatalf("%d runs for %d finished periodic jobs (%d failed); want one run per job, the first failed", calls.Load(), jobs, failed)
	}
}

// TestPeriodicOnSQLite: the same on the embedded store.
func TestPeriodicOnSQLite(t *testing.T) {
	st := storetest.SQLite(t)
	q, err := jobqueue.SQLite(context.Background(), st.DB(), jobqueue.Config{Queues: queues, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	if err := q.Periodic("prune", 100*time.Millisecond, func(context.Context) error { calls.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	run(t, q)
	testserver.WaitFor(t, "two runs of the periodic task", func() bool { return calls.Load() >= 2 })
}

// TestRefusals: bad configurations and a database without River's tables
// are refused with errors that say why.
func TestRefusals(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	bare, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "bare.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	tests := []struct {
		name string
		db   *sql.DB
		cfg  jobqueue.Config
		want string
	}{
		{"no queues", st.DB(), jobqueue.Config{}, "no queues"},
		{"maintenance queue taken", st.DB(), jobqueue.Config{Queues: map[string]int{jobqueue.MaintenanceQueue: 1}}, "periodic jobs'"},
		{"rescue too soon", st.DB(), jobqueue.Config{Queues: queues, RescueAfter: time.Millisecond}, "must be at least 1s"},
		{"not migrated", bare, jobqueue.Config{Queues: queues}, "open the store first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := jobqueue.SQLite(ctx, tt.db, tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
	q, err := jobqueue.SQLite(ctx, st.DB(), jobqueue.Config{Queues: queues})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Periodic("", time.Second, func(context.Context) error { return nil }); err == nil {
		t.Fatal("a nameless periodic task was accepted")
	}
}
