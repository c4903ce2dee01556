package middleware

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// logCallWithLogAttrs is logCall as it was written before it sent its
// record to the handler itself: the reference its lines must equal.
func logCallWithLogAttrs(ctx context.Context, logger *slog.Logger, level slog.Level, code string, d time.Duration, errText string) {
	c := rpc.CallFrom(ctx)
	attrs := []slog.Attr{
		slog.String("method", c.Method),
		slog.String("code", code),
		slog.Duration("duration", d),
		slog.String("request_id", c.RequestID),
	}
	if c.Client != "" {
		attrs = append(attrs, slog.String("client", c.Client))
	}
	if c.TOPRequestID != "" {
		attrs = append(attrs, slog.String("top_request_id", c.TOPRequestID))
	}
	if code != codes.OK.String() {
		attrs = append(attrs, slog.String("error", errText))
	}
	logger.LogAttrs(ctx, level, "rpc", attrs...)
}

// TestLogCallLines wants logCall's lines byte for byte those of
// Logger.LogAttrs, with both handlers, for lines of four to seven
// attributes and values that need quoting or escaping (the time, which
// differs between two calls, is left out of both).
func TestLogCallLines(t *testing.T) {
	noTime := func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler {
			return slog.NewTextHandler(b, &slog.HandlerOptions{ReplaceAttr: noTime})
		},
		"json": func(b *bytes.Buffer) slog.Handler {
			return slog.NewJSONHandler(b, &slog.HandlerOptions{ReplaceAttr: noTime})
		},
	}
	for _, tc := range []struct {
		name    string
		call    rpc.Call
		level   slog.Level
		code    string
		errText string
	}{
		{"ok, anonymous", rpc.Call{Method: "/svc/M", RequestID: "r1"}, slog.LevelInfo, "OK", ""},
		{"ok, client and TOP id", rpc.Call{Method: "/svc/M", RequestID: "r1", Client: "a b", TOPRequestID: "t=1"}, slog.LevelInfo, "OK", ""},
		{"error, seven attributes", rpc.Call{Method: "/svc/M", RequestID: "r\"1", Client: "c", TOPRequestID: "t"}, slog.LevelWarn, "NotFound", "worker 138****5678 \"not\"\nfound"},
		{"error, anonymous", rpc.Call{Method: "/svc/M", RequestID: "r1"}, slog.LevelError, "Internal", "中文 \x00"},
	} {
		for name, mk := range handlers {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				var got, want bytes.Buffer
				call := tc.call
				ctx := rpc.WithCall(t.Context(), &call)
				logCall(ctx, slog.New(mk(&got)), tc.level, tc.code, 1500*time.Microsecond, tc.errText)
				logCallWithLogAttrs(ctx, slog.New(mk(&want)), tc.level, tc.code, 1500*time.Microsecond, tc.errText)
				if got.String() != want.String() || got.Len() == 0 {
					t.Errorf("line\n%q\nwant\n%q", got.String(), want.String())
				}
			})
		}
	}
}
