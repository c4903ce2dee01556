package server

import (
	"context"
	"errors"
	"net/http"

	gwruntime "github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/servicecenterd/servicecenterd/internal/service"
)

// gatewayErrorHandler is the REST gateway's error handler: grpc-gateway's
// own, except that a full store (RESOURCE_EXHAUSTED with ErrorInfo reason
// STORE_FULL) answers 507 Insufficient Storage instead of 429 Too Many
// Requests, which HTTP clients take as "slow down and retry": retrying
// does not help until an operator frees space in --data-dir.
func gatewayErrorHandler(ctx context.Context, mux *gwruntime.ServeMux, m gwruntime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	var already *gwruntime.HTTPStatusError
	if !errors.As(err, &already) && storeFull(err) {
		err = &gwruntime.HTTPStatusError{HTTPStatus: http.StatusInsufficientStorage, Err: err}
	}
	gwruntime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// storeFull reports whether err is the status of a full store.
func storeFull(err error) bool {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == service.ErrorDomain && info.GetReason() == service.ReasonStoreFull {
			return true
		}
	}
	return false
}
