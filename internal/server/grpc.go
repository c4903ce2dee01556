package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/rpc/chain"
	"github.com/servicecenterd/servicecenterd/internal/rpc/codec"
	"github.com/servicecenterd/servicecenterd/internal/rpc/inprocess"
	"github.com/servicecenterd/servicecenterd/internal/rpc/middleware"
	"github.com/servicecenterd/servicecenterd/internal/rpc/validation"
	"github.com/servicecenterd/servicecenterd/internal/service"
)

// GRPCSettings are the gRPC server's settings: message sizes, the default
// deadline, keepalive and connection ages.
type GRPCSettings struct {
	MaxRecvMsgSize               int           `flag:"grpc-max-recv-msg-size" default:"4194304" help:"Largest gRPC request message, in bytes."`
	MaxSendMsgSize               int           `flag:"grpc-max-send-msg-size" default:"4194304" help:"Largest gRPC response message, in bytes."`
	DefaultDeadline              time.Duration `flag:"default-deadline" default:"30s" help:"Deadline of a call that comes without one (REST calls included); 0 for none."`
	KeepaliveTime                time.Duration `flag:"grpc-keepalive-time" default:"2m" help:"Ping a gRPC client after this long without activity, to find dead connections."`
	KeepaliveTimeout             time.Duration `flag:"grpc-keepalive-timeout" default:"20s" help:"Close a gRPC connection whose ping is not answered within this."`
	KeepaliveMinTime             time.Duration `flag:"grpc-keepalive-min-time" default:"30s" help:"Close a gRPC connection whose client pings more often than this (too_many_pings)."`
	KeepalivePermitWithoutStream bool          `flag:"grpc-keepalive-permit-without-stream" default:"false" help:"Let clients ping while they have no call in progress."`
	MaxConnectionIdle            time.Duration `flag:"grpc-max-connection-idle" default:"0s" help:"Close a gRPC connection idle this long; 0 never."`
	MaxConnectionAge             time.Duration `flag:"grpc-max-connection-age" default:"0s" help:"Close a gRPC connection this old (gracefully, so that clients rebalance); 0 never."`
}

// minMessageSize is the smallest message or body size limit accepted.
const minMessageSize = 1024

// Validate checks the settings; errors name the flag.
func (s GRPCSettings) Validate() error {
	var errs []error
	for _, v := range []struct {
		flag string
		n    int
	}{{"grpc-max-recv-msg-size", s.MaxRecvMsgSize}, {"grpc-max-send-msg-size", s.MaxSendMsgSize}} {
		if v.n < minMessageSize {
			errs = append(errs, fmt.Errorf("--%s must be at least %d bytes", v.flag, minMessageSize))
		}
	}
	for _, v := range []struct {
		flag string
		d    time.Duration
	}{{"default-deadline", s.DefaultDeadline}, {"grpc-max-connection-idle", s.MaxConnectionIdle}, {"grpc-max-connection-age", s.MaxConnectionAge}} {
		if v.d < 0 {
			errs = append(errs, fmt.Errorf("--%s must not be negative", v.flag))
		}
	}
	for _, v := range []struct {
		flag string
		d    time.Duration
	}{{"grpc-keepalive-time", s.KeepaliveTime}, {"grpc-keepalive-timeout", s.KeepaliveTimeout}, {"grpc-keepalive-min-time", s.KeepaliveMinTime}} {
		if v.d <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive", v.flag))
		}
	}
	return errors.Join(errs...)
}

// longStreams are the bulk sync's streams, which last as long as their
// work (an import of millions of entries, a watch until the job ends):
// --default-deadline does not apply to them.
func longStreams() []string {
	return []string{
		scv1.LogisticsService_ImportUserBlacklist_FullMethodName,
		scv1.LogisticsService_WatchBlacklistSyncJob_FullMethodName,
		scv1.EventService_WatchEvents_FullMethodName,
	}
}

