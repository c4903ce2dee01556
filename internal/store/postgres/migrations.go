package postgres

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/servicecenterd/servicecenterd/internal/store/schema"
)

// The schema's history is migrations/NNNNN_what.sql, the same versions as
// internal/store/sqlite/migrations (read the rules there); a test holds
// the two lists to the same numbers and names.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// goMigrations are the migrations written in Go. River's schema (the bulk
// sync's job engine) goes here as the next version, built with
// goose.NewGoMigration and a GoFunc with RunDB: River's migrator
// (rivermigrate) must run its versions in transactions of their own, since
// PostgreSQL refuses to use an enum value in the transaction that added it
// (River's 004 and 006: SQLSTATE 55P04). Open runs it under the same
// advisory lock as the SQL files, which rivermigrate does not take itself.
func goMigrations() []*goose.Migration { return nil }

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
