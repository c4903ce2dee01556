package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

var tagsReq = &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}

// TestQuotaBanFailsFastWithRetryInfo: TOP's quota ban answers
// RESOURCE_EXHAUSTED with RetryInfo and ErrorInfo, and the next call fails
// the same way at once, without reaching TOP. The emulator counts
// calls_per_second per calendar second, so two calls in a row may land in
// two seconds and both pass: the test calls until TOP bans.
func TestQuotaBanFailsFastWithRetryInfo(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	ts.Emulator(t, http.MethodPut, "/_emulator/faults", map[string]any{"quota": map[string]any{"calls_per_second": 1, "ban_seconds": 30}})
	if _, err := ts.Workers.GetWorkerTags(grpcCtx(t), tagsReq); err != nil {
		t.Fatal(err)
	}
	check := func(name string, err error, reached, wantReached bool) {
		t.Helper()
		st := status.Convert(err)
		if st.Code() != codes.ResourceExhausted {
			t.Fatalf("%s: %v", name, err)
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
		if retry == nil || retry.GetRetryDelay().AsDuration() < 25*time.Second || retry.GetRetryDelay().AsDuration() > 30*time.Second {
			t.Fatalf("%s: RetryInfo %v", name, retry)
		}
		if info == nil || info.GetReason() != "TOP_ACCESSCONTROL_LIMITED_BY_APP_ACCESS_COUNT" {
			t.Fatalf("%s: ErrorInfo %v", name, info)
		}
		if reached != wantReached {
			t.Fatalf("%s reached TOP: %v, want %v", name, reached, wantReached)
		}
	}
	// Each call that passes opened a new second; 20 of them would take 20 s.
	for i := 1; ; i++ {
		before := callCount(t, ts)
		_, err := ts.Workers.GetWorkerTags(grpcCtx(t), tagsReq)
		if err == nil && i < 20 {
			continue
		}
		check("the call TOP banned", err, callCount(t, ts) > before, true)
		break
	}
	before := callCount(t, ts)
	_, err := ts.Workers.GetWorkerTags(grpcCtx(t), tagsReq)
	check("the call during the ban", err, callCount(t, ts) > before, false)
	code, hdr, _ := ts.REST(t, "/v1/workers:getTags", restBody(t, tagsReq))
	if code != http.StatusTooManyRequests {
		t.Fatalf("REST %d %v", code, hdr)
	}
}

// TestRealTOPSettings points servicecenterd at a separate gateway with its
// own credentials, as against production: the flags must reach the wire.
func TestRealTOPSettings(t *testing.T) {
	t.Parallel()
	emu, err := topemu.New(topemu.Config{AppKey: "app-1", AppSecret: "real-secret-1", Session: "real-session-1"})
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(emu)
	t.Cleanup(func() {
		upstream.Close()
		_ = emu.Close()
	})
	tests := []struct {
		name       string
		session    string
		signMethod string
		want       codes.Code
	}{
		{"md5", "real-session-1", "md5", codes.OK},
		{"hmac", "real-session-1", "hmac", codes.OK},
		{"wrong session", "stale-session", "hmac-sha256", codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := testserver.Start(t, func(c *server.Config) {
				c.TOP.URL, c.TOP.AppKey, c.TOP.AppSecret, c.TOP.Session, c.TOP.SignMethod = upstream.URL+"/router/rest", "app-1", "real-secret-1", tt.session, tt.signMethod
			})
			if ts.EmulatorURL() != "" {
				t.Fatal("embedded emulator started although --top-url is set")
			}
			_, err := ts.Workers.GetWorkerTags(grpcCtx(t), tagsReq)
			if status.Code(err) != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			logs := ts.Logs.String()
			for _, secret := range []string{"real-secret-1", "real-session-1", "stale-session"} {
				if strings.Contains(logs, secret) {
					t.Fatalf("logs contain %q:\n%s", secret, logs)
				}
			}
		})
	}
}

// TestGracefulShutdownFinishesCallsInFlight stops the server while a call
// waits on the emulator (its latency rule has fired): the call completes.
func TestGracefulShutdownFinishesCallsInFlight(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	ts.Emulator(t, http.MethodPut, "/_emulator/faults", map[string]any{"rules": []any{map[string]any{
		"method": "tmall.servicecenter.worker.taglist.get", "latency": "1500ms"}}})
	type result struct {
		resp *scv1.GetWorkerTagsResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := ts.Workers.GetWorkerTags(ctx, tagsReq)
		done <- result{resp, err}
	}()
	ts.WaitFaultFired(t, 0, 1) // the call is now waiting on the emulator
	// Shutdown returns once Serve has: the graceful stop waits for the call.
	if err := ts.Shutdown(t); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || !r.resp.GetSuccess() {
		t.Fatalf("call in flight: %v %v", r.resp, r.err)
	}
	if _, err := http.Get("http://" + ts.HTTPAddr() + "/healthz"); err == nil {
		t.Fatal("HTTP still serving after shutdown")
	}
	logs := ts.Logs.String()
	if !strings.Contains(logs, "shutting down") {
		t.Fatalf("no shutdown log:\n%s", logs)
	}
}

// TestShutdownTimeoutCutsLongCalls stops the server while a call waits on
// the emulator for 5 minutes: shutdown ends after its 300ms timeout (the
// bound below is far from both), and the call fails.
func TestShutdownTimeoutCutsLongCalls(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, func(c *server.Config) { c.Process.ShutdownTimeout = 300 * time.Millisecond })
	ts.Emulator(t, http.MethodPut, "/_emulator/faults", map[string]any{"rules": []any{map[string]any{
		"method": "tmall.servicecenter.worker.taglist.get", "latency": "5m"}}})
	done := make(chan error, 1)
	go func() {
		_, err := ts.Workers.GetWorkerTags(context.Background(), tagsReq)
		done <- err
	}()
	ts.WaitFaultFired(t, 0, 1) // the call is now waiting on the emulator
	start := time.Now()
	ts.Stop(t)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("shutdown took %v with a 300ms timeout", took)
	}
	if err := <-done; err == nil {
		t.Fatal("a call longer than the shutdown timeout succeeded")
	}
}

// TestGRPCOnly: --http-addr "" runs no HTTP listener (the REST mapping is
// optional by design); calls, gRPC health and /metrics on --metrics-addr
// still work, and the start log says what is off.
func TestGRPCOnly(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, func(c *server.Config) {
		c.Listen.HTTPAddr = ""
		c.Metrics.Addr = "127.0.0.1:0"
	})
	if ts.HTTPAddr() != "" {
		t.Fatalf("HTTPAddr %q with --http-addr \"\"", ts.HTTPAddr())
	}
	resp, err := ts.Workers.GetWorkerTags(grpcCtx(t), &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"})
	if err != nil || !resp.GetSuccess() {
		t.Fatalf("GetWorkerTags: %v %v", resp, err)
	}
	h, err := healthpb.NewHealthClient(ts.Conn).Check(grpcCtx(t), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
	samples, _ := scrape(t, http.DefaultClient, "http://"+ts.MetricsAddr()+"/metrics", nil)
	if samples[`grpc_server_handled_total{grpc_code="OK",grpc_method="GetWorkerTags",grpc_service="servicecenter.v1.WorkerService",grpc_type="unary"}`] != 1 {
		t.Errorf("the call is not counted on --metrics-addr")
	}
	if !strings.Contains(ts.Logs.String(), "gRPC only") {
		t.Errorf("the start log does not say the HTTP listener is off:\n%s", ts.Logs.String())
	}
}
