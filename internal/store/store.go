// Package store is servicecenterd's durable state: the blacklist sync
// jobs of the bulk path (internal/blacklist/syncjob) and the audit trail
// (internal/audit). The default implementation is SQLite through a pure
// Go driver (modernc.org/sqlite, no cgo), one file in the data directory
// (and, while an import is in progress, a staging file of its own);
// the job logic and the audit trail see only their interfaces, so that a
// networked database can be added later without touching them.
//
// # Schema migrations
//
// The schema is versioned. Every change is one Migration in the ordered
// list in migrations.go; Open runs the ones a file has not had yet, each in
// its own transaction together with the version bump (SQLite's
// PRAGMA user_version), so a crash leaves a file at a whole version. A file
// whose version is newer than the binary knows is refused. See the comment
// on migrations in migrations.go for how to add one.
package store

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/audit"
)

// Store is all durable state. Each concern is its own interface so that
// one can be added without touching the others; an implementation
// provides them all, over one database.
type Store interface {
	Jobs
	Audit
	io.Closer
}

// Audit keeps the audit trail: one row per audited call, appended by
// Record (which gives it the next id; ids are never reused), listed
// newest first by List with the filters of audit.Query, and deleted when
// older than the retention period by Prune, in bounded batches.
type Audit interface {
	audit.Store
}

