package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/textproto"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	servicecenterd "github.com/servicecenterd/servicecenterd"
	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/idempotency"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/rpc/codec"
	"github.com/servicecenterd/servicecenterd/internal/rpc/inprocess"
)

// HTTPSettings are the HTTP server's settings: timeouts and the limits of
// REST bodies and file uploads.
type HTTPSettings struct {
	ReadHeaderTimeout time.Duration `flag:"http-read-header-timeout" default:"10s" help:"Time an HTTP client has to send the request headers."`
	ReadTimeout       time.Duration `flag:"http-read-timeout" default:"60s" help:"Time an HTTP client has to send the whole request (a file upload has --http-upload-timeout and --http-upload-min-rate instead)."`
	WriteTimeout      time.Duration `flag:"http-write-timeout" default:"60s" help:"Time to write an HTTP response, from the end of the request headers."`
	IdleTimeout       time.Duration `flag:"http-idle-timeout" default:"120s" help:"Close an idle HTTP keep-alive connection after this."`
	MaxBodySize       int           `flag:"http-max-body-size" default:"8388608" help:"Largest REST request body, in bytes (413 above); a file upload has --http-max-upload-size instead."`
	MaxUploadSize     int64         `flag:"http-max-upload-size" default:"1073741824" help:"Largest file upload (POST /v1/blacklist/jobs:import with a CSV or NDJSON body), in bytes (413 above). Each record of the file (a CSV record, an NDJSON line) is at most 64 KiB besides."`
	UploadMinRate     int64         `flag:"http-upload-min-rate" default:"4096" help:"Slowest a file upload may arrive, in bytes per second: the server waits for an upload's data at most --http-upload-rate-window at a time, and each byte received earns it 1/rate seconds more of waiting (up to the window); an upload that falls behind is cut off with 408. Only time spent waiting for the client counts. 0 turns the check off."`
	UploadRateWindow  time.Duration `flag:"http-upload-rate-window" default:"30s" help:"Longest a file upload may keep the server waiting for data, and the span over which --http-upload-min-rate is averaged."`
	UploadTimeout     time.Duration `flag:"http-upload-timeout" default:"1h" help:"Longest a file upload may take, from its request headers to its last byte, however fast it arrives (408 after); 0 for no limit."`
}

// Validate checks the settings; errors name the flag.
func (s HTTPSettings) Validate() error {
	var errs []error
	if s.MaxBodySize < minMessageSize {
		errs = append(errs, fmt.Errorf("--http-max-body-size must be at least %d bytes", minMessageSize))
	}
	for _, v := range []struct {
		flag string
		d    time.Duration
	}{
		{"http-read-header-timeout", s.ReadHeaderTimeout}, {"http-read-timeout", s.ReadTimeout},
		{"http-write-timeout", s.WriteTimeout}, {"http-idle-timeout", s.IdleTimeout},
	} {
		if v.d <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive", v.flag))
		}
	}
	if s.MaxUploadSize < minMessageSize {
		errs = append(errs, fmt.Errorf("--http-max-upload-size must be at least %d bytes", minMessageSize))
	}
	if s.UploadMinRate < 0 || s.UploadTimeout < 0 {
		errs = append(errs, errors.New("--http-upload-min-rate and --http-upload-timeout must not be negative"))
	}
	if s.UploadMinRate > 0 && s.UploadRateWindow <= 0 {
		errs = append(errs, errors.New("--http-upload-rate-window must be positive (with --http-upload-min-rate)"))
	}
	return errors.Join(errs...)
}

// forwardedHeaders pass between HTTP and gRPC metadata under their own
// names, both ways.
var forwardedHeaders = map[string]bool{
	rpc.RequestIDHeader:        true,
	rpc.TOPRequestIDHeader:     true,
	idempotency.KeyHeader:      true,
	idempotency.ReplayedHeader: true,
}

