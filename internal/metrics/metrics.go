// Package metrics holds servicecenterd's Prometheus metrics in a registry
// of its own (never the global default one): gRPC server calls, TOP
// calls, the per-client rate limit, bulk sync jobs, the audit trail and
// the build.
//
// The gRPC server's series are go-grpc-middleware's
// (providers/prometheus; counted in grpc.go, which resolves each method's
// series once) under their standard names, so that stock grpc-go
// dashboards and alerts work unchanged: grpc_server_started_total,
// grpc_server_handled_total (with grpc_code), grpc_server_msg_received_total,
// grpc_server_msg_sent_total and the grpc_server_handling_seconds histogram,
// labelled grpc_type, grpc_service and grpc_method. A sampled call's
// trace id rides on them as an exemplar. Our own series keep the
// servicecenterd_ prefix. Every
// label value comes from a fixed set (method names, status codes,
// outcomes, client names from the clients file, job states); request
// data, personal data and secrets never become labels.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/servicecenterd/servicecenterd/internal/buildinfo"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
)

// Namespace prefixes every metric name.
const Namespace = "servicecenterd"

// OtherMethod is the TOP method label of a method outside top.Methods.
const OtherMethod = "other"

// SyncJobCounter reports how many bulk sync jobs are in each state, for
// the servicecenterd_sync_jobs gauge. The states must be a fixed set (the
// job state names), never request data. It is called at each scrape.
type SyncJobCounter interface {
	SyncJobCounts(ctx context.Context) (map[string]int64, error)
}

// SyncChunkQueue reports the bulk sync's chunk queue, for the
// servicecenterd_sync_chunks_oldest_age_seconds gauge. It is called at
// each scrape.
type SyncChunkQueue interface {
	// OldestChunkWait is how long the oldest chunk that may be sent now
	// has been waiting for a worker; 0 when none waits.
	OldestChunkWait(ctx context.Context) (time.Duration, error)
}

// Metrics is servicecenterd's metrics registry.
type Metrics struct {
	reg *prometheus.Registry

	grpc *grpcServerMetrics

	topCalls     *prometheus.CounterVec
	topSeconds   *prometheus.HistogramVec
	topRetries   *prometheus.CounterVec
	topQuotaWait *prometheus.HistogramVec
	topBans      *prometheus.CounterVec
	// topOutcomes caches the top_calls_total and top_call_duration_seconds
	// series of each method and outcome seen (topKey -> *topSeries), so
	// that a call does not hash its labels twice.
	topOutcomes sync.Map

	rateLimited *prometheus.CounterVec

	quotaBackend *prometheus.GaugeVec
	topReachable prometheus.Gauge

	auditFailures prometheus.Counter
	auditPruned   prometheus.Counter

	syncJobs *syncJobsCollector
}

