package top

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"strconv"

	"github.com/servicecenterd/servicecenterd/internal/redact"
)

// ErrorResponse is the body of TOP's error envelope:
//
//	{"error_response":{"code":41,"msg":"Invalid Arguments","sub_code":"isv.invalid-parameter","sub_msg":"...","request_id":"..."}}
type ErrorResponse struct {
	XMLName xml.Name `json:"-" xml:"error_response"`
	// Code is TOP's platform code (see the Code constants).
	Code int `json:"code" xml:"code"`
	// Msg is TOP's message for Code.
	Msg string `json:"msg" xml:"msg"`
	// SubCode is the detailed code: isv.* (caller), isp.* (platform),
	// accesscontrol.* (quota).
	SubCode string `json:"sub_code,omitempty" xml:"sub_code,omitempty"`
	// SubMsg explains SubCode.
	SubMsg string `json:"sub_msg,omitempty" xml:"sub_msg,omitempty"`
	// RequestID is TOP's id for the call, for support tickets.
	RequestID string `json:"request_id,omitempty" xml:"request_id,omitempty"`
}

// UnmarshalJSON implements json.Unmarshaler, accepting a code sent as a string.
func (e *ErrorResponse) UnmarshalJSON(b []byte) error {
	var raw struct {
		Code      Int64  `json:"code"`
		Msg       String `json:"msg"`
		SubCode   String `json:"sub_code"`
		SubMsg    String `json:"sub_msg"`
		RequestID String `json:"request_id"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*e = ErrorResponse{
		Code: int(raw.Code), Msg: string(raw.Msg), SubCode: string(raw.SubCode),
		SubMsg: string(raw.SubMsg), RequestID: string(raw.RequestID),
	}
	return nil
}

// Error describes the error with TOP's code, sub-code and messages. Phone
// and identity numbers that TOP echoes in its messages are masked.
func (e *ErrorResponse) Error() string {
	s := "top error " + strconv.Itoa(e.Code) + " " + redact.Text(e.Msg)
	if e.SubCode != "" {
		s += " (" + e.SubCode
		if e.SubMsg != "" {
			s += ": " + redact.Text(e.SubMsg)
		}
		s += ")"
	}
	return s
}

// ErrorEnvelope wraps an ErrorResponse as TOP sends it in JSON.
type ErrorEnvelope struct {
	ErrorResponse *ErrorResponse `json:"error_response"`
}

func unmarshalString(b []byte, s *string) error { return json.Unmarshal(b, s) }

// NotJSONError is an answer body that is not JSON (an HTML error page, a
// truncated body): a transport problem rather than a decoding one.
type NotJSONError struct {
	// Reason says what is wrong, without quoting the body.
	Reason string
}

func (e *NotJSONError) Error() string { return "body is not JSON: " + e.Reason }

// DecodeEnvelope decodes TOP's answer to method (docs/top-protocol.md §5).
// It returns TOP's error_response when the body is one; otherwise it
// decodes the success envelope into out (when out is not nil), in TOP's
// normal shape ({"<method>_response":{...}}) or its simplified shape (the
// fields at the root), whichever the body has, and lets the response
// finish itself (taglist.get's home_worker_tags merge). A body that is not
// JSON gives a *NotJSONError; JSON that does not fit out gives the
// decoder's error.
func DecodeEnvelope(method string, body []byte, out any) (*ErrorResponse, error) {
	apiErr, err := decodeEnvelope(method, body, out)
	if apiErr == nil && err == nil {
		if f, ok := out.(finisher); ok {
			f.finishDecode()
		}
	}
	return apiErr, err
}

// finisher is a response that completes itself once decoded (see
// TagListGetResponse.finishDecode).
type finisher interface{ finishDecode() }

func decodeEnvelope(method string, body []byte, out any) (*ErrorResponse, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' || b[len(b)-1] != '}' {
		if len(b) == 0 {
			return nil, &NotJSONError{Reason: "empty body"}
		}
		return nil, &NotJSONError{Reason: "not a JSON object"}
	}
	key, value, ok := firstMember(b)
	if !ok {
		return decodeSlow(method, b, out)
	}
	switch {
	case string(key) == ErrorResponseKey:
		var e ErrorResponse
		if err := json.Unmarshal(value, &e); err != nil {
			return decodeSlow(method, b, out)
		}
		return &e, nil
	case isResponseKey(key, method):
		if out == nil {
			if !json.Valid(value) {
				return decodeSlow(method, b, out)
			}
			return nil, nil
		}
		if fd, ok := out.(fastDecoder); ok && fd.decodeFast(value) {
			return nil, nil
		}
		if err := json.Unmarshal(value, out); err != nil {
			if isSyntaxError(err) {
				return decodeSlow(method, b, out)
			}
			return nil, err
		}
		return nil, nil
	}
	return nil, decodeSimplified(b, out)
}

// firstMember returns the first member of the JSON object b when b looks
// like {"key": value} and the key has no escapes; value runs to the
// object's closing brace and still needs validating. It reports false for
// anything else, which decodeSlow then handles.
func firstMember(b []byte) (key, value []byte, ok bool) {
	i := skipSpace(b, 1)
	if i >= len(b) || b[i] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(b[i+1:], '"')
	if end < 0 {
		return nil, nil, false
	}
	key = b[i+1 : i+1+end]
	if bytes.IndexByte(key, '\\') >= 0 {
		return nil, nil, false
	}
	j := skipSpace(b, i+2+end)
	if j >= len(b) || b[j] != ':' {
		return nil, nil, false
	}
	value = bytes.TrimSpace(b[j+1 : len(b)-1])
	if len(value) == 0 {
		return nil, nil, false
	}
	return key, value, true
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space (the envelope, list and ability_map decoders share it).
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// isResponseKey reports whether key is ResponseKey(method), without
// allocating.
func isResponseKey(key []byte, method string) bool {
	const prefix, suffix = "taobao.", "_response"
	if len(method) >= len(prefix) && method[:len(prefix)] == prefix {
		method = method[len(prefix):]
	}
	if len(key) != len(method)+len(suffix) || string(key[len(method):]) != suffix {
		return false
	}
	for i := 0; i < len(method); i++ {
		c := method[i]
		if c == '.' {
			c = '_'
		}
		if key[i] != c {
			return false
		}
	}
	return true
}

// decodeSimplified decodes a simplified answer, whose fields sit at the root.
func decodeSimplified(b []byte, out any) error {
	if out == nil {
		if !json.Valid(b) {
			return &NotJSONError{Reason: "malformed JSON"}
		}
		return nil
	}
	if fd, ok := out.(fastDecoder); ok && fd.decodeFast(b) {
		return nil
	}
	err := json.Unmarshal(b, out)
	if isSyntaxError(err) {
		return &NotJSONError{Reason: err.Error()}
	}
	return err
}

// decodeSlow decodes any JSON object: it is the fallback for bodies the
// fast path does not recognise (escaped keys, envelopes with more than one
// member, malformed JSON).
func decodeSlow(method string, b []byte, out any) (*ErrorResponse, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(b, &env); err != nil {
		if isSyntaxError(err) {
			return nil, &NotJSONError{Reason: err.Error()}
		}
		return nil, err
	}
	if raw, ok := env[ErrorResponseKey]; ok {
		var e ErrorResponse
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, errors.New("error_response: " + err.Error())
		}
		return &e, nil
	}
	if raw, ok := env[ResponseKey(method)]; ok {
		if out == nil {
			return nil, nil
		}
		return nil, json.Unmarshal(raw, out)
	}
	return nil, decodeSimplified(b, out)
}

func isSyntaxError(err error) bool {
	var syn *json.SyntaxError
	return errors.As(err, &syn)
}

// FindRequestID returns the string value of the last "request_id" member in
// a JSON body (TOP puts it last, at the envelope level), or "" when there
// is none or it holds escapes.
func FindRequestID(body []byte) string {
	const name = `"request_id"`
	for end := len(body); end > 0; {
		i := bytes.LastIndex(body[:end], []byte(name))
		if i < 0 {
			return ""
		}
		end = i
		j := skipSpace(body, i+len(name))
		if j >= len(body) || body[j] != ':' {
			continue
		}
		j = skipSpace(body, j+1)
		if j >= len(body) || body[j] != '"' {
			continue
		}
		k := bytes.IndexByte(body[j+1:], '"')
		if k < 0 {
			return ""
		}
		v := body[j+1 : j+1+k]
		if bytes.IndexByte(v, '\\') >= 0 {
			return ""
		}
		return string(v)
	}
	return ""
}
