package service

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Reasons of ErrorInfo that do not come from a TOP code (top's Reason
// constants).
const (
	// ReasonTOPUnavailable: TOP could not be reached, or answered with a
	// non-200 status or a body that is not JSON.
	ReasonTOPUnavailable = top.ReasonUnavailable
	// ReasonTOPBadResponse: TOP's answer did not fit the method's response.
	ReasonTOPBadResponse = top.ReasonBadResponse
	// ReasonTOPQuotaBanned: a quota ban is in force; see RetryInfo.
	ReasonTOPQuotaBanned = top.ReasonQuotaBanned
)

// kindCodes maps top's failure kinds to gRPC codes (docs/top-protocol.md §7).
var kindCodes = [...]codes.Code{
	top.KindUnknown:      codes.Unknown,
	top.KindInvalid:      codes.InvalidArgument,
	top.KindNotFound:     codes.NotFound,
	top.KindExists:       codes.AlreadyExists,
	top.KindPrecondition: codes.FailedPrecondition,
	top.KindSession:      codes.Unauthenticated,
	top.KindConfig:       codes.Internal,
	top.KindPermission:   codes.PermissionDenied,
	top.KindQuota:        codes.ResourceExhausted,
	top.KindUnavailable:  codes.Unavailable,
}

// CodeOf is the gRPC code of a TOP failure of kind k.
func CodeOf(k top.Kind) codes.Code {
	if k >= 0 && int(k) < len(kindCodes) {
		return kindCodes[k]
	}
	return codes.Unknown
}

// Status turns any handler error into the gRPC status the caller sees:
// TOP errors and business failures (top.FailureOf) get exactly one
// google.rpc.ErrorInfo (domain servicecenterd, the failure's stable reason,
// metadata with TOP's code, sub_code, messages and request_id), quota bans
// a google.rpc.RetryInfo, context errors their own codes. An error this
// function does not know is logged and becomes INTERNAL with no details.
// Messages never carry unmasked phone or identity numbers.
func Status(ctx context.Context, logger *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if st, ok := jobStatus(err); ok {
		if errors.Is(err, syncjob.ErrFull) {
			logger.ErrorContext(ctx, "store full: free space in --data-dir", slog.String("error", redact.Text(err.Error())))
		}
		return st
	}
	if f, ok := top.FailureOf(err); ok {
		return failureStatus(f)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded while calling TOP")
	}
	logger.ErrorContext(ctx, "unexpected handler error", slog.String("error", redact.Text(err.Error())))
	return status.Error(codes.Internal, "internal error")
}

// failureStatus is the status of a TOP failure: its Kind's code, the
// failing error's message, one ErrorInfo, and a RetryInfo during a ban.
func failureStatus(f top.Failure) error {
	md := map[string]string{"top_method": f.Method}
	if b := f.Business; b != nil {
		md["top_biz_code"] = b.Code
		putMasked(md, "top_msg", b.Message)
		putMasked(md, "top_display_msg", b.DisplayMsg)
	}
	if r := f.Platform; r != nil {
		md["top_code"] = strconv.Itoa(r.Code)
		put(md, "top_sub_code", r.SubCode)
		putMasked(md, "top_msg", r.Msg)
		putMasked(md, "top_sub_msg", r.SubMsg)
	}
	if f.HTTPStatus != 0 {
		md["http_status"] = strconv.Itoa(f.HTTPStatus)
	}
	put(md, "top_request_id", f.RequestID)
	st := status.New(CodeOf(f.Kind), f.Err.Error())
	if f.Repeat != top.RepeatAfterBan {
		return attach(st, info(f.Reason, md))
	}
	md["retry_after_seconds"] = strconv.FormatInt(int64(f.RetryAfter.Seconds()+0.999), 10)
	return attach(st, info(f.Reason, md), &errdetails.RetryInfo{RetryDelay: durationpb.New(f.RetryAfter)})
}

// topRequestID is TOP's request_id carried by err, if any.
func topRequestID(err error) string {
	f, _ := top.FailureOf(err)
	return f.RequestID
}

func put(md map[string]string, k, v string) {
	if v != "" {
		md[k] = v
	}
}

func putMasked(md map[string]string, k, v string) { put(md, k, redact.Text(v)) }

func info(reason string, md map[string]string) *errdetails.ErrorInfo {
	return &errdetails.ErrorInfo{Domain: rpc.ErrorDomain, Reason: reason, Metadata: md}
}

func withInfo(code codes.Code, msg, reason string, md map[string]string) error {
	return attach(status.New(code, msg), info(reason, md))
}

func attach(st *status.Status, details ...protoadapt.MessageV1) error {
	with, err := st.WithDetails(details...)
	if err != nil {
		return st.Err()
	}
	return with.Err()
}
