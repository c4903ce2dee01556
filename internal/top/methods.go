package top

import "strings"

// The five TOP methods servicecenterd calls.
const (
	// MethodAssignWorker assigns a worker to a workcard.
	MethodAssignWorker = "tmall.servicecenter.workcard.assignworker"
	// MethodWorkerUpdate updates an existing worker.
	MethodWorkerUpdate = "tmall.servicecenter.worker.update"
	// MethodWorkerTagList reads a worker's tags and abilities.
	MethodWorkerTagList = "tmall.servicecenter.worker.taglist.get"
	// MethodVirtualPhoneBind binds a virtual phone number to a workcard.
	MethodVirtualPhoneBind = "tmall.servicecenter.workcard.virtualphone.bind"
	// MethodBlacklistSync syncs the door-to-door pickup user blacklist.
	MethodBlacklistSync = "taobao.logistics.express.user.blacklist.tms.sync"
)

// Methods lists the five methods in a stable order.
func Methods() []string {
	return []string{MethodAssignWorker, MethodWorkerUpdate, MethodWorkerTagList, MethodVirtualPhoneBind, MethodBlacklistSync}
}

// NeedsSession reports whether a method acts for an authorised user and so
// requires the session parameter. The four tmall.servicecenter methods do;
// the blacklist sync does not.
func NeedsSession(method string) bool {
	return strings.HasPrefix(method, "tmall.")
}

// ResponseKey returns the top-level key of a method's success envelope in
// normal (not simplified) JSON and the root element in XML: a leading
// "taobao." is dropped, dots become underscores and "_response" is appended.
//
//	tmall.servicecenter.workcard.assignworker -> tmall_servicecenter_workcard_assignworker_response
//	taobao.logistics.express.user.blacklist.tms.sync -> logistics_express_user_blacklist_tms_sync_response
func ResponseKey(method string) string {
	name := strings.TrimPrefix(method, "taobao.")
	return strings.ReplaceAll(name, ".", "_") + "_response"
}

// ErrorResponseKey is the top-level key of every error envelope.
const ErrorResponseKey = "error_response"
