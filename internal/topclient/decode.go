package topclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// notJSONError is an answer body that is not JSON (an HTML error page, a
// truncated body): a transport problem rather than a decoding one.
type notJSONError struct {
	reason string
}

func (e *notJSONError) Error() string { return "body is not JSON: " + e.reason }

// readBounded reads r into buf (reusing its capacity) up to limit bytes and
// fails with a *tooLargeError beyond that. contentLength, when not -1, is used
// to size buf and to fail before reading.
func readBounded(r io.Reader, buf []byte, limit, contentLength int64) ([]byte, error) {
	if contentLength > limit {
		return buf, tooLarge(limit)
	}
	if contentLength >= 0 && int64(cap(buf)) < contentLength+1 {
		buf = make([]byte, 0, contentLength+1) // +1: room to see EOF without growing
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf[:0], tooLarge(limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf[:0], err
		}
	}
}

func tooLarge(limit int64) error {
	return &tooLargeError{limit: limit}
}

// tooLargeError is a body over Config.MaxResponseBytes.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return "body exceeds " + strconv.FormatInt(e.limit, 10) + " bytes"
}

// decodeResponse decodes TOP's answer to method. It returns TOP's
// error_response when the body is one; otherwise it decodes the success
// envelope into out (when out is not nil), in TOP's normal shape
// ({"<method>_response":{...}}) or its simplified shape (the fields at the
// root), whichever the body has. A body that is not JSON gives a
// *notJSONError; JSON that does not fit out gives the decoder's error.
func decodeResponse(method string, body []byte, out any) (*top.ErrorResponse, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' || b[len(b)-1] != '}' {
		if len(b) == 0 {
			return nil, &notJSONError{reason: "empty body"}
		}
		return nil, &notJSONError{reason: "not a JSON object"}
	}
	key, value, ok := firstMember(b)
	if !ok {
		return decodeSlow(method, b, out)
	}
	switch {
	case string(key) == top.ErrorResponseKey:
		var e top.ErrorResponse
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

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// isResponseKey reports whether key is top.ResponseKey(method), without
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
			return &notJSONError{reason: "malformed JSON"}
		}
		return nil
	}
	err := json.Unmarshal(b, out)
	if isSyntaxError(err) {
		return &notJSONError{reason: err.Error()}
	}
	return err
}

// decodeSlow decodes any JSON object: it is the fallback for bodies the
// fast path does not recognise (escaped keys, envelopes with more than one
// member, malformed JSON).
func decodeSlow(method string, b []byte, out any) (*top.ErrorResponse, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(b, &env); err != nil {
		if isSyntaxError(err) {
			return nil, &notJSONError{reason: err.Error()}
		}
		return nil, err
	}
	if raw, ok := env[top.ErrorResponseKey]; ok {
		var e top.ErrorResponse
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, errors.New("error_response: " + err.Error())
		}
		return &e, nil
	}
	if raw, ok := env[top.ResponseKey(method)]; ok {
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

// requestIDOf returns the request_id of a decoded response: a
// top.Response carries it; for anything else it is looked up in the body.
func requestIDOf(out any, body []byte) string {
	if r, ok := out.(top.Response); ok {
		return r.TOPRequestID()
	}
	return findRequestID(body)
}

// findRequestID returns the string value of the last "request_id" member in
// a JSON body (TOP puts it last, at the envelope level), or "" when there
// is none or it holds escapes.
func findRequestID(body []byte) string {
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
