package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/telemetry"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// Trace context a caller sends (W3C traceparent).
const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
	traceparent   = "00-" + callerTraceID + "-" + callerSpanID + "-01"
)

// Personal data and secrets of the traced calls: none may appear in a
// span, masked or not (the masked forms keep 7 of 11 digits: "132****8901").
var traceSecrets = []string{
	"13245678901", "1324567", "11010519491231002X", "19491231",
	topemu.DefaultAppSecret, topemu.DefaultSession,
}

// retryOnce makes the emulator fail the next taglist call with an error
// the client retries.
func retryOnce(t *testing.T, ts *testserver.Server) {
	t.Helper()
	ts.Emulator(t, http.MethodPut, "/_emulator/faults", map[string]any{"rules": []any{map[string]any{
		"method": top.MethodWorkerTagList, "count": 1, "error": map[string]any{"code": 15, "sub_code": "isp.top-remote-service-unavailable"}}}})
}

// span is what the tests read of an exported span, from the SDK or OTLP.
type span struct {
	name, traceID, spanID, parentID, kind string
	attrs                                 map[string]string
	text                                  string // everything exported about the span, for the leak scan
}

func sdkSpans(stubs tracetest.SpanStubs) []span {
	var out []span
	for _, s := range stubs {
		sp := span{name: s.Name, traceID: s.SpanContext.TraceID().String(), spanID: s.SpanContext.SpanID().String(),
			kind: strings.ToUpper(s.SpanKind.String()), attrs: map[string]string{}}
		if s.Parent.IsValid() {
			sp.parentID = s.Parent.SpanID().String()
		}
		for _, kv := range s.Attributes {
			sp.attrs[string(kv.Key)] = kv.Value.Emit()
		}
		b, _ := json.Marshal(s)
		sp.text = string(b)
		out = append(out, sp)
	}
	return out
}

// find returns the spans of trace traceID named name.
func find(spans []span, traceID, name string) []span {
	var out []span
	for _, s := range spans {
		if s.traceID == traceID && s.name == name {
			out = append(out, s)
		}
	}
	return out
}

// checkCall checks the spans of one GetWorkerTags call whose TOP call was
// retried once: the server span (child of parentID), and under it one
// client span per attempt, api_error then ok, each with TOP's request id.
func checkCall(t *testing.T, spans []span, parentID string) {
	t.Helper()
	srv := find(spans, callerTraceID, "servicecenter.v1.WorkerService/GetWorkerTags")
	var server *span
	for i := range srv {
		if srv[i].kind == "SERVER" {
			server = &srv[i]
		}
	}
	if server == nil || server.parentID != parentID {
		t.Fatalf("no server span under %s in the caller's trace: %+v", parentID, srv)
	}
	attempts := find(spans, callerTraceID, "TOP "+top.MethodWorkerTagList)
	if len(attempts) != 2 {
		t.Fatalf("%d TOP attempt spans, want 2: %+v", len(attempts), attempts)
	}
	want := map[string]string{"1": string(topclient.OutcomeAPIError), "2": string(topclient.OutcomeOK)}
	for _, a := range attempts {
		n := a.attrs[string(topclient.AttrAttempt)]
		if a.kind != "CLIENT" || a.parentID != server.spanID || a.attrs[string(topclient.AttrMethod)] != top.MethodWorkerTagList ||
			a.attrs[string(topclient.AttrOutcome)] != want[n] || a.attrs[string(topclient.AttrRequestID)] == "" {
			t.Errorf("attempt span %+v", a)
		}
		delete(want, n)
		if http := find(spans, callerTraceID, "HTTP POST"); !hasParent(http, a.spanID) {
			t.Errorf("no HTTP exchange under attempt %s", n)
		}
	}
	if len(want) != 0 {
		t.Errorf("attempts missing: %v", want)
	}
}

func hasParent(spans []span, parentID string) bool {
	for _, s := range spans {
		if s.parentID == parentID {
			return true
		}
	}
	return false
}

// leakScan fails when an exported span holds personal data or a secret.
func leakScan(t *testing.T, spans []span, extra ...string) {
	t.Helper()
	for _, s := range spans {
		for _, secret := range append(traceSecrets, extra...) {
			if strings.Contains(s.text, secret) {
				t.Errorf("span %q holds %q: %s", s.name, secret, s.text)
			}
		}
	}
}

