package rpc

import (
	"errors"
	"fmt"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

// ErrorDomain is the domain of every google.rpc.ErrorInfo servicecenterd
// returns, whichever layer refuses the call.
const ErrorDomain = "servicecenterd"

// Info is a google.rpc.ErrorInfo of ErrorDomain.
func Info(reason string, md map[string]string) *errdetails.ErrorInfo {
	return &errdetails.ErrorInfo{Domain: ErrorDomain, Reason: reason, Metadata: md}
}

// ErrorInfo is a status error of code and msg with one ErrorInfo of
// ErrorDomain (reason, md).
func ErrorInfo(code codes.Code, msg, reason string, md map[string]string) error {
	return WithDetails(status.New(code, msg), Info(reason, md))
}

// WithDetails is st's error with details attached; st's error alone if
// they cannot be attached (a detail that does not marshal).
func WithDetails(st *status.Status, details ...protoadapt.MessageV1) error {
	with, err := st.WithDetails(details...)
	if err != nil {
		return st.Err()
	}
	return with.Err()
}

// MaxFieldViolations bounds the field violations of one answer; the
// message counts the ones left out. A request whose every list item is
// wrong gets the first ones, not a trailer of megabytes.
const MaxFieldViolations = 100

// ValidationStatus converts a protovalidate error into INVALID_ARGUMENT
// with BadRequest field violations (at most MaxFieldViolations). Other
// errors (a rule that failed to compile or evaluate) are INTERNAL: they
// are our bug, not the caller's.
func ValidationStatus(err error) error {
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return status.Error(codes.Internal, "request validation failed to run")
	}
	br := &errdetails.BadRequest{}
	violations := verr.Violations
	if len(violations) > MaxFieldViolations {
		violations = violations[:MaxFieldViolations]
	}
	for _, v := range violations {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       protovalidate.FieldPathString(v.Proto.GetField()),
			Description: v.Proto.GetMessage(),
			Reason:      v.Proto.GetRuleId(),
		})
	}
	return fieldViolations(len(verr.Violations)-len(violations), br.FieldViolations...)
}

// FieldViolations builds INVALID_ARGUMENT with a BadRequest detail; the
// message names the first field so that plain-text clients see it too.
func FieldViolations(violations ...*errdetails.BadRequest_FieldViolation) error {
	return fieldViolations(0, violations...)
}

// fieldViolations is FieldViolations when omitted more violations were
// left out of the detail.
func fieldViolations(omitted int, violations ...*errdetails.BadRequest_FieldViolation) error {
	msg := "invalid request"
	if len(violations) > 0 {
		msg = "invalid " + violations[0].GetField() + ": " + violations[0].GetDescription()
		switch {
		case omitted > 0:
			msg += fmt.Sprintf(" (and %d more, %d of them not listed)", len(violations)-1+omitted, omitted)
		case len(violations) > 1:
			msg += " (and more)"
		}
	}
	return WithDetails(status.New(codes.InvalidArgument, msg), &errdetails.BadRequest{FieldViolations: violations})
}
