package syncjob

import (
	"errors"
	"fmt"
	"time"
)

// Settings are the bulk sync's settings of `servicecenterd serve`: flags,
// SERVICECENTERD_* variables and YAML keys (internal/config).
type Settings struct {
	// ChunkSize is the entries per TOP call of new jobs, 1 to
	// MaxChunkSize.
	ChunkSize int `flag:"sync-chunk-size" default:"100" help:"Entries per TOP call of new bulk blacklist sync jobs, 1 to 100 (fixed per job)."`
	// ConcurrentJobs and ChunksInFlight, 1 to MaxConcurrency each, size
	// the chunks one replica sends at once: ConcurrentJobs ×
	// ChunksInFlight River workers (Workers). River takes older jobs'
	// chunks first, so later jobs wait QUEUED.
	ConcurrentJobs int `flag:"sync-concurrent-jobs" default:"2" help:"Bulk blacklist sync jobs one replica delivers at once: with --sync-chunks-in-flight, it sends concurrent-jobs × chunks-in-flight chunks at once (River's workers), older jobs' chunks first; later jobs wait QUEUED."`
	// ChunksInFlight: see ConcurrentJobs.
	ChunksInFlight int `flag:"sync-chunks-in-flight" default:"4" help:"TOP calls in flight per bulk blacklist sync job and replica (see --sync-concurrent-jobs)."`
	// RescueAfter is how long a chunk may be in flight before River's
	// rescuer sends it again (from any replica): the time a replica that
	// died holds its chunks.
	RescueAfter time.Duration `flag:"sync-rescue-after" default:"1m" help:"How long a bulk blacklist sync chunk may be in flight before another replica (River's rescuer, every 30s) sends it again: how long the chunks of a replica that died wait. At least 1s; longer than a TOP call with its retries takes."`
	// PollInterval is how often a replica looks for chunks to send
	// without being told (SQLite; on PostgreSQL, LISTEN/NOTIFY tells and
	// this is the fallback).
	PollInterval time.Duration `flag:"sync-poll-interval" default:"1s" help:"How often a replica looks for bulk blacklist sync chunks to send without a notification (always on SQLite; on PostgreSQL a fallback to LISTEN/NOTIFY). 10ms to 1m."`
	// JobRetention is how long a finished job keeps its entries; 0 is
	// forever.
	JobRetention time.Duration `flag:"job-retention" default:"720h" help:"How long a finished bulk blacklist sync job (succeeded, failed or cancelled) keeps its entries (720h is 30 days): older ones are deleted at start and then every hour, in batches; the job, its counters, outcome and chunk results stay. 0 keeps entries forever; otherwise at least 1h."`
}

// MinJobRetention is the shortest --job-retention accepted (besides 0).
const MinJobRetention = time.Hour

// MaxConcurrency bounds ConcurrentJobs and ChunksInFlight.
const MaxConcurrency = 64

// Validate checks the settings; errors name the flag.
func (s Settings) Validate() error {
	var errs []error
	if s.ChunkSize < 1 || s.ChunkSize > MaxChunkSize {
		errs = append(errs, fmt.Errorf("--sync-chunk-size must be 1 to %d (TOP's entries per call)", MaxChunkSize))
	}
	if s.ConcurrentJobs < 1 || s.ConcurrentJobs > MaxConcurrency {
		errs = append(errs, fmt.Errorf("--sync-concurrent-jobs must be 1 to %d", MaxConcurrency))
	}
	if s.ChunksInFlight < 1 || s.ChunksInFlight > MaxConcurrency {
		errs = append(errs, fmt.Errorf("--sync-chunks-in-flight must be 1 to %d", MaxConcurrency))
	}
	if s.RescueAfter < time.Second {
		errs = append(errs, errors.New("--sync-rescue-after must be at least 1s"))
	}
	if s.PollInterval < 10*time.Millisecond || s.PollInterval > time.Minute {
		errs = append(errs, errors.New("--sync-poll-interval must be 10ms to 1m"))
	}
	if s.JobRetention < 0 || (s.JobRetention > 0 && s.JobRetention < MinJobRetention) {
		errs = append(errs, errors.New("--job-retention must be 0 (keep forever) or at least 1h"))
	}
	return errors.Join(errs...)
}

// Workers is how many chunks one replica sends at once: ConcurrentJobs ×
// ChunksInFlight, the River queue's workers (QueueName). River does not
// bound one job's share of them: older jobs' chunks are taken first.
func (s Settings) Workers() int {
	s = s.withDefaults()
	return s.ConcurrentJobs * s.ChunksInFlight
}

// withDefaults fills the zero values with the defaults.
func (s Settings) withDefaults() Settings {
	if s.ChunkSize == 0 {
		s.ChunkSize = DefaultChunkSize
	}
	if s.ConcurrentJobs == 0 {
		s.ConcurrentJobs = DefaultConcurrentJobs
	}
	if s.ChunksInFlight == 0 {
		s.ChunksInFlight = DefaultChunksInFlight
	}
	if s.RescueAfter == 0 {
		s.RescueAfter = time.Minute
	}
	if s.PollInterval == 0 {
		s.PollInterval = time.Second
	}
	return s
}
