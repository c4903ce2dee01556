// Package syncjobtest holds the cases every syncjob.Store must pass, so
// that each backend is held to the same behaviour: call TestStore from
// each implementation's tests. What only one backend has (SQLite's staging
// files, migrations, durability across a crash) stays in that backend's
// own tests.
package syncjobtest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
)

// T0 is the creation time of the jobs the cases import.
var T0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// Supplier is the supplier_id of the jobs Import makes.
const Supplier = "10000000001"

// TestStore runs every case against fresh, empty stores made by open.
func TestStore(t *testing.T, open func(t *testing.T) syncjob.Store) {
	t.Helper()
	cases := []struct {
		name string
		run  func(*testing.T, syncjob.Store)
	}{
		{"import collapses duplicates and numbers entries", testImportCollapsesDuplicates},
		{"import refuses bad mobiles", testImportRefusesBadMobiles},
		{"delete imports", testDeleteImports},
		{"chunk lifecycle", testChunkLifecycle},
		{"update job checks state", testUpdateJobChecksState},
		{"last error shows what stands", testLastErrorShowsWhatStands},
		{"list jobs filters and pages", testListJobsFiltersAndPages},
		{"concurrent writers and readers", testConcurrentWritersAndReaders},
		{"canceled", testCanceled},
		{"create import checks its spec", testCreateImportChecksSpec},
		{"list jobs refuses forged tokens", testListJobsRefusesForgedTokens},
		{"times keep nanoseconds", testTimesKeepNanoseconds},
		{"final errors", testFinalErrors},
		{"prune entries of finished jobs", testPruneJobEntries},
		{"rejections are listed by pages", testRejections},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// Mobile is the i-th test mobile number (13800000000 + i).
func Mobile(i int) string { return fmt.Sprintf("138%08d", i) }

// Entries returns n distinct entries at positions 0 to n-1, reason 1.
func Entries(n int) []syncjob.Entry {
	out := make([]syncjob.Entry, n)
	for i := range out {
		out[i] = syncjob.Entry{Pos: int64(i), Mobile: Mobile(i), Reasons: 1 << 1}
	}
	return out
}

// Import creates and commits a job of Supplier with the given entries (at
// positions 0, 1, 2...), created at T0 and committed a second later.
func Import(t testing.TB, s syncjob.Store, id string, chunkSize int, entries ...syncjob.Entry) syncjob.Job {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: id, SupplierID: Supplier, OperateType: 1, ServiceType: 1, AbilityType: 1, ChunkSize: chunkSize, Created: T0}); err != nil {
		t.Fatal(err)
	}
	for i := range entries {
		entries[i].Pos = int64(i)
	}
	if err := s.AddImportEntries(ctx, id, entries); err != nil {
		t.Fatal(err)
	}
	j, err := s.CommitImport(ctx, id, syncjob.ImportCounts{Received: int64(len(entries))}, T0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// sameError reports whether two job errors are equal, times compared as
// instants.
func sameError(a, b *syncjob.JobError) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.Time, y.Time = time.Time{}, time.Time{}
	return x == y && a.Time.Equal(b.Time)
}

func testImportCollapsesDuplicates(t *testing.T, s syncjob.Store) {
	ctx := context.Background()
	in := []syncjob.Entry{
		{Mobile: Mobile(1), Reasons: 1 << 1},
		{Mobile: Mobile(2), Reasons: 1 << 2},
		{Mobile: Mobile(1), Reasons: 1<<3 | 1<<4}, // duplicate: its reasons win, at its position
		{Mobile: Mobile(3), Reasons: 0},
		{Mobile: Mobile(2), Reasons: 1 << 2},
	}
	created, err := s.CreateImport(ctx, syncjob.JobSpec{ID: "bj-1", SupplierID: "s", OperateType: 1, ServiceType: 1, AbilityType: 1, ChunkSize: 2, Created: T0})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID != "bj-1" || created.State != syncjob.StateImporting {
		t.Fatalf("created import %+v", created)
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
	if _, err := s.Job(ctx, "bj-1"); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("uncommitted job visible: %v", err)
	}
	if page, _ := s.ListJobs(ctx, syncjob.JobQuery{}); len(page.Jobs) != 0 {
		t.Fatalf("uncommitted job listed: %+v", page)
	}
	if counts, err := s.CountJobs(ctx); err != nil || len(counts) != 0 {
		t.Fatalf("uncommitted job counted: %v, %v", counts, err)
	}
	if _, err := s.ChunkEntries(ctx, "bj-1", 0, nil); err == nil {
		t.Fatal("chunk of an uncommitted job")
	}
	j, err := s.CommitImport(ctx, "bj-1", syncjob.ImportCounts{Received: 7, Rejected: 2}, T0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if j.State != syncjob.StateQueued || j.Received != 7 || j.Rejected != 2 || j.Duplicates != 2 || j.Total != 3 || j.Chunks != 2 ||
		!j.Updated.Equal(T0.Add(time.Minute)) || !j.Created.Equal(T0) || j.SupplierID != "s" || j.ChunkSize != 2 || j.LastError != nil {
		t.Fatalf("committed job %+v", j)
	}
	if again, err := s.Job(ctx, "bj-1"); err != nil || again.Total != 3 || again.State != syncjob.StateQueued {
		t.Fatalf("Job after the commit: %+v, %v", again, err)
	}
	// Order of the last occurrences: mobile 1 (pos 20), 3 (30), 2 (40).
	want := [][]syncjob.Entry{
		{{Pos: 0, Mobile: Mobile(1), Reasons: 1<<3 | 1<<4}, {Pos: 1, Mobile: Mobile(3)}},
		{{Pos: 2, Mobile: Mobile(2), Reasons: 1 << 2}},
	}
	for n, w := range want {
		got, err := s.ChunkEntries(ctx, "bj-1", int64(n), nil)
		if err != nil || !slices.Equal(got, w) {
			t.Errorf("chunk %d = %+v, %v; want %+v", n, got, err, w)
		}
	}
	// ChunkEntries appends to dst.
	dst := []syncjob.Entry{{Mobile: "x"}}
	if got, err := s.ChunkEntries(ctx, "bj-1", 1, dst); err != nil || len(got) != 2 || got[0].Mobile != "x" || got[1] != want[1][0] {
		t.Errorf("chunk 1 appended = %+v, %v", got, err)
	}
	if _, err := s.ChunkEntries(ctx, "bj-1", 2, nil); err == nil {
		t.Error("chunk 2 of 2 read")
	}
	if _, err := s.ChunkEntries(ctx, "bj-1", -1, nil); err == nil {
		t.Error("chunk -1 read")
	}
	if _, err := s.CommitImport(ctx, "bj-1", syncjob.ImportCounts{}, T0); !errors.Is(err, syncjob.ErrStateConflict) {
		t.Errorf("second commit: %v", err)
	}
	if err := s.DeleteImport(ctx, "bj-1"); !errors.Is(err, syncjob.ErrStateConflict) {
		t.Errorf("delete of a committed job: %v", err)
	}
	if err := s.AddImportEntries(ctx, "bj-1", Entries(1)); !errors.Is(err, syncjob.ErrStateConflict) {
		t.Errorf("add to a committed job: %v", err)
	}
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: "bj-1", ChunkSize: 2, Created: T0}); err == nil {
		t.Error("an import reused a job's id")
	}
	if _, err := s.CommitImport(ctx, "bj-nope", syncjob.ImportCounts{}, T0); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Errorf("commit of an unknown import: %v", err)
	}
}

