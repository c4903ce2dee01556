package server

import (
	"context"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	servicecenterd "github.com/servicecenterd/servicecenterd"
	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/rpc/codec"
	"github.com/servicecenterd/servicecenterd/internal/service"
)

// forwardedHeaders pass between HTTP and gRPC metadata under their own
// names, both ways.
var forwardedHeaders = map[string]bool{
	rpc.RequestIDHeader:        true,
	service.TOPRequestIDHeader: true,
}

// httpHandler serves the REST gateway (dialing our own gRPC server over
// the in-process hop, so REST calls pass through the interceptors; each
// call is authenticated before its body is read, see gatewayBody),
// /healthz, /readyz, /openapi.json and /metrics (unless --metrics-addr),
// each guarded by the authenticator unless open.
func (s *Server) httpHandler(ctx context.Context) (http.Handler, error) {
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, restJSON{&runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true},
			UnmarshalOptions: protojson.UnmarshalOptions{RecursionLimit: codec.MaxDepth}, // as the gRPC server's codec
		}}),
		runtime.WithErrorHandler(restErrorHandler),
		// The fallback reads a form body to route a POST as a GET: a read
		// before the call is authorized (see gatewayBody).
		runtime.WithDisablePathLengthFallback(),
		runtime.WithIncomingHeaderMatcher(func(key string) (string, bool) {
			if k := strings.ToLower(key); forwardedHeaders[k] {
				return k, true
			}
			k, ok := runtime.DefaultHeaderMatcher(key)
			return k, ok && auth.ForwardableHeader(k)
		}),
		runtime.WithMetadata(s.sec.restAuth),
		runtime.WithOutgoingHeaderMatcher(func(key string) (string, bool) {
			k := strings.ToLower(key)
			if forwardedHeaders[k] {
				return textproto.CanonicalMIMEHeaderKey(key), true
			}
			if k == "content-type" {
				return "", false
			}
			return fmt.Sprintf("%s%s", runtime.MetadataHeaderPrefix, key), true
		}),
	)
	conn, err := s.sec.gatewayDial()
	if err != nil {
		return nil, fmt.Errorf("rest gateway: dial grpc: %w", err)
	}
	s.gatewayConn = conn
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		scv1.RegisterWorkcardServiceHandler,
		scv1.RegisterWorkerServiceHandler,
		scv1.RegisterLogisticsServiceHandler,
		scv1.RegisterAuditServiceHandler,
	} {
		if err := register(ctx, gw, conn); err != nil {
			return nil, fmt.Errorf("rest gateway: %w", err)
		}
	}

	mux := http.NewServeMux()
	gateway := s.sec.gatewayBodies(gw)
	mux.Handle("/", gateway)
	s.registerBulkHTTP(mux, gw, gateway)
	mux.Handle("GET /healthz", s.sec.protect("/http/healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})))
	mux.Handle("GET /readyz", s.sec.protect("/http/readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.upstream.ready(r.Context()); err != nil {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
			return
		}
		writeText(w, http.StatusOK, "ready\n")
	})))
	mux.Handle("GET /openapi.json", s.sec.protect("/http/openapi", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(servicecenterd.OpenAPIv2)
	})))
	if s.cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", s.sec.protect("/http/metrics", s.sec.metrics.Handler()))
	}
	return mux, nil
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}
