package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoregistry"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// benchCall is one audited call of BenchmarkTargets and
// BenchmarkInterceptor: a full method with a typical request and answer.
type benchCall struct {
	method    string
	req, resp any
}

func benchCalls() []benchCall {
	syncReq := &scv1.SyncUserBlacklistRequest{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}
	for i := range 100 {
		syncReq.Blacklist = append(syncReq.Blacklist, &scv1.BlacklistEntry{Mobile: fmt.Sprintf("139%08d", i)})
	}
	return []benchCall{
		{scv1.WorkcardService_AssignWorker_FullMethodName,
			&scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 7, TargetWorkerMobile: "13245678901", ServiceStoreId: 12345, FulfilTaskId: 1898, TargetWorkerName: "张师傅"},
			&scv1.AssignWorkerResponse{Success: true}},
		{scv1.WorkcardService_BindVirtualPhone_FullMethodName,
			&scv1.BindVirtualPhoneRequest{WorkcardId: 9, RequestSource: &scv1.WorkcardRequestSource{ServiceStoreCode: "FWS1122"}},
			&scv1.BindVirtualPhoneResponse{Success: true}},
		{scv1.WorkerService_UpdateWorker_FullMethodName,
			&scv1.UpdateWorkerRequest{Worker: &scv1.Worker{Name: "张三", Phone: "13712345678", IdentityId: "33010619880606123X", ProviderId: 1, BizType: "appliance_install", ServiceStoreCode: "FWS1"}},
			&scv1.UpdateWorkerResponse{Success: true}},
		{scv1.LogisticsService_SyncUserBlacklist_FullMethodName, syncReq, &scv1.SyncUserBlacklistResponse{RequestId: "scd-1", Success: true}},
		{scv1.LogisticsService_ImportUserBlacklist_FullMethodName,
			&scv1.ImportUserBlacklistRequest{Settings: &scv1.BlacklistSyncJobSettings{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}},
			&scv1.ImportUserBlacklistResponse{Job: &scv1.BlacklistSyncJob{JobId: "bj-1"}}},
		{scv1.LogisticsService_CancelBlacklistSyncJob_FullMethodName, &scv1.CancelBlacklistSyncJobRequest{JobId: "bj-1"}, nil},
	}
}

// BenchmarkTargets measures listing the targets of one call of each
// audited method (issue 16's hot path runs it on every AssignWorker).
func BenchmarkTargets(b *testing.B) {
	for _, c := range benchCalls() {
		b.Run(c.method[len("/servicecenter.v1."):], func(b *testing.B) {
			benchTargets(c.method, c.req, c.resp) // one-time setup (the plan) outside the measure
			b.ReportAllocs()
			for b.Loop() {
				if len(benchTargets(c.method, c.req, c.resp)) == 0 {
					b.Fatal("no targets")
				}
			}
		})
	}
}

// nopRecorder drops events.
type nopRecorder struct{}

func (nopRecorder) Record(context.Context, Event) error { return nil }

// BenchmarkInterceptor measures the audit interceptor around one
// AssignWorker call, the recording (a no-op recorder) included.
func BenchmarkInterceptor(b *testing.B) {
	c := benchCalls()[0]
	a := benchAuditor(nopRecorder{})
	unary := a.UnaryInterceptor()
	ctx := rpc.WithCall(context.Background(), &rpc.Call{RequestID: "r1", Authorized: true})
	info := &grpc.UnaryServerInfo{FullMethod: c.method}
	handler := func(context.Context, any) (any, error) { return c.resp, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := unary(ctx, c.req, info, handler); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPlan, benchTargets and benchAuditor are the audit API the
// benchmarks use.
var benchPlan = sync.OnceValue(func() *Plan {
	p, err := NewPlan(protoregistry.GlobalFiles)
	if err != nil {
		panic(err)
	}
	return p
})

func benchTargets(method string, req, resp any) []Target {
	return benchPlan().Targets(method, req, resp, true)
}

func benchAuditor(rec Recorder) *Auditor {
	return NewAuditor(rec, slog.New(slog.DiscardHandler), Options{Plan: benchPlan()})
}

// BenchmarkInterceptorLogged measures the audit interceptor around one
// AssignWorker call recorded by the log sink, as servicecenterd wires it
// (Multi of the LogSink and a store, here a no-op), with each of the
// server's log formats.
func BenchmarkInterceptorLogged(b *testing.B) {
	c := benchCalls()[0]
	for _, h := range []struct {
		name    string
		handler slog.Handler
	}{
		{"json", slog.NewJSONHandler(io.Discard, nil)},
		{"text", slog.NewTextHandler(io.Discard, nil)},
	} {
		b.Run(h.name, func(b *testing.B) {
			logger := slog.New(h.handler).With(slog.String("component", "audit"))
			a := NewAuditor(Multi(NewLogSink(logger), nopRecorder{}), logger, Options{Plan: benchPlan()})
			unary := a.UnaryInterceptor()
			ctx := rpc.WithCall(context.Background(), &rpc.Call{RequestID: "r1", Client: "ops", Authorized: true})
			info := &grpc.UnaryServerInfo{FullMethod: c.method}
			handler := func(context.Context, any) (any, error) { return c.resp, nil }
			b.ReportAllocs()
			for b.Loop() {
				if _, err := unary(ctx, c.req, info, handler); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
