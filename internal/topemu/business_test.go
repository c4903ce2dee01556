package topemu_test

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// outcome decodes any method's answer into its type from the method
// table, and reports success or the business failure's code; it fails on
// an error_response. (The blacklist sync's success code 200 is checked by
// mustOutcome.)
func outcome(t *testing.T, method string, body []byte) (bool, string) {
	t.Helper()
	m, found := top.Lookup(method)
	if !found {
		t.Fatalf("unknown method %s", method)
	}
	resp := m.NewResponse()
	ok(t, method, body, resp)
	var biz *top.BusinessError
	switch err := resp.Err(); {
	case err == nil:
		return true, ""
	case errors.As(err, &biz):
		return false, biz.Code
	default:
		t.Fatalf("%s: %v", method, err)
		return false, ""
	}
}

func assign(biz map[string]string) req {
	return req{method: top.MethodAssignWorker, biz: biz}
}

func updateWorker(t *testing.T, w map[string]any) req {
	return req{method: top.MethodWorkerUpdate, biz: map[string]string{"worker": mustJSON(t, w)}}
}

func bind(workcardRequest string) req {
	return req{method: top.MethodVirtualPhoneBind, biz: map[string]string{"workcard_request": workcardRequest}}
}

func TestBusinessRules(t *testing.T) {
	zhang := func(extra map[string]any) map[string]any {
		w := map[string]any{"name": "张三", "phone": 13712345678, "biz_type": "appliance_install", "provider_id": 1}
		for k, v := range extra {
			w[k] = v
		}
		return w
	}
	tests := []struct {
		name    string
		rq      req
		success bool
		code    string
	}{
		{"assign by id", assign(map[string]string{"workcard_id": "2345678", "target_worker_id": "1234567"}), true, ""},
		{"assign by mobile", assign(map[string]string{"workcard_id": "3456789", "target_worker_mobile": "13712345678", "type": "3", "service_store_id": "12345"}), true, ""},
		{"assign unknown workcard", assign(map[string]string{"workcard_id": "999", "target_worker_id": "1234567"}), false, top.BizWorkcardNotFound},
		{"assign unknown worker id", assign(map[string]string{"workcard_id": "2345678", "target_worker_id": "42"}), false, top.BizWorkerNotFound},
		{"assign unknown worker mobile", assign(map[string]string{"workcard_id": "2345678", "target_worker_mobile": "13900000000"}), false, top.BizWorkerNotFound},
		{"assign blacklisted worker", assign(map[string]string{"workcard_id": "2345678", "target_worker_id": "1234569"}), false, top.BizWorkerBlacklisted},
		{"assign in another store", assign(map[string]string{"workcard_id": "2345678", "target_worker_id": "1234567", "service_store_id": "1122"}), false, top.BizStoreMismatch},
		{"assign id and mobile disagree", assign(map[string]string{"workcard_id": "2345678", "target_worker_id": "1234567", "target_worker_mobile": "13712345678"}), false, top.BizWorkerMismatch},
		{"assign wrong name", assign(map[string]string{"workcard_id": "2345678", "target_worker_id": "1234567", "target_worker_name": "李四"}), false, top.BizWorkerMismatch},
		{"assign unknown fulfil task", assign(map[string]string{"workcard_id": "2345678", "target_worker_id": "1234567", "fulfil_task_id": "7"}), false, top.BizFulfilTaskNotFound},

		{"update", updateWorker(t, zhang(map[string]any{"work_type": "full_time"})), true, ""},
		{"update by provider name", updateWorker(t, map[string]any{"name": "张三", "phone": 13712345678, "biz_type": "appliance_install", "provider_name": "演示服务商"}), true, ""},
		{"update without worker", req{method: top.MethodWorkerUpdate}, false, "10004"},
		{"update without provider", updateWorker(t, map[string]any{"name": "张三", "phone": 13712345678, "biz_type": "appliance_install"}), false, "10005"},
		{"update without name", updateWorker(t, zhang(map[string]any{"name": ""})), false, "10008"},
		{"update without phone", updateWorker(t, zhang(map[string]any{"phone": 0})), false, "10009"},
		{"update unknown biz_type", updateWorker(t, zhang(map[string]any{"biz_type": "car_wash"})), false, "11001"},
		{"update invalid category", updateWorker(t, zhang(map[string]any{"cover_category_ids": "123|999"})), false, "11000"},
		{"update category not a number", updateWorker(t, zhang(map[string]any{"cover_category_ids": "123|abc"})), false, "11000"},
		{"update empty category", updateWorker(t, zhang(map[string]any{"cover_category_ids": "123||456"})), false, "11000"},
		{"update known categories", updateWorker(t, zhang(map[string]any{"cover_category_ids": "123|456"})), true, ""},
		{"update unknown store", updateWorker(t, zhang(map[string]any{"service_store_code": "NOPE"})), false, "10010"},
		{"update unknown worker", updateWorker(t, zhang(map[string]any{"phone": 13700000000})), false, "10006"},
		{"update other provider", updateWorker(t, zhang(map[string]any{"provider_id": 2})), false, "10006"},

		{"taglist", req{method: top.MethodWorkerTagList, biz: map[string]string{"id_number": "11010519491231002x", "mobile": "13245678901"}}, true, ""},
		{"taglist wrong mobile", req{method: top.MethodWorkerTagList, biz: map[string]string{"id_number": "11010519491231002X", "mobile": "13712345678"}}, false, top.BizWorkerNotFound},

		{"bind", bind(`{"request_source":{"service_store_code":"FWS1122"},"workcard_id":11111222}`), true, ""},
		{"bind without store", bind(`{"request_source":{"real_tp_nick":"x"},"workcard_id":2345678}`), true, ""},
		{"bind unknown workcard", bind(`{"request_source":{},"workcard_id":1}`), false, top.BizWorkcardNotFound},
		{"bind other store", bind(`{"request_source":{"service_store_code":"FWS12345"},"workcard_id":11111222}`), false, top.BizStoreMismatch},

		{"blacklist add", blacklistReq("r-add", 1, [2]string{"13800000001", "1,2"}, [2]string{"13800000002", ""}), true, ""},
		{"blacklist delete", blacklistReq("r-del", 2, [2]string{"13111111111", ""}), true, ""},
		{"blacklist bad mobile", blacklistReq("r-bad-mobile", 1, [2]string{"1380000000", "1"}), false, "400"},
		{"blacklist reason 6", blacklistReq("r-bad-reason", 1, [2]string{"13800000003", "1,6"}), false, "400"},
		{"blacklist reason repeated", blacklistReq("r-rep-reason", 1, [2]string{"13800000003", "2,2"}), false, "400"},
		{"blacklist reason blank", blacklistReq("r-blank-reason", 1, [2]string{"13800000003", "1,"}), false, "400"},
		{"blacklist operate_type 3", blacklistReq("r-op", 3, [2]string{"13800000003", "1"}), false, "400"},
		{"blacklist empty", blacklistReq("r-empty", 1), false, "400"},
		{"blacklist without request_id", blacklistReq("", 1, [2]string{"13800000003", "1"}), false, "400"},
	}
	e := newEnv(t, topemu.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.call(tt.rq)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			success, code := outcome(t, tt.rq.method, body)
			if success != tt.success || code != tt.code {
				t.Fatalf("got success=%v code=%q, want %v %q: %s", success, code, tt.success, tt.code, body)
			}
			// Every code the emulator answers is in top's table, in the
			// field this method answers in.
			m, _ := top.Lookup(tt.rq.method)
			if c, found := top.LookupBusinessCode(code); code != "" && (!found || c.Field != m.CodeField) {
				t.Fatalf("code %q of %s is not in top's business-code table for %v (%+v)", code, tt.rq.method, m.CodeField, c)
			}
		})
	}

	// Messages follow the API documents.
	_, body := e.call(assign(map[string]string{"workcard_id": "999", "target_worker_id": "1234567"}))
	var ar top.AssignWorkerResponse
	ok(t, top.MethodAssignWorker, body, &ar)
	if ar.Result.MsgInfo != "工单不存在" || ar.Result.DisplayMsg != "工单不存在" {
		t.Errorf("1008 answer: %s", body)
	}
	_, body = e.call(updateWorker(t, zhang(map[string]any{"phone": 13700000000})))
	var wr top.WorkerUpdateResponse
	ok(t, top.MethodWorkerUpdate, body, &wr)
	if wr.Result.ErrorMsg != "工人不存在" || bool(wr.Result.Value) {
		t.Errorf("10006 answer: %s", body)
	}

	// The changes are visible in the state.
	s := e.emu.Snapshot()
	cards := map[int64]topemu.Workcard{}
	for _, wc := range s.Workcards {
		cards[wc.ID] = wc
	}
	if a := cards[2345678].Assignment; a == nil || a.WorkerID != 1234567 || a.OperatorType != 2 ||
		top.FormatTime(a.AssignedAt.Time) != top.FormatTime(e.clock.Now()) {
		t.Errorf("assignment of 2345678: %+v", a)
	}
	if a := cards[3456789].Assignment; a == nil || a.WorkerID != 1234568 || a.OperatorType != 3 || a.ServiceStoreID != 12345 {
		t.Errorf("assignment of 3456789: %+v", a)
	}
	if cards[11111222].Assignment != nil {
		t.Errorf("11111222 assigned by a failed call")
	}
	for _, w := range s.Workers {
		if w.ID == 1234568 && w.WorkType != "full_time" {
			t.Errorf("worker.update not kept: %+v", w)
		}
	}
	listed := map[string]string{}
	for _, b := range s.Blacklist {
		listed[b.Mobile] = b.Reasons
	}
	if len(listed) != 2 || listed["13800000001"] != "1,2" || listed["13800000002"] != "" {
		t.Errorf("blacklist %v", listed)
	}
}

