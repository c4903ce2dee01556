package server

import (
	"net/textproto"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/servicecenterd/servicecenterd/internal/auth"
)

// TestHeaderMatchers: the gateway's header matchers, which work keys
// out once, choose exactly what the plain rules (written out here)
// choose, for each header name.
func TestHeaderMatchers(t *testing.T) {
	t.Parallel()
	incoming := func(key string) (string, bool) {
		if k := strings.ToLower(key); forwardedHeaders[k] {
			return k, true
		}
		k, ok := runtime.DefaultHeaderMatcher(key)
		return k, ok && auth.ForwardableHeader(k)
	}
	outgoing := func(key string) (string, bool) {
		k := strings.ToLower(key)
		if forwardedHeaders[k] {
			return textproto.CanonicalMIMEHeaderKey(key), true
		}
		if k == "content-type" {
			return "", false
		}
		return runtime.MetadataHeaderPrefix + key, true
	}
	names := []string{
		"X-Request-Id", "x-request-id", "X-REQUEST-ID", "X-Top-Request-Id", "Idempotency-Key", "Idempotency-Replayed",
		"X-Request-Idd", "X-Request-I", "X-Requeſt-Id", "X-Request-İd", "X-\u212aey",
		"Content-Type", "content-type", "Content-Length", "Accept", "Accept-Encoding", "User-Agent", "Authorization",
		"Host", "Cookie", "Warning", "Via", "Te", "Connection", "Grpc-Metadata-X-Servicecenterd-Denied",
		"X-Servicecenterd-Verified-San", "Traceparent", "", "Ä", "x-custom",
	}
	for k := range forwardedHeaders {
		names = append(names, k, textproto.CanonicalMIMEHeaderKey(k), strings.ToUpper(k))
	}
	in, out := incomingHeaderMatcher(), outgoingHeaderMatcher()
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			wantKey, wantOK := incoming(name)
			gotKey, gotOK := in(name)
			// The metadata lower-cases keys (metadata.Pairs): the case of
			// a forwarded key does not reach gRPC.
			if gotOK != wantOK || (gotOK && strings.ToLower(gotKey) != strings.ToLower(wantKey)) {
				t.Errorf("incoming %q = %q, %v; want %q, %v", name, gotKey, gotOK, wantKey, wantOK)
			}
			wantKey, wantOK = outgoing(name)
			if gotKey, gotOK = out(name); gotKey != wantKey || gotOK != wantOK {
				t.Errorf("outgoing %q = %q, %v; want %q, %v", name, gotKey, gotOK, wantKey, wantOK)
			}
		})
	}
}
