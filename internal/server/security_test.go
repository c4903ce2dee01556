package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testpki"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// Bearer tokens of the test clients file.
const (
	tokenTagsOnly = "scd_test-tags-only-token"
	tokenOps      = "scd_test-ops-token"
	sanDispatch   = "spiffe://test/dispatch"
	sanUnlisted   = "spiffe://test/unlisted"
)

// pki is a test CA with files for a TLS server that verifies client
// certificates from the same CA, and a clients file.
type pki struct {
	ca                        *testpki.CA
	dir                       string
	certFile, keyFile, caFile string
	clientsFile               string
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{ca: testpki.NewCA(t, "test CA"), dir: t.TempDir()}
	p.certFile, p.keyFile = p.ca.Localhost(t).WriteFiles(t, p.dir, "server")
	p.caFile = filepath.Join(p.dir, "clients-ca.crt")
	testpki.WriteFile(t, p.caFile, p.ca.PEM)
	p.clientsFile = writeClients(t, p.dir, `clients:
  - name: tags-only
    token_sha256: [`+auth.HashToken(tokenTagsOnly)+`]
    allow: [servicecenter.v1.WorkerService/GetWorkerTags]
  - name: ops
    token_sha256: [`+auth.HashToken(tokenOps)+`]
    allow: ["*"]
  - name: dispatch
    cert_sans: [`+sanDispatch+`]
    allow: [servicecenter.v1.WorkcardService/*]
`)
	return p
}

func writeClients(t testing.TB, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "clients.yaml")
	testpki.WriteFile(t, path, []byte(content))
	return path
}

// mtls configures the server with the PKI's TLS files, mTLS and the
// clients file.
func (p *pki) mtls(c *server.Config) {
	c.TLS.CertFile, c.TLS.KeyFile, c.TLS.ClientCAFile, c.Auth.ClientsFile = p.certFile, p.keyFile, p.caFile, p.clientsFile
}

// clientTLS is a client TLS config trusting the CA, presenting a
// certificate with the given URI SAN unless san is "".
func (p *pki) clientTLS(t *testing.T, san string) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: p.ca.Pool(), MinVersion: tls.VersionTLS12}
	if san != "" {
		cfg.Certificates = []tls.Certificate{p.ca.Issue(t, testpki.Leaf{CommonName: "client", URIs: []string{san}, Client: true}).TLS(t)}
	}
	return cfg
}

