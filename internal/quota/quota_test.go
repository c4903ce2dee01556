package quota_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/quota"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

func TestMaxBanUntil(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ now, want time.Time }{
		{time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 16, 0, 0, 0, time.UTC)},
		{time.Date(2026, 1, 2, 15, 59, 0, 0, time.UTC), time.Date(2026, 1, 3, 16, 0, 0, 0, time.UTC)},
		{time.Date(2026, 1, 2, 16, 0, 0, 0, time.UTC), time.Date(2026, 1, 3, 16, 0, 0, 0, time.UTC)},
		{time.Date(2026, 1, 2, 14, 59, 0, 0, time.UTC), time.Date(2026, 1, 2, 16, 0, 0, 0, time.UTC)},
	} {
		if got := quota.MaxBanUntil(tc.now); !got.Equal(tc.want) {
			t.Errorf("MaxBanUntil(%v) = %v, want %v", tc.now, got, tc.want)
		}
	}
}

// TestLocalBans checks the in-process table: scopes, the longest ban
// wins, expiry, and the cap.
func TestLocalBans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	b := quota.NewLocalBans()
	b.Record(ctx, quota.Ban{Scope: top.BanAPI, Method: "a", Until: now.Add(time.Minute)}, now)
	if got := b.Record(ctx, quota.Ban{Scope: top.BanAPI, Method: "a", Until: now.Add(time.Second)}, now); !got.Until.Equal(now.Add(time.Minute)) {
		t.Fatalf("shorter ban won: %+v", got)
	}
	steps := []struct {
		at     time.Duration
		method string
		banned bool
	}{
		{0, "a", true},
		{0, "b", false},
		{time.Minute, "a", false},
	}
	for i, s := range steps {
		if got := b.Check(ctx, s.method, now.Add(s.at)); (got != nil) != s.banned {
			t.Fatalf("step %d: Check = %+v", i, got)
		}
	}
	got := b.Record(ctx, quota.Ban{Scope: top.BanApp, Method: "a", Until: now.Add(1000 * time.Hour)}, now)
	if !got.Until.Equal(quota.MaxBanUntil(now)) {
		t.Fatalf("uncapped: %+v", got)
	}
	if x := b.Check(ctx, "c", now); x == nil || x.Method != "c" || x.Scope != top.BanApp {
		t.Fatalf("app ban for c: %+v", x)
	}
}

func TestLocalLimiterDeadline(t *testing.T) {
	t.Parallel()
	l := quota.NewLocalLimiter(quota.Rate{PerSecond: 0.1})
	if err := l.Wait(context.Background(), "m"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := l.Wait(ctx, "m"); !errors.Is(err, quota.ErrWouldPassDeadline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v", err)
	}
}
