package topemu_test

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// successOf decodes the normal-form envelope of any method of
// top.Methods into its own response type and reports its business success
// and request_id.
func successOf(t *testing.T, method string, body []byte) (bool, string) {
	t.Helper()
	m, known := top.Lookup(method)
	if !known {
		t.Fatalf("unknown method %s", method)
	}
	resp := m.NewResponse()
	ok(t, method, body, resp)
	return resp.Err() == nil, resp.TOPRequestID()
}

func TestEveryMethodInEveryPlacement(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	seen := map[string]bool{}
	for _, placement := range []string{inBody, inQuery, inSplit, inGET} {
		for method, rq := range demoCalls(t) {
			t.Run(placement+"/"+method, func(t *testing.T) {
				rq.placement = placement
				status, body := e.call(rq)
				if status != http.StatusOK {
					t.Fatalf("status %d: %s", status, body)
				}
				success, reqID := successOf(t, method, body)
				if !success {
					t.Fatalf("not a success: %s", body)
				}
				if len(reqID) != 12 || seen[reqID] {
					t.Fatalf("request_id %q missing, malformed or repeated", reqID)
				}
				seen[reqID] = true
			})
		}
	}
	// The recorded calls show where each parameter came from.
	var calls struct {
		Calls []topemu.RecordedCall `json:"calls"`
	}
	e.admin(http.MethodGet, "/_emulator/calls?method="+top.MethodWorkerTagList, nil, &calls)
	if len(calls.Calls) != 4 {
		t.Fatalf("recorded %d taglist calls, want 4", len(calls.Calls))
	}
	split := calls.Calls[2]
	if strings.Contains(strings.Join(split.QueryParams, ","), "id_number") || len(split.QueryParams) == 0 {
		t.Fatalf("split placement recorded query params %v", split.QueryParams)
	}
}

func TestSignMethods(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	for _, m := range []top.SignMethod{top.SignMD5, top.SignHMAC, top.SignHMACSHA256} {
		t.Run(string(m), func(t *testing.T) {
			rq := demoCalls(t)[top.MethodAssignWorker] // carries Chinese text
			rq.signMethod = m
			status, body := e.call(rq)
			if success, _ := successOf(t, rq.method, body); status != http.StatusOK || !success {
				t.Fatalf("good %s signature refused: %d %s", m, status, body)
			}
			rq.secret = "not-the-secret"
			_, body = e.call(rq)
			if got := topErr(t, body); got.Code != top.CodeInvalidSignature {
				t.Fatalf("wrong secret under %s: %+v", m, got)
			}
		})
	}
	// No sign_method means md5, as TOP assumes.
	rq := demoCalls(t)[top.MethodWorkerTagList]
	rq.sys = map[string]string{top.ParamSignMethod: "-"}
	if _, body := e.call(rq); !strings.Contains(string(body), `"success":true`) {
		t.Fatalf("md5 by default refused: %s", body)
	}
}

