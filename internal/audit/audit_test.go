package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/interceptor"
)

func targetsText(ts []Target) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, t.Kind+":"+t.ID)
	}
	return strings.Join(parts, " ")
}

func TestTargets(t *testing.T) {
	tests := []struct {
		name      string
		req, resp any
		want      string
	}{
		{"assign", &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 7, TargetWorkerMobile: "13245678901", ServiceStoreId: 12345, FulfilTaskId: 1898, TargetWorkerName: "张师傅"},
			nil, "workcard:2345678 worker:7 worker_mobile:132****8901 service_store:12345 fulfil_task:1898"},
		{"assign, malformed mobile still masked", &scv1.AssignWorkerRequest{WorkcardId: 1, TargetWorkerMobile: "1324567"}, nil, "workcard:1 worker_mobile:*******"},
		{"bind, store code holding a phone", &scv1.BindVirtualPhoneRequest{WorkcardId: 9, RequestSource: &scv1.WorkcardRequestSource{ServiceStoreCode: "FWS 13245678901"}},
			nil, "workcard:9 service_store_code:FWS 132****8901"},
		{"update", &scv1.UpdateWorkerRequest{Worker: &scv1.Worker{Name: "张三", Phone: "13712345678", IdentityId: "33010619880606123X", ProviderId: 1, BizType: "appliance_install", ServiceStoreCode: "FWS1"}},
			nil, "provider:1 worker_mobile:137****5678 worker_identity:330106********123X biz_type:appliance_install service_store_code:FWS1"},
		{"sync, id from the response", &scv1.SyncUserBlacklistRequest{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_DELETE,
			Blacklist: []*scv1.BlacklistEntry{{Mobile: "13900000001"}, {Mobile: "13900000002"}}}, &scv1.SyncUserBlacklistResponse{RequestId: "scd-1"},
			"supplier:10000000001 blacklist_request:scd-1 operate_type:OPERATE_TYPE_DELETE mobile:139****0001 mobile:139****0002"},
		{"sync, caller's id", &scv1.SyncUserBlacklistRequest{RequestId: "r-1"}, nil, "blacklist_request:r-1"},
		{"bulk import", &scv1.ImportUserBlacklistRequest{
			Settings: &scv1.BlacklistSyncJobSettings{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT},
			Entries:  []*scv1.BlacklistImportEntry{{Mobile: "13900000001"}}},
			&scv1.ImportUserBlacklistResponse{Job: &scv1.BlacklistSyncJob{JobId: "bj-1"}},
			"supplier:10000000001 operate_type:OPERATE_TYPE_UPSERT sync_job:bj-1"},
		{"bulk import refused", &scv1.ImportUserBlacklistRequest{Settings: &scv1.BlacklistSyncJobSettings{SupplierId: "s"}}, nil, "supplier:s"},
		{"cancel", &scv1.CancelBlacklistSyncJobRequest{JobId: "bj-1"}, nil, "sync_job:bj-1"},
		{"not audited", &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}, nil, ""},
		{"nothing", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := targetsText(Targets(tt.req, tt.resp))
			if got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
			if strings.Contains(got, "张") {
				t.Fatal("a worker's name is a target")
			}
		})
	}
}

type failing struct{}

func (failing) Record(context.Context, Event) error { return errors.New("disk full at 13812345678") }

