package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob/syncjobtest"
	"github.com/servicecenterd/servicecenterd/internal/store/schema"
)

// t0 is syncjobtest.T0, the time of the cases.
var t0 = syncjobtest.T0

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStagingFiles: an import in progress is a file of its own in the
// staging directory, gone once committed or deleted; DeleteStaleImports
// deletes the files a crash left (and only ours), and Close drops the
// imports in progress with their files.
func TestStagingFiles(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, id := range []string{"bj-a", "bj-b", "bj-c"} {
		if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: id, ChunkSize: 10, Created: t0}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddImportEntries(ctx, id, syncjobtest.Entries(250)); err != nil {
			t.Fatal(err)
		}
	}
	if left := stagingFiles(t, s); !slices.Equal(left, []string{"bj-a.import", "bj-b.import", "bj-c.import"}) {
		t.Fatalf("staging files of three imports: %v", left)
	}
	if err := s.DeleteImport(ctx, "bj-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CommitImport(ctx, "bj-c", syncjob.ImportCounts{Received: 250}, t0); err != nil {
		t.Fatal(err)
	}
	if left := stagingFiles(t, s); !slices.Equal(left, []string{"bj-b.import"}) {
		t.Fatalf("staging files after a delete and a commit: %v; want the live import's", left)
	}
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
	if j, err := s.CommitImport(ctx, "bj-b", syncjob.ImportCounts{Received: 250}, t0); err != nil || j.Total != 250 {
		t.Fatalf("commit of the live import: %+v, %v", j, err)
	}
	var jobs int
	if err := s.r.QueryRow("SELECT COUNT(*) FROM blacklist_jobs").Scan(&jobs); err != nil || jobs != 2 {
		t.Fatalf("%d jobs, %v; want the two committed ones", jobs, err)
	}
	// Close drops the imports in progress with their files.
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: "bj-open", ChunkSize: 10, Created: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddImportEntries(ctx, "bj-open", syncjobtest.Entries(10)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left := stagingFiles(t, s); !slices.Equal(left, []string{"README"}) {
		t.Fatalf("staging files left after Close: %v", left)
	}
}

