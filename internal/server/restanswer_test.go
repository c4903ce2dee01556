package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// TestRESTAnswers: the REST answer of each TOP call, against the
// embedded emulator's demo data, is byte for byte the compact form of
// what protojson writes of it with the gateway's options (proto names,
// every field), sent with its Content-Length in one piece.
func TestRESTAnswers(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	tests := []struct {
		path, body string
		answer     proto.Message
	}{
		{"/v1/workers:getTags", `{"id_number":"11010519491231002X","mobile":"13245678901"}`, &scv1.GetWorkerTagsResponse{}},
		{"/v1/workcards/2345678:assignWorker", `{"target_worker_mobile":"13245678901","fulfil_task_id":"1898"}`, &scv1.AssignWorkerResponse{}},
		{"/v1/workcards/11111222:bindVirtualPhone", `{"request_source":{"service_store_code":"FWS1122"}}`, &scv1.BindVirtualPhoneResponse{}},
		{"/v1/workers:update", `{"worker":{"name":"张三","phone":"13712345678","biz_type":"appliance_install","provider_id":"1","service_codes":["tv_install"]}}`, &scv1.UpdateWorkerResponse{}},
		{"/v1/blacklist:sync", `{"supplier_id":"10000000001","operate_type":"OPERATE_TYPE_UPSERT","request_id":"crm-1","blacklist":[{"mobile":"13900000002","reason":["BLACKLIST_REASON_EXTORTION"]}]}`, &scv1.SyncUserBlacklistResponse{}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, raw := ts.RESTRaw(t, tt.path, tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, raw)
			}
			if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(raw)) || len(resp.TransferEncoding) != 0 {
				t.Fatalf("Content-Length %q, Transfer-Encoding %v, for a body of %d bytes", got, resp.TransferEncoding, len(raw))
			}
			if err := protojson.Unmarshal(raw, tt.answer); err != nil {
				t.Fatalf("answer %s: %v", raw, err)
			}
			want, err := protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}.Marshal(tt.answer)
			if err != nil {
				t.Fatal(err)
			}
			var compact bytes.Buffer // protojson may put a space after a comma
			if err := json.Compact(&compact, want); err != nil {
				t.Fatalf("protojson wrote %s: %v", want, err)
			}
			if want = compact.Bytes(); !bytes.Equal(raw, want) {
				t.Fatalf("answer\n%s\nprotojson writes\n%s", raw, want)
			}
		})
	}
}