// dialTLS connects to the server's gRPC port over TLS.
func dialTLS(t *testing.T, addr string, cfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// httpsClient is an HTTP client over TLS with cfg.
func httpsClient(t *testing.T, cfg *tls.Config) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// doREST sends a request and returns the status and the body (decoded
// JSON when it is JSON).
func doREST(t *testing.T, c *http.Client, method, url, body string, header http.Header) (int, map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, string(raw)
}

// reasonOf returns the ErrorInfo reason among status details.
func reasonOf(details []any) string {
	for _, d := range details {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// restReason returns the ErrorInfo reason of a REST error body.
func restReason(body map[string]any) string {
	details, _ := body["details"].([]any)
	for _, d := range details {
		if m, ok := d.(map[string]any); ok && m["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" {
			r, _ := m["reason"].(string)
			return r
		}
	}
	return ""
}

func withToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// TestAuthMatrix calls over gRPC and REST with every kind of credentials
// and checks who gets through, with which code, reason and HTTP status.
func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	ts := testserver.Start(t, p.mtls)
	tags := getWorkerTags(&scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"})
	unknownWorkcard := assignWorker(&scv1.AssignWorkerRequest{WorkcardId: 999, TargetWorkerId: 1234567})
	invalid := getWorkerTags(&scv1.GetWorkerTagsRequest{IdNumber: "bad", Mobile: "bad"})
	forged := map[string]string{auth.VerifiedSANHeader: sanDispatch}
	tests := []struct {
		name       string
		san        string // client certificate SAN, "" for none
		token      string
		header     map[string]string // extra gRPC metadata / HTTP headers (REST: as Grpc-Metadata-*)
		raw        string            // raw authorization value instead of a token
		rpc        rpcCase
		wantCode   codes.Code
		wantReason string
		wantHTTP   int
		wantClient string // in the denial log line
	}{
		{"nothing", "", "", nil, "", tags, codes.Unauthenticated, auth.ReasonCredentialsMissing, 401, ""},
		{"nothing, invalid request: auth first", "", "", nil, "", invalid, codes.Unauthenticated, auth.ReasonCredentialsMissing, 401, ""},
		{"unknown token", "", "scd_wrong", nil, "", tags, codes.Unauthenticated, auth.ReasonTokenInvalid, 401, ""},
		{"basic auth", "", "", nil, "Basic dXNlcjpwYXNz", tags, codes.Unauthenticated, auth.ReasonTokenInvalid, 401, ""},
		{"token allowed", "", tokenTagsOnly, nil, "", tags, codes.OK, "", 200, ""},
		{"token allowed, invalid request", "", tokenTagsOnly, nil, "", invalid, codes.InvalidArgument, "", 400, ""},
		{"token not allowed this RPC", "", tokenTagsOnly, nil, "", unknownWorkcard, codes.PermissionDenied, auth.ReasonRPCNotAllowed, 403, "tags-only"},
		{"token allowed everything", "", tokenOps, nil, "", unknownWorkcard, codes.NotFound, "TOP_BIZ_1008", 404, ""},
		{"certificate allowed", sanDispatch, "", nil, "", unknownWorkcard, codes.NotFound, "TOP_BIZ_1008", 404, ""},
		{"certificate not allowed this RPC", sanDispatch, "", nil, "", tags, codes.PermissionDenied, auth.ReasonRPCNotAllowed, 403, "dispatch"},
		{"certificate not listed", sanUnlisted, "", nil, "", unknownWorkcard, codes.Unauthenticated, auth.ReasonCertificateNotListed, 401, ""},
		{"token decides over certificate", sanDispatch, tokenTagsOnly, nil, "", unknownWorkcard, codes.PermissionDenied, auth.ReasonRPCNotAllowed, 403, "tags-only"},
		{"forged identity header", "", "", forged, "", unknownWorkcard, codes.Unauthenticated, auth.ReasonCredentialsMissing, 401, ""},
		{"forged identity header with unlisted cert", sanUnlisted, "", forged, "", unknownWorkcard, codes.Unauthenticated, auth.ReasonCertificateNotListed, 401, ""},
		{"forged identity header with token", "", tokenTagsOnly, forged, "", unknownWorkcard, codes.PermissionDenied, auth.ReasonRPCNotAllowed, 403, "tags-only"},
		{"forged second authorization", "", "", map[string]string{"authorization": "Bearer " + tokenOps}, "", tags, codes.Unauthenticated, auth.ReasonCredentialsMissing, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clientTLS := p.clientTLS(t, tt.san)
			conn := dialTLS(t, ts.GRPCAddr(), clientTLS)
			via := *ts
			via.Workcards, via.Workers = scv1.NewWorkcardServiceClient(conn), scv1.NewWorkerServiceClient(conn)

			// gRPC
			ctx := withToken(grpcCtx(t), tt.token)
			if tt.raw != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tt.raw)
			}
			for k, v := range tt.header {
				if k == "authorization" {
					continue // a gRPC caller can only send it once; REST forgery below
				}
				ctx = metadata.AppendToOutgoingContext(ctx, k, v)
			}
			_, err := tt.rpc.call(ctx, &via)
			st := status.Convert(err)
			if st.Code() != tt.wantCode || (tt.wantReason != "" && reasonOf(st.Details()) != tt.wantReason) {
				t.Fatalf("grpc: %v (reason %s), want %v %s", err, reasonOf(st.Details()), tt.wantCode, tt.wantReason)
			}

			// REST
			header := http.Header{}
			if tt.token != "" {
				header.Set("Authorization", "Bearer "+tt.token)
			}
			if tt.raw != "" {
				header.Set("Authorization", tt.raw)
			}
			for k, v := range tt.header {
				header.Set("Grpc-Metadata-"+k, v)
			}
			code, body, raw := doREST(t, httpsClient(t, clientTLS), http.MethodPost, "https://"+ts.HTTPAddr()+tt.rpc.path, restBody(t, tt.rpc.req), header)
			if code != tt.wantHTTP || (tt.wantReason != "" && restReason(body) != tt.wantReason) {
				t.Fatalf("rest: %d %s, want %d %s", code, raw, tt.wantHTTP, tt.wantReason)
			}
			if tt.wantClient != "" && !strings.Contains(ts.Logs.String(), `"msg":"access denied","method":"`+methodOf(tt.rpc)+`","code":"PermissionDenied","reason":"RPC_NOT_ALLOWED","client":"`+tt.wantClient+`"`) {
				t.Fatalf("denial not logged with the client name:\n%s", ts.Logs.String())
			}
		})
	}
	for _, secret := range []string{tokenTagsOnly, tokenOps} {
		if strings.Contains(ts.Logs.String(), secret) {
			t.Fatalf("logs contain a token")
		}
	}
}

// methodOf is the full method an rpc helper calls.
func methodOf(r rpcCase) string {
	switch r.req.(type) {
	case *scv1.GetWorkerTagsRequest:
		return scv1.WorkerService_GetWorkerTags_FullMethodName
	case *scv1.AssignWorkerRequest:
		return scv1.WorkcardService_AssignWorker_FullMethodName
	case *scv1.UpdateWorkerRequest:
		return scv1.WorkerService_UpdateWorker_FullMethodName
	case *scv1.BindVirtualPhoneRequest:
		return scv1.WorkcardService_BindVirtualPhone_FullMethodName
	case *scv1.SyncUserBlacklistRequest:
		return scv1.LogisticsService_SyncUserBlacklist_FullMethodName
	}
	return ""
}

// TestOpenEndpoints checks health, reflection, OpenAPI and metrics: open
// by default even with mTLS (no client certificate needed), closed when
// --open-endpoints is empty, then reachable with an allowed token only.
func TestOpenEndpoints(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	tests := []struct {
		name     string
		open     []string
		token    string
		wantGRPC codes.Code
		wantHTTP int
	}{
		{"open by default", []string{"health", "reflection", "metrics"}, "", codes.OK, 200},
		{"closed, no credentials", nil, "", codes.Unauthenticated, 401},
		{"closed, client not allowed", nil, tokenTagsOnly, codes.PermissionDenied, 403},
		{"closed, client allowed everything", nil, tokenOps, codes.OK, 200},
	}
	// The cases with the same --open-endpoints share a server: a case
	// only reads, so it cannot change what the next one sees.
	servers := map[string]*testserver.Server{}
	for _, tt := range tests {
		if key := strings.Join(tt.open, ","); servers[key] == nil {
			servers[key] = testserver.Start(t, func(c *server.Config) { p.mtls(c); c.Auth.OpenEndpoints = tt.open })
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := servers[strings.Join(tt.open, ",")]
			clientTLS := p.clientTLS(t, "")
			conn := dialTLS(t, ts.GRPCAddr(), clientTLS)
			ctx := withToken(grpcCtx(t), tt.token)
			_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if status.Code(err) != tt.wantGRPC {
				t.Fatalf("health: %v", err)
			}
			stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			if err == nil {
				err = stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
				if err == nil || errors.Is(err, io.EOF) { // io.EOF: the server ended the stream; Recv says why
					_, err = stream.Recv()
				}
			}
			if status.Code(err) != tt.wantGRPC {
				t.Fatalf("reflection: %v", err)
			}
			header := http.Header{}
			if tt.token != "" {
				header.Set("Authorization", "Bearer "+tt.token)
			}
			for _, path := range []string{"/healthz", "/readyz", "/topz", "/openapi.json", "/openapi.v3.json", "/protos.tar.gz", "/descriptor.binpb", "/metrics"} {
				code, body, raw := doREST(t, httpsClient(t, clientTLS), http.MethodGet, "https://"+ts.HTTPAddr()+path, "", header)
				if code != tt.wantHTTP {
					t.Fatalf("%s: %d %s", path, code, raw)
				}
				if code == 401 && restReason(body) != auth.ReasonCredentialsMissing {
					t.Fatalf("%s: %s", path, raw)
				}
			}
		})
	}
}

