package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	servicecenterd "github.com/servicecenterd/servicecenterd"
	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/interceptor"
	"github.com/servicecenterd/servicecenterd/internal/service"
)

// forwardedHeaders pass between HTTP and gRPC metadata under their own
// names, both ways.
var forwardedHeaders = map[string]bool{
	interceptor.RequestIDHeader: true,
	service.TOPRequestIDHeader:  true,
}

// httpHandler serves the REST gateway (dialing our own gRPC listener, so
// REST calls pass through the interceptors), /healthz, /readyz and
// /openapi.json.
func (s *Server) httpHandler(ctx context.Context) (http.Handler, error) {
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true},
			UnmarshalOptions: protojson.UnmarshalOptions{},
		}),
		runtime.WithIncomingHeaderMatcher(func(key string) (string, bool) {
			if k := strings.ToLower(key); forwardedHeaders[k] {
				return k, true
			}
			return runtime.DefaultHeaderMatcher(key)
		}),
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
	conn, err := grpc.NewClient(dialTarget(s.GRPCAddr()), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("rest gateway: dial grpc: %w", err)
	}
	s.gatewayConn = conn
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		scv1.RegisterWorkcardServiceHandler,
		scv1.RegisterWorkerServiceHandler,
		scv1.RegisterLogisticsServiceHandler,
	} {
		if err := register(ctx, gw, conn); err != nil {
			return nil, fmt.Errorf("rest gateway: %w", err)
		}
	}

	mux := http.NewServeMux()
	mux.Handle("/", gw)
	s.registerBulkHTTP(mux, gw)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.upstream.ready(r.Context()); err != nil {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
			return
		}
		writeText(w, http.StatusOK, "ready\n")
	})
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(servicecenterd.OpenAPIv2)
	})
	return mux, nil
}

// dialTarget turns a listener address into one the gateway can dial: a
// wildcard host (0.0.0.0, ::) becomes loopback.
func dialTarget(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			host = "127.0.0.1"
		} else {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}