func TestProtocolErrors(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	tag := demoCalls(t)[top.MethodWorkerTagList]
	bl := demoCalls(t)[top.MethodBlacklistSync]
	with := func(base req, sys map[string]string) req {
		base.sys = sys
		return base
	}
	now := e.clock.Now()
	tests := []struct {
		name    string
		rq      req
		code    int
		subCode string
	}{
		{"PUT verb", req{method: tag.method, biz: tag.biz, httpMethod: http.MethodPut}, 9, ""},
		{"DELETE verb", req{method: tag.method, biz: tag.biz, httpMethod: http.MethodDelete}, 9, ""},
		{"missing method", with(tag, map[string]string{"method": "-"}), 21, ""},
		{"unknown method", with(tag, map[string]string{"method": "taobao.item.seller.get"}), 22, ""},
		{"unknown method wins over a bad sign", with(tag, map[string]string{"method": "x.y", "sign": "00"}), 22, ""},
		{"missing app key", with(tag, map[string]string{"app_key": "-"}), 28, ""},
		{"unknown app key", with(tag, map[string]string{"app_key": "12345678"}), 29, ""},
		{"missing sign", with(tag, map[string]string{"sign": "-"}), 24, ""},
		{"bad sign", with(tag, map[string]string{"sign": strings.Repeat("A", 64)}), 25, ""},
		{"unknown sign method", with(tag, map[string]string{"sign_method": "sha1"}), 25, ""},
		{"bad sign wins over a bad timestamp", with(tag, map[string]string{"sign": "00", "timestamp": "yesterday"}), 25, ""},
		{"missing timestamp", with(tag, map[string]string{"timestamp": "-"}), 30, ""},
		{"malformed timestamp", with(tag, map[string]string{"timestamp": "2026/03/02 09:30"}), 31, ""},
		{"timestamp 11 minutes old", with(tag, map[string]string{"timestamp": top.FormatTime(now.Add(-11 * time.Minute))}), 31, ""},
		{"timestamp 11 minutes ahead", with(tag, map[string]string{"timestamp": top.FormatTime(now.Add(11 * time.Minute))}), 31, ""},
		{"timestamp in UTC, not UTC+8", with(tag, map[string]string{"timestamp": now.UTC().Format(top.TimeLayout)}), 31, ""},
		{"missing version", with(tag, map[string]string{"v": "-"}), 32, ""},
		{"invalid version", with(tag, map[string]string{"v": "two"}), 33, ""},
		{"unsupported version", with(tag, map[string]string{"v": "1.0"}), 34, ""},
		{"invalid format", with(tag, map[string]string{"format": "yaml"}), 23, ""},
		{"missing session", with(tag, map[string]string{"session": "-"}), 26, ""},
		{"invalid session", with(tag, map[string]string{"session": "someone-else"}), 27, ""},
		{"missing id_number", req{method: tag.method, biz: map[string]string{"mobile": "13245678901"}}, 40, top.SubCodeMissingParameter},
		{"missing mobile", req{method: tag.method, biz: map[string]string{"id_number": "11010519491231002X"}}, 40, top.SubCodeMissingParameter},
		{"missing user_blacklist_request", req{method: bl.method}, 40, top.SubCodeMissingParameter},
		{"workcard_id not a number", req{method: top.MethodAssignWorker, biz: map[string]string{"workcard_id": "12x", "target_worker_id": "1"}}, 41, top.SubCodeInvalidParameter},
		{"worker not JSON", req{method: top.MethodWorkerUpdate, biz: map[string]string{"worker": `{"name":`}}, 41, top.SubCodeInvalidParameter},
		{"blacklist wrong type", req{method: bl.method, biz: map[string]string{"user_blacklist_request": `{"blacklist":"13111111111"}`}}, 41, top.SubCodeInvalidParameter},
		{"assignworker without workcard", req{method: top.MethodAssignWorker, biz: map[string]string{"target_worker_id": "1234567"}}, 15, top.SubCodeMissingParameter},
		{"assignworker bad type", req{method: top.MethodAssignWorker, biz: map[string]string{"workcard_id": "2345678", "target_worker_id": "1234567", "type": "9"}}, 15, top.SubCodeInvalidParameter},
		{"assignworker ext_json not an object", req{method: top.MethodAssignWorker, biz: map[string]string{"workcard_id": "2345678", "target_worker_id": "1234567", "ext_json": "[1]"}}, 15, top.SubCodeInvalidParameter},
		{"virtualphone without workcard_id", req{method: top.MethodVirtualPhoneBind, biz: map[string]string{"workcard_request": `{"request_source":{}}`}}, 15, top.SubCodeMissingParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.call(tt.rq)
			if status != http.StatusOK {
				t.Fatalf("status %d, TOP answers errors with 200", status)
			}
			got := topErr(t, body)
			if got.Code != tt.code || got.SubCode != tt.subCode {
				t.Fatalf("got code %d sub_code %q, want %d %q: %s", got.Code, got.SubCode, tt.code, tt.subCode, body)
			}
			if got.Msg != top.Message(tt.code) {
				t.Fatalf("msg %q, want %q", got.Msg, top.Message(tt.code))
			}
			if len(got.RequestID) != 12 {
				t.Fatalf("request_id %q", got.RequestID)
			}
		})
	}
}

func TestSessionAndTimestampVariants(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	// The blacklist sync takes no session.
	bl := demoCalls(t)[top.MethodBlacklistSync]
	bl.sys = map[string]string{top.ParamSession: "-"}
	if _, body := e.call(bl); !strings.Contains(string(body), `"success":true`) {
		t.Fatalf("blacklist sync without session refused: %s", body)
	}
	tag := demoCalls(t)[top.MethodWorkerTagList]
	now := e.clock.Now()
	for name, ts := range map[string]string{
		"9 minutes old":      top.FormatTime(now.Add(-9 * time.Minute)),
		"9 minutes ahead":    top.FormatTime(now.Add(9 * time.Minute)),
		"epoch milliseconds": "1772415000000", // 2026-03-02 09:30:00 UTC+8
	} {
		tag.sys = map[string]string{top.ParamTimestamp: ts}
		if _, body := e.call(tag); !strings.Contains(string(body), `"success":true`) {
			t.Errorf("timestamp %s refused: %s", name, body)
		}
	}
}

