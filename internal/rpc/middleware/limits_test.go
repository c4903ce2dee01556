package middleware

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

func TestRateLimiterAllow(t *testing.T) {
	limits := map[string]RateLimit{"a": {PerSecond: 1, Burst: 2}, "b": {PerSecond: 0.5}}
	l := NewRateLimiter(nil, func(c string) RateLimit { return limits[c] }, nil, nil)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		client string
		at     time.Duration
		ok     bool
		wait   time.Duration
	}{
		{"a", 0, true, 0},
		{"a", 0, true, 0},
		{"a", 0, false, time.Second},
		{"a", 500 * time.Millisecond, false, 500 * time.Millisecond},
		{"a", time.Second, true, 0},
		{"b", 0, true, 0}, // burst: the rate rounded up, 1
		{"b", 0, false, 2 * time.Second},
		{"unlimited", 0, true, 0},
		{"unlimited", 0, true, 0},
	}
	for i, s := range steps {
		ok, wait := l.Allow(context.Background(), s.client, now.Add(s.at))
		if ok != s.ok || wait != s.wait {
			t.Fatalf("step %d (%s at %v): %v %v, want %v %v", i, s.client, s.at, ok, wait, s.ok, s.wait)
		}
	}
	// A changed limit applies at once (a reloaded clients file).
	limits["a"] = RateLimit{PerSecond: 100, Burst: 100}
	if ok, _ := l.Allow(context.Background(), "a", now.Add(time.Second)); !ok {
		t.Fatal("raised limit not applied")
	}
}

func TestRateLimitInterceptor(t *testing.T) {
	var limited []string
	l := NewRateLimiter(nil, func(string) RateLimit { return RateLimit{PerSecond: 0.001, Burst: 1} },
		func(m string) bool { return m == "/h.H/Check" }, func(c string) { limited = append(limited, c) })
	ctx := rpc.WithCall(context.Background(), &rpc.Call{Client: "c1"})
	ok := func(context.Context, any) (any, error) { return "ok", nil }
	call := func(method string) error {
		_, err := l.UnaryInterceptor()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method}, ok)
		return err
	}
	if err := call("/s.S/M"); err != nil {
		t.Fatal(err)
	}
	err := call("/s.S/M")
	if status.Code(err) != codes.ResourceExhausted || len(status.Convert(err).Details()) != 2 {
		t.Fatalf("over the limit: %v", err)
	}
	for range 3 {
		if err := call("/h.H/Check"); err != nil {
			t.Fatalf("exempt method limited: %v", err)
		}
	}
	if len(limited) != 1 || limited[0] != "c1" {
		t.Fatalf("onLimited calls: %v", limited)
	}
}

func TestDefaultDeadline(t *testing.T) {
	deadlineOf := func(ctx context.Context, _ any) (any, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			return time.Duration(0), nil
		}
		return time.Until(dl), nil
	}
	info := &grpc.UnaryServerInfo{FullMethod: "/s.S/M"}
	got, _ := UnaryDefaultDeadline(time.Hour)(context.Background(), nil, info, deadlineOf)
	if d := got.(time.Duration); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("no deadline given: %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	got, _ = UnaryDefaultDeadline(time.Hour)(ctx, nil, info, deadlineOf)
	if d := got.(time.Duration); d < 119*time.Minute {
		t.Fatalf("the caller's deadline was replaced: %v", d)
	}
	got, _ = UnaryDefaultDeadline(0)(context.Background(), nil, info, deadlineOf)
	if d := got.(time.Duration); d != 0 {
		t.Fatalf("0 set a deadline: %v", d)
	}
	// Streams: a deadline unless the method is long-lived by design.
	for method, want := range map[string]bool{"/s.S/Short": true, "/s.S/Watch": false} {
		var has bool
		err := StreamDefaultDeadline(time.Hour, "/s.S/Watch")(nil, &fakeStream{ctx: context.Background()},
			&grpc.StreamServerInfo{FullMethod: method}, func(_ any, ss grpc.ServerStream) error {
				_, has = ss.Context().Deadline()
				return nil
			})
		if err != nil || has != want {
			t.Errorf("%s: deadline %v, want %v (%v)", method, has, want, err)
		}
	}
}

// fakeStream is a grpc.ServerStream with only a context.
type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (f *fakeStream) Context() context.Context { return f.ctx }