// grpcOptions are the gRPC server's options: transport credentials
// (TLS or not, with the gateway's internal hop), message size and nesting
// limits (the codec), keepalive enforcement and the interceptor chain:
//
//	decode claim -> metrics -> request id -> logging -> audit -> recovery -> auth -> rate limit -> default deadline -> decode refusal -> validate -> idempotency
//
// Metrics and logging see every call's final status; audit sits outside
// authentication so that denied mutating calls are recorded (with the
// client name auth sets); authentication comes before the refusal of a
// request that did not decode and before validation, so that an
// unauthenticated caller learns nothing about the API. The claim comes
// first so that every decode failure is taken from the codec's table
// whatever refuses the call (see internal/rpc/codec). Idempotency keys
// come last: they need the client auth sets, an invalid request is
// refused before anything is stored, and a replay runs nothing but the
// checks before it (it is logged, counted, audited and rate-limited as a
// call, and never reaches the handler or TOP). Streams have, after auth,
// the file upload's refusals (uploadRefusals). unary is the unary chain
// (unaryInterceptors), which the REST gateway's in-process channel runs
// too.
func (s *Server) grpcOptions(validator protovalidate.Validator, unary []grpc.UnaryServerInterceptor) []grpc.ServerOption {
	var base credentials.TransportCredentials = insecure.NewCredentials()
	if s.tls != nil {
		base = credentials.NewTLS(s.tls.ServerConfig(s.authn.RequireClientCert(), []string{"h2"}))
	}
	c, logger := s.cfg.GRPC, s.logger
	return []grpc.ServerOption{
		grpc.Creds(auth.ServerCredentials(base)),
		grpc.ForceServerCodecV2(s.codec),
		grpc.MaxRecvMsgSize(c.MaxRecvMsgSize),
		grpc.MaxSendMsgSize(c.MaxSendMsgSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: c.KeepaliveMinTime, PermitWithoutStream: c.KeepalivePermitWithoutStream}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time: c.KeepaliveTime, Timeout: c.KeepaliveTimeout,
			MaxConnectionIdle: c.MaxConnectionIdle, MaxConnectionAge: c.MaxConnectionAge,
		}),
		grpc.UnaryInterceptor(chain.NewUnary(unary).Intercept),
		grpc.ChainStreamInterceptor(
			s.codec.StreamInterceptor(),
			s.metrics.StreamInterceptor(),
			middleware.StreamRequestID(),
			middleware.StreamLogging(logger),
			s.auditor.StreamInterceptor(),
			middleware.StreamRecovery(logger),
			s.authn.StreamInterceptor(logger),
			s.uploads.StreamInterceptor(),
			selector.StreamServerInterceptor(s.limiter.StreamInterceptor(), s.notOpen()),
			middleware.StreamDefaultDeadline(c.DefaultDeadline, longStreams()...),
			middleware.StreamValidate(validator),
			s.keeper.StreamInterceptor(),
		),
	}
}

// unaryInterceptors is the unary interceptor chain, in the order of
// grpcOptions' comment: the gRPC server chains it (internal/rpc/chain,
// grpc.ChainUnaryInterceptor's order without its closures on every call)
// and the REST gateway's in-process channel runs the same slice
// (internal/rpc/inprocess, chained the same way), so that a REST call
// passes exactly what a gRPC call passes.
func (s *Server) unaryInterceptors(validator protovalidate.Validator) []grpc.UnaryServerInterceptor {
	c, logger := s.cfg.GRPC, s.logger
	return []grpc.UnaryServerInterceptor{
		s.codec.UnaryInterceptor(),
		s.metrics.UnaryInterceptor(),
		middleware.UnaryRequestID(),
		middleware.UnaryLogging(logger),
		s.auditor.UnaryInterceptor(),
		middleware.UnaryRecovery(logger),
		s.authn.UnaryInterceptor(logger),
		s.unaryRateLimit(),
		middleware.UnaryDefaultDeadline(c.DefaultDeadline),
		codec.UnaryRefuse(),
		middleware.UnaryValidate(validator),
		s.keeper.UnaryInterceptor(),
	}
}

