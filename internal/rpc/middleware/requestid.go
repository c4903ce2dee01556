package middleware

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// maxRequestIDLen bounds a caller-supplied request id.
const maxRequestIDLen = 128

// requestID takes the caller's x-request-id when it is a sane token, else
// makes a new one.
func requestID(ctx context.Context) string {
	// ValueFromIncomingContext copies one key's values, not the whole
	// metadata as FromIncomingContext does.
	for _, v := range metadata.ValueFromIncomingContext(ctx, rpc.RequestIDHeader) {
		if validRequestID(v) {
			return v
		}
	}
	return rpc.NewRequestID()
}

func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func startCall(ctx context.Context, method string) (context.Context, *rpc.Call) {
	c := &rpc.Call{Method: method, RequestID: requestID(ctx)}
	return rpc.WithCall(ctx, c), c
}

// UnaryRequestID gives every call a request id (the caller's x-request-id
// or a new one) and stores a *Call in the context. When the handler
// returns, it sets the response header once: the request id, and TOP's
// request id (x-top-request-id) when the handler noted one in the Call.
// Unary headers go out with the response, so this covers errors too.
func UnaryRequestID() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, c := startCall(ctx, info.FullMethod)
		resp, err := handler(ctx, req)
		_ = grpc.SetHeader(ctx, responseHeader(c))
		return resp, err
	}
}

// responseHeader is a unary call's response header: its request id, and
// TOP's when the handler noted one. The values share one array, and the
// map is made for the keys it gets (grpc-go copies both when it merges
// them into the stream's header).
func responseHeader(c *rpc.Call) metadata.MD {
	if c.TOPRequestID == "" {
		return metadata.MD{rpc.RequestIDHeader: []string{c.RequestID}}
	}
	v := []string{c.RequestID, c.TOPRequestID}
	return metadata.MD{rpc.RequestIDHeader: v[:1:1], rpc.TOPRequestIDHeader: v[1:]}
}

// StreamRequestID is UnaryRequestID for streams.
func StreamRequestID() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, c := startCall(ss.Context(), info.FullMethod)
		_ = ss.SetHeader(metadata.Pairs(rpc.RequestIDHeader, c.RequestID))
		return handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
	}
}

// wrappedStream replaces a stream's context.
type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context implements grpc.ServerStream.
func (w *wrappedStream) Context() context.Context { return w.ctx }
