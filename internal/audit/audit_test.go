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
	"google.golang.org/protobuf/reflect/protoregistry"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

func targetsText(ts []Target) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, t.Kind+":"+t.ID)
	}
	return strings.Join(parts, " ")
}

// The methods the tests call: two audited (mutate, streamed), one not.
const (
	mutate   = scv1.WorkcardService_BindVirtualPhone_FullMethodName
	streamed = scv1.LogisticsService_ImportUserBlacklist_FullMethodName
	read     = scv1.WorkerService_GetWorkerTags_FullMethodName
	// sample is the proto's sample of SyncUserBlacklist's blacklist.mobile.
	sample = 10
)

// testPlan is the plan of the linked protos' audit options.
func testPlan(t testing.TB) *Plan {
	t.Helper()
	p, err := NewPlan(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTargets(t *testing.T) {
	plan := testPlan(t)
	many := &scv1.SyncUserBlacklistRequest{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}
	for i := range 270_000 {
		many.Blacklist = append(many.Blacklist, &scv1.BlacklistEntry{Mobile: fmt.Sprintf("139%08d", i)})
	}
	sampled := "supplier:10000000001 operate_type:OPERATE_TYPE_UPSERT blacklist_entries:270000"
	for i := range sample {
		sampled += fmt.Sprintf(" mobile:139****%04d", i)
	}
	huge := strings.Repeat("x", 4<<20)
	cut := strings.Repeat("x", MaxTargetID-1) + "…"
	tests := []struct {
		name      string
		req, resp any
		denied    bool
		want      string
	}{
		{"assign", &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 7, TargetWorkerMobile: "13245678901", ServiceStoreId: 12345, FulfilTaskId: 1898, TargetWorkerName: "张师傅"},
			nil, false, "workcard:2345678 worker:7 worker_mobile:132****8901 service_store:12345 fulfil_task:1898"},
		{"assign, malformed mobile still masked", &scv1.AssignWorkerRequest{WorkcardId: 1, TargetWorkerMobile: "1324567"}, nil, false, "workcard:1 worker_mobile:*******"},
		{"bind, store code holding a phone", &scv1.BindVirtualPhoneRequest{WorkcardId: 9, RequestSource: &scv1.WorkcardRequestSource{ServiceStoreCode: "FWS 13245678901"}},
			nil, false, "workcard:9 service_store_code:FWS 132****8901"},
		{"update", &scv1.UpdateWorkerRequest{Worker: &scv1.Worker{Name: "张三", Phone: "13712345678", IdentityId: "33010619880606123X", ProviderId: 1, BizType: "appliance_install", ServiceStoreCode: "FWS1"}},
			nil, false, "provider:1 worker_mobile:137****5678 worker_identity:330106********123X biz_type:appliance_install service_store_code:FWS1"},
		{"sync, id from the response", &scv1.SyncUserBlacklistRequest{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_DELETE,
			Blacklist: []*scv1.BlacklistEntry{{Mobile: "13900000001"}, {Mobile: "13900000002"}}}, &scv1.SyncUserBlacklistResponse{RequestId: "scd-1"},
			false, "supplier:10000000001 blacklist_request:scd-1 operate_type:OPERATE_TYPE_DELETE blacklist_entries:2 mobile:139****0001 mobile:139****0002"},
		{"sync, caller's id", &scv1.SyncUserBlacklistRequest{RequestId: "r-1"}, nil, false, "blacklist_request:r-1 blacklist_entries:0"},
		{"sync of 270,000 entries: a count and a sample", many, nil, false, sampled},
		{"sync denied: a count, no entries", many, nil, true, "supplier:10000000001 operate_type:OPERATE_TYPE_UPSERT blacklist_entries:270000"},
		{"sync with megabyte ids, denied", &scv1.SyncUserBlacklistRequest{SupplierId: huge, RequestId: huge + "13812345678",
			Blacklist: []*scv1.BlacklistEntry{{Mobile: huge}}}, nil, true, "supplier:" + cut + " blacklist_request:" + cut + " blacklist_entries:1"},
		{"control characters and invalid UTF-8 replaced", &scv1.SyncUserBlacklistRequest{SupplierId: "10\x00\x01😀\xff"}, nil, true, "supplier:10\ufffd\ufffd😀\ufffd blacklist_entries:0"},
		{"a megabyte worker", &scv1.UpdateWorkerRequest{Worker: &scv1.Worker{Phone: huge, IdentityId: huge, BizType: huge, ServiceStoreCode: "FWS" + huge}}, nil, false,
			"worker_mobile:xxx" + strings.Repeat("*", MaxTargetID-7) + "xxx… worker_identity:xxxxxx" + strings.Repeat("*", MaxTargetID-10) + "xxx… biz_type:" + cut + " service_store_code:FWS" + cut[3:]},
		{"bulk import", &scv1.ImportUserBlacklistRequest{
			Settings: &scv1.BlacklistSyncJobSettings{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT},
			Entries:  []*scv1.BlacklistImportEntry{{Mobile: "13900000001"}}},
			&scv1.ImportUserBlacklistResponse{Job: &scv1.BlacklistSyncJob{JobId: "bj-1"}}, false,
			"supplier:10000000001 operate_type:OPERATE_TYPE_UPSERT sync_job:bj-1"},
		{"bulk import refused", &scv1.ImportUserBlacklistRequest{Settings: &scv1.BlacklistSyncJobSettings{SupplierId: "s"}}, nil, false, "supplier:s"},
		{"cancel", &scv1.CancelBlacklistSyncJobRequest{JobId: "bj-1"}, nil, false, "sync_job:bj-1"},
		{"not audited", &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}, nil, false, ""},
		{"nothing", nil, nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := targetsText(plan.Targets(methodOf(tt.req), tt.req, tt.resp, !tt.denied))
			if got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
			if strings.Contains(got, "张") {
				t.Fatal("a worker's name is a target")
			}
		})
	}
}

