package topclient

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// result is what one typed call returned.
type result struct {
	resp any
	err  error
}

// callAll calls every method of top.Methods with its example request
// (exampleRequests) and returns what came back. A method without an
// example request or a canned answer (okFields) fails the test.
func callAll(t *testing.T, ctx context.Context, c *Client) map[string]result {
	t.Helper()
	reqs := exampleRequests()
	out := map[string]result{}
	for _, m := range top.Methods() {
		req, ok := reqs[m.Name]
		if _, canned := okFields(m.Name); !ok || !canned {
			t.Errorf("%s: no example request (%v) or no canned answer in okFields (%v)", m.Name, ok, canned)
			continue
		}
		resp := m.NewResponse()
		out[m.Name] = result{resp, c.Invoke(ctx, m, req, resp)}
	}
	return out
}

// TestResponseShapes decodes every method's answer in TOP's normal and
// simplified JSON, with numbers and booleans sent as strings: each carries
// its request id, and the fields of each known answer read right.
func TestResponseShapes(t *testing.T) {
	t.Parallel()
	for _, simplify := range []bool{false, true} {
		name := "normal"
		if simplify {
			name = "simplified"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t, nil)
			c := newTestClient(t, u, func(cfg *Config) { cfg.Simplify = simplify })
			results := callAll(t, testCtx(t), c)
			for method, r := range results {
				if r.err != nil {
					t.Fatalf("%s: %v", method, r.err)
				}
				if got := r.resp.(top.Response).TOPRequestID(); got != "rid-"+method {
					t.Errorf("%s: request_id %q", method, got)
				}
			}
			if len(results) != len(top.Methods()) {
				t.Fatalf("%d answers for %d methods", len(results), len(top.Methods()))
			}
			a := results[top.MethodAssignWorker].resp.(*top.AssignWorkerResponse)
			if !a.Result.Success || a.Result.MsgCode != "1008" || a.Result.DisplayMsg != "工单不存在" {
				t.Errorf("assignworker %+v", a.Result)
			}
			w := results[top.MethodWorkerUpdate].resp.(*top.WorkerUpdateResponse)
			if w.Result.Success || w.Result.ErrorCode != 123 || !w.Result.Value ||
				top.FormatTime(w.Result.GmtModified.Time) != "2016-06-28 10:30:00" {
				t.Errorf("worker.update %+v", w.Result)
			}
			tg := results[top.MethodWorkerTagList].resp.(*top.TagListGetResponse)
			d := tg.Result.ResultData
			if !tg.Result.Success || d == nil || d.BlackList || !d.Vip || !d.BigPromotion || len(d.HomeWorkerTags) != 1 ||
				d.HomeWorkerTags[0].Name != "black" || top.FormatTime(d.HomeWorkerTags[0].EndTime.Time) != "2024-12-23 17:42:01" {
				t.Errorf("taglist %+v / %+v", tg.Result, d)
			}
			if abilities, err := top.ParseAbilityMap(d.AbilityMap); err != nil || abilities["tv_install"].AbilityLevel != 4 {
				t.Errorf("ability_map %q: %v %v", d.AbilityMap, abilities, err)
			}
			v := results[top.MethodVirtualPhoneBind].resp.(*top.VirtualPhoneBindResponse)
			if !v.Result.Success || v.Result.ResultData != "17788889898" || v.Result.MsgCode != "223343" {
				t.Errorf("virtualphone.bind %+v", v.Result)
			}
			b := results[top.MethodBlacklistSync].resp.(*top.BlacklistSyncResponse)
			if ub := b.UserBlacklistResponse; !ub.Success || ub.Code != "200" || ub.Message != "SUCCESS" || ub.IsRetry {
				t.Errorf("blacklist %+v", ub)
			}
			for _, got := range u.received() {
				if got.Form.Has("simplify") != simplify {
					t.Errorf("%s: simplify sent = %v", got.Method, got.Form.Has("simplify"))
				}
			}
		})
	}
}

// TestTagListMergesHomeWorkerTags checks that home_worker_tags sent beside
// result_data (as the API document's field table reads) end up in result_data.
func TestTagListMergesHomeWorkerTags(t *testing.T) {
	t.Parallel()
	bodies := []string{
		`{"tmall_servicecenter_worker_taglist_get_response":{"result":{"result_data":{"vip":true},` +
			`"home_worker_tags":{"worker_manage_rule_d_t_o":[{"name":"black"},{"name":"vip"}]},"success":true},"request_id":"r"}}`,
		`{"result":{"home_worker_tags":[{"name":"black"},{"name":"vip"}],"success":true},"request_id":"r"}`,
	}
	for i, body := range bodies {
		u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ received, _ int) { writeJSON(w, body) })
		c := newTestClient(t, u, nil)
		resp, err := top.Do(testCtx(t), c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone})
		if err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		d := resp.Result.ResultData
		if d == nil || len(d.HomeWorkerTags) != 2 || d.HomeWorkerTags[1].Name != "vip" || resp.Result.HomeWorkerTagsBeside != nil {
			t.Fatalf("body %d: result %+v data %+v", i, resp.Result, d)
		}
	}
}

// TestDecodeProblems checks answers that are JSON but do not fit: they are
// DecodeErrors that say what is wrong, without echoing personal data.
func TestDecodeProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"success not boolean", `{"tmall_servicecenter_worker_taglist_get_response":{"result":{"success":"xxx"},"request_id":"r"}}`, `"xxx" is not a boolean`},
		{"simplified success not boolean", `{"result":{"msg_code":"1","success":"xxx"},"request_id":"r"}`, `"xxx" is not a boolean`},
		{"result not object", `{"result":[1,2]}`, "cannot unmarshal array"},
		{"date garbage", `{"result":{"result_data":{"home_worker_tags":[{"begin_time":"13812345678x"}]}}}`, "yyyy-MM-dd"},
		{"list wrapper with two keys", `{"result":{"result_data":{"home_worker_tags":{"a":[],"b":[]}}}}`, "list wrapper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ received, _ int) { writeJSON(w, tt.body) })
			c := newTestClient(t, u, nil)
			_, err := top.Do(testCtx(t), c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone})
			var de *DecodeError
			if !errors.As(err, &de) || de.Method != top.MethodWorkerTagList {
				t.Fatalf("err = %v (%T), want DecodeError", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %q does not say %q", err, tt.want)
			}
			if l := leaks(err.Error()); len(l) > 0 {
				t.Fatalf("err %q leaks %v", err, l)
			}
			if n := u.count.Load(); n != 1 {
				t.Fatalf("decode error retried: %d attempts", n)
			}
		})
	}
}

// TestGenericCall decodes an arbitrary method into a caller's struct, in
// both shapes.
func TestGenericCall(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, nil)
	for _, simplify := range []bool{false, true} {
		var info CallInfo
		c := newTestClient(t, u, func(cfg *Config) {
			cfg.Simplify = simplify
			cfg.Observer = func(ci CallInfo) { info = ci }
		})
		var out struct {
			Value     string `json:"value"`
			RequestID string `json:"request_id"`
		}
		if err := c.Call(testCtx(t), "taobao.some.thing.get", []top.Param{{Key: "q", Value: "1"}}, &out); err != nil {
			t.Fatal(err)
		}
		if out.Value != "generic" || out.RequestID != "rid-taobao.some.thing.get" || info.RequestID != out.RequestID {
			t.Fatalf("simplify=%v: out %+v info %+v", simplify, out, info)
		}
	}
}
