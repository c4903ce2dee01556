// Package server wires servicecenterd together: the TOP client (against
// real TOP or the embedded emulator), the gRPC server with its
// interceptors, health and reflection (grpc.go), and the HTTP server with
// the REST gateway (whose calls run the gRPC server's own interceptors and
// handlers in the process, so REST passes the same interceptors),
// /healthz, /readyz, /openapi.json and /metrics (http.go).
// It also shuts all of it down in order.
//
// Its Config composes the components' settings, each section owned and
// validated by its component (topclient.Settings, syncjob.Settings,
// auth.Settings...); server keeps only its own listeners' and process
// settings and the rules across sections (config.go).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/buildinfo"
	"github.com/servicecenterd/servicecenterd/internal/idempotency"
	"github.com/servicecenterd/servicecenterd/internal/metrics"
	"github.com/servicecenterd/servicecenterd/internal/quota"
	"github.com/servicecenterd/servicecenterd/internal/quota/redisquota"
	"github.com/servicecenterd/servicecenterd/internal/rpc/codec"
	"github.com/servicecenterd/servicecenterd/internal/rpc/inprocess"
	"github.com/servicecenterd/servicecenterd/internal/rpc/middleware"
	"github.com/servicecenterd/servicecenterd/internal/store"
	"github.com/servicecenterd/servicecenterd/internal/telemetry"
	"github.com/servicecenterd/servicecenterd/internal/tlsfiles"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
)

// Server is a running servicecenterd: listeners bound, not yet serving
// until Serve.
type Server struct {
	cfg      Config
	logger   *slog.Logger
	upstream *upstream
	top      *topclient.Client
	store    store.Store // the durable store (SQLite in --data-dir, or PostgreSQL): sync jobs and audit trail
	bulk     *bulk       // the durable bulk blacklist sync (bulk.go)
	events   *eventPipe  // the TMC consumer and the event log (events.go)

	grpcLis net.Listener
	httpLis net.Listener
	grpc    *grpc.Server
	health  *health.Server
	http    *http.Server
	// gatewayConn is the REST gateway's connection to our gRPC server,
	// for streams (uploads, watches).
	gatewayConn *grpc.ClientConn
	// gateway is the REST gateway's channel: unary calls run in the
	// process through unary, streams go to gatewayConn (http.go).
	gateway *inprocess.Channel
	// clientStreams are the full methods that take a stream of requests
	// (restbody.go).
	clientStreams map[string]bool
	// services records the services registered on grpc, for gateway.
	services *inprocess.Registry
	// unary is the gRPC server's unary interceptor chain (grpc.go).
	unary []grpc.UnaryServerInterceptor
	// serverStats is the gRPC server's stats handler (tracing); nil when
	// tracing is off.
	serverStats stats.Handler

	// What guards and observes the calls (grpc.go, http.go):
	authn   *auth.Authenticator
	clients *auth.ClientsFile // nil without --clients-file
	tls     *tlsfiles.Store   // nil without TLS
	metrics *metrics.Metrics
	limiter *middleware.RateLimiter
	// quota shares the TOP quota, bans and rate limits through Redis
	// (--redis-url); nil: they stay in the process.
	quota *redisquota.Quota
	redis *redis.Client
	// ready says whether this replica can serve (health.go).
	ready *readiness
	// topSeenAt is when a call last told whether TOP is reachable
	// (Unix ns; health.go).
	topSeenAt atomic.Int64
	auditor   *audit.Auditor
	// auditStore keeps the audit trail and serves ListAuditEvents; nil:
	// the log is the only trail.
	auditStore audit.Store
	// retention prunes auditStore (a periodic job of the bulk sync's job
	// engine); nil: events are kept forever.
	retention *audit.Retention
	// keeper runs the calls with idempotency keys; keyPruner deletes the
	// expired keys.
	keeper    *idempotency.Keeper
	keyPruner *idempotency.Pruner
	// internal is the gateway's in-process hop to the gRPC server.
	internal *auth.InternalListener
	// codec decodes requests with bounded nesting and turns the ones that
	// do not decode into INVALID_ARGUMENT (internal/rpc/codec).
	codec *codec.Codec
	// uploads carries the refusals of file uploads to the gRPC server.
	uploads *uploadRefusals
	// metricsSrv serves --metrics-addr; nil: /metrics is on the HTTP
	// listener.
	metricsSrv *metricsServer
	// tracing is OpenTelemetry tracing (internal/telemetry), off unless
	// the OTEL_* environment configures it.
	tracing *telemetry.Tracing
}

