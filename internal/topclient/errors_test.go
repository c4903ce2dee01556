package topclient

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// TestAPIErrors checks that TOP's error_response becomes an APIError with
// every field, classified by sub_code first and code second, and that the
// message masks what TOP echoes.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		code       int
		subCode    string
		kind       top.Kind
	}{
		{"API document remote error 50 isv", `{"code":50,"msg":"Remote service error","sub_code":"isv.invalid-parameter","sub_msg":"非法参数 ` + testPhone + `"}`, 50, "isv.invalid-parameter", top.KindInvalid},
		{"live remote error 15 isv", `{"code":15,"msg":"Remote service error","sub_code":"isv.invalid-parameter","sub_msg":"id ` + testID + ` invalid"}`, 15, "isv.invalid-parameter", top.KindInvalid},
		{"15 without sub_code", `{"code":15,"msg":"Remote service error"}`, 15, "", top.KindUnavailable},
		{"50 isp", `{"code":50,"msg":"Remote service error","sub_code":"isp.top-remote-unknown-error"}`, 50, "isp.top-remote-unknown-error", top.KindUnavailable},
		{"signature", `{"code":25,"msg":"Invalid signature"}`, 25, "", top.KindConfig},
		{"session", `{"code":"27","msg":"Invalid session"}`, 27, "", top.KindSession},
		{"permission", `{"code":11,"msg":"Insufficient ISV Permissions","sub_code":"isv.permission-api-package-limit"}`, 11, "isv.permission-api-package-limit", top.KindPermission},
		{"arguments", `{"code":41,"msg":"Invalid arguments:worker"}`, 41, "", top.KindInvalid},
		{"quota without ban", `{"code":7,"msg":"App Call Limited","sub_code":"accesscontrol.limited-by-app-access-count"}`, 7, "accesscontrol.limited-by-app-access-count", top.KindQuota},
		{"unknown", `{"code":99,"msg":"?"}`, 99, "", top.KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := `{"error_response":` + strings.TrimSuffix(tt.body, "}") + `,"request_id":"req-1"}}`
			u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ received, _ int) { writeJSON(w, body) })
			var info CallInfo
			c := newTestClient(t, u, func(cfg *Config) { cfg.Observer = func(ci CallInfo) { info = ci } })
			_, err := top.Do(testCtx(t), c, top.WorkerUpdate, &top.WorkerUpdateRequest{Worker: &top.WorkerDto{Name: "x"}})
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want APIError", err, err)
			}
			if ae.Method != top.MethodWorkerUpdate || ae.Resp.Code != tt.code || ae.Resp.SubCode != tt.subCode ||
				ae.Resp.RequestID != "req-1" || ae.HTTPStatus != 200 || ae.Attempts != 1 || ae.TOPFailure().Kind != tt.kind {
				t.Fatalf("APIError %+v kind %v, want code %d sub_code %q kind %v", ae, ae.TOPFailure().Kind, tt.code, tt.subCode, tt.kind)
			}
			if ae.Resp.Msg == "" {
				t.Fatal("msg lost")
			}
			if l := leaks(err.Error()); len(l) > 0 {
				t.Fatalf("error %q leaks %v", err, l)
			}
			if info.Outcome != OutcomeAPIError || info.Code != tt.code || info.SubCode != tt.subCode || info.Kind != tt.kind ||
				info.RequestID != "req-1" || info.Attempts != 1 || info.HTTPStatus != 200 {
				t.Fatalf("CallInfo %+v", info)
			}
		})
	}
}

