package syncjob

import (
	"context"
	"time"
)

// Store keeps blacklist sync jobs: their settings and counters, the
// entries to send (in a fixed order, so that chunk n is always the same
// entries) and each chunk's outcome. The Manager owns the job model and
// this interface; internal/store implements it (on SQLite and PostgreSQL), and package
// syncjobtest holds the cases every implementation must pass.
//
// An import is written in three steps: CreateImport makes an invisible job
// (state Importing), AddImportEntries stages entries in batches, and
// CommitImport turns them, in one transaction, into the job's entries
// (duplicates collapsed) and makes the job visible as Queued. DeleteImport
// removes an import that will not be committed; DeleteStaleImports removes
// those a crash left behind. Job, ListJobs and CountJobs never show an
// import before its commit. Removing an import must work when the disk is
// full: the SQLite store stages imports outside its database, so that
// removing one is deleting a file.
//
// A write that finds the disk full fails with an error matching ErrFull.
// A call about a job that does not exist fails with an error matching
// ErrJobNotFound. Every method is safe for concurrent use.
type Store interface {
	// CreateImport begins a new job in state Importing.
	CreateImport(ctx context.Context, spec JobSpec) (Job, error)
	// AddImportEntries stages entries of an import, in one transaction.
	// Entry.Pos must grow across calls; Reasons are kept as given. A
	// Mobile that is not 11 digits starting with 1 fails the call, and
	// nothing of it is staged.
	AddImportEntries(ctx context.Context, jobID string, entries []Entry) error
	// AddImportRejections stages rejected entries of an import, in one
	// transaction; Rejection.Index must grow across calls. CommitImport
	// makes them the job's (ListRejections), DeleteImport drops them.
	AddImportRejections(ctx context.Context, jobID string, rejections []Rejection) error
	// CommitImport makes the staged entries the job's, in one transaction
	// that is durable when the call returns (it survives a power loss):
	// entries with the same mobile collapse into one, which keeps the
	// reasons and the position of the last one; the survivors are
	// numbered 0, 1, 2... in position order (Entry.Pos), and the job
	// becomes Queued with its counters set from counts and the result.
	// It fails with ErrStateConflict when the job is not Importing.
	CommitImport(ctx context.Context, jobID string, counts ImportCounts, now time.Time) (Job, error)
	// DeleteImport removes an uncommitted import and its staged entries.
	// It fails with ErrStateConflict when the job is already committed.
	DeleteImport(ctx context.Context, jobID string) error
	// DeleteStaleImports removes the uncommitted imports a crash left
	// behind: every one but those in progress through this Store. Call it
	// at start, before any import begins. It returns how many it removed.
	DeleteStaleImports(ctx context.Context) (int, error)

	// Job returns a committed job; ErrJobNotFound if there is none.
	Job(ctx context.Context, id string) (Job, error)
	// ListJobs returns one page of committed jobs, newest first unless
	// q.OldestFirst; ErrBadPageToken for a token it did not make for a
	// query in the same order.
	ListJobs(ctx context.Context, q JobQuery) (JobPage, error)
	// ListRejections returns one page of a committed job's rejected
	// entries, by growing Index; ErrJobNotFound when there is no such
	// committed job, ErrBadPageToken for a token it did not make for the
	// same job.
	ListRejections(ctx context.Context, q RejectionQuery) (RejectionPage, error)
	// CountJobs counts committed jobs by state.
	CountJobs(ctx context.Context) (map[State]int64, error)
	// UpdateJob changes a job's state and/or last error, atomically, when
	// the job is in one of u.From (any state when u.From is empty). It
	// returns the job as it is now; when the job was in another state it
	// returns it unchanged together with ErrStateConflict. An error that
	// is not Final does not replace a Final one (the job keeps showing why
	// it failed). A job that becomes Succeeded loses its last error: every
	// entry was acknowledged, so no failure stands.
	UpdateJob(ctx context.Context, id string, u JobUpdate) (Job, error)

	// ChunkEntries appends the entries of chunk n (numbers n*ChunkSize up
	// to (n+1)*ChunkSize-1, in order) to dst and returns it.
	ChunkEntries(ctx context.Context, jobID string, n int64, dst []Entry) ([]Entry, error)
	// BeginChunk records that chunk n is being sent and returns its state
	// before: ChunkNew the first time (the job's Sent counter then grows
	// by the chunk's entries), ChunkSent when a send was begun before (a
	// resend after a crash), ChunkAcknowledged or ChunkFailed when the
	// chunk is finished and must not be sent again.
	BeginChunk(ctx context.Context, jobID string, n int64, now time.Time) (ChunkState, error)
	// FinishChunk records the outcome of a begun chunk, and adds its
	// entries to the job's Acknowledged or Failed counter; a failure also
	// becomes the job's last error, and an acknowledgement clears a last
	// error of the same chunk that was being retried (not Final).
	// Finishing a finished chunk changes nothing.
	FinishChunk(ctx context.Context, jobID string, n int64, r ChunkResult) (Job, error)

	// PruneJobEntries deletes at most limit entries of finished jobs
	// (Succeeded, Failed, Cancelled) whose last change (Job.Updated) is
	// before before, and returns how many it deleted. The jobs themselves,
	// their counters, last error and chunk outcomes stay; their entries
	// (personal data) go. Jobs not finished are never touched.
	PruneJobEntries(ctx context.Context, before time.Time, limit int) (int, error)
}