// Option changes how New builds the server.
type Option func(*options)

type options struct {
	auditStore    audit.Store
	auditStoreSet bool
	// storeOptions are passed to store.Open (WithStoreOptions).
	storeOptions []store.Option
	// tracing replaces the tracing of the OTEL_* environment (WithTracing).
	tracing *telemetry.Tracing
}

// WithTracing traces with t instead of the tracing the OTEL_* environment
// variables configure (tests pass an in-memory exporter's). The server
// shuts t down when it stops.
func WithTracing(t *telemetry.Tracing) Option {
	return func(o *options) { o.tracing = t }
}

// WithAuditStore records audit events in store (besides the log), prunes
// it after --audit-retention and serves ListAuditEvents from it, instead
// of the durable store that New uses by default (tests pass
// an audit.Memory). A nil store leaves the log as the only trail, and
// AuditService unregistered (UNIMPLEMENTED).
func WithAuditStore(store audit.Store) Option {
	return func(o *options) { o.auditStore, o.auditStoreSet = store, true }
}

// WithStoreOptions passes opts to store.Open when New opens the store
// (tests cap the SQLite file's size with sqlite.WithMaxPages, through
// store.WithSQLite, to fill it).
func WithStoreOptions(opts ...store.Option) Option {
	return func(o *options) { o.storeOptions = append(o.storeOptions, opts...) }
}

// New builds the server and binds its listeners, so that the addresses are
// known (port 0 picks a free port). cfg must have passed Validate. On
// error, everything New started is stopped.
func New(ctx context.Context, cfg Config, logger *slog.Logger, opts ...Option) (_ *Server, err error) {
	s := &Server{cfg: cfg, logger: logger}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if s.tracing = o.tracing; s.tracing == nil {
		if s.tracing, err = telemetry.FromEnv(ctx, os.Getenv); err != nil {
			return nil, err
		}
	}
	// Every line logged with a traced call's context carries its trace id.
	s.logger = slog.New(s.tracing.LogHandler(logger.Handler()))
	logger = s.logger
	if s.upstream, err = startUpstream(cfg.TOP, cfg.Emulator, logger); err != nil {
		return nil, err
	}
	// The store first: the audit trail and the bulk sync share it.
	if s.store, err = store.Open(ctx, cfg.Store, logger, o.storeOptions...); err != nil {
		return nil, err
	}
	s.auditStore = s.store
	if o.auditStoreSet {
		s.auditStore = o.auditStore
	}
	if err := s.newGuards(ctx); err != nil {
		return nil, err
	}
	topCfg := s.upstream.clientConfig(cfg.TOP)
	topCfg.Observer = func(ci topclient.CallInfo) {
		s.metrics.ObserveTOP(ci)
		s.topSeen(ci)
	}
	if s.quota != nil {
		topCfg.Limiter, topCfg.Bans = s.quota.Limiter(), s.quota
	}
	topCfg.TracerProvider = s.tracing.TracerProvider()
	s.top, err = topclient.New(topCfg)
	if err != nil {
		return nil, fmt.Errorf("top client: %w", err)
	}
	if s.bulk, err = startBulk(ctx, cfg.Sync, s.store, s.top, s.tracing.TracerProvider(), logger); err != nil {
		return nil, err
	}
	s.metrics.SetSyncJobs(s.bulk.jobs)
	s.metrics.SetSyncChunkQueue(s.bulk.jobs)
	if err := s.newEvents(); err != nil {
		return nil, err
	}
	if err := s.schedulePruning(); err != nil {
		return nil, err
	}
	if err := s.newGRPC(); err != nil {
		return nil, err
	}

	if s.grpcLis, err = net.Listen("tcp", cfg.Listen.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listen --grpc-addr: %w", err)
	}
	if s.metricsSrv, err = s.listenMetrics(); err != nil {
		return nil, err
	}
	if cfg.Listen.HTTPAddr == "" { // gRPC only
		return s, nil
	}
	if s.httpLis, err = net.Listen("tcp", cfg.Listen.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen --http-addr: %w", err)
	}
	s.httpLis = s.wrapListener(s.httpLis)
	handler, err := s.httpHandler(ctx)
	if err != nil {
		return nil, err
	}
	s.http = s.httpServer(handler)
	return s, nil
}

