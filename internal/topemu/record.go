package topemu

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// RecordedCall is one call of /router/rest as GET /_emulator/calls shows
// it. Secrets (sign, session) are redacted and phone and ID numbers masked,
// in parameters, inside JSON object parameters and in the answer.
type RecordedCall struct {
	// Seq numbers calls from 1 since start or reset.
	Seq int64 `json:"seq"`
	// Time is when the call arrived.
	Time time.Time `json:"time"`
	// RequestID is the request_id the answer carried.
	RequestID string `json:"request_id"`
	// HTTPMethod is GET or POST (or the refused verb).
	HTTPMethod string `json:"http_method"`
	// Method is the TOP method parameter.
	Method string `json:"method,omitempty"`
	// AppKey is the app_key parameter.
	AppKey string `json:"app_key,omitempty"`
	// Params are the received parameters, masked, from query and body.
	Params map[string]string `json:"params"`
	// QueryParams names the parameters that came in the query string.
	QueryParams []string `json:"query_params,omitempty"`
	// HTTPStatus is the answer's HTTP status (0 for a dropped connection).
	HTTPStatus int `json:"http_status"`
	// Code is the error_response code, 0 when the call got a method answer.
	Code int `json:"code,omitempty"`
	// SubCode is the error_response sub_code.
	SubCode string `json:"sub_code,omitempty"`
	// Fault names the injected fault that shaped the answer, if any.
	Fault string `json:"fault,omitempty"`
	// DurationMS is how long the emulator took, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Response is the answer body, masked: JSON as is, XML as a string.
	Response json.RawMessage `json:"response,omitempty"`
}

// maxRecordedValue bounds each recorded parameter and answer, so the ring
// of recorded calls stays small during bulk syncs.
const maxRecordedValue = 4096

// recorder is a bounded ring of recorded calls.
type recorder struct {
	mu    sync.Mutex
	ring  []RecordedCall
	next  int // index of the next write
	count int // calls held
	seq   int64
}

func newRecorder(size int) *recorder {
	return &recorder{ring: make([]RecordedCall, max(size, 0))}
}

// add records c, numbering it.
func (r *recorder) add(c RecordedCall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	if len(r.ring) == 0 {
		return
	}
	c.Seq = r.seq
	r.ring[r.next] = c
	r.next = (r.next + 1) % len(r.ring)
	r.count = min(r.count+1, len(r.ring))
}

// list returns the recorded calls of method ("" for all), oldest first,
// at most limit of the newest (0 for all), and how many were recorded
// since the last clear.
func (r *recorder) list(method string, limit int) ([]RecordedCall, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RecordedCall, 0, r.count)
	start := (r.next - r.count + len(r.ring)) % max(len(r.ring), 1)
	for i := range r.count {
		c := r.ring[(start+i)%len(r.ring)]
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, r.seq
}

// clear forgets every call.
func (r *recorder) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.ring)
	r.next, r.count, r.seq = 0, 0, 0
}

// maskKind says how a named value is masked.
type maskKind int

const (
	maskText maskKind = iota
	maskSecret
	maskPhone
	maskID
)

// kindOf returns how a parameter or JSON field named key is masked.
func kindOf(key string) maskKind {
	switch key {
	case top.ParamSign, top.ParamSession, "app_secret", "secret", "access_token", "refresh_token":
		return maskSecret
	case "mobile", "phone", "target_worker_mobile", "telephone", "tel":
		return maskPhone
	case "id_number", "identity_id", "id_card", "id_card_no":
		return maskID
	}
	return maskText
}

// maskParam masks one received parameter.
func maskParam(key, value string) string {
	switch kindOf(key) {
	case maskSecret:
		return redact.Secret(value)
	case maskPhone:
		return redact.Phone(value)
	case maskID:
		return redact.ID(value)
	}
	if len(value) > 0 && (value[0] == '{' || value[0] == '[') {
		if masked, ok := maskJSON([]byte(value)); ok {
			return truncate(string(masked))
		}
	}
	return truncate(redact.Text(value))
}

// maskJSON masks a JSON document: fields named like phones, IDs or secrets
// by kind, every other string and number by redact.Text. It reports false
// when b is not JSON.
func maskJSON(b []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	out, err := json.Marshal(maskValue(v, maskText))
	if err != nil {
		return nil, false
	}
	return out, true
}

func maskValue(v any, kind maskKind) any {
	switch t := v.(type) {
	case map[string]any:
		for k, inner := range t {
			t[k] = maskValue(inner, kindOf(k))
		}
		return t
	case []any:
		for i, inner := range t {
			t[i] = maskValue(inner, kind)
		}
		return t
	case string:
		return maskString(t, kind)
	case json.Number:
		if kind == maskText {
			if s := redact.Text(t.String()); s != t.String() {
				return s
			}
			return t
		}
		return maskString(t.String(), kind)
	}
	return v
}

func maskString(s string, kind maskKind) string {
	switch kind {
	case maskSecret:
		return redact.Secret(s)
	case maskPhone:
		return redact.Phone(s)
	case maskID:
		return redact.ID(s)
	}
	return redact.Text(s)
}

// maskBody masks an answer body for the record.
func maskBody(body []byte, isJSON bool) json.RawMessage {
	if len(body) == 0 {
		return nil
	}
	if isJSON {
		if masked, ok := maskJSON(body); ok && len(masked) <= maxRecordedValue {
			return masked
		}
	}
	s, _ := json.Marshal(truncate(redact.Text(string(body))))
	return s
}

// truncate cuts s to maxRecordedValue bytes on a rune boundary, saying how
// long it was.
func truncate(s string) string {
	if len(s) <= maxRecordedValue {
		return s
	}
	cut := maxRecordedValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
