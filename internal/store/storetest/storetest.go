// Package storetest holds every backend of internal/store to the same
// cases: the audit trail's (audittest), the TMC event log's (eventstest),
// the idempotency keys' (idempotencytest), the sync jobs' (syncjobtest,
// TxStore included) and the store's own. Each test of a backend runs on a
// fresh store: a SQLite file in a temporary directory, or a PostgreSQL
// database created for it and dropped after (internal/testutil/pgtest).
package storetest

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/audit/audittest"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob/syncjobtest"
	"github.com/servicecenterd/servicecenterd/internal/events"
	"github.com/servicecenterd/servicecenterd/internal/events/eventstest"
	"github.com/servicecenterd/servicecenterd/internal/idempotency"
	"github.com/servicecenterd/servicecenterd/internal/idempotency/idempotencytest"
	"github.com/servicecenterd/servicecenterd/internal/store"
	"github.com/servicecenterd/servicecenterd/internal/store/postgres"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgmigrated"
	"github.com/servicecenterd/servicecenterd/internal/testutil/sqlitetest"
)

// Backend is a backend under test.
type Backend struct {
	// Name is "sqlite" or "postgres".
	Name string
	// Open returns a fresh, empty store, closed when the test ends.
	Open func(t testing.TB) store.Store
}

// Backends are the backends: SQLite, then PostgreSQL (whose tests skip,
// or fail under CI, when the server cannot be reached: see pgtest).
func Backends() []Backend {
	return []Backend{{"sqlite", func(t testing.TB) store.Store { return SQLite(t) }}, {"postgres", func(t testing.TB) store.Store { return Postgres(t) }}}
}

// SQLite opens a store in a new file of a temporary directory, migrated
// already (sqlitetest.Seed).
func SQLite(t testing.TB, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	sqlitetest.Seed(t, path)
	s, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Postgres opens a store in a new database.
func Postgres(t testing.TB) *postgres.Store {
	t.Helper()
	return PostgresAt(t, pgmigrated.NewDatabase(t))
}

// PostgresAt opens a store in the database at url (another replica's
// store, say), closed when the test ends.
func PostgresAt(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Run runs every case against fresh stores made by open.
func Run(t *testing.T, open func(t testing.TB) store.Store) {
	t.Helper()
	t.Run("audit", func(t *testing.T) {
		audittest.TestStore(t, func(t *testing.T) audit.Store { return open(t) })
	})
	t.Run("events", func(t *testing.T) {
		eventstest.TestStore(t, func(t *testing.T) events.Store { return open(t) })
	})
	t.Run("sync jobs", func(t *testing.T) {
		syncjobtest.TestStore(t, func(t *testing.T) syncjob.Store { return open(t) })
	})
	t.Run("idempotency keys", func(t *testing.T) {
		idempotencytest.TestStore(t, func(t *testing.T) idempotency.Store { return open(t) })
	})
	t.Run("sync jobs in transactions", func(t *testing.T) {
		runTxStore(t, open)
	})
	t.Run("ping and close", func(t *testing.T) { testPingAndClose(t, open(t)) })
}

// runTxStore runs syncjobtest.TestTxStore with the backend's transaction
// type; the probe writes to a table of its own in the store's database.
func runTxStore(t *testing.T, open func(t testing.TB) store.Store) {
	switch probe := open(t).(type) {
	case *sqlite.Store:
		syncjobtest.TestTxStore(t, func(t *testing.T) (syncjob.TxStore[*sql.Tx], syncjobtest.Probe[*sql.Tx]) {
			s := open(t).(*sqlite.Store)
			if _, err := s.DB().Exec("CREATE TABLE probe (mark TEXT NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			return s, syncjobtest.Probe[*sql.Tx]{
				Write: func(ctx context.Context, tx *sql.Tx, mark string) error {
					_, err := tx.ExecContext(ctx, "INSERT INTO probe (mark) VALUES (?)", mark)
					return err
				},
				Committed: func(t *testing.T, mark string) bool {
					var n int
					if err := s.DB().QueryRow("SELECT COUNT(*) FROM probe WHERE mark = ?", mark).Scan(&n); err != nil {
						t.Fatal(err)
					}
					return n > 0
				},
			}
		})
	case *postgres.Store:
		syncjobtest.TestTxStore(t, func(t *testing.T) (syncjob.TxStore[pgx.Tx], syncjobtest.Probe[pgx.Tx]) {
			s := open(t).(*postgres.Store)
			if _, err := s.Pool().Exec(context.Background(), "CREATE TABLE probe (mark TEXT NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			return s, syncjobtest.Probe[pgx.Tx]{
				Write: func(ctx context.Context, tx pgx.Tx, mark string) error {
					_, err := tx.Exec(ctx, "INSERT INTO probe (mark) VALUES ($1)", mark)
					return err
				},
				Committed: func(t *testing.T, mark string) bool {
					var n int
					if err := s.Pool().QueryRow(context.Background(), "SELECT COUNT(*) FROM probe WHERE mark = $1", mark).Scan(&n); err != nil {
						t.Fatal(err)
					}
					return n > 0
				},
			}
		})
	default:
		t.Fatalf("no TxStore cases for %T", probe)
	}
}

// testPingAndClose: an open store answers Ping and has the latest schema
// version; after Close, calls fail instead of hanging, and Close may be
// called again.
func testPingAndClose(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v < 4 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	syncjobtest.Import(t, s, "bj-1", 10, syncjobtest.Entries(3)...)
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: "bj-open", ChunkSize: 10, Created: syncjobtest.T0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, audit.Event{Time: audittest.T0, RPC: "/s.S/M"}); err == nil {
		t.Error("Record after Close succeeded")
	}
	if err := s.AddImportEntries(ctx, "bj-open", syncjobtest.Entries(1)); err == nil {
		t.Error("an import in progress at Close takes entries after it")
	}
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: "bj-2", ChunkSize: 10, Created: syncjobtest.T0}); err == nil {
		t.Error("CreateImport after Close succeeded")
	}
	if _, err := s.Job(ctx, "bj-1"); err == nil {
		t.Error("Job after Close succeeded")
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
	if err := s.Close(); err != nil && !errors.Is(err, sql.ErrConnDone) {
		t.Errorf("second Close: %v", err)
	}
}
