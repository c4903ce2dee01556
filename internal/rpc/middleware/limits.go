package middleware

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/servicecenterd/servicecenterd/internal/quota"
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

// RateLimit is the rate a client may call at: PerSecond (0 or less is no
// limit) and Burst (0 means the rate rounded up, at least 1).
type RateLimit = quota.Rate

// RateLimiter refuses the calls of a client over its rate limit; the
// limits are kept by a quota.Callers (in the process, or in Redis shared
// by replicas). All unauthenticated callers share the limit of "".
type RateLimiter struct {
	callers   quota.Callers
	limitOf   func(client string) RateLimit
	exempt    func(fullMethod string) bool
	onLimited func(client string)
}

// NewRateLimiter returns a limiter asking limitOf for each client's rate
// at every call (so that a reloaded clients file applies at once) and
// callers whether the call is within it; nil callers means in-process
// token buckets (quota.NewLocalCallers). exempt methods (health checks)
// are never limited; onLimited, if not nil, is told of each refusal.
func NewRateLimiter(callers quota.Callers, limitOf func(client string) RateLimit, exempt func(fullMethod string) bool, onLimited func(client string)) *RateLimiter {
	if callers == nil {
		callers = quota.NewLocalCallers()
	}
	return &RateLimiter{callers: callers, limitOf: limitOf, exempt: exempt, onLimited: onLimited}
}

// Allow takes a turn from client's limit; when there is none it returns
// false and how long until there will be.
func (l *RateLimiter) Allow(ctx context.Context, client string, now time.Time) (bool, time.Duration) {
	want := l.limitOf(client)
	if want.PerSecond <= 0 {
		return true, 0
	}
	return l.callers.Allow(ctx, client, want, now)
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
	ok, wait := l.Allow(ctx, client, time.Now())
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
