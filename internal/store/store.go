// Package store is servicecenterd's durable state: the blacklist sync
// jobs of the bulk path (syncjob.Store), the audit trail (audit.Store),
// the log of TMC messages (events.Store) and the idempotency keys
// (idempotency.Store),
// on one of two backends that Open chooses from the settings:
//
//   - internal/store/sqlite, the embedded default: one SQLite file in
//     --data-dir, used by one process at a time;
//   - internal/store/postgres, with --database-url: a PostgreSQL database
//     that every replica of a deployment shares.
//
// Each concern owns its interface next to its model, and the backends
// implement them all; internal/store/storetest holds both backends to the
// same conformance cases. Both version their schema the same way
// (internal/store/schema, goose).
package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/events"
	"github.com/servicecenterd/servicecenterd/internal/idempotency"
	"github.com/servicecenterd/servicecenterd/internal/store/postgres"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
)

// Store is all durable state. Each concern owns its interface, next to
// its model (syncjob.Store for the blacklist sync jobs, audit.Store for
// the audit trail), so that one can change without touching the others;
// a backend provides them all, over one database.
//
// The concrete types (*sqlite.Store, *postgres.Store) also implement
// syncjob.TxStore, with their transaction types (*sql.Tx, pgx.Tx), and
// give the job engine their database (DB, Pool): see Backend.
type Store interface {
	syncjob.Store
	audit.Store
	events.Store
	idempotency.Store
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// SchemaVersion is the database's schema version.
	SchemaVersion(ctx context.Context) (int64, error)
	io.Closer
}

var (
	_ Store = (*sqlite.Store)(nil)
	_ Store = (*postgres.Store)(nil)
)

// Backend names the backend of st: "sqlite" or "postgres".
func Backend(st Store) string {
	switch st.(type) {
	case *sqlite.Store:
		return "sqlite"
	case *postgres.Store:
		return "postgres"
	}
	return fmt.Sprintf("%T", st)
}

// Option changes how Open opens the store.
type Option func(*options)

type options struct {
	sqlite []sqlite.Option
}

// WithSQLite passes opts to sqlite.Open when Open opens SQLite (tests cap
// the file's size with sqlite.WithMaxPages to fill it).
func WithSQLite(opts ...sqlite.Option) Option {
	return func(o *options) { o.sqlite = append(o.sqlite, opts...) }
}

// Open opens the store the validated settings choose, migrates its schema
// and logs where it is and its version: PostgreSQL at DatabaseURL when it
// is set, else SQLite in DataDir (the directory created, mode 0700).
func Open(ctx context.Context, s Settings, logger *slog.Logger, opts ...Option) (Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if s.DatabaseURL != "" {
		st, err := postgres.Open(ctx, s.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("--database-url: %w", err)
		}
		m := st.Migrated()
		logger.Info("store opened", slog.String("backend", "postgres"), slog.String("url", postgres.Redacted(s.DatabaseURL)),
			slog.Int64("schema_version", m.To), slog.Int("migrations_applied", len(m.Applied)))
		return st, nil
	}
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	path := filepath.Join(s.DataDir, sqlite.FileName)
	st, err := sqlite.Open(ctx, path, o.sqlite...)
	if err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	m := st.Migrated()
	logger.Info("store opened", slog.String("backend", "sqlite"), slog.String("path", path),
		slog.Int64("schema_version", m.To), slog.Int("migrations_applied", len(m.Applied)))
	return st, nil
}
