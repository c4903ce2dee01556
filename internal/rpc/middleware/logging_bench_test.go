package middleware

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// BenchmarkUnaryLogging is the logging interceptor's cost per call, the
// line written to io.Discard: "off" with the line's level disabled (only
// go-grpc-middleware's per-call work: its fields, peer address, start
// time), "on" with the line written, "on, client and TOP id" with the
// line of an authenticated call that reached TOP (six attributes, as
// GetWorkerTags' line).
func BenchmarkUnaryLogging(b *testing.B) {
	info := &grpc.UnaryServerInfo{FullMethod: "/servicecenter.v1.WorkerService/GetWorkerTags"}
	handler := func(context.Context, any) (any, error) { return "ok", nil }
	for _, bc := range []struct {
		name  string
		level slog.Level
		call  rpc.Call
	}{
		{"on", slog.LevelInfo, rpc.Call{}},
		{"off", slog.LevelWarn, rpc.Call{}},
		{"on, client and TOP id", slog.LevelInfo, rpc.Call{Client: "svc-a", TOPRequestID: "top-0123456789"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: bc.level}))
			intercept := UnaryLogging(logger)
			ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}})
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			call := bc.call
			call.Method, call.RequestID = info.FullMethod, "0123456789abcdef"
			ctx = rpc.WithCall(ctx, &call)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := intercept(ctx, "req", info, handler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
