package top

import (
	"errors"
	"testing"
)

// TestDecodeEnvelope covers the envelope shapes TOP sends and the bodies
// that are not envelopes: each decodes into the method's response, or is
// an error_response, a *NotJSONError or a decoding error.
func TestDecodeEnvelope(t *testing.T) {
	const m = MethodWorkerTagList
	tests := []struct {
		name    string
		body    string
		wantID  string // request_id of the decoded answer
		apiCode int    // error_response's code
		notJSON bool
		bad     bool // JSON that does not fit the response
	}{
		{"normal", `{"tmall_servicecenter_worker_taglist_get_response":{"result":{"success":true},"request_id":"r1"}}`, "r1", 0, false, false},
		{"simplified", `{"result":{"success":true},"request_id":"r2"}`, "r2", 0, false, false},
		{"spaces", " \n{ \"tmall_servicecenter_worker_taglist_get_response\" : {\"request_id\":\"r3\"} }\n", "r3", 0, false, false},
		{"escaped key", `{"\u0074mall_servicecenter_worker_taglist_get_response":{"request_id":"r4"}}`, "r4", 0, false, false},
		{"two members", `{"tmall_servicecenter_worker_taglist_get_response":{"request_id":"r5"},"x":1}`, "r5", 0, false, false},
		{"error", `{"error_response":{"code":41,"msg":"Invalid Arguments","sub_code":"isv.invalid-parameter","request_id":"r6"}}`, "", 41, false, false},
		{"error, code as text", `{"error_response":{"code":"7","msg":"App Call Limited"}}`, "", 7, false, false},
		{"empty", ``, "", 0, true, false},
		{"html", `<html>busy</html>`, "", 0, true, false},
		{"array", `[1]`, "", 0, true, false},
		{"truncated", `{"result":{"success":tr}`, "", 0, true, false},
		{"bad boolean", `{"tmall_servicecenter_worker_taglist_get_response":{"result":{"success":"xxx"}}}`, "", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out TagListGetResponse
			apiErr, err := DecodeEnvelope(m, []byte(tt.body), &out)
			var nj *NotJSONError
			switch {
			case tt.apiCode != 0:
				if err != nil || apiErr == nil || apiErr.Code != tt.apiCode {
					t.Fatalf("got %+v, %v; want error_response %d", apiErr, err, tt.apiCode)
				}
			case tt.notJSON:
				if apiErr != nil || !errors.As(err, &nj) {
					t.Fatalf("got %+v, %v; want NotJSONError", apiErr, err)
				}
			case tt.bad:
				if apiErr != nil || err == nil || errors.As(err, &nj) {
					t.Fatalf("got %+v, %v; want a decoding error", apiErr, err)
				}
			default:
				if apiErr != nil || err != nil || out.RequestID != tt.wantID {
					t.Fatalf("got %+v, %v, request_id %q", apiErr, err, out.RequestID)
				}
				if id := FindRequestID([]byte(tt.body)); id != tt.wantID {
					t.Fatalf("FindRequestID = %q", id)
				}
			}
			if apiErr, err := DecodeEnvelope(m, []byte(tt.body), nil); tt.apiCode == 0 && !tt.notJSON && (apiErr != nil || err != nil) {
				t.Fatalf("out=nil: %+v, %v", apiErr, err)
			}
		})
	}
}