// methodOf is the RPC whose request req is.
func methodOf(req any) string {
	switch req.(type) {
	case *scv1.AssignWorkerRequest, nil:
		return scv1.WorkcardService_AssignWorker_FullMethodName
	case *scv1.BindVirtualPhoneRequest:
		return scv1.WorkcardService_BindVirtualPhone_FullMethodName
	case *scv1.UpdateWorkerRequest:
		return scv1.WorkerService_UpdateWorker_FullMethodName
	case *scv1.SyncUserBlacklistRequest:
		return scv1.LogisticsService_SyncUserBlacklist_FullMethodName
	case *scv1.ImportUserBlacklistRequest:
		return scv1.LogisticsService_ImportUserBlacklist_FullMethodName
	case *scv1.CancelBlacklistSyncJobRequest:
		return scv1.LogisticsService_CancelBlacklistSyncJob_FullMethodName
	}
	return read
}

type failing struct{}

func (failing) Record(context.Context, Event) error { return errors.New("disk full at 13812345678") }

func TestInterceptor(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	mem := NewMemory()
	failures := 0
	a := NewAuditor(Multi(mem, failing{}), logger, Options{Plan: testPlan(t), Failed: func() { failures++ }})
	unary := a.UnaryInterceptor()
	ctx := rpc.WithCall(context.Background(), &rpc.Call{RequestID: "r1"})
	handler := func(ctx context.Context, req any) (any, error) {
		c := rpc.CallFrom(ctx)
		c.Client, c.TOPRequestID = "billing", "top-1"
		return "answer", status.Error(codes.NotFound, "no")
	}
	resp, err := unary(ctx, &scv1.BindVirtualPhoneRequest{WorkcardId: 5}, &grpc.UnaryServerInfo{FullMethod: mutate}, handler)
	if resp != "answer" || status.Code(err) != codes.NotFound {
		t.Fatalf("the call's answer changed: %v %v", resp, err)
	}
	if _, err := unary(ctx, nil, &grpc.UnaryServerInfo{FullMethod: read}, handler); status.Code(err) != codes.NotFound {
		t.Fatal(err)
	}
	events := mem.Events()
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	e := events[0]
	if e.ID != 1 || e.Client != "billing" || e.RPC != mutate || e.Outcome != codes.NotFound || e.TOPRequestID != "top-1" ||
		e.RequestID != "r1" || targetsText(e.Targets) != "workcard:5" || time.Since(e.Time) > time.Minute {
		t.Fatalf("event %+v", e)
	}
	if !strings.Contains(logs.String(), `"msg":"audit event not recorded"`) || strings.Contains(logs.String(), "13812345678") {
		t.Fatalf("recording failure log: %s", logs.String())
	}
	if failures != 1 {
		t.Fatalf("%d failures counted, want 1", failures)
	}
	if !a.Audited(mutate) || a.Audited(read) {
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
	for _, tt := range []struct {
		authorized bool
		want       string
	}{
		{true, "supplier:S1 blacklist_request:job-7 blacklist_entries:1 mobile:139****0001"},
		{false, "supplier:S1 blacklist_request:job-7 blacklist_entries:1"},
	} {
		mem := NewMemory()
		a := NewAuditor(mem, slog.New(slog.DiscardHandler), Options{Plan: testPlan(t)})
		ctx := rpc.WithCall(context.Background(), &rpc.Call{RequestID: "r2", Client: "bulk"})
		fs := &fakeStream{ctx: ctx, in: []any{
			&scv1.SyncUserBlacklistRequest{SupplierId: "S1", Blacklist: []*scv1.BlacklistEntry{{Mobile: "13900000001"}}},
			&scv1.SyncUserBlacklistRequest{SupplierId: "S2"},
		}}
		err := a.StreamInterceptor()(nil, fs, &grpc.StreamServerInfo{FullMethod: scv1.LogisticsService_SyncUserBlacklist_FullMethodName}, func(_ any, ss grpc.ServerStream) error {
			rpc.CallFrom(ss.Context()).Authorized = tt.authorized // as authentication does
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
		if len(events) != 1 || events[0].Client != "bulk" || targetsText(events[0].Targets) != tt.want {
			t.Fatalf("authorized %v: events %+v, want targets %s", tt.authorized, events, tt.want)
		}
	}
}

// switchable fails while broken is set.
type switchable struct {
	mem    *Memory
	broken bool
}

func (s *switchable) Record(ctx context.Context, e Event) error {
	if s.broken {
		return errors.New("disk I/O error")
	}
	return s.mem.Record(ctx, e)
}

// TestFailClosed: with FailClosed, once an event could not be recorded the
// audited calls are refused (UNAVAILABLE, AUDIT_UNAVAILABLE) without
// reaching the handler, until an event is recorded again; without it they
// go on. Calls of other methods are never refused.
func TestFailClosed(t *testing.T) {
	for _, failClosed := range []bool{true, false} {
		t.Run(fmt.Sprint("fail closed ", failClosed), func(t *testing.T) {
			rec := &switchable{mem: NewMemory()}
			failures := 0
			a := NewAuditor(rec, slog.New(slog.DiscardHandler), Options{Plan: testPlan(t), FailClosed: failClosed, Failed: func() { failures++ }})
			unary, stream := a.UnaryInterceptor(), a.StreamInterceptor()
			ctx := rpc.WithCall(context.Background(), &rpc.Call{RequestID: "r"})
			acted := 0
			handler := func(context.Context, any) (any, error) { acted++; return "ok", nil }
			call := func(method string) error {
				_, err := unary(ctx, &scv1.BindVirtualPhoneRequest{WorkcardId: 5}, &grpc.UnaryServerInfo{FullMethod: method}, handler)
				return err
			}
			callStream := func() error {
				return stream(nil, &fakeStream{ctx: ctx}, &grpc.StreamServerInfo{FullMethod: streamed}, func(any, grpc.ServerStream) error { acted++; return nil })
			}

			if err := call(mutate); err != nil { // recorded
				t.Fatal(err)
			}
			rec.broken = true
			if err := call(mutate); err != nil { // acts, not recorded: the answer stands
				t.Fatal(err)
			}
			refusedUnary, refusedStream, other := call(mutate), callStream(), call(read)
			if other != nil {
				t.Fatalf("an unaudited call was refused: %v", other)
			}
			for _, err := range []error{refusedUnary, refusedStream} {
				if failClosed {
					if status.Code(err) != codes.Unavailable || !strings.Contains(fmt.Sprint(status.Convert(err).Details()), ReasonUnavailable) {
						t.Fatalf("while failing: %v", err)
					}
				} else if err != nil {
					t.Fatalf("fail open refused a call: %v", err)
				}
			}
			if want := map[bool]int{true: 3, false: 5}[failClosed]; acted != want {
				t.Fatalf("handlers ran %d times, want %d", acted, want)
			}
			rec.broken = false
			if err := call(mutate); status.Code(err) != map[bool]codes.Code{true: codes.Unavailable, false: codes.OK}[failClosed] {
				t.Fatalf("first call after the repair: %v", err) // refused, but recorded: that ends the refusals
			}
			if err := call(mutate); err != nil {
				t.Fatalf("second call after the repair: %v", err)
			}
			if failures != 3 {
				t.Fatalf("%d failures counted, want 3", failures)
			}
			var outcomes []string
			for _, e := range rec.mem.Events() {
				outcomes = append(outcomes, e.Outcome.String())
			}
			want := map[bool]string{true: "[OK Unavailable OK]", false: "[OK OK OK]"}[failClosed]
			if fmt.Sprint(outcomes) != want {
				t.Fatalf("recorded outcomes %v, want %s", outcomes, want)
			}
		})
	}
}

// TestRetention: PruneOnce deletes every event older than the period in
// batches of the given size, reports them, and stops at a canceled
// context; Run prunes at once and stops with its context.
func TestRetention(t *testing.T) {
	mem := NewMemory()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 25 { // one an hour: 25h..1h ago
		_ = mem.Record(context.Background(), Event{Time: now.Add(-time.Duration(25-i) * time.Hour), RPC: "/s.S/M"})
	}
	counting := &countingPruner{p: mem}
	var pruned []int
	r, err := NewRetention(RetentionConfig{Store: counting, Keep: 10*time.Hour + time.Minute, Batch: 4,
		Now: func() time.Time { return now }, Pruned: func(n int) { pruned = append(pruned, n) }})
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.PruneOnce(context.Background())
	if err != nil || n != 15 || counting.calls != 4 || fmt.Sprint(pruned) != "[15]" {
		t.Fatalf("PruneOnce = %d, %v after %d calls, reported %v; want 15 in 4 calls", n, err, counting.calls, pruned)
	}
	if evs := mem.Events(); len(evs) != 10 || !evs[0].Time.Equal(now.Add(-10*time.Hour)) {
		t.Fatalf("%d events left, oldest %v", len(evs), evs[0].Time)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	now = now.Add(24 * time.Hour)
	if n, err := r.PruneOnce(ctx); err == nil || n != 0 {
		t.Fatalf("PruneOnce with a canceled context = %d, %v", n, err)
	}
	if r.Every() != DefaultPruneEvery {
		t.Fatalf("Every = %v, want the default %v", r.Every(), DefaultPruneEvery)
	}
	if len(mem.Events()) != 10 {
		t.Fatal("a canceled retention deleted events")
	}
	if _, err := NewRetention(RetentionConfig{Store: mem}); err == nil {
		t.Fatal("a retention of 0 was accepted")
	}
}

type countingPruner struct {
	p     Pruner
	calls int
}

func (c *countingPruner) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	c.calls++
	return c.p.Prune(ctx, before, limit)
}
