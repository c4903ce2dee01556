package events

import (
	"errors"
	"time"
)

// Settings are the event log's settings of `servicecenterd serve`: flags,
// SERVICECENTERD_* variables and YAML keys (internal/config).
type Settings struct {
	// Retention is how long stored events are kept; 0 is forever.
	Retention time.Duration `flag:"event-retention" default:"168h" help:"How long stored TMC events are kept (168h is 7 days): older ones are deleted at start and then every hour, in batches of 1000; a watcher or consumer whose cursor is older gets FAILED_PRECONDITION. 0 keeps them forever; otherwise at least 1h."`
}

// MinRetention is the shortest retention accepted (besides 0).
const MinRetention = time.Hour

// Validate checks the settings; errors name the flag.
func (s Settings) Validate() error {
	if s.Retention < 0 || (s.Retention > 0 && s.Retention < MinRetention) {
		return errors.New("--event-retention must be 0 (keep forever) or at least 1h")
	}
	return nil
}
