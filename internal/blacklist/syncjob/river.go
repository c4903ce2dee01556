package syncjob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// QueueName is the River queue of the chunk jobs. Its workers per replica
// are ConcurrentJobs × ChunksInFlight (Settings.Workers).
const QueueName = "blacklist_sync"

// MaxAttempts is how many times a chunk is sent after transient failures
// (a quota ban's wait does not count) before it is recorded as failed:
// with the default backoff (30 s at most) about three and a half days of
// TOP refusing it.
const MaxAttempts = 10000

// insertBatch is how many chunk jobs one insert carries at an import's
// commit.
const insertBatch = 1000

// chunkArgs is River's job of one chunk: send chunk Chunk of job Job.
// Round is 0 for the import's send and grows with each RetryFailedChunks,
// so that a chunk's jobs are unique by (job, chunk, round).
type chunkArgs struct {
	Job   string `json:"job"`
	Chunk int64  `json:"chunk"`
	Round int64  `json:"round,omitempty"`
}

// Kind is River's job kind of chunks.
func (chunkArgs) Kind() string { return "blacklist_sync_chunk" }

// InsertOpts: the chunk queue, MaxAttempts, one live job per (job, chunk,
// round).
func (chunkArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueName, MaxAttempts: MaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// finishArgs is River's job that ends job Job once its last chunk has an
// outcome; inserted in the transaction that records that outcome.
type finishArgs struct {
	Job   string `json:"job"`
	Round int64  `json:"round,omitempty"`
}

// Kind is River's job kind of job ends.
func (finishArgs) Kind() string { return "blacklist_sync_finish" }

// InsertOpts: the chunk queue, one per (job, round).
func (finishArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueName, MaxAttempts: MaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// River is the Manager's job engine on River (github.com/riverqueue/river,
// internal/jobqueue builds its client): one River job per chunk, inserted
// in the transaction that commits the import; the chunk's outcome and
// River's completion of its job committed together; a TOP ban waited out
// with a snooze; transient failures retried by River with the Manager's
// backoff; the chunks of a replica that died run again elsewhere (River's
// rescuer). TTx is the store's transaction type, which River's driver
// shares (*sql.Tx with riversqlite, pgx.Tx with riverpgxv5).
type River[TTx any] struct {
	store  TxStore[TTx]
	client *river.Client[TTx]
	m      *Manager
}

// NewRiver returns the River engine over st, inserting with client and
// working with workers registered on workers (the client's). Give it to
// Config.Engine; start the client (jobqueue.Queue.Run) after New.
func NewRiver[TTx any](st TxStore[TTx], client *river.Client[TTx], workers *river.Workers) *River[TTx] {
	r := &River[TTx]{store: st, client: client}
	river.AddWorker(workers, &chunkWorker[TTx]{r: r})
	river.AddWorker(workers, &finishWorker[TTx]{r: r})
	return r
}

// attach ties the engine to its Manager.
func (r *River[TTx]) attach(m *Manager) error {
	if r.m != nil {
		return errors.New("the River engine serves one Manager")
	}
	r.m = m
	return nil
}

// commitImport commits the import and inserts its chunk jobs in the same
// transaction: either the job is QUEUED with all its chunk jobs, or
// neither exists.
func (r *River[TTx]) commitImport(ctx context.Context, jobID string, counts ImportCounts, now time.Time) (Job, error) {
	return r.store.CommitImportWith(ctx, jobID, counts, now, func(ctx context.Context, tx TTx, j Job) error {
		return r.insertChunks(ctx, tx, j.ID, 0, func(yield func(int64) bool) {
			for n := range j.Chunks {
				if !yield(n) {
					return
				}
			}
		})
	})
}

// insertChunks inserts the chunk jobs of round for the chunks seq yields.
func (r *River[TTx]) insertChunks(ctx context.Context, tx TTx, jobID string, round int64, seq func(func(int64) bool)) error {
	batch := make([]river.InsertManyParams, 0, insertBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := r.client.InsertManyFastTx(ctx, tx, batch); err != nil {
			return fmt.Errorf("insert chunk jobs: %w", err)
		}
		batch = batch[:0]
		return nil
	}
	for n := range seq {
		batch = append(batch, river.InsertManyParams{Args: chunkArgs{Job: jobID, Chunk: n, Round: round}})
		if len(batch) == insertBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// retryFailed makes the job's failed chunks new and inserts their chunk
// jobs in the same transaction, in a new round (the retry's time), so
// that they are unique apart from the import's.
func (r *River[TTx]) retryFailed(ctx context.Context, id string, now time.Time) (Job, int, error) {
	var n int
	j, err := r.store.RetryFailedChunksWith(ctx, id, now, func(ctx context.Context, tx TTx, j Job, chunks []int64) error {
		n = len(chunks)
		return r.insertChunks(ctx, tx, j.ID, now.UnixNano(), slices.Values(chunks))
	})
	return j, n, err
}

// cancelJob cancels the job and, in the same transaction, the River jobs
// of its chunks that are not running; those running see the job
// cancelled (Manager.Cancel stops them on this replica, and a worker
// elsewhere finds the state before it sends).
func (r *River[TTx]) cancelJob(ctx context.Context, id string, u JobUpdate) (Job, error) {
	var changed bool
	j, err := r.store.UpdateJobWith(ctx, id, u, func(ctx context.Context, tx TTx, _ Job) error {
		changed = true
		return r.cancelChunkJobs(ctx, tx, id)
	})
	if err == nil && !changed {
		err = ErrStateConflict
	}
	return j, err
}

// cancelChunkJobs cancels the waiting River jobs of job id.
func (r *River[TTx]) cancelChunkJobs(ctx context.Context, tx TTx, id string) error {
	params := river.NewJobListParams().
		Kinds(chunkArgs{}.Kind()).
		States(rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable, rivertype.JobStatePending).
		Where("args ->> 'job' = @job", river.NamedArgs{"job": id}).
		First(insertBatch)
	for {
		res, err := r.client.JobListTx(ctx, tx, params)
		if err != nil {
			return fmt.Errorf("list chunk jobs: %w", err)
		}
		for _, rj := range res.Jobs {
			if _, err := r.client.JobCancelTx(ctx, tx, rj.ID); err != nil {
				return fmt.Errorf("cancel chunk job %d: %w", rj.ID, err)
			}
		}
		if len(res.Jobs) < insertBatch {
			return nil
		}
	}
}

// oldestChunkWait: of the chunk jobs waiting (available, retryable or
// scheduled), the one scheduled earliest; its wait is now minus its
// scheduled time when that has come (a job available since its insert is
// scheduled then; a retry or snooze, when its wait ends), 0 otherwise.
func (r *River[TTx]) oldestChunkWait(ctx context.Context, now time.Time) (time.Duration, error) {
	res, err := r.client.JobList(ctx, river.NewJobListParams().
		Kinds(chunkArgs{}.Kind()).
		States(rivertype.JobStateAvailable, rivertype.JobStateRetryable, rivertype.JobStateScheduled).
		OrderBy(river.JobListOrderByScheduledAt, river.SortOrderAsc).
		First(1))
	if err != nil {
		return 0, fmt.Errorf("oldest chunk job: %w", err)
	}
	if len(res.Jobs) == 0 {
		return 0, nil
	}
	return max(now.Sub(res.Jobs[0].ScheduledAt), 0), nil
}

// chunkWorker sends one chunk.
type chunkWorker[TTx any] struct {
	river.WorkerDefaults[chunkArgs]
	r *River[TTx]
}

// NextRetry is the Manager's backoff (equal jitter between RetryBase and
// RetryMax), not River's default.
func (w *chunkWorker[TTx]) NextRetry(job *river.Job[chunkArgs]) time.Time {
	return time.Now().Add(w.r.m.backoff(max(job.Attempt-1, 0)))
}

// Work sends the chunk once and records what TOP answered: an outcome
// commits with the River job's completion; a ban snoozes the River job
// until the ban ends; a transient failure returns the error, for River to
// retry.
func (w *chunkWorker[TTx]) Work(ctx context.Context, job *river.Job[chunkArgs]) error {
	m, a := w.r.m, job.Args
	j, err := m.store.Job(ctx, a.Job)
	switch {
	case errors.Is(err, ErrJobNotFound):
		return river.JobCancel(err)
	case err != nil:
		return err
	case j.State == StateCancelled:
		return nil // never sent
	case j.State == StateQueued:
		if j, err = m.start(ctx, a.Job); err != nil {
			return err
		}
	}
	ctx, done := m.track(ctx, a.Job)
	defer done()

	prev, err := m.store.BeginChunk(ctx, a.Job, a.Chunk, m.now())
	if err != nil {
		return fmt.Errorf("begin chunk: %w", err)
	}
	if prev == ChunkAcknowledged || prev == ChunkFailed {
		return nil
	}
	entries, err := m.store.ChunkEntries(ctx, a.Job, a.Chunk, make([]Entry, 0, j.ChunkSize))
	if err != nil {
		return fmt.Errorf("read chunk: %w", err)
	}
	req := chunkRequest(j, a.Chunk, entries)
	req.UserBlacklistRequest.RequestTime = top.Int64(m.now().UnixMilli())
	ctx, span := m.chunkSpan(ctx, j, a.Chunk, len(entries))
	defer span.End()
	resp, err := top.Do(ctx, m.top, top.BlacklistSync, req)
	if ctx.Err() != nil {
		if c, err := m.store.Job(context.WithoutCancel(ctx), a.Job); err == nil && c.State == StateCancelled {
			return nil // cancelled while in flight
		}
		return ctx.Err() // shutting down: River runs it again
	}
	out := classify(resp, err)
	out.err.Chunk, out.err.Time = a.Chunk, m.now()
	chunkOutcome(span, job.Attempt, out)
	switch out.kind {
	case outcomeBanned:
		wait := out.wait + time.Duration(rand.Int64N(int64(100*time.Millisecond)))
		m.retrying(ctx, a.Job, out.err, wait)
		return river.JobSnooze(wait)
	case outcomeRetry:
		if job.Attempt < job.MaxAttempts {
			m.retrying(ctx, a.Job, out.err, w.NextRetry(job).Sub(time.Now()))
			return errors.New(describe(out.err))
		}
		out.kind = outcomeFailed
		out.err.Message = "gave up after " + strconv.Itoa(job.Attempt) + " attempts: " + out.err.Message
	}
	return w.r.finishChunk(ctx, job, out)
}

// finishChunk records a chunk's outcome and completes its River job in
// one transaction; when it was the job's last chunk, the job's end is
// queued in the same transaction.
func (r *River[TTx]) finishChunk(ctx context.Context, job *river.Job[chunkArgs], out outcome) error {
	m, a := r.m, job.Args
	res := ChunkResult{State: ChunkAcknowledged, TOPRequestID: out.err.TOPRequestID, Time: out.err.Time}
	kind := EventChunkAcknowledged
	if out.kind == outcomeFailed {
		res.State, res.Code, res.SubCode, res.Message = ChunkFailed, out.err.Code, out.err.SubCode, out.err.Message
		kind = EventChunkFailed
	}
	j, err := r.store.FinishChunkWith(ctx, a.Job, a.Chunk, res, func(ctx context.Context, tx TTx, j Job) error {
		if _, err := river.JobCompleteTx[riverdriver.Driver[TTx]](ctx, tx, job); err != nil {
			return fmt.Errorf("complete chunk job: %w", err)
		}
		if j.Acknowledged+j.Failed < j.Total || j.State != StateRunning {
			return nil
		}
		if _, err := river.ClientFromContext[TTx](ctx).InsertTx(ctx, tx, finishArgs{Job: a.Job, Round: a.Round}, nil); err != nil {
			return fmt.Errorf("queue the job's end: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record chunk %d: %w", a.Chunk, err)
	}
	if out.kind == outcomeFailed {
		e := out.err
		e.Final = true
		m.logger.Warn("blacklist chunk refused by TOP", slog.String("job_id", a.Job), slog.Int64("chunk", a.Chunk),
			slog.String("code", e.Code), slog.String("sub_code", e.SubCode), slog.String("message", e.Message))
		m.emit(Event{Kind: kind, Job: j, Chunk: a.Chunk, Error: &e})
	} else {
		m.emit(Event{Kind: kind, Job: j, Chunk: a.Chunk})
	}
	m.changedJob(j)
	return nil
}

// finishWorker ends a job whose chunks all have an outcome.
type finishWorker[TTx any] struct {
	river.WorkerDefaults[finishArgs]
	r *River[TTx]
}

// Work makes the job SUCCEEDED (every entry acknowledged) or FAILED, and
// completes its River job in the same transaction.
func (w *finishWorker[TTx]) Work(ctx context.Context, job *river.Job[finishArgs]) error {
	m := w.r.m
	j, err := m.store.Job(ctx, job.Args.Job)
	switch {
	case errors.Is(err, ErrJobNotFound):
		return river.JobCancel(err)
	case err != nil:
		return err
	case j.State != StateRunning:
		return nil // cancelled meanwhile, or ended already
	}
	state := StateSucceeded
	if j.Failed > 0 || j.Acknowledged != j.Total {
		state = StateFailed
	}
	var ended bool
	j, err = w.r.store.UpdateJobWith(ctx, j.ID, JobUpdate{From: []State{StateRunning}, State: state, Time: m.now()},
		func(ctx context.Context, tx TTx, _ Job) error {
			ended = true
			_, err := river.JobCompleteTx[riverdriver.Driver[TTx]](ctx, tx, job)
			return err
		})
	if err != nil {
		return fmt.Errorf("end job: %w", err)
	}
	if !ended {
		return nil
	}
	m.logger.Info("blacklist sync job finished", slog.String("job_id", j.ID), slog.String("state", j.State.String()),
		slog.Int64("acknowledged", j.Acknowledged), slog.Int64("failed", j.Failed))
	m.changedJob(j)
	m.emit(Event{Kind: EventJobFinished, Job: j, Chunk: -1})
	return nil
}

// describe is a transient failure as River records it in the job's
// errors: TOP's codes and its (redacted) message.
func describe(e JobError) string {
	s := "chunk " + strconv.FormatInt(e.Chunk, 10) + ": "
	if e.Code != "" {
		s += "TOP " + e.Code
		if e.SubCode != "" {
			s += " " + e.SubCode
		}
		s += ": "
	}
	return s + e.Message
}
