package top

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// The names of the TOP methods servicecenterd calls (docs/top-protocol.md §9).
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

// The API descriptors: one per TOP method, with the request and response
// types, whether the seller's session goes with it and whether TOP applies
// a repeat once. Call them with Do. They are fixed; never assign to them.
var (
	// AssignWorker is tmall.servicecenter.workcard.assignworker: a write.
	AssignWorker = newAPI[AssignWorkerRequest, AssignWorkerResponse](MethodAssignWorker, true, Write)
	// WorkerUpdate is tmall.servicecenter.worker.update: a write.
	WorkerUpdate = newAPI[WorkerUpdateRequest, WorkerUpdateResponse](MethodWorkerUpdate, true, Write)
	// WorkerTagList is tmall.servicecenter.worker.taglist.get: a read.
	WorkerTagList = newAPI[TagListGetRequest, TagListGetResponse](MethodWorkerTagList, true, Read)
	// VirtualPhoneBind is tmall.servicecenter.workcard.virtualphone.bind: a
	// write (a repeat may bind a new number).
	VirtualPhoneBind = newAPI[VirtualPhoneBindRequest, VirtualPhoneBindResponse](MethodVirtualPhoneBind, true, Write)
	// BlacklistSync is taobao.logistics.express.user.blacklist.tms.sync: no
	// session; TOP applies a user_blacklist_request.request_id once.
	BlacklistSync = newAPI[BlacklistSyncRequest, BlacklistSyncResponse](MethodBlacklistSync, false, Keyed)
)

// methods is the one list of the TOP methods servicecenterd calls; the
// emulator's handlers, metrics labels and the tests that walk the methods
// all follow it.
var methods = [...]Method{
	AssignWorker.Method, WorkerUpdate.Method, WorkerTagList.Method, VirtualPhoneBind.Method, BlacklistSync.Method,
}

// Methods returns the TOP methods servicecenterd calls, in a stable order.
func Methods() []Method { return slices.Clone(methods[:]) }

// Lookup returns the method named name, reporting false for a method
// servicecenterd does not know. It does not allocate.
func Lookup(name string) (Method, bool) {
	for _, m := range methods {
		if m.Name == name {
			return m, true
		}
	}
	return Method{}, false
}

// Idempotency says what TOP does with a call it receives twice.
type Idempotency int

// The idempotency classes.
const (
	// Write changes state and TOP cannot recognise a repeat: it is sent
	// again only when it cannot have reached TOP.
	Write Idempotency = iota
	// Read changes nothing: it may always be sent again.
	Read
	// Keyed changes state once per key in the request (the blacklist
	// sync's request_id): it may always be sent again.
	Keyed
)

// String names the class.
func (i Idempotency) String() string {
	switch i {
	case Write:
		return "write"
	case Read:
		return "read"
	case Keyed:
		return "keyed"
	}
	return "unknown"
}

// Method describes one TOP method.
type Method struct {
	// Name is the method's name, e.g. tmall.servicecenter.worker.taglist.get.
	Name string
	// Session says the method acts for a seller, so the seller's session is
	// sent with it.
	Session bool
	// Idempotency says whether a call may be sent twice.
	Idempotency Idempotency

	newRequest  func() Request
	newResponse func() Response
}

// Idempotent reports whether the method may be sent again when a call may
// already have reached TOP.
func (m Method) Idempotent() bool { return m.Idempotency != Write }

// ResponseKey is the method's success envelope key (see ResponseKey).
func (m Method) ResponseKey() string { return ResponseKey(m.Name) }

// NewRequest returns a zero request of the method's type; nil for a method
// outside Methods.
func (m Method) NewRequest() Request {
	if m.newRequest == nil {
		return nil
	}
	return m.newRequest()
}

// NewResponse returns a zero response of the method's type; nil for a
// method outside Methods.
func (m Method) NewResponse() Response {
	if m.newResponse == nil {
		return nil
	}
	return m.newResponse()
}

// Response is a typed TOP answer (a success envelope's contents).
type Response interface {
	// TOPRequestID is TOP's request_id.
	TOPRequestID() string
	// SetTOPRequestID sets request_id (the emulator and fakes answer with it).
	SetTOPRequestID(id string)
	// Err returns the business failure the answer carries (a
	// *BusinessError), or nil when the call succeeded.
	Err() error
}

// API is a TOP method with its request and response types.
type API[Req, Resp any] struct{ Method }

func newAPI[Req, Resp any, PReq interface {
	*Req
	Request
}, PResp interface {
	*Resp
	Response
}](name string, session bool, idempotency Idempotency) API[Req, Resp] {
	return API[Req, Resp]{Method{
		Name: name, Session: session, Idempotency: idempotency,
		newRequest:  func() Request { return PReq(new(Req)) },
		newResponse: func() Response { return PResp(new(Resp)) },
	}}
}

// Invoker sends one TOP call and decodes the answer into resp
// (internal/topclient's Client implements it). A business failure is not
// an error here: it is in resp (resp.Err()).
type Invoker interface {
	Invoke(ctx context.Context, m Method, req Request, resp Response) error
}

// Do calls api with req through inv and returns the typed answer. It
// refuses a nil request before anything is sent. The answer may carry a
// business failure: see its Err.
func Do[Req, Resp any, PReq interface {
	*Req
	Request
}, PResp interface {
	*Resp
	Response
}](ctx context.Context, inv Invoker, api API[Req, Resp], req *Req) (*Resp, error) {
	if req == nil {
		return nil, errors.New("top " + api.Name + ": nil request")
	}
	resp := new(Resp)
	if err := inv.Invoke(ctx, api.Method, PReq(req), PResp(resp)); err != nil {
		return nil, err
	}
	return resp, nil
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