func TestWorkerUpdatePersistsFields(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	e.clock.Advance(time.Hour)
	_, body := e.call(demoCalls(t)[top.MethodWorkerUpdate])
	var r top.WorkerUpdateResponse
	ok(t, top.MethodWorkerUpdate, body, &r)
	if !bool(r.Result.Success) || !bool(r.Result.Value) || !r.Result.GmtModified.Equal(e.clock.Now()) ||
		top.FormatTime(r.Result.GmtCreate.Time) != "2024-06-28 10:30:00" {
		t.Fatalf("answer %+v", r.Result)
	}
	for _, w := range e.emu.Snapshot().Workers {
		if w.ID != 1234568 {
			continue
		}
		if w.CoverCategoryIDs != "123|456" || w.ServiceCodes != "washer_install|tv_install" ||
			w.Address == nil || w.Address.AddressDetail != "文二路 1 号" || !w.GmtModified.Equal(e.clock.Now()) {
			t.Fatalf("worker not updated: %+v", w)
		}
		return
	}
	t.Fatal("worker 1234568 gone")
}

func TestTagListRendersTags(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	_, body := e.call(req{method: top.MethodWorkerTagList, biz: map[string]string{"id_number": "440305197512250014", "mobile": "13698765432"}})
	var r top.TagListGetResponse
	ok(t, top.MethodWorkerTagList, body, &r)
	d := r.Result.ResultData
	if d == nil || !bool(d.BlackList) || !bool(d.Degradation) || bool(d.Vip) || len(d.HomeWorkerTags) != 1 {
		t.Fatalf("tags %s", body)
	}
	h := d.HomeWorkerTags[0]
	if h.Name != "black" || top.FormatTime(h.BeginTime.Time) != "2024-12-20 17:42:01" || top.FormatTime(h.EndTime.Time) != "2030-12-31 23:59:59" {
		t.Fatalf("home_worker_tags %+v", h)
	}
	if d.AbilityMap != `"ac_install":{"effective":false,"serviceCode":"ac_install","abilityLevel":3}` {
		t.Fatalf("ability_map %s", d.AbilityMap)
	}
}

