package chain_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"

	"github.com/servicecenterd/servicecenterd/internal/rpc/chain"
)

// libraryChain is grpc-go's chaining (chainUnaryInterceptors and
// getChainUnaryHandler in server.go, which grpc.ChainUnaryInterceptor
// uses and does not export), for comparison.
func libraryChain(interceptors []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return interceptors[0](ctx, req, info, libraryHandler(interceptors, 0, info, handler))
	}
}

func libraryHandler(interceptors []grpc.UnaryServerInterceptor, curr int, info *grpc.UnaryServerInfo, final grpc.UnaryHandler) grpc.UnaryHandler {
	if curr == len(interceptors)-1 {
		return final
	}
	return func(ctx context.Context, req any) (any, error) {
		return interceptors[curr+1](ctx, req, info, libraryHandler(interceptors, curr+1, info, final))
	}
}

// BenchmarkUnary is the chain's own cost per call with servicecenterd's
// number of interceptors (12), each passing the call on: grpc-go's
// chaining ("library") and Unary ("ours"). The info and handler are made
// per call, as grpc-go's generated code makes them.
func BenchmarkUnary(b *testing.B) {
	pass := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return handler(ctx, req)
	}
	ics := make([]grpc.UnaryServerInterceptor, 12)
	for i := range ics {
		ics[i] = pass
	}
	impl := new(int)
	for _, bc := range []struct {
		name  string
		chain grpc.UnaryServerInterceptor
	}{{"library", libraryChain(ics)}, {"ours", chain.NewUnary(ics).Intercept}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := generated(ctx, impl, bc.chain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// generated is what protoc-gen-go-grpc's method handler does with an
// interceptor.
//
//go:noinline
func generated(ctx context.Context, srv *int, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := "req"
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/servicecenter.v1.WorkerService/GetWorkerTags"}
	handler := func(_ context.Context, req any) (any, error) { return *srv, nil }
	return interceptor(ctx, in, info, handler)
}
