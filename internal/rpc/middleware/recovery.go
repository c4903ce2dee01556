package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// UnaryRecovery turns a handler panic into codes.Internal, logging the
// panic (masked) and its stack; the caller sees no internals. Chain it
// after UnaryRequestID and UnaryLogging so that the panicking call still
// gets its request id and its log line. It is go-grpc-middleware's
// recovery interceptor with recovered as its handler.
func UnaryRecovery(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return recovery.UnaryServerInterceptor(recoveryHandler(logger))
}

// StreamRecovery is UnaryRecovery for streams.
func StreamRecovery(logger *slog.Logger) grpc.StreamServerInterceptor {
	return recovery.StreamServerInterceptor(recoveryHandler(logger))
}

func recoveryHandler(logger *slog.Logger) recovery.Option {
	return recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		return recovered(ctx, logger, p)
	})
}

// recovered logs the panic p of the call of ctx, with the stack of the
// goroutine that panicked (it runs in the recovering defer), and returns
// the caller's INTERNAL.
func recovered(ctx context.Context, logger *slog.Logger, p any) error {
	logger.ErrorContext(ctx, "panic in handler",
		slog.String("method", rpc.CallFrom(ctx).Method),
		slog.String("request_id", rpc.CallFrom(ctx).RequestID),
		slog.String("panic", redact.Text(fmt.Sprint(p))),
		slog.String("stack", string(debug.Stack())))
	return status.Error(codes.Internal, "internal error")
}
