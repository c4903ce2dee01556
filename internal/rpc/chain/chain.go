// Package chain chains unary gRPC server interceptors as
// grpc.ChainUnaryInterceptor does, without allocating on every call.
//
// grpc-go's chain builds, on every call, one closure per interceptor (the
// handler each passes on to the next): a dozen allocations a call with
// servicecenterd's chain. The handlers a chain builds depend only on the
// method: grpc-go's generated code (protoc-gen-go-grpc) gives the
// interceptor, on every call of a method, a UnaryServerInfo holding the
// method's name and the service implementation, and a handler that calls
// that implementation with the request it is given. Unary therefore
// builds a method's handlers on its first call, from that call's info
// and handler, and runs every later call of the method through them.
//
// A Unary must serve one set of registered services (one grpc.Server, or
// one in-process channel): a method's handler is taken to call the same
// implementation on every call, as it does when each method is
// registered once.
package chain

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
)

// maxMethods bounds the methods whose handlers are kept. A server has as
// many methods as it registers (grpc-go runs no interceptor for an
// unknown method), far fewer than this; beyond it, calls are chained
// as they come, as grpc-go does, and nothing more is kept.
const maxMethods = 1024

// Unary is a chain of unary server interceptors (see the package
// comment). Its Intercept is the chain as one interceptor.
type Unary struct {
	interceptors []grpc.UnaryServerInterceptor
	// methods maps a full method name to the first interceptor's handler
	// for it: a map that is never changed once stored (a new method
	// stores a copy), so that a call reads it without a lock.
	methods atomic.Pointer[map[string]grpc.UnaryHandler]
	// mu serialises the building of methods' handlers.
	mu sync.Mutex
}

// NewUnary returns the chain of interceptors, the first the outermost,
// as grpc.ChainUnaryInterceptor(interceptors...) orders them.
func NewUnary(interceptors []grpc.UnaryServerInterceptor) *Unary {
	u := &Unary{interceptors: append([]grpc.UnaryServerInterceptor(nil), interceptors...)}
	u.methods.Store(&map[string]grpc.UnaryHandler{})
	return u
}

// Intercept runs the call through the chain: it is a
// grpc.UnaryServerInterceptor (grpc.UnaryInterceptor(u.Intercept)). The
// handler of a method's first call ends the method's chain for every
// later call.
func (u *Unary) Intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if h, ok := (*u.methods.Load())[info.FullMethod]; ok {
		return h(ctx, req)
	}
	return u.method(info, handler)(ctx, req)
}

// method returns the chain's handler for info's method, building it from
// info and handler and keeping it when the method has none yet.
func (u *Unary) method(info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) grpc.UnaryHandler {
	u.mu.Lock()
	defer u.mu.Unlock()
	methods := *u.methods.Load()
	if h, ok := methods[info.FullMethod]; ok {
		return h
	}
	own := *info
	h := u.build(&own, handler)
	if len(methods) >= maxMethods {
		return h
	}
	next := maps.Clone(methods)
	next[info.FullMethod] = h
	u.methods.Store(&next)
	return h
}

// build chains the interceptors in front of final for the calls of
// info's method: each interceptor's handler is a closure, made here once,
// that calls the next interceptor (the last calls final).
func (u *Unary) build(info *grpc.UnaryServerInfo, final grpc.UnaryHandler) grpc.UnaryHandler {
	h := final
	for i := len(u.interceptors) - 1; i >= 0; i-- {
		intercept, next := u.interceptors[i], h
		h = func(ctx context.Context, req any) (any, error) {
			return intercept(ctx, req, info, next)
		}
	}
	return h
}
