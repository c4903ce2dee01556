// Package telemetry is servicecenterd's OpenTelemetry tracing: the tracer
// provider built from the standard OTEL_* environment variables (exporters
// through go.opentelemetry.io/contrib/exporters/autoexport: OTLP over gRPC
// or HTTP, console, none; sampling through OTEL_TRACES_SAMPLER), the W3C
// trace context propagator, and the instrumentation the server wires in:
// otelgrpc's stats handlers on the gRPC server and on the REST gateway's
// in-process hop, otelhttp on the REST handler, and trace_id/span_id on
// every log line of a traced call (LogHandler).
//
// Tracing is off unless configured (see Enabled), and then costs nothing:
// no stats handler, HTTP wrapper or log wrapper is installed and the TOP
// client gets no tracer, so the call path is the same as without this
// package. Nothing is installed globally (no otel.SetTracerProvider): the
// provider and propagator are passed to each part explicitly.
//
// What this package adds to the libraries: the on/off rule, and a span
// processor that masks phone and ID numbers (internal/redact) in every
// string attribute a span starts with, so that an instrumentation library
// that records a URL path or a peer's input cannot put personal data into
// a trace.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/stats"

	"github.com/servicecenterd/servicecenterd/internal/buildinfo"
	"github.com/servicecenterd/servicecenterd/internal/redact"
)

// ServiceName is the service.name resource attribute unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
const ServiceName = "servicecenterd"

// Tracing is the tracing of one server. The zero value and Off() are
// tracing turned off.
type Tracing struct {
	provider trace.TracerProvider // nil: off
	// propagator reads and writes W3C traceparent (gRPC metadata, HTTP
	// headers); baggage is not propagated.
	propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
}

// Off is tracing turned off.
func Off() *Tracing { return &Tracing{} }

// Enabled reports whether getenv (os.Getenv) configures tracing: an
// exporter named in OTEL_TRACES_EXPORTER other than "none", or an OTLP
// endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
// with no exporter named (OTLP is then the exporter); never with
// OTEL_SDK_DISABLED=true.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	if exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp != "" {
		return exp != "none"
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// FromEnv builds the tracing the OTEL_* environment variables configure
// (Off when Enabled(getenv) is false): a batching tracer provider
// exporting through autoexport, sampled as OTEL_TRACES_SAMPLER says
// (parent-based always-on by default), with service.name ServiceName and
// service.version the build's.
func FromEnv(ctx context.Context, getenv func(string) string) (*Tracing, error) {
	if !Enabled(getenv) {
		return Off(), nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: exporter from OTEL_* environment: %w", err)
	}
	if autoexport.IsNoneSpanExporter(exp) {
		return Off(), nil
	}
	return New(ctx, sdktrace.WithBatcher(exp))
}

// New is tracing with a provider built from opts (an exporter or span
// processor; tests pass a tracetest.InMemoryExporter with
// sdktrace.WithSyncer), the resource and masking described in FromEnv.
func New(ctx context.Context, opts ...sdktrace.TracerProviderOption) (*Tracing, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", ServiceName),
			attribute.String("service.version", buildinfo.Read().Version)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	opts = append([]sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSpanProcessor(maskingProcessor{})}, opts...)
	tp := sdktrace.NewTracerProvider(opts...)
	return &Tracing{
		provider:   tp,
		propagator: propagation.TraceContext{},
		shutdown:   tp.Shutdown,
	}, nil
}

// On reports whether tracing is on.
func (t *Tracing) On() bool { return t != nil && t.provider != nil }

// TracerProvider is the provider, nil when tracing is off (the TOP client
// then traces nothing).
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if !t.On() {
		return nil
	}
	return t.provider
}

// Shutdown flushes the spans not yet exported and stops the exporter;
// nothing when tracing is off.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.On() || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// ServerHandler is otelgrpc's stats handler for the gRPC server: a server
// span per call, continuing the caller's W3C traceparent (gRPC metadata).
// nil when tracing is off.
func (t *Tracing) ServerHandler() stats.Handler {
	if !t.On() {
		return nil
	}
	return otelgrpc.NewServerHandler(t.grpcOptions()...)
}

// ClientHandler is otelgrpc's stats handler for the REST gateway's
// connection to the gRPC server: it carries the REST call's trace into
// the gRPC hop, so that one REST call is one trace. nil when off.
func (t *Tracing) ClientHandler() stats.Handler {
	if !t.On() {
		return nil
	}
	return otelgrpc.NewClientHandler(t.grpcOptions()...)
}

func (t *Tracing) grpcOptions() []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(t.provider),
		otelgrpc.WithPropagators(t.propagator),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
	}
}

// HTTPHandler wraps h with otelhttp: a server span per request named
// operation, continuing the caller's W3C traceparent header. h itself
// when tracing is off.
func (t *Tracing) HTTPHandler(h http.Handler, operation string) http.Handler {
	if !t.On() {
		return h
	}
	return otelhttp.NewHandler(h, operation,
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(t.propagator),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + operation }))
}

// LogHandler adds trace_id and span_id to every record logged with the
// context of a traced call. h itself when tracing is off.
func (t *Tracing) LogHandler(h slog.Handler) slog.Handler {
	if !t.On() {
		return h
	}
	return traceLogHandler{h}
}

type traceLogHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h traceLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h traceLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceLogHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h traceLogHandler) WithGroup(name string) slog.Handler {
	return traceLogHandler{h.Handler.WithGroup(name)}
}

// TraceID is the trace id of ctx's span, "" when there is none.
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

// maskingProcessor masks phone and ID numbers (redact.Text) in the string
// attributes a span starts with: what instrumentation libraries record
// from a request (a URL path, a user agent) passes through it.
type maskingProcessor struct{}

// OnStart implements sdktrace.SpanProcessor.
func (maskingProcessor) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	for _, kv := range s.Attributes() {
		switch kv.Value.Type() {
		case attribute.STRING:
			if v := kv.Value.AsString(); redact.Text(v) != v {
				s.SetAttributes(attribute.String(string(kv.Key), redact.Text(v)))
			}
		case attribute.STRINGSLICE:
			vs := kv.Value.AsStringSlice()
			changed := false
			for i, v := range vs {
				if m := redact.Text(v); m != v {
					vs[i], changed = m, true
				}
			}
			if changed {
				s.SetAttributes(attribute.StringSlice(string(kv.Key), vs))
			}
		}
	}
}

// OnEnd implements sdktrace.SpanProcessor.
func (maskingProcessor) OnEnd(sdktrace.ReadOnlySpan) {}

// Shutdown implements sdktrace.SpanProcessor.
func (maskingProcessor) Shutdown(context.Context) error { return nil }

// ForceFlush implements sdktrace.SpanProcessor.
func (maskingProcessor) ForceFlush(context.Context) error { return nil }
