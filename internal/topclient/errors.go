package topclient

import (
	"net/http"
	"strconv"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Outcome is how a call ended, as reported to the Observer.
type Outcome string

// The outcomes of a call.
const (
	// OutcomeOK is a success envelope (a business failure, result.success
	// false, is still OutcomeOK at this layer).
	OutcomeOK Outcome = "ok"
	// OutcomeAPIError is TOP's error_response (see APIError).
	OutcomeAPIError Outcome = "api_error"
	// OutcomeTransportError is a failed exchange: no answer, a non-200
	// status, a body that is not JSON or too large (see TransportError).
	OutcomeTransportError Outcome = "transport_error"
	// OutcomeDecodeError is a JSON answer that does not fit the response
	// type (see DecodeError).
	OutcomeDecodeError Outcome = "decode_error"
	// OutcomeBanned is a call refused because of a quota ban (see BanError).
	OutcomeBanned Outcome = "banned"
	// OutcomeCanceled is a call stopped by its context.
	OutcomeCanceled Outcome = "canceled"
)

// CallInfo describes one finished call for the Observer. It carries no
// parameter values, so it is safe to log.
type CallInfo struct {
	// Method is the TOP method.
	Method string
	// Duration is the call's wall time, retries and waits included.
	Duration time.Duration
	// Outcome is how the call ended.
	Outcome Outcome
	// Kind says who must act on TOP's error (api_error and banned
	// outcomes; see top.KindOf).
	Kind top.Kind
	// Code and SubCode are TOP's error code and sub_code, if any.
	Code    int
	SubCode string
	// RequestID is TOP's request_id, when the gateway sent one.
	RequestID string
	// Attempts is how many times the call was sent (0 when it was refused
	// before sending, as for a ban); retries are Attempts-1.
	Attempts int
	// HTTPStatus is the last response's status code, 0 when none came.
	HTTPStatus int
	// QuotaWait is the time spent waiting for the rate limiter.
	QuotaWait time.Duration
}

// APIError is TOP's error_response: the gateway answered and refused the
// call. Its message masks phone and identity numbers TOP echoes.
type APIError struct {
	// Method is the TOP method.
	Method string
	// Resp is TOP's error: code, msg, sub_code, sub_msg, request_id.
	Resp top.ErrorResponse
	// HTTPStatus is the HTTP status of the answer (normally 200).
	HTTPStatus int
	// Attempts is how many times the call was sent.
	Attempts int
}

// TOPFailure implements top.Failer: TOP's error_response classified by
// sub_code, then code (top.PlatformFailure).
func (e *APIError) TOPFailure() top.Failure {
	f := top.PlatformFailure(e.Method, &e.Resp)
	f.Err = e
	return f
}

// Error implements error.
func (e *APIError) Error() string {
	s := "top " + e.Method + ": " + e.Resp.Error()
	if e.Resp.RequestID != "" {
		s += " request_id=" + redact.Text(e.Resp.RequestID)
	}
	if e.Attempts > 1 {
		s += " after " + strconv.Itoa(e.Attempts) + " attempts"
	}
	return s
}

// BanError is a call refused because TOP banned the app (or one of its
// APIs) for exceeding a quota. The client refuses every call the ban
// covers, without contacting TOP, until Until.
type BanError struct {
	// Method is the refused call's method.
	Method string
	// Scope says whether the ban covers the whole app or one API.
	Scope top.BanScope
	// RetryAfter is how long the ban still lasts.
	RetryAfter time.Duration
	// Until is when the ban ends.
	Until time.Time
	// Resp is the TOP error that started the ban.
	Resp *top.ErrorResponse
}

// TOPFailure implements top.Failer: always top.KindQuota and
// top.RepeatAfterBan, with the reason of the error that started the ban.
func (e *BanError) TOPFailure() top.Failure {
	f := top.Failure{Kind: top.KindQuota, Repeat: top.RepeatAfterBan, RetryAfter: e.RetryAfter,
		Reason: top.ReasonQuotaBanned, Method: e.Method, Platform: e.Resp, Err: e}
	if e.Resp != nil {
		f.Reason, f.RequestID = top.PlatformReason(e.Resp.Code, e.Resp.SubCode), e.Resp.RequestID
	}
	return f
}

// Error implements error.
func (e *BanError) Error() string {
	scope := "app"
	if e.Scope == top.BanAPI {
		scope = "api"
	}
	secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
	s := "top " + e.Method + ": quota ban (" + scope + ") for " + strconv.FormatInt(secs, 10) + "s more"
	if e.Resp != nil {
		s += ": " + e.Resp.Error()
	}
	return s
}

// TransportError is a failed exchange with the gateway: no answer, a
// non-200 status, or a body that is not JSON, too large or cut short.
type TransportError struct {
	// Method is the TOP method.
	Method string
	// StatusCode is the HTTP status; 0 when no response came.
	StatusCode int
	// Err is the cause.
	Err error
	// Attempts is how many times the call was sent.
	Attempts int
	// repeat is what the client decided about sending the call again;
	// RepeatNever (unset, as in an error built by hand) reads as RepeatLater.
	repeat top.Repeat
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// TOPFailure implements top.Failer: top.KindUnavailable; the call may be
// sent again at once when it never left, when idempotent when TOP may have
// acted (written and unanswered, cut short, HTTP 502/503/504), later
// otherwise.
func (e *TransportError) TOPFailure() top.Failure {
	r := e.repeat
	if r == top.RepeatNever {
		r = top.RepeatLater
	}
	return top.Failure{Kind: top.KindUnavailable, Repeat: r, Reason: top.ReasonUnavailable,
		Method: e.Method, HTTPStatus: e.StatusCode, Err: e}
}

// Error implements error.
func (e *TransportError) Error() string {
	s := "top " + e.Method + ": "
	if e.StatusCode != 0 {
		s += "HTTP " + strconv.Itoa(e.StatusCode)
		if t := http.StatusText(e.StatusCode); t != "" {
			s += " " + t
		}
	} else {
		s += "no HTTP response"
	}
	if e.Err != nil {
		s += ": " + redact.Text(e.Err.Error())
	}
	if e.Attempts > 1 {
		s += " after " + strconv.Itoa(e.Attempts) + " attempts"
	}
	return s
}

// DecodeError is a JSON answer that does not fit the response type, such
// as a success flag that is not a boolean.
type DecodeError struct {
	// Method is the TOP method.
	Method string
	// Err is the decoder's error.
	Err error
}

// Unwrap returns the decoder's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// TOPFailure implements top.Failer: top.KindUnavailable, top.RepeatLater.
func (e *DecodeError) TOPFailure() top.Failure {
	return top.Failure{Kind: top.KindUnavailable, Repeat: top.RepeatLater, Reason: top.ReasonBadResponse,
		Method: e.Method, Err: e}
}

// Error implements error; values quoted by the decoder are masked.
func (e *DecodeError) Error() string {
	return "top " + e.Method + ": decode response: " + redact.Text(e.Err.Error())
}
