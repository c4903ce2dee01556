package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/servicecenterd/servicecenterd/internal/store/schema"
)

// The schema's history is migrations/NNNNN_what.sql, oldest first, one
// version each; internal/store/postgres/migrations has the same versions
// for PostgreSQL (a test holds the two lists to the same numbers and
// names). To change the schema (for example to add a column to
// audit_events):
//
//  1. Add the next version in both directories. Never edit, renumber or
//     remove one that has been released: databases out there have run it.
//  2. Write plain DDL/DML under "-- +goose Up". goose runs each file in one
//     transaction with its version record, so it must not contain
//     BEGIN/COMMIT or VACUUM. Prefix new tables with their concern
//     (blacklist_*, audit_*, idempotency_*).
//  3. Extend TestMigrateFromEveryVersion when the step transforms existing
//     rows, and run go test ./internal/store/...
//
// Open applies the missing versions at start, in order.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// goMigrations are the migrations written in Go: River's schema (the bulk
// sync's job engine), version schema.RiverVersion, with a GoFunc with
// RunTx: River's migrator (rivermigrate's MigrateTx with riversqlite) runs
// inside goose's transaction on the store's one write connection. RunDB
// would wait for a second connection of a pool of one for ever.
func goMigrations() []*goose.Migration {
	migrator := func(tx *sql.Tx) (*rivermigrate.Migrator[*sql.Tx], error) {
		m, err := rivermigrate.New(riversqlite.New(nil), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return nil, fmt.Errorf("river migrator: %w", err)
		}
		return m, nil
	}
	up := func(ctx context.Context, tx *sql.Tx) error {
		m, err := migrator(tx)
		if err != nil {
			return err
		}
		if _, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{TargetVersion: schema.RiverSchema}); err != nil {
			return fmt.Errorf("river schema: %w", err)
		}
		return nil
	}
	down := func(ctx context.Context, tx *sql.Tx) error {
		m, err := migrator(tx)
		if err != nil {
			return err
		}
		if _, err := m.MigrateTx(ctx, tx, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{TargetVersion: -1}); err != nil {
			return fmt.Errorf("river schema: %w", err)
		}
		return nil
	}
	return []*goose.Migration{
		goose.NewGoMigration(schema.RiverVersion, &goose.GoFunc{RunTx: up}, &goose.GoFunc{RunTx: down}),
	}
}

// Migrations are the SQLite schema's history.
func Migrations() schema.Migrations {
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory exists
	}
	return schema.Migrations{Dialect: goose.DialectSQLite3, Files: files, Go: goMigrations()}
}

// legacyVersions is how many versions servicecenterd wrote in PRAGMA
// user_version before goose: versions 1 to 4 of migrations/.
const legacyVersions = 4

// migrate bridges a file from before goose, then migrates it to version
// (0: the latest) and mirrors the version into PRAGMA user_version, so
// that a servicecenterd from before goose refuses a file that a newer one
// migrated further than it knows.
func migrate(ctx context.Context, db *sql.DB, version int64) (schema.Result, error) {
	if err := bridge(ctx, db); err != nil {
		return schema.Result{}, err
	}
	res, err := schema.Up(ctx, db, Migrations(), version)
	if err != nil {
		return res, err
	}
	if _, err := db.ExecContext(ctx, "PRAGMA user_version = "+strconv.FormatInt(res.To, 10)); err != nil {
		return res, fmt.Errorf("record schema version: %w", err)
	}
	return res, nil
}

// bridge carries a file versioned the way servicecenterd did before goose
// (the version in PRAGMA user_version, no version table) over to goose:
// in one transaction it creates the version table and records versions 1
// to user_version as applied. A new file (version 0) and a file that has
// the table already are left alone.
func bridge(ctx context.Context, db *sql.DB) error {
	var exists bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)", schema.Table).Scan(&exists); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if exists {
		return nil
	}
	var have int64
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case have == 0:
		return nil
	case have > legacyVersions:
		return fmt.Errorf("%w (the file is at version %d without a version table, which no servicecenterd writes)", schema.ErrNewer, have)
	}
	err := inTx(ctx, db, func(tx *sql.Tx) error { return schema.Record(ctx, tx, goose.DialectSQLite3, have) })
	if err != nil {
		return fmt.Errorf("bridge schema version %d to %s: %w", have, schema.Table, err)
	}
	return nil
}
