// Package postgres is servicecenterd's store on PostgreSQL, shared by
// every replica of a deployment: the blacklist sync jobs (syncjob.Store,
// syncjob.TxStore[pgx.Tx]) and the audit trail (audit.Store), through
// github.com/jackc/pgx/v5 and its pool. It behaves as the embedded SQLite
// store does (internal/store/storetest holds both to the same cases),
// with these differences:
//
//   - Any number of processes may use one database at once. Every change
//     is one transaction guarded by the rows it reads (SELECT ... FOR
//     UPDATE, conditional UPDATEs, ON CONFLICT), so that replicas never
//     count a chunk twice or overwrite each other's outcome.
//   - An import in progress is staged in a temporary table of a pooled
//     connection that the import holds until its commit (imports.go).
//     PostgreSQL drops the table when the connection ends, so an import
//     that a crash interrupted leaves nothing behind.
//   - The commits the API promises (CommitImport, state changes by
//     UpdateJob) are as durable as the server's synchronous_commit makes
//     them (by default: on disk, and on the synchronous standbys, when the
//     call returns). The frequent ones (BeginChunk, FinishChunk, last
//     errors, audit events) commit with synchronous_commit off, as SQLite
//     commits them with synchronous=NORMAL: they survive a crash of this
//     process at once, and a crash of the PostgreSQL server once the WAL
//     writer has flushed them (within three wal_writer_delay, 600 ms by
//     default). Losing the last of them only makes a chunk be resent,
//     which TOP answers as a replay of its request_id.
//   - Audit event ids come from an identity column: they never repeat,
//     but under concurrent writers they follow the order of inserts, not
//     quite that of commits.
//   - A full disk is PostgreSQL's SQLSTATE 53100 (disk_full), which
//     answers syncjob.ErrFull.
//
// # Schema migrations
//
// The schema is versioned with goose (migrations/*.sql, migrations.go),
// the same versions as the SQLite store's. Open migrates under an
// advisory lock, so that replicas starting at once migrate once, and
// refuses a database whose version is newer than the binary knows.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/store/groupcommit"
	"github.com/servicecenterd/servicecenterd/internal/store/schema"
)

// DefaultMaxConns is the pool's size when the URL does not set
// pool_max_conns (pgx's own default, the number of CPUs, is too small for
// a server: the RPCs, the delivery workers and each import in progress
// take connections).
const DefaultMaxConns = 16

// applicationName is the application_name the store's connections show in
// pg_stat_activity, unless the URL sets one.
const applicationName = "servicecenterd"

// Store is the store in a PostgreSQL database.
type Store struct {
	pool     *pgxpool.Pool
	migrated schema.Result
	// audit commits audit events in groups.
	audit *groupcommit.Writer[auditRow]
	// importSlots bounds the imports in progress, each of which holds a
	// connection, to half the pool, so that the other calls keep theirs.
	importSlots chan struct{}

	mu sync.Mutex
	// imports are the imports in progress through this Store, by job id;
	// nil once closed.
	imports map[string]*staged
}

var (
	_ syncjob.TxStore[pgx.Tx] = (*Store)(nil)
	_ audit.Store             = (*Store)(nil)
)

// ParseURL checks a PostgreSQL URL (postgres:// or postgresql://, with
// pgx's parameters, pool_max_conns and the like) without connecting. Its
// errors never show the password.
func ParseURL(rawURL string) (*pgxpool.Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("want a URL postgres://user@host:port/database?param=value")
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// Say why without the URL, and never with the password in it.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			err = pe.Unwrap()
		}
		if pw, set := u.User.Password(); set && pw != "" && strings.Contains(err.Error(), pw) {
			return nil, errors.New("invalid PostgreSQL URL")
		}
		return nil, fmt.Errorf("invalid PostgreSQL URL: %v", err)
	}
	if !u.Query().Has("pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	return cfg, nil
}

// Redacted is the URL as it may be shown: without its password.
func Redacted(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(invalid URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Open connects to the database at rawURL and migrates its schema to the
// latest version.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	return openVersion(ctx, rawURL, 0)
}

// openVersion opens the store and migrates it to version, 0 for the
// latest (tests open old versions).
func openVersion(ctx context.Context, rawURL string, version int64) (_ *Store, err error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("--database-url: %w", err)
	}
	where := Redacted(rawURL)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", where, err)
	}
	s := &Store{pool: pool, imports: map[string]*staged{}, importSlots: make(chan struct{}, max(1, cfg.MaxConns/2))}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if err := pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("store %s: %w", where, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	m, err := Migrations()
	if err != nil {
		return nil, err
	}
	if s.migrated, err = schema.Up(ctx, db, m, version); err != nil {
		return nil, markFull(fmt.Errorf("store %s: %w", where, err))
	}
	s.audit = newAuditWriter(pool)
	return s, nil
}

// Pool is the store's connection pool. It is for the job engine (River,
// with riverpgxv5), whose tables live in the same database and whose
// transactions must be the store's (see CommitImportWith).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Migrated says what Open found and migrated.
func (s *Store) Migrated() schema.Result { return s.migrated }

// SchemaVersion is the database's schema version.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, "SELECT COALESCE(MAX(version_id), 0) FROM "+schema.Table+" WHERE is_applied").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Close drops the imports in progress through this Store and closes the
// pool. It may be called more than once.
func (s *Store) Close() error {
	if s.audit != nil {
		s.audit.Close()
	}
	err := s.dropImports()
	s.pool.Close()
	return err
}

// markFull wraps err with syncjob.ErrFull when PostgreSQL answered that it
// has no space left (SQLSTATE 53100, disk_full: "could not extend file",
// "could not write to file"), so that callers can tell with errors.Is;
// other errors are returned as they are.
func markFull(err error) error {
	if err == nil || errors.Is(err, syncjob.ErrFull) || !isFull(err) {
		return err
	}
	return fmt.Errorf("%w: %w", syncjob.ErrFull, err)
}

// isFull reports whether err is PostgreSQL's disk_full.
func isFull(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "53100"
}

// isUniqueViolation reports whether err is a unique_violation (23505).
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// relaxed makes the transaction it runs in commit without waiting for
// its WAL to reach the disk (see the package doc).
const relaxed = "SET LOCAL synchronous_commit TO OFF"

// inTx runs fn in a transaction on the pool and commits it.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// runAlso runs the caller's work of a TxStore method, if any.
func runAlso(ctx context.Context, also syncjob.TxFunc[pgx.Tx], tx pgx.Tx, j syncjob.Job) error {
	if also == nil {
		return nil
	}
	return also(ctx, tx, j)
}

// nanos is t in Unix nanoseconds, as the tables keep times.
func nanos(t time.Time) int64 { return t.UnixNano() }

// fromNanos is the instant of Unix nanoseconds ns, in UTC.
func fromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// placeholders returns "$from, $from+1, ..." for n arguments.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}
