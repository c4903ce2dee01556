package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// TestAuditTrail makes known mutating calls over gRPC and REST (allowed,
// denied, unauthenticated, invalid) and checks the recorded events, the
// audit log lines and ListAuditEvents with filters and paging.
// It runs on the durable store New opens in --data-dir (sqlite) and on the
// in-memory one tests can pass (memory), which must behave the same.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "memory"} {
		t.Run(backend, func(t *testing.T) { testAuditTrail(t, backend) })
	}
}

// allEvents lists every event of the trail, oldest first.
func allEvents(t *testing.T, trail audit.Lister) []audit.Event {
	t.Helper()
	evs, err := trail.List(context.Background(), audit.Query{Limit: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(evs)
	return evs
}

// auditPII is the personal data testAuditTrail sends; none of it may be
// stored, logged or listed unmasked.
var auditPII = []string{"13245678901", "33010619880606123X", "13900000001", "13900000002", "1371234567"}

func testAuditTrail(t *testing.T, backend string) {
	p := newPKI(t)
	var (
		opts  []server.Option
		trail audit.Lister
	)
	if backend == "memory" {
		mem := audit.NewMemory()
		opts, trail = append(opts, server.WithAuditStore(mem)), mem
	}
	ts := testserver.Start(t, func(c *server.Config) { c.Auth.ClientsFile = p.clientsFile }, opts...)
	if trail == nil {
		trail = ts.StoreTrail()
	}
	audits := scv1.NewAuditServiceClient(ts.Conn)
	ops := withToken(grpcCtx(t), tokenOps)
	start := time.Now()

	var header metadata.MD
	assign, err := ts.Workcards.AssignWorker(ops, &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerMobile: "13245678901",
		Type: scv1.OperatorType_OPERATOR_TYPE_STORE, ServiceStoreId: 12345}, grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Workcards.AssignWorker(withToken(grpcCtx(t), tokenTagsOnly), &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567}); status.Code(err) != codes.PermissionDenied {
		t.Fatal(err)
	}
	if _, err := ts.Workcards.AssignWorker(grpcCtx(t), &scv1.AssignWorkerRequest{WorkcardId: 3456789}); status.Code(err) != codes.Unauthenticated {
		t.Fatal(err)
	}
	rest := func(path, body string) (int, map[string]any) {
		code, out, _ := doREST(t, http.DefaultClient, http.MethodPost, "http://"+ts.HTTPAddr()+path, body, http.Header{"Authorization": {"Bearer " + tokenOps}})
		return code, out
	}
	if code, _ := rest("/v1/workers:update", restBody(t, withWorker(func(w *scv1.Worker) { w.Phone = "1371234567"; w.IdentityId = "33010619880606123X" }))); code != 400 {
		t.Fatalf("invalid update: %d", code)
	}
	code, synced := rest("/v1/blacklist:sync", `{"supplier_id":"10000000001","operate_type":"OPERATE_TYPE_UPSERT","blacklist":[{"mobile":"13900000001"},{"mobile":"13900000002"}]}`)
	if code != 200 {
		t.Fatalf("sync: %d %v", code, synced)
	}
	if _, err := ts.Workcards.BindVirtualPhone(ops, &scv1.BindVirtualPhoneRequest{WorkcardId: 11111222, RequestSource: &scv1.WorkcardRequestSource{ServiceStoreCode: "FWS1122"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Workers.GetWorkerTags(ops, &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}); err != nil {
		t.Fatal(err)
	}

	type want struct {
		client, rpc string
		outcome     codes.Code
		targets     string
		topID       bool
	}
	wants := []want{
		{"ops", scv1.WorkcardService_AssignWorker_FullMethodName, codes.OK, "workcard:2345678 worker_mobile:132****8901 service_store:12345", true},
		{"tags-only", scv1.WorkcardService_AssignWorker_FullMethodName, codes.PermissionDenied, "workcard:2345678 worker:1234567", false},
		{"", scv1.WorkcardService_AssignWorker_FullMethodName, codes.Unauthenticated, "workcard:3456789", false},
		{"ops", scv1.WorkerService_UpdateWorker_FullMethodName, codes.InvalidArgument, "provider:1 worker_mobile:137***4567 worker_identity:330106********123X biz_type:appliance_install", false},
		{"ops", scv1.LogisticsService_SyncUserBlacklist_FullMethodName, codes.OK, "supplier:10000000001 blacklist_request:" + synced["request_id"].(string) + " operate_type:OPERATE_TYPE_UPSERT blacklist_entries:2 mobile:139****0001 mobile:139****0002", true},
		{"ops", scv1.WorkcardService_BindVirtualPhone_FullMethodName, codes.OK, "workcard:11111222 service_store_code:FWS1122", true},
	}
	events := allEvents(t, trail)
	if len(events) != len(wants) {
		t.Fatalf("%d events, want %d: %+v", len(events), len(wants), events)
	}
	for i, w := range wants {
		e := events[i]
		var targets []string
		for _, tg := range e.Targets {
			targets = append(targets, tg.Kind+":"+tg.ID)
		}
		if e.Client != w.client || e.RPC != w.rpc || e.Outcome != w.outcome || strings.Join(targets, " ") != w.targets ||
			(e.TOPRequestID != "") != w.topID || len(e.RequestID) == 0 || e.Time.Before(start.Add(-time.Second)) {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
	}
	if events[0].RequestID != header.Get(rpc.RequestIDHeader)[0] || events[0].TOPRequestID != assign.GetTopRequestId() {
		t.Errorf("event 0 ids %s/%s, call %v/%s", events[0].RequestID, events[0].TOPRequestID, header, assign.GetTopRequestId())
	}
	logs := ts.Logs.String()
	if n := strings.Count(logs, `"msg":"audit"`); n != len(wants) {
		t.Errorf("%d audit log lines, want %d", n, len(wants))
	}
	if !strings.Contains(logs, `"msg":"audit","component":"audit","event_time":`) || !strings.Contains(logs, `"client":"tags-only","rpc":"/servicecenter.v1.WorkcardService/AssignWorker","targets":["workcard:2345678","worker:1234567"],"outcome":"PermissionDenied"`) {
		t.Errorf("audit log line shape:\n%s", logs)
	}
	for _, pii := range auditPII {
		if strings.Contains(logs, pii) {
			t.Errorf("logs contain %s", pii)
		}
	}

	t.Run("ListAuditEvents pages", func(t *testing.T) {
		var got []*scv1.AuditEvent
		req := &scv1.ListAuditEventsRequest{PageSize: 4}
		for page := 0; ; page++ {
			resp, err := audits.ListAuditEvents(ops, req)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, resp.GetEvents()...)
			if resp.GetNextPageToken() == "" {
				if page != 1 {
					t.Fatalf("%d pages, want 2", page+1)
				}
				break
			}
			req.PageToken = resp.GetNextPageToken()
		}
		if len(got) != len(wants) {
			t.Fatalf("%d events listed", len(got))
		}
		for i, e := range got {
			w := wants[len(wants)-1-i] // newest first
			if e.GetClient() != w.client || e.GetRpc() != w.rpc || e.GetId() != int64(len(wants)-i) {
				t.Errorf("listed %d: %v, want %+v", i, e, w)
			}
		}
		if got[len(got)-1].GetTargets()[1].GetId() != "132****8901" || got[len(got)-1].GetOutcome() != "OK" || got[len(got)-3].GetOutcome() != "UNAUTHENTICATED" {
			t.Errorf("oldest events: %v", got[len(got)-3:])
		}
		listed := fmt.Sprint(got)
		for _, pii := range auditPII {
			if strings.Contains(listed, pii) {
				t.Errorf("ListAuditEvents shows %s", pii)
			}
		}
	})

	t.Run("ListAuditEvents filters", func(t *testing.T) {
		tests := []struct {
			name string
			req  *scv1.ListAuditEventsRequest
			want int
		}{
			{"client", &scv1.ListAuditEventsRequest{Client: "tags-only"}, 1},
			{"rpc", &scv1.ListAuditEventsRequest{Rpc: "servicecenter.v1.WorkcardService/AssignWorker"}, 3},
			{"outcome", &scv1.ListAuditEventsRequest{Outcome: "OK"}, 3},
			{"outcome and client", &scv1.ListAuditEventsRequest{Outcome: "INVALID_ARGUMENT", Client: "ops"}, 1},
			{"time range", &scv1.ListAuditEventsRequest{StartTime: timestamppb.New(start.Add(-time.Minute)), EndTime: timestamppb.New(time.Now().Add(time.Minute))}, 6},
			{"before everything", &scv1.ListAuditEventsRequest{EndTime: timestamppb.New(start.Add(-time.Minute))}, 0},
		}
		for _, tt := range tests {
			resp, err := audits.ListAuditEvents(ops, tt.req)
			if err != nil || len(resp.GetEvents()) != tt.want {
				t.Errorf("%s: %d events, %v; want %d", tt.name, len(resp.GetEvents()), err, tt.want)
			}
		}
		first, err := audits.ListAuditEvents(ops, &scv1.ListAuditEventsRequest{PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		for name, req := range map[string]*scv1.ListAuditEventsRequest{
			"token of other filters": {PageSize: 1, Client: "ops", PageToken: first.GetNextPageToken()},
			"garbage token":          {PageToken: "garbage"},
			"unknown outcome":        {Outcome: "MAYBE"},
			"end before start":       {StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(-time.Second))},
			"page too big":           {PageSize: 1001},
		} {
			if _, err := audits.ListAuditEvents(ops, req); status.Code(err) != codes.InvalidArgument {
				t.Errorf("%s: %v", name, err)
			}
		}
	})

	t.Run("REST", func(t *testing.T) {
		q := url.Values{"client": {"ops"}, "outcome": {"OK"}, "page_size": {"2"}, "start_time": {start.Add(-time.Minute).UTC().Format(time.RFC3339)}}
		get := func(token string) (int, map[string]any) {
			h := http.Header{}
			if token != "" {
				h.Set("Authorization", "Bearer "+token)
			}
			code, body, _ := doREST(t, http.DefaultClient, http.MethodGet, "http://"+ts.HTTPAddr()+"/v1/auditEvents?"+q.Encode(), "", h)
			return code, body
		}
		var rpcs []string
		for page := 0; ; page++ {
			code, body := get(tokenOps)
			evs, _ := body["events"].([]any)
			if code != 200 || len(evs) == 0 || len(evs) > 2 {
				t.Fatalf("page %d: %d %v", page, code, body)
			}
			for _, e := range evs {
				e := e.(map[string]any)
				if e["outcome"] != "OK" || e["client"] != "ops" {
					t.Errorf("listed over REST: %v", e)
				}
				rpcs = append(rpcs, e["rpc"].(string))
			}
			for _, pii := range auditPII {
				if strings.Contains(fmt.Sprint(body), pii) {
					t.Errorf("REST listing shows %s", pii)
				}
			}
			next, _ := body["next_page_token"].(string)
			if next == "" {
				break
			}
			q.Set("page_token", next)
		}
		wantRPCs := []string{scv1.WorkcardService_BindVirtualPhone_FullMethodName, scv1.LogisticsService_SyncUserBlacklist_FullMethodName,
			scv1.WorkcardService_AssignWorker_FullMethodName}
		if !slices.Equal(rpcs, wantRPCs) {
			t.Fatalf("REST pages listed %v, want %v", rpcs, wantRPCs)
		}
		q.Del("page_token")
		if code, _ := get(""); code != 401 {
			t.Fatalf("without a token: %d", code)
		}
		if code, _ := get(tokenTagsOnly); code != 403 {
			t.Fatalf("client not allowed: %d", code)
		}
	})
	if n := len(allEvents(t, trail)); n != len(wants) {
		t.Fatalf("reading the trail was audited: %d events", n)
	}
	if backend == "sqlite" {
		ts.Stop(t)
		assertNoPIIInDataDir(t, ts.Cfg.Store.DataDir, auditPII)
	}
}

// assertNoPIIInDataDir fails when any file of the data directory (the
// database, its WAL, import staging files) holds one of pii.
func assertNoPIIInDataDir(t *testing.T, dir string, pii []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range pii {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("%s holds %s unmasked", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAuditWithoutStore: WithAuditStore(nil) leaves the log as the only
// trail, and AuditService is not served.
func TestAuditWithoutStore(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil, server.WithAuditStore(nil))
	if _, err := scv1.NewAuditServiceClient(ts.Conn).ListAuditEvents(grpcCtx(t), &scv1.ListAuditEventsRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("ListAuditEvents: %v", err)
	}
	if _, err := ts.Workcards.BindVirtualPhone(grpcCtx(t), &scv1.BindVirtualPhoneRequest{WorkcardId: 11111222, RequestSource: &scv1.WorkcardRequestSource{}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ts.Logs.String(), `"msg":"audit"`) || !strings.Contains(ts.Logs.String(), `"targets":["workcard:11111222"],"outcome":"OK"`) {
		t.Fatalf("no audit log line:\n%s", ts.Logs.String())
	}
}
