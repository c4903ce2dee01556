// Package syncjob is the durable bulk blacklist sync: it imports entries
// into a job in its Store (the job model is this package's, job.go;
// internal/store implements the Store), then River workers (river.go; the
// client is internal/jobqueue's) send the job to TOP's
// taobao.logistics.express.user.blacklist.tms.sync in chunks until every
// chunk is acknowledged or refused for good, across TOP outages, restarts
// of servicecenterd and replicas that die: one River job per chunk,
// inserted in the transaction that commits the import, completed in the
// transaction that records the chunk's outcome, so that a chunk has an
// outcome exactly when its River job is done.
//
// Exactly once: after its import, a job's entries are numbered in a fixed
// order and chunk n always holds entries n*ChunkSize to (n+1)*ChunkSize-1
// (the chunk size is fixed when the job is created). Each chunk is sent
// with request_id "<job id>:<n>" (RequestID) and the same payload, so a
// chunk resent after a crash is answered by TOP as a replay of its
// idempotency key and applied once.
//
// Outcomes of a chunk:
//   - TOP accepts it: acknowledged.
//   - TOP refuses its content for good (top.RepeatNever: an isv.*
//     sub_code, codes 40, 41 and 43 without an isp.* sub_code, or the
//     sync's own success=false with is_retry=false, such as 400 PARAM_ERROR
//     or 409 REQUEST_ID_CONFLICT): failed, with TOP's code and message; the
//     job goes on with its other chunks.
//   - A quota ban: the chunk's River job is snoozed until the ban ends,
//     then resent (a snooze is not an attempt).
//   - Anything else (is_retry=true, isp.* and platform errors, transport
//     failures, bad answers, and also auth or permission errors, which an
//     operator can fix): resent by River with exponential backoff (equal
//     jitter: a random wait in [d/2, d], d doubling from RetryBase up to
//     RetryMax; internal/backoff), up to MaxAttempts sends (days), until
//     it succeeds or the job is cancelled; after the last, the chunk is
//     failed ("gave up after N attempts"). The job's last error shows the
//     failure.
//
// Replicas: any number of processes may share one PostgreSQL store; each
// works chunks of any job, and a replica that dies mid-chunk leaves its
// River jobs running until River's rescuer (jobqueue's RescueAfter) makes
// them available again. Watch follows a job changed by another replica by
// reading the store at least every WatchPoll.
//
// A job ends SUCCEEDED when every entry was acknowledged, FAILED when every
// chunk was tried and at least one failed for good, CANCELLED when
// cancelled before it finished (chunks not yet sent are never sent; a
// chunk in flight may or may not have reached TOP).
package syncjob

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// MaxChunkSize is the most entries one TOP call carries: TOP's per-call
// limit as servicecenterd knows it (SyncUserBlacklist's and the emulator's).
const MaxChunkSize = 100

// Defaults of Config and Settings.
const (
	DefaultChunkSize      = 100
	DefaultConcurrentJobs = 2
	DefaultChunksInFlight = 4
	DefaultRetryBase      = 500 * time.Millisecond
	DefaultRetryMax       = 30 * time.Second
	DefaultWatchInterval  = 250 * time.Millisecond
	DefaultWatchPoll      = 250 * time.Millisecond
)

// MaxRejections is how many rejected entries an import reports one by one;
// the job's Rejected counter counts them all.
const MaxRejections = 100

// Syncer sends the blacklist sync calls to TOP: top.BlacklistSync through
// top.Do (internal/topclient's Client implements it: it signs,
// rate-limits, retries what is safe and refuses calls during a quota ban).
// Its errors are read through top.FailureOf.
type Syncer = top.Invoker

