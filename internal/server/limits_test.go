package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/rpc/middleware"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// TestRateLimit: a client over its rate gets RESOURCE_EXHAUSTED with
// RetryInfo and ErrorInfo (REST: 429); another client and health checks
// are not affected; a client's own rate_limit overrides the server's.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	clients := writeClients(t, t.TempDir(), `clients:
  - name: slow
    token_sha256: [`+auth.HashToken("scd_slow")+`]
    allow: ["*"]
  - name: fast
    token_sha256: [`+auth.HashToken("scd_fast")+`]
    allow: ["*"]
    rate_limit: 1000
    rate_burst: 1000
`)
	ts := testserver.Start(t, func(c *server.Config) {
		c.Auth.ClientsFile = clients
		c.RateLimit.PerSecond = 0.01
		c.RateLimit.Burst = 2
	})
	req := &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}
	for i := range 2 {
		if _, err := ts.Workers.GetWorkerTags(withToken(grpcCtx(t), "scd_slow"), req); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	before := callCount(t, ts)
	_, err := ts.Workers.GetWorkerTags(withToken(grpcCtx(t), "scd_slow"), req)
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("over the rate: %v", err)
	}
	var retry *errdetails.RetryInfo
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			retry = d
		case *errdetails.ErrorInfo:
			info = d
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() < 50*time.Second || retry.GetRetryDelay().AsDuration() > 100*time.Second {
		t.Fatalf("RetryInfo %v", retry)
	}
	if info == nil || info.GetReason() != middleware.RateLimitReason || info.GetDomain() != rpc.ErrorDomain || info.GetMetadata()["client"] != "slow" {
		t.Fatalf("ErrorInfo %v", info)
	}
	if callCount(t, ts) != before {
		t.Fatal("a rate-limited call reached TOP")
	}
	code, _, raw := doREST(t, http.DefaultClient, http.MethodPost, "http://"+ts.HTTPAddr()+"/v1/workers:getTags", restBody(t, req), http.Header{"Authorization": {"Bearer scd_slow"}})
	if code != http.StatusTooManyRequests || !strings.Contains(raw, "RetryInfo") {
		t.Fatalf("REST over the rate: %d %s", code, raw)
	}
	for i := range 5 {
		if _, err := ts.Workers.GetWorkerTags(withToken(grpcCtx(t), "scd_fast"), req); err != nil {
			t.Fatalf("other client, call %d: %v", i, err)
		}
	}
	for range 5 {
		if _, err := healthpb.NewHealthClient(ts.Conn).Check(grpcCtx(t), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("health check limited: %v", err)
		}
	}
}

func TestMessageSizeLimits(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, func(c *server.Config) { c.GRPC.MaxRecvMsgSize = 2048; c.HTTP.MaxBodySize = 4096 })
	big := withWorker(func(w *scv1.Worker) {
		w.Photo = strings.Repeat("p", 1000)
		w.IdCardPic = strings.Repeat("i", 1000)
		w.HandheldCardPic = strings.Repeat("h", 1000)
	})
	if _, err := ts.Workers.UpdateWorker(grpcCtx(t), big); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("gRPC message over the limit: %v", err)
	}
	// The same message in JSON is within the REST body limit but over
	// the gRPC one of the hop behind it: too large (413), not
	// RESOURCE_EXHAUSTED (429, retry later).
	code, _, body := ts.REST(t, "/v1/workers:update", restBody(t, big))
	if code != http.StatusRequestEntityTooLarge || !tooLargeBody(body, "--grpc-max-recv-msg-size", "2048") {
		t.Fatalf("REST body within --http-max-body-size, message over --grpc-max-recv-msg-size: %d %v", code, body)
	}
	code, body, raw := doREST(t, http.DefaultClient, http.MethodPost, "http://"+ts.HTTPAddr()+"/v1/workers:update", `{"worker":{"photo":"`+strings.Repeat("x", 5000)+`"}}`, nil)
	if code != http.StatusRequestEntityTooLarge || !tooLargeBody(body, "--http-max-body-size", "4096") {
		t.Fatalf("REST body over the limit: %d %s", code, raw)
	}
	// Of unknown length (io.MultiReader hides it), so sent chunked: its
	// size is only known once read.
	resp, err := http.Post("http://"+ts.HTTPAddr()+"/v1/workers:update", "application/json",
		io.MultiReader(strings.NewReader(`{"worker":{"photo":"`+strings.Repeat("x", 5000)+`"}}`)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body = nil
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !tooLargeBody(body, "--http-max-body-size", "4096") {
		t.Fatalf("chunked REST body over the limit: %d %v", resp.StatusCode, body)
	}
	// A message of the import's JSON stream over the gRPC limit.
	code, _, body = ts.REST(t, "/v1/blacklist/jobs:import", `{"settings":{"supplier_id":"1","operate_type":"OPERATE_TYPE_UPSERT"}}`+"\n"+
		`{"entries":[{"mobile":"`+strings.Repeat("1", 3000)+`"}]}`)
	if code != http.StatusRequestEntityTooLarge || !tooLargeBody(body, "--grpc-max-recv-msg-size", "2048") {
		t.Fatalf("JSON stream message over --grpc-max-recv-msg-size: %d %v", code, body)
	}
	// A file upload whose one entry makes a message over the gRPC limit.
	code, body = upload(t, ts, "supplier_id=1", "text/csv", "mobile\n13700000001\n"+strings.Repeat("1", 3000)+"\n")
	if code != http.StatusRequestEntityTooLarge || !tooLargeBody(body, "--grpc-max-recv-msg-size", "2048") {
		t.Fatalf("upload entry over --grpc-max-recv-msg-size: %d %v", code, body)
	}
	if _, list := get(t, ts, "/v1/blacklist/jobs"); len(list["jobs"].([]any)) != 0 {
		t.Fatalf("jobs left: %v", list)
	}
}

// tooLargeBody reports whether a REST error body is INVALID_ARGUMENT with
// an ErrorInfo REQUEST_TOO_LARGE naming the limit (setting, bytes), and a
// message naming it too.
func tooLargeBody(body map[string]any, setting, bytes string) bool {
	if body["code"] != float64(codes.InvalidArgument) || !strings.Contains(fmt.Sprint(body["message"]), setting) {
		return false
	}
	details, _ := body["details"].([]any)
	for _, d := range details {
		m, _ := d.(map[string]any)
		md, _ := m["metadata"].(map[string]any)
		if m["reason"] == server.ReasonRequestTooLarge && m["domain"] == "servicecenterd" && md["limit"] == setting && md["limit_bytes"] == bytes {
			return true
		}
	}
	return false
}

func TestDefaultDeadline(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, func(c *server.Config) { c.GRPC.DefaultDeadline = 300 * time.Millisecond })
	ts.Emulator(t, http.MethodPut, "/_emulator/faults", map[string]any{"rules": []any{map[string]any{
		"method": top.MethodWorkerTagList, "latency": "3s"}}})
	req := &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}
	if _, err := ts.Workers.GetWorkerTags(context.Background(), req); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call without a deadline: %v", err)
	}
	if code, _, _ := ts.REST(t, "/v1/workers:getTags", restBody(t, req)); code != http.StatusGatewayTimeout {
		t.Fatalf("REST call without a deadline: %d", code)
	}
}
