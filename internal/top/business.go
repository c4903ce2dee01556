package top

import (
	"github.com/servicecenterd/servicecenterd/internal/redact"
)

// BusinessError is a failure TOP reports inside a success envelope:
// result.success=false with msg_code/msg_info (assignworker, taglist.get,
// virtualphone.bind), error_code/error_msg (worker.update) or
// user_blacklist_response code/message/is_retry (blacklist sync).
type BusinessError struct {
	// Method is the TOP method.
	Method string
	// Code is msg_code, error_code or code, as text ("" when TOP gave none).
	Code string
	// Message is msg_info, error_msg or message.
	Message string
	// DisplayMsg is display_msg, when TOP gave one.
	DisplayMsg string
	// Retry is the blacklist sync's is_retry: the failure is transient.
	Retry bool
	// RequestID is TOP's request_id.
	RequestID string
}

// Error implements error. Phone and identity numbers that TOP echoes in
// its message are masked.
func (e *BusinessError) Error() string {
	s := e.Method + ": business failure"
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + redact.Text(e.Message)
	}
	return s
}
