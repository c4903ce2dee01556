package topemu_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

var update = flag.Bool("update", false, "rewrite examples/emulator-seed.json from DemoState")

const exampleSeed = "../../examples/emulator-seed.json"

// TestExampleSeedIsDemoState keeps the documented example equal to the
// demo data.
func TestExampleSeedIsDemoState(t *testing.T) {
	want, err := json.MarshalIndent(topemu.DemoState(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *update {
		if err := os.WriteFile(exampleSeed, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(exampleSeed)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/topemu -run TestExampleSeedIsDemoState -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from DemoState(); run go test ./internal/topemu -run TestExampleSeedIsDemoState -update", exampleSeed)
	}
	parsed, err := topemu.ParseState(got)
	if err != nil {
		t.Fatal(err)
	}
	if mustJSON(t, parsed) != mustJSON(t, topemu.DemoState()) {
		t.Fatal("example does not parse back to DemoState")
	}
	// The demo state is also what a new emulator exports.
	e := newEnv(t, topemu.Config{})
	var exported topemu.State
	e.admin(http.MethodGet, "/_emulator/state", nil, &exported)
	if mustJSON(t, exported) != mustJSON(t, topemu.DemoState()) {
		t.Fatalf("exported state differs from the demo:\n%s", mustJSON(t, exported))
	}
}

func TestResetAndState(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	demo := mustJSON(t, topemu.DemoState())
	for _, rq := range demoCalls(t) {
		e.call(rq)
	}
	e.call(blacklistReq("another", 1, [2]string{"13800000001", "4"}))
	if mustJSON(t, e.emu.Snapshot()) == demo {
		t.Fatal("calls changed nothing")
	}
	var okAns struct{ OK bool }
	if status := e.admin(http.MethodPost, "/_emulator/reset", nil, &okAns); status != http.StatusOK || !okAns.OK {
		t.Fatalf("reset: %d", status)
	}
	if got := mustJSON(t, e.emu.Snapshot()); got != demo {
		t.Fatalf("reset did not restore the seed:\n%s", got)
	}
	var calls struct {
		Recorded int64                 `json:"recorded"`
		Calls    []topemu.RecordedCall `json:"calls"`
	}
	e.admin(http.MethodGet, "/_emulator/calls", nil, &calls)
	if calls.Recorded != 0 || len(calls.Calls) != 0 {
		t.Fatalf("reset kept %d calls", len(calls.Calls))
	}
	if st := e.emu.Stats(); st.Calls.Total != 0 || st.Blacklist.SyncRequestsApplied != 0 {
		t.Fatalf("reset kept stats %+v", st)
	}

	// PUT loads a document, which also becomes the reset target.
	small := topemu.DemoState()
	small.Workers = small.Workers[:1]
	small.Workcards[0].Assignment = nil
	small.Blacklist = append(small.Blacklist, topemu.BlacklistEntry{Mobile: "13900000001", Reasons: "2,5"})
	if status := e.admin(http.MethodPut, "/_emulator/state", small, &okAns); status != http.StatusOK {
		t.Fatalf("put state: %d", status)
	}
	var got topemu.State
	e.admin(http.MethodGet, "/_emulator/state", nil, &got)
	if len(got.Workers) != 1 || len(got.Blacklist) != 2 {
		t.Fatalf("state after PUT: %s", mustJSON(t, got))
	}
	e.call(demoCalls(t)[top.MethodBlacklistSync])
	e.call(blacklistReq("x", 2, [2]string{"13900000001", ""}))
	e.admin(http.MethodPost, "/_emulator/reset", nil, nil)
	e.admin(http.MethodGet, "/_emulator/state", nil, &got)
	if len(got.Workers) != 1 || len(got.Blacklist) != 2 {
		t.Fatalf("reset after PUT went elsewhere: %s", mustJSON(t, got))
	}

	// Bad documents are refused and change nothing.
	for name, doc := range map[string]string{
		"not JSON":         `{"workers":`,
		"unknown field":    `{"workerz":[]}`,
		"unknown store":    `{"stores":[],"workcards":[{"id":1,"service_store_id":9}]}`,
		"bad mobile":       `{"blacklist":[{"mobile":"12345"}]}`,
		"bad reason":       `{"blacklist":[{"mobile":"13800000001","reasons":"9"}]}`,
		"duplicate worker": `{"workers":[{"id":1,"name":"a","phone":"13800000001","biz_type":"x"},{"id":2,"name":"a","phone":"13800000001","biz_type":"x"}]}`,
	} {
		var errAns struct{ Error string }
		if status := e.admin(http.MethodPut, "/_emulator/state", doc, &errAns); status != http.StatusBadRequest || errAns.Error == "" {
			t.Errorf("%s: status %d %q", name, status, errAns.Error)
		}
	}
	e.admin(http.MethodGet, "/_emulator/state", nil, &got)
	if len(got.Workers) != 1 {
		t.Fatal("a refused document changed the state")
	}
}

func TestRecordedCallsAreMasked(t *testing.T) {
	e := newEnv(t, topemu.Config{MaxRecordedCalls: 50})
	demos := len(demoCalls(t)) // one call of each method, then an update and a bind
	for _, rq := range demoCalls(t) {
		rq.placement = inSplit
		e.call(rq)
	}
	rq := demoCalls(t)[top.MethodWorkerUpdate]
	rq.biz["worker"] = mustJSON(t, map[string]any{"name": "张三", "phone": 13712345678, "biz_type": "appliance_install",
		"provider_id": 1, "identity_id": "33010619880606123X", "address": map[string]any{"address_detail": "call 13912345678"}})
	e.call(rq)
	e.call(bind(`{"request_source":{},"workcard_id":11111222}`))

	resp, err := e.http.Get(e.srv.URL + "/_emulator/calls")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, secret := range []string{
		"13245678901", "13712345678", "13111111111", "13912345678", "11010519491231002X", "33010619880606123X",
		topemu.DefaultSession, topemu.DefaultAppSecret,
	} {
		if strings.Contains(s, secret) {
			t.Errorf("recorded calls leak %s", secret)
		}
	}
	for _, masked := range []string{"132****8901", "110105********002X", "131****1111", "330106********123X", "call 139****5678", `"session": "[REDACTED]"`, `"sign": "[REDACTED]"`} {
		if !strings.Contains(s, masked) {
			t.Errorf("recorded calls lack %s", masked)
		}
	}
	var calls struct {
		Calls []topemu.RecordedCall `json:"calls"`
	}
	if err := json.Unmarshal(raw, &calls); err != nil {
		t.Fatal(err)
	}
	if len(calls.Calls) != demos+2 {
		t.Fatalf("recorded %d calls, want %d", len(calls.Calls), demos+2)
	}
	last := calls.Calls[demos+1]
	var env map[string]struct {
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal(last.Response, &env); err != nil {
		t.Fatalf("recorded response is not JSON: %s", last.Response)
	}
	number, _ := env["tmall_servicecenter_workcard_virtualphone_bind_response"].Result["result_data"].(string)
	if !strings.Contains(number, "****") {
		t.Fatalf("virtual number not masked in the recorded response: %s", last.Response)
	}
	if last.Method != top.MethodVirtualPhoneBind || last.HTTPStatus != 200 || last.RequestID == "" || last.Seq != int64(demos+2) {
		t.Fatalf("record %+v", last)
	}

	// Filter by method, and limit.
	e.admin(http.MethodGet, "/_emulator/calls?method="+top.MethodWorkerUpdate+"&limit=1", nil, &calls)
	if len(calls.Calls) != 1 || calls.Calls[0].Seq != int64(demos+1) {
		t.Fatalf("filtered calls %+v", calls.Calls)
	}
	e.admin(http.MethodDelete, "/_emulator/calls", nil, nil)
	e.admin(http.MethodGet, "/_emulator/calls", nil, &calls)
	if len(calls.Calls) != 0 {
		t.Fatal("DELETE kept calls")
	}
}

func TestRecordedCallsRingIsBounded(t *testing.T) {
	e := newEnv(t, topemu.Config{MaxRecordedCalls: 3})
	for range 5 {
		e.call(demoCalls(t)[top.MethodWorkerTagList])
	}
	var calls struct {
		Recorded int64                 `json:"recorded"`
		Calls    []topemu.RecordedCall `json:"calls"`
	}
	e.admin(http.MethodGet, "/_emulator/calls", nil, &calls)
	if calls.Recorded != 5 || len(calls.Calls) != 3 || calls.Calls[0].Seq != 3 || calls.Calls[2].Seq != 5 {
		t.Fatalf("ring: recorded %d, %d calls", calls.Recorded, len(calls.Calls))
	}
}

func putFaults(t *testing.T, e *env, doc string) {
	t.Helper()
	var errAns struct{ Error string }
	if status := e.admin(http.MethodPut, "/_emulator/faults", doc, &errAns); status != http.StatusOK {
		t.Fatalf("put faults: %d %s", status, errAns.Error)
	}
}

func TestFaultError(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	putFaults(t, e, `{"rules":[{"method":"tmall.servicecenter.worker.taglist.get","count":2,
		"error":{"code":15,"sub_code":"isp.top-remote-service-unavailable","sub_msg":"try later"}}]}`)
	tag := demoCalls(t)[top.MethodWorkerTagList]
	for i := range 2 {
		_, body := e.call(tag)
		got := topErr(t, body)
		if got.Code != 15 || got.Msg != "Remote service error" || got.SubCode != "isp.top-remote-service-unavailable" || got.RequestID == "" {
			t.Fatalf("call %d: %s", i, body)
		}
	}
	// The count is used up; other methods were never affected.
	if _, body := e.call(tag); !strings.Contains(string(body), `"success":true`) {
		t.Fatalf("third call: %s", body)
	}
	if _, body := e.call(demoCalls(t)[top.MethodBlacklistSync]); !strings.Contains(string(body), `"success":true`) {
		t.Fatalf("other method: %s", body)
	}
	var f topemu.Faults
	e.admin(http.MethodGet, "/_emulator/faults", nil, &f)
	if len(f.Rules) != 1 || f.Rules[0].Fired != 2 {
		t.Fatalf("faults %+v", f)
	}
	e.admin(http.MethodDelete, "/_emulator/faults", nil, nil)
	e.admin(http.MethodGet, "/_emulator/faults", nil, &f)
	if len(f.Rules) != 0 {
		t.Fatal("DELETE kept rules")
	}
}

func TestFaultHTTPStatusAndBusy(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	putFaults(t, e, `{"rules":[
		{"method":"tmall.servicecenter.worker.taglist.get","http_status":503,"count":1},
		{"method":"tmall.servicecenter.worker.taglist.get","http_status":502,"error":{"code":10},"count":1},
		{"method":"taobao.logistics.express.user.blacklist.tms.sync","busy":true,"count":1},
		{"method":"tmall.servicecenter.workcard.assignworker","busy":true}]}`)
	tag := demoCalls(t)[top.MethodWorkerTagList]
	status, body := e.call(tag)
	if status != http.StatusServiceUnavailable || string(body) != "Service Unavailable\n" {
		t.Fatalf("plain status: %d %s", status, body)
	}
	status, body = e.call(tag)
	if status != http.StatusBadGateway || topErr(t, body).Code != 10 {
		t.Fatalf("status with error: %d %s", status, body)
	}
	// Busy: the method's own transient failure, and nothing applied.
	_, body = e.call(blacklistReq("busy-1", 1, [2]string{"13800000001", "1"}))
	var r top.BlacklistSyncResponse
	ok(t, top.MethodBlacklistSync, body, &r)
	if u := r.UserBlacklistResponse; bool(u.Success) || u.Code != top.BlacklistCodeBusy || !bool(u.IsRetry) {
		t.Fatalf("busy sync: %s", body)
	}
	if _, body := e.call(blacklistReq("busy-1", 1, [2]string{"13800000001", "1"})); string(mustOutcome(t, body)) != "true/200" {
		t.Fatalf("retry after busy: %s", body)
	}
	if e.emu.Stats().Blacklist.EntriesApplied != 1 {
		t.Fatal("busy call applied entries")
	}
	if success, code := outcome(t, top.MethodAssignWorker, mustCall(e, demoCalls(t)[top.MethodAssignWorker])); success || code != top.BizSystemBusy {
		t.Fatalf("busy assign: %v %s", success, code)
	}
}

func mustCall(e *env, rq req) []byte {
	_, body := e.call(rq)
	return body
}

func TestFaultDropAndLatency(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	putFaults(t, e, `{"rules":[
		{"method":"tmall.servicecenter.worker.taglist.get","drop":true,"count":1},
		{"method":"tmall.servicecenter.workcard.virtualphone.bind","latency":"150ms"}]}`)
	u, body, _ := e.build(demoCalls(t)[top.MethodWorkerTagList])
	resp, err := e.http.Post(u, top.FormContentType, strings.NewReader(body))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("dropped call answered %d", resp.StatusCode)
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("dropped call: %v", err)
	}
	var calls struct {
		Calls []topemu.RecordedCall `json:"calls"`
	}
	e.admin(http.MethodGet, "/_emulator/calls", nil, &calls)
	if len(calls.Calls) != 1 || calls.Calls[0].Fault != "drop" || calls.Calls[0].HTTPStatus != 0 {
		t.Fatalf("drop not recorded: %+v", calls.Calls)
	}

	start := time.Now()
	if _, body := e.call(demoCalls(t)[top.MethodVirtualPhoneBind]); !strings.Contains(string(body), `"success":true`) {
		t.Fatalf("slow call: %s", body)
	}
	if elapsed := time.Since(start); elapsed < 150*time.Millisecond {
		t.Fatalf("latency rule: answered after %s", elapsed)
	}
}

func TestFaultProbabilityIsSeeded(t *testing.T) {
	pattern := func() string {
		e := newEnv(t, topemu.Config{})
		putFaults(t, e, `{"seed":42,"rules":[{"probability":0.5,"error":{"code":10}}]}`)
		var b strings.Builder
		for range 40 {
			_, body := e.call(demoCalls(t)[top.MethodWorkerTagList])
			if strings.Contains(string(body), "error_response") {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	first, second := pattern(), pattern()
	if first != second {
		t.Fatalf("same seed, different faults:\n%s\n%s", first, second)
	}
	fired := strings.Count(first, "x")
	if fired < 8 || fired > 32 {
		t.Fatalf("probability 0.5 fired %d of 40: %s", fired, first)
	}
}

func TestQuotaBan(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	putFaults(t, e, `{"quota":{"calls_per_second":2,"ban_seconds":30}}`)
	tag := demoCalls(t)[top.MethodWorkerTagList]
	for i := range 2 {
		if _, body := e.call(tag); !strings.Contains(string(body), `"success":true`) {
			t.Fatalf("call %d within quota: %s", i, body)
		}
	}
	_, body := e.call(tag)
	got := topErr(t, body)
	if got.Code != top.CodeAppCallLimited || got.Msg != "App Call Limited" ||
		got.SubCode != top.SubCodeAppAccessCount || got.SubMsg != "This ban will last for 30 more seconds" {
		t.Fatalf("over quota: %s", body)
	}
	if ban, parsed := top.ParseBan(got.SubMsg); !parsed || ban != 30*time.Second {
		t.Fatalf("ban %v %v", ban, parsed)
	}
	e.clock.Advance(20 * time.Second)
	_, body = e.call(tag)
	if got := topErr(t, body); got.SubMsg != "This ban will last for 10 more seconds" {
		t.Fatalf("during ban: %s", body)
	}
	e.clock.Advance(10 * time.Second)
	if _, body := e.call(tag); !strings.Contains(string(body), `"success":true`) {
		t.Fatalf("after ban: %s", body)
	}
	if st := e.emu.Stats(); st.Calls.ByErrorCode["7"] != 2 {
		t.Fatalf("stats %+v", st.Calls)
	}
}

func TestFaultDocumentValidation(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	for name, doc := range map[string]string{
		"no effect":          `{"rules":[{"method":"x"}]}`,
		"bad probability":    `{"rules":[{"drop":true,"probability":2}]}`,
		"drop and error":     `{"rules":[{"drop":true,"error":{"code":15}}]}`,
		"bad status":         `{"rules":[{"http_status":99}]}`,
		"bad latency":        `{"rules":[{"latency":"soon"}]}`,
		"zero quota":         `{"quota":{"calls_per_second":0}}`,
		"unknown field":      `{"rulez":[]}`,
		"error without code": `{"rules":[{"error":{"msg":"x"}}]}`,
	} {
		var errAns struct{ Error string }
		if status := e.admin(http.MethodPut, "/_emulator/faults", doc, &errAns); status != http.StatusBadRequest || errAns.Error == "" {
			t.Errorf("%s: %d %q", name, status, errAns.Error)
		}
	}
	// Latency as milliseconds is accepted and shown as a duration.
	var f topemu.Faults
	e.admin(http.MethodPut, "/_emulator/faults", `{"rules":[{"latency":25}]}`, &f)
	if len(f.Rules) != 1 || time.Duration(f.Rules[0].Latency) != 25*time.Millisecond {
		t.Fatalf("faults %+v", f)
	}
}

func TestAdminRoutes(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	var index map[string]any
	if status := e.admin(http.MethodGet, "/_emulator/", nil, &index); status != http.StatusOK || index["top_endpoint"] != "/router/rest" {
		t.Fatalf("index %d %v", status, index)
	}
	if status := e.admin(http.MethodGet, "/_emulator/nope", nil, nil); status != http.StatusNotFound {
		t.Fatalf("unknown admin path: %d", status)
	}
	if status := e.admin(http.MethodPost, "/_emulator/state", nil, nil); status != http.StatusMethodNotAllowed {
		t.Fatalf("POST state: %d", status)
	}
	if status := e.admin(http.MethodGet, "/_emulator/calls?limit=-1", nil, nil); status != http.StatusBadRequest {
		t.Fatalf("bad limit: %d", status)
	}
	var st topemu.Stats
	e.call(demoCalls(t)[top.MethodBlacklistSync])
	if status := e.admin(http.MethodGet, "/_emulator/stats?mobile=13111111111", nil, &st); status != http.StatusOK ||
		st.Calls.Total != 1 || st.Calls.ByMethod[top.MethodBlacklistSync] != 1 || st.Blacklist.AppliesByMobile["13111111111"] != 1 {
		t.Fatalf("stats %d %+v", status, st)
	}
}
