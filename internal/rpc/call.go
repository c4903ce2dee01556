// Package rpc is what every part of servicecenterd's gRPC path shares about
// one call: the *Call carried in its context (method, client, servicecenterd's
// and TOP's request ids), the header names that carry those ids, and the
// status helpers behind the error details callers rely on: servicecenterd's
// one ErrorInfo domain (ErrorDomain, ErrorInfo) and BadRequest field
// violations (FieldViolations).
package rpc

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
