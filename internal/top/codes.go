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

// Business codes of assignworker, taglist.get and virtualphone.bind
// (result.msg_code).
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
	// BlacklistCodeSuccess is 200 SUCCESS (API document).
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
	// Code is the code as TOP sends it (msg_code, error_code or code).
	Code string
	// Text is its message.
	Text string
	// Kind says who must act on a failure with this code.
	Kind Kind
	// Origin says whether TOP documents the code or our emulator chose it.
	Origin Origin
	// Methods are the TOP methods that answer it.
	Methods []string
}

// businessCodes is the one table of business codes (docs/top-protocol.md
// §8). A new business code is one row here: its gRPC status, the bulk
// sync's decision and the emulator's message follow.
var businessCodes = [...]BusinessCode{
	{BizWorkcardNotFound, "工单不存在", KindNotFound, OriginDocument, []string{MethodAssignWorker, MethodVirtualPhoneBind}},
	{BizWorkerNotFound, "工人不存在", KindNotFound, OriginEmulator, []string{MethodAssignWorker, MethodWorkerTagList}},
	{BizWorkerBlacklisted, "工人已被列入黑名单", KindPrecondition, OriginEmulator, []string{MethodAssignWorker}},
	{BizStoreMismatch, "工单不属于该网点", KindPrecondition, OriginEmulator, []string{MethodAssignWorker, MethodVirtualPhoneBind}},
	{BizWorkerMismatch, "工人信息不一致", KindInvalid, OriginEmulator, []string{MethodAssignWorker}},
	{BizFulfilTaskNotFound, "核销单不存在", KindNotFound, OriginEmulator, []string{MethodAssignWorker}},
	{BizSystemBusy, "系统繁忙，请稍后重试", KindUnavailable, OriginEmulator, []string{MethodAssignWorker, MethodWorkerTagList, MethodVirtualPhoneBind}},

	// worker.update's error_code (the WorkerCode constants).
	{"100000", "系统错误", KindUnavailable, OriginDocument, []string{MethodWorkerUpdate}},
	{"100001", "工人信息校验失败", KindInvalid, OriginDocument, []string{MethodWorkerUpdate}},
	{"100002", "用户校验失败", KindPermission, OriginDocument, []string{MethodWorkerUpdate}},
	{"100003", "操作失败", KindUnknown, OriginDocument, []string{MethodWorkerUpdate}},
	{"10004", "工人信息为空", KindInvalid, OriginDocument, []string{MethodWorkerUpdate}},
	{"10005", "服务商id为空或者服务商名称为空", KindInvalid, OriginDocument, []string{MethodWorkerUpdate}},
	{"10006", "工人不存在", KindNotFound, OriginDocument, []string{MethodWorkerUpdate}},
	{"10007", "工人已存在", KindExists, OriginDocument, []string{MethodWorkerUpdate}},
	{"10008", "缺少工人姓名", KindInvalid, OriginDocument, []string{MethodWorkerUpdate}},
	{"10009", "缺少工人电话", KindInvalid, OriginDocument, []string{MethodWorkerUpdate}},
	{"10010", "网点不存在", KindNotFound, OriginDocument, []string{MethodWorkerUpdate}},
	{"11000", "category_id 无效", KindInvalid, OriginDocument, []string{MethodWorkerUpdate}},
	{"11001", "biz_type 无效", KindInvalid, OriginDocument, []string{MethodWorkerUpdate}},
	{"20001", "已查询到最后一页", KindUnknown, OriginDocument, []string{MethodWorkerUpdate}},

	// The blacklist sync's code. A failure with is_retry=true is
	// KindUnavailable whatever its code; 500 comes only that way.
	{BlacklistCodeSuccess, "SUCCESS", KindUnknown, OriginDocument, []string{MethodBlacklistSync}},
	{BlacklistCodeInvalid, "PARAM_ERROR", KindInvalid, OriginEmulator, []string{MethodBlacklistSync}},
	{BlacklistCodeConflict, "REQUEST_ID_CONFLICT", KindExists, OriginEmulator, []string{MethodBlacklistSync}},
	{BlacklistCodeBusy, "SYSTEM_BUSY", KindUnknown, OriginEmulator, []string{MethodBlacklistSync}},
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
