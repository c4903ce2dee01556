package topemu_test

import (
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// callers is the number of concurrent callers in the benchmarks.
const callers = 64

// benchCalls sends b.N calls from 64 goroutines over loopback and reports
// calls/s. next builds call i (URL and form body).
func benchCalls(b *testing.B, e *env, next func(i int64) (string, string)) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: callers * 2}}
	defer client.CloseIdleConnections()
	var n atomic.Int64
	b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u, body := next(n.Add(1))
			resp, err := client.Post(u, top.FormContentType, strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			out, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(out), `"success":true`) {
				b.Errorf("call failed: %d %s %v", resp.StatusCode, out, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}

// BenchmarkTagListGet is taglist.get (split placement, hmac-sha256) from
// 64 callers.
func BenchmarkTagListGet(b *testing.B) {
	e := newEnv(b, topemu.Config{MaxRecordedCalls: 1000})
	rq := demoCalls(b)[top.MethodWorkerTagList]
	rq.placement = inSplit
	u, body, _ := e.build(rq)
	benchCalls(b, e, func(int64) (string, string) { return u, body })
}

// BenchmarkBlacklistSync100 is the blacklist sync with 100 new entries per
// call from 64 callers, each call with its own request_id, in memory and
// with a SQLite state file.
func BenchmarkBlacklistSync100(b *testing.B) {
	for _, store := range []string{"memory", "sqlite"} {
		b.Run(store, func(b *testing.B) {
			cfg := topemu.Config{MaxRecordedCalls: 1000}
			if store == "sqlite" {
				cfg.StateFile = filepath.Join(b.TempDir(), "bench.db")
			}
			e := newEnv(b, cfg)
			base := e.srv.URL + "/router/rest"
			ts := top.FormatTime(e.clock.Now())
			benchCalls(b, e, func(i int64) (string, string) {
				return signedBlacklist(b, base, ts, i)
			})
			b.StopTimer()
			st := e.emu.Stats().Blacklist
			if want := int64(b.N) * 100; st.EntriesApplied != want || st.MaxAppliesPerMobile != 1 {
				b.Fatalf("applied %d entries (max %d per mobile), want %d once each", st.EntriesApplied, st.MaxAppliesPerMobile, want)
			}
		})
	}
}

// signedBlacklist builds call i: 100 fresh mobiles under request_id bench-i,
// system params in the query, the object in the body.
func signedBlacklist(b *testing.B, base, ts string, i int64) (string, string) {
	obj := make([]byte, 0, 4096)
	obj = append(obj, `{"request_id":"bench-`...)
	obj = strconv.AppendInt(obj, i, 10)
	obj = append(obj, `","request_time":1656674541001,"supplier_id":"10000000001","service_type":"1","ability_type":"1","operate_type":1,"blacklist":[`...)
	for j := int64(0); j < 100; j++ {
		if j > 0 {
			obj = append(obj, ',')
		}
		mobile := strconv.FormatInt(13_000_000_000+i*100+j, 10)
		obj = append(obj, `{"mobile":"`...)
		obj = append(obj, mobile...)
		obj = append(obj, `","reason":"1,2"}`...)
	}
	obj = append(obj, "]}"...)
	sys := []top.Param{
		{Key: "app_key", Value: topemu.DefaultAppKey}, {Key: "format", Value: "json"},
		{Key: "method", Value: top.MethodBlacklistSync}, {Key: "sign_method", Value: "hmac-sha256"},
		{Key: "timestamp", Value: ts}, {Key: "v", Value: "2.0"},
	}
	all := append(append([]top.Param{}, sys...), top.Param{Key: "user_blacklist_request", Value: string(obj)})
	top.SortParams(all)
	sign, err := top.Sign(top.SignHMACSHA256, topemu.DefaultAppSecret, all)
	if err != nil {
		b.Error(err)
	}
	sys = append(sys, top.Param{Key: "sign", Value: sign})
	body := top.AppendForm(nil, []top.Param{{Key: "user_blacklist_request", Value: string(obj)}})
	return base + "?" + string(top.AppendForm(nil, sys)), string(body)
}
