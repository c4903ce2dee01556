package top

import "slices"

// Origin says where a business code comes from.
type Origin int

// The origins of business codes.
const (
	// OriginDocument: the method's API document gives the code.
	OriginDocument Origin = iota + 1
	// OriginEmulator: our emulator's stand-in where TOP documents none.
	// servicecenterd maps it because it is the best guess we have; it is
	// not TOP's.
	OriginEmulator
)

// String names the origin.
func (o Origin) String() string {
	switch o {
	case OriginDocument:
		return "API document"
	case OriginEmulator:
		return "our emulator"
	}
	return "unknown"
}

// A CodeField is the field of a method's answer that carries a business
// failure's code. Every business code belongs to one field and every
// method answers in one (its Method.CodeField), so the codes a method may
// answer are the codes of its field: a new code is one row of the table
// below, and a new method names its field in its own file.
type CodeField int

// The fields business codes come in.
const (
	// FieldMsgCode is result.msg_code, beside result.success=false (e.g.
	// assignworker's).
	FieldMsgCode CodeField = iota + 1
	// FieldErrorCode is result.error_code (worker.update's).
	FieldErrorCode
	// FieldBlacklistCode is user_blacklist_response.code (the blacklist
	// sync's), which may come with is_retry.
	FieldBlacklistCode
)

// String is the field's path in the answer, e.g. result.msg_code.
func (f CodeField) String() string {
	switch f {
	case FieldMsgCode:
		return "result.msg_code"
	case FieldErrorCode:
		return "result.error_code"
	case FieldBlacklistCode:
		return "user_blacklist_response.code"
	}
	return "unknown"
}

// Business codes of result.msg_code.
const (
	// BizWorkcardNotFound is 1008 工单不存在 (API document).
	BizWorkcardNotFound = "1008"
	// BizWorkerNotFound is 1009 工人不存在 (our emulator).
	BizWorkerNotFound = "1009"
	// BizWorkerBlacklisted is 1010 工人已被列入黑名单 (our emulator).
	BizWorkerBlacklisted = "1010"
	// BizStoreMismatch is 1011 工单不属于该网点 (our emulator).
	BizStoreMismatch = "1011"
	// BizWorkerMismatch is 1012 工人信息不一致 (our emulator).
	BizWorkerMismatch = "1012"
	// BizFulfilTaskNotFound is 1013 核销单不存在 (our emulator).
	BizFulfilTaskNotFound = "1013"
	// BizSystemBusy is 9999 系统繁忙，请稍后重试 (our emulator).
	BizSystemBusy = "9999"
)

// Codes of the blacklist sync's user_blacklist_response.code.
const (
	// BlacklistCodeSuccess is 200 SUCCESS, the code of a successful answer
	// (API document); not a failure, so not in the table.
	BlacklistCodeSuccess = "200"
	// BlacklistCodeInvalid is 400 PARAM_ERROR (our emulator).
	BlacklistCodeInvalid = "400"
	// BlacklistCodeConflict is 409 REQUEST_ID_CONFLICT: the request_id was
	// applied with another payload (our emulator).
	BlacklistCodeConflict = "409"
	// BlacklistCodeBusy is 500 SYSTEM_BUSY, sent with is_retry=true (our
	// emulator).
	BlacklistCodeBusy = "500"
)

// BusinessCode is one row of the business-code table.
type BusinessCode struct {
	// Code is the code as TOP sends it.
	Code string
	// Field is the answer field it comes in; the methods answering in that
	// field may send it.
	Field CodeField
	// Text is TOP's message for it.
	Text string
	// Meaning is Text in English, when Text is not.
	Meaning string
	// Kind says who must act on a failure with this code.
	Kind Kind
	// Origin says whether TOP documents the code or our emulator chose it.
	Origin Origin
}

