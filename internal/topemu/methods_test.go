package topemu_test

import (
	"net/http"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// TestEveryMethodAnswers walks top.Methods: each method has a demo call
// here, answers it with success and a request_id, decoded into the
// method's own response type, and refuses it without a session (26)
// exactly when the method takes one.
func TestEveryMethodAnswers(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	calls := demoCalls(t)
	for _, m := range top.Methods() {
		t.Run(m.Name, func(t *testing.T) {
			rq, found := calls[m.Name]
			if !found {
				t.Fatalf("no demo call for %s", m.Name)
			}
			status, body := e.call(rq)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			resp := m.NewResponse()
			ok(t, m.Name, body, resp)
			if err := resp.Err(); err != nil || resp.TOPRequestID() == "" {
				t.Fatalf("answer %s: err %v, request_id %q", body, err, resp.TOPRequestID())
			}

			rq.sys = map[string]string{top.ParamSession: "-"}
			status, body = e.call(rq)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			if m.Session {
				if got := topErr(t, body); got.Code != top.CodeMissingSession {
					t.Fatalf("without session: %+v, want code 26", got)
				}
				return
			}
			resp = m.NewResponse()
			ok(t, m.Name, body, resp)
			if err := resp.Err(); err != nil {
				t.Fatalf("without session: %v", err)
			}
		})
	}
	if _, body := e.call(req{method: "taobao.no.such.method"}); topErr(t, body).Code != top.CodeInvalidMethod {
		t.Fatalf("unknown method: %s", body)
	}
}