// Config configures a Manager.
type Config struct {
	// Store keeps the jobs (required).
	Store Store
	// TOP sends the chunks (required).
	TOP Syncer
	// Engine runs the chunks' deliveries (required): NewRiver over the
	// same store.
	Engine Engine
	// Settings are the chunk size and the concurrency (settings.go); a
	// zero value means its default (DefaultChunkSize,
	// DefaultConcurrentJobs, DefaultChunksInFlight).
	Settings
	// RetryBase and RetryMax bound the backoff between resends of a chunk
	// after a transient failure; 0 means DefaultRetryBase, DefaultRetryMax.
	RetryBase, RetryMax time.Duration
	// WatchInterval is the least time between two updates of one Watch;
	// 0 means DefaultWatchInterval.
	WatchInterval time.Duration
	// WatchPoll is the most time a Watch goes without reading the job
	// from the store, so that it follows changes made by other replicas;
	// 0 means DefaultWatchPoll.
	WatchPoll time.Duration
	// Logger logs job starts and ends and failures (never entries); nil
	// discards.
	Logger *slog.Logger
	// Observer, when set, is told of every job and chunk event (for
	// metrics and audit). It is called synchronously from the import and
	// delivery goroutines: it must be quick and safe for concurrent use.
	Observer func(Event)
	// TracerProvider, when set, traces each chunk's delivery as a trace
	// of its own (trace.go); nil traces nothing.
	TracerProvider trace.TracerProvider
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// EventKind says what happened.
type EventKind int

// The events.
const (
	// EventJobQueued: an import was committed; the job is QUEUED.
	EventJobQueued EventKind = iota + 1
	// EventJobStarted: a worker took the job's first chunk.
	EventJobStarted
	// EventChunkAcknowledged: TOP accepted a chunk.
	EventChunkAcknowledged
	// EventChunkFailed: TOP refused a chunk for good (Event.Error says why).
	EventChunkFailed
	// EventChunkRetrying: a chunk failed transiently and will be resent
	// (Event.Error says why).
	EventChunkRetrying
	// EventJobFinished: the job reached SUCCEEDED, FAILED or CANCELLED.
	EventJobFinished
)

// String names the event.
func (k EventKind) String() string {
	switch k {
	case EventJobQueued:
		return "job_queued"
	case EventJobStarted:
		return "job_started"
	case EventChunkAcknowledged:
		return "chunk_acknowledged"
	case EventChunkFailed:
		return "chunk_failed"
	case EventChunkRetrying:
		return "chunk_retrying"
	case EventJobFinished:
		return "job_finished"
	}
	return "unknown"
}

// Event is one thing that happened to a job.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Job is the job as it was right after the event (for
	// EventChunkRetrying, as last read).
	Job Job
	// Chunk is the chunk's number for chunk events, else -1.
	Chunk int64
	// Error is the failure of EventChunkFailed and EventChunkRetrying.
	Error *JobError
}

// Errors of the Manager, besides those of the job model (job.go).
var (
	// ErrJobFinished: the job already finished, so it cannot be cancelled.
	ErrJobFinished = errors.New("blacklist sync job already finished")
	// ErrStopped: the manager is shutting down.
	ErrStopped = errors.New("blacklist sync is shutting down")
	// ErrJobNotFinished: the job is still QUEUED or RUNNING, so its failed
	// chunks cannot be retried yet.
	ErrJobNotFinished = errors.New("blacklist sync job not finished yet: retry its failed chunks once it has ended")
	// ErrJobCancelled: the job was cancelled; its chunks are not sent
	// again (import the entries again).
	ErrJobCancelled = errors.New("blacklist sync job was cancelled: its chunks are not sent again; import the entries again")
	// ErrNoEntries: an import received no entry at all.
	ErrNoEntries = errors.New("the import has no entries")
)

// Manager runs blacklist sync jobs: imports, delivery, cancellation,
// progress. It is safe for concurrent use.
type Manager struct {
	cfg    Config
	store  Store
	top    Syncer
	logger *slog.Logger
	now    func() time.Time

	engine   Engine
	stopped  chan struct{} // closed when Run's context ends
	stopOnce sync.Once

	mu      sync.Mutex
	nextRun uint64
	running map[string]map[uint64]context.CancelFunc // chunks being sent here, by job
	changed map[string]*watchSlot                    // watchers waiting for a job's next change
}

// Engine is the job engine that delivers a Manager's chunks: River
// (NewRiver). Its methods are this package's.
type Engine interface {
	// attach ties the engine to its Manager (once).
	attach(m *Manager) error
	// commitImport commits an import with the deliveries of its chunks.
	commitImport(ctx context.Context, jobID string, counts ImportCounts, now time.Time) (Job, error)
	// cancelJob applies u (to CANCELLED) and drops the job's deliveries
	// not yet begun; ErrStateConflict when the job is not in u.From.
	cancelJob(ctx context.Context, id string, u JobUpdate) (Job, error)
	// retryFailed makes a FAILED job's failed chunks new and queues their
	// deliveries again (TxStore.RetryFailedChunksWith's errors); it
	// returns the job and how many chunks.
	retryFailed(ctx context.Context, id string, now time.Time) (Job, int, error)
	// oldestChunkWait is how long the oldest delivery that may run at now
	// has waited; 0 when none waits.
	oldestChunkWait(ctx context.Context, now time.Time) (time.Duration, error)
}

