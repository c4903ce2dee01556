package service

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
)

// Reasons of ErrorInfo that do not come from a TOP code.
const (
	// ReasonTOPUnavailable: TOP could not be reached, or answered with a
	// non-200 status or a body that is not JSON.
	ReasonTOPUnavailable = "TOP_UNAVAILABLE"
	// ReasonTOPBadResponse: TOP's answer did not fit the method's response.
	ReasonTOPBadResponse = "TOP_BAD_RESPONSE"
	// ReasonTOPQuotaBanned: a quota ban is in force; see RetryInfo.
	ReasonTOPQuotaBanned = "TOP_QUOTA_BANNED"
)

// businessCodes maps TOP business codes (result.msg_code, error_code, the
// blacklist sync's code) to gRPC codes. The API documents give 1008 and
// worker.update's 100000-20001; 1009-1013 and 9999 are the embedded
// emulator's, the best knowledge we have of TOP's undocumented ones.
var businessCodes = map[string]codes.Code{
	top.MsgCodeWorkcardNotFound: codes.NotFound,           // 工单不存在
	"1009":                      codes.NotFound,           // 工人不存在 (emulator)
	"1010":                      codes.FailedPrecondition, // 工人已被列入黑名单 (emulator)
	"1011":                      codes.FailedPrecondition, // 工单不属于该网点 (emulator)
	"1012":                      codes.InvalidArgument,    // 工人信息不一致 (emulator)
	"1013":                      codes.NotFound,           // 核销单不存在 (emulator)
	"9999":                      codes.Unavailable,        // 系统繁忙 (emulator)
	"100000":                    codes.Unavailable,        // 系统错误
	"100001":                    codes.InvalidArgument,    // 工人信息校验失败
	"100002":                    codes.PermissionDenied,   // 用户校验失败
	"10004":                     codes.InvalidArgument,    // 工人信息为空
	"10005":                     codes.InvalidArgument,    // 服务商id为空或者服务商名称为空
	"10006":                     codes.NotFound,           // 工人不存在
	"10007":                     codes.AlreadyExists,      // 工人已存在
	"10008":                     codes.InvalidArgument,    // 缺少工人姓名
	"10009":                     codes.InvalidArgument,    // 缺少工人电话
	"10010":                     codes.NotFound,           // 网点不存在
	"11000":                     codes.InvalidArgument,    // category_id 无效
	"11001":                     codes.InvalidArgument,    // biz_type 无效
	"400":                       codes.InvalidArgument,    // blacklist sync PARAM_ERROR (emulator)
	"409":                       codes.AlreadyExists,      // blacklist sync REQUEST_ID_CONFLICT (emulator)
}

// Status turns any handler error into the gRPC status the caller sees:
// TOP errors and business failures get exactly one google.rpc.ErrorInfo
// (domain servicecenterd, a stable reason from TOP's code, metadata with
// TOP's code, sub_code, messages and request_id), quota bans a
// google.rpc.RetryInfo, context errors their own codes. An error this
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
	var (
		apiErr       *topclient.APIError
		banErr       *topclient.BanError
		transportErr *topclient.TransportError
		decodeErr    *topclient.DecodeError
		bizErr       *top.BusinessError
	)
	switch {
	case errors.As(err, &bizErr):
		code, ok := businessCodes[bizErr.Code]
		if !ok {
			code = codes.Unknown
		}
		if bizErr.Retry {
			code = codes.Unavailable
		}
		md := map[string]string{"top_method": bizErr.Method, "top_biz_code": bizErr.Code}
		putMasked(md, "top_msg", bizErr.Message)
		putMasked(md, "top_display_msg", bizErr.DisplayMsg)
		put(md, "top_request_id", bizErr.RequestID)
		return withInfo(code, bizErr.Error(), "TOP_BIZ_"+reasonPart(orUnknown(bizErr.Code)), md)
	case errors.As(err, &banErr):
		md := map[string]string{"top_method": banErr.Method, "retry_after_seconds": strconv.FormatInt(int64(banErr.RetryAfter.Seconds()+0.999), 10)}
		reason := ReasonTOPQuotaBanned
		if banErr.Resp != nil {
			reason = apiReason(banErr.Resp)
			addResp(md, banErr.Resp)
		}
		st := status.New(codes.ResourceExhausted, banErr.Error())
		return attach(st, info(reason, md), &errdetails.RetryInfo{RetryDelay: durationpb.New(banErr.RetryAfter)})
	case errors.As(err, &apiErr):
		md := map[string]string{"top_method": apiErr.Method}
		addResp(md, &apiErr.Resp)
		return withInfo(apiCode(&apiErr.Resp), apiErr.Error(), apiReason(&apiErr.Resp), md)
	case errors.As(err, &transportErr):
		md := map[string]string{"top_method": transportErr.Method}
		if transportErr.StatusCode != 0 {
			md["http_status"] = strconv.Itoa(transportErr.StatusCode)
		}
		return withInfo(codes.Unavailable, transportErr.Error(), ReasonTOPUnavailable, md)
	case errors.As(err, &decodeErr):
		return withInfo(codes.Unavailable, decodeErr.Error(), ReasonTOPBadResponse, map[string]string{"top_method": decodeErr.Method})
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded while calling TOP")
	}
	logger.ErrorContext(ctx, "unexpected handler error", slog.String("error", redact.Text(err.Error())))
	return status.Error(codes.Internal, "internal error")
}

