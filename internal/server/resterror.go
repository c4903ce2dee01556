package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/servicecenterd/servicecenterd/internal/idempotency"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/service"
)

// ErrorInfo reasons of the REST layer's own refusals. They are not gRPC
// codes: the code is INVALID_ARGUMENT or DEADLINE_EXCEEDED, and the
// reason picks the HTTP status.
const (
	// ReasonRequestTooLarge: a body, an upload, one record of an upload or
	// the gRPC message a REST body makes is over its limit (metadata
	// limit_bytes and limit, the setting). HTTP 413, never 429: the same
	// request will never fit.
	ReasonRequestTooLarge = "REQUEST_TOO_LARGE"
	// ReasonUploadTooSlow: the body did not arrive fast enough
	// (--http-upload-min-rate, --http-upload-timeout, --http-read-timeout).
	// HTTP 408.
	ReasonUploadTooSlow = "UPLOAD_TOO_SLOW"
)

// tooLarge is the refusal of something over a size limit: INVALID_ARGUMENT
// with an ErrorInfo naming the limit, answered 413 over REST.
func tooLarge(msg string, limit int64, setting string) error {
	return rpc.ErrorInfo(codes.InvalidArgument, msg, ReasonRequestTooLarge, map[string]string{
		"limit_bytes": strconv.FormatInt(limit, 10), "limit": setting,
	})
}

// tooSlow is the refusal of a body that did not arrive in time:
// DEADLINE_EXCEEDED with an ErrorInfo naming the setting, answered 408.
func tooSlow(msg, setting string) error {
	return rpc.ErrorInfo(codes.DeadlineExceeded, msg, ReasonUploadTooSlow, map[string]string{"limit": setting})
}

// restErrorHandler is the gateway's error handler (and the upload
// route's). It answers, in the gateway's google.rpc.Status shape and with
// the call's X-Request-Id when it reached gRPC:
//   - the REST layer's own refusal when reading the body failed (too
//     large, too slow, malformed JSON: gatewayBody.err), instead of the
//     gateway's flattened "rpc error: ..." text;
//   - 413 and 408 for ReasonRequestTooLarge and ReasonUploadTooSlow, 422
//     and 409 for an idempotency key reused or in flight;
//   - the gateway's own errors (a path or query parameter that does not
//     parse) as a BadRequest, quoting at most a short prefix of the value.
func restErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if b, ok := r.Body.(*gatewayBody); ok && b.err != nil {
		err = b.err
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, restError(ctx, err))
}

// restError maps an error for the REST answer (see restErrorHandler).
func restError(ctx context.Context, err error) error {
	var hse *runtime.HTTPStatusError
	if errors.As(err, &hse) {
		return err
	}
	st := status.Convert(err)
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != rpc.ErrorDomain {
			continue
		}
		switch info.GetReason() {
		case ReasonRequestTooLarge:
			return &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge, Err: st.Err()}
		case ReasonUploadTooSlow:
			return &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestTimeout, Err: st.Err()}
		case idempotency.ReasonKeyReused:
			// The IETF draft's answer to a key reused with another
			// payload: the request is well-formed but cannot be processed.
			return &runtime.HTTPStatusError{HTTPStatus: http.StatusUnprocessableEntity, Err: st.Err()}
		case idempotency.ReasonKeyInFlight:
			return &runtime.HTTPStatusError{HTTPStatus: http.StatusConflict, Err: st.Err()}
		case service.ReasonStoreFull:
			// Not 429 (which HTTP clients take as "slow down and
			// retry"): retrying does not help until an operator frees
			// space in --data-dir.
			return &runtime.HTTPStatusError{HTTPStatus: http.StatusInsufficientStorage, Err: st.Err()}
		}
	}
	// The gateway puts (empty) server metadata in the context even for
	// its own errors; a call that reached gRPC has our x-request-id.
	md, _ := runtime.ServerMetadataFromContext(ctx)
	if len(md.HeaderMD) > 0 || len(md.TrailerMD) > 0 || st.Code() != codes.InvalidArgument || len(st.Details()) > 0 {
		return err
	}
	return gatewayError(st.Message())
}

