package topclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// TestTraceAttempts: a call retried after a transient TOP error is one
// client span per attempt under the caller's span, each with the method,
// its number, its outcome and TOP's request id (or error codes), and an
// HTTP exchange under it; no span holds a parameter value, the session,
// the secret or the signature, and no trace context is sent to TOP.
func TestTraceAttempts(t *testing.T) {
	var calls int
	var traceHeaders []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		traceHeaders = append(traceHeaders, r.Header.Get("traceparent"))
		w.Header().Set("Content-Type", "application/json")
		if calls == 1 {
			_, _ = w.Write([]byte(`{"error_response":{"code":15,"msg":"Remote service error","sub_code":"isp.top-remote-service-unavailable","request_id":"req-first"}}`))
			return
		}
		_, _ = w.Write([]byte(benchTagListBody))
	}))
	defer srv.Close()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	c, err := New(Config{URL: srv.URL + "/router/rest", AppKey: testAppKey, AppSecret: testSecret, Session: testSession,
		BackoffBase: 1, BackoffMax: 1, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "rpc")
	if _, err := top.Do(ctx, c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone}); err != nil {
		t.Fatal(err)
	}
	parent.End()

	want := []map[attribute.Key]string{
		{AttrMethod: top.MethodWorkerTagList, AttrAttempt: "1", AttrOutcome: string(OutcomeAPIError), AttrRequestID: "req-first", AttrErrorCode: "15", AttrSubCode: "isp.top-remote-service-unavailable"},
		{AttrMethod: top.MethodWorkerTagList, AttrAttempt: "2", AttrOutcome: string(OutcomeOK), AttrRequestID: "16mz8vwhbj5re"},
	}
	var attempts []tracetest.SpanStub
	spans := exp.GetSpans()
	for _, s := range spans {
		if s.Name == "TOP "+top.MethodWorkerTagList {
			attempts = append(attempts, s)
		}
	}
	if len(attempts) != len(want) {
		t.Fatalf("%d attempt spans, want %d: %v", len(attempts), len(want), spans)
	}
	for i, a := range attempts {
		if a.SpanKind != trace.SpanKindClient || a.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("attempt %d: kind %v parent %v", i+1, a.SpanKind, a.Parent.SpanID())
		}
		got := map[attribute.Key]string{}
		for _, kv := range a.Attributes {
			got[kv.Key] = kv.Value.Emit()
		}
		for k, v := range want[i] {
			if got[k] != v {
				t.Errorf("attempt %d: %s = %q, want %q", i+1, k, got[k], v)
			}
		}
		var http bool
		for _, s := range spans {
			http = http || s.Parent.SpanID() == a.SpanContext.SpanID() && s.Name == "HTTP POST"
		}
		if !http {
			t.Errorf("attempt %d: no HTTP exchange span under it", i+1)
		}
	}
	for _, s := range spans {
		text := strings.Join([]string{s.Name, s.Status.Description, attrText(s.Attributes)}, " ")
		for _, secret := range []string{testID, testPhone, testSession, testSecret, "sign="} {
			if strings.Contains(text, secret) {
				t.Errorf("span %q holds %q: %s", s.Name, secret, text)
			}
		}
	}
	for _, h := range traceHeaders {
		if h != "" {
			t.Errorf("trace context sent to TOP: %q", h)
		}
	}
}

func attrText(kvs []attribute.KeyValue) string {
	var b strings.Builder
	for _, kv := range kvs {
		b.WriteString(string(kv.Key) + "=" + kv.Value.Emit() + " ")
	}
	return b.String()
}

// BenchmarkCallTraced is BenchmarkCallTagList (hmac-sha256) without a
// tracer, with every call sampled, and with none sampled: tracing off
// costs nothing (no tracer, the transport unwrapped).
func BenchmarkCallTraced(b *testing.B) {
	srv := benchUpstream(b)
	for _, tc := range []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"off", nil},
		{"sampled", sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))},
		{"not-sampled", sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, err := New(Config{URL: srv.URL + "/router/rest", AppKey: testAppKey, AppSecret: testSecret, Session: testSession,
				SignMethod: top.SignHMACSHA256, TracerProvider: tc.tp})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(c.Close)
			ctx := context.Background()
			req := top.TagListGetRequest{IDNumber: testID, Mobile: testPhone}
			b.ReportAllocs()
			for b.Loop() {
				if resp, err := top.Do(ctx, c, top.WorkerTagList, &req); err != nil || !resp.Result.Success {
					b.Fatal(err)
				}
			}
		})
	}
}
