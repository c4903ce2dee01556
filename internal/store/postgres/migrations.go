package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/servicecenterd/servicecenterd/internal/store/schema"
)

// The schema's history is migrations/NNNNN_what.sql, the same versions as
// internal/store/sqlite/migrations (read the rules there); a test holds
// the two lists to the same numbers and names.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// goMigrations are the migrations written in Go: River's schema (the bulk
// sync's job engine), version schema.RiverVersion, with a GoFunc with
// RunDB: River's migrator (rivermigrate, riverpgxv5) must run its versions
// in transactions of their own, since PostgreSQL refuses to use an enum
// value in the transaction that added it (River's 004 and 006: SQLSTATE
// 55P04), so each River version is one transaction on one connection of
// goose's. Open runs it under the same advisory lock as the SQL files,
// which rivermigrate does not take itself.
func goMigrations() []*goose.Migration {
	return []*goose.Migration{
		goose.NewGoMigration(schema.RiverVersion,
			&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
				return riverSteps(ctx, db, rivermigrate.DirectionUp, schema.RiverSchema)
			}},
			&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
				return riverSteps(ctx, db, rivermigrate.DirectionDown, -1)
			}}),
	}
}

// riverSteps migrates River's schema one version per transaction on one
// connection of db (pgx's stdlib), up to target, or down to nothing.
func riverSteps(ctx context.Context, db *sql.DB, dir rivermigrate.Direction, target int) error {
	m, err := rivermigrate.New(riverpgxv5.New(nil), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		for {
			tx, err := pc.Begin(ctx)
			if err != nil {
				return err
			}
			res, err := m.MigrateTx(ctx, tx, dir, &rivermigrate.MigrateOpts{MaxSteps: 1, TargetVersion: target})
			if err != nil {
				_ = tx.Rollback(ctx)
				return fmt.Errorf("river schema: %w", err)
			}
			if err := tx.Commit(ctx); err != nil {
				return fmt.Errorf("river schema: %w", err)
			}
			if len(res.Versions) == 0 {
				return nil
			}
		}
	})
}

// lockID is the advisory lock that keeps migrators of one database apart:
// servicecenterd's own, not goose's default, which other applications
// sharing the database may use.
const lockID = 0x5343_4452_4d49_4752 // "SCDRMIGR"

// Migrations are the PostgreSQL schema's history, with the advisory lock
// (pg_try_advisory_lock, retried every second for up to five minutes)
// that makes replicas starting at once migrate one after the other.
func Migrations() (schema.Migrations, error) {
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return schema.Migrations{}, err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return schema.Migrations{}, fmt.Errorf("schema migrations: %w", err)
	}
	return schema.Migrations{Dialect: goose.DialectPostgres, Files: files, Go: goMigrations(), Locker: locker}, nil
}
