package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/config"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgtest"
)

// benchCallers is the concurrency of BenchmarkIdempotencyKeys.
const benchCallers = 64

// BenchmarkIdempotencyKeys measures AssignWorker at 64 concurrent callers
// on loopback (the embedded emulator as TOP, no rate limit), on each store:
// without a key, with a new key per call (a claim and a stored outcome per
// call) and with one key (every call after the first is a replay, which
// does not reach TOP). It reports calls/s.
//
//	go test ./internal/server -run '^$' -bench BenchmarkIdempotencyKeys -benchtime 5s
func BenchmarkIdempotencyKeys(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			var cfg server.Config
			if _, err := (config.Loader{Name: "bench", Getenv: func(string) (string, bool) { return "", false }}).Load(&cfg, nil); err != nil {
				b.Fatal(err)
			}
			cfg.Listen.GRPCAddr, cfg.Listen.HTTPAddr, cfg.Emulator.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
			cfg.Store.DataDir, cfg.RateLimit.PerSecond, cfg.RateLimit.Burst = b.TempDir(), 1e9, 1e9
			if backend == "postgres" {
				cfg.Store.DatabaseURL = pgtest.NewDatabase(b)
			}
			if err := cfg.Validate(); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			s, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				cancel()
				b.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					b.Error(err)
				}
			}()
			conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			client := scv1.NewWorkcardServiceClient(conn)
			var seq atomic.Int64
			for _, mode := range []string{"no key", "new key", "replay"} {
				b.Run(mode, func(b *testing.B) {
					b.SetParallelism((benchCallers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
					start := time.Now()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							callCtx := context.Background()
							switch mode {
							case "new key":
								callCtx = keyed(callCtx, fmt.Sprint("bench-", seq.Add(1)))
							case "replay":
								callCtx = keyed(callCtx, "bench-replay")
							}
							if _, err := client.AssignWorker(callCtx, assignRequest(1234567)); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
				})
			}
		})
	}
}
