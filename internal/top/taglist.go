package top

import (
	"encoding/xml"
)

// MethodWorkerTagList reads a worker's tags and abilities.
const MethodWorkerTagList = "tmall.servicecenter.worker.taglist.get"

// WorkerTagList is tmall.servicecenter.worker.taglist.get: a read, for a
// seller; a business failure's code is in result.msg_code.
var WorkerTagList = newAPI[TagListGetRequest, TagListGetResponse](MethodWorkerTagList, true, Read, FieldMsgCode)

// TagListGetRequest is tmall.servicecenter.worker.taglist.get (获取工人标签).
// Both fields are required.
type TagListGetRequest struct {
	// IDNumber is id_number, the ID card number the worker registered with.
	IDNumber string
	// Mobile is mobile, the mobile the worker registered with.
	Mobile string
}

// APIMethod implements Request.
func (*TagListGetRequest) APIMethod() string { return MethodWorkerTagList }

// AppendParams implements Request.
func (r *TagListGetRequest) AppendParams(dst []Param) ([]Param, error) {
	dst = appendString(dst, "id_number", r.IDNumber)
	dst = appendString(dst, "mobile", r.Mobile)
	return dst, nil
}

// DecodeParams reads the request from received parameters.
func (r *TagListGetRequest) DecodeParams(g Getter) error {
	r.IDNumber = g.Get("id_number")
	r.Mobile = g.Get("mobile")
	return nil
}

// TagListGetResponse is taglist.get's answer.
type TagListGetResponse struct {
	XMLName xml.Name `json:"-" xml:"tmall_servicecenter_worker_taglist_get_response"`
	// Result is result.
	Result TagListResult `json:"result" xml:"result"`
	// RequestID is TOP's request_id.
	RequestID string `json:"request_id,omitempty" xml:"request_id,omitempty"`
}

// TOPRequestID implements Response.
func (r *TagListGetResponse) TOPRequestID() string { return r.RequestID }

// SetTOPRequestID implements Response.
func (r *TagListGetResponse) SetTOPRequestID(id string) { r.RequestID = id }

// Err returns the business failure in r, or nil when result.success is true.
func (r *TagListGetResponse) Err() error {
	if r.Result.Success {
		return nil
	}
	return &BusinessError{Method: MethodWorkerTagList, Code: string(r.Result.MsgCode),
		Message: r.Result.MsgInfo, RequestID: r.RequestID}
}

// TagListResult is taglist.get's result.
type TagListResult struct {
	// ResultData is result_data, the worker's tags.
	ResultData *WorkerTag `json:"result_data,omitempty" xml:"result_data,omitempty"`
	// MsgCode is msg_code.
	MsgCode String `json:"msg_code,omitempty" xml:"msg_code,omitempty"`
	// MsgInfo is msg_info.
	MsgInfo string `json:"msg_info,omitempty" xml:"msg_info,omitempty"`
	// Success is success.
	Success Bool `json:"success" xml:"success"`
	// HomeWorkerTagsBeside receives home_worker_tags when TOP puts it
	// beside result_data instead of inside it: the API document's field
	// table reads so, its example does not. DecodeEnvelope moves it into
	// ResultData.HomeWorkerTags, so after decoding it is always empty: read
	// ResultData.HomeWorkerTags.
	HomeWorkerTagsBeside List[WorkerManageRule] `json:"home_worker_tags,omitempty" xml:"-"`
}

// finishDecode moves home_worker_tags found beside result_data into
// result_data.home_worker_tags (creating result_data when TOP sent none),
// so that both shapes of the API document decode to the same value. It is
// the one place of this merge.
func (r *TagListGetResponse) finishDecode() {
	res := &r.Result
	if len(res.HomeWorkerTagsBeside) == 0 {
		res.HomeWorkerTagsBeside = nil
		return
	}
	if res.ResultData == nil {
		res.ResultData = new(WorkerTag)
	}
	res.ResultData.HomeWorkerTags = append(res.ResultData.HomeWorkerTags, res.HomeWorkerTagsBeside...)
	res.HomeWorkerTagsBeside = nil
}

// WorkerTag is a worker's tags.
type WorkerTag struct {
	// BlackList is black_list: the worker is blacklisted.
	BlackList Bool `json:"black_list" xml:"black_list"`
	// Degradation is degradation (飞单状态).
	Degradation Bool `json:"degradation" xml:"degradation"`
	// AbilityMap is ability_map, a JSON fragment; see ParseAbilityMap.
	AbilityMap string `json:"ability_map,omitempty" xml:"ability_map,omitempty"`
	// Vip is vip.
	Vip Bool `json:"vip" xml:"vip"`
	// BigPromotion is big_promotion (大促工人).
	BigPromotion Bool `json:"big_promotion" xml:"big_promotion"`
	// HomeWorkerTags is home_worker_tags, the 家享 management rules.
	HomeWorkerTags List[WorkerManageRule] `json:"home_worker_tags,omitempty" xml:"home_worker_tags>worker_manage_rule_d_t_o,omitempty"`
}

// HomeWorkerTagsItem is the element name of home_worker_tags in TOP's
// normal JSON and XML.
const HomeWorkerTagsItem = "worker_manage_rule_d_t_o"

// WorkerManageRule is one home_worker_tags entry (WorkerManageRuleDTO).
type WorkerManageRule struct {
	// Name is name, e.g. black.
	Name string `json:"name,omitempty" xml:"name,omitempty"`
	// BeginTime is begin_time.
	BeginTime Time `json:"begin_time,omitzero" xml:"begin_time,omitempty"`
	// EndTime is end_time.
	EndTime Time `json:"end_time,omitzero" xml:"end_time,omitempty"`
}
