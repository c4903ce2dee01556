package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// eventLine is an event as the tests compare it: client, RPC, outcome,
// targets, TOP request id and request id.
func eventLine(e *scv1.AuditEvent) string {
	var targets []string
	for _, tg := range e.GetTargets() {
		targets = append(targets, tg.GetKind()+":"+tg.GetId())
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s", e.GetClient(), e.GetRpc(), e.GetOutcome(), strings.Join(targets, " "), e.GetTopRequestId(), e.GetRequestId())
}

// TestAuditSurvivesRestart makes known mutating calls over gRPC and REST
// (the bulk import and cancel included) on a real server with caller
// authentication, stops it, starts a new one on the same --data-dir and
// reads the same events back with ListAuditEvents, over gRPC and REST.
func TestAuditSurvivesRestart(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	dir := t.TempDir()
	mutate := func(c *server.Config) { c.Auth.ClientsFile, c.Store.DataDir = p.clientsFile, dir }
	ts := testserver.Start(t, mutate)
	ops := withToken(grpcCtx(t), tokenOps)
	post := func(token, path, contentType, body, requestID string) (int, map[string]any) {
		h := http.Header{"Authorization": {"Bearer " + token}, rpc.RequestIDHeader: {requestID}}
		req, err := http.NewRequest(http.MethodPost, "http://"+ts.HTTPAddr()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = h
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	var header metadata.MD
	assign, err := ts.Workcards.AssignWorker(ops, &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerMobile: "13245678901",
		Type: scv1.OperatorType_OPERATOR_TYPE_STORE, ServiceStoreId: 12345}, grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	code, synced := post(tokenOps, "/v1/blacklist:sync", "application/json",
		`{"supplier_id":"10000000001","operate_type":"OPERATE_TYPE_DELETE","blacklist":[{"mobile":"13900000001"}]}`, "rest-sync-1")
	if code != http.StatusOK {
		t.Fatalf("sync: %d %v", code, synced)
	}
	if code, body := post(tokenTagsOnly, "/v1/workers:update", "application/json",
		restBody(t, withWorker(func(w *scv1.Worker) { w.IdentityId = "33010619880606123X" })), "rest-update-1"); code != http.StatusForbidden {
		t.Fatalf("update by tags-only: %d %v", code, body)
	}
	code, imported := post(tokenOps, "/v1/blacklist/jobs:import?supplier_id=10000000001", "text/csv", "mobile\n13700000001\n13700000002\n", "rest-import-1")
	if code != http.StatusOK {
		t.Fatalf("import: %d %v", code, imported)
	}
	jobID := imported["job"].(map[string]any)["job_id"].(string)
	if _, err := ts.Logistics.CancelBlacklistSyncJob(metadata.AppendToOutgoingContext(ops, rpc.RequestIDHeader, "grpc-cancel-1"),
		&scv1.CancelBlacklistSyncJobRequest{JobId: "bj-unknown"}); status.Code(err) != codes.NotFound {
		t.Fatalf("cancel: %v", err)
	}
	ts.Stop(t)

	ts2 := testserver.Start(t, mutate)
	resp, err := scv1.NewAuditServiceClient(ts2.Conn).ListAuditEvents(withToken(grpcCtx(t), tokenOps), &scv1.ListAuditEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ // newest first
		"ops|" + scv1.LogisticsService_CancelBlacklistSyncJob_FullMethodName + "|NOT_FOUND|sync_job:bj-unknown||grpc-cancel-1",
		"ops|" + scv1.LogisticsService_ImportUserBlacklist_FullMethodName + "|OK|supplier:10000000001 operate_type:OPERATE_TYPE_UPSERT sync_job:" + jobID + "||rest-import-1",
		// Denied before its body was read: no targets.
		"tags-only|" + scv1.WorkerService_UpdateWorker_FullMethodName + "|PERMISSION_DENIED|||rest-update-1",
		"ops|" + scv1.LogisticsService_SyncUserBlacklist_FullMethodName + "|OK|supplier:10000000001 blacklist_request:" + synced["request_id"].(string) +
			" operate_type:OPERATE_TYPE_DELETE blacklist_entries:1 mobile:139****0001|" + synced["top_request_id"].(string) + "|rest-sync-1",
		"ops|" + scv1.WorkcardService_AssignWorker_FullMethodName + "|OK|workcard:2345678 worker_mobile:132****8901 service_store:12345|" +
			assign.GetTopRequestId() + "|" + header.Get(rpc.RequestIDHeader)[0],
	}
	var got []string
	for _, e := range resp.GetEvents() {
		got = append(got, eventLine(e))
		if e.GetTime().AsTime().Before(time.Now().Add(-time.Minute)) || e.GetTime().AsTime().After(time.Now()) {
			t.Errorf("event %d time %v", e.GetId(), e.GetTime().AsTime())
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after the restart:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if synced["top_request_id"] == "" || assign.GetTopRequestId() == "" {
		t.Fatal("the calls had no TOP request id to check")
	}

	q := url.Values{"rpc": {scv1.LogisticsService_ImportUserBlacklist_FullMethodName}}
	code, body, raw := doREST(t, http.DefaultClient, http.MethodGet, "http://"+ts2.HTTPAddr()+"/v1/auditEvents?"+q.Encode(), "",
		http.Header{"Authorization": {"Bearer " + tokenOps}})
	evs, _ := body["events"].([]any)
	if code != http.StatusOK || len(evs) != 1 || evs[0].(map[string]any)["request_id"] != "rest-import-1" {
		t.Fatalf("REST after the restart: %d %s", code, raw)
	}
	ts2.Stop(t)
	assertNoPIIInDataDir(t, dir, []string{"13245678901", "13900000001", "33010619880606123X", "13712345678"})
}

// TestAuditRetention: a server started with --audit-retention deletes the
// older events of its store at start, keeps the newer ones, and counts
// them in servicecenterd_audit_events_pruned_total.
func TestAuditRetention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), dir+"/"+sqlite.FileName)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, age := range []time.Duration{72 * time.Hour, 49 * time.Hour, 47 * time.Hour, time.Hour} {
		if err := st.Record(context.Background(), audit.Event{Time: now.Add(-age), RPC: scv1.WorkcardService_AssignWorker_FullMethodName,
			RequestID: fmt.Sprint("old-", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ts := testserver.Start(t, func(c *server.Config) { c.Store.DataDir, c.Audit.Retention = dir, 48*time.Hour })
	// The prune runs at start, beside serving: wait for its count.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		samples, _ := scrape(t, http.DefaultClient, "http://"+ts.HTTPAddr()+"/metrics", nil)
		if n := samples["servicecenterd_audit_events_pruned_total"]; n != 0 || time.Now().After(deadline) {
			if n != 2 {
				t.Fatalf("pruned counter %v, want 2", n)
			}
			break
		}
	}
	resp, err := scv1.NewAuditServiceClient(ts.Conn).ListAuditEvents(grpcCtx(t), &scv1.ListAuditEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range resp.GetEvents() {
		left = append(left, e.GetRequestId())
	}
	if fmt.Sprint(left) != "[old-3 old-2]" {
		t.Fatalf("events left %v, want [old-3 old-2]", left)
	}

	cfg := testserver.Config(t)
	for _, bad := range []time.Duration{-time.Hour, time.Minute} {
		cfg.Audit.Retention = bad
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--audit-retention") {
			t.Errorf("--audit-retention %v: %v", bad, err)
		}
	}
}

// brokenStore is an audit store whose writes fail while broken is set.
type brokenStore struct {
	*audit.Memory
	broken atomic.Bool
}

func (b *brokenStore) Record(ctx context.Context, e audit.Event) error {
	if b.broken.Load() {
		return errors.New("disk I/O error")
	}
	return b.Memory.Record(ctx, e)
}

// TestAuditFailClosed: with --audit-fail-closed, once an event could not
// be written, mutating calls are refused over gRPC and REST (UNAVAILABLE,
// 503, reason AUDIT_UNAVAILABLE) without reaching TOP, reads go on, and
// the failures are counted; once a write succeeds again calls go through.
func TestAuditFailClosed(t *testing.T) {
	t.Parallel()
	trail := &brokenStore{Memory: audit.NewMemory()}
	ts := testserver.Start(t, func(c *server.Config) { c.Audit.FailClosed = true }, server.WithAuditStore(trail))
	bind := &scv1.BindVirtualPhoneRequest{WorkcardId: 11111222, RequestSource: &scv1.WorkcardRequestSource{}}
	if _, err := ts.Workcards.BindVirtualPhone(grpcCtx(t), bind); err != nil {
		t.Fatal(err)
	}
	trail.broken.Store(true)
	if _, err := ts.Workcards.BindVirtualPhone(grpcCtx(t), bind); err != nil { // acted before the write failed: answered as it went
		t.Fatal(err)
	}
	topCalls := callCount(t, ts)
	_, err := ts.Workcards.BindVirtualPhone(grpcCtx(t), bind)
	if status.Code(err) != codes.Unavailable || !strings.Contains(fmt.Sprint(status.Convert(err).Details()), audit.ReasonUnavailable) {
		t.Fatalf("while the trail fails: %v", err)
	}
	if code, _, body := ts.REST(t, "/v1/workcards/11111222:bindVirtualPhone", `{"request_source":{}}`); code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(body), audit.ReasonUnavailable) {
		t.Fatalf("REST while the trail fails: %d %v", code, body)
	}
	if _, err := ts.Workers.GetWorkerTags(grpcCtx(t), &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}); err != nil {
		t.Fatalf("a read while the trail fails: %v", err)
	}
	if n := callCount(t, ts); n != topCalls+1 {
		t.Fatalf("TOP got %d calls while the trail failed, want 1 (the read)", n-topCalls)
	}
	trail.broken.Store(false)
	if _, err := ts.Workcards.BindVirtualPhone(grpcCtx(t), bind); status.Code(err) != codes.Unavailable {
		t.Fatalf("first call after the repair (refused, but recorded): %v", err)
	}
	if _, err := ts.Workcards.BindVirtualPhone(grpcCtx(t), bind); err != nil {
		t.Fatalf("after the repair: %v", err)
	}
	samples, _ := scrape(t, http.DefaultClient, "http://"+ts.HTTPAddr()+"/metrics", nil)
	if samples["servicecenterd_audit_write_failures_total"] != 3 {
		t.Errorf("write failures %v, want 3", samples["servicecenterd_audit_write_failures_total"])
	}
	var outcomes []string
	for _, e := range trail.Events() {
		outcomes = append(outcomes, e.Outcome.String())
	}
	if fmt.Sprint(outcomes) != "[OK Unavailable OK]" {
		t.Errorf("recorded %v", outcomes)
	}
	if !strings.Contains(ts.Logs.String(), `"msg":"audit event not recorded"`) || !strings.Contains(ts.Logs.String(), `"msg":"audit events are recorded again"`) {
		t.Errorf("logs lack the failure or the recovery")
	}
}
