package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob/syncjobtest"
	"github.com/servicecenterd/servicecenterd/internal/store/schema"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgtest"
)

// The cases every store passes run in internal/store (storetest); these
// are PostgreSQL's own: migrations under concurrency, replicas on one
// database, imports whose connection dies, a full disk.

var t0 = syncjobtest.T0

func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// versionsList are the schema versions of the migrations, oldest first.
func versionsList(t *testing.T) []int64 {
	t.Helper()
	m, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	vs, err := m.Versions()
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func latest(t *testing.T) int64 {
	t.Helper()
	m, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	v, err := m.Latest()
	if err != nil || v < 4 {
		t.Fatalf("latest version %d, %v", v, err)
	}
	return v
}

// versions lists the versions recorded, in order.
func versions(t *testing.T, s *Store) string {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), "SELECT version_id FROM "+schema.Table+" WHERE is_applied ORDER BY id")
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

// TestMigrations: a new database is migrated to the latest version once;
// a database at each older version carries its job on; a database newer
// than the binary is refused and left alone.
func TestMigrations(t *testing.T) {
	ctx := context.Background()
	want := latest(t)
	url := pgtest.NewDatabase(t)
	s := open(t, url)
	if m := s.Migrated(); m.From != 0 || m.To != want || len(m.Applied) != len(versionsList(t)) {
		t.Fatalf("migrated %+v, want 0 to %d", m, want)
	}
	wantVersions := versions(t, s)
	s.Close()
	again := open(t, url)
	if m := again.Migrated(); m.From != want || len(m.Applied) != 0 {
		t.Fatalf("reopened: migrated %+v", m)
	}

	for _, v := range versionsList(t) {
		if v == want {
			continue
		}
		t.Run(fmt.Sprint("from version ", v), func(t *testing.T) {
			url := pgtest.NewDatabase(t)
			old, err := openVersion(ctx, url, v)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				`INSERT INTO blacklist_jobs (id, supplier_id, operate_type, service_type, ability_type, chunk_size, state,
					received, total, chunks, sent, acknowledged, created_ns, updated_ns)
					VALUES ('bj-old', '10000000001', 1, 1, 1, 2, 2, 3, 3, 2, 3, 2, 1, 2)`,
				`INSERT INTO blacklist_entries (job, seq, mobile, reasons) SELECT key, s, 13800000000 + s, 2 FROM blacklist_jobs, generate_series(0, 2) AS s`,
				`INSERT INTO blacklist_chunks (job, idx, state, entries, updated_ns) SELECT key, i, 2 - i, 2 - i, 2 FROM blacklist_jobs, generate_series(0, 1) AS i`,
			} {
				if _, err := old.pool.Exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			old.Close()
			s := open(t, url)
			if m := s.Migrated(); m.From != v || m.To != want {
				t.Errorf("migrated %+v, want %d to %d", m, v, want)
			}
			if got := versions(t, s); got != wantVersions {
				t.Errorf("versions %s, want %s", got, wantVersions)
			}
			if prev, err := s.BeginChunk(ctx, "bj-old", 1, t0); err != nil || prev != syncjob.ChunkSent {
				t.Fatalf("BeginChunk(1) = %v, %v; want a resend", prev, err)
			}
			j, err := s.FinishChunk(ctx, "bj-old", 1, syncjob.ChunkResult{State: syncjob.ChunkFailed, Code: "400", TOPRequestID: "top-1", Time: t0})
			if err != nil || j.Failed != 1 || j.LastError == nil || j.LastError.TOPRequestID != "top-1" {
				t.Fatalf("job after a failed chunk: %+v, %v", j, err)
			}
			if err := s.Record(ctx, audit.Event{Time: t0, RPC: "/s.S/M"}); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("newer than the binary", func(t *testing.T) {
		url := pgtest.NewDatabase(t)
		s := open(t, url)
		if _, err := s.pool.Exec(ctx, "INSERT INTO "+schema.Table+" (version_id, is_applied) VALUES ($1, true)", want+1); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ctx, url); !errors.Is(err, schema.ErrNewer) {
			t.Fatalf("opened a database of version %d: %v", want+1, err)
		}
		if v, err := s.SchemaVersion(ctx); err != nil || v != want+1 {
			t.Fatalf("the refused database is at %d, %v; want it untouched", v, err)
		}
	})
}

// TestReplicasMigrateOnce: replicas that start at once on a new database
// migrate it once, one after the other (the advisory lock), and all open.
func TestReplicasMigrateOnce(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const replicas = 3
	stores := make([]*Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = Open(context.Background(), url) })
	}
	wg.Wait()
	applied := 0
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		defer s.Close()
		applied += len(s.Migrated().Applied)
	}
	if applied != len(versionsList(t)) {
		t.Errorf("%d migrations applied in all, want %d (each once)", applied, len(versionsList(t)))
	}
	if got, want := versions(t, stores[0]), fmt.Sprint(append([]int64{0}, versionsList(t)...)); got != want {
		t.Errorf("versions %s, want %s", got, want)
	}
}