// notOpen selects the calls of methods that are not open endpoints
// (--open-endpoints: health checks, reflection): the rate limit skips
// the open ones, which load balancers and probes call.
func (s *Server) notOpen() selector.Matcher {
	return selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return !s.authn.Open(c.FullMethod())
	})
}

// unaryRateLimit is the rate limit of the unary calls of methods that
// are not open endpoints (notOpen's selection for streams), asked
// directly of the call's method name: go-grpc-middleware's selector
// splits the name and joins it again on every call.
func (s *Server) unaryRateLimit() grpc.UnaryServerInterceptor {
	limit := s.limiter.UnaryInterceptor()
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if s.authn.Open(info.FullMethod) {
			return handler(ctx, req)
		}
		return limit(ctx, req, info, handler)
	}
}

// limitOf is a client's rate limit: its own from the clients file, else
// --rate-limit's.
func (s *Server) limitOf(client string) middleware.RateLimit {
	if p := s.authn.Policy(); p != nil && client != "" {
		if c, ok := p.ByName(client); ok && c.RateLimit > 0 {
			return middleware.RateLimit{PerSecond: c.RateLimit, Burst: c.RateBurst}
		}
	}
	return s.cfg.RateLimit.Limit()
}

// knownPackages are the proto packages whose services the server
// registers.
var knownPackages = []protoreflect.FullName{"servicecenter.v1", "grpc.health.v1", "grpc.reflection.v1", "grpc.reflection.v1alpha"}

// httpResources are the plain HTTP endpoints as auth resources (service
// auth.HTTPService).
var httpResources = []string{"metrics", "pprof", "healthz", "readyz", "topz", "openapi"}

// KnownMethods lists, by service, the methods an allow list may name: the
// services of the packages the server registers (from the linked proto
// descriptors) and the plain HTTP endpoints (service "http").
func KnownMethods() map[string][]string {
	out := map[string][]string{auth.HTTPService: httpResources}
	for _, pkg := range knownPackages {
		protoregistry.GlobalFiles.RangeFilesByPackage(pkg, func(fd protoreflect.FileDescriptor) bool {
			for i := range fd.Services().Len() {
				svc := fd.Services().Get(i)
				var methods []string
				for j := range svc.Methods().Len() {
					methods = append(methods, string(svc.Methods().Get(j).Name()))
				}
				out[string(svc.FullName())] = methods
			}
			return true
		})
	}
	return out
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
	scv1.EventService_ServiceDesc.ServiceName,
}

// newGRPC builds the gRPC server and registers the services: the API's,
// the audit trail's (when there is a store to list), health and
// reflection.
func (s *Server) newGRPC() error {
	validator, err := validation.New(nil)
	if err != nil {
		return fmt.Errorf("request validator: %w", err)
	}
	s.unary = s.unaryInterceptors(validator)
	opts := append(s.grpcOptions(validator, s.unary), grpc.NumStreamWorkers(streamWorkers))
	if s.serverStats = s.tracing.ServerHandler(); s.serverStats != nil {
		opts = append(opts, grpc.StatsHandler(s.serverStats))
	}
	s.grpc = grpc.NewServer(opts...)
	// The API's services are recorded as they are registered, for the
	// REST gateway's in-process channel (http.go).
	s.services = inprocess.NewRegistry(s.grpc)
	deps := service.Deps{TOP: s.top, Logger: s.logger, BlacklistJobs: s.bulk.jobs}
	scv1.RegisterWorkcardServiceServer(s.services, service.NewWorkcards(deps))
	scv1.RegisterWorkerServiceServer(s.services, service.NewWorkers(deps))
	scv1.RegisterLogisticsServiceServer(s.services, service.NewLogistics(deps))
	scv1.RegisterEventServiceServer(s.services, s.events.handlers)
	if s.auditStore != nil {
		scv1.RegisterAuditServiceServer(s.services, service.NewAudit(s.auditStore, s.logger))
	}
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.metrics.InitializeGRPC(s.grpc)
	return nil
}
