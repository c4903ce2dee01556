package syncjob_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// riverJobs counts the River jobs of a blacklist job by River state.
func (e *env) riverJobs(jobID string) map[string]int {
	e.t.Helper()
	rows, err := e.store.DB().QueryContext(context.Background(),
		"SELECT state, count(*) FROM river_job WHERE kind = 'blacklist_sync_chunk' AND args ->> 'job' = ? GROUP BY state", jobID)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			e.t.Fatal(err)
		}
		out[state] = n
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// failInserts is River insert middleware that fails every insert while
// on.
type failInserts struct {
	river.MiddlewareDefaults
	on atomic.Bool
}

func (f *failInserts) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams,
	next func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	if f.on.Load() {
		return nil, errors.New("insert refused by the test")
	}
	return next(ctx)
}

// TestRiverJobsCommitWithTheImport: the import's commit inserts one River
// job per chunk in its transaction; when the insert fails, the commit
// fails whole: no job, no chunk jobs, nothing sent. A chunk job inserted
// twice is one (unique by job and chunk). Once delivered, every chunk job
// is completed, with its chunk's outcome.
func TestRiverJobsCommitWithTheImport(t *testing.T) {
	t.Parallel()
	fail := &failInserts{}
	e := newEnvWith(t, nil, fail)
	ctx := context.Background()
	im, err := e.m.BeginImport(ctx, syncjob.Spec{SupplierID: "10000000001", OperateType: top.OperateUpsert})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Add(ctx, inputs(0, 25)...); err != nil {
		t.Fatal(err)
	}
	fail.on.Store(true)
	if _, err := im.Commit(ctx); err == nil || !strings.Contains(err.Error(), "insert refused by the test") {
		t.Fatalf("commit whose chunk jobs cannot be inserted: %v", err)
	}
	fail.on.Store(false)
	if _, err := e.m.Job(ctx, im.ID()); !errors.Is(err, syncjob.ErrJobNotFound) {
		t.Fatalf("the job of a failed commit: %v", err)
	}
	if got := e.riverJobs(im.ID()); len(got) != 0 {
		t.Fatalf("River jobs of the failed commit: %v; want none", got)
	}

	res := e.importEntries(1, inputs(0, 25)...)
	if got := e.riverJobs(res.Job.ID); got["available"] != 3 || len(got) != 1 {
		t.Fatalf("River jobs after the commit: %v; want 3 available", got)
	}
	r, err := e.q.Client().Insert(ctx, syncjob.ChunkArgs(res.Job.ID, 1), nil)
	if err != nil || !r.UniqueSkippedAsDuplicate {
		t.Fatalf("a second River job of chunk 1: %+v, %v; want skipped as a duplicate", r, err)
	}
	e.run()
	e.waitState(res.Job.ID, syncjob.StateSucceeded)
	e.stop()
	if got := e.riverJobs(res.Job.ID); got["completed"] != 3 || len(got) != 1 {
		t.Fatalf("River jobs after the job: %v; want 3 completed", got)
	}
	if len(e.requestIDs()) != 3 {
		t.Fatalf("calls %v; want 3 (the failed commit sent nothing)", e.requestIDs())
	}
	e.checkExactlyOnce(25)
}

// TestCancelCancelsRiverJobs: cancelling a job cancels its waiting chunk
// jobs in the same transaction; none of them runs later.
func TestCancelCancelsRiverJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	res := e.importEntries(1, inputs(0, 50)...)
	if _, err := e.m.Cancel(context.Background(), res.Job.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.riverJobs(res.Job.ID); got["cancelled"] != 5 || len(got) != 1 {
		t.Fatalf("River jobs after cancel: %v; want 5 cancelled", got)
	}
	e.run()
	other := e.importEntries(1, inputs(100, 10)...)
	e.waitState(other.Job.ID, syncjob.StateSucceeded)
	e.stop()
	if ids := e.requestIDs(); len(ids) != 1 || ids[0] != syncjob.RequestID(other.Job.ID, 0) {
		t.Fatalf("calls %v; want only the other job's", ids)
	}
}

// TestOrphansOfAKilledProcessRunAtStart: chunk jobs a killed process left
// running on the SQLite file (the only process that may use it) run again
// at the next start, and the job ends with each entry applied once.
func TestOrphansOfAKilledProcessRunAtStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	res := e.importEntries(1, inputs(0, 30)...)
	// As a process killed mid-chunk leaves them: running, attempted.
	if _, err := e.store.DB().ExecContext(context.Background(),
		"UPDATE river_job SET state = 'running', attempt = 1, attempted_at = datetime('now', 'subsec') WHERE kind = 'blacklist_sync_chunk'"); err != nil {
		t.Fatal(err)
	}
	e.run()
	j := e.waitState(res.Job.ID, syncjob.StateSucceeded)
	if j.Acknowledged != 30 {
		t.Fatalf("job %+v", j)
	}
	e.checkExactlyOnce(30)
}

