package topclient

import (
	"bytes"
	"errors"
	"github.com/servicecenterd/servicecenterd/internal/quota"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// FuzzDecodeResponse feeds arbitrary bytes to the answer decoding path
// (bounded read, envelope, typed responses, request_id lookup, bans, error
// messages): it must never panic, and its results must be consistent.
func FuzzDecodeResponse(f *testing.F) {
	for _, m := range top.Methods() {
		f.Add([]byte(okBody(m.Name, false)), uint8(0))
		f.Add([]byte(okBody(m.Name, true)), uint8(1))
	}
	for _, s := range []string{
		`{"error_response":{"code":7,"msg":"App Call Limited","sub_code":"accesscontrol.limited-by-api-access-count","sub_msg":"This ban will last for 31062 more seconds","request_id":"x"}}`,
		`{"error_response":{"code":"15","msg":"Remote service error","sub_code":"isp.top-remote-connection-timeout"}}`,
		`{"error_response":{"code":"abc"}}`,
		`{"tmall_servicecenter_worker_taglist_get_response":{"result":{"success":"xxx"}}}`,
		`{"result":{"home_worker_tags":{"worker_manage_rule_d_t_o":[{"name":"a","begin_time":"2024-12-20 17:42:01"}]}},"request_id":"r"}`,
		`{"tmall_servicecenter_worker_update_response":{"result":{}} , "x":1}`,
		`{"\u0074mall_servicecenter_workcard_assignworker_response":{"result":{"success":true}}}`,
		`{"request_id" : "a\"b"}`, `{}`, `{"a":}`, `[]`, `null`, ``, `<html>`, "\xff\xfe{", `{"request_id":"`,
	} {
		f.Add([]byte(s), uint8(2))
	}
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		methods := top.Methods()
		method := methods[int(which)%len(methods)].Name
		var out any
		switch n := int(which) % (len(methods) + 2); {
		case n < len(methods):
			out = methods[n].NewResponse()
		case n == len(methods):
			out = new(map[string]any)
		}
		buf, err := readBounded(bytes.NewReader(body), nil, 1<<10, -1)
		var tl *tooLargeError
		if err != nil && !errors.As(err, &tl) || err != nil && len(body) <= 1<<10 {
			t.Fatalf("readBounded(%d bytes): %v", len(body), err)
		}
		if err != nil {
			buf = body
		}
		apiErr, err := top.DecodeEnvelope(method, buf, out)
		if apiErr != nil && err != nil {
			t.Fatalf("both an error_response and an error: %v", err)
		}
		_ = requestIDOf(out, buf)
		if r, ok := out.(*top.TagListGetResponse); ok && err == nil && apiErr == nil && r.Result.HomeWorkerTagsBeside != nil {
			t.Fatalf("home_worker_tags left beside result_data: %+v", r.Result)
		}
		switch {
		case apiErr != nil:
			now := time.Unix(0, 0)
			if b, ok := banOf(method, apiErr, now); ok {
				be := banError(method, b, now)
				if be.RetryAfter <= 0 || b.Until.After(quota.MaxBanUntil(now)) {
					t.Fatalf("ban of %v", be.RetryAfter)
				}
				_ = be.Error()
			}
			_ = (&APIError{Method: method, Resp: *apiErr}).Error()
		case err != nil:
			_ = (&DecodeError{Method: method, Err: err}).Error()
			_ = (&TransportError{Method: method, StatusCode: 200, Err: err}).Error()
		}
	})
}
