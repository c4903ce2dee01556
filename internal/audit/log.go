package audit

import (
	"bytes"
	"context"
	"encoding/json"
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
	if !s.logger.Enabled(ctx, slog.LevelInfo) {
		return nil // --log-level warn or error: no line to build
	}
	var buf [7]slog.Attr
	attrs := append(buf[:0],
		slog.Time("event_time", e.Time),
		slog.String("client", e.Client),
		slog.String("rpc", e.RPC),
		slog.Any("targets", logTargets(e.Targets)),
		slog.String("outcome", e.Outcome.String()),
		slog.String("request_id", e.RequestID),
	)
	if e.TOPRequestID != "" {
		attrs = append(attrs, slog.String("top_request_id", e.TOPRequestID))
	}
	// The trace id comes with ctx, as on every line of the call (the
	// server's log handler adds it: internal/telemetry).
	s.logger.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
	return nil
}

// logTargets are an event's targets as its log line lists them: the
// list of "kind:id" strings, ["workcard:2345678","worker:1234567"] in
// JSON and [workcard:2345678 worker:1234567] in text, byte for byte as
// slog writes a []string. It writes them without building the strings
// one by one, and, in JSON, without encoding/json's reflection when no
// character needs escaping (then it hands the []string to encoding/json,
// as slog does, so the bytes stay the same).
type logTargets []Target

// MarshalJSON implements json.Marshaler.
func (l logTargets) MarshalJSON() ([]byte, error) {
	n := 2
	for _, t := range l {
		n += len(t.Kind) + len(t.ID) + 4
		if !plainJSON(t.Kind) || !plainJSON(t.ID) {
			return l.marshalStrings()
		}
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, t := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, t.Kind...)
		b = append(b, ':')
		b = append(b, t.ID...)
		b = append(b, '"')
	}
	return append(b, ']'), nil
}

// marshalStrings encodes the targets as slog's JSON handler encodes a
// []string: encoding/json without HTML escaping.
func (l logTargets) marshalStrings() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(l.strings()); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// MarshalText implements encoding.TextMarshaler, for slog's text
// handler: fmt's %+v of the []string.
func (l logTargets) MarshalText() ([]byte, error) {
	n := 2
	for _, t := range l {
		n += len(t.Kind) + len(t.ID) + 2
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, t := range l {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, t.Kind...)
		b = append(b, ':')
		b = append(b, t.ID...)
	}
	return append(b, ']'), nil
}

func (l logTargets) strings() []string {
	out := make([]string, len(l))
	for i, t := range l {
		out[i] = t.Kind + ":" + t.ID
	}
	return out
}

// plainJSON reports whether encoding/json writes s as it is between
// quotes: printable ASCII other than '"' and '\\' (with HTML escaping
// off, '<', '>' and '&' are written as they are).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
