package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
)

func apiErr(code int, sub string) error {
	return &topclient.APIError{Method: top.MethodAssignWorker, Resp: top.ErrorResponse{Code: code, SubCode: sub, Msg: top.Message(code), RequestID: "rid"}}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		reason string
		retry  time.Duration
	}{
		{"nil", nil, codes.OK, "", 0},
		{"business 1008", &top.BusinessError{Method: top.MethodAssignWorker, Code: "1008"}, codes.NotFound, "TOP_BIZ_1008", 0},
		{"business 10006", &top.BusinessError{Method: top.MethodWorkerUpdate, Code: "10006"}, codes.NotFound, "TOP_BIZ_10006", 0},
		{"business 10007", &top.BusinessError{Method: top.MethodWorkerUpdate, Code: "10007"}, codes.AlreadyExists, "TOP_BIZ_10007", 0},
		{"business 11001", &top.BusinessError{Method: top.MethodWorkerUpdate, Code: "11001"}, codes.InvalidArgument, "TOP_BIZ_11001", 0},
		{"business unknown", &top.BusinessError{Method: top.MethodAssignWorker, Code: "4242"}, codes.Unknown, "TOP_BIZ_4242", 0},
		{"business no code", &top.BusinessError{Method: top.MethodAssignWorker}, codes.Unknown, "TOP_BIZ_UNKNOWN", 0},
		{"business retry", &top.BusinessError{Method: top.MethodBlacklistSync, Code: "500", Retry: true}, codes.Unavailable, "TOP_BIZ_500", 0},
		{"isv with 50", apiErr(50, "isv.invalid-parameter"), codes.InvalidArgument, "TOP_ISV_INVALID_PARAMETER", 0},
		{"isv with 15", apiErr(15, "isv.missing-parameter:worker"), codes.InvalidArgument, "TOP_ISV_MISSING_PARAMETER_WORKER", 0},
		{"isp", apiErr(15, "isp.top-remote-connection-timeout"), codes.Unavailable, "TOP_ISP_TOP_REMOTE_CONNECTION_TIMEOUT", 0},
		{"remote service error bare", apiErr(15, ""), codes.Unavailable, "TOP_CODE_15", 0},
		{"40", apiErr(40, ""), codes.InvalidArgument, "TOP_CODE_40", 0},
		{"41", apiErr(41, ""), codes.InvalidArgument, "TOP_CODE_41", 0},
		{"27 invalid session", apiErr(27, ""), codes.Unauthenticated, "TOP_CODE_27", 0},
		{"25 bad signature is our config", apiErr(25, ""), codes.Internal, "TOP_CODE_25", 0},
		{"22 invalid method is our bug", apiErr(22, ""), codes.Internal, "TOP_CODE_22", 0},
		{"11 permission", apiErr(11, ""), codes.PermissionDenied, "TOP_CODE_11", 0},
		{"7 quota without ban", apiErr(7, ""), codes.ResourceExhausted, "TOP_CODE_7", 0},
		{"10 unavailable", apiErr(10, ""), codes.Unavailable, "TOP_CODE_10", 0},
		{"unknown code", apiErr(777, ""), codes.Unknown, "TOP_CODE_777", 0},
		{"ban", &topclient.BanError{Method: top.MethodAssignWorker, RetryAfter: 42 * time.Second,
			Resp: &top.ErrorResponse{Code: 7, SubCode: top.SubCodeAppAccessCount, SubMsg: "This ban will last for 42 more seconds"}},
			codes.ResourceExhausted, "TOP_ACCESSCONTROL_LIMITED_BY_APP_ACCESS_COUNT", 42 * time.Second},
		{"ban without response", &topclient.BanError{Method: top.MethodAssignWorker, RetryAfter: time.Second}, codes.ResourceExhausted, ReasonTOPQuotaBanned, time.Second},
		{"transport", &topclient.TransportError{Method: top.MethodAssignWorker, StatusCode: 502}, codes.Unavailable, ReasonTOPUnavailable, 0},
		{"decode", &topclient.DecodeError{Method: top.MethodAssignWorker, Err: errors.New("bad")}, codes.Unavailable, ReasonTOPBadResponse, 0},
		{"wrapped", fmt.Errorf("assign: %w", apiErr(27, "")), codes.Unauthenticated, "TOP_CODE_27", 0},
		{"canceled", context.Canceled, codes.Canceled, "", 0},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "", 0},
		{"status passes through", status.Error(codes.InvalidArgument, "x"), codes.InvalidArgument, "", 0},
		{"unexpected", errors.New("boom 13812345678"), codes.Internal, "", 0},
		{"job not found", fmt.Errorf("x: %w", syncjob.ErrJobNotFound), codes.NotFound, ReasonJobNotFound, 0},
		{"job finished", syncjob.ErrJobFinished, codes.FailedPrecondition, ReasonJobFinished, 0},
		{"job not finished", fmt.Errorf("x: %w", syncjob.ErrJobNotFinished), codes.FailedPrecondition, ReasonJobNotFinished, 0},
		{"no failed chunks", syncjob.ErrNoFailedChunks, codes.FailedPrecondition, ReasonJobNoFailedChunks, 0},
		{"job cancelled", syncjob.ErrJobCancelled, codes.FailedPrecondition, ReasonJobCancelled, 0},
		{"jobs stopping", syncjob.ErrStopped, codes.Unavailable, ReasonShuttingDown, 0},
		{"no entries", syncjob.ErrNoEntries, codes.InvalidArgument, "", 0},
		{"bad page token", syncjob.ErrBadPageToken, codes.InvalidArgument, "", 0},
		{"bad spec", &syncjob.SpecError{Field: "supplier_id", Problem: "is required"}, codes.InvalidArgument, "", 0},
		{"store full", fmt.Errorf("import bj-1: %w", fmt.Errorf("%w: add import entries: database or disk is full (13)", syncjob.ErrFull)), codes.ResourceExhausted, ReasonStoreFull, 0},
		{"no valid entries", &syncjob.NoValidEntriesError{Rejected: 1, Rejections: []syncjob.Rejection{{Index: 0, Field: "mobile", Description: "bad"}}}, codes.InvalidArgument, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			st := status.Convert(Status(context.Background(), logger, tt.err))
			if st.Code() != tt.code {
				t.Fatalf("code = %v, want %v (%s)", st.Code(), tt.code, st.Message())
			}
			var infos []*errdetails.ErrorInfo
			var retry *errdetails.RetryInfo
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.ErrorInfo:
					infos = append(infos, d)
				case *errdetails.RetryInfo:
					retry = d
				}
			}
			switch {
			case tt.reason == "" && len(infos) != 0:
				t.Fatalf("unexpected ErrorInfo %v", infos)
			case tt.reason != "" && (len(infos) != 1 || infos[0].GetReason() != tt.reason || infos[0].GetDomain() != rpc.ErrorDomain):
				t.Fatalf("ErrorInfo %v, want one with reason %s", infos, tt.reason)
			}
			if tt.retry != 0 && (retry == nil || retry.GetRetryDelay().AsDuration() != tt.retry) {
				t.Fatalf("RetryInfo %v, want %v", retry, tt.retry)
			}
			if tt.retry == 0 && retry != nil {
				t.Fatalf("unexpected RetryInfo %v", retry)
			}
			if strings.Contains(st.Message()+logs.String(), "13812345678") {
				t.Fatalf("leak: %s %s", st.Message(), logs.String())
			}
			if tt.code == codes.Internal && tt.reason == "" && st.Message() != "internal error" {
				t.Fatalf("internal message %q", st.Message())
			}
		})
	}
}

