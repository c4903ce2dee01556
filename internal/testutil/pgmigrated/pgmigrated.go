// Package pgmigrated gives each test a PostgreSQL database already
// migrated to the latest schema: a copy (CREATE DATABASE ... TEMPLATE) of
// a template that postgres.Open migrated once (pgtest.NewDatabaseFrom).
// Migrating a new database (River's versions one transaction each among
// them) takes about a second; a copy takes a fraction of that. Tests of
// the migrations themselves start from pgtest.NewDatabase.
package pgmigrated

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/store/postgres"
	"github.com/servicecenterd/servicecenterd/internal/store/schema"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgtest"
)

// riverModules starts the paths of River's modules, whose migrator and
// drivers make River's tables.
const riverModules = "github.com/riverqueue/river"

// NewDatabase creates a database at the latest schema for the test and
// returns its URL; it is dropped when the test ends. It skips, or fails
// under CI, when the server cannot be reached.
func NewDatabase(t testing.TB) string {
	t.Helper()
	key, err := schemaKey()
	if err != nil {
		t.Fatalf("pgmigrated: %v", err)
	}
	return pgtest.NewDatabaseFrom(t, key, migrate)
}

// migrate migrates the database at url to the latest schema.
func migrate(ctx context.Context, url string) error {
	s, err := postgres.Open(ctx, url)
	if err != nil {
		return err
	}
	return s.Close()
}

// schemaKey names what the template holds: a hash of the SQL migrations'
// names and contents, River's schema version and River's
// modules' versions (its migrations are its own).
func schemaKey() (string, error) {
	m, err := postgres.Migrations()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	err = fs.WalkDir(m.Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(m.Files, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", path, len(raw))
		h.Write(raw)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash the migrations: %w", err)
	}
	fmt.Fprintf(h, "river schema %d at version %d\n", schema.RiverSchema, schema.RiverVersion)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if strings.HasPrefix(dep.Path, riverModules) {
				fmt.Fprintf(h, "%s %s\n", dep.Path, dep.Version)
			}
		}
	}
	return "migrated_" + hex.EncodeToString(h.Sum(nil)[:8]), nil
}
