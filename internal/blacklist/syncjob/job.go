package syncjob

import (
	"errors"
	"time"
)

// The job model: what a Store keeps and the Manager reads.

// Errors of the job model, returned (wrapped) by a Store and by the
// Manager.
var (
	// ErrJobNotFound: no committed job has this id (for the import calls
	// of a Store: no import in progress has it either).
	ErrJobNotFound = errors.New("blacklist sync job not found")
	// ErrStateConflict: the job is not in a state that allows the change.
	ErrStateConflict = errors.New("job state does not allow this")
	// ErrNoFailedChunks: the job has no failed chunk to retry.
	ErrNoFailedChunks = errors.New("the job has no failed chunks")
	// ErrBadPageToken: a page token that was not made by ListJobs for a
	// query in the same order.
	ErrBadPageToken = errors.New("invalid page token")
	// ErrFull: the store could not write because it has no space left (a
	// full disk, or the SQLite store's size cap). Nothing was changed by
	// the failed call; the store goes on working, without a restart, once
	// space is freed.
	ErrFull = errors.New("store is full: no space left in the data directory")
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

// CommittedStates are the states of committed jobs, the ones ListJobs
// shows by default.
func CommittedStates() []State {
	return []State{StateQueued, StateRunning, StateSucceeded, StateFailed, StateCancelled}
}

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
	// PageSize is the most jobs per page; 0 means DefaultPageSize, and
	// more than MaxPageSize means MaxPageSize.
	PageSize int
	// PageToken continues from a previous page's NextPageToken, of a
	// query in the same order.
	PageToken string
	// OldestFirst lists the oldest jobs first.
	OldestFirst bool
}

// Page sizes of ListJobs.
const (
	// DefaultPageSize is the page size of a JobQuery without one.
	DefaultPageSize = 50
	// MaxPageSize is the largest page ListJobs returns.
	MaxPageSize = 1000
)

// JobPage is one page of jobs.
type JobPage struct {
	// Jobs are the page's jobs.
	Jobs []Job
	// NextPageToken asks for the next page; empty on the last one.
	NextPageToken string
}

// RejectionQuery asks for a page of a job's rejected entries.
type RejectionQuery struct {
	// JobID is the job.
	JobID string
	// PageSize is the most rejections per page; 0 means
	// DefaultRejectionPageSize, and more than MaxPageSize means
	// MaxPageSize.
	PageSize int
	// PageToken continues from a previous page's NextPageToken.
	PageToken string
}

// DefaultRejectionPageSize is the page size of a RejectionQuery without
// one.
const DefaultRejectionPageSize = 100

// RejectionPage is one page of a job's rejected entries.
type RejectionPage struct {
	// Rejections are the page's, by growing Index.
	Rejections []Rejection
	// NextPageToken asks for the next page; empty on the last one.
	NextPageToken string
}

// PageSizeOf is the page size a query asks for: def for 0, at most
// MaxPageSize.
func PageSizeOf(n, def int) int {
	switch {
	case n <= 0:
		return def
	case n > MaxPageSize:
		return MaxPageSize
	}
	return n
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