// watchSlot is closed at a job's next change; n counts its watchers.
type watchSlot struct {
	ch chan struct{}
	n  int
}

// New returns a Manager. It removes imports a crash left uncommitted, so
// it must be created before any import of this process begins.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.TOP == nil || cfg.Engine == nil {
		return nil, errors.New("bulksync: Store, TOP and Engine are required")
	}
	cfg.Settings = cfg.Settings.withDefaults()
	if err := cfg.Settings.Validate(); err != nil {
		return nil, fmt.Errorf("bulksync: %w", err)
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.WatchInterval <= 0 {
		cfg.WatchInterval = DefaultWatchInterval
	}
	if cfg.WatchPoll <= 0 {
		cfg.WatchPoll = DefaultWatchPoll
	}
	m := &Manager{
		cfg: cfg, store: cfg.Store, top: cfg.TOP, engine: cfg.Engine, logger: cfg.Logger, now: cfg.Now,
		stopped: make(chan struct{}),
		running: map[string]map[uint64]context.CancelFunc{}, changed: map[string]*watchSlot{},
	}
	if err := m.engine.attach(m); err != nil {
		return nil, fmt.Errorf("bulksync: %w", err)
	}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	n, err := m.store.DeleteStaleImports(ctx)
	if err != nil {
		return nil, fmt.Errorf("bulksync: %w", err)
	}
	if n > 0 {
		m.logger.Warn("removed blacklist imports a previous run left unfinished", slog.Int("imports", n))
	}
	return m, nil
}

// ChunkSize is the chunk size of new jobs.
func (m *Manager) ChunkSize() int { return m.cfg.ChunkSize }

// RequestID is the request_id of chunk n of a job: "<job id>:<n>". It is
// the same on every send of the chunk, so TOP applies the chunk once.
func RequestID(jobID string, n int64) string {
	return jobID + ":" + strconv.FormatInt(n, 10)
}

// newJobID returns a new job id: "bj-" and 24 random base32 characters
// (120 bits), so request ids stay unique for TOP even across data
// directories.
func newJobID() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return "bj-" + strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// Job returns a committed job; ErrJobNotFound if there is none.
func (m *Manager) Job(ctx context.Context, id string) (Job, error) {
	return m.store.Job(ctx, id)
}

// ListJobs returns one page of committed jobs (Store.ListJobs).
func (m *Manager) ListJobs(ctx context.Context, q JobQuery) (JobPage, error) {
	return m.store.ListJobs(ctx, q)
}

// ListRejections returns one page of a committed job's rejected entries
// (Store.ListRejections).
func (m *Manager) ListRejections(ctx context.Context, q RejectionQuery) (RejectionPage, error) {
	return m.store.ListRejections(ctx, q)
}

// Counts counts the jobs by state (for metrics).
func (m *Manager) Counts(ctx context.Context) (map[State]int64, error) {
	return m.store.CountJobs(ctx)
}

// SyncJobCounts counts the jobs by state name (queued, running,
// succeeded, failed, cancelled; every state, 0 when none), for the
// servicecenterd_sync_jobs gauge (metrics.SyncJobCounter).
func (m *Manager) SyncJobCounts(ctx context.Context) (map[string]int64, error) {
	counts, err := m.store.CountJobs(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, 5)
	for _, st := range CommittedStates() {
		out[st.String()] = counts[st]
	}
	return out, nil
}

// OldestChunkWait is how long the oldest chunk that may be sent now
// (waiting for its first send, or for a resend whose backoff is over) has
// waited for a worker, on any replica; 0 when none waits. A chunk waiting
// out a TOP ban or a backoff is not counted until its wait ends. It is
// the servicecenterd_sync_chunks_oldest_age_seconds gauge
// (metrics.SyncChunkQueue): it grows when the replicas' workers do not
// keep up, or none runs.
func (m *Manager) OldestChunkWait(ctx context.Context) (time.Duration, error) {
	return m.engine.oldestChunkWait(ctx, m.now())
}

// Cancel cancels a job that has not finished: chunks not yet sent are
// never sent, a chunk in flight on this replica is abandoned (one in
// flight on another replica may still reach TOP). It returns the job, and
// ErrJobFinished (with the job) when it had already finished.
func (m *Manager) Cancel(ctx context.Context, id string) (Job, error) {
	j, err := m.engine.cancelJob(ctx, id, JobUpdate{
		From: []State{StateQueued, StateRunning}, State: StateCancelled, Time: m.now(),
	})
	switch {
	case errors.Is(err, ErrStateConflict):
		return j, ErrJobFinished
	case err != nil:
		return j, err
	}
	m.mu.Lock()
	stops := m.running[id]
	delete(m.running, id)
	m.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	m.logger.Info("blacklist sync job cancelled", slog.String("job_id", id))
	m.changedJob(j)
	m.emit(Event{Kind: EventJobFinished, Job: j, Chunk: -1})
	return j, nil
}