// incomingHeaderMatcher is the gateway's choice of the request headers
// passed to gRPC, and under which metadata key: forwardedHeaders under
// their own names, the others as runtime.DefaultHeaderMatcher maps them
// unless auth.ForwardableHeader refuses the key. The keys of the headers
// most calls carry are worked out once, in lower case (the metadata's own
// case), instead of for each header of each call.
func incomingHeaderMatcher() func(string) (string, bool) {
	known := map[string]string{}
	for _, h := range []string{
		"Accept", "Accept-Charset", "Accept-Language", "Authorization", "Cache-Control", "Content-Type",
		"Cookie", "Date", "Expect", "From", "Host", "Origin", "Pragma", "Referer", "User-Agent", "Via", "Warning",
	} {
		if k, ok := runtime.DefaultHeaderMatcher(h); ok && auth.ForwardableHeader(k) {
			known[h] = strings.ToLower(k)
		}
	}
	return func(key string) (string, bool) {
		if k, ok := forwardedName(key); ok {
			return k, true
		}
		if k, ok := known[key]; ok {
			return k, true
		}
		k, ok := runtime.DefaultHeaderMatcher(key)
		return k, ok && auth.ForwardableHeader(k)
	}
}

// forwardedName is the key of forwardedHeaders that key is in another
// case, as strings.ToLower(key) would find it, without building the
// lower-case string for an ASCII key (every valid header name).
func forwardedName(key string) (string, bool) {
	for i := range len(key) {
		if key[i] >= utf8.RuneSelf {
			k := strings.ToLower(key)
			return k, forwardedHeaders[k]
		}
	}
	for k := range forwardedHeaders {
		if len(k) == len(key) && asciiLowerEqual(key, k) {
			return k, true
		}
	}
	return "", false
}

// asciiLowerEqual reports whether the ASCII string s in lower case is
// lower.
func asciiLowerEqual(s, lower string) bool {
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// outgoingHeaderMatcher is the gateway's choice of the response headers
// made of gRPC header metadata: forwardedHeaders under their own names
// (canonical, worked out once for the metadata's lower-case keys),
// content-type never, the others prefixed Grpc-Metadata-.
func outgoingHeaderMatcher() func(string) (string, bool) {
	canonical := map[string]string{}
	for k := range forwardedHeaders {
		canonical[k] = textproto.CanonicalMIMEHeaderKey(k)
	}
	return func(key string) (string, bool) {
		k := strings.ToLower(key)
		if forwardedHeaders[k] {
			if c, ok := canonical[key]; ok {
				return c, true
			}
			return textproto.CanonicalMIMEHeaderKey(key), true
		}
		if k == "content-type" {
			return "", false
		}
		return runtime.MetadataHeaderPrefix + key, true
	}
}

// httpHandler serves the REST gateway (calling our own gRPC server's
// services in the process, see gatewayChannel, so REST calls pass through
// the interceptors; each call is authenticated before its body is read,
// see gatewayBody),
// /healthz, /readyz, the contract documents (/openapi.json,
// /openapi.v3.json, /protos.tar.gz, /descriptor.binpb) and /metrics
// (unless --metrics-addr), each guarded by the authenticator unless open.
func (s *Server) httpHandler(ctx context.Context) (http.Handler, error) {
	s.clientStreams = clientStreamingMethods()
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, newRESTJSON(&runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true},
			UnmarshalOptions: protojson.UnmarshalOptions{RecursionLimit: codec.MaxDepth}, // as the gRPC server's codec
		})),
		runtime.WithErrorHandler(restErrorHandler),
		runtime.WithForwardResponseOption(flushWatchStart),
		// The fallback reads a form body to route a POST as a GET: a read
		// before the call is authorized (see gatewayBody).
		runtime.WithDisablePathLengthFallback(),
		runtime.WithIncomingHeaderMatcher(incomingHeaderMatcher()),
		runtime.WithMetadata(s.restAuth),
		runtime.WithOutgoingHeaderMatcher(outgoingHeaderMatcher()),
	)
	conn, err := s.gatewayDial()
	if err != nil {
		return nil, fmt.Errorf("rest gateway: dial grpc: %w", err)
	}
	s.gatewayConn = conn
	if s.gateway, err = s.gatewayChannel(conn); err != nil {
		return nil, fmt.Errorf("rest gateway: %w", err)
	}
	cc := sizedConn{Channel: s.gateway, limit: s.cfg.GRPC.MaxRecvMsgSize}
	for _, err := range []error{
		scv1.RegisterWorkcardServiceHandlerClient(ctx, gw, scv1.NewWorkcardServiceClient(cc)),
		scv1.RegisterWorkerServiceHandlerClient(ctx, gw, scv1.NewWorkerServiceClient(cc)),
		scv1.RegisterLogisticsServiceHandlerClient(ctx, gw, scv1.NewLogisticsServiceClient(cc)),
		scv1.RegisterAuditServiceHandlerClient(ctx, gw, scv1.NewAuditServiceClient(cc)),
		scv1.RegisterEventServiceHandlerClient(ctx, gw, scv1.NewEventServiceClient(cc)),
	} {
		if err != nil {
			return nil, fmt.Errorf("rest gateway: %w", err)
		}
	}

	mux := http.NewServeMux()
	// With tracing on, a REST call is one trace: otelhttp's server span
	// (continuing the caller's traceparent) is the parent of the gateway's
	// gRPC hop (otelgrpc's client handler, on the in-process channel or
	// gatewayDial's connection), whose child is the server's span.
	gateway := s.tracing.HTTPHandler(s.gatewayBodies(gw), "rest")
	mux.Handle("/", gateway)
	s.registerBulkHTTP(mux, gw, gateway)
	mux.Handle("GET /v1/events:watch", watchRoute(gateway))
	mux.Handle("GET /healthz", s.protect("/http/healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})))
	mux.Handle("GET /readyz", s.protect("/http/readyz", http.HandlerFunc(s.handleReady)))
	mux.Handle("GET /topz", s.protect("/http/topz", http.HandlerFunc(s.handleTOP)))
	protosGz, err := gzipped(servicecenterd.ProtosTar)
	if err != nil {
		return nil, fmt.Errorf("proto bundle: %w", err)
	}
	// The contract documents, all under the resource http/openapi (open
	// with "reflection" in --open-endpoints, as gRPC reflection is).
	for _, doc := range []struct {
		path, contentType string
		body              []byte
	}{
		{"/openapi.json", "application/json", servicecenterd.OpenAPIv2},
		{"/openapi.v3.json", "application/json", servicecenterd.OpenAPIv3},
		{"/protos.tar.gz", "application/gzip", protosGz},
		{"/descriptor.binpb", "application/octet-stream", servicecenterd.DescriptorSet},
	} {
		mux.Handle("GET "+doc.path, s.protect("/http/openapi", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", doc.contentType)
			if doc.contentType != "application/json" {
				w.Header().Set("Content-Disposition", "attachment; filename="+strings.TrimPrefix(doc.path, "/"))
			}
			_, _ = w.Write(doc.body)
		})))
	}
	if s.cfg.Metrics.Addr == "" {
		s.handleMetrics(mux)
	}
	return mux, nil
}

