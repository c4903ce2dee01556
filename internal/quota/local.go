package quota

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// LocalLimiter is the quota as an in-process token bucket.
type LocalLimiter struct {
	lim *rate.Limiter
}

// NewLocalLimiter returns a token bucket of r (r.PerSecond must be
// positive).
func NewLocalLimiter(r Rate) *LocalLimiter {
	return &LocalLimiter{lim: rate.NewLimiter(rate.Limit(r.PerSecond), r.burst())}
}

// Wait implements Limiter. It refuses at once a wait that would pass ctx's
// deadline.
func (l *LocalLimiter) Wait(ctx context.Context, _ string) error {
	if err := l.lim.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("quota: %w", ctx.Err())
		}
		return fmt.Errorf("quota: %w: %w", ErrWouldPassDeadline, context.DeadlineExceeded)
	}
	return nil
}

// Burst is the bucket's size.
func (l *LocalLimiter) Burst() int { return l.lim.Burst() }

// SetRate changes the bucket's rate and burst (the Redis limiter's
// fallback follows the replica count).
func (l *LocalLimiter) SetRate(r Rate) {
	l.lim.SetLimit(rate.Limit(r.PerSecond))
	l.lim.SetBurst(r.burst())
}

// LocalBans remembers the bans of one app key in the process: one for the
// whole app and one per API. The common case, no ban at all, costs one
// atomic load.
type LocalBans struct {
	any atomic.Bool // a ban may be active; cleared when all have expired
	mu  sync.Mutex
	app *Ban
	api map[string]*Ban
}

// NewLocalBans returns an empty ban table.
func NewLocalBans() *LocalBans { return &LocalBans{} }

// Check implements Bans.
func (b *LocalBans) Check(_ context.Context, method string, now time.Time) *Ban {
	if !b.any.Load() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.app != nil && !now.Before(b.app.Until) {
		b.app = nil
	}
	for m, x := range b.api {
		if !now.Before(x.Until) {
			delete(b.api, m)
		}
	}
	if b.app == nil && len(b.api) == 0 {
		b.any.Store(false)
		return nil
	}
	if x := b.app; x != nil {
		out := *x
		out.Method = method
		return &out
	}
	if x := b.api[method]; x != nil {
		out := *x
		return &out
	}
	return nil
}

// Record implements Bans.
func (b *LocalBans) Record(_ context.Context, x Ban, now time.Time) Ban {
	x.Until = CapUntil(now, x.Until)
	b.mu.Lock()
	defer b.mu.Unlock()
	switch x.Scope {
	case top.BanAPI:
		if old := b.api[x.Method]; old != nil && !old.Until.Before(x.Until) {
			x = *old
		} else {
			if b.api == nil {
				b.api = make(map[string]*Ban)
			}
			b.api[x.Method] = &x
		}
	default:
		method := x.Method
		if b.app != nil && !b.app.Until.Before(x.Until) {
			x = *b.app
		} else {
			b.app = &x
		}
		x.Method = method
	}
	b.any.Store(true)
	return x
}

// LocalCallers keeps a token bucket per caller. The set of callers is the
// clients file's (all unauthenticated callers share ""), so the buckets
// are bounded.
type LocalCallers struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	limit Rate
	lim   *rate.Limiter
}

// NewLocalCallers returns per-caller token buckets.
func NewLocalCallers() *LocalCallers { return &LocalCallers{buckets: map[string]*bucket{}} }

// Allow implements Callers. A bucket is made anew when client's limit
// changes (a reloaded clients file applies at once).
func (l *LocalCallers) Allow(_ context.Context, client string, want Rate, now time.Time) (bool, time.Duration) {
	if want.PerSecond <= 0 {
		return true, 0
	}
	want.Burst = want.burst()
	l.mu.Lock()
	b, ok := l.buckets[client]
	if !ok || b.limit != want {
		b = &bucket{limit: want, lim: rate.NewLimiter(rate.Limit(want.PerSecond), want.Burst)}
		l.buckets[client] = b
	}
	l.mu.Unlock()
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
