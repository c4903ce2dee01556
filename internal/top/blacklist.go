package top

import (
	"encoding/xml"
)

// MethodBlacklistSync syncs the door-to-door pickup user blacklist.
const MethodBlacklistSync = "taobao.logistics.express.user.blacklist.tms.sync"

// BlacklistSync is taobao.logistics.express.user.blacklist.tms.sync: for
// the app, no session; TOP applies a user_blacklist_request.request_id
// once; a business failure's code is in user_blacklist_response.code.
var BlacklistSync = newAPI[BlacklistSyncRequest, BlacklistSyncResponse](MethodBlacklistSync, false, Keyed, FieldBlacklistCode)

// Operate types of the blacklist sync.
const (
	// OperateUpsert adds or updates entries (1-新增/更新).
	OperateUpsert = 1
	// OperateDelete deletes entries (2-删除).
	OperateDelete = 2
	// ServiceTypePickup is service_type 1, door-to-door pickup (上门取退).
	ServiceTypePickup = "1"
	// AbilityTypePickup is ability_type 1, door-to-door pickup.
	AbilityTypePickup = "1"
)

// BlacklistSyncRequest is taobao.logistics.express.user.blacklist.tms.sync
// (上门取退用户黑名单同步). It takes no session and is idempotent by
// UserBlacklistRequest.RequestID.
type BlacklistSyncRequest struct {
	// UserBlacklistRequest is user_blacklist_request (required), one JSON object.
	UserBlacklistRequest *UserBlacklistRequest
}

// UserBlacklistRequest is the user_blacklist_request object.
type UserBlacklistRequest struct {
	// RequestID is request_id (required), the idempotency key.
	RequestID string `json:"request_id,omitempty"`
	// RequestTime is request_time (required), epoch milliseconds.
	RequestTime Int64 `json:"request_time,omitempty"`
	// SupplierID is supplier_id (required), the provider's id.
	SupplierID string `json:"supplier_id,omitempty"`
	// ServiceType is service_type (required): "1" door-to-door pickup.
	ServiceType string `json:"service_type,omitempty"`
	// AbilityType is ability_type (required): "1" door-to-door pickup.
	AbilityType string `json:"ability_type,omitempty"`
	// Blacklist is blacklist (required), the users.
	Blacklist []Blacklist `json:"blacklist,omitempty"`
	// OperateType is operate_type (required): 1 add/update, 2 delete.
	OperateType Int64 `json:"operate_type,omitempty"`
}

// Blacklist is one blacklisted user.
type Blacklist struct {
	// Mobile is mobile (required).
	Mobile string `json:"mobile,omitempty"`
	// Reason is reason: reasons 1 to 5 joined by commas (1 malicious orders,
	// 2 malicious complaints, 3 extortion, 4 abuse of couriers, 5 other).
	Reason string `json:"reason,omitempty"`
}

// APIMethod implements Request.
func (*BlacklistSyncRequest) APIMethod() string { return MethodBlacklistSync }

// AppendParams implements Request.
func (r *BlacklistSyncRequest) AppendParams(dst []Param) ([]Param, error) {
	if r.UserBlacklistRequest == nil {
		return dst, nil
	}
	return appendObject(dst, "user_blacklist_request", r.UserBlacklistRequest)
}

// DecodeParams reads the request from received parameters.
func (r *BlacklistSyncRequest) DecodeParams(g Getter) error {
	var u UserBlacklistRequest
	present, err := decodeObject(g, "user_blacklist_request", &u)
	if err != nil {
		return err
	}
	if present {
		r.UserBlacklistRequest = &u
	}
	return nil
}

// BlacklistSyncResponse is the blacklist sync's answer.
type BlacklistSyncResponse struct {
	XMLName xml.Name `json:"-" xml:"logistics_express_user_blacklist_tms_sync_response"`
	// UserBlacklistResponse is user_blacklist_response.
	UserBlacklistResponse UserBlacklistResponse `json:"user_blacklist_response" xml:"user_blacklist_response"`
	// RequestID is TOP's request_id.
	RequestID string `json:"request_id,omitempty" xml:"request_id,omitempty"`
}

// TOPRequestID implements Response.
func (r *BlacklistSyncResponse) TOPRequestID() string { return r.RequestID }

// SetTOPRequestID implements Response.
func (r *BlacklistSyncResponse) SetTOPRequestID(id string) { r.RequestID = id }

// Err returns the business failure in r, or nil when success is true.
func (r *BlacklistSyncResponse) Err() error {
	u := r.UserBlacklistResponse
	if u.Success {
		return nil
	}
	return &BusinessError{Method: MethodBlacklistSync, Code: string(u.Code),
		Message: u.Message, Retry: bool(u.IsRetry), RequestID: r.RequestID}
}

// UserBlacklistResponse is user_blacklist_response.
type UserBlacklistResponse struct {
	// Success is success.
	Success Bool `json:"success" xml:"success"`
	// Code is code, e.g. "200".
	Code String `json:"code,omitempty" xml:"code,omitempty"`
	// Message is message, e.g. SUCCESS.
	Message string `json:"message,omitempty" xml:"message,omitempty"`
	// IsRetry is is_retry: the failure is transient and the same request
	// may be sent again.
	IsRetry Bool `json:"is_retry" xml:"is_retry"`
}
