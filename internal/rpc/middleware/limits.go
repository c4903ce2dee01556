package middleware

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// UnaryDefaultDeadline gives a call that came without a deadline one of d
// (nothing when d <= 0), so that no call runs unbounded.
func UnaryDefaultDeadline(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if _, ok := ctx.Deadline(); ok || d <= 0 {
			return handler(ctx, req)
		}
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return handler(ctx, req)
	}
}

// StreamDefaultDeadline is UnaryDefaultDeadline for streams, except the
// methods in longLived (full method names): streams that by design last as
// long as their work (a bulk import, a watch of a job), which the client
// ends or bounds.
func StreamDefaultDeadline(d time.Duration, longLived ...string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if _, ok := ss.Context().Deadline(); ok || d <= 0 || slices.Contains(longLived, info.FullMethod) {
			return handler(srv, ss)
		}
		ctx, cancel := context.WithTimeout(ss.Context(), d)
		defer cancel()
		return handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
	}
}

// RateLimitReason is the ErrorInfo reason of a call refused by the
// per-client rate limit.
const RateLimitReason = "RATE_LIMITED"

// RateLimit is the rate a client may call at.
type RateLimit struct {
	// PerSecond is the sustained rate; 0 or less is no limit.
	PerSecond float64
	// Burst is the bucket size; 0 means the rate rounded up (at least 1).
	Burst int
}

// RateLimiter keeps a token bucket per client (Call.Client; all
// unauthenticated callers share the bucket of ""). The set of clients is
// the clients file's, so the buckets are bounded.
type RateLimiter struct {
	limitOf   func(client string) RateLimit
	exempt    func(fullMethod string) bool
	onLimited func(client string)

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	limit RateLimit
	lim   *rate.Limiter
}

// NewRateLimiter returns a limiter asking limitOf for each client's rate
// at every call (so that a reloaded clients file applies at once).
// exempt methods (health checks) are never limited; onLimited, if not
// nil, is told of each refusal.
func NewRateLimiter(limitOf func(client string) RateLimit, exempt func(fullMethod string) bool, onLimited func(client string)) *RateLimiter {
	return &RateLimiter{limitOf: limitOf, exempt: exempt, onLimited: onLimited, buckets: map[string]*bucket{}}
}

// Allow takes a token from client's bucket; when there is none it returns
// false and how long until there will be.
func (l *RateLimiter) Allow(client string, now time.Time) (bool, time.Duration) {
	want := l.limitOf(client)
	if want.PerSecond <= 0 {
		return true, 0
	}
	if want.Burst <= 0 {
		want.Burst = max(1, int(math.Ceil(want.PerSecond)))
	}
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

// UnaryInterceptor refuses a call over its client's rate with
// RESOURCE_EXHAUSTED, a google.rpc.RetryInfo saying when to retry and an
// ErrorInfo (reason RATE_LIMITED). Chain it after authentication, which
// names the client.
func (l *RateLimiter) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := l.check(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor is UnaryInterceptor for streams (one token a stream).
func (l *RateLimiter) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := l.check(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

func (l *RateLimiter) check(ctx context.Context, method string) error {
	if l.exempt != nil && l.exempt(method) {
		return nil
	}
	client := rpc.CallFrom(ctx).Client
	ok, wait := l.Allow(client, time.Now())
	if ok {
		return nil
	}
	if l.onLimited != nil {
		l.onLimited(client)
	}
	who := "client " + client
	if client == "" {
		who = "unauthenticated callers"
	}
	st := status.New(codes.ResourceExhausted, fmt.Sprintf("rate limit of %s exceeded; retry in %s", who, wait.Round(time.Millisecond)))
	md := map[string]string{"retry_after_ms": fmt.Sprint(wait.Milliseconds())}
	if client != "" {
		md["client"] = client
	}
	return rpc.WithDetails(st, rpc.Info(RateLimitReason, md), &errdetails.RetryInfo{RetryDelay: durationpb.New(wait)})
}