func testImportRefusesBadMobiles(t *testing.T, s syncjob.Store) {
	ctx := context.Background()
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: "bj-1", ChunkSize: 100, Created: T0}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"", "2380000000x", "1380000000", "+8613800000000"} {
		// A good entry in the same call is not staged either.
		batch := []syncjob.Entry{{Pos: 0, Mobile: Mobile(0)}, {Pos: 1, Mobile: m}}
		if err := s.AddImportEntries(ctx, "bj-1", batch); err == nil {
			t.Errorf("mobile %q stored", m)
		}
	}
	if err := s.AddImportEntries(ctx, "bj-1", []syncjob.Entry{{Pos: 2, Mobile: Mobile(2)}}); err != nil {
		t.Fatal(err)
	}
	j, err := s.CommitImport(ctx, "bj-1", syncjob.ImportCounts{Received: 9, Rejected: 8}, T0)
	if err != nil || j.Total != 1 {
		t.Fatalf("commit after refused batches: %+v, %v; want the one good entry", j, err)
	}
}

func testDeleteImports(t *testing.T, s syncjob.Store) {
	ctx := context.Background()
	for _, id := range []string{"bj-a", "bj-b"} {
		if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: id, SupplierID: Supplier, ChunkSize: 10, Created: T0}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddImportEntries(ctx, id, Entries(250)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteImport(ctx, "bj-a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteImport(ctx, "bj-a"); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.AddImportEntries(ctx, "bj-a", Entries(1)); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("add to a deleted import: %v", err)
	}
	if _, err := s.CommitImport(ctx, "bj-a", syncjob.ImportCounts{Received: 250}, T0); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("commit of a deleted import: %v", err)
	}
	done := Import(t, s, "bj-done", 10, Entries(5)...)
	// Nothing was left by a crash: the import in progress is not stale.
	if n, err := s.DeleteStaleImports(ctx); err != nil || n != 0 {
		t.Fatalf("DeleteStaleImports = %d, %v; want 0", n, err)
	}
	j, err := s.CommitImport(ctx, "bj-b", syncjob.ImportCounts{Received: 250}, T0)
	if err != nil || j.Total != 250 || j.Chunks != 25 {
		t.Fatalf("commit of the live import: %+v, %v", j, err)
	}
	page, err := s.ListJobs(ctx, syncjob.JobQuery{})
	if err != nil || len(page.Jobs) != 2 || page.Jobs[0].ID != "bj-b" || page.Jobs[1].ID != done.ID {
		t.Fatalf("jobs after deletes: %+v, %v; want bj-b and bj-done", page, err)
	}
	if j, err := s.Job(ctx, done.ID); err != nil || j.Total != 5 {
		t.Fatalf("committed job: %+v, %v", j, err)
	}
}

