package server_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// scrape reads /metrics from base and returns the samples by their
// series as printed ("name{label="value",...}"), and the raw text.
func scrape(t *testing.T, c *http.Client, url string, header http.Header) (map[string]float64, string) {
	t.Helper()
	code, _, raw := doREST(t, c, http.MethodGet, url, "", header)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, raw)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		samples[line[:i]] = v
	}
	return samples, raw
}

type fakeJobs struct{}

func (fakeJobs) SyncJobCounts(context.Context) (map[string]int64, error) {
	return map[string]int64{"running": 2, "done": 5}, nil
}

type brokenJobs struct{}

func (brokenJobs) OldestChunkWait(context.Context) (time.Duration, error) {
	return 0, errors.New("store closed")
}

func (brokenJobs) SyncJobCounts(context.Context) (map[string]int64, error) {
	return nil, errors.New("store closed")
}

// TestMetrics makes known calls and checks the scraped series by name and
// label: gRPC calls by method and code (REST included), TOP calls by
// method and outcome, retries, bans, the rate limit, sync jobs and the
// build. No label carries request data.
func TestMetrics(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	ts := testserver.Start(t, func(c *server.Config) {
		c.Auth.ClientsFile = p.clientsFile
		c.RateLimit.PerSecond = 0.001
		c.RateLimit.Burst = 6
	})
	ts.SetSyncJobs(fakeJobs{})
	tags := &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}
	ctx := withToken(grpcCtx(t), tokenOps)

	if _, err := ts.Workers.GetWorkerTags(ctx, tags); err != nil { // 1 ok
		t.Fatal(err)
	}
	if _, err := ts.Workcards.AssignWorker(ctx, &scv1.AssignWorkerRequest{WorkcardId: 999, TargetWorkerId: 1234567}); status.Code(err) != codes.NotFound { // 2
		t.Fatal(err)
	}
	// An authenticated REST call (2b): the gateway's hop counts as a gRPC call.
	if code, _, raw := doREST(t, http.DefaultClient, http.MethodPost, "http://"+ts.HTTPAddr()+"/v1/workcards/999:assignWorker",
		`{"target_worker_id":"1234567"}`, http.Header{"Authorization": {"Bearer " + tokenOps}}); code != http.StatusNotFound {
		t.Fatalf("REST AssignWorker: %d %s", code, raw)
	}
	ts.Emulator(t, http.MethodPut, "/_emulator/faults", map[string]any{"rules": []any{map[string]any{
		"method": top.MethodWorkerTagList, "count": 2, "error": map[string]any{"code": 15, "sub_code": "isp.top-remote-service-unavailable"}}}})
	if _, err := ts.Workers.GetWorkerTags(ctx, tags); err != nil { // 3: two retries, then ok
		t.Fatal(err)
	}
	if _, err := ts.Workers.GetWorkerTags(ctx, tags); err != nil { // 4
		t.Fatal(err)
	}
	// TOP's quota ban, as TOP answers it. (The emulator's quota counts
	// calls per calendar second: two calls in a row could land in two
	// seconds and both pass.)
	ts.Emulator(t, http.MethodPut, "/_emulator/faults", map[string]any{"rules": []any{map[string]any{
		"method": top.MethodWorkerTagList, "count": 1, "error": map[string]any{
			"code": top.CodeAppCallLimited, "sub_code": top.SubCodeAppAccessCount, "sub_msg": top.BanMessage(30 * time.Second)}}}})
	if _, err := ts.Workers.GetWorkerTags(ctx, tags); status.Code(err) != codes.ResourceExhausted { // 5: TOP bans
		t.Fatalf("quota: %v", err)
	}
	if _, err := ts.Workers.GetWorkerTags(ctx, tags); status.Code(err) != codes.ResourceExhausted { // 6: over the rate limit (burst 6)
		t.Fatalf("rate limit: %v", err)
	}
	code, _, _ := ts.REST(t, "/v1/workers:getTags", restBody(t, tags)) // unauthenticated REST call
	if code != http.StatusUnauthorized {
		t.Fatalf("REST: %d", code)
	}

	samples, raw := scrape(t, http.DefaultClient, "http://"+ts.HTTPAddr()+"/metrics", nil)
	tagsSvc := `grpc_method="GetWorkerTags",grpc_service="servicecenter.v1.WorkerService",grpc_type="unary"`
	want := map[string]float64{
		`grpc_server_started_total{` + tagsSvc + `}`:                                                                                                   6,
		`grpc_server_handled_total{grpc_code="OK",` + tagsSvc + `}`:                                                                                    3,
		`grpc_server_handled_total{grpc_code="ResourceExhausted",` + tagsSvc + `}`:                                                                     2,
		`grpc_server_handled_total{grpc_code="Unauthenticated",` + tagsSvc + `}`:                                                                       1,
		`grpc_server_handled_total{grpc_code="NotFound",grpc_method="AssignWorker",grpc_service="servicecenter.v1.WorkcardService",grpc_type="unary"}`: 2,
		`grpc_server_handled_total{grpc_code="Internal",` + tagsSvc + `}`:                                                                              0,
		`grpc_server_handling_seconds_count{` + tagsSvc + `}`:                                                                                          6,
		`grpc_server_msg_received_total{` + tagsSvc + `}`:                                                                                              6,
		`grpc_server_started_total{grpc_method="ImportUserBlacklist",grpc_service="servicecenter.v1.LogisticsService",grpc_type="client_stream"}`:      0,
		`servicecenterd_top_calls_total{method="tmall.servicecenter.workcard.assignworker",outcome="ok"}`:                                              2,
		`servicecenterd_top_call_duration_seconds_count{method="tmall.servicecenter.workcard.assignworker",outcome="ok"}`:                              2,
		`servicecenterd_top_retries_total{method="tmall.servicecenter.worker.taglist.get"}`:                                                            2,
		`servicecenterd_top_bans_total{method="tmall.servicecenter.worker.taglist.get"}`:                                                               1,
		`servicecenterd_top_bans_total{method="taobao.logistics.express.user.blacklist.tms.sync"}`:                                                     0,
		`servicecenterd_rate_limited_total{client="ops"}`:                                                                                              1,
		`servicecenterd_sync_jobs{state="running"}`:                                                                                                    2,
		`servicecenterd_sync_jobs{state="done"}`:                                                                                                       5,
		`servicecenterd_sync_jobs_scrape_errors`:                                                                                                       0,
		`servicecenterd_sync_chunks_oldest_age_seconds`:                                                                                                0,
	}
	for series := range samples {
		if strings.HasPrefix(series, "servicecenterd_grpc_server_") {
			t.Errorf("the old gRPC series %s is still served (the standard grpc_server_* replace them)", series)
		}
	}
	for series, v := range want {
		if got, ok := samples[series]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, v)
		}
	}
	if samples[`servicecenterd_top_calls_total{method="tmall.servicecenter.worker.taglist.get",outcome="ok"}`] != 3 {
		t.Errorf("taglist ok calls not counted")
	}
	var build bool
	for series := range samples {
		if strings.HasPrefix(series, `servicecenterd_build_info{`) && strings.Contains(series, `go_version="go`) {
			build = true
		}
	}
	if !build || samples["go_goroutines"] == 0 {
		t.Errorf("build info or Go collector missing")
	}
	for _, leak := range []string{"13245678901", "11010519491231002X", "132****8901", tokenOps, auth.HashToken(tokenOps)} {
		if strings.Contains(raw, leak) {
			t.Fatalf("/metrics contains %q", leak)
		}
	}

	ts.SetSyncJobs(brokenJobs{})
	samples, _ = scrape(t, http.DefaultClient, "http://"+ts.HTTPAddr()+"/metrics", nil)
	if samples[`servicecenterd_sync_jobs_scrape_errors`] != 1 {
		t.Errorf("a failing job count source is not reported")
	}
	ts.SetSyncJobs(fakeJobs{})
	ts.SetSyncChunkQueue(brokenJobs{})
	samples, _ = scrape(t, http.DefaultClient, "http://"+ts.HTTPAddr()+"/metrics", nil)
	if _, ok := samples[`servicecenterd_sync_chunks_oldest_age_seconds`]; ok || samples[`servicecenterd_sync_jobs_scrape_errors`] != 1 {
		t.Errorf("a failing chunk queue source: age %v served, scrape errors %v; want no age and 1",
			ok, samples[`servicecenterd_sync_jobs_scrape_errors`])
	}
}