// newGuards builds what guards and observes the calls: metrics, the
// request codec, the shared quota (with --redis-url), authentication (the
// clients file, TLS), the rate limiter, the audit trail and the gateway's
// internal hop.
func (s *Server) newGuards(ctx context.Context) error {
	cfg := s.cfg
	s.metrics = metrics.New(s.logger)
	var callers quota.Callers // nil: in the process
	if cfg.Redis.On() {
		var err error
		if s.redis, err = cfg.Redis.Client(); err != nil {
			return err
		}
		s.quota, err = redisquota.New(ctx, s.redis, redisquota.Options{
			Prefix: cfg.Redis.Prefix, AppKey: s.upstream.appKey, Replicas: cfg.Redis.Replicas,
			Rate:   quota.Rate{PerSecond: cfg.TOP.RateLimit, Burst: cfg.TOP.RateBurst},
			Logger: s.logger.With(slog.String("component", "quota")), OnBackend: s.metrics.SetQuotaBackend,
		})
		if err != nil {
			return fmt.Errorf("shared quota: %w", err)
		}
		callers = s.quota
	} else {
		s.metrics.SetQuotaBackend(redisquota.BackendLocal)
	}
	s.ready = newReadiness(s.store, s.quota)
	s.codec = codec.New()
	open, err := cfg.Auth.OpenPatterns()
	if err != nil {
		return err
	}
	var policy *auth.Policy
	if cfg.Auth.ClientsFile != "" {
		if s.clients, policy, err = auth.LoadClientsFile(cfg.Auth.ClientsFile, KnownMethods()); err != nil {
			return err
		}
	}
	if cfg.TLS.On() {
		if s.tls, err = tlsfiles.Load(cfg.TLS.Files()); err != nil {
			return err
		}
	}
	s.authn = auth.New(auth.Options{Policy: policy, VerifiedCerts: cfg.TLS.VerifiesClients(), Open: open})
	// The open endpoints are exempt from the rate limit by the chain
	// (grpc.go: unaryRateLimit for unary calls, a selector for streams),
	// not by the limiter.
	s.limiter = middleware.NewRateLimiter(callers, s.limitOf, nil, s.metrics.RateLimited)
	// The audited RPCs and their targets are declared in the protos
	// (option servicecenter.v1.audit).
	plan, err := audit.NewPlan(protoregistry.GlobalFiles)
	if err != nil {
		return err
	}
	hooks := audit.TrailHooks{WriteFailed: s.metrics.AuditWriteFailed, Pruned: s.metrics.AuditPruned}
	if s.auditor, s.retention, err = audit.NewTrail(cfg.Audit, s.auditStore, plan, hooks, s.logger); err != nil {
		return err
	}
	s.internal = auth.NewInternalListener()
	s.uploads = newUploadRefusals()
	return s.newKeeper()
}

// GRPCAddr is the gRPC listener's address.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr is the HTTP listener's address; "" with --http-addr "" (gRPC
// only).
func (s *Server) HTTPAddr() string {
	if s.httpLis == nil {
		return ""
	}
	return s.httpLis.Addr().String()
}

