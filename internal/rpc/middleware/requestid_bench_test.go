package middleware

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// joiningStream is a grpc.ServerTransportStream whose SetHeader merges
// into the header as grpc-go's server transport does (metadata.Join).
type joiningStream struct{ header metadata.MD }

func (s *joiningStream) Method() string { return "/servicecenter.v1.WorkerService/GetWorkerTags" }
func (s *joiningStream) SetHeader(md metadata.MD) error {
	s.header = metadata.Join(s.header, md)
	return nil
}
func (s *joiningStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }
func (s *joiningStream) SetTrailer(metadata.MD) error    { return nil }

// BenchmarkUnaryRequestID is the request id interceptor's cost per call:
// a call without x-request-id (a new id) whose handler notes TOP's request
// id, as GetWorkerTags', and its response header set on a stream that
// merges it as grpc-go's does.
func BenchmarkUnaryRequestID(b *testing.B) {
	info := &grpc.UnaryServerInfo{FullMethod: "/servicecenter.v1.WorkerService/GetWorkerTags"}
	handler := func(ctx context.Context, _ any) (any, error) {
		rpc.CallFrom(ctx).TOPRequestID = "16mz8vwhbj5re"
		return "ok", nil
	}
	md := metadata.MD{":authority": {"127.0.0.1:9090"}, "content-type": {"application/grpc"},
		"user-agent": {"grpc-go/1.85.0"}, "grpc-accept-encoding": {"gzip"}}
	intercept := UnaryRequestID()
	b.ReportAllocs()
	for b.Loop() {
		st := &joiningStream{}
		ctx := grpc.NewContextWithServerTransportStream(metadata.NewIncomingContext(context.Background(), md), st)
		if _, err := intercept(ctx, "req", info, handler); err != nil {
			b.Fatal(err)
		}
		if len(st.header[rpc.RequestIDHeader]) != 1 {
			b.Fatal(st.header)
		}
	}
}
