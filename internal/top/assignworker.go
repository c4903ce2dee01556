package top

import (
	"encoding/xml"
)

// MethodAssignWorker assigns a worker to a workcard.
const MethodAssignWorker = "tmall.servicecenter.workcard.assignworker"

// AssignWorker is tmall.servicecenter.workcard.assignworker: a write, for
// a seller; a business failure's code is in result.msg_code.
var AssignWorker = newAPI[AssignWorkerRequest, AssignWorkerResponse](MethodAssignWorker, true, Write, FieldMsgCode)

// Operator types of assignworker's type parameter.
const (
	// OperatorProvider is a service provider (服务商), TOP's default.
	OperatorProvider = 2
	// OperatorStore is a service store (网点).
	OperatorStore = 3
)

// AssignWorkerRequest is tmall.servicecenter.workcard.assignworker
// (服务商分派工人): a provider assigns a worker to a workcard. Zero values are
// not sent.
type AssignWorkerRequest struct {
	// OuterID is outer_id, the fulfilment (核销单) external id.
	OuterID string
	// TargetWorkerID is target_worker_id, the worker to assign.
	TargetWorkerID int64
	// TargetWorkerMobile is target_worker_mobile, the worker's mobile.
	TargetWorkerMobile string
	// Type is type, the operator type: 2 provider (default), 3 store.
	Type int64
	// ServiceStoreID is service_store_id, the store (网点) id.
	ServiceStoreID int64
	// WorkcardID is workcard_id, the workcard to assign.
	WorkcardID int64
	// TargetWorkerName is target_worker_name, the worker's name.
	TargetWorkerName string
	// StopOrderTypeCheckReason is stop_order_type_check_reason, an id given
	// by Tmall operations to skip the order type check.
	StopOrderTypeCheckReason int64
	// FulfilTaskID is fulfil_task_id, the fulfilment task (核销单) id.
	FulfilTaskID int64
	// ExtJSON is ext_json, extra information as a JSON object text.
	ExtJSON string
}

// APIMethod implements Request.
func (*AssignWorkerRequest) APIMethod() string { return MethodAssignWorker }

// AppendParams implements Request.
func (r *AssignWorkerRequest) AppendParams(dst []Param) ([]Param, error) {
	dst = appendString(dst, "outer_id", r.OuterID)
	dst = appendInt(dst, "target_worker_id", r.TargetWorkerID)
	dst = appendString(dst, "target_worker_mobile", r.TargetWorkerMobile)
	dst = appendInt(dst, "type", r.Type)
	dst = appendInt(dst, "service_store_id", r.ServiceStoreID)
	dst = appendInt(dst, "workcard_id", r.WorkcardID)
	dst = appendString(dst, "target_worker_name", r.TargetWorkerName)
	dst = appendInt(dst, "stop_order_type_check_reason", r.StopOrderTypeCheckReason)
	dst = appendInt(dst, "fulfil_task_id", r.FulfilTaskID)
	dst = appendString(dst, "ext_json", r.ExtJSON)
	return dst, nil
}

// DecodeParams reads the request from received parameters.
func (r *AssignWorkerRequest) DecodeParams(g Getter) error {
	var err error
	ints := []struct {
		key string
		dst *int64
	}{
		{"target_worker_id", &r.TargetWorkerID},
		{"type", &r.Type},
		{"service_store_id", &r.ServiceStoreID},
		{"workcard_id", &r.WorkcardID},
		{"stop_order_type_check_reason", &r.StopOrderTypeCheckReason},
		{"fulfil_task_id", &r.FulfilTaskID},
	}
	for _, f := range ints {
		if *f.dst, err = decodeInt(g, f.key); err != nil {
			return err
		}
	}
	r.OuterID = g.Get("outer_id")
	r.TargetWorkerMobile = g.Get("target_worker_mobile")
	r.TargetWorkerName = g.Get("target_worker_name")
	r.ExtJSON = g.Get("ext_json")
	return nil
}

// AssignWorkerResponse is assignworker's answer.
type AssignWorkerResponse struct {
	XMLName xml.Name `json:"-" xml:"tmall_servicecenter_workcard_assignworker_response"`
	// Result is result.
	Result AssignWorkerResult `json:"result" xml:"result"`
	// RequestID is TOP's request_id.
	RequestID string `json:"request_id,omitempty" xml:"request_id,omitempty"`
}

// TOPRequestID implements Response.
func (r *AssignWorkerResponse) TOPRequestID() string { return r.RequestID }

// SetTOPRequestID implements Response.
func (r *AssignWorkerResponse) SetTOPRequestID(id string) { r.RequestID = id }

// Err returns the business failure in r, or nil when result.success is true.
func (r *AssignWorkerResponse) Err() error {
	if r.Result.Success {
		return nil
	}
	return &BusinessError{Method: MethodAssignWorker, Code: string(r.Result.MsgCode),
		Message: r.Result.MsgInfo, DisplayMsg: r.Result.DisplayMsg, RequestID: r.RequestID}
}

// AssignWorkerResult is assignworker's result. A business failure is
// Success false with MsgCode, e.g. 1008 工单不存在 (workcard not found).
type AssignWorkerResult struct {
	// DisplayMsg is display_msg, a message fit to show to people.
	DisplayMsg string `json:"display_msg,omitempty" xml:"display_msg,omitempty"`
	// Success is success.
	Success Bool `json:"success" xml:"success"`
	// MsgCode is msg_code, the business code.
	MsgCode String `json:"msg_code,omitempty" xml:"msg_code,omitempty"`
	// MsgInfo is msg_info, the system message.
	MsgInfo string `json:"msg_info,omitempty" xml:"msg_info,omitempty"`
}
