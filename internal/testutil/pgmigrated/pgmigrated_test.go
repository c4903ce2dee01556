package pgmigrated_test

import (
	"context"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/store/postgres"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgmigrated"
)

// TestCopiesAreMigratedAndApart: each copy is at the latest schema (Open
// finds nothing to migrate) and a database of its own.
func TestCopiesAreMigratedAndApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	urls := []string{pgmigrated.NewDatabase(t), pgmigrated.NewDatabase(t)}
	if urls[0] == urls[1] {
		t.Fatalf("two tests got one database: %s", urls[0])
	}
	for i, url := range urls {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if m := s.Migrated(); m.From != m.To || len(m.Applied) != 0 || m.To == 0 {
			t.Errorf("copy %d: Open migrated %+v, want nothing to do at the latest version", i, m)
		}
		if i == 0 {
			if _, err := s.Pool().Exec(ctx, "CREATE TABLE only_in_the_first (x int)"); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var n int
		if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_the_first'").Scan(&n); err != nil || n != 0 {
			t.Errorf("copy %d sees the first copy's table: %d, %v", i, n, err)
		}
	}
}
