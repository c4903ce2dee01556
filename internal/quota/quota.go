// Package quota is what keeps servicecenterd within the TOP app's limits
// and its callers within theirs: the app's TOP quota (Limiter), the quota
// bans TOP announces (Bans) and the per-caller rate limits (Callers).
//
// This package holds the interfaces and the in-process implementations,
// which the embedded default (one process, no --redis-url) uses: a token
// bucket (golang.org/x/time/rate) for the quota and for each caller, and a
// ban table whose common case, no ban, costs one atomic load. The same
// interfaces on Redis, shared by replicas, are in quota/redisquota.
package quota

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Limiter is the app's TOP quota: every call to TOP waits for a turn.
type Limiter interface {
	// Wait blocks until the app may send one call of method to TOP. It
	// returns a *BannedError, without taking a turn, when a ban covers
	// method (an implementation that learns of bans on the way, as the
	// Redis one does, says so here), and an error wrapping ctx's when ctx
	// ends first or the wait would pass ctx's deadline.
	Wait(ctx context.Context, method string) error
}

// Bans are the quota bans TOP announced for the app: app-wide or for one
// API, each until a time.
type Bans interface {
	// Check returns the ban in force at now that covers method (the app's
	// first, then method's own), or nil. It must be cheap: it runs before
	// every call.
	Check(ctx context.Context, method string, now time.Time) *Ban
	// Record starts b (its Until capped by MaxBanUntil) unless a ban of
	// the same scope lasting longer is already in force, and returns the
	// ban in force for b's scope.
	Record(ctx context.Context, b Ban, now time.Time) Ban
}

// Callers are the per-caller rate limits of the gRPC and REST API.
type Callers interface {
	// Allow takes one turn from client's limit; when there is none it
	// returns false and how long until there will be. A zero or negative
	// limit.PerSecond allows everything.
	Allow(ctx context.Context, client string, limit Rate, now time.Time) (bool, time.Duration)
}

// Rate is a sustained rate and a burst.
type Rate struct {
	// PerSecond is the sustained rate; 0 or less is no limit.
	PerSecond float64
	// Burst is how many turns may be taken at once; 0 means PerSecond
	// rounded up (at least 1).
	Burst int
}

// Ban is one quota ban TOP announced.
type Ban struct {
	// Scope says whether the ban covers the whole app or one API.
	Scope top.BanScope
	// Method is the API a top.BanAPI ban covers ("" for the app).
	Method string
	// Until is when the ban ends.
	Until time.Time
	// Resp is TOP's error that announced it (it holds no personal data:
	// the TOP client scrubs it first).
	Resp top.ErrorResponse
}

// BannedError is Limiter.Wait's answer for a call a ban covers.
type BannedError struct {
	// Ban is the ban in force.
	Ban Ban
}

// Error implements error.
func (e *BannedError) Error() string {
	return fmt.Sprintf("quota: %s is banned until %s", e.Ban.Method, e.Ban.Until.UTC().Format(time.RFC3339Nano))
}

// ErrWouldPassDeadline is wrapped by Limiter.Wait's error when the turn
// would come after the context's deadline.
var ErrWouldPassDeadline = errors.New("the wait for a turn would pass the deadline")

// beijing is China Standard Time, where TOP's daily quota resets at
// midnight (no daylight saving time).
var beijing = time.FixedZone("CST", 8*60*60)

// MaxBanUntil is the latest end a ban announced at now may have: TOP's
// longest ban, the daily app quota's, ends at midnight Beijing time, so a
// longer one is a malformed message. When that midnight is less than an
// hour away, the next one is the cap, so that a short frequency ban
// announced just before midnight keeps its length.
func MaxBanUntil(now time.Time) time.Time {
	b := now.In(beijing)
	midnight := time.Date(b.Year(), b.Month(), b.Day()+1, 0, 0, 0, 0, beijing)
	if midnight.Sub(now) < time.Hour {
		midnight = midnight.AddDate(0, 0, 1)
	}
	return midnight
}

// CapUntil is until, or MaxBanUntil(now) when that is earlier.
func CapUntil(now, until time.Time) time.Time {
	if m := MaxBanUntil(now); until.After(m) {
		return m
	}
	return until
}

// burst is EffectiveBurst.
func (r Rate) burst() int {
	if r.Burst > 0 {
		return r.Burst
	}
	b := int(r.PerSecond)
	if float64(b) < r.PerSecond {
		b++
	}
	return max(1, b)
}

// EffectiveBurst is r's burst with the default filled in: Burst, or
// PerSecond rounded up (at least 1).
func (r Rate) EffectiveBurst() int { return r.burst() }
