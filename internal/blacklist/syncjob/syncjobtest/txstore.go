package syncjobtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
)

// Probe is work a test does in a TxStore's transactions, as the job
// engine will: Write writes mark with tx (into a table of the test's),
// Committed reports whether a mark is in the database for everyone to see.
type Probe[TTx any] struct {
	Write     func(ctx context.Context, tx TTx, mark string) error
	Committed func(t *testing.T, mark string) bool
}

// TestTxStore runs the cases of syncjob.TxStore against fresh, empty
// stores made by open, each with its probe: the caller's work commits
// with the store's change, and when it fails neither is committed.
func TestTxStore[TTx any](t *testing.T, open func(t *testing.T) (syncjob.TxStore[TTx], Probe[TTx])) {
	t.Helper()
	t.Run("commit import with", func(t *testing.T) { testCommitImportWith(t, open) })
	t.Run("finish chunk with", func(t *testing.T) { testFinishChunkWith(t, open) })
	t.Run("update job with", func(t *testing.T) { testUpdateJobWith(t, open) })
	t.Run("retry failed chunks with", func(t *testing.T) { testRetryFailedChunksWith(t, open) })
}

var errAlso = errors.New("the caller's work failed")

// also returns a TxFunc that writes mark with the probe and records the
// job it saw; with fail, it fails after writing.
func also[TTx any](p Probe[TTx], mark string, fail bool, saw *syncjob.Job) syncjob.TxFunc[TTx] {
	return func(ctx context.Context, tx TTx, j syncjob.Job) error {
		*saw = j
		if err := p.Write(ctx, tx, mark); err != nil {
			return err
		}
		if fail {
			return errAlso
		}
		return nil
	}
}

func testCommitImportWith[TTx any](t *testing.T, open func(t *testing.T) (syncjob.TxStore[TTx], Probe[TTx])) {
	ctx := context.Background()
	s, p := open(t)
	if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: "bj-1", SupplierID: Supplier, ChunkSize: 2, Created: T0}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddImportEntries(ctx, "bj-1", Entries(5)); err != nil {
		t.Fatal(err)
	}
	var saw syncjob.Job
	_, err := s.CommitImportWith(ctx, "bj-1", syncjob.ImportCounts{Received: 5}, T0, also(p, "import-failed", true, &saw))
	if !errors.Is(err, errAlso) {
		t.Fatalf("commit whose work failed: %v, want its error", err)
	}
	if saw.State != syncjob.StateQueued || saw.Total != 5 || saw.Chunks != 3 {
		t.Errorf("the work saw %+v; want the job as committed", saw)
	}
	if p.Committed(t, "import-failed") {
		t.Error("the failed work was committed")
	}
	if _, err := s.Job(ctx, "bj-1"); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("the job of a rolled back commit: %v", err)
	}
	// The import is still staged: it commits now, with its work.
	j, err := s.CommitImportWith(ctx, "bj-1", syncjob.ImportCounts{Received: 5}, T0, also(p, "import", false, &saw))
	if err != nil || j.Total != 5 || saw.ID != "bj-1" {
		t.Fatalf("commit: %+v, %v", j, err)
	}
	if !p.Committed(t, "import") {
		t.Error("the work was not committed with the import")
	}
	if got, err := s.ChunkEntries(ctx, "bj-1", 2, nil); err != nil || len(got) != 1 {
		t.Fatalf("chunk 2: %+v, %v", got, err)
	}
	// Without work, it is CommitImport.
	Import(t, s, "bj-2", 2, Entries(1)...)
}