// topRequestID is TOP's request_id carried by err, if any.
func topRequestID(err error) string {
	var (
		apiErr *topclient.APIError
		banErr *topclient.BanError
		bizErr *top.BusinessError
	)
	switch {
	case errors.As(err, &bizErr):
		return bizErr.RequestID
	case errors.As(err, &apiErr):
		return apiErr.Resp.RequestID
	case errors.As(err, &banErr) && banErr.Resp != nil:
		return banErr.Resp.RequestID
	}
	return ""
}

// apiCode maps TOP's error_response to a gRPC code, by class (sub_code
// first, then code), as the product's error table says.
func apiCode(r *top.ErrorResponse) codes.Code {
	switch r.Class() {
	case top.ClassCaller:
		switch r.Code {
		case top.CodeMissingRequiredArguments, top.CodeInvalidArguments, top.CodeParameterError,
			top.CodeRemoteServiceError, top.CodeRemoteServiceErrorDoc:
			return codes.InvalidArgument
		}
		if strings.HasPrefix(r.SubCode, top.SubCodePrefixCaller) {
			return codes.InvalidArgument
		}
		// 9, 21-23, 30-34, 42: servicecenterd built a request TOP refuses.
		return codes.Internal
	case top.ClassAuth:
		if r.Code == top.CodeMissingSession || r.Code == top.CodeInvalidSession {
			return codes.Unauthenticated
		}
		// A bad app key or signature is servicecenterd's configuration.
		return codes.Internal
	case top.ClassPermission:
		return codes.PermissionDenied
	case top.ClassQuota:
		return codes.ResourceExhausted
	case top.ClassPlatform:
		return codes.Unavailable
	}
	return codes.Unknown
}

// apiReason is TOP_ plus the sub_code (TOP_ISV_INVALID_PARAMETER) or, when
// there is none, TOP_CODE_ plus the code (TOP_CODE_7).
func apiReason(r *top.ErrorResponse) string {
	if r.SubCode != "" {
		return "TOP_" + reasonPart(r.SubCode)
	}
	return "TOP_CODE_" + strconv.Itoa(r.Code)
}

func addResp(md map[string]string, r *top.ErrorResponse) {
	md["top_code"] = strconv.Itoa(r.Code)
	put(md, "top_sub_code", r.SubCode)
	putMasked(md, "top_msg", r.Msg)
	putMasked(md, "top_sub_msg", r.SubMsg)
	put(md, "top_request_id", r.RequestID)
}

// reasonPart turns a TOP code into an ErrorInfo reason part: upper case,
// runs of other characters as one underscore, at most 50 characters.
func reasonPart(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToUpper(s) {
		if ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	out := strings.TrimRight(b.String(), "_")
	if len(out) > 50 {
		out = strings.TrimRight(out[:50], "_")
	}
	if out == "" {
		return "UNKNOWN"
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "UNKNOWN"
	}
	return s
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
