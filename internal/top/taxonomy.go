package top

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Kind says who must act on a failed TOP call (docs/top-protocol.md §7).
// internal/service maps each Kind to one gRPC code.
type Kind int

// The kinds of failure.
const (
	// KindUnknown is a failure TOP documents nothing about (UNKNOWN).
	KindUnknown Kind = iota
	// KindInvalid is the caller's request: an isv.* sub-code, codes 40,
	// 41, 43, a business rule (INVALID_ARGUMENT).
	KindInvalid
	// KindNotFound is a business "not found": 1008, 10006, 10010; the
	// emulator's 1009 and 1013 (NOT_FOUND).
	KindNotFound
	// KindExists is a business "already exists": 10007; the emulator's
	// 409 (ALREADY_EXISTS).
	KindExists
	// KindPrecondition is a business state that forbids the call: the
	// emulator's 1010 and 1011 (FAILED_PRECONDITION).
	KindPrecondition
	// KindSession is a missing or invalid session (26, 27): the seller must
	// authorise the app again (UNAUTHENTICATED).
	KindSession
	// KindConfig is servicecenterd's own request or credentials: 3, 9,
	// 21-25, 28-34, 42 (INTERNAL).
	KindConfig
	// KindPermission is a missing permission: 11-13, 53, an
	// isv.*permission* sub-code, business 100002 (PERMISSION_DENIED).
	KindPermission
	// KindQuota is flow control: 4-8, accesscontrol.* sub-codes, a quota
	// ban (RESOURCE_EXHAUSTED).
	KindQuota
	// KindUnavailable is the platform or the way to it: 10, 15/50 without
	// an isv.* sub-code, isp.* sub-codes, transport failures, answers that
	// do not decode, business 100000, the emulator's 9999, the blacklist
	// sync's is_retry (UNAVAILABLE).
	KindUnavailable
)

var kindNames = [...]string{
	KindUnknown: "unknown", KindInvalid: "invalid", KindNotFound: "not_found", KindExists: "exists",
	KindPrecondition: "precondition", KindSession: "session", KindConfig: "config",
	KindPermission: "permission", KindQuota: "quota", KindUnavailable: "unavailable",
}

// Kinds lists every Kind, in order.
func Kinds() []Kind {
	out := make([]Kind, len(kindNames))
	for i := range out {
		out[i] = Kind(i)
	}
	return out
}

// String names the kind.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Repeat says whether the same call may be sent again, unchanged.
type Repeat int

// The repeat rules, from the most to the least final.
const (
	// RepeatNever: TOP refused the content (an isv.* sub-code, codes 40,
	// 41, 43, a business failure without is_retry). Sending it again
	// cannot succeed.
	RepeatNever Repeat = iota
	// RepeatNow: TOP did not act (code 10), or the request never left
	// (nothing was written). Any call may be sent again at once.
	RepeatNow
	// RepeatIfIdempotent: TOP may have acted (an isp.* sub-code; written
	// but unanswered; HTTP 502/503/504; an answer cut short). Only a call
	// that TOP applies once may be sent again.
	RepeatIfIdempotent
	// RepeatLater: the same call may succeed later, once something else
	// changed (quota without a ban, credentials, permissions, an unknown
	// code, an answer that does not decode, a refused certificate, a body
	// too large, the blacklist sync's is_retry). The client does not retry
	// it within a call; the bulk sync resends after a backoff.
	RepeatLater
	// RepeatAfterBan: a quota ban is in force; send again after RetryAfter.
	RepeatAfterBan
)

var repeatNames = [...]string{
	RepeatNever: "never", RepeatNow: "now", RepeatIfIdempotent: "if_idempotent",
	RepeatLater: "later", RepeatAfterBan: "after_ban",
}

// String names the rule.
func (r Repeat) String() string {
	if r >= 0 && int(r) < len(repeatNames) {
		return repeatNames[r]
	}
	return "repeat(" + strconv.Itoa(int(r)) + ")"
}

// Retry reports whether a call that failed with r is sent again within the
// same call, as the TOP client does: at once for RepeatNow, and for
// RepeatIfIdempotent only when the method is idempotent.
func (r Repeat) Retry(idempotent bool) bool {
	switch r {
	case RepeatNow:
		return true
	case RepeatIfIdempotent:
		return idempotent
	}
	return false
}

// ErrorInfo reasons of failures that carry no TOP code.
const (
	// ReasonUnavailable: TOP could not be reached, or answered with a
	// non-200 status or a body that is not JSON.
	ReasonUnavailable = "TOP_UNAVAILABLE"
	// ReasonBadResponse: TOP's answer did not fit the method's response.
	ReasonBadResponse = "TOP_BAD_RESPONSE"
	// ReasonQuotaBanned: a quota ban is in force.
	ReasonQuotaBanned = "TOP_QUOTA_BANNED"
)