// TestMetricsAddr serves /metrics on its own listener, not on the HTTP
// one; with TLS on, it serves TLS too.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	ts := testserver.Start(t, func(c *server.Config) {
		c.Metrics.Addr = "127.0.0.1:0"
		c.TLS.CertFile, c.TLS.KeyFile = p.certFile, p.keyFile
	})
	client := httpsClient(t, p.clientTLS(t, ""))
	if code, _, _ := doREST(t, client, http.MethodGet, "https://"+ts.HTTPAddr()+"/metrics", "", nil); code != http.StatusNotFound {
		t.Fatalf("/metrics on --http-addr: %d", code)
	}
	samples, _ := scrape(t, client, "https://"+ts.MetricsAddr()+"/metrics", nil)
	if _, ok := samples["go_goroutines"]; !ok {
		t.Fatal("no metrics on --metrics-addr")
	}
}

// TestPProf: Go's profiles are served only with --pprof, on the listener
// of /metrics (--metrics-addr here), to callers the clients file allows
// (http/pprof, which --open-endpoints metrics does not open), never the
// command line.
func TestPProf(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	// One server with --pprof and one without serve every case: a case
	// only reads, so it cannot change what the next one sees.
	servers := map[bool]*testserver.Server{}
	for _, pprof := range []bool{false, true} {
		servers[pprof] = testserver.Start(t, func(c *server.Config) {
			c.Auth.ClientsFile = p.clientsFile
			c.Metrics.Addr = "127.0.0.1:0"
			c.Metrics.PProf = pprof
		})
	}
	for _, tt := range []struct {
		name  string
		pprof bool
		path  string
		token string
		want  int
		body  string
	}{
		{"off", false, "/debug/pprof/heap?debug=1", tokenOps, http.StatusNotFound, ""},
		{"no credentials", true, "/debug/pprof/heap?debug=1", "", http.StatusUnauthorized, ""},
		{"client not allowed", true, "/debug/pprof/heap?debug=1", tokenTagsOnly, http.StatusForbidden, ""},
		{"heap", true, "/debug/pprof/heap?debug=1", tokenOps, http.StatusOK, "heap profile"},
		{"goroutines", true, "/debug/pprof/goroutine?debug=1", tokenOps, http.StatusOK, "goroutine profile"},
		{"index", true, "/debug/pprof/", tokenOps, http.StatusOK, "Types of profiles available"},
		{"cpu profile too long", true, "/debug/pprof/profile?seconds=3600", tokenOps, http.StatusBadRequest, "at most 120"},
		{"trace too long", true, "/debug/pprof/trace?seconds=1e9", tokenOps, http.StatusBadRequest, "at most 120"},
		{"short trace", true, "/debug/pprof/trace?seconds=0.05", tokenOps, http.StatusOK, ""},
		{"command line", true, "/debug/pprof/cmdline", tokenOps, http.StatusNotFound, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := servers[tt.pprof]
			header := http.Header{}
			if tt.token != "" {
				header.Set("Authorization", "Bearer "+tt.token)
			}
			code, _, raw := doREST(t, http.DefaultClient, http.MethodGet, "http://"+ts.MetricsAddr()+tt.path, "", header)
			if code != tt.want || !strings.Contains(raw, tt.body) {
				t.Fatalf("GET %s: %d, want %d with %q:\n%.300s", tt.path, code, tt.want, tt.body, raw)
			}
			if samples, _ := scrape(t, http.DefaultClient, "http://"+ts.MetricsAddr()+"/metrics", nil); samples["go_goroutines"] == 0 {
				t.Error("/metrics no longer open beside the profiles")
			}
		})
	}
}
