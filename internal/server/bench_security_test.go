package server_test

import (
	"context"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/servicecenterd/servicecenterd/internal/config"
	"github.com/servicecenterd/servicecenterd/internal/server"
)

// BenchmarkSecurityChain measures one gRPC health check through the whole
// interceptor chain on loopback: with the endpoint open (no
// authentication), and closed so that each call checks a bearer token
// and passes the per-client rate limiter. The difference is the cost of
// authentication, authorization and rate limiting per call.
func BenchmarkSecurityChain(b *testing.B) {
	p := newPKI(b)
	for _, bc := range []struct {
		name  string
		open  []string
		token string
	}{
		{"open", []string{"health"}, ""},
		{"token+ratelimit", nil, tokenOps},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var cfg server.Config
			if _, err := (config.Loader{Name: "bench", Getenv: func(string) (string, bool) { return "", false }}).Load(&cfg, nil); err != nil {
				b.Fatal(err)
			}
			cfg.Listen.GRPCAddr, cfg.Listen.HTTPAddr, cfg.Emulator.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
			cfg.Auth.ClientsFile, cfg.Auth.OpenEndpoints, cfg.RateLimit.PerSecond, cfg.RateLimit.Burst = p.clientsFile, bc.open, 1e9, 1e9
			if err := cfg.Validate(); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			s, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
			if err != nil {
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
			client := healthpb.NewHealthClient(conn)
			callCtx := withToken(context.Background(), bc.token)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Check(callCtx, &healthpb.HealthCheckRequest{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
