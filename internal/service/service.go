// Package service implements servicecenterd's gRPC services. Each handler
// does the same steps: the request has already been validated by the
// protovalidate interceptor; the handler maps it to a typed TOP request,
// calls TOP with call (call.go: the call, its business result, TOP's
// request id), and maps the answer back. Every failure leaves through one
// function, Status (errors.go).
package service

import (
	"context"
	"log/slog"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Deps are the handlers' dependencies.
type Deps struct {
	// TOP sends the TOP calls (internal/topclient's Client).
	TOP top.Invoker
	// Logger logs unexpected errors.
	Logger *slog.Logger
	// BlacklistJobs runs the bulk blacklist sync jobs; nil disables their
	// RPCs (UNIMPLEMENTED).
	BlacklistJobs *syncjob.Manager
}

// handlers holds what every service's handlers share.
type handlers struct {
	top    top.Invoker
	logger *slog.Logger
}

func newHandlers(d Deps) handlers {
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return handlers{top: d.TOP, logger: logger}
}

// fail records TOP's request_id when err carries one, then maps err to
// the caller's status (see Status). Handlers use it directly only for
// errors before a TOP call; call uses it for the rest.
func (h handlers) fail(ctx context.Context, err error) error {
	noteTOPRequestID(ctx, topRequestID(err))
	return Status(ctx, h.logger, err)
}

// noteTOPRequestID records TOP's request_id in the Call, for the log line,
// the audit trail and the caller's x-top-request-id header.
func noteTOPRequestID(ctx context.Context, id string) {
	if id == "" {
		return
	}
	rpc.CallFrom(ctx).TOPRequestID = id
}
