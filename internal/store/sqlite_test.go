package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/audit"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func openTest(t *testing.T) *SQLite {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mobile(i int) string { return fmt.Sprintf("138%08d", i) }

// importJob creates and commits a job of the given entries (positions
// 0, 1, 2...).
func importJob(t *testing.T, s Jobs, id string, chunkSize int, entries ...Entry) Job {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateImport(ctx, JobSpec{ID: id, SupplierID: "10000000001", OperateType: 1, ServiceType: 1, AbilityType: 1, ChunkSize: chunkSize, Created: t0}); err != nil {
		t.Fatal(err)
	}
	for i := range entries {
		entries[i].Pos = int64(i)
	}
	if err := s.AddImportEntries(ctx, id, entries); err != nil {
		t.Fatal(err)
	}
	j, err := s.CommitImport(ctx, id, ImportCounts{Received: int64(len(entries))}, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func entries(n int) []Entry {
	out := make([]Entry, n)
	for i := range out {
		out[i] = Entry{Pos: int64(i), Mobile: mobile(i), Reasons: 1 << 1}
	}
	return out
}

func TestOpenCreatesPrivateFileAtLatestVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.SchemaVersion(context.Background())
	if err != nil || v != len(migrations()) {
		t.Fatalf("version %d, %v; want %d", v, err, len(migrations()))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	// A second user of the file is refused while the first has it open.
	if s2, err := Open(context.Background(), path); err == nil {
		s2.Close()
		t.Fatal("opened a store another user holds")
	}
	s.Close()
	// Opening again runs nothing and keeps the version.
	s2, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s2.SchemaVersion(context.Background()); err != nil || v != len(migrations()) {
		t.Fatalf("version after reopening %d, %v", v, err)
	}
	s2.Close()
}

func TestOpenRefusesNewerSchemaAndBadPaths(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(context.Background(), path); err == nil {
		t.Fatal("opened a file of schema version 99")
	}
	for _, p := range []string{"", "a?b", "x#y", filepath.Join(t.TempDir(), "missing-dir", FileName)} {
		if _, err := Open(context.Background(), p); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// schemaOf lists the database's tables and indexes with their SQL.
func schemaOf(t *testing.T, s *SQLite) []string {
	t.Helper()
	rows, err := s.r.Query("SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_master ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		out = append(out, line)
	}
	return out
}

// TestMigrateFromEveryVersion opens a database left at each older schema
// version, with a job mid-way written as that version wrote it, and checks
// that Open migrates it to the same schema as a new file and that the job
// carries on.
func TestMigrateFromEveryVersion(t *testing.T) {
	ctx := context.Background()
	want := schemaOf(t, openTest(t))
	for v := 1; v < len(migrations()); v++ {
		t.Run(fmt.Sprintf("from version %d", v), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			old, err := openVersion(ctx, path, v)
			if err != nil {
				t.Fatal(err)
			}
			// A running job of 3 entries in chunks of 2; chunk 0 acknowledged,
			// chunk 1 begun: the version 1 columns only.
			for _, q := range []string{
				`INSERT INTO blacklist_jobs (key, id, supplier_id, operate_type, service_type, ability_type, chunk_size, state,
					received, total, chunks, sent, acknowledged, created_ns, updated_ns)
					VALUES (1, 'bj-old', '10000000001', 1, 1, 1, 2, 2, 3, 3, 2, 3, 2, 1, 2)`,
				`INSERT INTO blacklist_entries (job, seq, mobile, reasons) VALUES (1, 0, 13800000000, 2), (1, 1, 13800000001, 2), (1, 2, 13800000002, 6)`,
				`INSERT INTO blacklist_chunks (job, idx, state, entries, updated_ns) VALUES (1, 0, 2, 2, 2), (1, 1, 1, 1, 2)`,
				// An import a crash interrupted, staged in the database as
				// versions 1 to 3 did: the migration to 4 drops it.
				`INSERT INTO blacklist_jobs (key, id, supplier_id, operate_type, service_type, ability_type, chunk_size, state, created_ns, updated_ns)
					VALUES (2, 'bj-importing', '10000000001', 1, 1, 1, 2, 9, 1, 1)`,
				`INSERT INTO blacklist_import_entries (job, pos, mobile, reasons) VALUES (2, 0, 13800000009, 2)`,
			} {
				if _, err := old.w.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			old.Close()

			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := schemaOf(t, s); !slices.Equal(got, want) {
				t.Errorf("migrated schema differs from a new one:\n got %q\nwant %q", got, want)
			}
			var rows int
			if err := s.r.QueryRow("SELECT COUNT(*) FROM blacklist_jobs").Scan(&rows); err != nil || rows != 1 {
				t.Errorf("%d job rows after migration, %v; want the interrupted import dropped", rows, err)
			}
			j, err := s.Job(ctx, "bj-old")
			if err != nil {
				t.Fatal(err)
			}
			if j.State != StateRunning || j.Total != 3 || j.Acknowledged != 2 || j.LastError != nil {
				t.Fatalf("job after migration: %+v", j)
			}
			if prev, err := s.BeginChunk(ctx, "bj-old", 1, t0); err != nil || prev != ChunkSent {
				t.Fatalf("BeginChunk(1) = %v, %v; want a resend", prev, err)
			}
			got, err := s.ChunkEntries(ctx, "bj-old", 1, nil)
			if err != nil || len(got) != 1 || got[0].Mobile != "13800000002" || got[0].Reasons != 6 {
				t.Fatalf("chunk 1 = %+v, %v", got, err)
			}
			j, err = s.FinishChunk(ctx, "bj-old", 1, ChunkResult{State: ChunkFailed, Code: "400", Message: "PARAM_ERROR", TOPRequestID: "top-1", Time: t0})
			if err != nil {
				t.Fatal(err)
			}
			if j.Failed != 1 || j.LastError == nil || j.LastError.TOPRequestID != "top-1" || !j.LastError.Final {
				t.Fatalf("job after a failed chunk: %+v %+v", j, j.LastError)
			}
			page, err := s.ListJobs(ctx, JobQuery{SupplierID: "10000000001"})
			if err != nil || len(page.Jobs) != 1 {
				t.Fatalf("ListJobs by supplier: %+v, %v", page, err)
			}
			if err := s.Record(ctx, audit.Event{Time: t0, RPC: "/s.S/M", Client: "ops"}); err != nil {
				t.Fatalf("audit trail after migration: %v", err)
			}
			if evs, err := s.List(ctx, audit.Query{Limit: 10, Client: "ops"}); err != nil || len(evs) != 1 || evs[0].ID != 1 {
				t.Fatalf("audit trail after migration: %+v, %v", evs, err)
			}
		})
	}
}

func TestImportCollapsesDuplicatesAndNumbersEntries(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	in := []Entry{
		{Mobile: mobile(1), Reasons: 1 << 1},
		{Mobile: mobile(2), Reasons: 1 << 2},
		{Mobile: mobile(1), Reasons: 1<<3 | 1<<4}, // duplicate: its reasons win, at its position
		{Mobile: mobile(3), Reasons: 0},
		{Mobile: mobile(2), Reasons: 1 << 2},
	}
	if _, err := s.CreateImport(ctx, JobSpec{ID: "bj-1", SupplierID: "s", OperateType: 1, ServiceType: 1, AbilityType: 1, ChunkSize: 2, Created: t0}); err != nil {
		t.Fatal(err)
	}
	// Staged in two calls; invisible until committed.
	for i := range in {
		in[i].Pos = int64(i * 10)
	}
	if err := s.AddImportEntries(ctx, "bj-1", in[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.AddImportEntries(ctx, "bj-1", in[2:]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Job(ctx, "bj-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("uncommitted job visible: %v", err)
	}
	if page, _ := s.ListJobs(ctx, JobQuery{}); len(page.Jobs) != 0 {
		t.Fatalf("uncommitted job listed: %+v", page)
	}
	if _, err := s.ChunkEntries(ctx, "bj-1", 0, nil); err == nil {
		t.Fatal("chunk of an uncommitted job")
	}
	j, err := s.CommitImport(ctx, "bj-1", ImportCounts{Received: 7, Rejected: 2}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if j.State != StateQueued || j.Received != 7 || j.Rejected != 2 || j.Duplicates != 2 || j.Total != 3 || j.Chunks != 2 ||
		!j.Updated.Equal(t0.Add(time.Minute)) || !j.Created.Equal(t0) {
		t.Fatalf("committed job %+v", j)
	}
	// Order of the last occurrences: mobile 1 (pos 20), 3 (30), 2 (40).
	want := [][]Entry{
		{{Pos: 0, Mobile: mobile(1), Reasons: 1<<3 | 1<<4}, {Pos: 1, Mobile: mobile(3)}},
		{{Pos: 2, Mobile: mobile(2), Reasons: 1 << 2}},
	}
	for n, w := range want {
		got, err := s.ChunkEntries(ctx, "bj-1", int64(n), nil)
		if err != nil || !slices.Equal(got, w) {
			t.Errorf("chunk %d = %+v, %v; want %+v", n, got, err, w)
		}
	}
	if _, err := s.ChunkEntries(ctx, "bj-1", 2, nil); err == nil {
		t.Error("chunk 2 of 2 read")
	}
	if _, err := s.CommitImport(ctx, "bj-1", ImportCounts{}, t0); !errors.Is(err, ErrStateConflict) {
		t.Errorf("second commit: %v", err)
	}
	if err := s.DeleteImport(ctx, "bj-1"); !errors.Is(err, ErrStateConflict) {
		t.Errorf("delete of a committed job: %v", err)
	}
	if err := s.AddImportEntries(ctx, "bj-1", entries(1)); !errors.Is(err, ErrStateConflict) {
		t.Errorf("add to a committed job: %v", err)
	}
	if left := stagingFiles(t, s); len(left) != 0 {
		t.Errorf("staging files left after the commit: %v", left)
	}
}

// stagingFiles lists the files in the store's staging directory.
func stagingFiles(t *testing.T, s *SQLite) []string {
	t.Helper()
	des, err := os.ReadDir(s.stagingDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func TestImportRefusesBadMobiles(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if _, err := s.CreateImport(ctx, JobSpec{ID: "bj-1", ChunkSize: 100, Created: t0}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"", "2380000000x", "1380000000", "+8613800000000"} {
		if err := s.AddImportEntries(ctx, "bj-1", []Entry{{Mobile: m}}); err == nil {
			t.Errorf("mobile %q stored", m)
		}
	}
}

func TestDeleteImports(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, id := range []string{"bj-a", "bj-b"} {
		if _, err := s.CreateImport(ctx, JobSpec{ID: id, ChunkSize: 10, Created: t0}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddImportEntries(ctx, id, entries(250)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteImport(ctx, "bj-a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteImport(ctx, "bj-a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.AddImportEntries(ctx, "bj-a", entries(1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("add to a deleted import: %v", err)
	}
	done := importJob(t, s, "bj-done", 10, entries(5)...)
	// What a crash leaves: staging files no import owns (one with the
	// journal SQLite writes beside it), and a file that is not ours.
	for _, name := range []string{"bj-x.import", "bj-y.import", "bj-y.import-journal", "README"} {
		if err := os.WriteFile(filepath.Join(s.stagingDir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteStaleImports(ctx)
	if err != nil || n != 2 {
		t.Fatalf("DeleteStaleImports = %d, %v; want 2", n, err)
	}
	if left := stagingFiles(t, s); !slices.Equal(left, []string{"README", "bj-b.import"}) {
		t.Fatalf("staging files left: %v; want the live import's and the foreign one", left)
	}
	// The live import was not touched.
	if _, err := s.CommitImport(ctx, "bj-b", ImportCounts{Received: 250}, t0); err != nil {
		t.Fatal(err)
	}
	var jobs int
	if err := s.r.QueryRow("SELECT COUNT(*) FROM blacklist_jobs").Scan(&jobs); err != nil || jobs != 2 {
		t.Fatalf("%d jobs, %v; want the two committed ones", jobs, err)
	}
	if j, err := s.Job(ctx, done.ID); err != nil || j.Total != 5 {
		t.Fatalf("committed job: %+v, %v", j, err)
	}
	// Close drops the imports in progress with their files.
	if _, err := s.CreateImport(ctx, JobSpec{ID: "bj-open", ChunkSize: 10, Created: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddImportEntries(ctx, "bj-open", entries(10)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left := stagingFiles(t, s); !slices.Equal(left, []string{"README"}) {
		t.Fatalf("staging files left after Close: %v", left)
	}
}

func TestChunkLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	j := importJob(t, s, "bj-1", 4, entries(10)...) // chunks of 4, 4, 2
	if j.Chunks != 3 {
		t.Fatalf("%d chunks", j.Chunks)
	}
	steps := []struct {
		name      string
		do        func() (any, error)
		want      any
		sent      int64
		ack, fail int64
	}{
		{"begin 2", func() (any, error) { return s.BeginChunk(ctx, "bj-1", 2, t0) }, ChunkNew, 2, 0, 0},
		{"begin 2 again (resend)", func() (any, error) { return s.BeginChunk(ctx, "bj-1", 2, t0) }, ChunkSent, 2, 0, 0},
		{"begin 0", func() (any, error) { return s.BeginChunk(ctx, "bj-1", 0, t0) }, ChunkNew, 6, 0, 0},
		{"ack 2", func() (any, error) {
			j, err := s.FinishChunk(ctx, "bj-1", 2, ChunkResult{State: ChunkAcknowledged, Time: t0})
			return j.LastError == nil, err
		}, true, 6, 2, 0},
		{"ack 2 again changes nothing", func() (any, error) {
			_, err := s.FinishChunk(ctx, "bj-1", 2, ChunkResult{State: ChunkFailed, Code: "x", Time: t0})
			return nil, err
		}, nil, 6, 2, 0},
		{"begin 2 after ack", func() (any, error) { return s.BeginChunk(ctx, "bj-1", 2, t0) }, ChunkAcknowledged, 6, 2, 0},
		{"fail 0", func() (any, error) {
			j, err := s.FinishChunk(ctx, "bj-1", 0, ChunkResult{State: ChunkFailed, Code: "400", Message: "PARAM_ERROR: x", TOPRequestID: "r1", Time: t0.Add(time.Hour)})
			return *j.LastError, err
		}, JobError{Chunk: 0, Code: "400", Message: "PARAM_ERROR: x", TOPRequestID: "r1", Final: true, Time: t0.Add(time.Hour)}, 6, 2, 4},
		{"begin 0 after failure", func() (any, error) { return s.BeginChunk(ctx, "bj-1", 0, t0) }, ChunkFailed, 6, 2, 4},
	}
	for _, st := range steps {
		got, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want {
			t.Fatalf("%s = %+v, want %+v", st.name, got, st.want)
		}
		j, err := s.Job(ctx, "bj-1")
		if err != nil {
			t.Fatal(err)
		}
		if j.Sent != st.sent || j.Acknowledged != st.ack || j.Failed != st.fail {
			t.Fatalf("%s: sent %d ack %d failed %d; want %d %d %d", st.name, j.Sent, j.Acknowledged, j.Failed, st.sent, st.ack, st.fail)
		}
	}
	for _, bad := range []func() error{
		func() error {
			_, err := s.FinishChunk(ctx, "bj-1", 1, ChunkResult{State: ChunkAcknowledged})
			return err
		}, // not begun
		func() error { _, err := s.FinishChunk(ctx, "bj-1", 1, ChunkResult{State: ChunkSent}); return err },
		func() error { _, err := s.BeginChunk(ctx, "bj-1", 3, t0); return err },
		func() error { _, err := s.BeginChunk(ctx, "bj-nope", 0, t0); return err },
	} {
		if bad() == nil {
			t.Error("a bad chunk call succeeded")
		}
	}
}

func TestUpdateJobChecksState(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	importJob(t, s, "bj-1", 10, entries(3)...)
	j, err := s.UpdateJob(ctx, "bj-1", JobUpdate{From: []State{StateQueued}, State: StateRunning, Time: t0.Add(time.Hour)})
	if err != nil || j.State != StateRunning || !j.Updated.Equal(t0.Add(time.Hour)) {
		t.Fatalf("%+v, %v", j, err)
	}
	j, err = s.UpdateJob(ctx, "bj-1", JobUpdate{From: []State{StateQueued}, State: StateCancelled, Time: t0})
	if !errors.Is(err, ErrStateConflict) || j.State != StateRunning {
		t.Fatalf("conflicting update: %+v, %v", j, err)
	}
	e := &JobError{Chunk: -1, Code: "15", SubCode: "isp.top-remote-service-unavailable", Message: "try later", Time: t0}
	j, err = s.UpdateJob(ctx, "bj-1", JobUpdate{Error: e, Time: t0})
	if err != nil || j.State != StateRunning || *j.LastError != *e {
		t.Fatalf("error update: %+v, %v", j, err)
	}
	// A final error (a failed chunk) is not hidden by a later transient one.
	if _, err := s.BeginChunk(ctx, "bj-1", 0, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishChunk(ctx, "bj-1", 0, ChunkResult{State: ChunkFailed, Code: "400", Time: t0}); err != nil {
		t.Fatal(err)
	}
	j, err = s.UpdateJob(ctx, "bj-1", JobUpdate{Error: e, Time: t0})
	if err != nil || j.LastError == nil || !j.LastError.Final || j.LastError.Code != "400" {
		t.Fatalf("a transient error replaced a final one: %+v, %v", j.LastError, err)
	}
	if _, err := s.UpdateJob(ctx, "bj-nope", JobUpdate{Time: t0}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
}

// TestLastErrorShowsWhatStands: a failure being retried shows until its
// chunk is acknowledged, a final one until the end; a SUCCEEDED job shows
// none.
func TestLastErrorShowsWhatStands(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	importJob(t, s, "bj-1", 1, entries(3)...)
	retry := func(chunk int64, code string) func() error {
		return func() error {
			_, err := s.UpdateJob(ctx, "bj-1", JobUpdate{Error: &JobError{Chunk: chunk, Code: code, Message: "busy", Time: t0}, Time: t0})
			return err
		}
	}
	begin := func(chunk int64) func() error {
		return func() error { _, err := s.BeginChunk(ctx, "bj-1", chunk, t0); return err }
	}
	finish := func(chunk int64, state ChunkState) func() error {
		return func() error {
			_, err := s.FinishChunk(ctx, "bj-1", chunk, ChunkResult{State: state, Code: "400", Time: t0})
			return err
		}
	}
	to := func(state State) func() error {
		return func() error { _, err := s.UpdateJob(ctx, "bj-1", JobUpdate{State: state, Time: t0}); return err }
	}
	steps := []struct {
		name string
		do   func() error
		// want is the last error's chunk and code; chunk -2 means none.
		wantChunk int64
		wantCode  string
	}{
		{"start", to(StateRunning), -2, ""},
		{"begin 0", begin(0), -2, ""},
		{"begin 1", begin(1), -2, ""},
		{"chunk 0 retried", retry(0, "9999"), 0, "9999"},
		{"chunk 1 retried", retry(1, "15"), 1, "15"},
		{"chunk 0 acknowledged: chunk 1's failure still stands", finish(0, ChunkAcknowledged), 1, "15"},
		{"chunk 1 acknowledged: nothing stands", finish(1, ChunkAcknowledged), -2, ""},
		{"begin 2", begin(2), -2, ""},
		{"chunk 2 retried", retry(2, "9999"), 2, "9999"},
		{"chunk 2 acknowledged", finish(2, ChunkAcknowledged), -2, ""},
		{"a failure of no chunk", retry(-1, "7"), -1, "7"},
		{"succeeded: nothing stands", to(StateSucceeded), -2, ""},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		j, err := s.Job(ctx, "bj-1")
		if err != nil {
			t.Fatal(err)
		}
		switch e := j.LastError; {
		case st.wantChunk == -2 && e != nil:
			t.Fatalf("%s: last error %+v, want none", st.name, *e)
		case st.wantChunk != -2 && (e == nil || e.Chunk != st.wantChunk || e.Code != st.wantCode):
			t.Fatalf("%s: last error %+v, want chunk %d code %s", st.name, e, st.wantChunk, st.wantCode)
		}
	}

	// A chunk refused for good keeps showing, whatever is acknowledged.
	importJob(t, s, "bj-2", 1, entries(2)...)
	for _, n := range []int64{0, 1} {
		if _, err := s.BeginChunk(ctx, "bj-2", n, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.FinishChunk(ctx, "bj-2", 0, ChunkResult{State: ChunkFailed, Code: "400", Time: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishChunk(ctx, "bj-2", 1, ChunkResult{State: ChunkAcknowledged, Time: t0}); err != nil {
		t.Fatal(err)
	}
	j, err := s.UpdateJob(ctx, "bj-2", JobUpdate{State: StateFailed, Time: t0})
	if err != nil || j.LastError == nil || !j.LastError.Final || j.LastError.Chunk != 0 || j.LastError.Code != "400" {
		t.Fatalf("failed job: %+v, %v", j.LastError, err)
	}
}

func TestListJobsFiltersAndPages(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for i := range 7 {
		id := fmt.Sprintf("bj-%d", i)
		importJob(t, s, id, 10, entries(1)...)
		if i%2 == 1 {
			if _, err := s.UpdateJob(ctx, id, JobUpdate{State: StateSucceeded, Time: t0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.CreateImport(ctx, JobSpec{ID: "bj-importing", ChunkSize: 1, Created: t0}); err != nil {
		t.Fatal(err)
	}
	ids := func(q JobQuery) []string {
		t.Helper()
		var out []string
		for {
			page, err := s.ListJobs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range page.Jobs {
				out = append(out, j.ID)
			}
			if page.NextPageToken == "" {
				return out
			}
			q.PageToken = page.NextPageToken
		}
	}
	tests := []struct {
		name string
		q    JobQuery
		want []string
	}{
		{"all, newest first, pages of 3", JobQuery{PageSize: 3}, []string{"bj-6", "bj-5", "bj-4", "bj-3", "bj-2", "bj-1", "bj-0"}},
		{"oldest first, pages of 2", JobQuery{PageSize: 2, OldestFirst: true}, []string{"bj-0", "bj-1", "bj-2", "bj-3", "bj-4", "bj-5", "bj-6"}},
		{"succeeded", JobQuery{States: []State{StateSucceeded}, PageSize: 1}, []string{"bj-5", "bj-3", "bj-1"}},
		{"queued or succeeded of a supplier", JobQuery{States: []State{StateQueued, StateSucceeded}, SupplierID: "10000000001"}, []string{"bj-6", "bj-5", "bj-4", "bj-3", "bj-2", "bj-1", "bj-0"}},
		{"another supplier", JobQuery{SupplierID: "nobody"}, nil},
		{"importing is never listed", JobQuery{States: []State{StateImporting}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(tt.q); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	page, err := s.ListJobs(ctx, JobQuery{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"nope", base64.RawURLEncoding.EncodeToString([]byte("jobs:n:abc")), base64.RawURLEncoding.EncodeToString([]byte("other:n:1"))} {
		if _, err := s.ListJobs(ctx, JobQuery{PageToken: tok}); !errors.Is(err, ErrBadPageToken) {
			t.Errorf("token %q: %v", tok, err)
		}
	}
	if _, err := s.ListJobs(ctx, JobQuery{PageToken: page.NextPageToken, OldestFirst: true}); !errors.Is(err, ErrBadPageToken) {
		t.Errorf("a newest-first token used oldest first: %v", err)
	}
	counts, err := s.CountJobs(ctx)
	if err != nil || counts[StateQueued] != 4 || counts[StateSucceeded] != 3 || len(counts) != 2 {
		t.Fatalf("CountJobs = %v, %v", counts, err)
	}
}

// TestConcurrentWritersAndReaders runs chunk writes of several jobs and
// reads at once: writes are serialised, nothing fails with SQLITE_BUSY.
func TestConcurrentWritersAndReaders(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const jobs, chunks = 4, 25
	for i := range jobs {
		importJob(t, s, fmt.Sprintf("bj-%d", i), 2, entries(2*chunks)...)
	}
	var wg sync.WaitGroup
	errs := make(chan error, jobs*chunks*3)
	for i := range jobs {
		id := fmt.Sprintf("bj-%d", i)
		for n := range int64(chunks) {
			wg.Go(func() {
				if _, err := s.BeginChunk(ctx, id, n, t0); err != nil {
					errs <- err
					return
				}
				if _, err := s.ChunkEntries(ctx, id, n, nil); err != nil {
					errs <- err
				}
				if _, err := s.FinishChunk(ctx, id, n, ChunkResult{State: ChunkAcknowledged, Time: t0}); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range jobs {
		j, err := s.Job(ctx, fmt.Sprintf("bj-%d", i))
		if err != nil || j.Acknowledged != 2*chunks || j.Sent != 2*chunks {
			t.Errorf("job %d: %+v, %v", i, j, err)
		}
	}
}

// TestCommitSurvivesReopen: a committed import is on disk when the call
// returns.
func TestCommitSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	importJob(t, s, "bj-1", 100, entries(1000)...)
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM blacklist_entries").Scan(&n); err != nil || n != 1000 {
		t.Fatalf("%d entries on disk, %v", n, err)
	}
}

// TestDurableCommitsUseFullSync: the commits the API promises run with
// synchronous=FULL (2), the others with NORMAL (1).
func TestDurableCommitsUseFullSync(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	level := func(q querier) int {
		t.Helper()
		var v int
		if err := q.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := level(s.w); v != 1 {
		t.Fatalf("writes run with synchronous=%d, want 1 (NORMAL)", v)
	}
	inside := 0
	if err := s.durableTx(ctx, func(tx *sql.Tx) error { inside = level(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if inside != 2 || level(s.w) != 1 {
		t.Fatalf("durable commit ran with synchronous=%d, and left %d; want 2, then 1", inside, level(s.w))
	}
}