func TestInterceptor(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	mem := NewMemory()
	a := NewAuditor(Multi(mem, failing{}), logger, "/s.S/Mutate")
	unary := a.UnaryInterceptor()
	ctx := interceptor.WithCall(context.Background(), &interceptor.Call{RequestID: "r1"})
	handler := func(ctx context.Context, req any) (any, error) {
		c := interceptor.CallFrom(ctx)
		c.Client, c.TOPRequestID = "billing", "top-1"
		return "answer", status.Error(codes.NotFound, "no")
	}
	resp, err := unary(ctx, &scv1.BindVirtualPhoneRequest{WorkcardId: 5}, &grpc.UnaryServerInfo{FullMethod: "/s.S/Mutate"}, handler)
	if resp != "answer" || status.Code(err) != codes.NotFound {
		t.Fatalf("the call's answer changed: %v %v", resp, err)
	}
	if _, err := unary(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/s.S/Read"}, handler); status.Code(err) != codes.NotFound {
		t.Fatal(err)
	}
	events := mem.Events()
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	e := events[0]
	if e.ID != 1 || e.Client != "billing" || e.RPC != "/s.S/Mutate" || e.Outcome != codes.NotFound || e.TOPRequestID != "top-1" ||
		e.RequestID != "r1" || targetsText(e.Targets) != "workcard:5" || time.Since(e.Time) > time.Minute {
		t.Fatalf("event %+v", e)
	}
	if !strings.Contains(logs.String(), `"msg":"audit event not recorded"`) || strings.Contains(logs.String(), "13812345678") {
		t.Fatalf("recording failure log: %s", logs.String())
	}
	if !a.Audited("/s.S/Mutate") || a.Audited("/s.S/Read") {
		t.Fatal("Audited")
	}
}

type fakeStream struct {
	grpc.ServerStream
	ctx  context.Context
	in   []any
	sent []any
}

func (f *fakeStream) Context() context.Context { return f.ctx }
func (f *fakeStream) RecvMsg(m any) error {
	if len(f.in) == 0 {
		return errors.New("EOF")
	}
	proto.Merge(m.(proto.Message), f.in[0].(proto.Message))
	f.in = f.in[1:]
	return nil
}
func (f *fakeStream) SendMsg(m any) error { f.sent = append(f.sent, m); return nil }

func TestStreamInterceptor(t *testing.T) {
	mem := NewMemory()
	a := NewAuditor(mem, slog.New(slog.DiscardHandler), "/s.S/Import")
	ctx := interceptor.WithCall(context.Background(), &interceptor.Call{RequestID: "r2", Client: "bulk"})
	fs := &fakeStream{ctx: ctx, in: []any{
		&scv1.SyncUserBlacklistRequest{SupplierId: "S1", Blacklist: []*scv1.BlacklistEntry{{Mobile: "13900000001"}}},
		&scv1.SyncUserBlacklistRequest{SupplierId: "S2"},
	}}
	err := a.StreamInterceptor()(nil, fs, &grpc.StreamServerInfo{FullMethod: "/s.S/Import"}, func(_ any, ss grpc.ServerStream) error {
		for {
			var m scv1.SyncUserBlacklistRequest
			if err := ss.RecvMsg(&m); err != nil {
				break
			}
		}
		return ss.SendMsg(&scv1.SyncUserBlacklistResponse{RequestId: "job-7"})
	})
	if err != nil {
		t.Fatal(err)
	}
	events := mem.Events()
	if len(events) != 1 || events[0].Client != "bulk" || targetsText(events[0].Targets) != "supplier:S1 blacklist_request:job-7 mobile:139****0001" {
		t.Fatalf("events %+v", events)
	}
}

func TestMemoryList(t *testing.T) {
	m := NewMemory()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, c := range []string{"a", "b", "a", "a", "b"} {
		code := codes.OK
		if i%2 == 1 {
			code = codes.PermissionDenied
		}
		_ = m.Record(context.Background(), Event{Time: t0.Add(time.Duration(i) * time.Minute), Client: c, RPC: "/s.S/M", Outcome: code})
	}
	ids := func(q Query) []int64 {
		evs, err := m.List(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, e := range evs {
			out = append(out, e.ID)
		}
		return out
	}
	tests := []struct {
		name string
		q    Query
		want string
	}{
		{"all, newest first", Query{Limit: 10}, "[5 4 3 2 1]"},
		{"limit", Query{Limit: 2}, "[5 4]"},
		{"before", Query{Limit: 2, BeforeID: 4}, "[3 2]"},
		{"client", Query{Limit: 10, Client: "a"}, "[4 3 1]"},
		{"outcome", Query{Limit: 10, Outcomes: []codes.Code{codes.PermissionDenied}}, "[4 2]"},
		{"time", Query{Limit: 10, From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute)}, "[3 2]"},
		{"rpc", Query{Limit: 10, RPC: "/s.S/N"}, "[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(ids(tt.q)); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
