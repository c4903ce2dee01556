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
	// ConcurrentJobs is how many jobs are delivered at once, 1 to
	// MaxConcurrency. Later jobs wait in state QUEUED.
	ConcurrentJobs int `flag:"sync-concurrent-jobs" default:"2" help:"Bulk blacklist sync jobs delivered at once; later jobs wait QUEUED."`
	// ChunksInFlight is how many chunks of one job are sent at once, 1 to
	// MaxConcurrency.
	ChunksInFlight int `flag:"sync-chunks-in-flight" default:"4" help:"TOP calls in flight per bulk blacklist sync job."`
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
	if s.JobRetention < 0 || (s.JobRetention > 0 && s.JobRetention < MinJobRetention) {
		errs = append(errs, errors.New("--job-retention must be 0 (keep forever) or at least 1h"))
	}
	return errors.Join(errs...)
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
	return s
}
