package top

import (
	"encoding/xml"
)

// MethodVirtualPhoneBind binds a virtual phone number to a workcard.
const MethodVirtualPhoneBind = "tmall.servicecenter.workcard.virtualphone.bind"

// VirtualPhoneBind is tmall.servicecenter.workcard.virtualphone.bind: a
// write (a repeat may bind a new number), for a seller; a business
// failure's code is in result.msg_code.
var VirtualPhoneBind = newAPI[VirtualPhoneBindRequest, VirtualPhoneBindResponse](MethodVirtualPhoneBind, true, Write, FieldMsgCode)

// VirtualPhoneBindRequest is tmall.servicecenter.workcard.virtualphone.bind
// (工单维度虚拟中间号绑定).
type VirtualPhoneBindRequest struct {
	// WorkcardRequest is workcard_request (required), sent as one JSON object.
	WorkcardRequest *WorkcardBaseRequest
}

// WorkcardBaseRequest is the workcard_request object.
type WorkcardBaseRequest struct {
	// RequestSource is request_source (required): who asks.
	RequestSource *WorkcardRequestSource `json:"request_source,omitempty"`
	// WorkcardID is workcard_id (required).
	WorkcardID Int64 `json:"workcard_id,omitempty"`
}

// WorkcardRequestSource is request_source.
type WorkcardRequestSource struct {
	// RealTpNick is real_tp_nick, the Taobao account of the provider's workbench.
	RealTpNick string `json:"real_tp_nick,omitempty"`
	// ServiceStoreCode is service_store_code, the store code.
	ServiceStoreCode string `json:"service_store_code,omitempty"`
}

// APIMethod implements Request.
func (*VirtualPhoneBindRequest) APIMethod() string { return MethodVirtualPhoneBind }

// AppendParams implements Request.
func (r *VirtualPhoneBindRequest) AppendParams(dst []Param) ([]Param, error) {
	if r.WorkcardRequest == nil {
		return dst, nil
	}
	return appendObject(dst, "workcard_request", r.WorkcardRequest)
}

// DecodeParams reads the request from received parameters.
func (r *VirtualPhoneBindRequest) DecodeParams(g Getter) error {
	var w WorkcardBaseRequest
	present, err := decodeObject(g, "workcard_request", &w)
	if err != nil {
		return err
	}
	if present {
		r.WorkcardRequest = &w
	}
	return nil
}

// VirtualPhoneBindResponse is virtualphone.bind's answer.
type VirtualPhoneBindResponse struct {
	XMLName xml.Name `json:"-" xml:"tmall_servicecenter_workcard_virtualphone_bind_response"`
	// Result is result.
	Result VirtualPhoneResult `json:"result" xml:"result"`
	// RequestID is TOP's request_id.
	RequestID string `json:"request_id,omitempty" xml:"request_id,omitempty"`
}

// TOPRequestID implements Response.
func (r *VirtualPhoneBindResponse) TOPRequestID() string { return r.RequestID }

// SetTOPRequestID implements Response.
func (r *VirtualPhoneBindResponse) SetTOPRequestID(id string) { r.RequestID = id }

// Err returns the business failure in r, or nil when result.success is true.
func (r *VirtualPhoneBindResponse) Err() error {
	if r.Result.Success {
		return nil
	}
	return &BusinessError{Method: MethodVirtualPhoneBind, Code: string(r.Result.MsgCode),
		Message: r.Result.MsgInfo, RequestID: r.RequestID}
}

// VirtualPhoneResult is virtualphone.bind's result (FulfilplatformResult).
type VirtualPhoneResult struct {
	// ResultData is result_data, the virtual phone number.
	ResultData String `json:"result_data,omitempty" xml:"result_data,omitempty"`
	// Success is success.
	Success Bool `json:"success" xml:"success"`
	// MsgCode is msg_code.
	MsgCode String `json:"msg_code,omitempty" xml:"msg_code,omitempty"`
	// MsgInfo is msg_info.
	MsgInfo string `json:"msg_info,omitempty" xml:"msg_info,omitempty"`
}
