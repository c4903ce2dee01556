package rpc

import (
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestErrorInfo(t *testing.T) {
	err := ErrorInfo(codes.NotFound, "job not found", "JOB_NOT_FOUND", map[string]string{"job_id": "bj-1"})
	st := status.Convert(err)
	if st.Code() != codes.NotFound || st.Message() != "job not found" || len(st.Details()) != 1 {
		t.Fatalf("status %v, details %v", st, st.Details())
	}
	info, ok := st.Details()[0].(*errdetails.ErrorInfo)
	if !ok || info.GetDomain() != ErrorDomain || info.GetReason() != "JOB_NOT_FOUND" || info.GetMetadata()["job_id"] != "bj-1" {
		t.Fatalf("detail %v", st.Details()[0])
	}
	if got := ErrorInfo(codes.Internal, "x", "R", nil); len(status.Convert(got).Details()) != 1 {
		t.Fatalf("nil metadata: %v", status.Convert(got).Details())
	}
}

func TestWithDetails(t *testing.T) {
	err := WithDetails(status.New(codes.ResourceExhausted, "slow down"), Info("RATE_LIMITED", nil), &errdetails.RetryInfo{RetryDelay: durationpb.New(2e9)})
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || len(st.Details()) != 2 {
		t.Fatalf("status %v, details %v", st, st.Details())
	}
	if ri, ok := st.Details()[1].(*errdetails.RetryInfo); !ok || ri.GetRetryDelay().AsDuration() != 2e9 {
		t.Fatalf("retry info %v", st.Details()[1])
	}
	// An OK status takes no details: the status alone (nil) comes back.
	if err := WithDetails(status.New(codes.OK, ""), Info("X", nil)); err != nil {
		t.Fatalf("OK with details: %v", err)
	}
}

func TestFieldViolations(t *testing.T) {
	err := FieldViolations(
		&errdetails.BadRequest_FieldViolation{Field: "mobile", Description: "must be a mainland mobile number"},
		&errdetails.BadRequest_FieldViolation{Field: "reason", Description: "must be 1 to 5"})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "invalid mobile: must be a mainland mobile number (and more)") {
		t.Fatalf("status %v", st)
	}
	br, ok := st.Details()[0].(*errdetails.BadRequest)
	if !ok || len(br.GetFieldViolations()) != 2 {
		t.Fatalf("details %v", st.Details())
	}
}
