package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// rpcCase is one call, made both through the generated gRPC client and
// through the REST gateway with the same request.
type rpcCase struct {
	req  proto.Message
	path string
	call func(ctx context.Context, ts *testserver.Server, opts ...grpc.CallOption) (proto.Message, error)
}

func assignWorker(r *scv1.AssignWorkerRequest) rpcCase {
	return rpcCase{r, fmt.Sprintf("/v1/workcards/%d:assignWorker", r.GetWorkcardId()), func(ctx context.Context, ts *testserver.Server, o ...grpc.CallOption) (proto.Message, error) {
		return ts.Workcards.AssignWorker(ctx, r, o...)
	}}
}

func bindVirtualPhone(r *scv1.BindVirtualPhoneRequest) rpcCase {
	return rpcCase{r, fmt.Sprintf("/v1/workcards/%d:bindVirtualPhone", r.GetWorkcardId()), func(ctx context.Context, ts *testserver.Server, o ...grpc.CallOption) (proto.Message, error) {
		return ts.Workcards.BindVirtualPhone(ctx, r, o...)
	}}
}

func updateWorker(r *scv1.UpdateWorkerRequest) rpcCase {
	return rpcCase{r, "/v1/workers:update", func(ctx context.Context, ts *testserver.Server, o ...grpc.CallOption) (proto.Message, error) {
		return ts.Workers.UpdateWorker(ctx, r, o...)
	}}
}

func getWorkerTags(r *scv1.GetWorkerTagsRequest) rpcCase {
	return rpcCase{r, "/v1/workers:getTags", func(ctx context.Context, ts *testserver.Server, o ...grpc.CallOption) (proto.Message, error) {
		return ts.Workers.GetWorkerTags(ctx, r, o...)
	}}
}

func syncBlacklist(r *scv1.SyncUserBlacklistRequest) rpcCase {
	return rpcCase{r, "/v1/blacklist:sync", func(ctx context.Context, ts *testserver.Server, o ...grpc.CallOption) (proto.Message, error) {
		return ts.Logistics.SyncUserBlacklist(ctx, r, o...)
	}}
}

