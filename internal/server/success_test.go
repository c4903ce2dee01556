package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	servicecenterd "github.com/servicecenterd/servicecenterd"
	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

func grpcCtx(t *testing.T) context.Context {
	t.Helper()
	// The deadline only bounds a stuck call; no test times a call with it.
	// The heaviest calls (a SyncUserBlacklist of 270,000 entries) take
	// seconds under the race detector, more on a loaded machine with
	// other tests running beside them (t.Parallel).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func emulatorState(t *testing.T, ts *testserver.Server) *topemu.State {
	t.Helper()
	state, err := topemu.ParseState(ts.Emulator(t, http.MethodGet, "/_emulator/state", nil))
	if err != nil {
		t.Fatal(err)
	}
	return state
}

func TestRPCSuccess(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)

	t.Run("AssignWorker", func(t *testing.T) {
		ext, _ := structpb.NewStruct(map[string]any{"carNumber": "1234"})
		req := &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567, Type: scv1.OperatorType_OPERATOR_TYPE_PROVIDER,
			FulfilTaskId: 1898, OuterId: "test12345", ExtJson: ext}
		var header metadata.MD
		resp, err := ts.Workcards.AssignWorker(grpcCtx(t), req, grpc.Header(&header))
		if err != nil {
			t.Fatal(err)
		}
		if !resp.GetSuccess() || resp.GetTopRequestId() == "" || header.Get(rpc.TOPRequestIDHeader)[0] != resp.GetTopRequestId() {
			t.Fatalf("resp %v header %v", resp, header)
		}
		for _, wc := range emulatorState(t, ts).Workcards {
			if wc.ID == 2345678 {
				if a := wc.Assignment; a == nil || a.WorkerID != 1234567 || a.OuterID != "test12345" || a.ExtJSON != `{"carNumber":"1234"}` {
					t.Fatalf("assignment in emulator: %+v", a)
				}
			}
		}
		code, hdr, body := ts.REST(t, "/v1/workcards/2345678:assignWorker", `{"target_worker_mobile":"13245678901","type":"OPERATOR_TYPE_STORE","service_store_id":12345}`)
		if code != 200 || body["success"] != true || hdr.Get("X-Top-Request-Id") != body["top_request_id"] {
			t.Fatalf("REST %d %v %v", code, hdr, body)
		}
	})

	t.Run("BindVirtualPhone is stable per workcard", func(t *testing.T) {
		resp, err := ts.Workcards.BindVirtualPhone(grpcCtx(t), &scv1.BindVirtualPhoneRequest{WorkcardId: 11111222,
			RequestSource: &scv1.WorkcardRequestSource{RealTpNick: "天猫服务商XXX", ServiceStoreCode: "FWS1122"}})
		if err != nil {
			t.Fatal(err)
		}
		if !resp.GetSuccess() || len(resp.GetResultData()) != 11 {
			t.Fatalf("resp %v", resp)
		}
		code, _, body := ts.REST(t, "/v1/workcards/11111222:bindVirtualPhone", `{"request_source":{}}`)
		if code != 200 || body["result_data"] != resp.GetResultData() {
			t.Fatalf("REST %d %v, want the number %s again", code, body, resp.GetResultData())
		}
	})

	t.Run("UpdateWorker persists", func(t *testing.T) {
		req := &scv1.UpdateWorkerRequest{Worker: demoWorker()}
		req.Worker.WorkType = "full_time"
		resp, err := ts.Workers.UpdateWorker(grpcCtx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		if !resp.GetSuccess() || resp.GetGmtModified() == nil {
			t.Fatalf("resp %v", resp)
		}
		for _, w := range emulatorState(t, ts).Workers {
			if w.ID == 1234568 && (w.WorkType != "full_time" || w.CoverCategoryIDs != "123|456" || w.ServiceCodes != "tv_install|ac_install" ||
				topemuTime(w.RegisterTime) != "2016-06-28 10:30:00") {
				t.Fatalf("worker in emulator: %+v", w)
			}
		}
		code, _, body := ts.REST(t, "/v1/workers:update", restBody(t, req))
		if code != 200 || body["success"] != true {
			t.Fatalf("REST %d %v", code, body)
		}
	})

	t.Run("GetWorkerTags", func(t *testing.T) {
		resp, err := ts.Workers.GetWorkerTags(grpcCtx(t), &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"})
		if err != nil {
			t.Fatal(err)
		}
		d := resp.GetResultData()
		tv := d.GetAbilityMap()["tv_install"]
		if !d.GetVip() || tv == nil || tv.GetAbilityLevel() != scv1.AbilityLevel_ABILITY_LEVEL_EXPERT || !tv.GetEffective() ||
			len(d.GetHomeWorkerTags()) == 0 || d.GetHomeWorkerTags()[0].GetBeginTime() == nil || d.GetRawAbilityMap() != "" {
			t.Fatalf("resp %v", resp)
		}
		code, _, body := ts.REST(t, "/v1/workers:getTags", `{"id_number":"11010519491231002X","mobile":"13245678901"}`)
		abilities := body["result_data"].(map[string]any)["ability_map"].(map[string]any)
		if code != 200 || abilities["tv_install"].(map[string]any)["ability_level"] != "ABILITY_LEVEL_EXPERT" {
			t.Fatalf("REST %d %v", code, body)
		}
	})

	t.Run("SyncUserBlacklist makes and keeps a request id", func(t *testing.T) {
		req := &scv1.SyncUserBlacklistRequest{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT,
			Blacklist: []*scv1.BlacklistEntry{{Mobile: "13900000001", Reason: []scv1.BlacklistReason{1, 2}}}}
		resp, err := ts.Logistics.SyncUserBlacklist(grpcCtx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		if !resp.GetSuccess() || resp.GetCode() != "200" || !strings.HasPrefix(resp.GetRequestId(), "scd-") {
			t.Fatalf("resp %v", resp)
		}
		// The same request id again is a replay: TOP answers success and
		// applies nothing twice.
		req.RequestId = resp.GetRequestId()
		again, err := ts.Logistics.SyncUserBlacklist(grpcCtx(t), req)
		if err != nil || again.GetRequestId() != req.RequestId {
			t.Fatalf("replay %v %v", again, err)
		}
		var stats struct {
			Blacklist struct {
				Replayed int `json:"sync_requests_replayed"`
				Max      int `json:"max_applies_per_mobile"`
			} `json:"blacklist"`
		}
		if err := json.Unmarshal(ts.Emulator(t, http.MethodGet, "/_emulator/stats?mobile=13900000001", nil), &stats); err != nil {
			t.Fatal(err)
		}
		if stats.Blacklist.Replayed != 1 || stats.Blacklist.Max != 1 {
			t.Fatalf("emulator stats %+v", stats)
		}
		// A different payload under the same id is refused.
		req.Blacklist[0].Reason = []scv1.BlacklistReason{5}
		_, err = ts.Logistics.SyncUserBlacklist(grpcCtx(t), req)
		if status.Code(err) != codes.AlreadyExists {
			t.Fatalf("conflict: %v", err)
		}
		code, _, body := ts.REST(t, "/v1/blacklist:sync", `{"supplier_id":"10000000001","operate_type":"OPERATE_TYPE_DELETE","blacklist":[{"mobile":"13900000001"}],"request_id":"rest-1"}`)
		if code != 200 || body["request_id"] != "rest-1" || body["success"] != true {
			t.Fatalf("REST %d %v", code, body)
		}
	})
}

func topemuTime(t interface{ MarshalText() ([]byte, error) }) string {
	b, _ := t.MarshalText()
	return string(b)
}

func TestOperationalEndpoints(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + ts.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 200 || body != "ready\nquota: local\n" {
		t.Errorf("/readyz %d %q", code, body)
	}
	code, body := get("/openapi.json")
	var doc map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &doc) != nil || doc["swagger"] != "2.0" || !strings.Contains(body, "/v1/workers:getTags") {
		t.Errorf("/openapi.json %d %.200s", code, body)
	}
	code, body = get("/openapi.v3.json")
	if code != 200 || !bytes.Equal([]byte(body), servicecenterd.OpenAPIv3) || !strings.Contains(body, `"openapi": "3.0.3"`) {
		t.Errorf("/openapi.v3.json %d %.200s", code, body)
	}
	code, body = get("/descriptor.binpb")
	if code != 200 || !bytes.Equal([]byte(body), servicecenterd.DescriptorSet) {
		t.Errorf("/descriptor.binpb %d, %d bytes", code, len(body))
	}
	code, body = get("/protos.tar.gz")
	if code != 200 {
		t.Errorf("/protos.tar.gz %d", code)
	} else if zr, err := gzip.NewReader(strings.NewReader(body)); err != nil {
		t.Errorf("/protos.tar.gz: %v", err)
	} else if tarball, err := io.ReadAll(zr); err != nil || !bytes.Equal(tarball, servicecenterd.ProtosTar) {
		t.Errorf("/protos.tar.gz does not hold the bundle (%v)", err)
	}

	health := healthpb.NewHealthClient(ts.Conn)
	for _, name := range append([]string{""}, server.ServiceNames...) {
		resp, err := health.Check(grpcCtx(t), &healthpb.HealthCheckRequest{Service: name})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v %v", name, resp, err)
		}
	}

	stream, err := reflectionpb.NewServerReflectionClient(ts.Conn).ServerReflectionInfo(grpcCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.CloseSend()
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range server.ServiceNames {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
	if !strings.Contains(ts.Logs.String(), "EMBEDDED TOP EMULATOR") || !strings.Contains(ts.Logs.String(), ts.EmulatorURL()) {
		t.Errorf("start log does not say the emulator is in use:\n%s", ts.Logs.String())
	}
}
