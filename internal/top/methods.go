package top

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// methods is the one list of the TOP methods servicecenterd calls. Each
// method is declared in its own file (top/<method>.go): its name, request
// and response types, session, idempotency and the field its business
// codes come in. The client, the emulator's handlers, the metrics labels,
// docs/top-protocol.md's tables and the tests that walk the methods all
// follow this list.
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
	// CodeField is the field of the answer that carries a business
	// failure's code; the method answers the business codes of that field
	// (codes.go).
	CodeField CodeField

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

// API is a TOP method with its request and response types: one variable
// per method, declared in the method's file and called with Do. They are
// fixed; never assign to them.
type API[Req, Resp any] struct{ Method }

func newAPI[Req, Resp any, PReq interface {
	*Req
	Request
}, PResp interface {
	*Resp
	Response
}](name string, session bool, idempotency Idempotency, field CodeField) API[Req, Resp] {
	return API[Req, Resp]{Method{
		Name: name, Session: session, Idempotency: idempotency, CodeField: field,
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
