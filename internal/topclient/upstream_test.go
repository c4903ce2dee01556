package topclient

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Test credentials. The secret, session, phone and ID values are checked
// for in every error message and Observer report.
const (
	testAppKey  = "12345678"
	testSecret  = "S3cr3t-helloworld"
	testSession = "sess-6100e2f1a9"
	testPhone   = "13812345678"
	testID      = "11010519491231002X"
)

// oracleSign is the documented TOP signature (docs/top-protocol.md §3), written
// here from crypto/md5 and crypto/hmac directly so that the client's wire
// output is checked against the specification, not against top.
func oracleSign(method, secret string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		if k != "sign" && form.Get(k) != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var concat strings.Builder
	for _, k := range keys {
		concat.WriteString(k)
		concat.WriteString(form.Get(k))
	}
	var sum []byte
	switch method {
	case "md5":
		s := md5.Sum([]byte(secret + concat.String() + secret))
		sum = s[:]
	case "hmac":
		h := hmac.New(md5.New, []byte(secret))
		h.Write([]byte(concat.String()))
		sum = h.Sum(nil)
	case "hmac-sha256":
		h := hmac.New(sha256.New, []byte(secret))
		h.Write([]byte(concat.String()))
		sum = h.Sum(nil)
	default:
		return "unknown sign method " + method
	}
	return strings.ToUpper(hex.EncodeToString(sum))
}

// received is one request as the fake gateway saw it.
type received struct {
	Method      string // TOP method
	HTTPMethod  string
	Path        string
	RawQuery    string
	ContentType string
	Header      http.Header
	Form        url.Values // body only
	SignOK      bool
}

// upstream is a fake TOP gateway on 127.0.0.1 that records what crosses the
// wire, checks the signature with oracleSign and answers with reply.
type upstream struct {
	t      *testing.T
	srv    *httptest.Server
	secret string
	count  atomic.Int32

	mu    sync.Mutex
	calls []received
	reply func(w http.ResponseWriter, r *http.Request, got received, n int)
}

// newUpstream starts a fake gateway. reply answers the n-th request (from
// 1); nil answers every call with okBody in the shape the call asked for.
func newUpstream(t *testing.T, reply func(w http.ResponseWriter, r *http.Request, got received, n int)) *upstream {
	t.Helper()
	u := &upstream{t: t, secret: testSecret, reply: reply}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	n := int(u.count.Add(1))
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	got := received{
		Method: form.Get("method"), HTTPMethod: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"), Header: r.Header.Clone(), Form: form,
	}
	got.SignOK = form.Get("sign") == oracleSign(form.Get("sign_method"), u.secret, form)
	u.mu.Lock()
	u.calls = append(u.calls, got)
	reply := u.reply
	u.mu.Unlock()
	if !got.SignOK {
		writeJSON(w, `{"error_response":{"code":25,"msg":"Invalid signature","request_id":"sig"}}`)
		return
	}
	if reply == nil {
		writeJSON(w, okBody(got.Method, got.Form.Get("simplify") == "true"))
		return
	}
	reply(w, r, got, n)
}

func (u *upstream) received() []received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]received(nil), u.calls...)
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	_, _ = w.Write([]byte(body))
}

// okFields returns a success answer of method as the fields of the
// response object (request_id excluded), in TOP's normal and simplified
// JSON; they differ in list wrapping and in how values are quoted.
func okFields(method string) ([2]string, bool) {
	f, ok := map[string][2]string{
		top.MethodAssignWorker: {
			`"result":{"display_msg":"工单不存在","success":true,"msg_code":"1008","msg_info":"工单不存在"}`,
			`"result":{"display_msg":"工单不存在","success":"true","msg_code":1008,"msg_info":"工单不存在"}`,
		},
		top.MethodWorkerUpdate: {
			`"result":{"error_code":123,"error_msg":"demo","gmt_create":"2016-06-28 10:30:00","gmt_modified":"2016-06-28 10:30:00","success":false,"value":true}`,
			`"result":{"error_code":"123","error_msg":"demo","gmt_create":"2016-06-28 10:30:00","gmt_modified":1467081000000,"success":"false","value":"true"}`,
		},
		top.MethodWorkerTagList: {
			`"result":{"result_data":{"black_list":false,"degradation":false,"ability_map":"\"tv_install\":{\"effective\":true,\"serviceCode\":\"tv_install\",\"abilityLevel\":4}","vip":true,"big_promotion":true,"home_worker_tags":{"worker_manage_rule_d_t_o":[{"name":"black","begin_time":"2024-12-20 17:42:01","end_time":"2024-12-23 17:42:01"}]}},"msg_code":"0","msg_info":"ok","success":true}`,
			`"result":{"result_data":{"black_list":"false","degradation":false,"ability_map":"\"tv_install\":{\"effective\":true,\"serviceCode\":\"tv_install\",\"abilityLevel\":4}","vip":"true","big_promotion":true,"home_worker_tags":[{"name":"black","begin_time":"2024-12-20 17:42:01","end_time":"2024-12-23 17:42:01"}]},"msg_code":0,"msg_info":"ok","success":true}`,
		},
		top.MethodVirtualPhoneBind: {
			`"result":{"result_data":"17788889898","success":true,"msg_code":"223343","msg_info":"错误表述"}`,
			`"result":{"result_data":17788889898,"success":true,"msg_code":223343,"msg_info":"错误表述"}`,
		},
		top.MethodBlacklistSync: {
			`"user_blacklist_response":{"success":true,"code":"200","message":"SUCCESS","is_retry":false}`,
			`"user_blacklist_response":{"success":"true","code":200,"message":"SUCCESS","is_retry":"false"}`,
		},
	}[method]
	return f, ok
}

// okBody is a success answer for method in TOP's normal or simplified shape.
func okBody(method string, simplified bool) string {
	f, ok := okFields(method)
	if !ok {
		f = [2]string{`"value":"generic"`, `"value":"generic"`}
	}
	if simplified {
		return "{" + f[1] + `,"request_id":"rid-` + method + `"}`
	}
	return `{"` + top.ResponseKey(method) + `":{` + f[0] + `,"request_id":"rid-` + method + `"}}`
}

// newTestClient returns a client for u with fast retries; adjust changes
// the config first.
func newTestClient(t *testing.T, u *upstream, adjust func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		URL: u.srv.URL + "/router/rest", AppKey: testAppKey, AppSecret: testSecret, Session: testSession,
		BackoffBase: time.Microsecond, BackoffMax: time.Microsecond,
	}
	if adjust != nil {
		adjust(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// testCtx bounds a test's calls.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeClock is a settable clock for bans and timestamps.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// leaks lists the values that must never appear in errors or reports.
func leaks(s string, extra ...string) []string {
	var found []string
	for _, v := range append([]string{testSecret, testSession, testPhone, testID}, extra...) {
		if v != "" && strings.Contains(s, v) {
			found = append(found, v)
		}
	}
	return found
}
