package syncjob

import (
	"context"
	"time"
)

// Store keeps blacklist sync jobs: their settings and counters, the
// entries to send (in a fixed order, so that chunk n is always the same
// entries) and each chunk's outcome. The Manager owns the job model and
// this interface; internal/store implements it (on SQLite), and package
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
}
