// Package service implements servicecenterd's gRPC services. Each handler
// does the same four steps: the request has already been validated by the
// protovalidate interceptor; the handler maps it to a typed TOP request,
// calls TOP through the client, and maps the answer back. Every failure
// leaves through one function, Status (errors.go).
package service

import (
	"context"
	"log/slog"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// TOP is what the handlers need from the TOP client (internal/topclient
// implements it).
type TOP interface {
	AssignWorker(ctx context.Context, r *top.AssignWorkerRequest) (*top.AssignWorkerResponse, error)
	UpdateWorker(ctx context.Context, r *top.WorkerUpdateRequest) (*top.WorkerUpdateResponse, error)
	GetWorkerTags(ctx context.Context, r *top.TagListGetRequest) (*top.TagListGetResponse, error)
	BindVirtualPhone(ctx context.Context, r *top.VirtualPhoneBindRequest) (*top.VirtualPhoneBindResponse, error)
	SyncBlacklist(ctx context.Context, r *top.BlacklistSyncRequest) (*top.BlacklistSyncResponse, error)
}

// Deps are the handlers' dependencies.
type Deps struct {
	// TOP is the TOP client.
	TOP TOP
	// Logger logs unexpected errors.
	Logger *slog.Logger
	// BlacklistJobs runs the bulk blacklist sync jobs; nil disables their
	// RPCs (UNIMPLEMENTED).
	BlacklistJobs *syncjob.Manager
}

// handlers holds what every service's handlers share.
type handlers struct {
	top    TOP
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
// the caller's status (see Status).
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
