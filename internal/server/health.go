package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/servicecenterd/servicecenterd/internal/quota/redisquota"
	"github.com/servicecenterd/servicecenterd/internal/store"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
)

// Readiness, for replicas behind a load balancer: /readyz and gRPC health
// say whether this replica can serve, that is its database answers (the
// quota is always served: by Redis, or by the local fallback while Redis
// is down), and it is not draining. Not whether TOP answers: a TOP outage
// must not pull every replica out of the balancer, which would turn our
// typed UNAVAILABLE answers with RetryInfo into the balancer's 503s. TOP's
// reachability is /topz and servicecenterd_top_reachable.

// readyTTL is how long a readiness answer is reused (so that busy probes
// do not become load on the database), and how often gRPC health is
// brought up to date.
const readyTTL = time.Second

// topProbeInterval is how often TOP's reachability is probed for the
// servicecenterd_top_reachable gauge when no call has told it.
const topProbeInterval = 10 * time.Second

// errDraining is the readiness of a server shutting down.
var errDraining = errors.New("draining: shutting down")

// readiness says whether this replica can serve.
type readiness struct {
	store    store.Store
	quota    *redisquota.Quota // nil without --redis-url
	draining atomic.Bool

	mu      sync.Mutex
	checked time.Time
	err     error
}

func newReadiness(st store.Store, q *redisquota.Quota) *readiness {
	return &readiness{store: st, quota: q}
}

// check returns nil when the replica can serve, else why not.
func (r *readiness) check(ctx context.Context) error {
	if r.draining.Load() {
		return errDraining
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.checked.IsZero() && time.Since(r.checked) < readyTTL {
		return r.err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	r.err = nil
	if err := r.store.Ping(ctx); err != nil {
		r.err = fmt.Errorf("database unreachable: %w", err)
	}
	r.checked = time.Now()
	return r.err
}

// quotaBackend is where the quota is kept: "redis", "local (Redis
// unreachable)" or "local".
func (r *readiness) quotaBackend() string {
	switch {
	case r.quota == nil:
		return redisquota.BackendLocal
	case r.quota.Backend() == redisquota.BackendRedis:
		return redisquota.BackendRedis
	default:
		return "local (Redis unreachable: this replica's share)"
	}
}

// handleReady is /readyz: 200 "ready" or 503 "not ready: why", with the
// quota's backend on a second line.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	quota := "quota: " + s.ready.quotaBackend() + "\n"
	if err := s.ready.check(r.Context()); err != nil {
		writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n"+quota)
		return
	}
	writeText(w, http.StatusOK, "ready\n"+quota)
}

// topStatus is /topz's answer.
type topStatus struct {
	// Reachable says whether the TOP gateway answered HTTP.
	Reachable bool `json:"reachable"`
	// URL is the gateway probed.
	URL string `json:"url"`
	// Error says why it is not reachable.
	Error string `json:"error,omitempty"`
}

// handleTOP is /topz: whether the TOP gateway answers (200) or not (503),
// as JSON; it also sets servicecenterd_top_reachable.
func (s *Server) handleTOP(w http.ResponseWriter, r *http.Request) {
	st := s.probeTOP(r.Context())
	code := http.StatusOK
	if !st.Reachable {
		code = http.StatusServiceUnavailable
	}
	body, _ := json.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// probeTOP probes TOP (answers reused for a while: upstream.ready) and
// sets the gauge.
func (s *Server) probeTOP(ctx context.Context) topStatus {
	err := s.upstream.ready(ctx)
	s.metrics.SetTOPReachable(err == nil)
	st := topStatus{Reachable: err == nil, URL: s.upstream.url}
	if err != nil {
		st.Error = err.Error()
	}
	return st
}

// topSeen learns TOP's reachability from a finished call: an answer of
// any kind says it is reachable, a transport failure without an HTTP
// status that it is not. Then no probe is needed for a while.
func (s *Server) topSeen(ci topclient.CallInfo) {
	if ci.Attempts == 0 {
		return // refused before sending (a ban, the quota, the context)
	}
	reachable := ci.Outcome != topclient.OutcomeTransportError || ci.HTTPStatus != 0
	s.metrics.SetTOPReachable(reachable)
	s.topSeenAt.Store(time.Now().UnixNano())
}

// watchTOP keeps servicecenterd_top_reachable current until ctx is done:
// from the calls to TOP (topSeen) while there are some, else by a probe
// every topProbeInterval (the first after one interval, so that a
// replica's start is no load on TOP).
func (s *Server) watchTOP(ctx context.Context) {
	t := time.NewTicker(topProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, s.topSeenAt.Load())) < topProbeInterval {
			continue
		}
		s.probeTOP(ctx)
	}
}

// watchReady keeps gRPC health (service "" and each of ours) in step with
// readiness until ctx is done.
func (s *Server) watchReady(ctx context.Context) {
	t := time.NewTicker(readyTTL)
	defer t.Stop()
	last := healthpb.HealthCheckResponse_UNKNOWN
	for {
		want := healthpb.HealthCheckResponse_SERVING
		if err := s.ready.check(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			want = healthpb.HealthCheckResponse_NOT_SERVING
			if last != want {
				s.logger.Warn("not ready", slog.String("reason", err.Error()))
			}
		} else if last == healthpb.HealthCheckResponse_NOT_SERVING {
			s.logger.Info("ready again")
		}
		if want != last {
			setHealth(s.health, want)
			last = want
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func setHealth(h *health.Server, st healthpb.HealthCheckResponse_ServingStatus) {
	for _, name := range append([]string{""}, serviceNames...) {
		h.SetServingStatus(name, st)
	}
}

// drain reports not ready at once (/readyz 503; gRPC health NOT_SERVING,
// which no later update changes) and keeps serving for --drain-delay, so
// that load balancers stop sending calls first.
func (s *Server) drain() {
	s.ready.draining.Store(true)
	s.health.Shutdown()
	d := s.cfg.Process.DrainDelay
	if d <= 0 {
		return
	}
	s.logger.Info("draining: reporting not ready, still serving", slog.Duration("drain_delay", d))
	time.Sleep(d)
}