// Jobs keeps blacklist sync jobs: their settings and counters, the
// entries to send (in a fixed order, so that chunk n is always the same
// entries) and each chunk's outcome.
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
type Jobs interface {
	// CreateImport begins a new job in state Importing.
	CreateImport(ctx context.Context, spec JobSpec) (Job, error)
	// AddImportEntries stages entries of an import, in one transaction.
	// Entry.Pos must grow across calls; Reasons are kept as given.
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
	// DeleteStaleImports removes every uncommitted import; call it at
	// start, before any import begins. It returns how many it removed.
	DeleteStaleImports(ctx context.Context) (int, error)

	// Job returns a committed job; ErrNotFound if there is none.
	Job(ctx context.Context, id string) (Job, error)
	// ListJobs returns one page of committed jobs, newest first unless
	// q.OldestFirst.
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

// Errors of the store.
var (
	// ErrNotFound: no such committed job.
	ErrNotFound = errors.New("job not found")
	// ErrStateConflict: the job is not in a state that allows the change.
	ErrStateConflict = errors.New("job state does not allow this")
	// ErrBadPageToken: a page token this store did not make.
	ErrBadPageToken = errors.New("invalid page token")
)

// State is a job's state. The numbers are stored: never renumber.
type State int

// The job states.
const (
	// StateQueued: imported, waiting for a delivery worker.
	StateQueued State = 1
	// StateRunning: a worker is sending (or will resume sending) chunks.
	StateRunning State = 2
	// StateSucceeded: every entry was acknowledged by TOP.
	StateSucceeded State = 3
	// StateFailed: every chunk was tried and at least one was refused by
	// TOP for good.
	StateFailed State = 4
	// StateCancelled: cancelled before it finished; chunks not yet sent
	// are never sent.
	StateCancelled State = 5
	// StateImporting: entries are still arriving; invisible outside the
	// store.
	StateImporting State = 9
)

// String names the state.
func (s State) String() string {
	switch s {
	case StateQueued:
		return "queued"
	case StateRunning:
		return "running"
	case StateSucceeded:
		return "succeeded"
	case StateFailed:
		return "failed"
	case StateCancelled:
		return "cancelled"
	case StateImporting:
		return "importing"
	}
	return "unknown"
}

// Terminal reports whether a job in this state is finished for good.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// JobSpec is what a job is created with.
type JobSpec struct {
	// ID is the job's id, unique, chosen by the caller.
	ID string
	// SupplierID is TOP's supplier_id for every chunk.
	SupplierID string
	// OperateType, ServiceType and AbilityType are TOP's values for every
	// chunk (operate_type 1 upsert or 2 delete; the types "1").
	OperateType, ServiceType, AbilityType int
	// ChunkSize is how many entries each TOP call carries; fixed for the
	// job's life, since chunk n's entries must never change.
	ChunkSize int
	// Created is the creation time.
	Created time.Time
}

// Job is a blacklist sync job.
type Job struct {
	JobSpec
	// State is the job's state.
	State State
	// Received counts the entries the import received, Rejected those it
	// refused as invalid, Duplicates the valid ones that repeated a mobile
	// of the same job. Total = Received - Rejected - Duplicates is the
	// number of entries to send.
	Received, Rejected, Duplicates, Total int64
	// Chunks is the number of chunks: Total / ChunkSize rounded up.
	Chunks int64
	// Sent counts the entries of chunks sent at least once; Acknowledged
	// those TOP accepted; Failed those of chunks TOP refused for good.
	Sent, Acknowledged, Failed int64
	// Updated is the time of the last change.
	Updated time.Time
	// LastError is the last failure seen while sending that still stands,
	// if any: a chunk refused for good (Final), or a failure being retried
	// until its chunk is acknowledged. A Succeeded job has none.
	LastError *JobError
}

// JobError is a failure of a chunk, as TOP reported it.
type JobError struct {
	// Chunk is the chunk's number; -1 when the failure concerns no chunk.
	Chunk int64
	// Code is TOP's code: the blacklist sync's own code (e.g. "400") or
	// error_response's code (e.g. "15"); empty when TOP did not answer.
	Code string
	// SubCode is error_response's sub_code, if any.
	SubCode string
	// Message is TOP's message, with phone and ID numbers masked.
	Message string
	// TOPRequestID is TOP's request_id of the failed call, if any.
	TOPRequestID string
	// Final is true when the chunk failed for good, false when it is being
	// retried.
	Final bool
	// Time is when it happened.
	Time time.Time
}

// Entry is one blacklist entry of a job.
type Entry struct {
	// Pos orders the entries of an import (the entry's position in the
	// caller's stream); after the commit it is the entry's number, 0 to
	// Total-1, and chunk n holds numbers n*ChunkSize to (n+1)*ChunkSize-1.
	Pos int64
	// Mobile is a validated mainland mobile number: 11 digits.
	Mobile string
	// Reasons is a bit set of TOP's reasons 1 to 5 (bit r for reason r).
	Reasons uint8
}

// ImportCounts are the import's own counters, given at commit.
type ImportCounts struct {
	// Received counts every entry received; Rejected the invalid ones.
	Received, Rejected int64
}

// ChunkState is a chunk's state. The numbers are stored: never renumber.
type ChunkState int

// The chunk states.
const (
	// ChunkNew: never sent.
	ChunkNew ChunkState = 0
	// ChunkSent: sent at least once, outcome not recorded yet.
	ChunkSent ChunkState = 1
	// ChunkAcknowledged: TOP accepted the chunk.
	ChunkAcknowledged ChunkState = 2
	// ChunkFailed: TOP refused the chunk for good.
	ChunkFailed ChunkState = 3
)

// ChunkResult is the outcome of a chunk.
type ChunkResult struct {
	// State is ChunkAcknowledged or ChunkFailed.
	State ChunkState
	// Code, SubCode, Message and TOPRequestID are TOP's, as in JobError.
	Code, SubCode, Message, TOPRequestID string
	// Time is when the outcome arrived.
	Time time.Time
}

// JobQuery selects jobs for ListJobs.
type JobQuery struct {
	// States keeps jobs in these states; empty is every committed state.
	States []State
	// SupplierID keeps one supplier's jobs; empty is every supplier.
	SupplierID string
	// PageSize is the most jobs per page; 0 means 50.
	PageSize int
	// PageToken continues from a previous page's NextPageToken.
	PageToken string
	// OldestFirst lists the oldest jobs first.
	OldestFirst bool
}

// JobPage is one page of jobs.
type JobPage struct {
	// Jobs are the page's jobs.
	Jobs []Job
	// NextPageToken asks for the next page; empty on the last one.
	NextPageToken string
}

// JobUpdate is a change to a job.
type JobUpdate struct {
	// From lists the states the job must be in; empty accepts any.
	From []State
	// State is the new state; 0 keeps it.
	State State
	// Error, when set, becomes the job's last error.
	Error *JobError
	// Time is when the change happened.
	Time time.Time
}
