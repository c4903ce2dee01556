package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/servicecenterd/servicecenterd/internal/auth"
)

// REST calls are authenticated before their body is read.
//
// Authentication and authorization are the gRPC server's (the gateway
// reaches it over the in-process hop, see internal/auth), but the gateway
// reads and decodes a body before it calls gRPC, so a caller without the
// right could make the server read up to --http-max-body-size. So the body
// of a gateway call is a gatewayBody, which reads nothing until the call is
// authorized: the gateway's metadata annotator (restAuth), which runs once
// the route has named the RPC and before the body is read, authenticates
// the caller with the same Authenticator and credentials (bearer token,
// verified client certificate) as gRPC will. An authorized call's body
// then reads, bounded; a refused call's body reads as empty, and the call
// goes on to gRPC without it, marked auth.GatewayDeniedHeader, so that the
// denial is answered, logged, counted and audited exactly as before. gRPC
// remains the authority: it checks every call again.

// restState is where a gatewayBody stands.
type restState int

const (
	// restPending: the call is not authorized yet; reading fails.
	restPending restState = iota
	// restAllowed: the body reads, up to the limit.
	restAllowed
	// restRefused: the caller was refused; the body reads as empty.
	restRefused
)

// gatewayBody is the body of a gateway call (see above). Only the request's
// goroutine uses it.
type gatewayBody struct {
	body  io.ReadCloser
	limit int64
	// contentLength is the request's Content-Length, -1 when unknown.
	contentLength int64
	// readTimeout names the deadline the body reads under
	// (--http-read-timeout), for the refusal of a body too slow.
	readTimeout string

	state restState
	// stream says the RPC is client-streaming (several JSON requests).
	stream bool
	n      int64
	eof    bool
	// err is the REST layer's refusal of the call when it could not read
	// or decode the body: the error handler answers it instead of the
	// gateway's flattened text.
	err error
}

// newGatewayBody wraps r's body; limit is --http-max-body-size.
func newGatewayBody(r *http.Request, limit int64, readTimeout string) *gatewayBody {
	return &gatewayBody{body: r.Body, limit: limit, contentLength: r.ContentLength, readTimeout: readTimeout}
}

// allow lets the body be read, for an RPC that takes a stream of
// requests (stream) or one. A body declared larger than the limit is
// refused now, before any of it is read.
func (b *gatewayBody) allow(stream bool) {
	b.state, b.stream = restAllowed, stream
	if b.contentLength > b.limit {
		b.err = b.tooLarge()
	}
}

// refuse makes the body read as empty: the call goes to gRPC without it.
func (b *gatewayBody) refuse() { b.state = restRefused }

func (b *gatewayBody) tooLarge() error {
	return tooLarge(fmt.Sprintf("request body larger than %d bytes (--http-max-body-size)", b.limit), b.limit, "--http-max-body-size")
}

// Read implements io.Reader.
func (b *gatewayBody) Read(p []byte) (int, error) {
	switch {
	case b.state == restPending:
		// Nothing may read a body before the call is authorized; if this
		// happens, it is our bug, and it fails closed.
		b.err = status.Error(codes.Internal, "the request body was read before the call was authorized")
		return 0, b.err
	case b.state == restRefused, b.eof:
		return 0, io.EOF
	case b.err != nil:
		return 0, b.err
	}
	if room := b.limit - b.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.body.Read(p)
	b.n += int64(n)
	switch {
	case b.n > b.limit:
		b.err = b.tooLarge()
		return 0, b.err
	case errors.Is(err, io.EOF):
		b.eof = true
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.err = tooSlow("the request body did not arrive within "+b.readTimeout+" (--http-read-timeout)", "--http-read-timeout")
		return n, b.err
	}
	return n, err
}

// Close implements io.Closer.
func (b *gatewayBody) Close() error { return b.body.Close() }

// drained reports whether the body was read to its end (or had none), so
// that the connection can serve another request.
func (b *gatewayBody) drained() bool { return b.eof || b.contentLength == 0 }

// gatewayBodies gives every request to h (the gateway) a gatewayBody,
// and closes an HTTP/1 connection after an answer given without reading
// the whole body (a refusal), so that net/http does not read the rest
// (up to 256 KiB) before answering.
func (s *Server) gatewayBodies(h http.Handler) http.Handler {
	limit := int64(s.cfg.HTTP.MaxBodySize)
	timeout := s.cfg.HTTP.ReadTimeout.String()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := newGatewayBody(r, limit, timeout)
		r.Body = b
		if r.ProtoMajor != 1 {
			h.ServeHTTP(w, r) // HTTP/2 resets an unread body's stream; no wait
			return
		}
		h.ServeHTTP(&closingWriter{ResponseWriter: w, body: b}, r)
	})
}

// closingWriter sets Connection: close on an answer written before the
// body was read to its end.
type closingWriter struct {
	http.ResponseWriter
	body  *gatewayBody
	wrote bool
}

// WriteHeader implements http.ResponseWriter.
func (w *closingWriter) WriteHeader(code int) {
	if !w.wrote && !w.body.drained() {
		w.Header().Set("Connection", "close")
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *closingWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *closingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// restAuth is the gateway's metadata annotator: it authenticates and
// authorizes the call before its body is read (see above) and passes the
// SANs of the caller's verified client certificate to gRPC
// (auth.GatewayMetadata).
func (s *Server) restAuth(ctx context.Context, r *http.Request) metadata.MD {
	md := auth.GatewayMetadata(ctx, r)
	b, ok := r.Body.(*gatewayBody)
	method, known := runtime.RPCMethod(ctx)
	if !ok || !known {
		return md // the body stays unreadable
	}
	if _, d := s.authn.Authenticate(method, auth.HTTPCredentials(r)); d != nil {
		b.refuse()
		return metadata.Join(md, metadata.Pairs(auth.GatewayDeniedHeader, d.Reason))
	}
	b.allow(s.clientStreams[method])
	return md
}

// clientStreamingMethods lists the full methods ("/pkg.Service/Method")
// of the linked protos that take a stream of requests, looked up once
// instead of in the registry on every call.
func clientStreamingMethods() map[string]bool {
	out := map[string]bool{}
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			for j := range svc.Methods().Len() {
				if m := svc.Methods().Get(j); m.IsStreamingClient() {
					out["/"+string(svc.FullName())+"/"+string(m.Name())] = true
				}
			}
		}
		return true
	})
	return out
}
