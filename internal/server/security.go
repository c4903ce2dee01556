package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"buf.build/go/protovalidate"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/filewatch"
	"github.com/servicecenterd/servicecenterd/internal/metrics"
	"github.com/servicecenterd/servicecenterd/internal/rpc/codec"
	"github.com/servicecenterd/servicecenterd/internal/rpc/middleware"
	"github.com/servicecenterd/servicecenterd/internal/store"
	"github.com/servicecenterd/servicecenterd/internal/tlsfiles"
)

// Option changes how New builds the server.
type Option func(*options)

type options struct {
	auditStore audit.Store
	// storeOptions are passed to store.Open (WithStoreOptions).
	storeOptions []store.Option
}

// WithAuditStore records audit events in store (besides the log), prunes
// it after --audit-retention and serves ListAuditEvents from it, instead
// of the durable store in --data-dir that New uses by default (tests pass
// an audit.Memory). A nil store leaves the log as the only trail, and
// AuditService unregistered (UNIMPLEMENTED).
func WithAuditStore(store audit.Store) Option {
	return func(o *options) { o.auditStore = store }
}

// auditedMethods are the mutating RPCs every call of which is audited.
var auditedMethods = []string{
	scv1.WorkcardService_AssignWorker_FullMethodName,
	scv1.WorkcardService_BindVirtualPhone_FullMethodName,
	scv1.WorkerService_UpdateWorker_FullMethodName,
	scv1.LogisticsService_SyncUserBlacklist_FullMethodName,
	scv1.LogisticsService_ImportUserBlacklist_FullMethodName,
	scv1.LogisticsService_CancelBlacklistSyncJob_FullMethodName,
}

// security is what guards the server: authentication and authorization,
// TLS, limits, metrics and the audit trail.
type security struct {
	cfg      SecurityConfig
	logger   *slog.Logger
	authn    *auth.Authenticator
	tls      *tlsfiles.Store // nil without TLS
	metrics  *metrics.Metrics
	limiter  *middleware.RateLimiter
	auditor  *audit.Auditor
	audit    audit.Store      // nil: the log is the only audit trail
	prune    *audit.Retention // nil: audit events are kept forever (audit.go)
	internal *auth.InternalListener
	// codec decodes requests with bounded nesting and turns the ones that
	// do not decode into INVALID_ARGUMENT (internal/rpc/codec).
	codec *codec.Codec
	// uploads carries the refusals of file uploads to the gRPC server.
	uploads *uploadRefusals
	// clientsWatch remembers the clients file as it was just before it was
	// loaded, so that a change between the load and the first poll is seen.
	clientsWatch *filewatch.Watcher

	metricsLis net.Listener // nil: /metrics is on the HTTP listener
	metricsSrv *http.Server
}

func newSecurity(cfg Config, logger *slog.Logger, opts []Option) (*security, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	sec := &security{cfg: cfg.SecurityConfig, logger: logger, metrics: metrics.New(logger), audit: o.auditStore, codec: codec.New()}
	open, err := cfg.openPatterns()
	if err != nil {
		return nil, err
	}
	var policy *auth.Policy
	if cfg.ClientsFile != "" {
		if sec.clientsWatch, err = filewatch.New(cfg.ClientsFile); err != nil {
			return nil, err
		}
		if policy, err = auth.LoadPolicy(cfg.ClientsFile); err != nil {
			return nil, err
		}
	}
	if cfg.tlsOn() {
		if sec.tls, err = tlsfiles.Load(cfg.tlsFiles()); err != nil {
			return nil, err
		}
	}
	sec.authn = auth.New(auth.Options{Policy: policy, VerifiedCerts: cfg.TLSClientCAFile != "", Open: open})
	sec.limiter = middleware.NewRateLimiter(sec.rateOf, sec.authn.Open, sec.metrics.RateLimited)
	if sec.auditor, sec.prune, err = newAuditor(cfg.AuditConfig, sec.audit, sec.metrics, logger); err != nil {
		return nil, err
	}
	sec.internal = auth.NewInternalListener()
	sec.uploads = newUploadRefusals()
	return sec, nil
}

// rateOf is a client's rate limit: its own from the clients file, else
// the server's.
func (sec *security) rateOf(client string) middleware.RateLimit {
	limit := middleware.RateLimit{PerSecond: sec.cfg.RateLimit, Burst: sec.cfg.RateBurst}
	if p := sec.authn.Policy(); p != nil && client != "" {
		if c, ok := p.ByName(client); ok && c.RateLimit > 0 {
			limit = middleware.RateLimit{PerSecond: c.RateLimit, Burst: c.RateBurst}
		}
	}
	return limit
}

// requireClientCert says whether the TLS layer itself requires a client
// certificate: only when nothing can be called without one (no open
// endpoints, no token clients). Otherwise certificates are verified when
// given and the authenticator requires credentials on every other call.
func (sec *security) requireClientCert() bool {
	if len(sec.cfg.OpenEndpoints) > 0 {
		return false
	}
	p := sec.authn.Policy()
	return p == nil || !p.HasTokenClients()
}