// TestNoValidEntriesListsRejections: an import whose entries were all
// refused answers INVALID_ARGUMENT with one field violation per reported
// entry, naming its index and line.
func TestNoValidEntriesListsRejections(t *testing.T) {
	err := Status(context.Background(), slog.New(slog.DiscardHandler), &syncjob.NoValidEntriesError{Rejected: 5, Rejections: []syncjob.Rejection{
		{Index: 0, Line: 2, Field: "mobile", Description: "must be a mainland China mobile number"},
		{Index: 4, Field: "reason[1]", Description: "repeats a reason"},
	}})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "all 5 were rejected") {
		t.Fatalf("%v", err)
	}
	var got []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				got = append(got, v.GetField()+": "+v.GetDescription())
			}
		}
	}
	want := []string{"entries[0].mobile: must be a mainland China mobile number (line 2)", "entries[4].reason[1]: repeats a reason"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("violations %q, want %q", got, want)
	}
}

// TestStatusMetadata compares the whole status of every kind of TOP
// failure: code, message and ErrorInfo metadata, as callers read them.
func TestStatusMetadata(t *testing.T) {
	ban := &top.ErrorResponse{Code: 7, Msg: "App Call Limited", SubCode: top.SubCodeAppAccessCount,
		SubMsg: "This ban will last for 42 more seconds", RequestID: "rid-ban"}
	tests := []struct {
		name string
		err  error
		code codes.Code
		msg  string
		md   map[string]string
	}{
		{"business", &top.BusinessError{Method: top.MethodAssignWorker, Code: "1008", Message: "工单不存在 13812345678",
			DisplayMsg: "工单不存在", RequestID: "rid-biz"}, codes.NotFound,
			"tmall.servicecenter.workcard.assignworker: business failure 1008: 工单不存在 138****5678",
			map[string]string{"top_method": top.MethodAssignWorker, "top_biz_code": "1008", "top_msg": "工单不存在 138****5678",
				"top_display_msg": "工单不存在", "top_request_id": "rid-biz"}},
		{"business without code", &top.BusinessError{Method: top.MethodWorkerUpdate}, codes.Unknown,
			"tmall.servicecenter.worker.update: business failure",
			map[string]string{"top_method": top.MethodWorkerUpdate, "top_biz_code": ""}},
		{"platform", &topclient.APIError{Method: top.MethodWorkerTagList, HTTPStatus: 200, Attempts: 1, Resp: top.ErrorResponse{
			Code: 15, Msg: "Remote service error", SubCode: "isv.invalid-parameter", SubMsg: "mobile 13812345678", RequestID: "rid-api"}},
			codes.InvalidArgument,
			"top tmall.servicecenter.worker.taglist.get: top error 15 Remote service error (isv.invalid-parameter: mobile 138****5678) request_id=rid-api",
			map[string]string{"top_method": top.MethodWorkerTagList, "top_code": "15", "top_sub_code": "isv.invalid-parameter",
				"top_msg": "Remote service error", "top_sub_msg": "mobile 138****5678", "top_request_id": "rid-api"}},
		{"ban", &topclient.BanError{Method: top.MethodAssignWorker, RetryAfter: 41500 * time.Millisecond, Resp: ban},
			codes.ResourceExhausted,
			"top tmall.servicecenter.workcard.assignworker: quota ban (app) for 42s more: top error 7 App Call Limited (accesscontrol.limited-by-app-access-count: This ban will last for 42 more seconds)",
			map[string]string{"top_method": top.MethodAssignWorker, "retry_after_seconds": "42", "top_code": "7",
				"top_sub_code": top.SubCodeAppAccessCount, "top_msg": "App Call Limited",
				"top_sub_msg": "This ban will last for 42 more seconds", "top_request_id": "rid-ban"}},
		{"transport", &topclient.TransportError{Method: top.MethodBlacklistSync, StatusCode: 503, Attempts: 3},
			codes.Unavailable, "top taobao.logistics.express.user.blacklist.tms.sync: HTTP 503 Service Unavailable after 3 attempts",
			map[string]string{"top_method": top.MethodBlacklistSync, "http_status": "503"}},
		{"transport without response", &topclient.TransportError{Method: top.MethodBlacklistSync, Err: errors.New("connection refused")},
			codes.Unavailable, "top taobao.logistics.express.user.blacklist.tms.sync: no HTTP response: connection refused",
			map[string]string{"top_method": top.MethodBlacklistSync}},
		{"decode", &topclient.DecodeError{Method: top.MethodWorkerTagList, Err: errors.New("success: xxx is not a boolean")},
			codes.Unavailable, "top tmall.servicecenter.worker.taglist.get: decode response: success: xxx is not a boolean",
			map[string]string{"top_method": top.MethodWorkerTagList}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(Status(context.Background(), slog.New(slog.DiscardHandler), fmt.Errorf("handler: %w", tt.err)))
			if st.Code() != tt.code || st.Message() != tt.msg {
				t.Fatalf("status %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
			var md map[string]string
			for _, d := range st.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					md = info.GetMetadata()
				}
			}
			if fmt.Sprint(md) != fmt.Sprint(tt.md) {
				t.Fatalf("metadata\n got %v\nwant %v", md, tt.md)
			}
		})
	}
}

// TestEveryKindHasACode: every top.Kind maps to its own gRPC code, and
// only KindUnknown to UNKNOWN.
func TestEveryKindHasACode(t *testing.T) {
	seen := map[codes.Code]top.Kind{}
	for _, k := range top.Kinds() {
		c := CodeOf(k)
		if c == codes.OK || (c == codes.Unknown) != (k == top.KindUnknown) {
			t.Errorf("kind %v maps to %v", k, c)
		}
		if prev, dup := seen[c]; dup {
			t.Errorf("kinds %v and %v both map to %v", prev, k, c)
		}
		seen[c] = k
	}
}