// TestTransportErrors checks answers that are not TOP answers: each is a
// TransportError naming the HTTP status, never a panic.
func TestTransportErrors(t *testing.T) {
	t.Parallel()
	big := `{"result":{"msg_info":"` + strings.Repeat("a", 2048) + `"}}`
	tests := []struct {
		name   string
		reply  func(w http.ResponseWriter)
		status int
		want   string
	}{
		{"500", func(w http.ResponseWriter) { http.Error(w, "boom "+testPhone, 500) }, 500, "HTTP 500 Internal Server Error"},
		{"404", func(w http.ResponseWriter) { http.Error(w, "no", 404) }, 404, "HTTP 404 Not Found"},
		{"302", func(w http.ResponseWriter) {
			w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
			w.WriteHeader(http.StatusFound)
		}, 302, "HTTP 302 Found"},
		{"html page", func(w http.ResponseWriter) { _, _ = w.Write([]byte("<html>maintenance</html>")) }, 200, "HTTP 200 OK: body is not JSON"},
		{"empty body", func(http.ResponseWriter) {}, 200, "body is not JSON: empty body"},
		{"truncated JSON", func(w http.ResponseWriter) { writeJSON(w, `{"result":{"success":tr}`) }, 200, "body is not JSON"},
		{"JSON array", func(w http.ResponseWriter) { writeJSON(w, `[1,2]`) }, 200, "body is not JSON"},
		{"oversized with length", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = w.Write([]byte(big))
		}, 200, "body exceeds 1024 bytes"},
		{"oversized chunked", func(w http.ResponseWriter) {
			_, _ = w.Write([]byte(big[:1000]))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte(big[1000:]))
		}, 200, "body exceeds 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ received, _ int) { tt.reply(w) })
			var info CallInfo
			c := newTestClient(t, u, func(cfg *Config) {
				cfg.MaxResponseBytes = 1024
				cfg.Observer = func(ci CallInfo) { info = ci }
			})
			_, err := top.Do(testCtx(t), c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone})
			var te *TransportError
			if !errors.As(err, &te) || te.StatusCode != tt.status || te.Method != top.MethodWorkerTagList {
				t.Fatalf("err = %v (%T), want TransportError with status %d", err, err, tt.status)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %q does not say %q", err, tt.want)
			}
			if l := leaks(err.Error()); len(l) > 0 {
				t.Fatalf("err %q leaks %v", err, l)
			}
			if info.Outcome != OutcomeTransportError || info.HTTPStatus != tt.status {
				t.Fatalf("CallInfo %+v", info)
			}
			if n := u.count.Load(); n != 1 {
				t.Fatalf("%d attempts, want 1 (not retryable)", n)
			}
		})
	}
}

// TestNoLeaks drives every failure kind with personal data in the request
// and in TOP's messages, and checks error strings and Observer reports for
// the secret, the session, the signature, phone and ID numbers.
func TestNoLeaks(t *testing.T) {
	t.Parallel()
	replies := []func(w http.ResponseWriter, got received){
		func(w http.ResponseWriter, got received) {
			writeJSON(w, `{"error_response":{"code":41,"msg":"Invalid arguments: mobile `+got.Form.Get("mobile")+`","sub_code":"isv.invalid-parameter","sub_msg":"id_number `+got.Form.Get("id_number")+` session `+got.Form.Get("session")+`"}}`)
		},
		func(w http.ResponseWriter, got received) {
			writeJSON(w, `{"result":{"success":"`+got.Form.Get("mobile")+`"}}`)
		},
		func(w http.ResponseWriter, got received) {
			writeJSON(w, `{"result":{"result_data":{"vip":"`+got.Form.Get("id_number")+`"}}}`)
		},
		func(w http.ResponseWriter, _ received) { http.Error(w, "bad gateway", http.StatusBadGateway) },
		func(w http.ResponseWriter, got received) {
			_, _ = w.Write([]byte("<p>" + got.Form.Get("mobile") + "</p>"))
		},
		func(w http.ResponseWriter, got received) {
			writeJSON(w, `{"error_response":{"code":7,"msg":"App Call Limited `+got.Form.Get("mobile")+`","sub_code":"accesscontrol.limited-by-api-access-count","sub_msg":"This ban will last for 5 more seconds"}}`)
		},
	}
	for i, reply := range replies {
		u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, got received, _ int) { reply(w, got) })
		var reports []string
		c := newTestClient(t, u, func(cfg *Config) {
			cfg.Observer = func(ci CallInfo) { reports = append(reports, fmt.Sprintf("%+v", ci)) }
		})
		ctx := testCtx(t)
		var errs []error
		for range 2 { // the second call meets the ban, if any
			_, err := top.Do(ctx, c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone})
			if err == nil {
				t.Fatalf("reply %d: no error", i)
			}
			errs = append(errs, err)
		}
		sign := u.received()[0].Form.Get("sign")
		if len(sign) != 64 {
			t.Fatalf("sign %q", sign)
		}
		for _, err := range errs {
			if l := leaks(err.Error(), sign); len(l) > 0 {
				t.Errorf("reply %d: error %q leaks %v", i, err, l)
			}
		}
		for _, r := range reports {
			if l := leaks(r, sign); len(l) > 0 {
				t.Errorf("reply %d: report %q leaks %v", i, r, l)
			}
		}
	}
}
