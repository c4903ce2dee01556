package middleware

import "errors"

// RateLimitSettings are the per-client rate limit's settings of
// `servicecenterd serve`: flags, SERVICECENTERD_* variables and YAML keys
// (internal/config). A client's own limit in the clients file overrides
// them (internal/auth).
type RateLimitSettings struct {
	PerSecond float64 `flag:"rate-limit" default:"0" help:"Calls per second each client may make (a token bucket per client; a client's rate_limit in the clients file overrides it); 0 is no limit. Over it: RESOURCE_EXHAUSTED with RetryInfo."`
	Burst     int     `flag:"rate-burst" default:"0" help:"Bucket size of --rate-limit; 0 means the rate rounded up."`
}

// Validate checks the settings; errors name the flag.
func (s RateLimitSettings) Validate() error {
	if s.PerSecond < 0 || s.Burst < 0 {
		return errors.New("--rate-limit and --rate-burst must not be negative")
	}
	return nil
}

// Limit is the rate the settings give every client.
func (s RateLimitSettings) Limit() RateLimit { return RateLimit(s) }
