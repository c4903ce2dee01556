package top

import (
	"encoding/json"
	"encoding/xml"
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
