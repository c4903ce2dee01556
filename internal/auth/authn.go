package auth

import (
	"crypto/x509"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Reasons of a denial's ErrorInfo.
const (
	// ReasonCredentialsMissing: the call carried neither a bearer token
	// nor a verified client certificate (UNAUTHENTICATED).
	ReasonCredentialsMissing = "CREDENTIALS_MISSING"
	// ReasonTokenInvalid: the authorization value is not "Bearer <token>"
	// or the token is unknown (UNAUTHENTICATED).
	ReasonTokenInvalid = "TOKEN_INVALID"
	// ReasonCertificateNotListed: the client certificate is valid but none
	// of its SANs is in the clients file (UNAUTHENTICATED).
	ReasonCertificateNotListed = "CERTIFICATE_NOT_LISTED"
	// ReasonRPCNotAllowed: the client may not call this RPC
	// (PERMISSION_DENIED).
	ReasonRPCNotAllowed = "RPC_NOT_ALLOWED"
)

// How a caller was identified (Identity.Via).
const (
	ViaToken       = "token"
	ViaCertificate = "certificate"
	// ViaOpen: the endpoint is open to anyone; the caller is not identified.
	ViaOpen = "open"
	// ViaNone: the server has no authentication configured.
	ViaNone = "none"
)

// Credentials are what a caller presented.
type Credentials struct {
	// Authorization holds the authorization header or metadata values.
	Authorization []string
	// SANs are the subject alternative names of the caller's verified
	// client certificate (CertSANs); empty without one.
	SANs []string
}

// Identity is an authenticated caller.
type Identity struct {
	// Client names the caller; "" when it was not identified (ViaOpen,
	// ViaNone).
	Client string
	// Via says how the caller was identified.
	Via string
}

// Denial is a refused call. It never holds a token.
type Denial struct {
	// Code is codes.Unauthenticated or codes.PermissionDenied.
	Code codes.Code
	// Reason is the ErrorInfo reason (Reason* constants).
	Reason string
	// Client names the caller when it was identified.
	Client string
	// Method is the full method (or http/... resource) refused.
	Method string
	// Message is what the caller is told.
	Message string
	// Detail is logged but not told to the caller, e.g. an unlisted
	// certificate's SAN.
	Detail string
}

// Error implements error.
func (d *Denial) Error() string { return d.Message }

// GRPCStatus is the denial as a gRPC status with one ErrorInfo (domain
// rpc.ErrorDomain).
func (d *Denial) GRPCStatus() *status.Status {
	md := map[string]string{"rpc": d.Method}
	if d.Client != "" {
		md["client"] = d.Client
	}
	st := status.New(d.Code, d.Message)
	if with, err := st.WithDetails(rpc.Info(d.Reason, md)); err == nil {
		return with
	}
	return st
}

// Options configure an Authenticator.
type Options struct {
	// Policy is the clients file; nil when there is none.
	Policy *Policy
	// VerifiedCerts says client certificates are verified (mTLS is on):
	// their SANs then identify callers. Without a Policy, any verified
	// certificate may call everything, named by its first SAN.
	VerifiedCerts bool
	// Open are the methods anyone may call without credentials.
	Open []Pattern
}

// Authenticator authenticates and authorizes calls. Its policy can be
// replaced while it serves (SetPolicy), e.g. when the clients file
// changes.
type Authenticator struct {
	policy        atomic.Pointer[Policy]
	verifiedCerts bool
	open          []Pattern
}

// New returns an Authenticator.
func New(o Options) *Authenticator {
	a := &Authenticator{verifiedCerts: o.VerifiedCerts, open: o.Open}
	a.policy.Store(o.Policy)
	return a
}

// SetPolicy replaces the clients file's policy; later calls use it.
func (a *Authenticator) SetPolicy(p *Policy) { a.policy.Store(p) }

// Policy returns the current policy, nil when there is none.
func (a *Authenticator) Policy() *Policy { return a.policy.Load() }

// Enabled reports whether callers must authenticate at all.
func (a *Authenticator) Enabled() bool { return a.verifiedCerts || a.policy.Load() != nil }

// RequireClientCert says whether the TLS layer itself must require a
// client certificate: only when nothing can be called without one (no
// open endpoints, no token clients in the current policy). Otherwise
// certificates are verified when given, and the authenticator requires
// credentials on every call that is not open.
func (a *Authenticator) RequireClientCert() bool {
	if len(a.open) > 0 {
		return false
	}
	p := a.Policy()
	return p == nil || !p.HasTokenClients()
}

// Open reports whether fullMethod is open to anyone.
func (a *Authenticator) Open(fullMethod string) bool {
	for _, p := range a.open {
		if p.Match(fullMethod) {
			return true
		}
	}
	return false
}

// Authenticate identifies the caller of fullMethod from its credentials
// and checks that it may call it. A bearer token, when present, decides
// the identity (an invalid one is refused even with a valid
// certificate); otherwise a verified certificate does.
func (a *Authenticator) Authenticate(fullMethod string, c Credentials) (Identity, *Denial) {
	if id, ok := a.exempt(fullMethod); ok {
		return id, nil
	}
	return a.authenticate(fullMethod, c)
}

// exempt is the identity of a call of fullMethod that needs no
// credentials (an open endpoint, or a server without authentication),
// and whether it is one; Authenticate then looks at no credentials, so
// callers need not read them.
func (a *Authenticator) exempt(fullMethod string) (Identity, bool) {
	if a.Open(fullMethod) {
		return Identity{Via: ViaOpen}, true
	}
	if !a.Enabled() {
		return Identity{Via: ViaNone}, true
	}
	return Identity{}, false
}

// authenticate is Authenticate for a call that is not exempt.
func (a *Authenticator) authenticate(fullMethod string, c Credentials) (Identity, *Denial) {
	p := a.policy.Load()
	deny := func(code codes.Code, reason, client, msg, detail string) (Identity, *Denial) {
		return Identity{}, &Denial{Code: code, Reason: reason, Client: client, Method: fullMethod, Message: msg, Detail: detail}
	}
	var id Identity
	var entry *Client
	switch {
	case len(c.Authorization) > 0:
		if len(c.Authorization) > 1 {
			return deny(codes.Unauthenticated, ReasonTokenInvalid, "", "more than one authorization value", "")
		}
		token, ok := bearer(c.Authorization[0])
		if !ok {
			return deny(codes.Unauthenticated, ReasonTokenInvalid, "", "authorization must be \"Bearer <token>\"", "")
		}
		if p == nil {
			return deny(codes.Unauthenticated, ReasonTokenInvalid, "", "invalid bearer token", "no clients file: tokens are not accepted")
		}
		if entry, ok = p.ByToken(token); !ok {
			return deny(codes.Unauthenticated, ReasonTokenInvalid, "", "invalid bearer token", "")
		}
		id = Identity{Client: entry.Name, Via: ViaToken}
	case len(c.SANs) > 0 && a.verifiedCerts:
		if p == nil {
			return Identity{Client: c.SANs[0], Via: ViaCertificate}, nil
		}
		var ok bool
		if entry, ok = p.BySAN(c.SANs); !ok {
			return deny(codes.Unauthenticated, ReasonCertificateNotListed, "", "client certificate not listed in the clients file",
				"certificate SANs "+strings.Join(c.SANs, ","))
		}
		id = Identity{Client: entry.Name, Via: ViaCertificate}
	default:
		msg := "credentials required: send authorization: Bearer <token>"
		if a.verifiedCerts {
			msg = "credentials required: present a client certificate or send authorization: Bearer <token>"
		}
		return deny(codes.Unauthenticated, ReasonCredentialsMissing, "", msg, "")
	}
	if !entry.Allowed(fullMethod) {
		return deny(codes.PermissionDenied, ReasonRPCNotAllowed, entry.Name,
			fmt.Sprintf("client %s may not call %s", entry.Name, fullMethod), "")
	}
	return id, nil
}

// bearer returns the token of "Bearer <token>" (scheme case-insensitive).
func bearer(v string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
		return "", false
	}
	return token, true
}

// CertSANs lists a certificate's subject alternative names that can
// identify a client: URIs (e.g. spiffe://corp/dispatch), then DNS names,
// then e-mail addresses.
func CertSANs(cert *x509.Certificate) []string {
	out := make([]string, 0, len(cert.URIs)+len(cert.DNSNames)+len(cert.EmailAddresses))
	for _, u := range cert.URIs {
		out = append(out, u.String())
	}
	out = append(out, cert.DNSNames...)
	return append(out, cert.EmailAddresses...)
}