func TestXMLAnswers(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	tag := demoCalls(t)[top.MethodWorkerTagList]
	tag.sys = map[string]string{top.ParamFormat: top.FormatXML}
	_, body := e.call(tag)
	var r top.TagListGetResponse
	if err := xml.Unmarshal(body, &r); err != nil {
		t.Fatalf("xml: %v\n%s", err, body)
	}
	if !strings.HasPrefix(string(body), `<?xml version="1.0" encoding="UTF-8"?>`+"\n<tmall_servicecenter_worker_taglist_get_response>") {
		t.Fatalf("root: %s", body)
	}
	if !bool(r.Result.Success) || r.RequestID == "" || len(r.Result.ResultData.HomeWorkerTags) != 1 ||
		!strings.Contains(string(body), "<home_worker_tags><worker_manage_rule_d_t_o><name>vip</name>") {
		t.Fatalf("decoded %+v from %s", r, body)
	}
	abilities, err := top.ParseAbilityMap(r.Result.ResultData.AbilityMap)
	if err != nil || abilities["tv_install"].AbilityLevel != 4 {
		t.Fatalf("ability_map %q: %v", r.Result.ResultData.AbilityMap, err)
	}

	// Absent format means XML (TOP's default); errors too.
	tag.sys = map[string]string{top.ParamFormat: "-", top.ParamSession: "wrong"}
	_, body = e.call(tag)
	var er top.ErrorResponse
	if err := xml.Unmarshal(body, &er); err != nil || er.Code != top.CodeInvalidSession || er.RequestID == "" {
		t.Fatalf("xml error %+v (%v): %s", er, err, body)
	}
	if !strings.Contains(string(body), "<error_response><code>27</code>") {
		t.Fatalf("xml error body: %s", body)
	}
}

func TestSimplifiedAndNormalJSON(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	tag := demoCalls(t)[top.MethodWorkerTagList]

	_, normal := e.call(tag)
	var raw map[string]map[string]any
	if err := json.Unmarshal(normal, &raw); err != nil {
		t.Fatal(err)
	}
	env := raw["tmall_servicecenter_worker_taglist_get_response"]
	if env == nil || env["request_id"] == "" {
		t.Fatalf("normal form: %s", normal)
	}
	data := env["result"].(map[string]any)["result_data"].(map[string]any)
	wrapped, isWrapper := data["home_worker_tags"].(map[string]any)
	if !isWrapper || wrapped["worker_manage_rule_d_t_o"] == nil {
		t.Fatalf("normal form must wrap home_worker_tags: %s", normal)
	}
	wantMap := `"ac_install":{"effective":false,"serviceCode":"ac_install","abilityLevel":2},"tv_install":{"effective":true,"serviceCode":"tv_install","abilityLevel":4}`
	if data["ability_map"] != wantMap {
		t.Fatalf("ability_map %v", data["ability_map"])
	}

	tag.sys = map[string]string{top.ParamSimplify: "true"}
	_, simple := e.call(tag)
	var flat map[string]any
	if err := json.Unmarshal(simple, &flat); err != nil {
		t.Fatal(err)
	}
	if flat["request_id"] == nil || flat["result"] == nil || len(flat) != 2 {
		t.Fatalf("simplified form: %s", simple)
	}
	list, isList := flat["result"].(map[string]any)["result_data"].(map[string]any)["home_worker_tags"].([]any)
	if !isList || len(list) != 1 {
		t.Fatalf("simplified form must not wrap lists: %s", simple)
	}
	// Both forms decode to the same typed answer.
	var a, b top.TagListGetResponse
	ok(t, tag.method, normal, &a)
	if err := json.Unmarshal(simple, &b); err != nil {
		t.Fatal(err)
	}
	a.RequestID, b.RequestID = "", ""
	if mustJSON(t, a) != mustJSON(t, b) {
		t.Fatalf("forms differ:\n%s\n%s", mustJSON(t, a), mustJSON(t, b))
	}

	// Errors keep the error_response wrapper when simplified.
	tag.sys = map[string]string{top.ParamSimplify: "true", top.ParamAppKey: "nope"}
	_, body := e.call(tag)
	if got := topErr(t, body); got.Code != top.CodeInvalidAppKey {
		t.Fatalf("simplified error: %s", body)
	}
}

func TestMultipartBody(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	u, form, _ := e.build(demoCalls(t)[top.MethodWorkerTagList])
	var sb strings.Builder
	const boundary = "XyZboundary"
	for k, vs := range values(t, form) {
		sb.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + k + "\"\r\n\r\n" + vs[0] + "\r\n")
	}
	sb.WriteString("--" + boundary + "--\r\n")
	resp, err := e.http.Post(u, "multipart/form-data; boundary="+boundary, strings.NewReader(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r top.TagListGetResponse
	var env map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(env[top.ResponseKey(top.MethodWorkerTagList)], &r); err != nil || !bool(r.Result.Success) {
		t.Fatalf("multipart: %v %+v %s", err, r, env)
	}
}
