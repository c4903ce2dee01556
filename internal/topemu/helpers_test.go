package topemu_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is a settable clock for the emulator and the callers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 2, 9, 30, 0, 0, top.Beijing())}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is an emulator behind a real loopback listener.
type env struct {
	t     testing.TB
	emu   *topemu.Emulator
	srv   *httptest.Server
	clock *clock
	http  *http.Client
}

// newEnv starts an emulator with cfg (its clock replaced by a test clock)
// on 127.0.0.1.
func newEnv(t testing.TB, cfg topemu.Config) *env {
	t.Helper()
	c := newClock()
	cfg.Now = c.Now
	if cfg.FaultSeed == 0 {
		cfg.FaultSeed = 1
	}
	emu, err := topemu.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(emu)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on loopback: %s", srv.URL)
	}
	e := &env{t: t, emu: emu, srv: srv, clock: c, http: srv.Client()}
	e.http.Timeout = 30 * time.Second
	t.Cleanup(func() {
		srv.Close()
		if err := emu.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// Placements of parameters.
const (
	inBody  = "body"  // POST, everything in the form body
	inQuery = "query" // POST, everything in the query string, empty body
	inSplit = "split" // POST, system params in the query, business params in the body (official SDKs)
	inGET   = "get"   // GET, everything in the query string
)

// req is a hand-built TOP request.
type req struct {
	method     string
	biz        map[string]string
	sys        map[string]string // overrides of system params; "-" removes one
	placement  string
	signMethod top.SignMethod
	secret     string // default topemu.DefaultAppSecret
	httpMethod string // overrides the placement's verb
}

// build returns the URL, the body and the verb of rq.
func (e *env) build(rq req) (string, string, string) {
	params := map[string]string{
		top.ParamMethod:     rq.method,
		top.ParamAppKey:     topemu.DefaultAppKey,
		top.ParamTimestamp:  top.FormatTime(e.clock.Now()),
		top.ParamFormat:     top.FormatJSON,
		top.ParamVersion:    top.Version,
		top.ParamSignMethod: string(rq.signMethod),
		top.ParamPartnerID:  "topemu-test",
	}
	if rq.signMethod == "" {
		params[top.ParamSignMethod] = string(top.SignHMACSHA256)
	}
	if m, _ := top.Lookup(rq.method); m.Session {
		params[top.ParamSession] = topemu.DefaultSession
	}
	for k, v := range rq.biz {
		params[k] = v
	}
	for k, v := range rq.sys {
		if v == "-" {
			delete(params, k)
		} else {
			params[k] = v
		}
	}
	if _, given := rq.sys[top.ParamSign]; !given {
		list := make([]top.Param, 0, len(params))
		for k, v := range params {
			list = append(list, top.Param{Key: k, Value: v})
		}
		top.SortParams(list)
		secret := rq.secret
		if secret == "" {
			secret = topemu.DefaultAppSecret
		}
		m, err := top.ParseSignMethod(params[top.ParamSignMethod])
		if err != nil {
			m = top.SignMD5 // absent or unknown: sign somehow, the emulator decides
		}
		sign, err := top.Sign(m, secret, list)
		if err != nil {
			e.t.Fatalf("sign: %v", err)
		}
		params[top.ParamSign] = sign
	}
	var query, body []top.Param
	for k, v := range params {
		p := top.Param{Key: k, Value: v}
		switch {
		case rq.placement == inQuery || rq.placement == inGET:
			query = append(query, p)
		case rq.placement == inSplit && top.IsSystemParam(k):
			query = append(query, p)
		default:
			body = append(body, p)
		}
	}
	top.SortParams(query)
	top.SortParams(body)
	u := e.srv.URL + "/router/rest"
	if len(query) > 0 {
		u += "?" + string(top.AppendForm(nil, query))
	}
	verb := http.MethodPost
	if rq.placement == inGET {
		verb = http.MethodGet
	}
	if rq.httpMethod != "" {
		verb = rq.httpMethod
	}
	return u, string(top.AppendForm(nil, body)), verb
}

// call sends rq and returns the HTTP status and body.
func (e *env) call(rq req) (int, []byte) {
	e.t.Helper()
	u, body, verb := e.build(rq)
	var rd io.Reader
	if verb != http.MethodGet {
		rd = strings.NewReader(body)
	}
	hr, err := http.NewRequest(verb, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		hr.Header.Set("Content-Type", top.FormContentType)
	}
	resp, err := e.http.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", verb, rq.method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// topErr decodes an error envelope (JSON, or XML when the request's format
// was not usable); it fails the test when body is not one.
func topErr(t testing.TB, body []byte) *top.ErrorResponse {
	t.Helper()
	if bytes.HasPrefix(body, []byte("<?xml")) {
		var er top.ErrorResponse
		if err := xml.Unmarshal(body, &er); err != nil || er.Code == 0 {
			t.Fatalf("not an error_response: %s (%v)", body, err)
		}
		return &er
	}
	var env top.ErrorEnvelope
	if err := json.Unmarshal(body, &env); err != nil || env.ErrorResponse == nil {
		t.Fatalf("not an error_response: %s (%v)", body, err)
	}
	return env.ErrorResponse
}

// ok decodes a normal-form success envelope of method into v.
func ok(t testing.TB, method string, body []byte, v any) {
	t.Helper()
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	inner, found := env[top.ResponseKey(method)]
	if !found || len(env) != 1 {
		t.Fatalf("want only key %s, got %s", top.ResponseKey(method), body)
	}
	if err := json.Unmarshal(inner, v); err != nil {
		t.Fatalf("decode %s: %v", inner, err)
	}
}

// admin calls an admin endpoint and decodes a JSON answer into v (if not nil).
func (e *env) admin(verb, path string, in any, v any) int {
	e.t.Helper()
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			e.t.Fatal(err)
		}
		if s, isString := in.(string); isString {
			b = []byte(s)
		}
		rd = bytes.NewReader(b)
	}
	hr, err := http.NewRequest(verb, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.http.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", verb, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", verb, path, b, err)
		}
	}
	return resp.StatusCode
}