func testFinishChunkWith[TTx any](t *testing.T, open func(t *testing.T) (syncjob.TxStore[TTx], Probe[TTx])) {
	ctx := context.Background()
	s, p := open(t)
	Import(t, s, "bj-1", 2, Entries(4)...)
	if _, err := s.BeginChunk(ctx, "bj-1", 0, T0); err != nil {
		t.Fatal(err)
	}
	var saw syncjob.Job
	ack := syncjob.ChunkResult{State: syncjob.ChunkAcknowledged, Time: T0.Add(time.Second)}
	if _, err := s.FinishChunkWith(ctx, "bj-1", 0, ack, also(p, "ack-failed", true, &saw)); !errors.Is(err, errAlso) {
		t.Fatalf("finish whose work failed: %v, want its error", err)
	}
	if saw.Acknowledged != 2 {
		t.Errorf("the work saw %d acknowledged; want the job after the outcome", saw.Acknowledged)
	}
	if j, err := s.Job(ctx, "bj-1"); err != nil || j.Acknowledged != 0 || p.Committed(t, "ack-failed") {
		t.Fatalf("after a rolled back finish: %+v, %v", j, err)
	}
	if prev, err := s.BeginChunk(ctx, "bj-1", 0, T0); err != nil || prev != syncjob.ChunkSent {
		t.Fatalf("chunk 0 after a rolled back finish: %v, %v; want still sent", prev, err)
	}
	j, err := s.FinishChunkWith(ctx, "bj-1", 0, ack, also(p, "ack", false, &saw))
	if err != nil || j.Acknowledged != 2 || !p.Committed(t, "ack") {
		t.Fatalf("finish: %+v, %v", j, err)
	}
	// Finished before: nothing changes, and the work runs all the same.
	j, err = s.FinishChunkWith(ctx, "bj-1", 0, ack, also(p, "ack-again", false, &saw))
	if err != nil || j.Acknowledged != 2 || !p.Committed(t, "ack-again") {
		t.Fatalf("finish again: %+v, %v", j, err)
	}
}

func testUpdateJobWith[TTx any](t *testing.T, open func(t *testing.T) (syncjob.TxStore[TTx], Probe[TTx])) {
	ctx := context.Background()
	s, p := open(t)
	Import(t, s, "bj-1", 2, Entries(4)...)
	var saw syncjob.Job
	cancel := syncjob.JobUpdate{From: []syncjob.State{syncjob.StateQueued, syncjob.StateRunning}, State: syncjob.StateCancelled, Time: T0}
	if _, err := s.UpdateJobWith(ctx, "bj-1", cancel, also(p, "cancel-failed", true, &saw)); !errors.Is(err, errAlso) {
		t.Fatalf("update whose work failed: %v, want its error", err)
	}
	if saw.State != syncjob.StateCancelled {
		t.Errorf("the work saw %s; want the job after the change", saw.State)
	}
	if j, err := s.Job(ctx, "bj-1"); err != nil || j.State != syncjob.StateQueued || p.Committed(t, "cancel-failed") {
		t.Fatalf("after a rolled back update: %+v, %v", j, err)
	}
	if j, err := s.UpdateJobWith(ctx, "bj-1", cancel, also(p, "cancel", false, &saw)); err != nil || j.State != syncjob.StateCancelled || !p.Committed(t, "cancel") {
		t.Fatalf("update: %+v, %v", j, err)
	}
	// In another state: a conflict, and the work does not run.
	saw = syncjob.Job{}
	if _, err := s.UpdateJobWith(ctx, "bj-1", cancel, also(p, "conflict", false, &saw)); !errors.Is(err, syncjob.ErrStateConflict) {
		t.Fatalf("conflicting update: %v", err)
	}
	if saw.ID != "" || p.Committed(t, "conflict") {
		t.Error("the work ran for a conflicting update")
	}
}

