package idempotency

import (
	"errors"
	"time"
)

// Settings are the idempotency keys' settings of `servicecenterd serve`:
// flags, SERVICECENTERD_* variables and YAML keys (internal/config).
type Settings struct {
	// TTL is Options.TTL.
	TTL time.Duration `flag:"idempotency-ttl" default:"24h" help:"How long the outcome of a call with an idempotency key is kept: a retry with the key within it gets the same answer (marked idempotency-replayed) without the call running again. Expired keys are deleted every 10 minutes. At least 1m."`
	// Require is Options.Require.
	Require bool `flag:"require-idempotency-key" default:"false" help:"Refuse AssignWorker, UpdateWorker and BindVirtualPhone calls without an idempotency key (idempotency-key metadata, Idempotency-Key header) with INVALID_ARGUMENT."`
}

// MinTTL is the shortest --idempotency-ttl accepted: shorter than a
// client's retries would take, it would protect nothing.
const MinTTL = time.Minute

// Validate checks the settings; errors name the flag.
func (s Settings) Validate() error {
	if s.TTL < MinTTL {
		return errors.New("--idempotency-ttl must be at least 1m")
	}
	return nil
}
