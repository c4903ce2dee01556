//go:build eventsbench

package events

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// benchSize is BENCH_EVENTS (default def).
func benchSize(t *testing.T, def int) int {
	t.Helper()
	if s := os.Getenv("BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("BENCH_EVENTS: %q", s)
		}
		return n
	}
	return def
}

// TestBenchEvents is `make bench-events`: a real servicecenterd (the
// built binary, SQLite in a temp dir, or PostgreSQL with
// BENCH_DATABASE_URL) consumes the emulator of this process; n messages
// (BENCH_EVENTS, default 5000) are published as fast as the emulator
// takes them, and a WatchEvents subscriber receives them. It reports
// events/s from the first publish to the last receipt, and the latency
// of each message from its publish to its receipt (p50, p99, max).
func TestBenchEvents(t *testing.T) {
	n := benchSize(t, 5000)
	emu := testserver.StartEmulator(t, topemu.Config{})
	var extra []string
	if url := os.Getenv("BENCH_DATABASE_URL"); url != "" {
		extra = append(extra, "--database-url", url)
	}
	p := serve(t, emu, emu.TMCURL(), t.TempDir(), extra...)
	w := watch(t, p.Events, &scv1.WatchEventsRequest{})

	burst := run(t, emu, w, n, 0)
	t.Logf("burst: %s", burst)
	paced := run(t, emu, w, min(n, 1000), 100)
	t.Logf("paced at 100/s: %s", paced)
	t.Logf("server peak RSS %.1f MiB", float64(p.PeakRSS(t))/(1<<20))
}

// run publishes n messages, at rate per second (0: as fast as the
// emulator takes them), and receives them on w; it describes the
// throughput and the latencies from publish to receipt.
func run(t *testing.T, emu *testserver.Emulator, w *watchStream, n, rate int) string {
	t.Helper()
	var mu sync.Mutex
	published := make(map[int64]time.Time, n)
	start := time.Now()
	go func() {
		for i := range n {
			if rate > 0 {
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
			}
			now := time.Now()
			id, err := emu.PublishTMC(topemu.TMCMessage{Topic: "tmall_fuwu_WorkcardStatusUpdate",
				Content: `{"workcard_id":1,"action":"create","tp_id":1,"type":1,"status":1,"comment":"","update_date":"2026-01-01 00:00:00"}`})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			published[id] = now
			mu.Unlock()
		}
	}()
	lat := make([]time.Duration, 0, n)
	for range n {
		e := w.next(t, time.Minute)
		got := time.Now()
		mu.Lock()
		at, ok := published[e.GetMessageId()]
		mu.Unlock()
		if !ok { // received before the publisher noted it: as good as now
			at = got
		}
		lat = append(lat, got.Sub(at))
	}
	total := time.Since(start)
	slices.Sort(lat)
	q := func(f float64) time.Duration { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
	return fmt.Sprintf("%d events in %v: %.0f events/s; publish-to-watcher latency p50 %v, p99 %v, max %v",
		n, total.Round(time.Millisecond), float64(n)/total.Seconds(), q(.5).Round(time.Microsecond), q(.99).Round(time.Microsecond),
		lat[len(lat)-1].Round(time.Microsecond))
}

// TestBenchUnconfirmed: n messages (BENCH_EVENTS, default 10000) are
// delivered to servicecenterd and stored, and none is confirmed (a proxy
// drops the confirms): the channel holds them all in flight. It reports
// the server's peak RSS then, and after it has been killed and restarted,
// how long the redelivery of all n takes to be confirmed.
func TestBenchUnconfirmed(t *testing.T) {
	n := benchSize(t, 10000)
	emu := testserver.StartEmulator(t, topemu.Config{TMCWindow: n, TMCRedeliveryTimeout: time.Hour})
	proxy := newConfirmDropper(t, strings.TrimPrefix(emu.URL, "http://"))
	dir := t.TempDir()
	p := serve(t, emu, proxy.URL(), dir)
	idle := p.PeakRSS(t)
	ids := make([]int64, n)
	for i := range n {
		id, err := emu.PublishTMC(topemu.TMCMessage{Topic: "tmall_fuwu_WorkcardInfo", Content: `{"result":"{\"workcard_id\":1}"}`})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	testserver.WaitFor(t, "every confirm dropped", func() bool { return proxy.dropped.Load() >= int64(n) })
	st := emu.TMCStatus()
	t.Logf("%d messages stored and unconfirmed (channel: %+v): server peak RSS %.1f MiB (idle %.1f MiB)",
		n, st.Counters, float64(p.PeakRSS(t))/(1<<20), float64(idle)/(1<<20))
	p.Kill(t)
	start := time.Now()
	second := serve(t, emu, emu.TMCURL(), dir)
	testserver.WaitFor(t, "every redelivery confirmed", func() bool {
		recs, err := emu.TMCMessages(topemu.TMCFilter{State: topemu.TMCConfirmed})
		return err == nil && len(recs) == n
	})
	t.Logf("after SIGKILL and restart, %d redeliveries confirmed in %v (each found stored); peak RSS %.1f MiB",
		n, time.Since(start).Round(time.Millisecond), float64(second.PeakRSS(t))/(1<<20))
	checkOnce(t, allEvents(t, second.Events), ids)
}
