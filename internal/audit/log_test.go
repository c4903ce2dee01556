package audit

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// referenceLogSink is LogSink as it was before issue 16: the targets as a
// []string of "kind:id". LogSink's lines must stay byte for byte the same.
func referenceLogSink(logger *slog.Logger, e Event) {
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
	logger.LogAttrs(context.Background(), slog.LevelInfo, "audit", attrs...)
}

// TestLogSinkLines: LogSink writes the reference's bytes, in JSON and in
// text, for targets with every kind of character (ids are masked and
// printable, but text targets may hold quotes, backslashes, HTML,
// non-ASCII and line separators).
func TestLogSinkLines(t *testing.T) {
	at := time.Date(2026, 11, 30, 3, 4, 5, 6, time.UTC)
	ids := []string{
		"2345678", "132****8901", `say "hi"`, `back\slash`, "<b>&amp;</b>", "张师傅", "a b", "a=b", "x\u2028y\u2029z",
		"\ufffd", "tab\there", "nl\nx", "del\x7f", "\x00", "emoji 😀", "", "[", "]", ",", ":", "{}", "\xff",
	}
	var events []Event
	for _, id := range ids {
		events = append(events, Event{Time: at, Client: "ops", RPC: "/servicecenter.v1.WorkcardService/AssignWorker",
			Targets: []Target{{Kind: "workcard", ID: "2345678"}, {Kind: "worker_name", ID: id}}, Outcome: codes.OK, RequestID: "r1"})
	}
	events = append(events,
		Event{Time: at, RPC: "/x/Y", Outcome: codes.PermissionDenied, TOPRequestID: "top-1"},
		Event{Time: at, RPC: "/x/Y", Targets: []Target{}, Outcome: codes.Unavailable},
		Event{Time: at, RPC: "/x/Y", Targets: []Target{{Kind: "k", ID: "1"}, {Kind: "k", ID: "2"}, {Kind: "k", ID: "3"}}},
	)
	for _, format := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, noTime) }},
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, noTime) }},
	} {
		t.Run(format.name, func(t *testing.T) {
			for _, e := range events {
				var got, want bytes.Buffer
				if err := NewLogSink(slog.New(format.new(&got)).With("component", "audit")).Record(context.Background(), e); err != nil {
					t.Fatal(err)
				}
				referenceLogSink(slog.New(format.new(&want)).With("component", "audit"), e)
				if got.String() != want.String() || !strings.Contains(got.String(), "targets") {
					t.Errorf("targets %q:\n got %s\nwant %s", e.Targets, got.String(), want.String())
				}
			}
		})
	}
}

// noTime leaves out the time of the log record, which differs between
// two lines.
var noTime = &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}}

// TestLogSinkLevel: below Info, LogSink writes nothing.
func TestLogSinkLevel(t *testing.T) {
	var logs bytes.Buffer
	sink := NewLogSink(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := sink.Record(context.Background(), Event{RPC: "/x/Y", Targets: []Target{{Kind: "k", ID: "1"}}}); err != nil || logs.Len() != 0 {
		t.Fatalf("%v, %q", err, logs.String())
	}
}
