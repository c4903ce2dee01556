package top

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Request is a typed TOP request.
type Request interface {
	// APIMethod names the TOP method, e.g. tmall.servicecenter.worker.update.
	APIMethod() string
	// AppendParams appends the business parameters as TOP expects them:
	// scalars formatted, objects as one JSON string with snake_case keys,
	// empty values left out.
	AppendParams(dst []Param) ([]Param, error)
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

func appendString(dst []Param, key, value string) []Param {
	if value == "" {
		return dst
	}
	return append(dst, Param{Key: key, Value: value})
}

func appendInt(dst []Param, key string, value int64) []Param {
	if value == 0 {
		return dst
	}
	return append(dst, Param{Key: key, Value: strconv.FormatInt(value, 10)})
}

func appendObject(dst []Param, key string, value any) ([]Param, error) {
	b, err := json.Marshal(value)
	if err != nil {
		return dst, fmt.Errorf("encode %s: %w", key, err)
	}
	return append(dst, Param{Key: key, Value: string(b)}), nil
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
