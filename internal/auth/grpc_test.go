package auth

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // the codec of the in-process channel
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/rpc/inprocess"
)

// TestGatewayDeniedMarker: a call the REST layer refused before reading
// its body (GatewayDeniedHeader) is denied over the internal connection
// even when the policy now allows it, with the code of the marked reason;
// from the network the marker is ignored.
func TestGatewayDeniedMarker(t *testing.T) {
	a := New(Options{Policy: mustPolicy(t)})
	srv := grpc.NewServer(grpc.Creds(ServerCredentials(insecure.NewCredentials())),
		grpc.UnaryInterceptor(a.UnaryInterceptor(slog.New(slog.NewTextHandler(io.Discard, nil)))))
	healthpb.RegisterHealthServer(srv, grpchealth.NewServer())
	internal := NewInternalListener()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(internal) }()
	go func() { _ = srv.Serve(tcp) }()
	t.Cleanup(srv.Stop)
	dial := func(target string, opts ...grpc.DialOption) healthpb.HealthClient {
		conn, err := grpc.NewClient(target, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return healthpb.NewHealthClient(conn)
	}
	viaGateway := dial("passthrough:///internal", grpc.WithContextDialer(internal.DialContext))
	fromNetwork := dial(tcp.Addr().String())

	tests := []struct {
		name   string
		client healthpb.HealthClient
		marker string
		want   codes.Code
	}{
		{"internal, no marker", viaGateway, "", codes.OK},
		{"internal, refused unauthenticated", viaGateway, ReasonTokenInvalid, codes.Unauthenticated},
		{"internal, refused not allowed", viaGateway, ReasonRPCNotAllowed, codes.PermissionDenied},
		{"network, marker ignored", fromNetwork, ReasonTokenInvalid, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tokenOps)
			if tt.marker != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, GatewayDeniedHeader, tt.marker)
			}
			_, err := tt.client.Check(ctx, &healthpb.HealthCheckRequest{})
			if status.Code(err) != tt.want {
				t.Fatalf("Check: %v, want %v", err, tt.want)
			}
			if tt.want != codes.OK {
				info := errorInfo(t, status.Convert(err))
				if info.GetReason() != tt.marker || info.GetMetadata()["client"] != "ops" {
					t.Fatalf("ErrorInfo %v", info)
				}
			}
		})
	}
}

func errorInfo(t *testing.T, st *status.Status) *errdetails.ErrorInfo {
	t.Helper()
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	t.Fatalf("no ErrorInfo in %v", st.Proto())
	return nil
}