// TestTracing traces a gRPC and a REST call (both carrying the caller's
// traceparent, both with one TOP retry) into the SDK's in-memory
// exporter: each is one trace under the caller's span, with a server span
// and a TOP client span per attempt; the log lines of the call carry the
// trace id; no span holds personal data or a secret, even from a request
// path that holds a phone number.
func TestTracing(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tr, err := telemetry.New(context.Background(), sdktrace.WithSyncer(exp))
	if err != nil {
		t.Fatal(err)
	}
	ts := testserver.Start(t, nil, server.WithTracing(tr))
	tags := &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}

	t.Run("gRPC", func(t *testing.T) {
		exp.Reset()
		retryOnce(t, ts)
		ctx := metadata.AppendToOutgoingContext(grpcCtx(t), "traceparent", traceparent)
		if _, err := ts.Workers.GetWorkerTags(ctx, tags); err != nil {
			t.Fatal(err)
		}
		spans := sdkSpans(exp.GetSpans())
		checkCall(t, spans, callerSpanID)
		leakScan(t, spans)
		var rpcLine bool
		for _, line := range strings.Split(ts.Logs.String(), "\n") {
			if strings.Contains(line, `"msg":"rpc"`) && strings.Contains(line, "GetWorkerTags") {
				rpcLine = rpcLine || strings.Contains(line, `"trace_id":"`+callerTraceID+`"`)
			}
		}
		if !rpcLine {
			t.Errorf("the call's log line has no trace_id %s:\n%s", callerTraceID, ts.Logs.String())
		}
		// The sampled call's trace id is an exemplar of its series.
		_, _, metrics := doREST(t, http.DefaultClient, http.MethodGet, "http://"+ts.HTTPAddr()+"/metrics", "",
			http.Header{"Accept": {"application/openmetrics-text; version=1.0.0"}})
		var exemplar bool
		for _, line := range strings.Split(metrics, "\n") {
			exemplar = exemplar || strings.HasPrefix(line, "grpc_server_handled_total{") && strings.Contains(line, "GetWorkerTags") &&
				strings.Contains(line, `# {trace_id="`+callerTraceID+`"}`)
		}
		if !exemplar {
			t.Errorf("no exemplar with trace id %s on grpc_server_handled_total", callerTraceID)
		}
	})

	t.Run("REST", func(t *testing.T) {
		exp.Reset()
		retryOnce(t, ts)
		code, _, raw := doREST(t, http.DefaultClient, http.MethodPost, "http://"+ts.HTTPAddr()+"/v1/workers:getTags", restBody(t, tags),
			http.Header{"Traceparent": {traceparent}})
		if code != http.StatusOK {
			t.Fatalf("REST: %d %s", code, raw)
		}
		spans := sdkSpans(exp.GetSpans())
		for _, s := range spans {
			if s.traceID != callerTraceID {
				t.Errorf("span %q in trace %s, not the caller's", s.name, s.traceID)
			}
		}
		rest := find(spans, callerTraceID, "POST rest")
		if len(rest) != 1 || rest[0].parentID != callerSpanID || rest[0].kind != "SERVER" {
			t.Fatalf("REST server span: %+v", rest)
		}
		var hop string // the gateway's gRPC client span, under the REST span
		for _, s := range find(spans, callerTraceID, "servicecenter.v1.WorkerService/GetWorkerTags") {
			if s.kind == "CLIENT" && s.parentID == rest[0].spanID {
				hop = s.spanID
			}
		}
		if hop == "" {
			t.Fatalf("no gateway hop under the REST span: %+v", spans)
		}
		checkCall(t, spans, hop)
		leakScan(t, spans)
	})

	t.Run("audit event", func(t *testing.T) {
		ctx := metadata.AppendToOutgoingContext(grpcCtx(t), "traceparent", traceparent)
		if _, err := ts.Workcards.AssignWorker(ctx, &scv1.AssignWorkerRequest{WorkcardId: 999, TargetWorkerId: 1234567}); status.Code(err) != codes.NotFound {
			t.Fatal(err)
		}
		resp, err := ts.Audit.ListAuditEvents(grpcCtx(t), &scv1.ListAuditEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var traced bool
		for _, e := range resp.GetEvents() {
			traced = traced || strings.HasSuffix(e.GetRpc(), "/AssignWorker") && e.GetTraceId() == callerTraceID
		}
		if !traced {
			t.Errorf("no AssignWorker audit event with trace id %s: %v", callerTraceID, resp.GetEvents())
		}
		for _, line := range strings.Split(ts.Logs.String(), "\n") {
			if strings.Contains(line, `"msg":"audit"`) && !strings.Contains(line, `"trace_id":"`+callerTraceID+`"`) {
				t.Errorf("audit log line without the trace id: %s", line)
			}
		}
	})

	t.Run("bulk chunks", func(t *testing.T) {
		exp.Reset()
		var csv strings.Builder
		csv.WriteString("mobile,reason\n")
		for i := range 250 {
			fmt.Fprintf(&csv, "%s,1\n", bulkMobile(i))
		}
		code, body := upload(t, ts, "supplier_id=10000000001", "text/csv", csv.String())
		if code != http.StatusOK {
			t.Fatalf("upload %d %v", code, body)
		}
		job := body["job"].(map[string]any)
		id, chunks := job["job_id"].(string), job["chunk_count"].(string)
		if states := watchREST(t, ts, id); states[len(states)-1] != "BLACKLIST_SYNC_JOB_STATE_SUCCEEDED" {
			t.Fatalf("job states %v", states)
		}
		var spans []span
		var roots []span
		testserver.WaitFor(t, "a span per chunk", func() bool {
			spans, roots = sdkSpans(exp.GetSpans()), nil
			for _, s := range spans {
				if s.name == "blacklist chunk" {
					roots = append(roots, s)
				}
			}
			return strconv.Itoa(len(roots)) == chunks
		})
		traces := map[string]bool{}
		for _, r := range roots {
			if r.parentID != "" || r.attrs[string(syncjob.AttrJob)] != id || r.attrs[string(syncjob.AttrOutcome)] != "acknowledged" || traces[r.traceID] {
				t.Errorf("chunk span %+v: want a root of a trace of its own, job %s, acknowledged", r, id)
			}
			traces[r.traceID] = true
			if sends := find(spans, r.traceID, "TOP "+top.MethodBlacklistSync); !hasParent(sends, r.spanID) {
				t.Errorf("no TOP attempt under chunk span %+v", r)
			}
		}
		leakScan(t, spans, bulkMobile(7), bulkMobile(249)[:7])
	})

	t.Run("hostile path", func(t *testing.T) {
		exp.Reset()
		code, _, _ := doREST(t, http.DefaultClient, http.MethodGet, "http://"+ts.HTTPAddr()+"/v1/blacklist/jobs/13245678901?mobile=13245678901&id=11010519491231002X", "",
			http.Header{"Traceparent": {traceparent}})
		if code == http.StatusOK {
			t.Fatalf("GET a job named by a phone number: %d", code)
		}
		spans := sdkSpans(exp.GetSpans())
		if len(find(spans, callerTraceID, "GET rest")) != 1 {
			t.Fatalf("no REST span: %+v", spans)
		}
		leakScan(t, spans)
	})
}

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes each
// ExportTraceServiceRequest (protobuf or JSON) POSTed to /v1/traces.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []span
}