// stagingFiles lists the files in the store's staging directory.
func stagingFiles(t *testing.T, s *Store) []string {
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

// versionsList are the schema versions of the migrations, oldest first.
func versionsList(t *testing.T) []int64 {
	t.Helper()
	vs, err := Migrations().Versions()
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// newerThan counts the versions of the migrations above v.
func newerThan(t *testing.T, v int64) int {
	t.Helper()
	n := 0
	for _, x := range versionsList(t) {
		if x > v {
			n++
		}
	}
	return n
}

// latest is the newest schema version of the migrations.
func latest(t *testing.T) int64 {
	t.Helper()
	v, err := Migrations().Latest()
	if err != nil || v < legacyVersions {
		t.Fatalf("latest version %d, %v", v, err)
	}
	return v
}

// userVersion reads the file's PRAGMA user_version.
func userVersion(t *testing.T, s *Store) int64 {
	t.Helper()
	var v int64
	if err := s.r.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenCreatesPrivateFileAtLatestVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := latest(t)
	v, err := s.SchemaVersion(context.Background())
	if err != nil || v != want || s.Migrated().From != 0 || s.Migrated().To != want || len(s.Migrated().Applied) != len(versionsList(t)) {
		t.Fatalf("version %d, %v, migrated %+v; want %d", v, err, s.Migrated(), want)
	}
	// servicecenterd before goose reads PRAGMA user_version: it must see
	// the version too, to refuse a file newer than it knows.
	if uv := userVersion(t, s); uv != want {
		t.Errorf("user_version %d, want %d", uv, want)
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
	if v, err := s2.SchemaVersion(context.Background()); err != nil || v != want || len(s2.Migrated().Applied) != 0 || s2.Migrated().From != want {
		t.Fatalf("version after reopening %d, %v, migrated %+v", v, err, s2.Migrated())
	}
	s2.Close()
}

// TestOpenRefusesNewerSchemaAndBadPaths: a file a newer servicecenterd
// migrated further is refused and left as it is, and so is a file whose
// user_version is beyond what servicecenterd wrote before goose.
func TestOpenRefusesNewerSchemaAndBadPaths(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	newer := latest(t) + 1
	if _, err := s.w.Exec("INSERT INTO "+schema.Table+" (version_id, is_applied) VALUES (?, 1)", newer); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, path); !errors.Is(err, schema.ErrNewer) {
		t.Fatalf("opened a file of schema version %d: %v", newer, err)
	}
	if s, err := openVersion(ctx, path, 1); !errors.Is(err, schema.ErrNewer) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("opened a file of schema version %d to migrate it to 1: %v", newer, err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := schema.Version(ctx, db); err != nil || v != newer {
		t.Fatalf("the refused file is at version %d, %v; want it untouched at %d", v, err, newer)
	}

	// Before goose, no servicecenterd wrote a user_version beyond 4.
	odd := legacyFile(t, t.TempDir(), legacyVersions, "PRAGMA user_version = 9")
	if _, err := Open(ctx, odd); !errors.Is(err, schema.ErrNewer) {
		t.Fatalf("opened a file of user_version 9 without a version table: %v", err)
	}

	for _, p := range []string{"", "a?b", "x#y", filepath.Join(t.TempDir(), "missing-dir", FileName)} {
		if _, err := Open(ctx, p); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// schemaOf lists the database's tables and indexes with their SQL.
func schemaOf(t *testing.T, s *Store) []string {
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

// appliedVersions lists the versions recorded in the version table.
func appliedVersions(t *testing.T, s *Store) string {
	t.Helper()
	rows, err := s.r.Query("SELECT version_id FROM " + schema.Table + " WHERE is_applied ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return fmt.Sprint(out)
}

// oldJob is a running job of 3 entries in chunks of 2, chunk 0
// acknowledged and chunk 1 begun, written with the version 1 columns
// only; then an import a crash interrupted, staged in the database as
// versions 1 to 3 did (the migration to 4 drops it).
func oldJob(version int64) []string {
	q := []string{
		`INSERT INTO blacklist_jobs (key, id, supplier_id, operate_type, service_type, ability_type, chunk_size, state,
			received, total, chunks, sent, acknowledged, created_ns, updated_ns)
			VALUES (1, 'bj-old', '10000000001', 1, 1, 1, 2, 2, 3, 3, 2, 3, 2, 1, 2)`,
		`INSERT INTO blacklist_entries (job, seq, mobile, reasons) VALUES (1, 0, 13800000000, 2), (1, 1, 13800000001, 2), (1, 2, 13800000002, 6)`,
		`INSERT INTO blacklist_chunks (job, idx, state, entries, updated_ns) VALUES (1, 0, 2, 2, 2), (1, 1, 1, 1, 2)`,
	}
	if version < 4 {
		q = append(q,
			`INSERT INTO blacklist_jobs (key, id, supplier_id, operate_type, service_type, ability_type, chunk_size, state, created_ns, updated_ns)
				VALUES (2, 'bj-importing', '10000000001', 1, 1, 1, 2, 9, 1, 1)`,
			`INSERT INTO blacklist_import_entries (job, pos, mobile, reasons) VALUES (2, 0, 13800000009, 2)`)
	}
	if version >= 3 {
		q = append(q, `INSERT INTO audit_events (time_ns, client, rpc, outcome) VALUES (1, 'old', '/s.S/M', 0)`)
	}
	return q
}

// TestMigrateFromEveryVersion opens a file left at each older schema
// version, with a job mid-way written as that version wrote it, and checks
// that Open migrates it to the same schema as a new file, that every
// version is recorded, and that the job carries on. The files are of both
// kinds: written before goose (PRAGMA user_version only, by the frozen
// legacy migrator, legacy_test.go), and by goose stopped at that version.
func TestMigrateFromEveryVersion(t *testing.T) {
	ctx := context.Background()
	fresh := openTest(t)
	want := schemaOf(t, fresh)
	wantVersions := appliedVersions(t, fresh)
	var cases []struct {
		name    string
		version int64
		write   func(t *testing.T, dir string) string
	}
	for _, v := range versionsList(t) {
		if v == latest(t) {
			continue
		}
		cases = append(cases, struct {
			name    string
			version int64
			write   func(t *testing.T, dir string) string
		}{fmt.Sprintf("goose at version %d", v), v, func(t *testing.T, dir string) string {
			path := filepath.Join(dir, FileName)
			old, err := openVersion(ctx, path, v)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := old.SchemaVersion(ctx); err != nil || got != v {
				t.Fatalf("opened at version %d, %v; want %d", got, err, v)
			}
			for _, q := range oldJob(v) {
				if _, err := old.w.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			old.Close()
			return path
		}})
	}
	for v := int64(1); v <= legacyVersions; v++ {
		cases = append(cases, struct {
			name    string
			version int64
			write   func(t *testing.T, dir string) string
		}{fmt.Sprintf("before goose, user_version %d", v), v, func(t *testing.T, dir string) string {
			return legacyFile(t, dir, int(v), oldJob(v)...)
		}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.write(t, t.TempDir())
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := schemaOf(t, s); !slices.Equal(got, want) {
				t.Errorf("migrated schema differs from a new one:\n got %q\nwant %q", got, want)
			}
			if got := appliedVersions(t, s); got != wantVersions {
				t.Errorf("versions recorded %s, want %s", got, wantVersions)
			}
			if m := s.Migrated(); m.From != c.version || m.To != latest(t) || len(m.Applied) != newerThan(t, c.version) {
				t.Errorf("migrated %+v, want from %d to %d", m, c.version, latest(t))
			}
			if uv := userVersion(t, s); uv != latest(t) {
				t.Errorf("user_version %d, want %d", uv, latest(t))
			}
			var rows int
			if err := s.r.QueryRow("SELECT COUNT(*) FROM blacklist_jobs").Scan(&rows); err != nil || rows != 1 {
				t.Errorf("%d job rows after migration, %v; want the interrupted import dropped", rows, err)
			}
			j, err := s.Job(ctx, "bj-old")
			if err != nil {
				t.Fatal(err)
			}
			if j.State != syncjob.StateRunning || j.Total != 3 || j.Acknowledged != 2 || j.LastError != nil {
				t.Fatalf("job after migration: %+v", j)
			}
			if prev, err := s.BeginChunk(ctx, "bj-old", 1, t0); err != nil || prev != syncjob.ChunkSent {
				t.Fatalf("BeginChunk(1) = %v, %v; want a resend", prev, err)
			}
			got, err := s.ChunkEntries(ctx, "bj-old", 1, nil)
			if err != nil || len(got) != 1 || got[0].Mobile != "13800000002" || got[0].Reasons != 6 {
				t.Fatalf("chunk 1 = %+v, %v", got, err)
			}
			j, err = s.FinishChunk(ctx, "bj-old", 1, syncjob.ChunkResult{State: syncjob.ChunkFailed, Code: "400", Message: "PARAM_ERROR", TOPRequestID: "top-1", Time: t0})
			if err != nil {
				t.Fatal(err)
			}
			if j.Failed != 1 || j.LastError == nil || j.LastError.TOPRequestID != "top-1" || !j.LastError.Final {
				t.Fatalf("job after a failed chunk: %+v %+v", j, j.LastError)
			}
			page, err := s.ListJobs(ctx, syncjob.JobQuery{SupplierID: "10000000001"})
			if err != nil || len(page.Jobs) != 1 {
				t.Fatalf("ListJobs by supplier: %+v, %v", page, err)
			}
			if err := s.Record(ctx, audit.Event{Time: t0, RPC: "/s.S/M", Client: "ops"}); err != nil {
				t.Fatalf("audit trail after migration: %v", err)
			}
			wantID := int64(1)
			if c.version >= 3 {
				wantID = 2 // after the old event
			}
			if evs, err := s.List(ctx, audit.Query{Limit: 10, Client: "ops"}); err != nil || len(evs) != 1 || evs[0].ID != wantID {
				t.Fatalf("audit trail after migration: %+v, %v; want event %d", evs, err, wantID)
			}
		})
	}
}

// TestLegacySchemaIsGooseSchema: the goose migrations build exactly the
// schema the legacy migrator built, version by version (goose's own
// table aside).
func TestLegacySchemaIsGooseSchema(t *testing.T) {
	ctx := context.Background()
	for v := int64(1); v <= legacyVersions; v++ {
		t.Run(fmt.Sprint("version ", v), func(t *testing.T) {
			dir := t.TempDir()
			legacy := legacyFile(t, dir, int(v))
			db, err := sql.Open("sqlite", "file:"+legacy+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var legacySchema []string
			rows, err := db.Query("SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_master ORDER BY type, name")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				legacySchema = append(legacySchema, line)
			}
			rows.Close()
			s, err := openVersion(ctx, filepath.Join(t.TempDir(), FileName), v)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var gooseSchema []string
			for _, line := range schemaOf(t, s) {
				if !strings.Contains(line, schema.Table) && !strings.HasPrefix(line, "table sqlite_sequence:") {
					gooseSchema = append(gooseSchema, line)
				}
			}
			if v >= 3 { // audit_events has AUTOINCREMENT, so sqlite_sequence is ours too
				gooseSchema = append(gooseSchema, "table sqlite_sequence: CREATE TABLE sqlite_sequence(name,seq)")
				slices.Sort(gooseSchema)
			}
			if !slices.Equal(gooseSchema, legacySchema) {
				t.Errorf("goose schema at %d:\n%q\nlegacy:\n%q", v, gooseSchema, legacySchema)
			}
		})
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
	syncjobtest.Import(t, s, "bj-1", 100, syncjobtest.Entries(1000)...)
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

// TestBridgeFileFromMain opens a store file that servicecenterd wrote
// before goose (testdata/README.md): the bridge records its versions, it
// is migrated to the latest, and its jobs and audit trail carry on.
func TestBridgeFileFromMain(t *testing.T) {
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join("testdata", "main-de4cb8e.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := latest(t)
	if m := s.Migrated(); m.From != legacyVersions || m.To != want || len(m.Applied) != newerThan(t, legacyVersions) {
		t.Errorf("migrated %+v, want from %d to %d", m, legacyVersions, want)
	}
	if got := appliedVersions(t, s); got != appliedVersions(t, openTest(t)) {
		t.Errorf("versions recorded %s", got)
	}
	if uv := userVersion(t, s); uv != want {
		t.Errorf("user_version %d, want %d", uv, want)
	}
	created := time.Date(2026, 11, 23, 9, 0, 0, 123, time.UTC)
	done, err := s.Job(ctx, "bj-done")
	if err != nil || done.State != syncjob.StateSucceeded || done.Total != 20 || done.Received != 21 || done.Rejected != 1 ||
		done.Acknowledged != 20 || !done.Created.Equal(created) || done.LastError != nil {
		t.Fatalf("bj-done: %+v, %v", done, err)
	}
	running, err := s.Job(ctx, "bj-running")
	if err != nil || running.State != syncjob.StateRunning || running.Chunks != 3 || running.Sent != 20 || running.Failed != 10 ||
		running.LastError == nil || !running.LastError.Final || running.LastError.TOPRequestID != "top-old" {
		t.Fatalf("bj-running: %+v %+v, %v", running, running.LastError, err)
	}
	if prev, err := s.BeginChunk(ctx, "bj-running", 1, t0); err != nil || prev != syncjob.ChunkSent {
		t.Fatalf("chunk 1: %v, %v; want a resend", prev, err)
	}
	if prev, err := s.BeginChunk(ctx, "bj-running", 2, t0); err != nil || prev != syncjob.ChunkNew {
		t.Fatalf("chunk 2: %v, %v; want new", prev, err)
	}
	if es, err := s.ChunkEntries(ctx, "bj-running", 2, nil); err != nil || len(es) != 5 || es[4].Mobile != "13800000024" || es[4].Reasons != 1<<2 {
		t.Fatalf("chunk 2: %+v, %v", es, err)
	}
	for _, n := range []int64{1, 2} {
		if _, err := s.FinishChunk(ctx, "bj-running", n, syncjob.ChunkResult{State: syncjob.ChunkAcknowledged, Time: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if j, err := s.Job(ctx, "bj-running"); err != nil || j.Acknowledged != 15 || j.Sent != 25 {
		t.Fatalf("bj-running after its last chunks: %+v, %v", j, err)
	}
	evs, err := s.List(ctx, audit.Query{Limit: 10})
	if err != nil || len(evs) != 2 || evs[0].Client != "dispatch" || evs[1].ID != 1 || len(evs[1].Targets) != 1 || evs[1].Targets[0].ID != "2345678" {
		t.Fatalf("audit trail: %+v, %v", evs, err)
	}
	if err := s.Record(ctx, audit.Event{Time: t0, RPC: "/s.S/M", RequestID: "new"}); err != nil {
		t.Fatal(err)
	}
	if evs, err := s.List(ctx, audit.Query{Limit: 1}); err != nil || evs[0].ID != 3 {
		t.Fatalf("the next event: %+v, %v; want id 3", evs, err)
	}
	s.Close()
	again, err := Open(ctx, path)
	if err != nil || len(again.Migrated().Applied) != 0 || again.Migrated().From != want {
		t.Fatalf("reopened: %+v, %v", again, err)
	}
	again.Close()
}