func TestVirtualNumberStableUntilExpiry(t *testing.T) {
	e := newEnv(t, topemu.Config{VirtualNumberTTL: time.Hour})
	number := func(workcard int64) string {
		t.Helper()
		_, body := e.call(bind(fmt.Sprintf(`{"request_source":{},"workcard_id":%d}`, workcard)))
		var r top.VirtualPhoneBindResponse
		ok(t, top.MethodVirtualPhoneBind, body, &r)
		if !bool(r.Result.Success) || len(r.Result.ResultData) != 11 {
			t.Fatalf("bind %d: %s", workcard, body)
		}
		return string(r.Result.ResultData)
	}
	first := number(11111222)
	e.clock.Advance(59 * time.Minute)
	if again := number(11111222); again != first {
		t.Fatalf("number changed before expiry: %s then %s", first, again)
	}
	other := number(2345678)
	if other == first {
		t.Fatalf("two workcards share %s", first)
	}
	e.clock.Advance(time.Minute)
	renewed := number(11111222)
	if renewed == first || renewed == other {
		t.Fatalf("expired binding kept or reused a number: %s", renewed)
	}
	if again := number(11111222); again != renewed {
		t.Fatalf("renewed number not stable: %s then %s", renewed, again)
	}
}

func TestBlacklistIdempotency(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	add := blacklistReq("same-id", 1, [2]string{"13800000001", "1,2"}, [2]string{"13800000002", "5"})
	if _, body := e.call(add); string(mustOutcome(t, body)) != "true/200" {
		t.Fatalf("first call: %s", body)
	}
	before := e.emu.Snapshot()

	// The same request again, with a new request_time and reasons in
	// another order: replayed, nothing changes.
	replay := blacklistReq("same-id", 1, [2]string{"13800000001", "2,1"}, [2]string{"13800000002", "5"})
	replay.biz["user_blacklist_request"] = replaceOnce(t, replay.biz["user_blacklist_request"], `"request_time":1656674541001`, `"request_time":1656674549999`)
	e.clock.Advance(time.Minute)
	if _, body := e.call(replay); string(mustOutcome(t, body)) != "true/200" {
		t.Fatalf("replay: %s", body)
	}
	if mustJSON(t, e.emu.Snapshot()) != mustJSON(t, before) {
		t.Fatal("replay changed the state")
	}

	// The same id with another payload is refused and changes nothing.
	other := blacklistReq("same-id", 2, [2]string{"13800000001", ""})
	_, body := e.call(other)
	var r top.BlacklistSyncResponse
	ok(t, top.MethodBlacklistSync, body, &r)
	u := r.UserBlacklistResponse
	if bool(u.Success) || u.Code != top.BlacklistCodeConflict || bool(u.IsRetry) {
		t.Fatalf("conflict: %s", body)
	}
	if mustJSON(t, e.emu.Snapshot()) != mustJSON(t, before) {
		t.Fatal("conflicting request changed the state")
	}

	st := e.emu.Stats("13800000001", "13800000002", "13900000000")
	b := st.Blacklist
	if b.SyncRequestsApplied != 1 || b.SyncRequestsReplayed != 1 || b.SyncRequestsConflicting != 1 ||
		b.EntriesApplied != 2 || b.MobilesApplied != 2 || b.MaxAppliesPerMobile != 1 ||
		b.AppliesByMobile["13800000001"] != 1 || b.AppliesByMobile["13900000000"] != 0 || b.Listed != 3 {
		t.Fatalf("stats %+v", b)
	}

	// A refused request does not use up its request_id.
	bad := blacklistReq("fix-me", 1, [2]string{"138", "1"})
	if _, body := e.call(bad); string(mustOutcome(t, body)) != "false/400" {
		t.Fatalf("bad: %s", body)
	}
	fixed := blacklistReq("fix-me", 1, [2]string{"13800000009", "1"})
	if _, body := e.call(fixed); string(mustOutcome(t, body)) != "true/200" {
		t.Fatalf("fixed: %s", body)
	}
}