// blacklistReq builds a blacklist sync request.
func blacklistReq(requestID string, op int, entries ...[2]string) req {
	type entry struct {
		Mobile string `json:"mobile"`
		Reason string `json:"reason,omitempty"`
	}
	list := make([]entry, 0, len(entries))
	for _, e := range entries {
		list = append(list, entry{e[0], e[1]})
	}
	b, _ := json.Marshal(map[string]any{
		"request_id": requestID, "request_time": 1656674541001, "supplier_id": "10000000001",
		"service_type": "1", "ability_type": "1", "operate_type": op, "blacklist": list,
	})
	return req{method: top.MethodBlacklistSync, biz: map[string]string{"user_blacklist_request": string(b)}}
}

// mustJSON encodes v.
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// demoCalls are one successful call of each method with the demo data.
func demoCalls(t testing.TB) map[string]req {
	return map[string]req{
		top.MethodAssignWorker: {method: top.MethodAssignWorker, biz: map[string]string{
			"workcard_id": "2345678", "target_worker_id": "1234567", "target_worker_mobile": "13245678901",
			"target_worker_name": "张师傅", "type": "2", "service_store_id": "12345", "fulfil_task_id": "1898",
			"outer_id": "test12345", "ext_json": `{"carNumber":"1234"}`,
		}},
		top.MethodWorkerUpdate: {method: top.MethodWorkerUpdate, biz: map[string]string{
			"worker": mustJSON(t, map[string]any{
				"name": "张三", "phone": 13712345678, "biz_type": "appliance_install", "provider_id": 1,
				"cover_category_ids": "123|456", "service_codes": "washer_install|tv_install",
				"address": map[string]any{"address_detail": "文二路 1 号", "address_names": []string{"浙江省", "杭州市"}},
			}),
		}},
		top.MethodWorkerTagList: {method: top.MethodWorkerTagList, biz: map[string]string{
			"id_number": "11010519491231002X", "mobile": "13245678901",
		}},
		top.MethodVirtualPhoneBind: {method: top.MethodVirtualPhoneBind, biz: map[string]string{
			"workcard_request": `{"request_source":{"real_tp_nick":"天猫服务商XXX","service_store_code":"FWS1122"},"workcard_id":11111222}`,
		}},
		top.MethodBlacklistSync: blacklistReq("1656674541001", 1, [2]string{"13111111111", "1"}),
	}
}

// values parses a query string, failing the test on error.
func values(t testing.TB, s string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
