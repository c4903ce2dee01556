package auth

import (
	"context"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// UnaryInterceptor authenticates and authorizes every call before the
// handler (and before request validation, so an unauthenticated caller
// learns nothing about the API), and records the client's name in the
// call (rpc.Call.Client) for logging, rate limiting and audit.
// A denial is UNAUTHENTICATED or PERMISSION_DENIED with an ErrorInfo and
// is logged with the client's name.
func (a *Authenticator) UnaryInterceptor(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := a.checkGRPC(ctx, logger, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor is UnaryInterceptor for streams.
func (a *Authenticator) StreamInterceptor(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := a.checkGRPC(ss.Context(), logger, info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

// checkGRPC authenticates and authorizes a call of method. It reads the
// caller's peer once, and its credentials only when the call needs them
// (Authenticator.exempt; the certificate's SANs only without a token): on
// a server without authentication a call costs no metadata lookups but
// the gateway's marker's.
func (a *Authenticator) checkGRPC(ctx context.Context, logger *slog.Logger, method string) error {
	p, _ := peer.FromContext(ctx)
	id, exempt := a.exempt(method)
	var d *Denial
	if !exempt {
		// A bearer token, when there is one, decides the identity
		// (authenticate): the SANs are read only without one.
		c := Credentials{Authorization: authorization(ctx)}
		if len(c.Authorization) == 0 {
			c.SANs = grpcSANs(ctx, p)
		}
		id, d = a.authenticate(method, c)
	}
	if d == nil {
		d = deniedAtGateway(ctx, p, method, id)
	}
	call := rpc.CallFrom(ctx)
	if d != nil {
		call.Client = d.Client
		logDenial(ctx, logger, d, call.RequestID, peerAddress(ctx, p))
		return d.GRPCStatus().Err()
	}
	call.Client = id.Client
	call.Authorized = true
	return nil
}

// deniedAtGateway is the denial of a REST call the HTTP layer refused
// (GatewayDeniedHeader) that the current policy would allow: the clients
// file changed between the two checks. The call came without its body, so
// it must not go on; the caller may retry. p is the call's peer (nil
// without one).
func deniedAtGateway(ctx context.Context, p *peer.Peer, method string, id Identity) *Denial {
	if p == nil {
		return nil
	}
	if _, internal := p.AuthInfo.(InternalAuthInfo); !internal {
		return nil
	}
	reasons := metadata.ValueFromIncomingContext(ctx, GatewayDeniedHeader)
	if len(reasons) == 0 {
		return nil
	}
	code := codes.Unauthenticated
	if reasons[0] == ReasonRPCNotAllowed {
		code = codes.PermissionDenied
	}
	return &Denial{Code: code, Reason: reasons[0], Client: id.Client, Method: method,
		Message: "credentials refused when the request arrived; the clients file has changed since: retry",
		Detail:  "denied by the REST layer before its body was read, allowed by the policy now"}
}

// GRPCCredentials extracts a gRPC caller's credentials: the authorization
// metadata and the SANs of its verified client certificate, taken from
// the TLS connection or, on the REST gateway's internal connection only,
// from VerifiedSANHeader.
func GRPCCredentials(ctx context.Context) Credentials {
	p, _ := peer.FromContext(ctx)
	return Credentials{Authorization: authorization(ctx), SANs: grpcSANs(ctx, p)}
}

// authorization is a call's authorization metadata.
func authorization(ctx context.Context) []string {
	// ValueFromIncomingContext reads one key without copying the whole
	// metadata, as FromIncomingContext does on every call.
	return metadata.ValueFromIncomingContext(ctx, "authorization")
}

// grpcSANs are the SANs of the verified client certificate of a call from
// peer p (nil without one): from its TLS connection, or on the gateway's
// internal connection from VerifiedSANHeader.
func grpcSANs(ctx context.Context, p *peer.Peer) []string {
	if p == nil {
		return nil
	}
	switch ai := p.AuthInfo.(type) {
	case InternalAuthInfo:
		return metadata.ValueFromIncomingContext(ctx, VerifiedSANHeader)
	case credentials.TLSInfo:
		if chains := ai.State.VerifiedChains; len(chains) > 0 && len(chains[0]) > 0 {
			return CertSANs(chains[0][0])
		}
	}
	return nil
}

// peerAddress is the caller's address for logs: the TCP peer p, or for a
// REST call the HTTP client's address, which the gateway appends last to
// x-forwarded-for.
func peerAddress(ctx context.Context, p *peer.Peer) string {
	if p == nil || p.Addr == nil {
		return ""
	}
	if _, internal := p.AuthInfo.(InternalAuthInfo); internal {
		md, _ := metadata.FromIncomingContext(ctx)
		if xff := md.Get("x-forwarded-for"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			return "rest:" + strings.TrimSpace(parts[len(parts)-1])
		}
	}
	return p.Addr.String()
}

func logDenial(ctx context.Context, logger *slog.Logger, d *Denial, requestID, peerAddr string) {
	attrs := []slog.Attr{
		slog.String("method", d.Method),
		slog.String("code", d.Code.String()),
		slog.String("reason", d.Reason),
		slog.String("client", d.Client),
	}
	if requestID != "" {
		attrs = append(attrs, slog.String("request_id", requestID))
	}
	if peerAddr != "" {
		attrs = append(attrs, slog.String("peer", peerAddr))
	}
	if d.Detail != "" {
		attrs = append(attrs, slog.String("detail", d.Detail))
	}
	logger.LogAttrs(ctx, slog.LevelWarn, "access denied", attrs...)
}