func restBody(t *testing.T, m proto.Message) string {
	t.Helper()
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func demoWorker() *scv1.Worker {
	return &scv1.Worker{
		Name: "张三", Phone: "13712345678", BizType: "appliance_install", ProviderId: 1,
		CoverCategoryIds: []int64{123, 456}, ServiceCodes: []string{"tv_install", "ac_install"},
		Address:      &scv1.Address{AddressDetail: "文一西路969号", AddressNames: []string{"浙江省", "杭州市", "余杭区"}},
		ServiceAreas: []*scv1.Division{{DivisionNames: []string{"浙江省", "杭州市"}}},
		RegisterTime: timestamppb.New(time.Date(2016, 6, 28, 2, 30, 0, 0, time.UTC)),
	}
}

func withWorker(mutate func(w *scv1.Worker)) *scv1.UpdateWorkerRequest {
	w := demoWorker()
	mutate(w)
	return &scv1.UpdateWorkerRequest{Worker: w}
}

// failure is what a failing call must show: the gRPC code, the HTTP status
// the gateway gives it, and either the ErrorInfo reason or the BadRequest
// field paths.
type failure struct {
	code   codes.Code
	http   int
	reason string
	fields []string
}

func TestRPCFailures(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	ext, _ := structpb.NewStruct(map[string]any{"carNumber": "1234"})
	tests := []struct {
		name   string
		faults map[string]any
		rpc    rpcCase
		want   failure
	}{
		{"assign: unknown workcard", nil, assignWorker(&scv1.AssignWorkerRequest{WorkcardId: 999, TargetWorkerId: 1234567}),
			failure{codes.NotFound, 404, "TOP_BIZ_1008", nil}},
		{"assign: blacklisted worker", nil, assignWorker(&scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234569, ExtJson: ext}),
			failure{codes.FailedPrecondition, 400, "TOP_BIZ_1010", nil}},
		{"update: unknown worker", nil, updateWorker(withWorker(func(w *scv1.Worker) { w.Name = "李四" })),
			failure{codes.NotFound, 404, "TOP_BIZ_10006", nil}},
		{"update: unknown category", nil, updateWorker(withWorker(func(w *scv1.Worker) { w.CoverCategoryIds = []int64{999} })),
			failure{codes.InvalidArgument, 400, "TOP_BIZ_11000", nil}},
		{"tags: unknown worker", nil, getWorkerTags(&scv1.GetWorkerTagsRequest{IdNumber: "33010619880606123X", Mobile: "13800000000"}),
			failure{codes.NotFound, 404, "TOP_BIZ_1009", nil}},
		{"bind: unknown workcard", nil, bindVirtualPhone(&scv1.BindVirtualPhoneRequest{WorkcardId: 999, RequestSource: &scv1.WorkcardRequestSource{}}),
			failure{codes.NotFound, 404, "TOP_BIZ_1008", nil}},
		{"bind: workcard of another store", nil, bindVirtualPhone(&scv1.BindVirtualPhoneRequest{WorkcardId: 11111222, RequestSource: &scv1.WorkcardRequestSource{ServiceStoreCode: "FWS12345"}}),
			failure{codes.FailedPrecondition, 400, "TOP_BIZ_1011", nil}},
		{"sync: transient failure", map[string]any{"rules": []any{map[string]any{"method": "taobao.logistics.express.user.blacklist.tms.sync", "busy": true}}},
			syncBlacklist(&scv1.SyncUserBlacklistRequest{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT,
				Blacklist: []*scv1.BlacklistEntry{{Mobile: "13900000009"}}}),
			failure{codes.Unavailable, 503, "TOP_BIZ_500", nil}},
		{"TOP platform fault, retried then given up", map[string]any{"rules": []any{map[string]any{"error": map[string]any{"code": 15, "sub_code": "isp.top-remote-service-unavailable"}}}},
			getWorkerTags(&scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}),
			failure{codes.Unavailable, 503, "TOP_ISP_TOP_REMOTE_SERVICE_UNAVAILABLE", nil}},
		{"TOP refuses a parameter (seed's code 50)", map[string]any{"rules": []any{map[string]any{"error": map[string]any{"code": 50, "sub_code": "isv.invalid-parameter", "sub_msg": "非法参数"}}}},
			getWorkerTags(&scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}),
			failure{codes.InvalidArgument, 400, "TOP_ISV_INVALID_PARAMETER", nil}},
		{"invalid session", map[string]any{"rules": []any{map[string]any{"error": map[string]any{"code": 27}}}},
			getWorkerTags(&scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}),
			failure{codes.Unauthenticated, 401, "TOP_CODE_27", nil}},
		{"insufficient permissions", map[string]any{"rules": []any{map[string]any{"error": map[string]any{"code": 11}}}},
			assignWorker(&scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567}),
			failure{codes.PermissionDenied, 403, "TOP_CODE_11", nil}},
		{"bad gateway", map[string]any{"rules": []any{map[string]any{"http_status": 502}}},
			getWorkerTags(&scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}),
			failure{codes.Unavailable, 503, "TOP_UNAVAILABLE", nil}},
		{"unknown TOP code", map[string]any{"rules": []any{map[string]any{"error": map[string]any{"code": 999, "msg": "Something New"}}}},
			assignWorker(&scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567}),
			failure{codes.Unknown, 500, "TOP_CODE_999", nil}},
		{"invalid: id number and mobile", nil, getWorkerTags(&scv1.GetWorkerTagsRequest{IdNumber: "110105194912310021", Mobile: "23245678901"}),
			failure{codes.InvalidArgument, 400, "", []string{"id_number", "mobile"}}},
		{"invalid: workcard id and operator type", nil, assignWorker(&scv1.AssignWorkerRequest{WorkcardId: -1, TargetWorkerId: 1234567, Type: 7}),
			failure{codes.InvalidArgument, 400, "", []string{"type", "workcard_id"}}},
		{"invalid: nested worker fields", nil, updateWorker(withWorker(func(w *scv1.Worker) { w.Phone = "1371234567"; w.IdentityId = "11010519491331002X" })),
			failure{codes.InvalidArgument, 400, "", []string{"worker.identity_id", "worker.phone"}}},
		{"invalid: blacklist entry", nil, syncBlacklist(&scv1.SyncUserBlacklistRequest{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT,
			Blacklist: []*scv1.BlacklistEntry{{Mobile: "13900000001"}, {Mobile: "139000", Reason: []scv1.BlacklistReason{9}}}}),
			failure{codes.InvalidArgument, 400, "", []string{"blacklist[1].mobile", "blacklist[1].reason[0]"}}},
		{"invalid: missing operate type and entries", nil, syncBlacklist(&scv1.SyncUserBlacklistRequest{SupplierId: "10000000001"}),
			failure{codes.InvalidArgument, 400, "", []string{"blacklist", "operate_type"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.faults != nil {
				ts.Emulator(t, http.MethodPut, "/_emulator/faults", tt.faults)
				t.Cleanup(func() { ts.Emulator(t, http.MethodDelete, "/_emulator/faults", nil) })
			}
			before := callCount(t, ts)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var header metadata.MD
			_, err := tt.rpc.call(ctx, ts, grpc.Header(&header))
			st := status.Convert(err)
			if st.Code() != tt.want.code {
				t.Fatalf("grpc code = %v (%v), want %v", st.Code(), err, tt.want.code)
			}
			checkDetails(t, "grpc", st.Details(), tt.want)
			if strings.Contains(st.Message(), "13245678901") || strings.Contains(st.Message(), "11010519491231002X") {
				t.Errorf("message leaks personal data: %s", st.Message())
			}
			if tt.want.fields != nil && callCount(t, ts) != before {
				t.Errorf("an invalid request reached TOP")
			}
			if tt.want.reason != "" && !strings.HasPrefix(tt.want.reason, "TOP_UNAVAILABLE") && len(header.Get(rpc.TOPRequestIDHeader)) != 1 {
				t.Errorf("grpc header %s missing: %v", rpc.TOPRequestIDHeader, header)
			}

			code, hdr, body := ts.REST(t, tt.rpc.path, restBody(t, tt.rpc.req))
			if code != tt.want.http {
				t.Fatalf("http status = %d (%v), want %d", code, body, tt.want.http)
			}
			if got := int(body["code"].(float64)); got != int(tt.want.code) {
				t.Errorf("REST body code = %d, want %d", got, tt.want.code)
			}
			checkRESTDetails(t, body, tt.want)
			if tt.want.reason != "" && !strings.HasPrefix(tt.want.reason, "TOP_UNAVAILABLE") && hdr.Get("X-Top-Request-Id") == "" {
				t.Errorf("REST header X-Top-Request-Id missing: %v", hdr)
			}
		})
	}
}

