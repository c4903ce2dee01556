package top

import (
	"encoding/xml"
	"errors"
	"strconv"
	"strings"
)

// MethodWorkerUpdate updates an existing worker.
const MethodWorkerUpdate = "tmall.servicecenter.worker.update"

// WorkerUpdate is tmall.servicecenter.worker.update: a write, for a
// seller; a business failure's code is in result.error_code.
var WorkerUpdate = newAPI[WorkerUpdateRequest, WorkerUpdateResponse](MethodWorkerUpdate, true, Write, FieldErrorCode)

// Business error codes of tmall.servicecenter.worker.update, from its API
// document; their texts and kinds are in the business-code table (codes.go).
const (
	WorkerCodeSystemError        = 100000 // 系统错误
	WorkerCodeCheckFailed        = 100001 // 工人信息校验失败
	WorkerCodeUserCheckFailed    = 100002 // 用户校验失败
	WorkerCodeOperationFailed    = 100003 // 操作失败
	WorkerCodeWorkerEmpty        = 10004  // 工人信息为空
	WorkerCodeProviderEmpty      = 10005  // 服务商id为空或者服务商名称为空
	WorkerCodeWorkerNotFound     = 10006  // 工人不存在
	WorkerCodeWorkerExists       = 10007  // 工人已存在
	WorkerCodeNameMissing        = 10008  // 缺少工人姓名
	WorkerCodePhoneMissing       = 10009  // 缺少工人电话
	WorkerCodeStoreNotFound      = 10010  // 网点不存在
	WorkerCodeInvalidCategory    = 11000  // category_id 无效
	WorkerCodeInvalidBizType     = 11001  // biz_type 无效
	WorkerCodeLastPage           = 20001  // 已查询到最后一页
	BizTypeApplianceInstallation = "appliance_install"
)

// WorkerUpdateRequest is tmall.servicecenter.worker.update (修改工人信息). For
// appliance installation a worker is unique by name + phone + biz_type
// within a provider, and must already exist.
type WorkerUpdateRequest struct {
	// Worker is worker, sent as one JSON object.
	Worker *WorkerDto
}

// WorkerDto is the worker object of worker.update.
type WorkerDto struct {
	// Address is address, where the worker lives.
	Address *AddressDto `json:"address,omitempty"`
	// BizType is biz_type; appliance_install for appliance installation.
	BizType string `json:"biz_type,omitempty"`
	// CoverCategoryIds is cover_category_ids, category ids joined by "|"
	// (FormatIDList, ParseIDList).
	CoverCategoryIds string `json:"cover_category_ids,omitempty"`
	// HandheldCardPic is handheld_card_pic, a picture of the worker holding the ID card.
	HandheldCardPic string `json:"handheld_card_pic,omitempty"`
	// IDCardPic is id_card_pic, the ID card's front.
	IDCardPic string `json:"id_card_pic,omitempty"`
	// IDCardPicBack is id_card_pic_back, the ID card's back.
	IDCardPicBack string `json:"id_card_pic_back,omitempty"`
	// IdentityID is identity_id, the ID card number.
	IdentityID string `json:"identity_id,omitempty"`
	// Name is name, the worker's name.
	Name string `json:"name,omitempty"`
	// Phone is phone, the worker's mobile (a Number in TOP).
	Phone Int64 `json:"phone,omitempty"`
	// Photo is photo.
	Photo string `json:"photo,omitempty"`
	// ProviderID is provider_id.
	ProviderID Int64 `json:"provider_id,omitempty"`
	// ProviderName is provider_name.
	ProviderName string `json:"provider_name,omitempty"`
	// RegisterTime is register_time.
	RegisterTime Time `json:"register_time,omitzero"`
	// ServiceAreas is service_areas.
	ServiceAreas []DivisionDto `json:"service_areas,omitempty"`
	// ServiceStoreCode is service_store_code, the store (网点) code.
	ServiceStoreCode string `json:"service_store_code,omitempty"`
	// ServiceTypes is service_types.
	ServiceTypes []string `json:"service_types,omitempty"`
	// WorkType is work_type.
	WorkType string `json:"work_type,omitempty"`
	// ServiceCodes is service_codes, service codes joined by "|".
	ServiceCodes string `json:"service_codes,omitempty"`
}