// New returns the metrics, registered with the Go runtime and process
// collectors and servicecenterd_build_info.
func New(logger *slog.Logger) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.grpc = newGRPCServerMetrics()
	topLabels := []string{"method"}
	m.topCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "top_calls_total",
		Help: "TOP calls, retries included, by TOP method and outcome (ok, api_error, transport_error, decode_error, banned, canceled).",
	}, append(topLabels, "outcome"))
	m.topSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "top_call_duration_seconds",
		Help:    "Wall time of a TOP call, retries, backoff and quota waits included, by TOP method and outcome.",
		Buckets: prometheus.DefBuckets,
	}, append(topLabels, "outcome"))
	m.topRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "top_retries_total",
		Help: "TOP requests sent again after a failed attempt, by TOP method.",
	}, topLabels)
	m.topQuotaWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "top_quota_wait_seconds",
		Help:    "Time TOP calls that had to wait spent waiting for the app key's rate limiter (--top-rate-limit), by TOP method.",
		Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10},
	}, topLabels)
	m.topBans = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "top_bans_total",
		Help: "Quota bans TOP imposed (\"This ban will last for N more seconds\"), by TOP method; calls refused during a ban count as top_calls_total{outcome=\"banned\"}.",
	}, topLabels)
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "rate_limited_total",
		Help: "Calls refused by the per-client rate limit (RESOURCE_EXHAUSTED), by client name (\"\" for unauthenticated callers).",
	}, []string{"client"})
	m.quotaBackend = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "quota_backend",
		Help: "1 for the backend keeping the TOP quota, bans and per-client rate limits: redis (shared by replicas, --redis-url) or local (this process: no --redis-url, or its fallback while Redis is unreachable).",
	}, []string{"backend"})
	m.topReachable = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "top_reachable",
		Help: "1 when TOP answered the last call or probe (as /topz reports), else 0; 0 until the first call or probe (within 10s of the start).",
	})
	m.auditFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "audit_write_failures_total",
		Help: "Audit events the durable store could not record (they are still in the log; with --audit-fail-closed, audited calls are refused until one is recorded again).",
	})
	m.auditPruned = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "audit_events_pruned_total",
		Help: "Audit events deleted because they were older than --audit-retention.",
	})
	build := buildinfo.Read()
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "The running build; always 1.",
	}, []string{"version", "revision", "go_version"})
	buildInfo.WithLabelValues(build.Version, build.Revision, build.GoVersion).Set(1)
	m.syncJobs = &syncJobsCollector{
		desc: prometheus.NewDesc(Namespace+"_sync_jobs", "Bulk blacklist sync jobs by state.", []string{"state"}, nil),
		errs: prometheus.NewDesc(Namespace+"_sync_jobs_scrape_errors", "1 when the sync job counts or the chunk queue could not be read at this scrape.", nil, nil),
		age: prometheus.NewDesc(Namespace+"_sync_chunks_oldest_age_seconds",
			"Seconds the oldest bulk sync chunk that may be sent now (available, retry or schedule due) has waited for a worker of any replica; 0 when none waits.", nil, nil),
		log: logger,
	}
	m.reg.MustRegister(m.grpc.collectors()...)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.topCalls, m.topSeconds, m.topRetries, m.topQuotaWait, m.topBans,
		m.rateLimited, m.quotaBackend, m.topReachable, m.auditFailures, m.auditPruned, buildInfo, m.syncJobs,
	)
	for _, method := range top.Methods() {
		m.topRetries.WithLabelValues(method.Name)
		m.topBans.WithLabelValues(method.Name)
	}
	m.topRetries.WithLabelValues(OtherMethod)
	m.topBans.WithLabelValues(OtherMethod)
	return m
}

// Registerer lets other parts register their own collectors.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Gatherer reads the metrics (tests, other exporters).
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// SetSyncJobs sets where servicecenterd_sync_jobs comes from; until it is
// set the gauge has no series.
func (m *Metrics) SetSyncJobs(c SyncJobCounter) { m.syncJobs.src.Store(&c) }

// SetSyncChunkQueue sets where
// servicecenterd_sync_chunks_oldest_age_seconds comes from; until it is
// set the gauge has no series.
func (m *Metrics) SetSyncChunkQueue(q SyncChunkQueue) { m.syncJobs.queue.Store(&q) }

// ObserveTOP is a topclient.Config.Observer: it counts a finished TOP
// call. CallInfo carries no parameter values; only its method (one of
// top.Methods, else "other") and outcome become labels.
func (m *Metrics) ObserveTOP(ci topclient.CallInfo) {
	method := topMethod(ci.Method)
	k := topKey{method, ci.Outcome}
	s, ok := m.topOutcomes.Load(k)
	if !ok {
		outcome := string(ci.Outcome)
		s, _ = m.topOutcomes.LoadOrStore(k, &topSeries{
			calls:   m.topCalls.WithLabelValues(method, outcome),
			seconds: m.topSeconds.WithLabelValues(method, outcome),
		})
	}
	ts := s.(*topSeries)
	ts.calls.Inc()
	ts.seconds.Observe(ci.Duration.Seconds())
	if ci.Attempts > 1 {
		m.topRetries.WithLabelValues(method).Add(float64(ci.Attempts - 1))
	}
	if ci.QuotaWait > 0 {
		m.topQuotaWait.WithLabelValues(method).Observe(ci.QuotaWait.Seconds())
	}
	// A banned outcome after sending is TOP imposing a ban; without any
	// attempt it is a call refused locally during one.
	if ci.Outcome == topclient.OutcomeBanned && ci.Attempts > 0 {
		m.topBans.WithLabelValues(method).Inc()
	}
}