// TestInternalAuthInfoNeverFromTheNetwork: a network caller gets a TCP
// peer whatever metadata it sends, so its VerifiedSANHeader is not
// believed; the internal listener's connections and the gateway's
// in-process channel (with InternalListener.Peer) get InternalAuthInfo,
// and the header is believed.
func TestInternalAuthInfoNeverFromTheNetwork(t *testing.T) {
	type seen struct {
		internal bool
		sans     []string
	}
	got := make(chan seen, 1)
	observe := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		p, _ := peer.FromContext(ctx)
		_, internal := p.AuthInfo.(InternalAuthInfo)
		got <- seen{internal: internal, sans: GRPCCredentials(ctx).SANs}
		return handler(ctx, req)
	}
	srv := grpc.NewServer(grpc.Creds(ServerCredentials(insecure.NewCredentials())), grpc.UnaryInterceptor(observe))
	reg := inprocess.NewRegistry(srv)
	healthpb.RegisterHealthServer(reg, grpchealth.NewServer())
	internal := NewInternalListener()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(internal) }()
	go func() { _ = srv.Serve(tcp) }()
	t.Cleanup(srv.Stop)
	dial := func(target string, opts ...grpc.DialOption) grpc.ClientConnInterface {
		conn, err := grpc.NewClient(target, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	channel, err := inprocess.NewChannel(reg, inprocess.Options{
		Interceptors: []grpc.UnaryServerInterceptor{observe}, Codec: encoding.GetCodecV2("proto"), Peer: internal.Peer()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cc       grpc.ClientConnInterface
		internal bool
	}{
		{"network", dial(tcp.Addr().String()), false},
		{"internal listener", dial("passthrough:///internal", grpc.WithContextDialer(internal.DialContext)), true},
		{"in-process channel", channel, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(t.Context(), VerifiedSANHeader, "spiffe://forged")
			if _, err := healthpb.NewHealthClient(tt.cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatal(err)
			}
			s := <-got
			wantSANs := []string(nil)
			if tt.internal {
				wantSANs = []string{"spiffe://forged"}
			}
			if s.internal != tt.internal || !slices.Equal(s.sans, wantSANs) {
				t.Fatalf("internal %v, SANs %v; want %v, %v", s.internal, s.sans, tt.internal, wantSANs)
			}
		})
	}
}

// TestUnaryInterceptorIdentity: through a real connection, the
// interceptor identifies a caller by its bearer token when it sends one
// (a valid certificate does not save an invalid token) and otherwise by
// its certificate's SANs, records the client in the call, and on a
// server without authentication lets every call through unnamed.
func TestUnaryInterceptorIdentity(t *testing.T) {
	const check = "/grpc.health.v1.Health/Check"
	tests := []struct {
		name       string
		opts       Options
		md         []string
		want       codes.Code
		wantReason string
		wantClient string
	}{
		{"token", Options{Policy: mustPolicy(t), VerifiedCerts: true}, []string{"authorization", "Bearer " + tokenOps}, codes.OK, "", "ops"},
		{"token and certificate", Options{Policy: mustPolicy(t), VerifiedCerts: true},
			[]string{"authorization", "Bearer " + tokenOps, VerifiedSANHeader, "spiffe://test/dispatch"}, codes.OK, "", "ops"},
		{"bad token and certificate", Options{Policy: mustPolicy(t), VerifiedCerts: true},
			[]string{"authorization", "Bearer nope", VerifiedSANHeader, "spiffe://test/dispatch"}, codes.Unauthenticated, ReasonTokenInvalid, ""},
		{"certificate", Options{Policy: mustPolicy(t), VerifiedCerts: true},
			[]string{VerifiedSANHeader, "spiffe://test/dispatch"}, codes.PermissionDenied, ReasonRPCNotAllowed, "dispatch"},
		{"certificate not listed", Options{Policy: mustPolicy(t), VerifiedCerts: true},
			[]string{VerifiedSANHeader, "spiffe://test/other"}, codes.Unauthenticated, ReasonCertificateNotListed, ""},
		{"nothing", Options{Policy: mustPolicy(t), VerifiedCerts: true}, nil, codes.Unauthenticated, ReasonCredentialsMissing, ""},
		{"no authentication", Options{}, []string{"authorization", "Bearer nope"}, codes.OK, "", ""},
		{"open endpoint", Options{Policy: mustPolicy(t), Open: []Pattern{{Service: "grpc.health.v1.Health"}}}, nil, codes.OK, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := make(chan *rpc.Call, 1)
			record := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
				c := &rpc.Call{Method: check}
				defer func() { calls <- c }()
				return handler(rpc.WithCall(ctx, c), req)
			}
			srv := grpc.NewServer(grpc.Creds(ServerCredentials(insecure.NewCredentials())),
				grpc.ChainUnaryInterceptor(record, New(tt.opts).UnaryInterceptor(slog.New(slog.NewTextHandler(io.Discard, nil)))))
			healthpb.RegisterHealthServer(srv, grpchealth.NewServer())
			internal := NewInternalListener()
			go func() { _ = srv.Serve(internal) }()
			t.Cleanup(srv.Stop)
			conn, err := grpc.NewClient("passthrough:///internal", grpc.WithContextDialer(internal.DialContext),
				grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			ctx := metadata.AppendToOutgoingContext(t.Context(), tt.md...)
			_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if status.Code(err) != tt.want {
				t.Fatalf("Check: %v, want %v", err, tt.want)
			}
			if tt.want != codes.OK {
				if info := errorInfo(t, status.Convert(err)); info.GetReason() != tt.wantReason {
					t.Fatalf("reason %q, want %q", info.GetReason(), tt.wantReason)
				}
			}
			if c := <-calls; c.Client != tt.wantClient || c.Authorized != (tt.want == codes.OK) {
				t.Fatalf("call client %q authorized %v, want %q %v", c.Client, c.Authorized, tt.wantClient, tt.want == codes.OK)
			}
		})
	}
}

// BenchmarkUnaryInterceptor is the authentication interceptor's cost per
// call, with the context a gRPC call over TCP brings (its peer and
// metadata as grpc-go's transport fills it): "no authentication" on a
// server without a clients file or certificates (the benchmark's
// servicecenterd), "token" with the test policy's bearer token; "REST"
// the same over the gateway's internal connection.
func BenchmarkUnaryInterceptor(b *testing.B) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	info := &grpc.UnaryServerInfo{FullMethod: tags}
	handler := func(context.Context, any) (any, error) { return "ok", nil }
	tcp := &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}}
	rest := &peer.Peer{Addr: tcp.Addr, AuthInfo: InternalAuthInfo{}}
	for _, bc := range []struct {
		name string
		a    *Authenticator
		peer *peer.Peer
		md   metadata.MD
	}{
		{"no authentication", New(Options{}), tcp, metadata.MD{}},
		{"token", New(Options{Policy: mustPolicy(b)}), tcp, metadata.MD{"authorization": {"Bearer " + tokenTags}}},
		{"REST, no authentication", New(Options{}), rest, metadata.MD{"x-forwarded-for": {"127.0.0.1"}}},
		{"REST, token", New(Options{Policy: mustPolicy(b)}), rest, metadata.MD{"authorization": {"Bearer " + tokenTags}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			md := metadata.MD{":authority": {"127.0.0.1:9090"}, "content-type": {"application/grpc"},
				"user-agent": {"grpc-go/1.85.0"}, "grpc-accept-encoding": {"gzip"}}
			for k, v := range bc.md {
				md[k] = v
			}
			ctx := metadata.NewIncomingContext(context.Background(), md)
			ctx = peer.NewContext(ctx, bc.peer)
			ctx = rpc.WithCall(ctx, &rpc.Call{Method: tags, RequestID: "0123456789abcdef"})
			intercept := bc.a.UnaryInterceptor(logger)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := intercept(ctx, "req", info, handler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
