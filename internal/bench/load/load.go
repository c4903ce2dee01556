// Package load is servicecenterd's closed-loop load generator: a
// fixed number of callers call as fast as answers come back, first for a
// warm-up that is not measured, then for a measured window, recording
// every call's latency and the CPU time that the watched processes (the
// servers under test, never the generator) spent in that window.
package load

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// CallFunc makes one request; worker is the caller's index (0 to
// Concurrency-1), so that a caller can keep per-worker state.
type CallFunc func(ctx context.Context, worker int) error

// Config is one load point.
type Config struct {
	// Concurrency is how many callers run at once.
	Concurrency int
	// Warmup runs before the measured window; its calls are not counted.
	Warmup time.Duration
	// Duration is the measured window's least length.
	Duration time.Duration
	// MinCalls extends the measured window past Duration until at least
	// this many calls finished in it (succeeded or failed), so that a
	// window shorter than the calls themselves (a cold server, a loaded
	// machine) still measures calls instead of ending empty; Elapsed is
	// the window as it really ran, so RPS stays true. 0 means 1. Failed
	// calls count too, and CallTimeout bounds every call, so the window
	// always ends.
	MinCalls int64
	// CallTimeout bounds each call.
	CallTimeout time.Duration
	// Call makes one request.
	Call CallFunc
	// Watch are the processes whose CPU time is measured over the window.
	Watch []Process
}

// Result is what one load point measured.
type Result struct {
	// Requests is how many calls both started and finished in the window
	// and succeeded.
	Requests int64
	// Errors is how many calls finished in the window with an error.
	Errors int64
	// FirstError is the first error seen, "" when there was none.
	FirstError string
	// Elapsed is the measured window as it really ran: Duration, or
	// longer when fewer than MinCalls calls had finished by then.
	Elapsed time.Duration
	// Latency summarises the successful calls' latencies.
	Latency Summary
	// CPU is the CPU time (user + system) each watched process spent in the
	// window, in the order of Config.Watch.
	CPU []time.Duration
	// MachineBusy is the CPU time the whole machine spent busy in the
	// window; minus the watched processes' CPU, it is other load that
	// competed with the benchmark.
	MachineBusy time.Duration
}

// OtherCores is the machine's busy CPU time in the window beyond the
// watched processes', in cores (0.5 is half a core busy elsewhere).
func (r Result) OtherCores() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	other := r.MachineBusy
	for _, c := range r.CPU {
		other -= c
	}
	return max(0, other.Seconds()/r.Elapsed.Seconds())
}

// RPS is successful requests per second over the window.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// CPUPer1k is CPU seconds per 1,000 successful requests of watched process
// i; 0 when there were none.
func (r Result) CPUPer1k(i int) float64 {
	if r.Requests == 0 || i >= len(r.CPU) {
		return 0
	}
	return r.CPU[i].Seconds() * 1000 / float64(r.Requests)
}

// worker is one caller's record of the measured window.
type worker struct {
	latencies []time.Duration
	errors    int64
	firstErr  error
}

// Run runs one load point: Concurrency callers for Warmup, then for
// Duration measured (longer until MinCalls calls finished in the window).
// It returns early, with an error, when ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Concurrency < 1 || cfg.Duration <= 0 || cfg.Call == nil || cfg.MinCalls < 0 {
		return Result{}, errors.New("loadbench: need Concurrency >= 1, Duration > 0, MinCalls >= 0 and Call")
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.MinCalls == 0 {
		cfg.MinCalls = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// window holds the measured window's start and end in Unix
	// nanoseconds; 0 until they are known. A call counts when it started
	// at or after start and finished at or before end.
	var start, end atomic.Int64
	var stop atomic.Bool
	// finished counts the calls finished in the window; enough is closed
	// by the call that makes it MinCalls.
	var finished atomic.Int64
	enough := make(chan struct{})
	workers := make([]worker, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		w.latencies = make([]time.Duration, 0, 1024)
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil {
				t0 := time.Now()
				cctx, ccancel := context.WithTimeout(ctx, cfg.CallTimeout)
				err := cfg.Call(cctx, i)
				ccancel()
				t1 := time.Now()
				s := start.Load()
				if s == 0 || t0.UnixNano() < s {
					continue
				}
				if e := end.Load(); e != 0 && t1.UnixNano() > e {
					continue
				}
				if err != nil && ctx.Err() != nil {
					continue
				}
				if finished.Add(1) == cfg.MinCalls {
					close(enough)
				}
				if err != nil {
					w.errors++
					if w.firstErr == nil {
						w.firstErr = err
					}
					continue
				}
				w.latencies = append(w.latencies, t1.Sub(t0))
			}
		})
	}

	wait := func(d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	finish := func(err error) (Result, error) {
		stop.Store(true)
		cancel()
		wg.Wait()
		return Result{}, err
	}
	if err := wait(cfg.Warmup); err != nil {
		return finish(err)
	}
	before, err := cpuOf(cfg.Watch)
	if err != nil {
		return finish(err)
	}
	busyBefore, err := MachineBusy()
	if err != nil {
		return finish(err)
	}
	t0 := time.Now()
	start.Store(t0.UnixNano())
	if err := wait(cfg.Duration); err != nil {
		return finish(err)
	}
	select {
	case <-enough:
	case <-ctx.Done():
		return finish(ctx.Err())
	}
	t1 := time.Now()
	end.Store(t1.UnixNano())
	after, err := cpuOf(cfg.Watch)
	if err != nil {
		return finish(err)
	}
	busyAfter, err := MachineBusy()
	if err != nil {
		return finish(err)
	}
	stop.Store(true)
	wg.Wait()

	res := Result{Elapsed: t1.Sub(t0), CPU: make([]time.Duration, len(before)), MachineBusy: busyAfter - busyBefore}
	for i := range before {
		res.CPU[i] = after[i] - before[i]
	}
	var all []time.Duration
	for i := range workers {
		w := &workers[i]
		all = append(all, w.latencies...)
		res.Errors += w.errors
		if w.firstErr != nil && res.FirstError == "" {
			res.FirstError = w.firstErr.Error()
		}
	}
	res.Requests = int64(len(all))
	res.Latency = Summarize(all)
	return res, nil
}

func cpuOf(ps []Process) ([]time.Duration, error) {
	out := make([]time.Duration, len(ps))
	for i, p := range ps {
		d, err := p.CPU()
		if err != nil {
			return nil, fmt.Errorf("cpu of %s: %w", p.Name, err)
		}
		out[i] = d
	}
	return out, nil
}

// Summary describes a set of latencies.
type Summary struct {
	// Count is how many latencies there were.
	Count int
	// Mean, P50, P90, P99 and Max are the mean, the nearest-rank
	// percentiles and the largest latency.
	Mean, P50, P90, P99, Max time.Duration
}

// Summarize sorts ds in place and summarises them.
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Summary{
		Count: len(ds),
		Mean:  sum / time.Duration(len(ds)),
		P50:   Percentile(ds, 50),
		P90:   Percentile(ds, 90),
		P99:   Percentile(ds, 99),
		Max:   ds[len(ds)-1],
	}
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted
// latencies: the smallest value with at least p% of the values at or
// below it. It is 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(p / 100 * float64(n))
	if float64(rank) < p/100*float64(n) {
		rank++ // ceil
	}
	rank = max(1, min(n, rank))
	return sorted[rank-1]
}
