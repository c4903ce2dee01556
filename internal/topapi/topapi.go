// Package topapi holds typed requests and responses for the five TOP methods
// servicecenterd calls, with the field names of the API documents in
// ../shared/seeds. Requests know how to turn themselves into TOP's form
// parameters and back; responses decode both TOP's normal and simplified
// JSON and encode as TOP does (JSON and XML). The TOP client and the TOP
// emulator share these types so the two sides cannot drift apart.
package topapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/servicecenterd/servicecenterd/internal/topwire"
)

// Request is a typed TOP request.
type Request interface {
	// APIMethod names the TOP method, e.g. tmall.servicecenter.worker.update.
	APIMethod() string
	// AppendParams appends the business parameters as TOP expects them:
	// scalars formatted, objects as one JSON string with snake_case keys,
	// empty values left out.
	AppendParams(dst []topwire.Param) ([]topwire.Param, error)
}

// Getter reads one received parameter by name; url.Values satisfies it.
type Getter interface {
	Get(key string) string
}

// ParamError says which business parameter could not be decoded and why.
// The emulator answers it as TOP does, with code 41 and an
// isv.invalid-parameter sub-code naming the parameter.
type ParamError struct {
	// Param is the parameter name, e.g. workcard_id.
	Param string
	// Reason explains what is wrong with it, without echoing its value.
	Reason string
}

// Error implements error.
func (e *ParamError) Error() string {
	return "invalid parameter " + e.Param + ": " + e.Reason
}

func appendString(dst []topwire.Param, key, value string) []topwire.Param {
	if value == "" {
		return dst
	}
	return append(dst, topwire.Param{Key: key, Value: value})
}

func appendInt(dst []topwire.Param, key string, value int64) []topwire.Param {
	if value == 0 {
		return dst
	}
	return append(dst, topwire.Param{Key: key, Value: strconv.FormatInt(value, 10)})
}

func appendObject(dst []topwire.Param, key string, value any) ([]topwire.Param, error) {
	b, err := json.Marshal(value)
	if err != nil {
		return dst, fmt.Errorf("encode %s: %w", key, err)
	}
	return append(dst, topwire.Param{Key: key, Value: string(b)}), nil
}

func decodeInt(g Getter, key string) (int64, error) {
	s := g.Get(key)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, &ParamError{Param: key, Reason: "not a whole number"}
	}
	return v, nil
}

// decodeObject decodes a JSON object parameter; it reports whether the
// parameter was present.
func decodeObject(g Getter, key string, into any) (bool, error) {
	s := g.Get(key)
	if s == "" {
		return false, nil
	}
	if err := json.Unmarshal([]byte(s), into); err != nil {
		return true, &ParamError{Param: key, Reason: "not a valid JSON object: " + jsonReason(err)}
	}
	return true, nil
}

// jsonReason describes a JSON decoding error without quoting the input.
func jsonReason(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "syntax error at offset " + strconv.FormatInt(syn.Offset, 10)
	case errors.As(err, &typ):
		return "field " + typ.Field + " must be " + typ.Type.String()
	}
	return "malformed value"
}