// gatewayParam matches the gateway's error for a path parameter that does
// not parse, e.g. type mismatch, parameter: workcard_id, error:
// strconv.ParseInt: parsing "x": invalid syntax.
var gatewayParam = regexp.MustCompile(`^type mismatch, parameter: ([A-Za-z0-9_.]+), error: (?s)(.*)$`)

// gatewayQuery matches the gateway's error for a query parameter that
// does not parse, e.g. parsing field "page_size": strconv.ParseInt: ...
var gatewayQuery = regexp.MustCompile(`^parsing field "([A-Za-z0-9_.]+)": (?s)(.*)$`)

// strconvError matches a strconv error, e.g. strconv.ParseInt: parsing
// "x": invalid syntax.
var strconvError = regexp.MustCompile(`^strconv\.(Parse(?:Int|Uint|Float|Bool)): parsing ("(?:[^"\\]|\\.)*"): (.*)$`)

// strconvKind says what a strconv parser wants.
func strconvKind(parser string) string {
	switch parser {
	case "ParseInt":
		return "an integer"
	case "ParseUint":
		return "a non-negative integer"
	case "ParseFloat":
		return "a number"
	}
	return "true or false"
}

// gatewayError turns a message of the gateway's own (a parameter that does
// not parse, a query it cannot read) into a BadRequest; the value it
// quotes is cut to a short prefix.
func gatewayError(msg string) error {
	field, desc := "", msg
	if m := gatewayParam.FindStringSubmatch(msg); m != nil {
		field, desc = m[1], m[2]
	} else if m := gatewayQuery.FindStringSubmatch(msg); m != nil {
		field, desc = m[1], m[2]
	} else if name, ok := strings.CutPrefix(msg, "missing parameter "); ok {
		field, desc = name, "required in the path"
	}
	if m := strconvError.FindStringSubmatch(desc); m != nil {
		desc = fmt.Sprintf("must be %s (%s), got %s", strconvKind(m[1]), m[3], m[2])
	}
	return rpc.FieldViolations(&errdetails.BadRequest_FieldViolation{
		Field: clip(field), Description: clip(desc), Reason: "request.unparsable",
	})
}

// Quoting limits of clip.
const (
	// clipRun is the longest quoted string or bare word quoted whole.
	clipRun = 32
	// clipPrefix is how much of a longer one is kept.
	clipPrefix = 16
	// clipMessage is the longest message.
	clipMessage = 512
)

// quoted matches a Go- or JSON-quoted string.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// clip shortens what an error message quotes from the request: a quoted
// string or a bare word longer than clipRun characters keeps a
// clipPrefix-character prefix and says how long it was, and the whole
// message is cut at clipMessage bytes. A 5000-digit id is thus never
// echoed whole.
func clip(s string) string {
	s = quoted.ReplaceAllStringFunc(s, func(q string) string {
		inner := q[1 : len(q)-1]
		if n := utf8.RuneCountInString(inner); n > clipRun {
			return fmt.Sprintf("%q… (%d characters)", prefix(inner, clipPrefix), n)
		}
		return q
	})
	words := strings.Split(s, " ")
	for i, w := range words {
		if n := utf8.RuneCountInString(w); n > clipRun && !strings.Contains(w, "…") {
			words[i] = fmt.Sprintf("%s… (%d characters)", prefix(w, clipPrefix), n)
		}
	}
	s = strings.Join(words, " ")
	if len(s) > clipMessage {
		s = prefix(s, clipMessage) + "…"
	}
	return s
}

// prefix is s cut to at most n runes (n bytes for the message cap is
// close enough: it only ever shortens).
func prefix(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
