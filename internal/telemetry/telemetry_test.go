package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestEnabled(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"otlp exporter", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"console exporter", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{"none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{"endpoint only", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true},
		{"traces endpoint only", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, true},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}, false},
		{"sdk not disabled", map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"sampler alone", map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Enabled(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("Enabled = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestOff: tracing off installs nothing.
func TestOff(t *testing.T) {
	tr, err := FromEnv(context.Background(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	h := http.NotFoundHandler()
	base := slog.NewTextHandler(&bytes.Buffer{}, nil)
	if tr.On() || tr.TracerProvider() != nil || tr.ServerHandler() != nil || tr.ClientHandler() != nil ||
		tr.LogHandler(base) != base || tr.Shutdown(context.Background()) != nil {
		t.Fatal("tracing off installs something")
	}
	if got := tr.HTTPHandler(h, "rest"); got == nil {
		t.Fatal("nil HTTP handler")
	}
}

// TestLogHandlerAndMasking: a record logged in a span's context carries
// its trace and span ids; string attributes a span starts with are
// masked; a span's resource names the service.
func TestLogHandlerAndMasking(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := New(context.Background(), sdktrace.WithSyncer(exp))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	var buf bytes.Buffer
	logger := slog.New(tr.LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "x")
	ctx, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "op",
		trace.WithAttributes(attribute.String("url.path", "/v1/x/13245678901"), attribute.StringSlice("ids", []string{"11010519491231002X", "ok"}),
			attribute.String("plain", "GetWorkerTags")))
	logger.InfoContext(ctx, "in span")
	logger.Info("no span")
	span.End()

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	sc := span.SpanContext()
	if !strings.Contains(lines[0], `"trace_id":"`+sc.TraceID().String()+`"`) || !strings.Contains(lines[0], `"span_id":"`+sc.SpanID().String()+`"`) ||
		!strings.Contains(lines[0], `"component":"x"`) {
		t.Errorf("line in span: %s", lines[0])
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("line without span: %s", lines[1])
	}
	if TraceID(ctx) != sc.TraceID().String() || TraceID(context.Background()) != "" {
		t.Error("TraceID")
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	got := map[attribute.Key]string{}
	for _, kv := range spans[0].Attributes {
		got[kv.Key] = kv.Value.Emit()
	}
	if got["url.path"] != "/v1/x/132****8901" || strings.Contains(got["ids"], "19491231") || got["plain"] != "GetWorkerTags" {
		t.Errorf("attributes not masked as logs are: %v", got)
	}
	var service bool
	for _, kv := range spans[0].Resource.Attributes() {
		service = service || kv.Key == "service.name" && kv.Value.AsString() == ServiceName
	}
	if !service {
		t.Errorf("resource %v", spans[0].Resource)
	}
}