// businessCodes is the one table of business failure codes
// (docs/top-protocol.md §8 is written from it by make docs). A new
// business code is one row here: its gRPC status, the bulk sync's
// decision, the emulator's message and the docs follow.
var businessCodes = [...]BusinessCode{
	{BizWorkcardNotFound, FieldMsgCode, "工单不存在", "workcard not found", KindNotFound, OriginDocument},
	{BizWorkerNotFound, FieldMsgCode, "工人不存在", "worker not found", KindNotFound, OriginEmulator},
	{BizWorkerBlacklisted, FieldMsgCode, "工人已被列入黑名单", "worker blacklisted", KindPrecondition, OriginEmulator},
	{BizStoreMismatch, FieldMsgCode, "工单不属于该网点", "workcard of another store", KindPrecondition, OriginEmulator},
	{BizWorkerMismatch, FieldMsgCode, "工人信息不一致", "worker details disagree", KindInvalid, OriginEmulator},
	{BizFulfilTaskNotFound, FieldMsgCode, "核销单不存在", "fulfilment task not found", KindNotFound, OriginEmulator},
	{BizSystemBusy, FieldMsgCode, "系统繁忙，请稍后重试", "system busy, try again later", KindUnavailable, OriginEmulator},

	// worker.update's error_code (the WorkerCode constants).
	{"100000", FieldErrorCode, "系统错误", "system error", KindUnavailable, OriginDocument},
	{"100001", FieldErrorCode, "工人信息校验失败", "worker check failed", KindInvalid, OriginDocument},
	{"100002", FieldErrorCode, "用户校验失败", "user check failed", KindPermission, OriginDocument},
	{"100003", FieldErrorCode, "操作失败", "operation failed", KindUnknown, OriginDocument},
	{"10004", FieldErrorCode, "工人信息为空", "no worker", KindInvalid, OriginDocument},
	{"10005", FieldErrorCode, "服务商id为空或者服务商名称为空", "no provider", KindInvalid, OriginDocument},
	{"10006", FieldErrorCode, "工人不存在", "worker not found", KindNotFound, OriginDocument},
	{"10007", FieldErrorCode, "工人已存在", "worker exists", KindExists, OriginDocument},
	{"10008", FieldErrorCode, "缺少工人姓名", "no name", KindInvalid, OriginDocument},
	{"10009", FieldErrorCode, "缺少工人电话", "no phone", KindInvalid, OriginDocument},
	{"10010", FieldErrorCode, "网点不存在", "store not found", KindNotFound, OriginDocument},
	{"11000", FieldErrorCode, "category_id 无效", "invalid category", KindInvalid, OriginDocument},
	{"11001", FieldErrorCode, "biz_type 无效", "invalid biz_type", KindInvalid, OriginDocument},
	{"20001", FieldErrorCode, "已查询到最后一页", "last page reached", KindUnknown, OriginDocument},

	// The blacklist sync's code. A failure with is_retry=true is
	// KindUnavailable whatever its code; 500 comes only that way.
	{BlacklistCodeInvalid, FieldBlacklistCode, "PARAM_ERROR", "", KindInvalid, OriginEmulator},
	{BlacklistCodeConflict, FieldBlacklistCode, "REQUEST_ID_CONFLICT", "", KindExists, OriginEmulator},
	{BlacklistCodeBusy, FieldBlacklistCode, "SYSTEM_BUSY", "always sent with is_retry=true", KindUnknown, OriginEmulator},
}

// BusinessCodes returns a copy of the business-code table.
func BusinessCodes() []BusinessCode { return slices.Clone(businessCodes[:]) }

// LookupBusinessCode returns the table's row for code.
func LookupBusinessCode(code string) (BusinessCode, bool) {
	for _, c := range businessCodes {
		if c.Code == code {
			return c, true
		}
	}
	return BusinessCode{}, false
}

// BusinessText returns the message of a business code, or "" when the code
// is not in the table.
func BusinessText(code string) string {
	c, _ := LookupBusinessCode(code)
	return c.Text
}
