package topclient

import (
	"context"
	"net/http"
	"strconv"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/servicecenterd/servicecenterd/internal/buildinfo"
	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// TracerName is the instrumentation scope of the TOP client's spans.
const TracerName = "github.com/servicecenterd/servicecenterd/internal/topclient"

// Attributes of an attempt's span. Their values come from the method
// table, the attempt count, the outcome and TOP's answer codes, never from
// the call's parameters: no phone or ID number, session, secret or
// signature can reach a span through them (TOP's request id and sub_code
// pass through redact.Text besides, in case a gateway echoes input there).
const (
	// AttrMethod is the TOP method, e.g. tmall.servicecenter.worker.taglist.get.
	AttrMethod = attribute.Key("top.method")
	// AttrAttempt is the attempt's number, 1 for the first.
	AttrAttempt = attribute.Key("top.attempt")
	// AttrOutcome is the attempt's Outcome.
	AttrOutcome = attribute.Key("top.outcome")
	// AttrRequestID is TOP's request_id of the answer.
	AttrRequestID = attribute.Key("top.request_id")
	// AttrErrorCode and AttrSubCode are TOP's error code and sub_code.
	AttrErrorCode = attribute.Key("top.error_code")
	AttrSubCode   = attribute.Key("top.sub_code")
)

// traced returns the tracer of the attempt spans and rt wrapped with
// otelhttp (used for sampled attempts only), which adds the HTTP exchange (method, status, the gateway's
// URL: every parameter travels in the POST body, so the URL holds no
// secret) as a child span. No trace context is sent to TOP: the trace
// ids are ours.
func traced(tp trace.TracerProvider, rt http.RoundTripper) (trace.Tracer, http.RoundTripper) {
	tracer := tp.Tracer(TracerName, trace.WithInstrumentationVersion(buildinfo.Read().Version))
	return tracer, otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "HTTP " + r.Method }))
}

// sendTraced is send in a client span of its own, "TOP <method>": one
// span per attempt, so that retries show as separate attempts, under the
// span of ctx (the RPC's, or a bulk chunk's).
func (c *Client) sendTraced(ctx context.Context, method string, st *callState, data []byte, out any, n int) attempt {
	name := method
	if m, ok := top.Lookup(method); ok {
		name = m.Name
	}
	ctx, span := c.tracer.Start(ctx, "TOP "+name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(AttrMethod.String(name), AttrAttempt.Int(n)))
	defer span.End()
	if !span.IsRecording() {
		// Not sampled: nothing to note, and no HTTP span either.
		return c.send(ctx, c.rt, method, st, data, out, n)
	}
	a := c.send(ctx, c.tracedRT, method, st, data, out, n)
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, AttrOutcome.String(string(a.outcome)))
	if a.requestID != "" {
		attrs = append(attrs, AttrRequestID.String(redact.Text(a.requestID)))
	}
	if a.status != 0 {
		attrs = append(attrs, attribute.Int("http.response.status_code", a.status))
	}
	if a.apiErr != nil {
		if a.apiErr.RequestID != "" && a.requestID == "" {
			attrs = append(attrs, AttrRequestID.String(redact.Text(a.apiErr.RequestID)))
		}
		attrs = append(attrs, AttrErrorCode.Int(a.apiErr.Code))
		if a.apiErr.SubCode != "" {
			attrs = append(attrs, AttrSubCode.String(redact.Text(a.apiErr.SubCode)))
		}
	}
	span.SetAttributes(attrs...)
	if a.err != nil {
		// The outcome, not the error's text: TOP's messages are free text.
		span.SetStatus(codes.Error, string(a.outcome)+" (attempt "+strconv.Itoa(n)+")")
	}
	return a
}