// TestBanSnoozesTheChunk: a quota ban TOP announces snoozes the chunk's
// River job until the ban ends: no error is recorded against the River
// job (a snooze is not a failed attempt), the job shows the ban as its
// transient last error meanwhile, and the chunk is sent again after the
// ban and applied once.
func TestBanSnoozesTheChunk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *syncjob.Config) { c.ConcurrentJobs, c.ChunksInFlight = 1, 1 })
	e.faults(`{"rules": [{"method": "` + top.MethodBlacklistSync + `", "count": 1, "error": {"code": 7, "sub_code": "` +
		top.SubCodeAppAccessCount + `", "sub_msg": "` + top.BanMessage(time.Second) + `"}}]}`)
	res := e.importEntries(1, inputs(0, 10)...)
	start := time.Now()
	e.run()
	e.waitState(res.Job.ID, syncjob.StateSucceeded)
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("the chunk was resent %v after the start, within the 1 s ban", waited)
	}
	e.stop()
	e.checkExactlyOnce(10)
	var errs sql.NullString
	var state string
	if err := e.store.DB().QueryRowContext(context.Background(),
		"SELECT state, errors FROM river_job WHERE kind = 'blacklist_sync_chunk' AND args ->> 'job' = ?", res.Job.ID).Scan(&state, &errs); err != nil {
		t.Fatal(err)
	}
	if state != "completed" || (errs.Valid && errs.String != "" && errs.String != "[]") {
		t.Fatalf("the chunk's River job: %s, errors %q; want completed without errors", state, errs.String)
	}
	if !e.sawRetrying("7", top.SubCodeAppAccessCount) {
		t.Fatal("no EventChunkRetrying for the ban")
	}
}

// TestOldestChunkWait: the age of the oldest chunk that may be sent now
// (servicecenterd_sync_chunks_oldest_age_seconds). The Manager's clock
// runs an hour ahead of River's, so a chunk waiting since its insert is
// about an hour old; a snoozed or backing-off chunk counts only once its
// wait is over; with nothing waiting it is 0.
func TestOldestChunkWait(t *testing.T) {
	t.Parallel()
	const ahead = time.Hour
	e := newEnv(t, func(c *syncjob.Config) { c.Now = func() time.Time { return time.Now().Add(ahead) } })
	ctx := context.Background()
	wait := func() time.Duration {
		t.Helper()
		d, err := e.m.OldestChunkWait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	setChunks := func(state, scheduled string) {
		t.Helper()
		if _, err := e.store.DB().ExecContext(ctx, "UPDATE river_job SET state = ?, scheduled_at = datetime('now', ?) WHERE kind = 'blacklist_sync_chunk'",
			state, scheduled); err != nil {
			t.Fatal(err)
		}
	}
	if d := wait(); d != 0 {
		t.Fatalf("with no chunk: %v; want 0", d)
	}
	start := time.Now()
	res := e.importEntries(1, inputs(0, 30)...)
	for _, tc := range []struct {
		name, state, scheduled string
		min                    time.Duration
	}{
		{"available since the import", "", "", ahead},
		{"snoozed for a ban ending in 2h", "scheduled", "+2 hours", 0},
		{"a retry due in 2h", "retryable", "+2 hours", 0},
		{"a retry due 10 minutes ago", "retryable", "-10 minutes", ahead + 10*time.Minute},
		{"a snooze that ended 20 minutes ago", "scheduled", "-20 minutes", ahead + 20*time.Minute},
	} {
		if tc.state != "" {
			setChunks(tc.state, tc.scheduled)
		}
		d := wait()
		if tc.min == 0 && d != 0 {
			t.Errorf("%s: %v; want 0", tc.name, d)
		}
		if tc.min > 0 && (d < tc.min-time.Second || d > tc.min+time.Since(start)+time.Second) {
			t.Errorf("%s: %v; want about %v", tc.name, d, tc.min)
		}
	}
	setChunks("available", "-1 seconds")
	e.run()
	e.waitState(res.Job.ID, syncjob.StateSucceeded)
	if d := wait(); d != 0 {
		t.Fatalf("after the job: %v; want 0", d)
	}
	e.checkExactlyOnce(30)
}