// RetryFailedChunks sends the failed chunks of a FAILED job again, with
// their request ids unchanged (TOP answers a chunk it applied as a replay
// of its request_id): the job becomes QUEUED, its failed chunks new, and
// it runs until they have their outcomes. It returns the job and how many
// chunks were queued. Errors: ErrJobNotFound; ErrJobNotFinished (QUEUED,
// RUNNING); ErrNoFailedChunks (SUCCEEDED, or FAILED without a failed
// chunk); ErrJobCancelled.
func (m *Manager) RetryFailedChunks(ctx context.Context, id string) (Job, int, error) {
	j, n, err := m.engine.retryFailed(ctx, id, m.now())
	if errors.Is(err, ErrStateConflict) {
		switch {
		case !j.State.Terminal():
			return j, 0, ErrJobNotFinished
		case j.State == StateCancelled:
			return j, 0, ErrJobCancelled
		default:
			return j, 0, ErrNoFailedChunks
		}
	}
	if errors.Is(err, ErrNoFailedChunks) {
		return j, 0, ErrNoFailedChunks
	}
	if err != nil {
		return j, 0, err
	}
	m.logger.Info("blacklist sync job's failed chunks queued again", slog.String("job_id", id), slog.Int("chunks", n))
	m.changedJob(j)
	m.emit(Event{Kind: EventJobQueued, Job: j, Chunk: -1})
	return j, n, nil
}

// Run serves Watch until ctx ends, then ends the watches in progress
// (ErrStopped). The deliveries are the engine's: River's client runs them
// (internal/jobqueue's Queue.Run).
func (m *Manager) Run(ctx context.Context) error {
	<-ctx.Done()
	m.stopOnce.Do(func() { close(m.stopped) })
	return nil
}

// start makes a QUEUED job RUNNING (the first chunk taken, on any
// replica) and returns it as it is now.
func (m *Manager) start(ctx context.Context, id string) (Job, error) {
	j, err := m.store.UpdateJob(ctx, id, JobUpdate{From: []State{StateQueued}, State: StateRunning, Time: m.now()})
	switch {
	case errors.Is(err, ErrStateConflict):
		return j, nil // another worker started it
	case err != nil:
		return j, fmt.Errorf("start job: %w", err)
	}
	m.logger.Info("blacklist sync job running", slog.String("job_id", id), slog.Int64("chunks", j.Chunks),
		slog.Int64("total", j.Total))
	m.changedJob(j)
	m.emit(Event{Kind: EventJobStarted, Job: j, Chunk: -1})
	return j, nil
}

// track registers a chunk of job id being sent here, so that Cancel stops
// it; done unregisters it.
func (m *Manager) track(ctx context.Context, id string) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	m.mu.Lock()
	m.nextRun++
	n := m.nextRun
	if m.running[id] == nil {
		m.running[id] = map[uint64]context.CancelFunc{}
	}
	m.running[id][n] = cancel
	m.mu.Unlock()
	return ctx, func() {
		cancel()
		m.mu.Lock()
		delete(m.running[id], n)
		if len(m.running[id]) == 0 {
			delete(m.running, id)
		}
		m.mu.Unlock()
	}
}

// changedJob wakes the watchers of j.
func (m *Manager) changedJob(j Job) {
	m.mu.Lock()
	slot := m.changed[j.ID]
	delete(m.changed, j.ID)
	m.mu.Unlock()
	if slot != nil {
		close(slot.ch)
	}
}

// changes returns a channel closed at the job's next change, and a
// function to call when no longer waiting on it.
func (m *Manager) changes(id string) (<-chan struct{}, func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	slot := m.changed[id]
	if slot == nil {
		slot = &watchSlot{ch: make(chan struct{})}
		m.changed[id] = slot
	}
	slot.n++
	return slot.ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if slot.n--; slot.n == 0 && m.changed[id] == slot {
			delete(m.changed, id)
		}
	}
}

func (m *Manager) emit(e Event) {
	if m.cfg.Observer != nil {
		m.cfg.Observer(e)
	}
}
