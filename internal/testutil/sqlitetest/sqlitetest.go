// Package sqlitetest gives each test a SQLite store file already migrated
// to the latest schema: a copy of one file that the test process migrates
// once. Opening a new store runs every migration, River's job tables'
// among them (whose ALTER TABLEs make SQLite parse the whole schema again
// each time); under the race detector that is most of the CPU a test
// server takes to start. Tests of the migrations themselves open new
// files (internal/store/sqlite).
package sqlitetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
)

// migrated is the content of a store file migrated to the latest schema,
// made on first use and never changed after: every Seed writes the same
// bytes.
var migrated = sync.OnceValues(migrate)

// migrate opens a new store in a temporary directory, which migrates it,
// closes it and returns the file's content.
func migrate() (_ []byte, err error) {
	dir, err := os.MkdirTemp("", "sqlitetest-")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	path := filepath.Join(dir, sqlite.FileName)
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("close %s: %w", path, err)
	}
	// The last connection's close checkpoints the write-ahead log into
	// the file and deletes it: the file alone is then the whole store.
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("%s: a write-ahead log of %d bytes is left after close", path, fi.Size())
	}
	return os.ReadFile(path)
}

// Seed writes a store file migrated to the latest schema at path (a data
// directory's filepath.Join(dir, sqlite.FileName)), which must not exist:
// sqlite.Open then finds nothing to migrate.
func Seed(t testing.TB, path string) {
	t.Helper()
	raw, err := migrated()
	if err != nil {
		t.Fatalf("sqlitetest: migrate a store to copy: %v", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatalf("sqlitetest: %v", err)
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		t.Fatalf("sqlitetest: write %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("sqlitetest: write %s: %v", path, err)
	}
}