// gzipped compresses b.
func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// httpServer returns an HTTP server with the configured timeouts.
func (s *Server) httpServer(h http.Handler) *http.Server {
	c := s.cfg.HTTP
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
}

// protect guards a plain HTTP endpoint (resource "/http/<name>") with
// the authenticator.
func (s *Server) protect(resource string, h http.Handler) http.Handler {
	return s.authn.HTTPHandler(resource, s.logger, h)
}

// wrapListener turns a TCP listener into a TLS one when TLS is on.
func (s *Server) wrapListener(l net.Listener) net.Listener {
	if s.tls == nil {
		return l
	}
	return tls.NewListener(l, s.tls.ServerConfig(s.authn.RequireClientCert(), []string{"h2", "http/1.1"}))
}

// gatewayChannel is the REST gateway's channel to the gRPC server's
// services: a unary call runs in the process (internal/rpc/inprocess)
// through the server's own unary chain (s.unary), decoded by the
// server's codec within its message limits, as a caller with
// auth.InternalAuthInfo, and with tracing on, seen by otelgrpc's client
// and server handlers as a call over the hop was; streams (uploads,
// watches) go over conn, the internal listener's connection. Without the
// second HTTP/2 pass a REST call costs a quarter to a third less server
// CPU than it did (docs/performance.md).
func (s *Server) gatewayChannel(conn *grpc.ClientConn) (*inprocess.Channel, error) {
	return inprocess.NewChannel(s.services, inprocess.Options{
		Interceptors:   s.unary,
		Codec:          s.codec,
		MaxRecvMsgSize: s.cfg.GRPC.MaxRecvMsgSize,
		MaxSendMsgSize: s.cfg.GRPC.MaxSendMsgSize,
		Peer:           s.internal.Peer(),
		ClientStats:    s.tracing.ClientHandler(),
		ServerStats:    s.serverStats,
		Streams:        conn,
	})
}

