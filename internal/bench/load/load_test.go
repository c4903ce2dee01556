package load

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(i + 1)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", []time.Duration{ms(7)}, 99, ms(7)},
		{"p50 of 100", hundred, 50, ms(50)},
		{"p99 of 100", hundred, 99, ms(99)},
		{"p100 of 100", hundred, 100, ms(100)},
		{"p1 of 100", hundred, 1, ms(1)},
		{"p50 of 3 rounds up", []time.Duration{ms(1), ms(2), ms(3)}, 50, ms(2)},
		{"p99 of 3", []time.Duration{ms(1), ms(2), ms(3)}, 99, ms(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(p%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize([]time.Duration{ms(4), ms(1), ms(3), ms(2)})
	want := Summary{Count: 4, Mean: 2500 * time.Microsecond, P50: ms(2), P90: ms(4), P99: ms(4), Max: ms(4)}
	if s != want {
		t.Errorf("Summarize = %+v, want %+v", s, want)
	}
	if (Summarize(nil) != Summary{}) {
		t.Error("Summarize(nil) is not zero")
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "1234 (servicecenterd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 0 0", 3 * time.Second, false},
		{"command with spaces and parens", "77 (a (b) c) R 1 77 77 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 0 0", 100 * time.Millisecond, false},
		{"no command", "77 a R 1", 0, true},
		{"too short", "77 (a) R 1 2 3", 0, true},
		{"not a number", "77 (a) R 1 77 77 0 -1 0 0 0 0 0 x 3 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseStatCPU = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseProcStatBusy(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	got, err := ParseProcStatBusy([]byte("cpu  100 20 30 5000 40 5 5 10 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil || got != 1700*time.Millisecond {
		t.Errorf("ParseProcStatBusy = %v, %v; want 1.7s", got, err)
	}
	if _, err := ParseProcStatBusy([]byte("intr 1 2 3\n")); err == nil {
		t.Error("no error without a cpu line")
	}
}

// TestProcessCPUOfSelf burns CPU (for at most 5 s) until /proc shows it:
// the reading counts this process's own work.
func TestProcessCPUOfSelf(t *testing.T) {
	self := Process{Name: "self"}
	before, err := self.CPU()
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		for i := range 1_000_000 {
			x += i % 7
		}
		after, err := self.CPU()
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			return
		}
	}
	t.Fatalf("no CPU time seen after 5 s of work (%d)", x)
}

// TestRun drives a fake call that fails every third time: the counts add
// up, errors are kept apart and latencies are summarised. The window ends
// after 30 calls at the least (not after a time a loaded machine could
// fill with nothing), so both successes and errors are in it.
func TestRun(t *testing.T) {
	var calls atomic.Int64
	boom := errors.New("boom")
	res, err := Run(context.Background(), Config{
		Concurrency: 4, Warmup: 20 * time.Millisecond, Duration: 10 * time.Millisecond, MinCalls: 30,
		Call: func(ctx context.Context, worker int) error {
			if worker < 0 || worker >= 4 {
				t.Errorf("worker %d", worker)
			}
			if calls.Add(1)%3 == 0 {
				return boom
			}
			time.Sleep(100 * time.Microsecond)
			return nil
		},
		Watch: []Process{{Name: "self"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests+res.Errors < 30 || res.Requests == 0 || res.Errors == 0 || res.FirstError != "boom" {
		t.Fatalf("requests %d errors %d first %q", res.Requests, res.Errors, res.FirstError)
	}
	if res.Requests+res.Errors > calls.Load() {
		t.Fatalf("counted %d calls of %d made", res.Requests+res.Errors, calls.Load())
	}
	if res.Latency.Count != int(res.Requests) || res.Latency.P50 < 100*time.Microsecond || res.Latency.P99 < res.Latency.P50 {
		t.Fatalf("latency %+v", res.Latency)
	}
	if len(res.CPU) != 1 || res.RPS() <= 0 || res.CPUPer1k(0) < 0 || res.CPUPer1k(5) != 0 {
		t.Fatalf("cpu %v rps %v", res.CPU, res.RPS())
	}
}

// TestRunWindowShorterThanCalls: a measured window that ends before any
// call could finish in it (a cold server, a loaded machine) is extended
// until MinCalls calls (by default one) finished in it, and Elapsed is the
// window as it ran, so that RPS stays true.
func TestRunWindowShorterThanCalls(t *testing.T) {
	tests := []struct {
		name     string
		minCalls int64
		want     int64
	}{
		{"default", 0, 1},
		{"five", 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const callTime = 20 * time.Millisecond
			res, err := Run(context.Background(), Config{
				Concurrency: 1, Duration: time.Millisecond, MinCalls: tt.minCalls,
				Call: func(ctx context.Context, _ int) error {
					time.Sleep(callTime)
					return nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests < tt.want || res.Errors != 0 {
				t.Fatalf("requests %d errors %d, want at least %d requests", res.Requests, res.Errors, tt.want)
			}
			// Every counted call lies inside the window.
			if res.Elapsed < time.Duration(res.Requests)*callTime || res.RPS() <= 0 {
				t.Fatalf("elapsed %v for %d calls of %v each, rps %v", res.Elapsed, res.Requests, callTime, res.RPS())
			}
		})
	}
}

// TestRunErrorsEndTheWindow: calls that all fail still end a window that
// waits for MinCalls, and are counted as errors.
func TestRunErrorsEndTheWindow(t *testing.T) {
	res, err := Run(context.Background(), Config{
		Concurrency: 2, Duration: time.Millisecond, MinCalls: 10,
		Call: func(ctx context.Context, _ int) error { return errors.New("down") },
	})
	if err != nil || res.Requests != 0 || res.Errors < 10 || res.FirstError != "down" {
		t.Fatalf("requests %d errors %d first %q, %v", res.Requests, res.Errors, res.FirstError, err)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, Config{Concurrency: 2, Duration: time.Hour, Call: func(ctx context.Context, _ int) error {
		<-ctx.Done()
		return ctx.Err()
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	call := func(context.Context, int) error { return nil }
	for _, cfg := range []Config{
		{Concurrency: 0, Duration: time.Second, Call: call},
		{Concurrency: 1, Duration: 0, Call: call},
		{Concurrency: 1, Duration: time.Second},
		{Concurrency: 1, Duration: time.Second, MinCalls: -1, Call: call},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}
