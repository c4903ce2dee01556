package store_test

import (
	"io/fs"
	"slices"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/store/postgres"
	"github.com/servicecenterd/servicecenterd/internal/store/schema"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
)

// TestMigrationsAlign: both backends have the same versions under the
// same names, so that a version means the same schema on both databases,
// and one cannot get a change the other lacks.
func TestMigrationsAlign(t *testing.T) {
	pg, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	names := func(m schema.Migrations) []string {
		t.Helper()
		files, err := fs.Glob(m.Files, "*.sql")
		if err != nil || len(files) == 0 {
			t.Fatalf("%s migrations: %v, %v", m.Dialect, files, err)
		}
		return files
	}
	lite, post := names(sqlite.Migrations()), names(pg)
	if !slices.Equal(lite, post) {
		t.Fatalf("SQLite migrations %v, PostgreSQL %v: want the same", lite, post)
	}
	goVersions := func(m schema.Migrations) []int64 {
		var vs []int64
		for _, g := range m.Go {
			vs = append(vs, g.Version)
		}
		return vs
	}
	if a, b := goVersions(sqlite.Migrations()), goVersions(pg); !slices.Equal(a, b) || !slices.Contains(a, schema.RiverVersion) {
		t.Fatalf("Go migrations %v (SQLite) and %v (PostgreSQL): want the same, with River's %d", a, b, schema.RiverVersion)
	}
	a, errA := sqlite.Migrations().Versions()
	b, errB := pg.Versions()
	if errA != nil || errB != nil || !slices.Equal(a, b) || len(slices.Compact(slices.Clone(a))) != len(lite)+len(pg.Go) {
		t.Fatalf("versions %d (%v) and %d (%v) of %d files: want one version per file and Go migration, the same on both", a, errA, b, errB, len(lite)+len(pg.Go))
	}
}