// MetricsAddr is the metrics listener's address; "" when /metrics is on
// the HTTP listener (no --metrics-addr).
func (s *Server) MetricsAddr() string {
	if s.metricsSrv == nil {
		return ""
	}
	return s.metricsSrv.lis.Addr().String()
}

// EmulatorURL is the embedded emulator's base URL ("" against real TOP).
func (s *Server) EmulatorURL() string { return s.upstream.emulatorURL }

// Serve serves until ctx is done or a server fails, then shuts down in
// order: health NOT_SERVING (/readyz 503) while serving on for
// --drain-delay (when ctx ended, not on a failure), gRPC GracefulStop (Stop after
// ShutdownTimeout), HTTP Shutdown, then the embedded emulator. The bulk
// sync's delivery worker stops with ctx; a chunk in flight is resent, with
// the same request_id, at the next start.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.ready.check(ctx); err != nil {
		s.logger.Warn("not ready at start", slog.String("reason", err.Error()))
		setHealth(s.health, healthpb.HealthCheckResponse_NOT_SERVING)
	} else {
		setHealth(s.health, healthpb.HealthCheckResponse_SERVING)
	}
	s.logStart()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		s.watchReady(gctx)
		return nil
	})
	g.Go(func() error {
		s.watchTOP(gctx)
		return nil
	})
	g.Go(func() error {
		if err := s.grpc.Serve(s.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc server: %w", err)
		}
		return nil
	})
	if s.http != nil {
		g.Go(func() error {
			if err := s.http.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http server: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error { return s.bulk.run(gctx) })
	s.events.run(gctx, g)
	g.Go(func() error {
		if err := s.grpc.Serve(s.internal); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc server (gateway hop): %w", err)
		}
		return nil
	})
	if s.metricsSrv != nil {
		g.Go(s.metricsSrv.serve)
	}
	s.watchFiles(gctx, g)
	g.Go(func() error {
		<-gctx.Done()
		if ctx.Err() != nil { // asked to stop (SIGTERM), not a failure
			s.drain()
		}
		s.shutdown()
		return nil
	})
	err := g.Wait()
	s.closeAll()
	return err
}

func (s *Server) shutdown() {
	timeout := s.cfg.Process.ShutdownTimeout
	s.logger.Info("shutting down", slog.Duration("timeout", timeout))
	s.ready.draining.Store(true)
	s.health.Shutdown()
	s.events.handlers.Shutdown()
	stopped := make(chan struct{})
	go func() {
		// The REST gateway's in-process calls stop with the gRPC
		// server's (see gatewayChannel).
		var wg sync.WaitGroup
		wg.Go(s.grpc.GracefulStop)
		if s.gateway != nil {
			wg.Go(s.gateway.GracefulStop)
		}
		wg.Wait()
		close(stopped)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.logger.Warn("graceful stop timed out; closing remaining calls")
		if s.gateway != nil {
			s.gateway.Stop()
		}
		s.grpc.Stop()
		<-stopped
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			s.logger.Warn("http shutdown", slog.String("error", err.Error()))
			_ = s.http.Close()
		}
	}
	if s.metricsSrv != nil {
		s.metricsSrv.shutdown(ctx)
	}
}

// watchFiles reloads the TLS files and the clients file when they change,
// every --reload-interval (0 turns that off), in g until ctx is done.
func (s *Server) watchFiles(ctx context.Context, g *errgroup.Group) {
	interval := s.cfg.TLS.ReloadInterval
	if interval <= 0 {
		return
	}
	if s.tls != nil {
		g.Go(func() error { return s.tls.Watch(ctx, interval, s.logger) })
	}
	if s.clients != nil {
		g.Go(func() error {
			s.clients.Watch(ctx, interval, s.authn, s.logger)
			return nil
		})
	}
}

