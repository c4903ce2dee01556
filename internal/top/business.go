package top

import (
	"strconv"

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

// Err returns the business failure in r, or nil when result.success is true.
func (r *AssignWorkerResponse) Err() error {
	if r.Result.Success {
		return nil
	}
	return &BusinessError{Method: (*AssignWorkerRequest)(nil).APIMethod(), Code: string(r.Result.MsgCode),
		Message: r.Result.MsgInfo, DisplayMsg: r.Result.DisplayMsg, RequestID: r.RequestID}
}

// Err returns the business failure in r, or nil when result.success is true.
func (r *WorkerUpdateResponse) Err() error {
	if r.Result.Success {
		return nil
	}
	code := ""
	if r.Result.ErrorCode != 0 {
		code = strconv.FormatInt(int64(r.Result.ErrorCode), 10)
	}
	return &BusinessError{Method: (*WorkerUpdateRequest)(nil).APIMethod(), Code: code,
		Message: r.Result.ErrorMsg, RequestID: r.RequestID}
}

// Err returns the business failure in r, or nil when result.success is true.
func (r *TagListGetResponse) Err() error {
	if r.Result.Success {
		return nil
	}
	return &BusinessError{Method: (*TagListGetRequest)(nil).APIMethod(), Code: string(r.Result.MsgCode),
		Message: r.Result.MsgInfo, RequestID: r.RequestID}
}

// Err returns the business failure in r, or nil when result.success is true.
func (r *VirtualPhoneBindResponse) Err() error {
	if r.Result.Success {
		return nil
	}
	return &BusinessError{Method: (*VirtualPhoneBindRequest)(nil).APIMethod(), Code: string(r.Result.MsgCode),
		Message: r.Result.MsgInfo, RequestID: r.RequestID}
}

// Err returns the business failure in r, or nil when success is true.
func (r *BlacklistSyncResponse) Err() error {
	u := r.UserBlacklistResponse
	if u.Success {
		return nil
	}
	return &BusinessError{Method: (*BlacklistSyncRequest)(nil).APIMethod(), Code: string(u.Code),
		Message: u.Message, Retry: bool(u.IsRetry), RequestID: r.RequestID}
}