// TestReplicasShareOneDatabase: two stores on one database, as two
// replicas: a job imported on one is seen on the other; chunks begun and
// finished on both at once count once each; audit events of both land in
// one trail; and neither drops the other's import in progress.
func TestReplicasShareOneDatabase(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	a, b := open(t, url), open(t, url)
	const chunks = 40
	syncjobtest.Import(t, a, "bj-1", 5, syncjobtest.Entries(5*chunks)...)
	if j, err := b.Job(ctx, "bj-1"); err != nil || j.Total != 5*chunks {
		t.Fatalf("the job on the other replica: %+v, %v", j, err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fresh = map[int64]int{}
	)
	for _, s := range []*Store{a, b} {
		for n := range int64(chunks) {
			wg.Go(func() {
				prev, err := s.BeginChunk(ctx, "bj-1", n, t0)
				if err != nil {
					t.Error(err)
					return
				}
				if prev == syncjob.ChunkNew {
					mu.Lock()
					fresh[n]++
					mu.Unlock()
				}
				if _, err := s.FinishChunk(ctx, "bj-1", n, syncjob.ChunkResult{State: syncjob.ChunkAcknowledged, Time: t0}); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	for n := range int64(chunks) {
		if fresh[n] != 1 {
			t.Errorf("chunk %d begun as new %d times, want once", n, fresh[n])
		}
	}
	if j, err := a.Job(ctx, "bj-1"); err != nil || j.Sent != 5*chunks || j.Acknowledged != 5*chunks {
		t.Fatalf("job after both replicas: sent %d acknowledged %d, %v; want %d each", j.Sent, j.Acknowledged, err, 5*chunks)
	}

	for i, s := range []*Store{a, b, a, b} {
		if err := s.Record(ctx, audit.Event{Time: t0, RPC: "/s.S/M", RequestID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Store{a, b} {
		evs, err := s.List(ctx, audit.Query{Limit: 10})
		if err != nil || len(evs) != 4 || evs[0].RequestID != "3" || evs[3].RequestID != "0" {
			t.Fatalf("trail: %+v, %v", evs, err)
		}
	}

	if _, err := a.CreateImport(ctx, syncjob.JobSpec{ID: "bj-2", SupplierID: syncjobtest.Supplier, ChunkSize: 10, Created: t0}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddImportEntries(ctx, "bj-2", syncjobtest.Entries(100)); err != nil {
		t.Fatal(err)
	}
	if n, err := b.DeleteStaleImports(ctx); err != nil || n != 0 {
		t.Fatalf("DeleteStaleImports on the other replica: %d, %v", n, err)
	}
	if _, err := b.CommitImport(ctx, "bj-2", syncjob.ImportCounts{Received: 100}, t0); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("commit of another replica's import: %v", err)
	}
	if j, err := a.CommitImport(ctx, "bj-2", syncjob.ImportCounts{Received: 100}, t0); err != nil || j.Total != 100 {
		t.Fatalf("commit: %+v, %v", j, err)
	}
}

// tempTables counts the import tables in the database, of every session.
func tempTables(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(),
		"SELECT COUNT(*) FROM pg_class WHERE relname = 'blacklist_import' AND relpersistence = 't'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestImportsLeaveNothingBehind: an import's staging table lives as long
// as its import: gone at the commit, at a delete, at Close, and when its
// connection dies (as when the process is killed), which fails the import
// without harm to the store.
func TestImportsLeaveNothingBehind(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, watcher := open(t, url), open(t, url)
	create := func(id string) {
		t.Helper()
		if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: id, SupplierID: syncjobtest.Supplier, ChunkSize: 10, Created: t0}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddImportEntries(ctx, id, syncjobtest.Entries(50)); err != nil {
			t.Fatal(err)
		}
	}
	create("bj-commit")
	create("bj-delete")
	create("bj-killed")
	if n := tempTables(t, watcher); n != 3 {
		t.Fatalf("%d staging tables, want 3", n)
	}
	if _, err := s.CommitImport(ctx, "bj-commit", syncjob.ImportCounts{Received: 50}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteImport(ctx, "bj-delete"); err != nil {
		t.Fatal(err)
	}
	if n := tempTables(t, watcher); n != 1 {
		t.Fatalf("%d staging tables after a commit and a delete, want 1", n)
	}

	// The connection of bj-killed dies.
	var pid uint32
	s.mu.Lock()
	pid = s.imports["bj-killed"].conn.Conn().PgConn().PID()
	s.mu.Unlock()
	var killed bool
	if err := watcher.pool.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend: %v, %v", killed, err)
	}
	for deadline := time.Now().Add(30 * time.Second); tempTables(t, watcher) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the killed session's staging table stayed")
		}
	}
	if err := s.AddImportEntries(ctx, "bj-killed", syncjobtest.Entries(1)); err == nil {
		t.Fatal("an import whose connection died took entries")
	}
	if _, err := s.CommitImport(ctx, "bj-killed", syncjob.ImportCounts{Received: 50}, t0); err == nil {
		t.Fatal("an import whose connection died committed")
	}
	if err := s.DeleteImport(ctx, "bj-killed"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Job(ctx, "bj-killed"); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("the killed import left a job: %v", err)
	}
	// The store carries on.
	create("bj-after")
	if j, err := s.CommitImport(ctx, "bj-after", syncjob.ImportCounts{Received: 50}, t0); err != nil || j.Total != 50 {
		t.Fatalf("an import after: %+v, %v", j, err)
	}
	create("bj-open")
	s.Close()
	if n := tempTables(t, watcher); n != 0 {
		t.Fatalf("%d staging tables after Close", n)
	}
}

// TestImportSlots: imports in progress hold a connection each, at most
// half the pool's; one more waits for a slot (or its context's end).
func TestImportSlots(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.WithParams(pgtest.NewDatabase(t), "pool_max_conns=2"))
	if cap(s.importSlots) != 1 {
		t.Fatalf("%d import slots of a pool of 2, want 1", cap(s.importSlots))
	}
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: "bj-1", ChunkSize: 10, Created: t0}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := s.CreateImport(short, syncjob.JobSpec{ID: "bj-2", ChunkSize: 10, Created: t0})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second import with no slot: %v", err)
	}
	// The other calls still have a connection.
	if _, err := s.Job(ctx, "bj-0"); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.CreateImport(ctx, syncjob.JobSpec{ID: "bj-3", ChunkSize: 10, Created: t0})
		done <- err
	}()
	if err := s.DeleteImport(ctx, "bj-1"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the waiting import: %v", err)
	}
}
