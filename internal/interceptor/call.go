// Package interceptor holds servicecenterd's gRPC server interceptors:
// request id, logging, panic recovery, the per-client rate limit, the
// default deadline and validation. The server chains them with metrics,
// audit, authentication and the codec's decode claim and refusal
// (internal/server/security.go): decode claim -> metrics -> request id ->
// logging -> audit -> recovery -> authentication -> rate limit -> default
// deadline -> decode refusal -> validation (recovery sits inside logging
// so a panicking call is still logged, with its request id, as
// INTERNAL). Each RPC carries a *Call in its context that authentication
// (the client's name) and handlers (TOP's request id) annotate and the
// logging and audit interceptors report.
package interceptor

import "context"

// Call is what servicecenterd knows about one RPC while it runs. The
// request id interceptor creates it; handlers and later interceptors fill
// in fields; the logging interceptor reports it. Only the RPC's own
// goroutine touches it.
type Call struct {
	// Method is the full gRPC method, e.g. /servicecenter.v1.WorkerService/GetWorkerTags.
	Method string
	// RequestID is servicecenterd's id for the call (x-request-id).
	RequestID string
	// Client names the authenticated caller, when there is one.
	Client string
	// Authorized is set by authentication when the call passed it and
	// authorization (always, on a server without authentication). Audit
	// lists the entries of a call only when it is set.
	Authorized bool
	// TOPRequestID is TOP's request_id of the upstream call, when one was made.
	TOPRequestID string
}

type callKey struct{}

// WithCall returns ctx carrying c.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// CallFrom returns the call in ctx, or a throwaway one so that callers
// never need a nil check.
func CallFrom(ctx context.Context) *Call {
	if c, ok := ctx.Value(callKey{}).(*Call); ok {
		return c
	}
	return &Call{}
}