func testChunkLifecycle(t *testing.T, s syncjob.Store) {
	ctx := context.Background()
	j := Import(t, s, "bj-1", 4, Entries(10)...) // chunks of 4, 4, 2
	if j.Chunks != 3 || j.Total != 10 {
		t.Fatalf("%d chunks of %d entries", j.Chunks, j.Total)
	}
	failure := &syncjob.JobError{Chunk: 0, Code: "400", Message: "PARAM_ERROR: x", TOPRequestID: "r1", Final: true, Time: T0.Add(time.Hour)}
	steps := []struct {
		name      string
		do        func() (any, error)
		want      any
		sent      int64
		ack, fail int64
	}{
		{"begin 2", func() (any, error) { return s.BeginChunk(ctx, "bj-1", 2, T0) }, syncjob.ChunkNew, 2, 0, 0},
		{"begin 2 again (resend)", func() (any, error) { return s.BeginChunk(ctx, "bj-1", 2, T0) }, syncjob.ChunkSent, 2, 0, 0},
		{"begin 0", func() (any, error) { return s.BeginChunk(ctx, "bj-1", 0, T0) }, syncjob.ChunkNew, 6, 0, 0},
		{"ack 2", func() (any, error) {
			j, err := s.FinishChunk(ctx, "bj-1", 2, syncjob.ChunkResult{State: syncjob.ChunkAcknowledged, Time: T0})
			return j.LastError == nil, err
		}, true, 6, 2, 0},
		{"ack 2 again changes nothing", func() (any, error) {
			_, err := s.FinishChunk(ctx, "bj-1", 2, syncjob.ChunkResult{State: syncjob.ChunkFailed, Code: "x", Time: T0})
			return nil, err
		}, nil, 6, 2, 0},
		{"begin 2 after ack", func() (any, error) { return s.BeginChunk(ctx, "bj-1", 2, T0) }, syncjob.ChunkAcknowledged, 6, 2, 0},
		{"fail 0", func() (any, error) {
			j, err := s.FinishChunk(ctx, "bj-1", 0, syncjob.ChunkResult{State: syncjob.ChunkFailed, Code: "400", Message: "PARAM_ERROR: x", TOPRequestID: "r1", Time: T0.Add(time.Hour)})
			return sameError(j.LastError, failure), err
		}, true, 6, 2, 4},
		{"begin 0 after failure", func() (any, error) { return s.BeginChunk(ctx, "bj-1", 0, T0) }, syncjob.ChunkFailed, 6, 2, 4},
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
	bad := []struct {
		name string
		call func() error
	}{
		{"finish a chunk not begun", func() error {
			_, err := s.FinishChunk(ctx, "bj-1", 1, syncjob.ChunkResult{State: syncjob.ChunkAcknowledged})
			return err
		}},
		{"finish with a state that is no outcome", func() error {
			_, err := s.FinishChunk(ctx, "bj-1", 1, syncjob.ChunkResult{State: syncjob.ChunkSent})
			return err
		}},
		{"begin a chunk out of range", func() error { _, err := s.BeginChunk(ctx, "bj-1", 3, T0); return err }},
		{"begin a chunk of an unknown job", func() error { _, err := s.BeginChunk(ctx, "bj-nope", 0, T0); return err }},
	}
	for _, b := range bad {
		if b.call() == nil {
			t.Errorf("%s: succeeded", b.name)
		}
	}
}

func testUpdateJobChecksState(t *testing.T, s syncjob.Store) {
	ctx := context.Background()
	Import(t, s, "bj-1", 10, Entries(3)...)
	j, err := s.UpdateJob(ctx, "bj-1", syncjob.JobUpdate{From: []syncjob.State{syncjob.StateQueued}, State: syncjob.StateRunning, Time: T0.Add(time.Hour)})
	if err != nil || j.State != syncjob.StateRunning || !j.Updated.Equal(T0.Add(time.Hour)) {
		t.Fatalf("%+v, %v", j, err)
	}
	j, err = s.UpdateJob(ctx, "bj-1", syncjob.JobUpdate{From: []syncjob.State{syncjob.StateQueued}, State: syncjob.StateCancelled, Time: T0})
	if !errors.Is(err, syncjob.ErrStateConflict) || j.State != syncjob.StateRunning {
		t.Fatalf("conflicting update: %+v, %v", j, err)
	}
	e := &syncjob.JobError{Chunk: -1, Code: "15", SubCode: "isp.top-remote-service-unavailable", Message: "try later", TOPRequestID: "top-9", Time: T0}
	j, err = s.UpdateJob(ctx, "bj-1", syncjob.JobUpdate{Error: e, Time: T0})
	if err != nil || j.State != syncjob.StateRunning || !sameError(j.LastError, e) {
		t.Fatalf("error update: %+v, %v", j, err)
	}
	// A final error (a failed chunk) is not hidden by a later transient one.
	if _, err := s.BeginChunk(ctx, "bj-1", 0, T0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishChunk(ctx, "bj-1", 0, syncjob.ChunkResult{State: syncjob.ChunkFailed, Code: "400", Time: T0}); err != nil {
		t.Fatal(err)
	}
	j, err = s.UpdateJob(ctx, "bj-1", syncjob.JobUpdate{Error: e, Time: T0})
	if err != nil || j.LastError == nil || !j.LastError.Final || j.LastError.Code != "400" {
		t.Fatalf("a transient error replaced a final one: %+v, %v", j.LastError, err)
	}
	if _, err := s.UpdateJob(ctx, "bj-nope", syncjob.JobUpdate{Time: T0}); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
}

// testLastErrorShowsWhatStands: a failure being retried shows until its
// chunk is acknowledged, a final one until the end; a SUCCEEDED job shows
// none.
func testLastErrorShowsWhatStands(t *testing.T, s syncjob.Store) {
	ctx := context.Background()
	Import(t, s, "bj-1", 1, Entries(3)...)
	retry := func(chunk int64, code string) func() error {
		return func() error {
			_, err := s.UpdateJob(ctx, "bj-1", syncjob.JobUpdate{Error: &syncjob.JobError{Chunk: chunk, Code: code, Message: "busy", Time: T0}, Time: T0})
			return err
		}
	}
	begin := func(chunk int64) func() error {
		return func() error { _, err := s.BeginChunk(ctx, "bj-1", chunk, T0); return err }
	}
	finish := func(chunk int64, state syncjob.ChunkState) func() error {
		return func() error {
			_, err := s.FinishChunk(ctx, "bj-1", chunk, syncjob.ChunkResult{State: state, Code: "400", Time: T0})
			return err
		}
	}
	to := func(state syncjob.State) func() error {
		return func() error {
			_, err := s.UpdateJob(ctx, "bj-1", syncjob.JobUpdate{State: state, Time: T0})
			return err
		}
	}
	steps := []struct {
		name string
		do   func() error
		// want is the last error's chunk and code; chunk -2 means none.
		wantChunk int64
		wantCode  string
	}{
		{"start", to(syncjob.StateRunning), -2, ""},
		{"begin 0", begin(0), -2, ""},
		{"begin 1", begin(1), -2, ""},
		{"chunk 0 retried", retry(0, "9999"), 0, "9999"},
		{"chunk 1 retried", retry(1, "15"), 1, "15"},
		{"chunk 0 acknowledged: chunk 1's failure still stands", finish(0, syncjob.ChunkAcknowledged), 1, "15"},
		{"chunk 1 acknowledged: nothing stands", finish(1, syncjob.ChunkAcknowledged), -2, ""},
		{"begin 2", begin(2), -2, ""},
		{"chunk 2 retried", retry(2, "9999"), 2, "9999"},
		{"chunk 2 acknowledged", finish(2, syncjob.ChunkAcknowledged), -2, ""},
		{"a failure of no chunk", retry(-1, "7"), -1, "7"},
		{"succeeded: nothing stands", to(syncjob.StateSucceeded), -2, ""},
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
	Import(t, s, "bj-2", 1, Entries(2)...)
	for _, n := range []int64{0, 1} {
		if _, err := s.BeginChunk(ctx, "bj-2", n, T0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.FinishChunk(ctx, "bj-2", 0, syncjob.ChunkResult{State: syncjob.ChunkFailed, Code: "400", Time: T0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishChunk(ctx, "bj-2", 1, syncjob.ChunkResult{State: syncjob.ChunkAcknowledged, Time: T0}); err != nil {
		t.Fatal(err)
	}
	j, err := s.UpdateJob(ctx, "bj-2", syncjob.JobUpdate{State: syncjob.StateFailed, Time: T0})
	if err != nil || j.LastError == nil || !j.LastError.Final || j.LastError.Chunk != 0 || j.LastError.Code != "400" {
		t.Fatalf("failed job: %+v, %v", j.LastError, err)
	}
}

func testListJobsFiltersAndPages(t *testing.T, s syncjob.Store) {
	ctx := context.Background()
	for i := range 7 {
		id := fmt.Sprintf("bj-%d", i)
		Import(t, s, id, 10, Entries(1)...)
		if i%2 == 1 {
			if _, err := s.UpdateJob(ctx, id, syncjob.JobUpdate{State: syncjob.StateSucceeded, Time: T0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: "bj-importing", SupplierID: Supplier, ChunkSize: 1, Created: T0}); err != nil {
		t.Fatal(err)
	}
	ids := func(q syncjob.JobQuery) []string {
		t.Helper()
		var out []string
		for {
			page, err := s.ListJobs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if q.PageSize > 0 && len(page.Jobs) > q.PageSize {
				t.Fatalf("a page of %d jobs, asked for %d", len(page.Jobs), q.PageSize)
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
		q    syncjob.JobQuery
		want []string
	}{
		{"all, newest first", syncjob.JobQuery{}, []string{"bj-6", "bj-5", "bj-4", "bj-3", "bj-2", "bj-1", "bj-0"}},
		{"all, newest first, pages of 3", syncjob.JobQuery{PageSize: 3}, []string{"bj-6", "bj-5", "bj-4", "bj-3", "bj-2", "bj-1", "bj-0"}},
		{"oldest first, pages of 2", syncjob.JobQuery{PageSize: 2, OldestFirst: true}, []string{"bj-0", "bj-1", "bj-2", "bj-3", "bj-4", "bj-5", "bj-6"}},
		{"succeeded", syncjob.JobQuery{States: []syncjob.State{syncjob.StateSucceeded}, PageSize: 1}, []string{"bj-5", "bj-3", "bj-1"}},
		{"queued or succeeded of a supplier", syncjob.JobQuery{States: []syncjob.State{syncjob.StateQueued, syncjob.StateSucceeded}, SupplierID: Supplier}, []string{"bj-6", "bj-5", "bj-4", "bj-3", "bj-2", "bj-1", "bj-0"}},
		{"another supplier", syncjob.JobQuery{SupplierID: "nobody"}, nil},
		{"importing is never listed", syncjob.JobQuery{States: []syncjob.State{syncjob.StateImporting}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(tt.q); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	page, err := s.ListJobs(ctx, syncjob.JobQuery{PageSize: 2})
	if err != nil || page.NextPageToken == "" {
		t.Fatalf("first page of 2: %+v, %v", page, err)
	}
	if _, err := s.ListJobs(ctx, syncjob.JobQuery{PageToken: "nope"}); !errors.Is(err, syncjob.ErrBadPageToken) {
		t.Errorf("a token ListJobs did not make: %v", err)
	}
	if _, err := s.ListJobs(ctx, syncjob.JobQuery{PageToken: page.NextPageToken, OldestFirst: true}); !errors.Is(err, syncjob.ErrBadPageToken) {
		t.Errorf("a newest-first token used oldest first: %v", err)
	}
	counts, err := s.CountJobs(ctx)
	if err != nil || counts[syncjob.StateQueued] != 4 || counts[syncjob.StateSucceeded] != 3 || len(counts) != 2 {
		t.Fatalf("CountJobs = %v, %v", counts, err)
	}
}

// testConcurrentWritersAndReaders runs chunk writes of several jobs and
// reads at once: every call succeeds and every count adds up.
func testConcurrentWritersAndReaders(t *testing.T, s syncjob.Store) {
	ctx := context.Background()
	const jobs, chunks = 4, 25
	for i := range jobs {
		Import(t, s, fmt.Sprintf("bj-%d", i), 2, Entries(2*chunks)...)
	}
	var wg sync.WaitGroup
	errs := make(chan error, jobs*chunks*3)
	for i := range jobs {
		id := fmt.Sprintf("bj-%d", i)
		for n := range int64(chunks) {
			wg.Go(func() {
				if _, err := s.BeginChunk(ctx, id, n, T0); err != nil {
					errs <- err
					return
				}
				if _, err := s.ChunkEntries(ctx, id, n, nil); err != nil {
					errs <- err
				}
				if _, err := s.FinishChunk(ctx, id, n, syncjob.ChunkResult{State: syncjob.ChunkAcknowledged, Time: T0}); err != nil {
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

// testCanceled: a call with a canceled context fails and changes nothing.
func testCanceled(t *testing.T, s syncjob.Store) {
	Import(t, s, "bj-1", 10, Entries(3)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Job(ctx, "bj-1"); err == nil {
		t.Error("Job with a canceled context succeeded")
	}
	if _, err := s.ListJobs(ctx, syncjob.JobQuery{}); err == nil {
		t.Error("ListJobs with a canceled context succeeded")
	}
	if _, err := s.UpdateJob(ctx, "bj-1", syncjob.JobUpdate{State: syncjob.StateCancelled, Time: T0}); err == nil {
		t.Error("UpdateJob with a canceled context succeeded")
	}
	if _, err := s.BeginChunk(ctx, "bj-1", 0, T0); err == nil {
		t.Error("BeginChunk with a canceled context succeeded")
	}
	j, err := s.Job(context.Background(), "bj-1")
	if err != nil || j.State != syncjob.StateQueued || j.Sent != 0 {
		t.Errorf("after canceled calls: %+v, %v", j, err)
	}
}

// testCreateImportChecksSpec: an import needs a usable job id (1 to 64
// letters, digits, '.', '_' or '-', not starting with '.') and a chunk
// size, and one id makes one import at a time.
func testCreateImportChecksSpec(t *testing.T, s syncjob.Store) {
	ctx := context.Background()
	for _, spec := range []syncjob.JobSpec{
		{ID: "", ChunkSize: 10},
		{ID: ".hidden", ChunkSize: 10},
		{ID: "a/b", ChunkSize: 10},
		{ID: "bj 1", ChunkSize: 10},
		{ID: "x" + fmt.Sprintf("%064d", 0), ChunkSize: 10},
		{ID: "bj-ok", ChunkSize: 0},
		{ID: "bj-ok", ChunkSize: -1},
	} {
		spec.Created = T0
		if _, err := s.CreateImport(ctx, spec); err == nil {
			t.Errorf("CreateImport(%q, chunk size %d) succeeded", spec.ID, spec.ChunkSize)
		}
	}
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: "bj-1", ChunkSize: 10, Created: T0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: "bj-1", ChunkSize: 10, Created: T0}); err == nil {
		t.Error("two imports of one id at once")
	}
	if _, err := s.Job(ctx, "bj-ok"); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Errorf("a refused import left a job: %v", err)
	}
	if err := s.AddImportEntries(ctx, "bj-ok", Entries(1)); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Errorf("a refused import can take entries: %v", err)
	}
}

// testListJobsRefusesForgedTokens: a token in the shape of the stores'
// but not one ListJobs made is refused like any other.
func testListJobsRefusesForgedTokens(t *testing.T, s syncjob.Store) {
	Import(t, s, "bj-1", 10, Entries(1)...)
	for _, raw := range []string{"jobs:n:abc", "other:n:1", "jobs:x:1", "jobs:n:", "jobs:n:1:2", "jobs:o:x"} {
		tok := base64.RawURLEncoding.EncodeToString([]byte(raw))
		if _, err := s.ListJobs(context.Background(), syncjob.JobQuery{PageToken: tok}); !errors.Is(err, syncjob.ErrBadPageToken) {
			t.Errorf("token %q: %v", raw, err)
		}
	}
	// A token past the last job is a valid one: an empty page.
	page, err := s.ListJobs(context.Background(), syncjob.JobQuery{PageToken: base64.RawURLEncoding.EncodeToString([]byte("jobs:n:-5"))})
	if err != nil || len(page.Jobs) != 0 || page.NextPageToken != "" {
		t.Errorf("page after the last job: %+v, %v", page, err)
	}
}

// testTimesKeepNanoseconds: the store gives back the instants it was
// given, to the nanosecond.
func testTimesKeepNanoseconds(t *testing.T, s syncjob.Store) {
	ctx := context.Background()
	created := T0.Add(123456789 * time.Nanosecond)
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: "bj-1", SupplierID: Supplier, ChunkSize: 1, Created: created}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddImportEntries(ctx, "bj-1", Entries(1)); err != nil {
		t.Fatal(err)
	}
	committed := created.Add(time.Nanosecond)
	j, err := s.CommitImport(ctx, "bj-1", syncjob.ImportCounts{Received: 1}, committed)
	if err != nil || !j.Created.Equal(created) || !j.Updated.Equal(committed) {
		t.Fatalf("committed %+v, %v; want created %v, updated %v", j, err, created, committed)
	}
	failed := committed.Add(time.Nanosecond)
	if _, err := s.BeginChunk(ctx, "bj-1", 0, failed); err != nil {
		t.Fatal(err)
	}
	j, err = s.FinishChunk(ctx, "bj-1", 0, syncjob.ChunkResult{State: syncjob.ChunkFailed, Code: "400", Time: failed})
	if err != nil || j.LastError == nil || !j.LastError.Time.Equal(failed) || !j.Updated.Equal(failed) {
		t.Fatalf("after a failed chunk %+v, %v; want times %v", j, err, failed)
	}
	if j, err := s.Job(ctx, "bj-1"); err != nil || !j.Created.Equal(created) || j.Created.Location() != time.UTC {
		t.Fatalf("read back %+v, %v; want created %v in UTC", j, err, created)
	}
}

// testFinalErrors: a final error replaces a transient one and a final one
// (the latest shows); a FAILED or CANCELLED job keeps its last error.
func testFinalErrors(t *testing.T, s syncjob.Store) {
	ctx := context.Background()
	Import(t, s, "bj-1", 1, Entries(3)...)
	update := func(u syncjob.JobUpdate) syncjob.Job {
		t.Helper()
		u.Time = T0
		j, err := s.UpdateJob(ctx, "bj-1", u)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	j := update(syncjob.JobUpdate{Error: &syncjob.JobError{Chunk: 0, Code: "15", Time: T0}})
	if j.LastError == nil || j.LastError.Final || j.LastError.Code != "15" {
		t.Fatalf("transient error: %+v", j.LastError)
	}
	j = update(syncjob.JobUpdate{Error: &syncjob.JobError{Chunk: 1, Code: "400", Final: true, Time: T0}})
	if j.LastError == nil || !j.LastError.Final || j.LastError.Code != "400" || j.LastError.Chunk != 1 {
		t.Fatalf("a final error after a transient one: %+v", j.LastError)
	}
	j = update(syncjob.JobUpdate{Error: &syncjob.JobError{Chunk: 2, Code: "409", Final: true, Time: T0}})
	if j.LastError == nil || j.LastError.Code != "409" || j.LastError.Chunk != 2 {
		t.Fatalf("a final error after a final one: %+v", j.LastError)
	}
	for _, st := range []syncjob.State{syncjob.StateFailed, syncjob.StateCancelled} {
		if j = update(syncjob.JobUpdate{State: st}); j.State != st || j.LastError == nil || j.LastError.Code != "409" {
			t.Fatalf("%s: %+v %+v", st, j, j.LastError)
		}
	}
}

// testPruneJobEntries: the entries of jobs finished before the cut go, in
// batches; their jobs, counters and last errors stay; entries of jobs
// finished later, and of jobs not finished, however old, stay.
func testPruneJobEntries(t *testing.T, s syncjob.Store) {
	ctx := context.Background()
	finish := func(id string, state syncjob.State, at time.Time, e *syncjob.JobError) syncjob.Job {
		t.Helper()
		j, err := s.UpdateJob(ctx, id, syncjob.JobUpdate{State: state, Error: e, Time: at})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	cut := T0.Add(30 * 24 * time.Hour)
	Import(t, s, "old-ok", 2, Entries(5)...)
	Import(t, s, "old-failed", 2, Entries(3)...)
	Import(t, s, "old-cancelled", 2, Entries(2)...)
	Import(t, s, "recent", 2, Entries(4)...)
	Import(t, s, "queued", 2, Entries(3)...) // never finished: kept, however old
	finish("old-ok", syncjob.StateSucceeded, cut.Add(-time.Hour), nil)
	failed := finish("old-failed", syncjob.StateFailed, cut.Add(-time.Nanosecond), &syncjob.JobError{Chunk: 1, Code: "isv.x", Message: "refused", Final: true, Time: cut.Add(-time.Nanosecond)})
	finish("old-cancelled", syncjob.StateCancelled, cut.Add(-time.Minute), nil)
	finish("recent", syncjob.StateSucceeded, cut, nil)

	// 10 entries to go, 4 at a time.
	total := 0
	for _, want := range []int{4, 4, 2, 0} {
		n, err := s.PruneJobEntries(ctx, cut, 4)
		if err != nil || n != want {
			t.Fatalf("prune = %d, %v; want %d", n, err, want)
		}
		total += n
	}
	for id, want := range map[string]int{"old-ok": 0, "old-failed": 0, "old-cancelled": 0, "recent": 4, "queued": 3} {
		j, err := s.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []syncjob.Entry
		for n := range j.Chunks {
			if got, err = s.ChunkEntries(ctx, id, n, got); err != nil {
				t.Fatalf("%s chunk %d: %v", id, n, err)
			}
		}
		if len(got) != want {
			t.Errorf("%s keeps %d entries, want %d", id, len(got), want)
		}
	}
	j, err := s.Job(ctx, "old-failed")
	if err != nil {
		t.Fatal(err)
	}
	if j.State != syncjob.StateFailed || j.Total != 3 || j.Received != 3 || j.Chunks != 2 || j.LastError == nil ||
		j.LastError.Code != failed.LastError.Code || !j.Updated.Equal(failed.Updated) {
		t.Fatalf("pruned job = %+v, was %+v", j, failed)
	}
}

// rejection is the i-th rejection of testRejections.
func rejection(i int64) syncjob.Rejection {
	return syncjob.Rejection{Index: i * 2, Line: i*2 + 2, Field: "mobile", Description: fmt.Sprint("problem ", i)}
}

// testRejections: an import's staged rejections become its job's at the
// commit, listed by growing index in pages; a dropped import's go with
// it; tokens are the job's own.
func testRejections(t *testing.T, s syncjob.Store) {
	ctx := context.Background()
	stage := func(id string, n int64) {
		t.Helper()
		if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: id, SupplierID: Supplier, OperateType: 1, ServiceType: 1, AbilityType: 1, ChunkSize: 2, Created: T0}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddImportEntries(ctx, id, Entries(3)); err != nil {
			t.Fatal(err)
		}
		for lo := int64(0); lo < n; lo += 4 { // batches of 4
			var batch []syncjob.Rejection
			for i := lo; i < min(lo+4, n); i++ {
				batch = append(batch, rejection(i))
			}
			if err := s.AddImportRejections(ctx, id, batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	stage("dropped", 3)
	if _, err := s.ListRejections(ctx, syncjob.RejectionQuery{JobID: "dropped"}); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("rejections of an uncommitted import: %v, want ErrJobNotFound", err)
	}
	if err := s.DeleteImport(ctx, "dropped"); err != nil {
		t.Fatal(err)
	}
	stage("bj-r", 11)
	if _, err := s.CommitImport(ctx, "bj-r", syncjob.ImportCounts{Received: 14, Rejected: 11}, T0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddImportRejections(ctx, "bj-r", []syncjob.Rejection{rejection(20)}); !errors.Is(err, syncjob.ErrStateConflict) {
		t.Fatalf("rejections after the commit: %v, want ErrStateConflict", err)
	}
	stage("empty", 0)
	if _, err := s.CommitImport(ctx, "empty", syncjob.ImportCounts{Received: 3}, T0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if p, err := s.ListRejections(ctx, syncjob.RejectionQuery{JobID: "empty"}); err != nil || len(p.Rejections) != 0 || p.NextPageToken != "" {
		t.Fatalf("rejections of a job without = %+v, %v", p, err)
	}

	var got []syncjob.Rejection
	q := syncjob.RejectionQuery{JobID: "bj-r", PageSize: 5}
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("more than 3 pages of 5 for 11 rejections")
		}
		p, err := s.ListRejections(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Rejections...)
		if p.NextPageToken == "" {
			break
		}
		q.PageToken = p.NextPageToken
	}
	if len(got) != 11 {
		t.Fatalf("listed %d rejections, want 11: %+v", len(got), got)
	}
	for i, r := range got {
		if r != rejection(int64(i)) {
			t.Fatalf("rejection %d = %+v, want %+v", i, r, rejection(int64(i)))
		}
	}
	if p, err := s.ListRejections(ctx, syncjob.RejectionQuery{JobID: "bj-r"}); err != nil || len(p.Rejections) != 11 || p.NextPageToken != "" {
		t.Fatalf("default page = %d rejections, token %q, %v", len(p.Rejections), p.NextPageToken, err)
	}
	// A token of another job, or forged, is refused.
	p, err := s.ListRejections(ctx, syncjob.RejectionQuery{JobID: "bj-r", PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"x", base64.RawURLEncoding.EncodeToString([]byte("jobs:o:1"))} {
		if _, err := s.ListRejections(ctx, syncjob.RejectionQuery{JobID: "bj-r", PageToken: tok}); !errors.Is(err, syncjob.ErrBadPageToken) {
			t.Fatalf("token %q: %v, want ErrBadPageToken", tok, err)
		}
	}
	if _, err := s.ListRejections(ctx, syncjob.RejectionQuery{JobID: "empty", PageToken: p.NextPageToken}); !errors.Is(err, syncjob.ErrBadPageToken) {
		t.Fatalf("another job's token: %v, want ErrBadPageToken", err)
	}
	if _, err := s.ListRejections(ctx, syncjob.RejectionQuery{JobID: "nope"}); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("unknown job: %v, want ErrJobNotFound", err)
	}
}
