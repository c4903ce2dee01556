// Package schema versions the stores' own tables, on SQLite and on
// PostgreSQL alike, with goose (github.com/pressly/goose/v3): each backend
// keeps its history as SQL files embedded from its migrations directory
// (NNNNN_what.sql, one version each, the same numbers with the same
// meaning on both databases) plus the migrations written in Go (River's
// schema will be one), and goose records the versions applied in the
// table Table. Up applies the versions a database has not had, each in
// its own transaction with its record, so that a crash leaves a database
// at a whole version.
//
// River's tables (the bulk sync's job engine, github.com/riverqueue/river)
// are one version of this history, RiverVersion, written in Go: it runs
// River's own migrator (rivermigrate) up to RiverSchema, so that one
// history, one version table and one "newer than this binary" check cover
// every table servicecenterd uses. Moving to a newer River schema is a
// new version here that migrates River further.
//
// A database whose version is newer than this binary knows is refused
// (ErrNewer): a newer servicecenterd migrated it, and this one would
// misread what it wrote. goose itself applies nothing then and reports no
// error, so the check is this package's.
package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

// RiverVersion is the version of this history that creates River's
// tables; RiverSchema is River's own migration version it migrates to
// (River 0.51's latest, "main" line, version 8).
const (
	RiverVersion = 5
	RiverSchema  = 8
)

// Table is the table where the versions applied are recorded, in goose's
// format. It is named after servicecenterd, not goose's default, so that a
// PostgreSQL database shared with another application that uses goose
// keeps two histories apart.
const Table = "servicecenterd_schema"

// ErrNewer is the refusal of a database whose schema is newer than this
// binary knows.
var ErrNewer = errors.New("the database's schema is newer than this servicecenterd knows: use a newer servicecenterd")

// Migrations are a backend's schema history.
type Migrations struct {
	// Dialect is goose's name of the database.
	Dialect goose.Dialect
	// Files holds the SQL migrations at its root.
	Files fs.FS
	// Go are the migrations written in Go, each with its version.
	Go []*goose.Migration
	// Locker keeps concurrent migrators of one database apart (on
	// PostgreSQL, replicas that start at once); nil for none.
	Locker lock.SessionLocker
}

// Result says what Up found and did.
type Result struct {
	// From is the version before, To after.
	From, To int64
	// Applied names the migrations applied, in order.
	Applied []string
}

func (m Migrations) provider(db *sql.DB) (*goose.Provider, error) {
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(Table),
	}
	if len(m.Go) > 0 {
		opts = append(opts, goose.WithGoMigrations(m.Go...))
	}
	if m.Locker != nil {
		opts = append(opts, goose.WithSessionLocker(m.Locker))
	}
	p, err := goose.NewProvider(m.Dialect, db, m.Files, opts...)
	if err != nil {
		return nil, fmt.Errorf("schema migrations: %w", err)
	}
	return p, nil
}

// Versions are the versions the migrations know, in order. They need not
// be contiguous: ranges of numbers are set aside for work that lands
// later (see docs/architecture.md), and goose applies what it has.
func (m Migrations) Versions() ([]int64, error) {
	var out []int64
	err := fs.WalkDir(m.Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		v, err := goose.NumericComponent(path)
		if err != nil {
			return fmt.Errorf("migration %s: %w", path, err)
		}
		out = append(out, v)
		return nil
	})
	for _, g := range m.Go {
		out = append(out, g.Version)
	}
	slices.Sort(out)
	return slices.Compact(out), err
}

// Latest is the newest version the migrations know (0 for none).
func (m Migrations) Latest() (int64, error) {
	vs, err := m.Versions()
	if len(vs) == 0 {
		return 0, err
	}
	return vs[len(vs)-1], err
}

// Up migrates db to version target (0 or less: the latest), after
// refusing a database newer than the migrations know.
func Up(ctx context.Context, db *sql.DB, m Migrations, target int64) (Result, error) {
	p, err := m.provider(db)
	if err != nil {
		return Result{}, err
	}
	from, err := checkVersion(ctx, p)
	if err != nil {
		return Result{}, err
	}
	if target <= 0 {
		target = math.MaxInt64
	}
	results, err := p.UpTo(ctx, target)
	res := Result{From: from, To: from}
	for _, r := range results {
		if r.Error == nil && r.Source != nil {
			res.Applied = append(res.Applied, r.Source.Path)
			res.To = max(res.To, r.Source.Version)
		}
	}
	if err != nil {
		var pe *goose.PartialError
		if errors.As(err, &pe) && pe.Failed != nil && pe.Failed.Source != nil {
			return res, fmt.Errorf("schema migration to version %d (%s): %w", pe.Failed.Source.Version, pe.Failed.Source.Path, pe.Err)
		}
		return res, fmt.Errorf("schema migrations: %w", err)
	}
	// Another migrator may have gone further meanwhile.
	if res.To, err = checkVersion(ctx, p); err != nil {
		return res, err
	}
	return res, nil
}

// checkVersion returns the database's version, refusing one newer than
// p knows.
func checkVersion(ctx context.Context, p *goose.Provider) (int64, error) {
	current, latest, err := p.GetVersions(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if current > latest {
		return current, fmt.Errorf("%w (the database is at version %d, this servicecenterd knows up to %d)", ErrNewer, current, latest)
	}
	return current, nil
}

// Version reads the schema version of a migrated database through q (a
// *sql.DB or *sql.Tx).
func Version(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (int64, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT MAX(version_id) FROM "+Table+" WHERE is_applied").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v.Int64, nil
}

// Record records versions 1 to version as applied, in tx, creating the
// version table first: for a database whose schema was versioned another
// way before (SQLite's PRAGMA user_version), so that goose carries on from
// there. The table must not exist yet.
func Record(ctx context.Context, tx *sql.Tx, dialect goose.Dialect, version int64) error {
	store, err := database.NewStore(dialect, Table)
	if err != nil {
		return err
	}
	if err := store.CreateVersionTable(ctx, tx); err != nil {
		return fmt.Errorf("create %s: %w", Table, err)
	}
	for v := int64(0); v <= version; v++ {
		if err := store.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
			return fmt.Errorf("record schema version %d: %w", v, err)
		}
	}
	return nil
}
