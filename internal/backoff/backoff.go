// Package backoff is servicecenterd's one capped exponential backoff with
// jitter, shared by the TOP client's retries within a call
// (internal/topclient) and the bulk sync's resends of a chunk
// (internal/blacklist/syncjob).
//
// It is ours, not a library's, for two reasons. The common Go backoff
// libraries jitter symmetrically around the delay (d·(1±f)), so a capped
// delay can exceed its cap and neither full jitter ([0, d)) nor equal
// jitter ([d/2, d]) is expressed directly; and both users' tests inject
// the random source to check the delays exactly.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Jitter says how a delay is randomised.
type Jitter int

// The jitter kinds (AWS's names: "Exponential Backoff And Jitter").
const (
	// Full waits a random time in [0, d): the least load on a struggling
	// server, and no floor. The TOP client uses it: its retries are few
	// and bounded by the call's deadline.
	Full Jitter = iota
	// Equal waits a random time in [d/2, d]: half the delay is kept. The
	// bulk sync uses it: it resends without limit, so every resend waits
	// at least half its delay.
	Equal
)

// Policy is capped exponential backoff: retry n (1 for the first retry)
// waits around d = min(Max, Base·2^(n-1)), randomised as Jitter says.
type Policy struct {
	// Base is the first retry's delay before jitter.
	Base time.Duration
	// Max caps the delay before jitter.
	Max time.Duration
	// Jitter says how the delay is randomised.
	Jitter Jitter
	// Rand returns a random number in [0, n) for n > 0; nil means
	// math/rand/v2's Int64N. Tests replace it.
	Rand func(n int64) int64
}

// Ceiling is retry n's delay before jitter: min(Max, Base·2^(n-1)), and 0
// when Base or Max is not positive.
func (p Policy) Ceiling(retry int) time.Duration {
	if p.Base <= 0 || p.Max <= 0 {
		return 0
	}
	d := p.Base
	for i := 1; i < retry && d < p.Max; i++ {
		if d > p.Max/2 {
			return p.Max
		}
		d *= 2
	}
	return min(d, p.Max)
}

// Delay is the wait before retry n (1 for the first retry).
func (p Policy) Delay(retry int) time.Duration {
	d := p.Ceiling(retry)
	if d <= 0 {
		return 0
	}
	random := p.Rand
	if random == nil {
		random = rand.Int64N
	}
	if p.Jitter == Equal {
		return d/2 + time.Duration(random(int64(d/2)+1))
	}
	return time.Duration(random(int64(d)))
}

// Wait waits d, or until ctx ends; then it returns ctx's error.
func Wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