type topKey struct {
	method  string
	outcome topclient.Outcome
}

type topSeries struct {
	calls   prometheus.Counter
	seconds prometheus.Observer
}

func topMethod(method string) string {
	if m, ok := top.Lookup(method); ok {
		return m.Name
	}
	return OtherMethod
}

// RateLimited counts a call refused by the per-client rate limit.
func (m *Metrics) RateLimited(client string) { m.rateLimited.WithLabelValues(client).Inc() }

// SetQuotaBackend reports the quota's backend in use: "redis" or "local".
func (m *Metrics) SetQuotaBackend(backend string) {
	for _, b := range []string{"redis", "local"} {
		v := 0.0
		if b == backend {
			v = 1
		}
		m.quotaBackend.WithLabelValues(b).Set(v)
	}
}

// SetTOPReachable reports whether the TOP gateway answered the last probe.
func (m *Metrics) SetTOPReachable(ok bool) {
	v := 0.0
	if ok {
		v = 1
	}
	m.topReachable.Set(v)
}

// AuditWriteFailed counts an audit event the durable store could not
// record (audit.Options.Failed).
func (m *Metrics) AuditWriteFailed() { m.auditFailures.Inc() }

// AuditPruned counts audit events deleted by the retention
// (audit.RetentionConfig.Pruned).
func (m *Metrics) AuditPruned(n int) { m.auditPruned.Add(float64(n)) }

// UnaryInterceptor counts every gRPC call and its handling time
// (go-grpc-middleware's server metrics). Chain it first, so that it sees
// the final status of every call (panics and denials included). gRPC runs
// interceptors only for registered methods, so the method labels are a
// fixed set.
func (m *Metrics) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return m.grpc.unaryInterceptor(exemplar)
}

// StreamInterceptor is UnaryInterceptor for streams.
func (m *Metrics) StreamInterceptor() grpc.StreamServerInterceptor {
	return m.grpc.streamInterceptor(exemplar)
}

// InitializeGRPC creates the series of every method registered on srv at
// zero, so that rates and ratios exist before the first call.
func (m *Metrics) InitializeGRPC(srv *grpc.Server) { m.grpc.initialize(srv) }

// exemplar is a sampled call's trace id, as an exemplar of its series;
// nil without one (no tracing, or not sampled).
func exemplar(ctx context.Context) prometheus.Labels {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return nil
	}
	return prometheus.Labels{"trace_id": sc.TraceID().String()}
}

// syncJobsScrapeTimeout bounds reading the job counts at a scrape.
const syncJobsScrapeTimeout = 5 * time.Second

// syncJobsCollector reads the sync job counts and the chunk queue's
// oldest wait at each scrape.
type syncJobsCollector struct {
	desc, errs, age *prometheus.Desc
	src             atomic.Pointer[SyncJobCounter]
	queue           atomic.Pointer[SyncChunkQueue]
	log             *slog.Logger
}

func (c *syncJobsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	ch <- c.errs
	ch <- c.age
}

func (c *syncJobsCollector) Collect(ch chan<- prometheus.Metric) {
	src, queue := c.src.Load(), c.queue.Load()
	if src == nil && queue == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), syncJobsScrapeTimeout)
	defer cancel()
	failed := 0.0
	if src != nil {
		counts, err := (*src).SyncJobCounts(ctx)
		if err != nil {
			failed = 1
			c.log.Warn("metrics: reading sync job counts", slog.String("error", err.Error()))
		}
		for state, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), state)
		}
	}
	if queue != nil {
		wait, err := (*queue).OldestChunkWait(ctx)
		if err != nil {
			failed = 1
			c.log.Warn("metrics: reading the sync chunk queue", slog.String("error", err.Error()))
		} else {
			ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, wait.Seconds())
		}
	}
	ch <- prometheus.MustNewConstMetric(c.errs, prometheus.GaugeValue, failed)
}