// Failure is what one failed TOP call means, the same at every layer: the
// client retries by Repeat, internal/service maps Kind to a gRPC status
// and Reason to its ErrorInfo, the bulk sync resends a chunk unless
// Repeat is RepeatNever.
type Failure struct {
	// Kind says who must act.
	Kind Kind
	// Repeat says whether the call may be sent again.
	Repeat Repeat
	// RetryAfter is how long a quota ban still lasts (RepeatAfterBan).
	RetryAfter time.Duration
	// Reason is the stable ErrorInfo reason: TOP_<SUB_CODE>,
	// TOP_CODE_<code>, TOP_BIZ_<code>, or one of the Reason constants.
	Reason string
	// Method is the TOP method.
	Method string
	// RequestID is TOP's request_id, when TOP answered.
	RequestID string
	// Platform is TOP's error_response: a platform error, or the one that
	// started a quota ban. Nil otherwise.
	Platform *ErrorResponse
	// Business is the business failure of a success envelope. Nil otherwise.
	Business *BusinessError
	// HTTPStatus is the status of a failed exchange (a transport failure),
	// 0 when no response came or the exchange itself succeeded.
	HTTPStatus int
	// Err is the error the failure describes; its message is the one to show.
	Err error
}

// Failer is an error from a TOP call that knows what it means.
type Failer interface {
	error
	// TOPFailure describes the failure.
	TOPFailure() Failure
}

// FailureOf returns the Failure of the first error in err's chain that is
// a Failer (with Err set to that error when its TOPFailure left it nil). It reports false for errors that are not TOP's, such as a
// cancelled context.
func FailureOf(err error) (Failure, bool) {
	var f Failer
	if !errors.As(err, &f) {
		return Failure{}, false
	}
	out := f.TOPFailure()
	if out.Err == nil {
		out.Err = f
	}
	return out, true
}

// KindOf classifies a platform error by its sub-code first and its code
// second: accesscontrol.* is quota, isp.* the platform's, isv.* the
// caller's (a permission when the sub-code says so); otherwise the code's
// row in the platform table decides, and an unknown code is KindUnknown.
func KindOf(code int, subCode string) Kind {
	switch {
	case strings.HasPrefix(subCode, SubCodePrefixQuota):
		return KindQuota
	case strings.HasPrefix(subCode, SubCodePrefixPlatform):
		return KindUnavailable
	case strings.HasPrefix(subCode, SubCodePrefixCaller):
		if strings.Contains(subCode, "permission") {
			return KindPermission
		}
		return KindInvalid
	}
	if c, ok := LookupPlatformCode(code); ok {
		return c.Kind
	}
	return KindUnknown
}

// RepeatOf says whether a call that got a platform error may be sent
// again. Code 10 says TOP did not act, whatever the sub-code: RepeatNow.
// Then the sub-code: isp.* is RepeatIfIdempotent, isv.* RepeatNever. Then
// the code's row (RepeatNever for 40, 41, 43); RepeatLater for the rest.
// A quota error that announces a ban becomes RepeatAfterBan in the client,
// which keeps the ban.
func RepeatOf(code int, subCode string) Repeat {
	c, known := LookupPlatformCode(code)
	if known && c.Repeat == RepeatNow {
		return RepeatNow
	}
	switch {
	case strings.HasPrefix(subCode, SubCodePrefixPlatform):
		return RepeatIfIdempotent
	case strings.HasPrefix(subCode, SubCodePrefixCaller):
		return RepeatNever
	}
	if known {
		return c.Repeat
	}
	return RepeatLater
}

// IsQuota reports whether a platform error is flow control, one that may
// announce a ban: codes 4 to 8 whatever the sub-code, or an
// accesscontrol.* sub-code.
func IsQuota(code int, subCode string) bool {
	if c, ok := LookupPlatformCode(code); ok && c.Kind == KindQuota {
		return true
	}
	return strings.HasPrefix(subCode, SubCodePrefixQuota)
}

// PlatformReason is the ErrorInfo reason of a platform error: TOP_ and the
// sub-code (TOP_ISV_INVALID_PARAMETER) or, without one, TOP_CODE_ and the
// code (TOP_CODE_7).
func PlatformReason(code int, subCode string) string {
	if subCode != "" {
		return "TOP_" + reasonPart(subCode)
	}
	return "TOP_CODE_" + strconv.Itoa(code)
}

// PlatformFailure describes TOP's error_response r to a call of method.
func PlatformFailure(method string, r *ErrorResponse) Failure {
	return Failure{
		Kind: KindOf(r.Code, r.SubCode), Repeat: RepeatOf(r.Code, r.SubCode),
		Reason: PlatformReason(r.Code, r.SubCode), Method: method, RequestID: r.RequestID, Platform: r,
	}
}

// TOPFailure implements Failer: the code's row in the business-code table
// gives the Kind (KindUnknown when the code is not there), and the failure
// is final unless TOP said is_retry, which makes it KindUnavailable and
// RepeatLater.
func (e *BusinessError) TOPFailure() Failure {
	f := Failure{
		Kind: KindUnknown, Repeat: RepeatNever, Reason: "TOP_BIZ_" + reasonPart(e.Code),
		Method: e.Method, RequestID: e.RequestID, Business: e, Err: e,
	}
	if c, ok := LookupBusinessCode(e.Code); ok {
		f.Kind = c.Kind
	}
	if e.Retry {
		f.Kind, f.Repeat = KindUnavailable, RepeatLater
	}
	return f
}

// reasonPart turns a TOP code into an ErrorInfo reason part: upper case,
// runs of other characters as one underscore, at most 50 characters;
// UNKNOWN when nothing is left.
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
