// Package server wires servicecenterd together: the TOP client (against
// real TOP or the embedded emulator), the gRPC server with its
// interceptors, health and reflection, and the HTTP server with the REST
// gateway (which dials the gRPC port, so REST passes the same
// interceptors), /healthz, /readyz and /openapi.json. It also shuts all of
// it down in order.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/buildinfo"
	"github.com/servicecenterd/servicecenterd/internal/rpc/validation"
	"github.com/servicecenterd/servicecenterd/internal/service"
	"github.com/servicecenterd/servicecenterd/internal/store"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
)

// Server is a running servicecenterd: listeners bound, not yet serving
// until Serve.
type Server struct {
	cfg      Config
	logger   *slog.Logger
	upstream *upstream
	top      *topclient.Client
	store    *store.SQLite // the durable store in --data-dir: sync jobs and audit trail (bulk.go)
	bulk     *bulk         // the durable bulk blacklist sync (bulk.go)

	grpcLis net.Listener
	httpLis net.Listener
	grpc    *grpc.Server
	health  *health.Server
	http    *http.Server
	// gatewayConn is the REST gateway's connection to our gRPC server.
	gatewayConn *grpc.ClientConn
	// sec is authentication, TLS, limits, metrics and audit (security.go).
	sec *security
}

// streamWorkers is how many long-lived goroutines run RPCs. A fresh
// goroutine per RPC (grpc-go's default) starts with a small stack and grows
// it by copying on every call (about a tenth of the server's CPU under load:
// docs/performance.md); workers keep their grown stacks. When all are busy,
// grpc-go runs the RPC on a new goroutine as before.
const streamWorkers = 256

// serviceNames are the gRPC services whose health is reported one by one.
var serviceNames = []string{
	scv1.WorkcardService_ServiceDesc.ServiceName,
	scv1.WorkerService_ServiceDesc.ServiceName,
	scv1.LogisticsService_ServiceDesc.ServiceName,
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
	if s.upstream, err = startUpstream(cfg, logger); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// The store first: the audit trail and the bulk sync share it.
	if s.store, err = openStore(ctx, cfg, logger, o.storeOptions...); err != nil {
		return nil, err
	}
	if s.sec, err = newSecurity(cfg, logger, append([]Option{WithAuditStore(s.store)}, opts...)); err != nil {
		return nil, err
	}
	topCfg := s.upstream.clientConfig(cfg)
	topCfg.Observer = s.sec.metrics.ObserveTOP
	s.top, err = topclient.New(topCfg)
	if err != nil {
		return nil, fmt.Errorf("top client: %w", err)
	}
	if s.bulk, err = startBulk(ctx, cfg, s.store, s.top, logger); err != nil {
		return nil, err
	}
	s.sec.metrics.SetSyncJobs(s.bulk.jobs)
	validator, err := validation.New(nil)
	if err != nil {
		return nil, fmt.Errorf("request validator: %w", err)
	}

	s.grpc = grpc.NewServer(append(s.sec.grpcOptions(logger, validator), grpc.NumStreamWorkers(streamWorkers))...)
	deps := service.Deps{TOP: s.top, Logger: logger, BlacklistJobs: s.bulk.jobs}
	scv1.RegisterWorkcardServiceServer(s.grpc, service.NewWorkcards(deps))
	scv1.RegisterWorkerServiceServer(s.grpc, service.NewWorkers(deps))
	scv1.RegisterLogisticsServiceServer(s.grpc, service.NewLogistics(deps))
	if s.sec.audit != nil {
		scv1.RegisterAuditServiceServer(s.grpc, service.NewAudit(s.sec.audit, logger))
	}
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)

	if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listen --grpc-addr: %w", err)
	}
	if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen --http-addr: %w", err)
	}
	s.httpLis = s.sec.wrapListener(s.httpLis)
	if err := s.sec.listenMetrics(logger); err != nil {
		return nil, err
	}
	handler, err := s.httpHandler(ctx)
	if err != nil {
		return nil, err
	}
	s.http = s.sec.httpServer(handler, logger)
	return s, nil
}

// GRPCAddr is the gRPC listener's address.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr is the HTTP listener's address.
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// EmulatorURL is the embedded emulator's base URL ("" against real TOP).
func (s *Server) EmulatorURL() string { return s.upstream.emulatorURL }

// Serve serves until ctx is done or a server fails, then shuts down in
// order: health NOT_SERVING, gRPC GracefulStop (Stop after
// ShutdownTimeout), HTTP Shutdown, then the embedded emulator. The bulk
// sync's delivery worker stops with ctx; a chunk in flight is resent, with
// the same request_id, at the next start.
func (s *Server) Serve(ctx context.Context) error {
	for _, name := range append([]string{""}, serviceNames...) {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	s.logStart()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := s.grpc.Serve(s.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := s.http.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error { return s.bulk.run(gctx) })
	s.sec.serve(gctx, g, s.grpc)
	g.Go(func() error {
		<-gctx.Done()
		s.shutdown()
		return nil
	})
	err := g.Wait()
	s.closeAll()
	return err
}

func (s *Server) shutdown() {
	s.logger.Info("shutting down", slog.Duration("timeout", s.cfg.ShutdownTimeout))
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.logger.Warn("graceful stop timed out; closing remaining calls")
		s.grpc.Stop()
		<-stopped
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		s.logger.Warn("http shutdown", slog.String("error", err.Error()))
		_ = s.http.Close()
	}
	s.sec.shutdown(ctx)
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
	if s.sec != nil {
		s.sec.close()
	}
	if s.top != nil {
		s.top.Close()
	}
	if s.upstream != nil {
		s.upstream.close()
	}
}

func (s *Server) logStart() {
	s.logger.Info("servicecenterd started",
		slog.String("version", buildinfo.Read().Version),
		slog.String("grpc_addr", s.GRPCAddr()),
		slog.String("http_addr", s.HTTPAddr()),
		slog.String("top_url", s.upstream.url))
	s.sec.logStart(s.cfg)
	if s.upstream.emulatorURL != "" {
		s.logger.Warn("no --top-url given: calling the EMBEDDED TOP EMULATOR with demo data, not Tmall",
			slog.String("emulator_url", s.upstream.emulatorURL),
			slog.String("admin", s.upstream.emulatorURL+"/_emulator/"))
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