// TestMTLSRequiredWhenNothingElse: with no open endpoint and no token
// clients, the TLS handshake itself requires a client certificate.
func TestMTLSRequiredWhenNothingElse(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	clients := writeClients(t, t.TempDir(), "clients:\n  - name: dispatch\n    cert_sans: ["+sanDispatch+"]\n    allow: ['*']\n")
	ts := testserver.Start(t, func(c *server.Config) { p.mtls(c); c.Auth.ClientsFile = clients; c.Auth.OpenEndpoints = nil })
	_, err := healthpb.NewHealthClient(dialTLS(t, ts.GRPCAddr(), p.clientTLS(t, ""))).Check(grpcCtx(t), &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("no certificate: %v", err)
	}
	if _, err := healthpb.NewHealthClient(dialTLS(t, ts.GRPCAddr(), p.clientTLS(t, sanDispatch))).Check(grpcCtx(t), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("with certificate: %v", err)
	}
	other := testpki.NewCA(t, "other CA").Issue(t, testpki.Leaf{URIs: []string{sanDispatch}, Client: true})
	cfg := p.clientTLS(t, "")
	otherCert := other.TLS(t)
	// Sent although the server asks for its own CA (Go's client would send none).
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &otherCert, nil }
	_, err = healthpb.NewHealthClient(dialTLS(t, ts.GRPCAddr(), cfg)).Check(grpcCtx(t), &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("certificate of another CA: %v", err)
	}
}