// AddressDto is a worker's address.
type AddressDto struct {
	// AddressDetail is address_detail: street and number.
	AddressDetail string `json:"address_detail,omitempty"`
	// AddressNames is address_names: province, city, district, street.
	AddressNames []string `json:"address_names,omitempty"`
}

// DivisionDto is one service area.
type DivisionDto struct {
	// DivisionNames is division_names: province, city, district, street.
	DivisionNames []string `json:"division_names,omitempty"`
}

// APIMethod implements Request.
func (*WorkerUpdateRequest) APIMethod() string { return MethodWorkerUpdate }

// AppendParams implements Request.
func (r *WorkerUpdateRequest) AppendParams(dst []Param) ([]Param, error) {
	if r.Worker == nil {
		return dst, nil
	}
	return appendObject(dst, "worker", r.Worker)
}

// DecodeParams reads the request from received parameters.
func (r *WorkerUpdateRequest) DecodeParams(g Getter) error {
	var w WorkerDto
	present, err := decodeObject(g, "worker", &w)
	if err != nil {
		return err
	}
	if present {
		r.Worker = &w
	}
	return nil
}

// WorkerUpdateResponse is worker.update's answer.
type WorkerUpdateResponse struct {
	XMLName xml.Name `json:"-" xml:"tmall_servicecenter_worker_update_response"`
	// Result is result.
	Result ResultBase `json:"result" xml:"result"`
	// RequestID is TOP's request_id.
	RequestID string `json:"request_id,omitempty" xml:"request_id,omitempty"`
}

// TOPRequestID implements Response.
func (r *WorkerUpdateResponse) TOPRequestID() string { return r.RequestID }

// SetTOPRequestID implements Response.
func (r *WorkerUpdateResponse) SetTOPRequestID(id string) { r.RequestID = id }

// Err returns the business failure in r, or nil when result.success is true.
func (r *WorkerUpdateResponse) Err() error {
	if r.Result.Success {
		return nil
	}
	code := ""
	if r.Result.ErrorCode != 0 {
		code = strconv.FormatInt(int64(r.Result.ErrorCode), 10)
	}
	return &BusinessError{Method: MethodWorkerUpdate, Code: code,
		Message: r.Result.ErrorMsg, RequestID: r.RequestID}
}

// ResultBase is worker.update's result: Success false with ErrorCode (see
// the WorkerCode constants) on a business failure.
type ResultBase struct {
	// ErrorCode is error_code.
	ErrorCode Int64 `json:"error_code,omitempty" xml:"error_code,omitempty"`
	// ErrorMsg is error_msg.
	ErrorMsg string `json:"error_msg,omitempty" xml:"error_msg,omitempty"`
	// GmtCreate is gmt_create, when the worker was created.
	GmtCreate Time `json:"gmt_create,omitzero" xml:"gmt_create,omitempty"`
	// GmtModified is gmt_modified, when the worker last changed.
	GmtModified Time `json:"gmt_modified,omitzero" xml:"gmt_modified,omitempty"`
	// Success is success.
	Success Bool `json:"success" xml:"success"`
	// Value is value.
	Value Bool `json:"value" xml:"value"`
}

// IDListSeparator joins the ids of a TOP id list field, such as
// cover_category_ids ("123|456").
const IDListSeparator = "|"

// FormatIDList writes ids as a TOP id list: decimal, joined by "|"; "" for
// none.
func FormatIDList(ids []int64) string {
	var b []byte
	for i, id := range ids {
		if i > 0 {
			b = append(b, IDListSeparator...)
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(b)
}

// ParseIDList reads a TOP id list ("123|456"); "" is none. A part that is
// not a whole number (an empty one included) is an error that names its
// position, not its text.
func ParseIDList(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	var ids []int64
	n := 0
	for part := range strings.SplitSeq(s, IDListSeparator) {
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil {
			return nil, errors.New("id list: part " + strconv.Itoa(n) + " is not a whole number")
		}
		ids = append(ids, id)
		n++
	}
	return ids, nil
}
