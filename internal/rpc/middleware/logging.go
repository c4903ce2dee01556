package middleware

import (
	"context"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// MaxLoggedError bounds the error message of a call's log line, in bytes;
// a longer one is cut and ends in "…(N bytes)". Every other attribute is
// bounded by construction, so a line stays under about 2 KB whatever
// the request.
const MaxLoggedError = 1024

// UnaryLogging logs one structured line per call: method, code, duration,
// request id, client and TOP's request id. Request and response bodies are
// never logged; error messages pass through redact.Text and are cut to
// MaxLoggedError. OK is logged at Info, caller errors at Warn, server
// errors at Error.
func UnaryLogging(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		logCall(ctx, logger, err, time.Since(start))
		return resp, err
	}
}

// StreamLogging is UnaryLogging for streams.
func StreamLogging(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		logCall(ss.Context(), logger, err, time.Since(start))
		return err
	}
}

func logCall(ctx context.Context, logger *slog.Logger, err error, d time.Duration) {
	c := rpc.CallFrom(ctx)
	st := status.Convert(err)
	level := Level(st.Code())
	if !logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs,
		slog.String("method", c.Method),
		slog.String("code", st.Code().String()),
		slog.Duration("duration", d),
		slog.String("request_id", c.RequestID))
	if c.Client != "" {
		attrs = append(attrs, slog.String("client", c.Client))
	}
	if c.TOPRequestID != "" {
		attrs = append(attrs, slog.String("top_request_id", c.TOPRequestID))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", boundedText(st.Message(), MaxLoggedError)))
	}
	logger.LogAttrs(ctx, level, "rpc", attrs...)
}

// Level maps a status code to a log level: Info for OK, Warn for errors a
// caller causes or must handle, Error for the rest.
func Level(code codes.Code) slog.Level {
	switch code {
	case codes.OK:
		return slog.LevelInfo
	case codes.Canceled, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists,
		codes.PermissionDenied, codes.Unauthenticated, codes.FailedPrecondition,
		codes.ResourceExhausted, codes.OutOfRange, codes.Aborted:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// boundedText masks s (redact.Text) and cuts it to at most max bytes
// plus a note of its length. It cuts before masking, to twice max, so
// that a huge message costs little; a phone or ID number cut there is
// beyond the kept part anyway.
func boundedText(s string, max int) string {
	if len(s) <= max {
		return redact.Text(s)
	}
	n := len(s)
	s = redact.Text(cutBytes(s, 2*max))
	return cutBytes(s, max) + "…(" + strconv.Itoa(n) + " bytes)"
}

// cutBytes is the longest prefix of s of at most max bytes that does not
// split a character.
func cutBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