// TestTokensWithoutTLS runs with a clients file and no TLS: the gRPC and
// REST paths authenticate the same way.
func TestTokensWithoutTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	ts := testserver.Start(t, func(c *server.Config) { c.Auth.ClientsFile = p.clientsFile })
	req := &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}
	if _, err := ts.Workers.GetWorkerTags(grpcCtx(t), req); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
	if _, err := ts.Workers.GetWorkerTags(withToken(grpcCtx(t), tokenTagsOnly), req); err != nil {
		t.Fatalf("token: %v", err)
	}
	code, _, _ := ts.REST(t, "/v1/workers:getTags", restBody(t, req))
	if code != 401 {
		t.Fatalf("REST without token: %d", code)
	}
	if !strings.Contains(ts.Logs.String(), `"peer":"rest:127.0.0.1"`) {
		t.Fatalf("REST denial not logged with the HTTP client's address:\n%s", ts.Logs.String())
	}
	code, _, raw := doREST(t, http.DefaultClient, http.MethodPost, "http://"+ts.HTTPAddr()+"/v1/workers:getTags", restBody(t, req), http.Header{"Authorization": {"Bearer " + tokenTagsOnly}})
	if code != 200 {
		t.Fatalf("REST with token: %d %s", code, raw)
	}
}

func TestRefuseToStartBeyondLoopback(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	tests := []struct {
		name   string
		mutate func(*server.Config)
		want   string // "" for valid
	}{
		{"loopback", func(c *server.Config) {}, ""},
		{"localhost", func(c *server.Config) { c.Listen.GRPCAddr = "localhost:0" }, ""},
		{"all interfaces", func(c *server.Config) { c.Listen.GRPCAddr = "0.0.0.0:9090" }, "refusing to listen beyond loopback (--grpc-addr 0.0.0.0:9090)"},
		{"empty host", func(c *server.Config) { c.Listen.HTTPAddr = ":8080" }, "(--http-addr :8080)"},
		{"a name", func(c *server.Config) { c.Metrics.Addr = "metrics.internal:9100" }, "(--metrics-addr metrics.internal:9100)"},
		{"explicitly allowed", func(c *server.Config) { c.Listen.GRPCAddr = "0.0.0.0:9090"; c.Auth.InsecureAllowUnauthenticated = true }, ""},
		{"tokens", func(c *server.Config) { c.Listen.GRPCAddr = "0.0.0.0:9090"; c.Auth.ClientsFile = p.clientsFile }, ""},
		{"mTLS", func(c *server.Config) {
			c.Listen.GRPCAddr = "0.0.0.0:9090"
			c.TLS.CertFile, c.TLS.KeyFile, c.TLS.ClientCAFile = p.certFile, p.keyFile, p.caFile
		}, ""},
		{"TLS alone is not authentication", func(c *server.Config) {
			c.Listen.GRPCAddr = "0.0.0.0:9090"
			c.TLS.CertFile, c.TLS.KeyFile = p.certFile, p.keyFile
		}, "without caller authentication"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testserver.Config(t)
			tt.mutate(&cfg)
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "--insecure-allow-unauthenticated")):
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestInvalidSecuritySettings(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	dir := t.TempDir()
	bad := writeClients(t, dir, "clients:\n  - name: a\n    token_sha256: ["+auth.HashToken("x")+"]\n    allow: [servicecenter.v1.NoSuchService/*]\n")
	_, otherKey := p.ca.Localhost(t).WriteFiles(t, dir, "other")
	garbage := filepath.Join(dir, "garbage.pem")
	testpki.WriteFile(t, garbage, []byte("not a certificate"))
	tests := []struct {
		name   string
		mutate func(*server.Config)
		want   string
	}{
		{"unknown service in allow", func(c *server.Config) { c.Auth.ClientsFile = bad }, "no service servicecenter.v1.NoSuchService"},
		{"missing clients file", func(c *server.Config) { c.Auth.ClientsFile = filepath.Join(dir, "none.yaml") }, "--clients-file"},
		{"key without cert", func(c *server.Config) { c.TLS.KeyFile = p.keyFile }, "go together"},
		{"client CA without TLS", func(c *server.Config) { c.TLS.ClientCAFile = p.caFile }, "needs --tls-cert-file"},
		{"cert not matching key", func(c *server.Config) { c.TLS.CertFile, c.TLS.KeyFile = p.certFile, otherKey }, "private key does not match"},
		{"garbage client CA", func(c *server.Config) {
			c.TLS.CertFile, c.TLS.KeyFile, c.TLS.ClientCAFile = p.certFile, p.keyFile, garbage
		}, "no PEM certificate"},
		{"unknown open endpoint", func(c *server.Config) { c.Auth.OpenEndpoints = []string{"health", "admin"} }, `"admin": want health, reflection or metrics`},
		{"tiny message size", func(c *server.Config) { c.GRPC.MaxRecvMsgSize = 10 }, "--grpc-max-recv-msg-size must be at least 1024"},
		{"zero timeout", func(c *server.Config) { c.HTTP.ReadTimeout = 0 }, "--http-read-timeout must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testserver.Config(t)
			tt.mutate(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestCertificateRotation replaces the server certificate and the client
// CA while a client keeps calling over one connection: no call fails, new
// connections get the new certificate, and a client certificate of the
// new CA is accepted.
func TestCertificateRotation(t *testing.T) {
	// Not t.Parallel: it keeps the CPU busy for seconds (see TestMain).
	p := newPKI(t)
	ts := testserver.Start(t, func(c *server.Config) { p.mtls(c); c.TLS.ReloadInterval = 20 * time.Millisecond })
	clientTLS := p.clientTLS(t, sanDispatch)
	conn := dialTLS(t, ts.GRPCAddr(), clientTLS)
	health := healthpb.NewHealthClient(conn)

	// The calling client counts its calls (ok), so the test can wait until
	// it made calls before the rotation and after it.
	stop := make(chan struct{})
	calls := make(chan error, 1)
	var ok atomic.Int64
	go func() {
		for {
			select {
			case <-stop:
				calls <- nil
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
			cancel()
			if err != nil {
				calls <- err
				return
			}
			ok.Add(1)
		}
	}()
	failed := func() error {
		select {
		case err := <-calls:
			return err
		default:
			return nil
		}
	}
	waitCalls := func(n int64) {
		t.Helper()
		testserver.WaitFor(t, "the calling client's calls", func() bool {
			if err := failed(); err != nil {
				t.Fatalf("the calling client saw an error: %v", err)
			}
			return ok.Load() >= n
		})
	}
	waitCalls(1)

	servedSerial := func() string {
		c, err := tls.Dial("tcp", ts.HTTPAddr(), clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := servedSerial()
	reloads := strings.Count(ts.Logs.String(), "tls files reloaded")
	newCA := testpki.NewCA(t, "new client CA")
	rotated := p.ca.Localhost(t)
	testpki.WriteFile(t, p.certFile, rotated.CertPEM)
	testpki.WriteFile(t, p.keyFile, rotated.KeyPEM)
	testpki.WriteFile(t, p.caFile, append(append([]byte{}, p.ca.PEM...), newCA.PEM...))
	want := rotated.Cert.SerialNumber.String()
	deadline := time.Now().Add(10 * time.Second)
	for servedSerial() != want {
		if time.Now().After(deadline) {
			t.Fatalf("still serving %s (was %s), want %s", servedSerial(), before, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitCalls(ok.Load() + 1) // a call over the old connection after the rotation
	close(stop)
	if err := <-calls; err != nil {
		t.Fatalf("the calling client saw an error across the rotation: %v", err)
	}
	// The reload is logged just after the new files are in use.
	ts.WaitLogCount(t, "tls files reloaded", reloads)

	fresh := p.clientTLS(t, "")
	fresh.Certificates = []tls.Certificate{newCA.Issue(t, testpki.Leaf{URIs: []string{sanDispatch}, Client: true}).TLS(t)}
	_, err := scv1.NewWorkcardServiceClient(dialTLS(t, ts.GRPCAddr(), fresh)).AssignWorker(grpcCtx(t), &scv1.AssignWorkerRequest{WorkcardId: 999, TargetWorkerId: 1234567})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("client certificate of the new CA: %v", err)
	}

	// A broken rotation keeps the working certificate. Count the failures
	// logged so far: the rotation above may have met a new certificate
	// beside the old key.
	failures := strings.Count(ts.Logs.String(), "keeping the previous ones")
	testpki.WriteFile(t, p.keyFile, []byte("garbage"))
	ts.WaitLogCount(t, "keeping the previous ones", failures)
	if got := servedSerial(); got != want {
		t.Fatalf("serving %s after a broken rotation, want %s", got, want)
	}
}

// TestClientsFileReload changes the clients file while serving.
func TestClientsFileReload(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	ts := testserver.Start(t, func(c *server.Config) {
		c.Auth.ClientsFile = p.clientsFile
		c.TLS.ReloadInterval = 20 * time.Millisecond
	})
	req := &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}
	if _, err := ts.Workers.GetWorkerTags(withToken(grpcCtx(t), tokenTagsOnly), req); err != nil {
		t.Fatal(err)
	}
	writeClients(t, filepath.Dir(p.clientsFile), "clients:\n  - name: newcomer\n    token_sha256: ["+auth.HashToken("scd_new")+"]\n    allow: ['*']\n")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := ts.Workers.GetWorkerTags(withToken(grpcCtx(t), "scd_new"), req)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new token never accepted: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := ts.Workers.GetWorkerTags(withToken(grpcCtx(t), tokenTagsOnly), req); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("removed token: %v", err)
	}
	writeClients(t, filepath.Dir(p.clientsFile), "clients: [oops")
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(ts.Logs.String(), "clients file changed but is invalid") {
		if time.Now().After(deadline) {
			t.Fatal("invalid clients file not noticed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := ts.Workers.GetWorkerTags(withToken(grpcCtx(t), "scd_new"), req); err != nil {
		t.Fatalf("previous policy not kept: %v", err)
	}
}