// closeAll releases what New acquired; safe to call on a partly built
// server and more than once.
func (s *Server) closeAll() {
	if s.grpc != nil {
		s.grpc.Stop()
	}
	if s.http != nil {
		_ = s.http.Close()
	}
	if s.gatewayConn != nil {
		_ = s.gatewayConn.Close()
	}
	for _, l := range []net.Listener{s.grpcLis, s.httpLis} {
		if l != nil {
			_ = l.Close()
		}
	}
	if s.store != nil {
		_ = s.store.Close()
	}
	if s.metricsSrv != nil {
		s.metricsSrv.close()
	}
	if s.internal != nil {
		_ = s.internal.Close()
	}
	if s.top != nil {
		s.top.Close()
	}
	if s.quota != nil {
		s.quota.Close()
		s.quota = nil
	}
	if s.redis != nil {
		_ = s.redis.Close()
		s.redis = nil
	}
	if s.upstream != nil {
		s.upstream.close()
	}
	if s.tracing != nil {
		// The spans of the last calls, flushed; bounded as shutdown is.
		ctx, cancel := context.WithTimeout(context.Background(), tracingFlushTimeout)
		if err := s.tracing.Shutdown(ctx); err != nil {
			s.logger.Warn("tracing: flushing spans at exit", slog.String("error", err.Error()))
		}
		cancel()
		s.tracing = nil
	}
}

// tracingFlushTimeout bounds the export of the last spans at exit.
const tracingFlushTimeout = 5 * time.Second

func (s *Server) logStart() {
	s.logger.Info("servicecenterd started",
		slog.String("version", buildinfo.Read().Version),
		slog.String("grpc_addr", s.GRPCAddr()),
		slog.String("http_addr", s.HTTPAddr()),
		slog.String("top_url", s.upstream.url))
	if s.http == nil {
		msg := "no --http-addr: gRPC only (no REST, /healthz, OpenAPI or proto bundle); gRPC health answers"
		if s.metricsSrv == nil {
			msg += "; no /metrics either (set --metrics-addr)"
		}
		s.logger.Info(msg)
	}
	s.logSecurity()
	if s.upstream.emulatorURL != "" {
		s.logger.Warn("no --top-url given: calling the EMBEDDED TOP EMULATOR with demo data, not Tmall",
			slog.String("emulator_url", s.upstream.emulatorURL),
			slog.String("admin", s.upstream.emulatorURL+"/_emulator/"))
	}
}

// logSecurity logs how the calls are guarded, and warns about settings
// that work but weaken security.
func (s *Server) logSecurity() {
	cfg := s.cfg
	attrs := []any{
		slog.Bool("tls", s.tls != nil),
		slog.Bool("mtls", s.tls != nil && s.tls.MutualTLS()),
		slog.Bool("authentication", s.authn.Enabled()),
		slog.Any("open_endpoints", cfg.Auth.OpenEndpoints),
		slog.Bool("audit_store", s.auditStore != nil),
		slog.Duration("audit_retention", cfg.Audit.Retention),
		slog.Bool("audit_fail_closed", cfg.Audit.FailClosed),
	}
	if p := s.authn.Policy(); p != nil {
		attrs = append(attrs, slog.Int("clients", len(p.Clients())))
	}
	if s.metricsSrv != nil {
		attrs = append(attrs, slog.String("metrics_addr", s.MetricsAddr()))
	}
	s.logger.Info("security", attrs...)
	if !s.authn.Enabled() {
		s.logger.Warn("no caller authentication: anyone who reaches the ports can call (set --clients-file or --tls-client-ca-file)")
	}
	if s.tls == nil && cfg.Auth.ClientsFile != "" {
		for _, l := range []struct{ flag, addr string }{{"grpc-addr", cfg.Listen.GRPCAddr}, {"http-addr", cfg.Listen.HTTPAddr}} {
			if l.addr != "" && !isLoopback(l.addr) {
				s.logger.Warn("bearer tokens travel in clear text: set --tls-cert-file and --tls-key-file", slog.String("listener", "--"+l.flag))
				break
			}
		}
	}
}

// Run builds and serves the server until ctx is done.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	s, err := New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}
