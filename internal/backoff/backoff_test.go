package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCeiling(t *testing.T) {
	tests := []struct {
		name      string
		base, max time.Duration
		want      []time.Duration // retries 1, 2, ...
	}{
		{"doubles to the cap", 100 * time.Millisecond, 350 * time.Millisecond,
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 350 * time.Millisecond, 350 * time.Millisecond}},
		{"exact powers", time.Second, 8 * time.Second,
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}},
		{"base over max", time.Minute, time.Second, []time.Duration{time.Second, time.Second}},
		{"no base", 0, time.Second, []time.Duration{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Base: tt.base, Max: tt.max}
			for i, want := range tt.want {
				if got := p.Ceiling(i + 1); got != want {
					t.Fatalf("Ceiling(%d) = %v, want %v", i+1, got, want)
				}
			}
		})
	}
	// No overflow far out.
	p := Policy{Base: time.Hour, Max: 1<<63 - 1}
	if got := p.Ceiling(200); got != p.Max {
		t.Fatalf("Ceiling(200) = %v", got)
	}
}

func TestDelayRange(t *testing.T) {
	const d = 800 * time.Millisecond
	tests := []struct {
		jitter   Jitter
		low      int64 // what Rand returns for the lowest delay
		min, max time.Duration
	}{
		{Full, 0, 0, d - 1},
		{Equal, 0, d / 2, d},
	}
	for _, tt := range tests {
		var asked []int64
		p := Policy{Base: d, Max: d, Jitter: tt.jitter, Rand: func(n int64) int64 { asked = append(asked, n); return 0 }}
		if got := p.Delay(1); got != tt.min {
			t.Errorf("jitter %d: lowest delay %v, want %v", tt.jitter, got, tt.min)
		}
		p.Rand = func(n int64) int64 { return n - 1 }
		if got := p.Delay(1); got != tt.max {
			t.Errorf("jitter %d: highest delay %v, want %v", tt.jitter, got, tt.max)
		}
		p.Rand = nil
		for range 1000 {
			if got := p.Delay(3); got < tt.min || got > tt.max {
				t.Fatalf("jitter %d: delay %v outside [%v, %v]", tt.jitter, got, tt.min, tt.max)
			}
		}
	}
	if got := (Policy{}).Delay(1); got != 0 {
		t.Fatalf("zero policy: %v", got)
	}
}

func TestWait(t *testing.T) {
	if err := Wait(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled context = %v", err)
	}
}