// TxStore is a Store whose commits can carry the caller's work, so that
// work on the same database commits or rolls back with them: the job
// engine's (River's) job inserts at an import's commit, a chunk job's
// completion with the chunk's outcome, the cancellation of a job's chunk
// jobs with the job's. TTx is the backend's transaction type: *sql.Tx on
// SQLite (internal/store/sqlite), pgx.Tx on PostgreSQL
// (internal/store/postgres), the same types River's drivers take
// (riversqlite, riverpgxv5), so one generic code path serves both.
//
// Each method is its Store method with also run inside its transaction,
// after the store's own writes and before the commit; when also fails,
// the call fails with its error and nothing of it is committed. A nil
// also is the plain method.
type TxStore[TTx any] interface {
	Store
	// CommitImportWith is CommitImport with also. When it fails, the
	// import stays staged, as when the commit itself fails.
	CommitImportWith(ctx context.Context, jobID string, counts ImportCounts, now time.Time, also TxFunc[TTx]) (Job, error)
	// FinishChunkWith is FinishChunk with also, which runs whether or not
	// the chunk was finished before (a chunk job run again after its
	// outcome was recorded is completed all the same).
	FinishChunkWith(ctx context.Context, jobID string, n int64, r ChunkResult, also TxFunc[TTx]) (Job, error)
	// UpdateJobWith is UpdateJob with also, which runs only when the job
	// was in one of u.From (there is no ErrStateConflict).
	UpdateJobWith(ctx context.Context, id string, u JobUpdate, also TxFunc[TTx]) (Job, error)
	// RetryFailedChunksWith makes the failed chunks of a FAILED job new
	// again (never sent: their entries leave the Failed and Sent counters)
	// and the job QUEUED without a last error, then runs also with the
	// job and the chunks' numbers, ascending, in the same transaction. A
	// job in another state is returned unchanged with ErrStateConflict; a
	// FAILED job without failed chunks with ErrNoFailedChunks.
	RetryFailedChunksWith(ctx context.Context, jobID string, now time.Time, also RetryFunc[TTx]) (Job, error)
}

// RetryFunc is the caller's work of RetryFailedChunksWith: chunks are the
// chunks made new again.
type RetryFunc[TTx any] func(ctx context.Context, tx TTx, job Job, chunks []int64) error

// TxFunc is work that runs in a store's transaction: tx is the
// transaction, job the job as the store's writes left it (seen from
// inside the transaction). It must not commit or roll back tx.
type TxFunc[TTx any] func(ctx context.Context, tx TTx, job Job) error
