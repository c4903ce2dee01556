package sqlitetest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
	"github.com/servicecenterd/servicecenterd/internal/testutil/sqlitetest"
)

// TestSeedIsMigrated: a seeded file opens at the schema version a new
// store migrates to, with no migration left to apply.
func TestSeedIsMigrated(t *testing.T) {
	fresh, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	want := fresh.Migrated().To
	if want == 0 || len(fresh.Migrated().Applied) == 0 {
		t.Fatalf("a new store migrated %+v", fresh.Migrated())
	}
	for _, name := range []string{"first", "second"} { // the second copies what the first made
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), sqlite.FileName)
			sqlitetest.Seed(t, path)
			s, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if m := s.Migrated(); m.From != want || m.To != want || len(m.Applied) != 0 {
				t.Fatalf("seeded store migrated %+v, want none from %d", m, want)
			}
			if v, err := s.SchemaVersion(context.Background()); err != nil || v != want {
				t.Fatalf("schema version %d, %v; want %d", v, err, want)
			}
			if err := s.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSeedRefusesAnExistingFile: Seed never overwrites a store.
func TestSeedRefusesAnExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	if err := os.WriteFile(path, []byte("a store"), 0o600); err != nil {
		t.Fatal(err)
	}
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { _ = recover() }()
		sqlitetest.Seed(ft, path)
	}()
	if !ft.failed {
		t.Fatal("Seed wrote over an existing file")
	}
	if raw, err := os.ReadFile(path); err != nil || string(raw) != "a store" {
		t.Fatalf("the file now holds %q, %v", raw, err)
	}
}

// fatalRecorder records a Fatalf and stops the caller's goroutine with a
// panic that the test recovers, instead of failing the test.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}
