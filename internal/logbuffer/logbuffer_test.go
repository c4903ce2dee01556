package logbuffer

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is an io.Writer that remembers each Write and when it came.
type recorder struct {
	mu     sync.Mutex
	writes []string
	at     []time.Duration
	start  time.Time
	err    error
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, string(p))
	r.at = append(r.at, time.Since(r.start))
	return len(p), r.err
}

func (r *recorder) snapshot() ([]string, []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...), append([]time.Duration(nil), r.at...)
}

func TestBatches(t *testing.T) {
	const interval = 5 * time.Millisecond
	tests := []struct {
		name     string
		interval time.Duration
		size     int
		lines    []string
		// wantWrites are the underlying writes, and wantAt when each came
		// (fake time, after the lines are written at 0).
		wantWrites []string
		wantAt     []time.Duration
	}{
		{"one interval gathers the lines", interval, 1 << 10,
			[]string{"a\n", "b\n", "c\n"}, []string{"a\nb\nc\n"}, []time.Duration{interval}},
		{"a full buffer is written at once", interval, 4,
			[]string{"a\n", "b\n", "c\n"}, []string{"a\nb\n", "c\n"}, []time.Duration{0, interval}},
		{"no interval: every line at once", 0, 1 << 10,
			[]string{"a\n", "b\n"}, []string{"a\n", "b\n"}, []time.Duration{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := &recorder{start: time.Now()}
				w := New(r, tt.interval, tt.size)
				for _, l := range tt.lines {
					if _, err := w.Write([]byte(l)); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(time.Second) // fake time: every timer has fired
				synctest.Wait()
				writes, at := r.snapshot()
				if fmt.Sprint(writes) != fmt.Sprint(tt.wantWrites) || fmt.Sprint(at) != fmt.Sprint(tt.wantAt) {
					t.Errorf("writes %q at %v, want %q at %v", writes, at, tt.wantWrites, tt.wantAt)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestCloseWritesEverything: lines waiting for their interval are
// written by Close, and lines after Close go straight through.
func TestCloseWritesEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recorder{start: time.Now()}
		w := New(r, time.Hour, 1<<10)
		_, _ = w.Write([]byte("a\n"))
		_, _ = w.Write([]byte("b\n"))
		if writes, _ := r.snapshot(); len(writes) != 0 {
			t.Fatalf("written before the interval: %q", writes)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte("c\n"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		writes, _ := r.snapshot()
		if want := []string{"a\nb\n", "c\n"}; fmt.Sprint(writes) != fmt.Sprint(want) {
			t.Errorf("writes %q, want %q", writes, want)
		}
	})
}

// TestErrors: a write that reaches the underlying writer returns its
// error.
func TestErrors(t *testing.T) {
	boom := errors.New("boom")
	r := &recorder{start: time.Now(), err: boom}
	w := New(r, time.Hour, 2)
	if _, err := w.Write([]byte("abc")); !errors.Is(err, boom) {
		t.Errorf("Write of a full buffer = %v, want %v", err, boom)
	}
	_, _ = w.Write([]byte("a"))
	if err := w.Close(); !errors.Is(err, boom) {
		t.Errorf("Close = %v, want %v", err, boom)
	}
}

// TestConcurrentLines: slog lines from many goroutines arrive whole,
// each once, through timed and full flushes.
func TestConcurrentLines(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := New(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	}), time.Millisecond, 512)
	logger := slog.New(slog.NewTextHandler(w, nil))
	const goroutines, lines = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range lines {
				logger.Info("rpc", "g", g, "i", i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for l := range strings.SplitSeq(strings.TrimSuffix(out.String(), "\n"), "\n") {
		i := strings.Index(l, "msg=rpc g=")
		if i < 0 || seen[l[i:]] {
			t.Fatalf("line %q cut or repeated", l)
		}
		seen[l[i:]] = true
	}
	if len(seen) != goroutines*lines {
		t.Fatalf("%d lines, want %d", len(seen), goroutines*lines)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// BenchmarkLines: a log line's cost, straight to a file and batched.
func BenchmarkLines(b *testing.B) {
	for _, interval := range []time.Duration{0, 5 * time.Millisecond} {
		b.Run(fmt.Sprintf("interval=%v", interval), func(b *testing.B) {
			f, err := os.CreateTemp(b.TempDir(), "log")
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			w := New(f, interval, 64<<10)
			logger := slog.New(slog.NewTextHandler(w, nil))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					logger.Info("rpc", "method", "/servicecenter.v1.WorkerService/GetWorkerTags", "code", "OK")
				}
			})
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
