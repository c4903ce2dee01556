package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// UnaryRecovery turns a handler panic into codes.Internal, logging the
// panic (masked) and its stack; the caller sees no internals. Chain it
// after UnaryRequestID and UnaryLogging so that the panicking call still
// gets its request id and its log line.
func UnaryRecovery(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = recovered(ctx, logger, info.FullMethod, p)
			}
		}()
		return handler(ctx, req)
	}
}

// StreamRecovery is UnaryRecovery for streams.
func StreamRecovery(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = recovered(ss.Context(), logger, info.FullMethod, p)
			}
		}()
		return handler(srv, ss)
	}
}

func recovered(ctx context.Context, logger *slog.Logger, method string, p any) error {
	logger.ErrorContext(ctx, "panic in handler",
		slog.String("method", method),
		slog.String("request_id", rpc.CallFrom(ctx).RequestID),
		slog.String("panic", redact.Text(fmt.Sprint(p))),
		slog.String("stack", string(debug.Stack())))
	return status.Error(codes.Internal, "internal error")
}