func mustOutcome(t *testing.T, body []byte) []byte {
	t.Helper()
	var r top.BlacklistSyncResponse
	ok(t, top.MethodBlacklistSync, body, &r)
	return []byte(strconv.FormatBool(bool(r.UserBlacklistResponse.Success)) + "/" + string(r.UserBlacklistResponse.Code))
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not in %s", old, s)
	}
	return strings.Replace(s, old, new, 1)
}

func TestBlacklistConcurrentDuplicates(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	const requests, copies, perRequest = 8, 16, 25
	var wg sync.WaitGroup
	failures := make(chan string, requests*copies)
	for r := range requests {
		entries := make([][2]string, perRequest)
		for i := range entries {
			entries[i] = [2]string{fmt.Sprintf("139%04d%04d", r, i), "1,3"}
		}
		rq := blacklistReq(fmt.Sprintf("batch-%d", r), 1, entries...)
		for range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, body := e.call(rq)
				if got := string(mustOutcome(t, body)); got != "true/200" {
					failures <- got
				}
			}()
		}
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Errorf("duplicate answered %s, want the first answer true/200", f)
	}
	b := e.emu.Stats().Blacklist
	if b.SyncRequestsApplied != requests || b.SyncRequestsReplayed != requests*(copies-1) ||
		b.EntriesApplied != requests*perRequest || b.MobilesApplied != requests*perRequest ||
		b.MaxAppliesPerMobile != 1 || b.MobilesAppliedMoreThanOnce != 0 {
		t.Fatalf("not exactly once: %+v", b)
	}
}

func TestBlacklistLimit(t *testing.T) {
	e := newEnv(t, topemu.Config{})
	entries := make([][2]string, topemu.MaxBlacklistEntries+1)
	for i := range entries {
		entries[i] = [2]string{fmt.Sprintf("1370000%04d", i), "1"}
	}
	if _, body := e.call(blacklistReq("too-many", 1, entries...)); string(mustOutcome(t, body)) != "false/400" {
		t.Fatalf("101 entries: %s", body)
	}
	if _, body := e.call(blacklistReq("just-enough", 1, entries[:topemu.MaxBlacklistEntries]...)); string(mustOutcome(t, body)) != "true/200" {
		t.Fatalf("100 entries: %s", body)
	}
}

func TestDemoIdentityNumbersAreValid(t *testing.T) {
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	const checks = "10X98765432"
	for _, w := range topemu.DemoState().Workers {
		id := w.IdentityID
		if len(id) != 18 {
			t.Fatalf("worker %d: identity %s is not 18 characters", w.ID, redact.ID(id))
		}
		sum := 0
		for i, c := range id[:17] {
			sum += int(c-'0') * weights[i]
		}
		if checks[sum%11] != id[17] {
			t.Errorf("worker %d: identity %s has a wrong check character", w.ID, redact.ID(id))
		}
		if _, err := time.Parse("20060102", id[6:14]); err != nil {
			t.Errorf("worker %d: identity %s has no real birth date", w.ID, redact.ID(id))
		}
	}
}