// testRetryFailedChunksWith: a FAILED job's failed chunks become new (the
// counters forget them), the job QUEUED without its last error, and the
// work sees the chunks, in one transaction; other states are refused
// without running the work.
func testRetryFailedChunksWith[TTx any](t *testing.T, open func(t *testing.T) (syncjob.TxStore[TTx], Probe[TTx])) {
	ctx := context.Background()
	s, p := open(t)
	Import(t, s, "bj-1", 2, Entries(5)...) // chunks of 2, 2 and 1 entries
	var gotChunks []int64
	retry := func(mark string, fail bool) syncjob.RetryFunc[TTx] {
		return func(ctx context.Context, tx TTx, j syncjob.Job, chunks []int64) error {
			gotChunks = chunks
			if err := p.Write(ctx, tx, mark); err != nil {
				return err
			}
			if fail {
				return errAlso
			}
			return nil
		}
	}
	// Not finished: refused.
	if j, err := s.RetryFailedChunksWith(ctx, "bj-1", T0, retry("queued", false)); !errors.Is(err, syncjob.ErrStateConflict) || j.State != syncjob.StateQueued {
		t.Fatalf("retry of a QUEUED job: %+v, %v; want ErrStateConflict", j, err)
	}
	if _, err := s.RetryFailedChunksWith(ctx, "bj-none", T0, nil); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("retry of an unknown job: %v", err)
	}
	running := syncjob.JobUpdate{State: syncjob.StateRunning, Time: T0}
	if _, err := s.UpdateJob(ctx, "bj-1", running); err != nil {
		t.Fatal(err)
	}
	fail := syncjob.ChunkResult{State: syncjob.ChunkFailed, Code: "400", Message: "PARAM_ERROR", Time: T0}
	ack := syncjob.ChunkResult{State: syncjob.ChunkAcknowledged, Time: T0}
	for n, r := range []syncjob.ChunkResult{fail, ack, fail} {
		if _, err := s.BeginChunk(ctx, "bj-1", int64(n), T0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FinishChunk(ctx, "bj-1", int64(n), r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UpdateJob(ctx, "bj-1", syncjob.JobUpdate{State: syncjob.StateFailed, Time: T0}); err != nil {
		t.Fatal(err)
	}
	// The work fails: nothing changes.
	if _, err := s.RetryFailedChunksWith(ctx, "bj-1", T0.Add(time.Second), retry("retry-failed", true)); !errors.Is(err, errAlso) {
		t.Fatalf("retry whose work failed: %v, want its error", err)
	}
	if j, err := s.Job(ctx, "bj-1"); err != nil || j.State != syncjob.StateFailed || j.Failed != 3 || p.Committed(t, "retry-failed") {
		t.Fatalf("after a rolled back retry: %+v, %v", j, err)
	}
	j, err := s.RetryFailedChunksWith(ctx, "bj-1", T0.Add(time.Second), retry("retry", false))
	if err != nil || !p.Committed(t, "retry") {
		t.Fatalf("retry: %+v, %v", j, err)
	}
	if j.State != syncjob.StateQueued || j.Failed != 0 || j.Sent != 2 || j.Acknowledged != 2 || j.LastError != nil ||
		len(gotChunks) != 2 || gotChunks[0] != 0 || gotChunks[1] != 2 {
		t.Fatalf("after retry: %+v (last error %+v), chunks %v; want QUEUED, 0 failed, 2 sent, chunks [0 2]", j, j.LastError, gotChunks)
	}
	for _, n := range []int64{0, 2} {
		if prev, err := s.BeginChunk(ctx, "bj-1", n, T0); err != nil || prev != syncjob.ChunkNew {
			t.Fatalf("chunk %d after retry: %v, %v; want new", n, prev, err)
		}
	}
	if prev, err := s.BeginChunk(ctx, "bj-1", 1, T0); err != nil || prev != syncjob.ChunkAcknowledged {
		t.Fatalf("chunk 1 after retry: %v, %v; want still acknowledged", prev, err)
	}
	// Succeeded: nothing to retry, and no failed chunk in a FAILED job.
	Import(t, s, "bj-2", 2, Entries(1)...)
	if _, err := s.UpdateJob(ctx, "bj-2", syncjob.JobUpdate{State: syncjob.StateFailed, Time: T0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RetryFailedChunksWith(ctx, "bj-2", T0, retry("none", false)); !errors.Is(err, syncjob.ErrNoFailedChunks) || p.Committed(t, "none") {
		t.Fatalf("retry of a FAILED job without failed chunks: %v", err)
	}
}