// sizedConn is the gateway's channel refusing a unary request message
// over limit bytes before the call, as too large (413), as gatewayDial's
// connection does.
type sizedConn struct {
	*inprocess.Channel
	limit int
}

// Invoke implements grpc.ClientConnInterface.
func (c sizedConn) Invoke(ctx context.Context, method string, req, reply any, opts ...grpc.CallOption) error {
	if err := messageSize(req, c.limit); err != nil {
		return err
	}
	return c.Channel.Invoke(ctx, method, req, reply, opts...)
}

// gatewayDial returns the REST gateway's connection to the gRPC server
// for streams, over the in-process internal listener (see internal/auth). A request
// message over --grpc-max-recv-msg-size (a REST body within
// --http-max-body-size can make one) is refused before it is sent, as too
// large (413), not with grpc-go's RESOURCE_EXHAUSTED (429, which tells a
// client to retry).
func (s *Server) gatewayDial() (*grpc.ClientConn, error) {
	limit := s.cfg.GRPC.MaxRecvMsgSize
	var traced []grpc.DialOption
	if h := s.tracing.ClientHandler(); h != nil {
		traced = append(traced, grpc.WithStatsHandler(h))
	}
	return grpc.NewClient("passthrough:///servicecenterd-internal", append(traced,
		grpc.WithContextDialer(s.internal.DialContext),
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
			grpc.MaxCallRecvMsgSize(s.cfg.GRPC.MaxSendMsgSize),
			grpc.MaxCallSendMsgSize(limit)))...)
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

// handleMetrics serves /metrics on mux (resource http/metrics) and, with
// --pprof, Go's runtime profiles under /debug/pprof/ (resource http/pprof:
// the same authentication, but never opened by --open-endpoints, since
// profiles show the program's internals). /debug/pprof/cmdline is left
// out: the command line may hold a secret given as a flag. A CPU profile
// or execution trace lasts at most maxProfileSeconds.
func (s *Server) handleMetrics(mux *http.ServeMux) {
	mux.Handle("GET /metrics", s.protect("/http/metrics", s.metrics.Handler()))
	if !s.cfg.Metrics.PProf {
		return
	}
	profiles := http.NewServeMux()
	profiles.HandleFunc("GET /debug/pprof/", pprof.Index) // the named profiles: heap, goroutine, allocs...
	profiles.Handle("GET /debug/pprof/profile", boundedProfile(pprof.Profile))
	profiles.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	profiles.Handle("GET /debug/pprof/trace", boundedProfile(pprof.Trace))
	mux.Handle("/debug/pprof/", s.protect("/http/pprof", profiles))
}

// maxProfileSeconds bounds the ?seconds= of a CPU profile or an
// execution trace (net/http/pprof extends the write deadline to fit any).
const maxProfileSeconds = 120

// boundedProfile refuses a profile longer than maxProfileSeconds.
func boundedProfile(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("seconds"); v != "" {
			if sec, err := strconv.ParseFloat(v, 64); err != nil || sec > maxProfileSeconds {
				writeText(w, http.StatusBadRequest, fmt.Sprintf("seconds must be a number of at most %d\n", maxProfileSeconds))
				return
			}
		}
		h(w, r)
	})
}

// metricsServer serves /metrics on its own listener (--metrics-addr).
type metricsServer struct {
	lis net.Listener
	srv *http.Server
}

// listenMetrics binds --metrics-addr; nil when it is not set (/metrics
// is then on the HTTP listener).
func (s *Server) listenMetrics() (*metricsServer, error) {
	if s.cfg.Metrics.Addr == "" {
		return nil, nil
	}
	l, err := net.Listen("tcp", s.cfg.Metrics.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen --metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	s.handleMetrics(mux)
	return &metricsServer{lis: s.wrapListener(l), srv: s.httpServer(mux)}, nil
}

// serve serves until shutdown or close.
func (m *metricsServer) serve() error {
	if err := m.srv.Serve(m.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}

// shutdown stops the server gracefully, or closes it when ctx ends first.
func (m *metricsServer) shutdown(ctx context.Context) {
	if err := m.srv.Shutdown(ctx); err != nil {
		_ = m.srv.Close()
	}
}

// close releases the server and its listener; safe more than once.
func (m *metricsServer) close() {
	_ = m.srv.Close()
	_ = m.lis.Close()
}
