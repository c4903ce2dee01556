package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob/syncjobtest"
)

// stage creates an import of n entries, adding them in batches of 4096 as
// internal/blacklist/syncjob does, and returns the first error.
func stage(ctx context.Context, s *Store, id string, n int) error {
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: id, SupplierID: "10000000001", OperateType: 1, ServiceType: 1, AbilityType: 1, ChunkSize: 100, Created: t0}); err != nil {
		return err
	}
	for start := 0; start < n; start += 4096 {
		batch := make([]syncjob.Entry, 0, 4096)
		for i := start; i < min(n, start+4096); i++ {
			batch = append(batch, syncjob.Entry{Pos: int64(i), Mobile: syncjobtest.Mobile(i), Reasons: 1 << 1})
		}
		if err := s.AddImportEntries(ctx, id, batch); err != nil {
			return err
		}
	}
	return nil
}

// TestFullStore fills the store with SQLite's max_page_count (WithMaxPages),
// which fails writes with SQLITE_FULL exactly as a full disk does: a full
// staging file and a full database both answer ErrFull, the aborted
// import is removed all the same, a small import still goes through, and
// once there is room again (the cap raised, as if space were freed) the
// store carries on without being reopened. internal/server tests the same
// on a real full filesystem.
func TestFullStore(t *testing.T) {
	ctx := context.Background()
	const pages = 64 // 256 KiB per file
	s, err := Open(ctx, filepath.Join(t.TempDir(), FileName), WithMaxPages(pages))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	isFull := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, syncjob.ErrFull) {
			t.Fatalf("%s: %v, want ErrFull", what, err)
		}
		if !strings.Contains(err.Error(), "database or disk is full") {
			t.Errorf("%s: %q does not carry SQLite's reason", what, err)
		}
	}
	small := func(id string) {
		t.Helper()
		if err := stage(ctx, s, id, 2); err != nil {
			t.Fatalf("small import %s: %v", id, err)
		}
		if j, err := s.CommitImport(ctx, id, syncjob.ImportCounts{Received: 2}, t0); err != nil || j.Total != 2 {
			t.Fatalf("small import %s: %+v, %v", id, j, err)
		}
	}

	// An import larger than a staging file may grow.
	isFull("staging 100,000 entries", stage(ctx, s, "bj-huge", 100_000))
	if err := s.DeleteImport(ctx, "bj-huge"); err != nil {
		t.Fatalf("removing the aborted import: %v", err)
	}
	if left := stagingFiles(t, s); len(left) != 0 {
		t.Fatalf("staging files left: %v", left)
	}
	small("bj-small-1")

	// An import whose staging fits but whose entries do not fit in the
	// database: the commit fails whole and leaves the import staged.
	if err := stage(ctx, s, "bj-big", 12_000); err != nil {
		t.Fatal(err)
	}
	_, err = s.CommitImport(ctx, "bj-big", syncjob.ImportCounts{Received: 12_000}, t0)
	isFull("committing 12,000 entries", err)
	if _, err := s.Job(ctx, "bj-big"); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("a failed commit left a job: %v", err)
	}
	var entries int
	if err := s.r.QueryRow("SELECT COUNT(*) FROM blacklist_entries").Scan(&entries); err != nil || entries != 2 {
		t.Fatalf("%d entries in the database after the failed commit, %v; want the small job's 2", entries, err)
	}
	if err := s.DeleteImport(ctx, "bj-big"); err != nil {
		t.Fatalf("removing the import whose commit failed: %v", err)
	}
	small("bj-small-2")

	// Fill the database to the last page with audit events: writes that
	// need a page then answer ErrFull, and reads go on.
	var recordErr error
	for i := 0; recordErr == nil; i++ {
		if i > 100_000 {
			t.Fatal("the capped database never filled")
		}
		recordErr = s.Record(ctx, audit.Event{Time: t0, RPC: "/s.S/M", Client: fmt.Sprintf("client-%06d-padding-padding-padding", i)})
	}
	isFull("audit record", recordErr)
	if err := stage(ctx, s, "bj-more", 1000); err != nil {
		t.Fatal(err) // staging has room of its own
	}
	_, err = s.CommitImport(ctx, "bj-more", syncjob.ImportCounts{Received: 1000}, t0)
	isFull("committing 1,000 entries to a full database", err)
	if err := s.DeleteImport(ctx, "bj-more"); err != nil {
		t.Fatalf("removing an import while the database is full: %v", err)
	}
	if j, err := s.Job(ctx, "bj-small-2"); err != nil || j.Sent != 0 {
		t.Fatalf("reading a full store: %+v, %v", j, err)
	}

	// Room again, without reopening.
	if _, err := s.w.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", 100*pages)); err != nil {
		t.Fatal(err)
	}
	if prev, err := s.BeginChunk(ctx, "bj-small-2", 0, t0); err != nil || prev != syncjob.ChunkNew {
		t.Fatalf("begin chunk once there is room: %v, %v", prev, err)
	}
	small("bj-small-4")
	if err := s.Record(ctx, audit.Event{Time: t0.Add(time.Second), RPC: "/s.S/M"}); err != nil {
		t.Fatalf("audit record once there is room: %v", err)
	}
}