func checkDetails(t *testing.T, via string, details []any, want failure) {
	t.Helper()
	var infos []*errdetails.ErrorInfo
	var fields []string
	for _, d := range details {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			infos = append(infos, d)
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		case *errdetails.RetryInfo:
		default:
			t.Errorf("%s: unexpected detail %T", via, d)
		}
	}
	if want.reason != "" {
		if len(infos) != 1 {
			t.Fatalf("%s: %d ErrorInfo, want exactly 1", via, len(infos))
		}
		if infos[0].GetReason() != want.reason || infos[0].GetDomain() != rpc.ErrorDomain {
			t.Errorf("%s: ErrorInfo %s/%s, want %s/%s", via, infos[0].GetDomain(), infos[0].GetReason(), rpc.ErrorDomain, want.reason)
		}
		if infos[0].GetMetadata()["top_method"] == "" {
			t.Errorf("%s: ErrorInfo metadata lacks top_method: %v", via, infos[0].GetMetadata())
		}
	}
	if want.fields != nil {
		slices.Sort(fields)
		fields = slices.Compact(fields)
		if !slices.Equal(fields, want.fields) {
			t.Errorf("%s: field violations %v, want %v", via, fields, want.fields)
		}
	}
}

func checkRESTDetails(t *testing.T, body map[string]any, want failure) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Details []json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	var details []any
	for _, d := range st.Details {
		var typ struct {
			Type string `json:"@type"`
		}
		_ = json.Unmarshal(d, &typ)
		var m proto.Message
		switch typ.Type {
		case "type.googleapis.com/google.rpc.ErrorInfo":
			m = &errdetails.ErrorInfo{}
		case "type.googleapis.com/google.rpc.BadRequest":
			m = &errdetails.BadRequest{}
		case "type.googleapis.com/google.rpc.RetryInfo":
			m = &errdetails.RetryInfo{}
		default:
			t.Fatalf("REST: unexpected detail %s", d)
		}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(stripType(d), m); err != nil {
			t.Fatalf("REST detail %s: %v", d, err)
		}
		details = append(details, m)
	}
	checkDetails(t, "rest", details, want)
}

// stripType removes "@type" so that the detail decodes as its message.
func stripType(d json.RawMessage) []byte {
	var m map[string]any
	_ = json.Unmarshal(d, &m)
	delete(m, "@type")
	b, _ := json.Marshal(m)
	return b
}

// callCount is how many TOP calls the embedded emulator has answered:
// the requests that name a method. The server's reachability probe (a
// bare GET of the gateway's URL, sent when no call went out for 10s: see
// watchTOP) names none; a test that runs that long on a loaded machine
// would otherwise count it as a call.
func callCount(t *testing.T, ts *testserver.Server) int {
	t.Helper()
	var stats struct {
		Calls struct {
			ByMethod map[string]int `json:"by_method"`
		} `json:"calls"`
	}
	if err := json.Unmarshal(ts.Emulator(t, http.MethodGet, "/_emulator/stats", nil), &stats); err != nil {
		t.Fatal(err)
	}
	n := 0
	for method, calls := range stats.Calls.ByMethod {
		if method != "" {
			n += calls
		}
	}
	return n
}
