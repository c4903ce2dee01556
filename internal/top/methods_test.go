package top

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestMethodTable walks Methods: every entry's request names the method,
// its response's XML root is the method's ResponseKey, the request id
// round-trips, Lookup finds it, and the session rule holds (the tmall.*
// methods act for a seller; the taobao.* blacklist sync does not).
func TestMethodTable(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Methods() {
		t.Run(m.Name, func(t *testing.T) {
			if seen[m.Name] {
				t.Fatal("listed twice")
			}
			seen[m.Name] = true
			req := m.NewRequest()
			if req == nil || req.APIMethod() != m.Name {
				t.Fatalf("request %T names %q", req, req.APIMethod())
			}
			resp := m.NewResponse()
			if resp == nil {
				t.Fatal("no response type")
			}
			field, ok := reflect.TypeOf(resp).Elem().FieldByName("XMLName")
			if !ok || field.Tag.Get("xml") != m.ResponseKey() {
				t.Fatalf("%T's XML root %q, want %q", resp, field.Tag.Get("xml"), m.ResponseKey())
			}
			resp.SetTOPRequestID("rid-1")
			if resp.TOPRequestID() != "rid-1" {
				t.Fatal("request id does not round-trip")
			}
			var biz *BusinessError
			if err := resp.Err(); !errors.As(err, &biz) || biz.Method != m.Name || biz.RequestID != "rid-1" {
				t.Fatalf("zero answer's Err() = %v, want a business failure of %s", err, m.Name)
			}
			if got, ok := Lookup(m.Name); !ok || got.Name != m.Name || got.Session != m.Session || got.Idempotency != m.Idempotency {
				t.Fatalf("Lookup = %+v, %v", got, ok)
			}
			if m.Session != strings.HasPrefix(m.Name, "tmall.") {
				t.Fatalf("session %v for %s", m.Session, m.Name)
			}
			if m.Idempotent() != (m.Idempotency != Write) || m.Idempotency.String() == "unknown" {
				t.Fatalf("idempotency %v", m.Idempotency)
			}
			if m.CodeField.String() == "unknown" {
				t.Fatalf("business codes in field %d", m.CodeField)
			}
		})
	}
	if _, ok := Lookup("taobao.no.such.method"); ok {
		t.Fatal("Lookup found an unknown method")
	}
	if m := (Method{Name: "x"}); m.NewRequest() != nil || m.NewResponse() != nil || m.Idempotent() {
		t.Fatal("a method outside the table has types or is idempotent")
	}
}

// TestIdempotencyOfTheMethods pins which methods TOP applies once.
func TestIdempotencyOfTheMethods(t *testing.T) {
	want := map[string]Idempotency{
		MethodAssignWorker: Write, MethodWorkerUpdate: Write, MethodVirtualPhoneBind: Write,
		MethodWorkerTagList: Read, MethodBlacklistSync: Keyed,
	}
	for _, m := range Methods() {
		if w, ok := want[m.Name]; !ok || m.Idempotency != w {
			t.Errorf("%s: %v, want %v (listed %v)", m.Name, m.Idempotency, w, ok)
		}
	}
	if len(want) != len(Methods()) {
		t.Errorf("%d methods, %d expected", len(Methods()), len(want))
	}
}

type fakeInvoker struct {
	got   []Method
	reqs  []Request
	reply func(Response)
	err   error
}

func (f *fakeInvoker) Invoke(_ context.Context, m Method, req Request, resp Response) error {
	f.got = append(f.got, m)
	f.reqs = append(f.reqs, req)
	if f.reply != nil {
		f.reply(resp)
	}
	return f.err
}

func TestDo(t *testing.T) {
	inv := &fakeInvoker{reply: func(r Response) { r.SetTOPRequestID("rid-9") }}
	req := &TagListGetRequest{IDNumber: "x", Mobile: "y"}
	resp, err := Do(context.Background(), inv, WorkerTagList, req)
	if err != nil || resp.RequestID != "rid-9" || len(inv.got) != 1 || inv.got[0].Name != MethodWorkerTagList ||
		!inv.got[0].Session || inv.reqs[0] != Request(req) {
		t.Fatalf("Do = %+v, %v; invoked %+v", resp, err, inv.got)
	}
	if _, err := Do(context.Background(), inv, BlacklistSync, nil); err == nil || len(inv.got) != 1 {
		t.Fatalf("nil request: %v, invoked %d times", err, len(inv.got))
	}
	inv.err = errors.New("boom")
	if resp, err := Do(context.Background(), inv, AssignWorker, &AssignWorkerRequest{}); err == nil || resp != nil {
		t.Fatalf("failure: %+v, %v", resp, err)
	}
}