// grpcOptions are the gRPC server's options: transport credentials
// (TLS or not, with the gateway's internal hop), message size and nesting
// limits (the codec), keepalive enforcement and the interceptor chain:
//
//	decode claim -> metrics -> request id -> logging -> audit -> recovery -> auth -> rate limit -> default deadline -> decode refusal -> validate
//
// Metrics and logging see every call's final status; audit sits outside
// authentication so that denied mutating calls are recorded (with the
// client name auth sets); authentication comes before the refusal of a
// request that did not decode and before validation, so that an
// unauthenticated caller learns nothing about the API. The claim comes
// first so that every decode failure is taken from the codec's table
// whatever refuses the call (see internal/rpc/codec). Streams have, after
// auth, the file upload's refusals (uploadRefusals).
func (sec *security) grpcOptions(logger *slog.Logger, validator protovalidate.Validator) []grpc.ServerOption {
	var base credentials.TransportCredentials = insecure.NewCredentials()
	if sec.tls != nil {
		base = credentials.NewTLS(sec.tls.ServerConfig(sec.requireClientCert(), []string{"h2"}))
	}
	c := sec.cfg
	return []grpc.ServerOption{
		grpc.Creds(auth.ServerCredentials(base)),
		grpc.ForceServerCodecV2(sec.codec),
		grpc.MaxRecvMsgSize(c.GRPCMaxRecvMsgSize),
		grpc.MaxSendMsgSize(c.GRPCMaxSendMsgSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: c.KeepaliveMinTime, PermitWithoutStream: c.KeepaliveNoStreamOK}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time: c.KeepaliveTime, Timeout: c.KeepaliveTimeout,
			MaxConnectionIdle: c.MaxConnectionIdle, MaxConnectionAge: c.MaxConnectionAge,
		}),
		grpc.ChainUnaryInterceptor(
			sec.codec.UnaryInterceptor(),
			sec.metrics.UnaryInterceptor(),
			middleware.UnaryRequestID(),
			middleware.UnaryLogging(logger),
			sec.auditor.UnaryInterceptor(),
			middleware.UnaryRecovery(logger),
			sec.authn.UnaryInterceptor(logger),
			sec.limiter.UnaryInterceptor(),
			middleware.UnaryDefaultDeadline(c.DefaultDeadline),
			codec.UnaryRefuse(),
			middleware.UnaryValidate(validator),
		),
		grpc.ChainStreamInterceptor(
			sec.codec.StreamInterceptor(),
			sec.metrics.StreamInterceptor(),
			middleware.StreamRequestID(),
			middleware.StreamLogging(logger),
			sec.auditor.StreamInterceptor(),
			middleware.StreamRecovery(logger),
			sec.authn.StreamInterceptor(logger),
			sec.uploads.StreamInterceptor(),
			sec.limiter.StreamInterceptor(),
			middleware.StreamDefaultDeadline(c.DefaultDeadline, longStreams()...),
			middleware.StreamValidate(validator),
		),
	}
}

// gatewayDial returns the REST gateway's connection to the gRPC server,
// over the in-process internal listener (see internal/auth). A request
// message over --grpc-max-recv-msg-size (a REST body within
// --http-max-body-size can make one) is refused before it is sent, as too
// large (413), not with grpc-go's RESOURCE_EXHAUSTED (429, which tells a
// client to retry).
func (sec *security) gatewayDial() (*grpc.ClientConn, error) {
	limit := sec.cfg.GRPCMaxRecvMsgSize
	return grpc.NewClient("passthrough:///servicecenterd-internal",
		grpc.WithContextDialer(sec.internal.DialContext),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if err := messageSize(req, limit); err != nil {
				return err
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			cs, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				return nil, err
			}
			return &sizedStream{ClientStream: cs, limit: limit}, nil
		}),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(sec.cfg.GRPCMaxSendMsgSize),
			grpc.MaxCallSendMsgSize(limit)))
}

// messageSize refuses a request message over limit bytes.
func messageSize(m any, limit int) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil
	}
	if n := proto.Size(pm); n > limit {
		return tooLarge(fmt.Sprintf("request message of %d bytes larger than %d bytes (--grpc-max-recv-msg-size)", n, limit),
			int64(limit), "--grpc-max-recv-msg-size")
	}
	return nil
}

// sizedStream refuses a message over limit bytes before sending it.
type sizedStream struct {
	grpc.ClientStream
	limit int
}

// SendMsg implements grpc.ClientStream.
func (s *sizedStream) SendMsg(m any) error {
	if err := messageSize(m, s.limit); err != nil {
		return err
	}
	return s.ClientStream.SendMsg(m)
}

// protect guards a plain HTTP endpoint (resource "/http/<name>") with
// the authenticator.
func (sec *security) protect(resource string, h http.Handler) http.Handler {
	return sec.authn.HTTPHandler(resource, sec.logger, h)
}

