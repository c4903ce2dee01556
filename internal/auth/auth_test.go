package auth

import (
	"strings"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
)

const (
	tokenTags = "tags-token-1"
	tokenOps  = "ops-token-1"
	tokenOld  = "ops-token-0"
)

func policyYAML() string {
	return `clients:
  - name: tags-only
    token_sha256: [` + HashToken(tokenTags) + `]
    allow: [servicecenter.v1.WorkerService/GetWorkerTags]
  - name: ops
    token_sha256: [` + HashToken(tokenOps) + `, ` + strings.ToUpper(HashToken(tokenOld)) + `]
    allow: ["*"]
    rate_limit: 5
  - name: dispatch
    cert_sans: [spiffe://test/dispatch, dispatch.internal]
    allow: [/servicecenter.v1.WorkcardService/*, http/metrics]
`
}

func mustPolicy(t testing.TB) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(policyYAML()))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParsePolicyErrors(t *testing.T) {
	h := HashToken("x")
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "no clients"},
		{"unknown key", "clients:\n  - name: a\n    tokens: [x]\n", "field tokens not found"},
		{"bad name", "clients:\n  - name: 'a b'\n    token_sha256: [" + h + "]\n    allow: ['*']\n", `name "a b"`},
		{"duplicate name", "clients:\n  - name: a\n    token_sha256: [" + h + "]\n    allow: ['*']\n  - name: a\n    cert_sans: [x]\n    allow: ['*']\n", "name used twice"},
		{"no credentials", "clients:\n  - name: a\n    allow: ['*']\n", "needs token_sha256 or cert_sans"},
		{"token not hashed", "clients:\n  - name: a\n    token_sha256: [my-plain-token]\n    allow: ['*']\n", "token_sha256[0] is not 64 hex digits"},
		{"token shared", "clients:\n  - name: a\n    token_sha256: [" + h + "]\n    allow: ['*']\n  - name: b\n    token_sha256: [" + h + "]\n    allow: ['*']\n", "is also a token of a"},
		{"san shared", "clients:\n  - name: a\n    cert_sans: [x]\n    allow: ['*']\n  - name: b\n    cert_sans: [x]\n    allow: ['*']\n", `cert SAN "x" is also a's`},
		{"no allow", "clients:\n  - name: a\n    cert_sans: [x]\n", "allow is empty"},
		{"bad pattern", "clients:\n  - name: a\n    cert_sans: [x]\n    allow: [WorkerService]\n", `"WorkerService": want *`},
		{"negative rate", "clients:\n  - name: a\n    cert_sans: [x]\n    allow: ['*']\n    rate_limit: -1\n", "must not be negative"},
		{"empty topics", "clients:\n  - name: a\n    cert_sans: [x]\n    allow: ['*']\n    topics: []\n", "topics is empty"},
		{"bad topic", "clients:\n  - name: a\n    cert_sans: [x]\n    allow: ['*']\n    topics: ['tmall_*_x']\n", `topic "tmall_*_x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), h) || strings.Contains(err.Error(), "my-plain-token") {
				t.Fatalf("error quotes a token or hash: %v", err)
			}
		})
	}
}

func TestPolicyLookups(t *testing.T) {
	p := mustPolicy(t)
	for token, want := range map[string]string{tokenTags: "tags-only", tokenOps: "ops", tokenOld: "ops", "nope": "", "": ""} {
		got := ""
		if c, ok := p.ByToken(token); ok {
			got = c.Name
		}
		if got != want {
			t.Errorf("ByToken(%q) = %q, want %q", token, got, want)
		}
	}
	if c, ok := p.BySAN([]string{"other", "dispatch.internal"}); !ok || c.Name != "dispatch" {
		t.Errorf("BySAN: %v %v", c, ok)
	}
	if _, ok := p.BySAN([]string{"spiffe://test/other"}); ok {
		t.Error("unlisted SAN found")
	}
	if !p.HasTokenClients() || !p.HasCertClients() {
		t.Error("Has*Clients")
	}
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		pattern, method string
		want            bool
	}{
		{"*", "/a.B/C", true},
		{"a.B/*", "/a.B/C", true},
		{"/a.B/*", "/a.B/C", true},
		{"a.B/*", "/a.Bc/C", false},
		{"a.B/C", "/a.B/C", true},
		{"a.B/C", "/a.B/Cd", false},
		{"http/metrics", "/http/metrics", true},
		{"http/metrics", "/http/healthz", false},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(tt.method); got != tt.want {
			t.Errorf("%s matches %s = %v", tt.pattern, tt.method, got)
		}
	}
	for _, bad := range []string{"", "a.B", "a.B/", "/", "a.B/C/D", "a.B/C.d", "a b/C", "**"} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("ParsePattern(%q) accepted", bad)
		}
	}
	known := map[string][]string{"a.B": {"C"}}
	err := CheckKnown([]Pattern{{}, {Service: "a.B"}, {Service: "a.B", Method: "C"}, {Service: "a.B", Method: "D"}, {Service: "x.Y"}}, known)
	if err == nil || !strings.Contains(err.Error(), "a.B/D: service a.B has no method D") || !strings.Contains(err.Error(), "x.Y/*: no service x.Y") {
		t.Fatalf("CheckKnown: %v", err)
	}
}

const (
	tags   = "/servicecenter.v1.WorkerService/GetWorkerTags"
	assign = "/servicecenter.v1.WorkcardService/AssignWorker"
	health = "/grpc.health.v1.Health/Check"
)

func TestAuthenticate(t *testing.T) {
	open := []Pattern{{Service: "grpc.health.v1.Health"}}
	withPolicy := New(Options{Policy: mustPolicy(t), VerifiedCerts: true, Open: open})
	certsOnly := New(Options{VerifiedCerts: true})
	tokensOnly := New(Options{Policy: mustPolicy(t)})
	none := New(Options{})
	tests := []struct {
		name       string
		a          *Authenticator
		method     string
		creds      Credentials
		wantClient string
		wantVia    string
		wantCode   codes.Code
		wantReason string
	}{
		{"open without credentials", withPolicy, health, Credentials{}, "", ViaOpen, codes.OK, ""},
		{"no authentication configured", none, assign, Credentials{}, "", ViaNone, codes.OK, ""},
		{"missing", withPolicy, tags, Credentials{}, "", "", codes.Unauthenticated, ReasonCredentialsMissing},
		{"token allowed", withPolicy, tags, Credentials{Authorization: []string{"Bearer " + tokenTags}}, "tags-only", ViaToken, codes.OK, ""},
		{"scheme any case", withPolicy, tags, Credentials{Authorization: []string{"bearer  " + tokenTags}}, "tags-only", ViaToken, codes.OK, ""},
		{"token denied", withPolicy, assign, Credentials{Authorization: []string{"Bearer " + tokenTags}}, "tags-only", "", codes.PermissionDenied, ReasonRPCNotAllowed},
		{"rotated token", withPolicy, assign, Credentials{Authorization: []string{"Bearer " + tokenOld}}, "ops", ViaToken, codes.OK, ""},
		{"unknown token", withPolicy, tags, Credentials{Authorization: []string{"Bearer nope"}}, "", "", codes.Unauthenticated, ReasonTokenInvalid},
		{"basic auth", withPolicy, tags, Credentials{Authorization: []string{"Basic " + tokenTags}}, "", "", codes.Unauthenticated, ReasonTokenInvalid},
		{"two tokens", withPolicy, tags, Credentials{Authorization: []string{"Bearer " + tokenTags, "Bearer " + tokenOps}}, "", "", codes.Unauthenticated, ReasonTokenInvalid},
		{"bad token beats good cert", withPolicy, assign, Credentials{Authorization: []string{"Bearer nope"}, SANs: []string{"spiffe://test/dispatch"}}, "", "", codes.Unauthenticated, ReasonTokenInvalid},
		{"cert allowed", withPolicy, assign, Credentials{SANs: []string{"spiffe://test/dispatch"}}, "dispatch", ViaCertificate, codes.OK, ""},
		{"cert denied", withPolicy, tags, Credentials{SANs: []string{"dispatch.internal"}}, "dispatch", "", codes.PermissionDenied, ReasonRPCNotAllowed},
		{"cert unlisted", withPolicy, assign, Credentials{SANs: []string{"spiffe://test/other"}}, "", "", codes.Unauthenticated, ReasonCertificateNotListed},
		{"cert without policy", certsOnly, assign, Credentials{SANs: []string{"spiffe://test/any", "any.internal"}}, "spiffe://test/any", ViaCertificate, codes.OK, ""},
		{"token without policy", certsOnly, assign, Credentials{Authorization: []string{"Bearer " + tokenOps}}, "", "", codes.Unauthenticated, ReasonTokenInvalid},
		{"SANs ignored without mTLS", tokensOnly, assign, Credentials{SANs: []string{"spiffe://test/dispatch"}}, "", "", codes.Unauthenticated, ReasonCredentialsMissing},
		{"health closed", tokensOnly, health, Credentials{}, "", "", codes.Unauthenticated, ReasonCredentialsMissing},
		{"http resource", withPolicy, "/http/metrics", Credentials{SANs: []string{"dispatch.internal"}}, "dispatch", ViaCertificate, codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, d := tt.a.Authenticate(tt.method, tt.creds)
			if tt.wantCode == codes.OK {
				if d != nil {
					t.Fatalf("denied: %+v", d)
				}
				if id.Client != tt.wantClient || id.Via != tt.wantVia {
					t.Fatalf("identity %+v, want %s via %s", id, tt.wantClient, tt.wantVia)
				}
				return
			}
			if d == nil {
				t.Fatalf("allowed as %+v", id)
			}
			if d.Code != tt.wantCode || d.Reason != tt.wantReason || d.Client != tt.wantClient || d.Method != tt.method {
				t.Fatalf("denial %+v", d)
			}
			st := d.GRPCStatus()
			if st.Code() != tt.wantCode || len(st.Details()) != 1 {
				t.Fatalf("status %v", st)
			}
			info := st.Details()[0].(*errdetails.ErrorInfo)
			if info.GetDomain() != rpc.ErrorDomain || info.GetReason() != tt.wantReason || info.GetMetadata()["rpc"] != tt.method {
				t.Fatalf("ErrorInfo %v", info)
			}
			if strings.Contains(st.Message(), "token-") {
				t.Fatalf("message quotes a token: %s", st.Message())
			}
		})
	}
}

func TestSetPolicy(t *testing.T) {
	a := New(Options{Policy: mustPolicy(t)})
	p2, err := ParsePolicy([]byte("clients:\n  - name: new\n    token_sha256: [" + HashToken("new-token") + "]\n    allow: ['*']\n"))
	if err != nil {
		t.Fatal(err)
	}
	a.SetPolicy(p2)
	if _, d := a.Authenticate(tags, Credentials{Authorization: []string{"Bearer " + tokenTags}}); d == nil {
		t.Fatal("old token still accepted")
	}
	if id, d := a.Authenticate(tags, Credentials{Authorization: []string{"Bearer new-token"}}); d != nil || id.Client != "new" {
		t.Fatalf("new token: %+v %+v", id, d)
	}
}

func TestForwardableHeader(t *testing.T) {
	for key, want := range map[string]bool{
		"x-servicecenterd-verified-san": false, "X-Servicecenterd-Anything": false, "authorization": false,
		"x-request-id": true, "user-agent": true,
	} {
		if got := ForwardableHeader(key); got != want {
			t.Errorf("ForwardableHeader(%q) = %v", key, got)
		}
	}
}

// BenchmarkAuthenticate is the per-call cost of checking a bearer token
// (SHA-256 and a constant-time comparison with every stored hash) and the
// allow list, with the test policy's three clients.
func BenchmarkAuthenticate(b *testing.B) {
	p, err := ParsePolicy([]byte(policyYAML()))
	if err != nil {
		b.Fatal(err)
	}
	a := New(Options{Policy: p, VerifiedCerts: true})
	creds := Credentials{Authorization: []string{"Bearer " + tokenTags}}
	b.ReportAllocs()
	for b.Loop() {
		if _, d := a.Authenticate(tags, creds); d != nil {
			b.Fatal(d)
		}
	}
}
