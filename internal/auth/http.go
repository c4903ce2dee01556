package auth

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
)

// HTTPCredentials extracts an HTTP caller's credentials: the
// Authorization header and the SANs of its client certificate when the
// TLS layer verified one.
func HTTPCredentials(r *http.Request) Credentials {
	c := Credentials{Authorization: r.Header.Values("Authorization")}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		c.SANs = CertSANs(r.TLS.VerifiedChains[0][0])
	}
	return c
}

// HTTPHandler protects a plain HTTP endpoint named resource (e.g.
// "/http/metrics"): unless the resource is open, the caller must
// authenticate (bearer token or client certificate) and be allowed it.
// A denial answers 401 or 403 with a JSON google.rpc.Status body, as the
// REST gateway does.
func (a *Authenticator) HTTPHandler(resource string, logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, d := a.Authenticate(resource, HTTPCredentials(r))
		if d == nil {
			next.ServeHTTP(w, r)
			return
		}
		logDenial(r.Context(), logger, d, "", r.RemoteAddr)
		body, err := protojson.Marshal(d.GRPCStatus().Proto())
		if err != nil {
			body = []byte(`{"code":16}`)
		}
		w.Header().Set("Content-Type", "application/json")
		if r.ProtoMajor == 1 && r.ContentLength != 0 {
			// The body is not read: close the connection after the
			// answer, so that net/http does not read it first.
			w.Header().Set("Connection", "close")
		}
		code := http.StatusForbidden
		if d.Code == codes.Unauthenticated {
			code = http.StatusUnauthorized
			w.Header().Set("WWW-Authenticate", `Bearer realm="servicecenterd"`)
		}
		w.WriteHeader(code)
		_, _ = w.Write(body)
	})
}

// GatewayMetadata is the REST gateway's metadata annotator
// (runtime.WithMetadata): it passes the SANs of the HTTP caller's
// verified client certificate to gRPC as VerifiedSANHeader, which gRPC
// believes on the internal connection only.
func GatewayMetadata(_ context.Context, r *http.Request) metadata.MD {
	sans := HTTPCredentials(r).SANs
	if len(sans) == 0 {
		return nil
	}
	md := metadata.MD{}
	md.Append(VerifiedSANHeader, sans...)
	return md
}

// ForwardableHeader reports whether the REST gateway may forward a header
// that maps to the gRPC metadata key: never a key reserved for the
// gateway itself (x-servicecenterd-*), never a second authorization
// value (the gateway passes the Authorization header on its own).
func ForwardableHeader(metadataKey string) bool {
	k := strings.ToLower(metadataKey)
	return !strings.HasPrefix(k, reservedPrefix) && k != "authorization"
}