func (rcv *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		err = protojson.Unmarshal(body, &req)
	} else {
		err = proto.Unmarshal(body, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rcv.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		resource := protojson.Format(rs.GetResource())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := span{name: s.GetName(), traceID: fmt.Sprintf("%x", s.GetTraceId()), spanID: fmt.Sprintf("%x", s.GetSpanId()),
					parentID: fmt.Sprintf("%x", s.GetParentSpanId()), attrs: map[string]string{},
					kind: strings.TrimPrefix(s.GetKind().String(), "SPAN_KIND_"), text: protojson.Format(s) + resource}
				for _, kv := range s.GetAttributes() {
					switch v := kv.GetValue().GetValue().(type) {
					case *commonpb.AnyValue_StringValue:
						sp.attrs[kv.GetKey()] = v.StringValue
					case *commonpb.AnyValue_IntValue:
						sp.attrs[kv.GetKey()] = strconv.FormatInt(v.IntValue, 10)
					}
				}
				rcv.spans = append(rcv.spans, sp)
			}
		}
	}
	rcv.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	b, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	_, _ = w.Write(b)
}

func (rcv *otlpReceiver) received() []span {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return append([]span(nil), rcv.spans...)
}

// TestTracingOTLP runs tracing as an operator configures it, through the
// OTEL_* environment and the real OTLP/HTTP exporter, to a receiver in
// the test: a gRPC call with the caller's traceparent and a TOP retry
// arrives as the caller's trace with a server span and a TOP client span
// per attempt, and holds no personal data or secret.
func TestTracingOTLP(t *testing.T) {
	rcv := &otlpReceiver{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rcv}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://"+lis.Addr().String()+"/v1/traces")
	t.Setenv("OTEL_SERVICE_NAME", "servicecenterd-test")

	ts := testserver.Start(t, nil)
	retryOnce(t, ts)
	ctx := metadata.AppendToOutgoingContext(grpcCtx(t), "traceparent", traceparent)
	if _, err := ts.Workers.GetWorkerTags(ctx, &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}); err != nil {
		t.Fatal(err)
	}
	ts.Stop(t) // flushes the batch
	spans := rcv.received()
	checkCall(t, spans, callerSpanID)
	leakScan(t, spans)
	if !strings.Contains(spans[0].text, "servicecenterd-test") {
		t.Errorf("OTEL_SERVICE_NAME not in the resource: %s", spans[0].text)
	}
}

// TestTracingOff: without OTEL_* configuration nothing is traced: a
// caller's traceparent is not continued into the logs.
func TestTracingOff(t *testing.T) {
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		t.Setenv(k, "")
	}
	ts := testserver.Start(t, nil)
	ctx := metadata.AppendToOutgoingContext(grpcCtx(t), "traceparent", traceparent)
	if _, err := ts.Workers.GetWorkerTags(ctx, &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ts.Logs.String(), "trace_id") {
		t.Errorf("trace ids logged with tracing off:\n%s", ts.Logs.String())
	}
}