// wrapListener turns a TCP listener into a TLS one when TLS is on.
func (sec *security) wrapListener(l net.Listener) net.Listener {
	if sec.tls == nil {
		return l
	}
	return tls.NewListener(l, sec.tls.ServerConfig(sec.requireClientCert(), []string{"h2", "http/1.1"}))
}

// httpServer returns an HTTP server with the configured timeouts.
func (sec *security) httpServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: sec.cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       sec.cfg.HTTPReadTimeout,
		WriteTimeout:      sec.cfg.HTTPWriteTimeout,
		IdleTimeout:       sec.cfg.HTTPIdleTimeout,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// listenMetrics binds --metrics-addr, when set.
func (sec *security) listenMetrics(logger *slog.Logger) error {
	if sec.cfg.MetricsAddr == "" {
		return nil
	}
	l, err := net.Listen("tcp", sec.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen --metrics-addr: %w", err)
	}
	sec.metricsLis = sec.wrapListener(l)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", sec.protect("/http/metrics", sec.metrics.Handler()))
	sec.metricsSrv = sec.httpServer(mux, logger)
	return nil
}

// serve runs the internal listener, the metrics listener, the audit
// retention and the file watchers in g until ctx is done.
func (sec *security) serve(ctx context.Context, g *errgroup.Group, grpcServer *grpc.Server) {
	g.Go(func() error {
		if err := grpcServer.Serve(sec.internal); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpc server (gateway hop): %w", err)
		}
		return nil
	})
	if sec.metricsSrv != nil {
		g.Go(func() error {
			if err := sec.metricsSrv.Serve(sec.metricsLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("metrics server: %w", err)
			}
			return nil
		})
	}
	if sec.prune != nil {
		g.Go(func() error {
			sec.prune.Run(ctx)
			return nil
		})
	}
	if sec.cfg.ReloadInterval <= 0 {
		return
	}
	if sec.tls != nil {
		g.Go(func() error {
			return sec.tls.Watch(ctx, sec.cfg.ReloadInterval, sec.logger)
		})
	}
	if sec.cfg.ClientsFile != "" {
		g.Go(func() error {
			sec.watchClients(ctx)
			return nil
		})
	}
}

// watchClients reloads the clients file when it changes; a file that no
// longer parses is logged and the previous policy stays in force.
func (sec *security) watchClients(ctx context.Context) {
	filewatch.Poll(ctx, sec.clientsWatch, sec.cfg.ReloadInterval, func() {
		p, err := auth.LoadPolicy(sec.cfg.ClientsFile)
		if err == nil {
			err = auth.CheckKnown(p.Patterns(), KnownMethods())
		}
		if err != nil {
			sec.logger.Error("clients file changed but is invalid; keeping the previous one", slog.String("error", err.Error()))
			return
		}
		sec.authn.SetPolicy(p)
		sec.logger.Info("clients file reloaded", slog.String("file", sec.cfg.ClientsFile), slog.Int("clients", len(p.Clients())))
	}, func(err error) {
		sec.logger.Error("clients file", slog.String("error", err.Error()))
	})
}

// shutdown stops the metrics server.
func (sec *security) shutdown(ctx context.Context) {
	if sec.metricsSrv != nil {
		if err := sec.metricsSrv.Shutdown(ctx); err != nil {
			_ = sec.metricsSrv.Close()
		}
	}
}

// close releases what the security part holds; safe more than once.
func (sec *security) close() {
	if sec.metricsSrv != nil {
		_ = sec.metricsSrv.Close()
	}
	if sec.metricsLis != nil {
		_ = sec.metricsLis.Close()
	}
	if sec.internal != nil {
		_ = sec.internal.Close()
	}
}

// logStart warns about settings that work but weaken security.
func (sec *security) logStart(cfg Config) {
	attrs := []any{
		slog.Bool("tls", sec.tls != nil),
		slog.Bool("mtls", sec.tls != nil && sec.tls.MutualTLS()),
		slog.Bool("authentication", sec.authn.Enabled()),
		slog.Any("open_endpoints", cfg.OpenEndpoints),
		slog.Bool("audit_store", sec.audit != nil),
		slog.Duration("audit_retention", sec.cfg.AuditRetention),
		slog.Bool("audit_fail_closed", sec.cfg.AuditFailClosed),
	}
	if p := sec.authn.Policy(); p != nil {
		attrs = append(attrs, slog.Int("clients", len(p.Clients())))
	}
	if sec.cfg.MetricsAddr != "" {
		attrs = append(attrs, slog.String("metrics_addr", sec.metricsLis.Addr().String()))
	}
	sec.logger.Info("security", attrs...)
	if !sec.authn.Enabled() {
		sec.logger.Warn("no caller authentication: anyone who reaches the ports can call (set --clients-file or --tls-client-ca-file)")
	}
	if sec.tls == nil && cfg.ClientsFile != "" {
		for flag, addr := range cfg.listeners() {
			if !isLoopback(addr) {
				sec.logger.Warn("bearer tokens travel in clear text: set --tls-cert-file and --tls-key-file", slog.String("listener", "--"+flag))
				break
			}
		}
	}
}
