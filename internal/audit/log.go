package audit

import (
	"context"
	"log/slog"
)

// LogSink emits each event as one structured log line, message "audit".
// Targets are already masked; nothing else in an event is personal data.
type LogSink struct {
	logger *slog.Logger
}

// NewLogSink returns a LogSink writing to logger at Info.
func NewLogSink(logger *slog.Logger) *LogSink { return &LogSink{logger: logger} }

// Record implements Recorder.
func (s *LogSink) Record(ctx context.Context, e Event) error {
	targets := make([]string, len(e.Targets))
	for i, t := range e.Targets {
		targets[i] = t.Kind + ":" + t.ID
	}
	attrs := []slog.Attr{
		slog.Time("event_time", e.Time),
		slog.String("client", e.Client),
		slog.String("rpc", e.RPC),
		slog.Any("targets", targets),
		slog.String("outcome", e.Outcome.String()),
		slog.String("request_id", e.RequestID),
	}
	if e.TOPRequestID != "" {
		attrs = append(attrs, slog.String("top_request_id", e.TOPRequestID))
	}
	// The trace id comes with ctx, as on every line of the call (the
	// server's log handler adds it: internal/telemetry).
	s.logger.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
	return nil
}
