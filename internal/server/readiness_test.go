package server_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgmigrated"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgtest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/redistest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// httpGet returns the status and body of GET url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	code, _, raw := doREST(t, http.DefaultClient, http.MethodGet, url, "", nil)
	return code, raw
}

// healthOf is the gRPC health of every service ("" and ours): the one
// status they share, or "mixed".
func healthOf(t *testing.T, ts *testserver.Server) string {
	t.Helper()
	h := healthpb.NewHealthClient(ts.Conn)
	seen := ""
	for _, name := range append([]string{""}, server.ServiceNames...) {
		resp, err := h.Check(grpcCtx(t), &healthpb.HealthCheckRequest{Service: name})
		st := resp.GetStatus().String()
		if err != nil {
			st = err.Error()
		}
		if seen != "" && st != seen {
			return "mixed"
		}
		seen = st
	}
	return seen
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

// TestReadinessIsNotTOP: /readyz and gRPC health say whether this replica
// can serve, not whether TOP answers; /topz and
// servicecenterd_top_reachable (from the calls, and /topz's probe) say
// that.
func TestReadinessIsNotTOP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		topDown   bool
		wantTopz  int
		wantGauge float64
	}{
		{"TOP answers", false, http.StatusOK, 1},
		{"TOP unreachable", true, http.StatusServiceUnavailable, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := testserver.Start(t, func(c *server.Config) {
				if tc.topDown {
					c.TOP.URL, c.TOP.AppKey, c.TOP.AppSecret = "http://"+closedAddr(t)+"/router/rest", "k", "s3cr3t-value"
				}
			})
			base := "http://" + ts.HTTPAddr()
			if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK || !strings.HasPrefix(body, "ready\n") {
				t.Fatalf("/readyz %d %q", code, body)
			}
			if st := healthOf(t, ts); st != "SERVING" {
				t.Fatalf("gRPC health %s", st)
			}
			// A call tells the gauge, without a probe.
			_, err := ts.Workers.GetWorkerTags(grpcCtx(t), tagsReq)
			if (err != nil) != tc.topDown {
				t.Fatalf("GetWorkerTags: %v", err)
			}
			samples, _ := scrape(t, http.DefaultClient, base+"/metrics", nil)
			if got := samples["servicecenterd_top_reachable"]; got != tc.wantGauge {
				t.Fatalf("servicecenterd_top_reachable after a call: %v", got)
			}
			code, body := httpGet(t, base+"/topz")
			var topz struct {
				Reachable bool   `json:"reachable"`
				URL       string `json:"url"`
				Error     string `json:"error"`
			}
			if code != tc.wantTopz || json.Unmarshal([]byte(body), &topz) != nil || topz.Reachable != !tc.topDown ||
				!strings.HasSuffix(topz.URL, "/router/rest") || (topz.Error != "") != tc.topDown {
				t.Fatalf("/topz %d %s", code, body)
			}
			samples, _ = scrape(t, http.DefaultClient, base+"/metrics", nil)
			if got := samples["servicecenterd_top_reachable"]; got != tc.wantGauge {
				t.Fatalf("servicecenterd_top_reachable after /topz: %v", got)
			}
			if strings.Contains(ts.Logs.String()+body, "s3cr3t-value") {
				t.Fatal("the app secret leaked")
			}
		})
	}
}

// TestReadinessFollowsTheDatabase: a replica whose PostgreSQL goes away
// reports not ready on /readyz and gRPC health.
func TestReadinessFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	url := pgmigrated.NewDatabase(t)
	ts := testserver.Start(t, func(c *server.Config) { c.Store.DatabaseURL = url })
	base := "http://" + ts.HTTPAddr()
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz %d %q", code, body)
	}
	// The job engine (River) starts on the database once Serve runs: let
	// it start first, so that what goes away is a serving replica's
	// database.
	testserver.WaitFor(t, "the job engine to start", func() bool { return strings.Contains(ts.Logs.String(), "River client started") })
	admin := pgtest.Admin(t)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if _, err := admin.Exec(context.Background(), "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	testserver.WaitFor(t, "/readyz to say the database is gone", func() bool {
		code, body := httpGet(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "database unreachable")
	})
	testserver.WaitFor(t, "gRPC health NOT_SERVING", func() bool { return healthOf(t, ts) == "NOT_SERVING" })
	// Its database gone, the job engine may fail to stop cleanly: that
	// error is not this test's subject.
	_ = ts.Shutdown(t)
}

// TestDrain: once asked to stop, the server reports not ready at once and
// keeps serving calls for --drain-delay, then stops.
func TestDrain(t *testing.T) {
	t.Parallel()
	const delay = 2 * time.Second
	ts := testserver.Start(t, func(c *server.Config) { c.Process.DrainDelay = delay })
	base := "http://" + ts.HTTPAddr()
	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- ts.Shutdown(t) }()
	testserver.WaitFor(t, "/readyz 503 while draining", func() bool {
		code, body := httpGet(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "draining")
	})
	if st := healthOf(t, ts); st != "NOT_SERVING" {
		t.Fatalf("gRPC health while draining: %s", st)
	}
	if _, err := ts.Workers.GetWorkerTags(grpcCtx(t), tagsReq); err != nil {
		t.Fatalf("a call while draining: %v", err)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz while draining: %d", code)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < delay {
		t.Fatalf("stopped after %v, before the drain delay", took)
	}
}

// TestRedisQuotaBackend: with --redis-url the quota is in Redis; with a
// Redis that does not answer, the replica is ready on its local share,
// says so on /readyz and in servicecenterd_quota_backend, and serves.
func TestRedisQuotaBackend(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t)
	for _, tc := range []struct {
		name, url, ready string
		redis, local     float64
	}{
		{"Redis answers", redistest.URL(), "quota: redis", 1, 0},
		{"Redis unreachable", "redis://" + closedAddr(t) + "/0", "quota: local (Redis unreachable", 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := testserver.Start(t, func(c *server.Config) {
				c.Redis.URL, c.Redis.Prefix, c.TOP.RateLimit = tc.url, prefix, 1000
			})
			base := "http://" + ts.HTTPAddr()
			if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK || !strings.Contains(body, tc.ready) {
				t.Fatalf("/readyz %d %q", code, body)
			}
			if _, err := ts.Workers.GetWorkerTags(grpcCtx(t), tagsReq); err != nil {
				t.Fatal(err)
			}
			samples, _ := scrape(t, http.DefaultClient, base+"/metrics", nil)
			if samples[`servicecenterd_quota_backend{backend="redis"}`] != tc.redis || samples[`servicecenterd_quota_backend{backend="local"}`] != tc.local {
				t.Fatalf("servicecenterd_quota_backend: redis %v, local %v", samples[`servicecenterd_quota_backend{backend="redis"}`], samples[`servicecenterd_quota_backend{backend="local"}`])
			}
		})
	}
}
