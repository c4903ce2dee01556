package tmc_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/tmc"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// workcardContent is a tmall_fuwu_WorkcardStatusUpdate payload of the usual
// size; the benchmarks put the publish time in front of it.
const workcardContent = `{"workcard_id":7000000001,"action":"create","status":1,"type":1,"tp_id":2000001,"comment":"","update_date":"2024-01-02 03:04:05"}`

// BenchmarkClientThroughput: messages from the emulator's channel through
// the client to a handler that stores nothing, over loopback: messages/s
// and publish-to-handler latency percentiles.
func BenchmarkClientThroughput(b *testing.B) {
	emu, err := topemu.New(topemu.Config{})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(emu)
	defer hs.Close()
	srv := "ws" + strings.TrimPrefix(hs.URL, "http") + "/"
	var mu sync.Mutex
	var lat []time.Duration
	var got atomic.Int64
	c, err := tmc.NewClient(tmc.Config{URL: srv, AppKey: topemu.DefaultAppKey, AppSecret: topemu.DefaultAppSecret},
		func(_ context.Context, m tmc.Message) error {
			sent, _, _ := strings.Cut(string(m.Content), " ")
			ns, _ := strconv.ParseInt(sent, 10, 64)
			d := time.Duration(time.Now().UnixNano() - ns)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
			got.Add(1)
			return nil
		})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done; _ = emu.Close() }()
	for c.State() != tmc.StateConnected {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := emu.PublishTMC(topemu.TMCMessage{Topic: topemu.TopicWorkcardStatusUpdate,
			Content: strconv.FormatInt(time.Now().UnixNano(), 10) + " " + workcardContent}); err != nil {
			b.Fatal(err)
		}
	}
	for emu.TMCStatus().Counters.Confirmed < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	mu.Lock()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	mu.Unlock()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkClientInFlight: the client's heap with 10k messages received
// and not yet confirmed (the handler holds them back), the emulator running
// as its own process (the built servicecenterd emulator) so that its queues
// do not count.
func BenchmarkClientInFlight(b *testing.B) {
	const inflight = 10000
	bin := filepath.Join(b.TempDir(), "servicecenterd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/servicecenterd").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, bin, "emulator", "--addr", "127.0.0.1:0")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		base := ""
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "url:"); ok {
				base = strings.TrimSuffix(strings.TrimSpace(u), "/router/rest")
				break
			}
		}
		if base == "" {
			b.Fatal("no URL in the emulator's banner")
		}
		go func() { _, _ = bufio.NewReader(stdout).WriteTo(discard{}) }()

		release := make(chan struct{})
		m := &metrics{}
		c, err := tmc.NewClient(tmc.Config{
			URL:    "ws" + strings.TrimPrefix(base, "http") + "/",
			AppKey: topemu.DefaultAppKey, AppSecret: topemu.DefaultAppSecret, Metrics: m,
		}, func(ctx context.Context, _ tmc.Message) error {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(runCtx) }()
		for c.State() != tmc.StateConnected {
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		body := `{"topic":"tmall_fuwu_WorkcardStatusUpdate","content":` + strconv.Quote(workcardContent) + `}`
		for range inflight {
			resp, err := http.Post(base+"/_emulator/tmc/messages", "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("publish: %s", resp.Status)
			}
		}
		for m.snapshot().received < inflight {
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "client-heap-MiB")
		close(release)
		stop()
		<-done
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		cancel()
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkClientLatency: one message at a time from the emulator's
// channel to the handler, over loopback: publish-to-handler latency
// percentiles without queueing.
func BenchmarkClientLatency(b *testing.B) {
	emu, err := topemu.New(topemu.Config{})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(emu)
	defer hs.Close()
	arrived := make(chan time.Time, 1)
	c, err := tmc.NewClient(tmc.Config{URL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/", AppKey: topemu.DefaultAppKey, AppSecret: topemu.DefaultAppSecret},
		func(context.Context, tmc.Message) error { arrived <- time.Now(); return nil })
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done; _ = emu.Close() }()
	for c.State() != tmc.StateConnected {
		time.Sleep(time.Millisecond)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		sent := time.Now()
		if _, err := emu.PublishTMC(topemu.TMCMessage{Topic: topemu.TopicWorkcardStatusUpdate, Content: workcardContent}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-arrived).Sub(sent))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
