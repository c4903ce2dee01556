package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/idempotency"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/store/storetest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgmigrated"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// assignRequest is an AssignWorker the demo data accepts.
func assignRequest(worker int64) *scv1.AssignWorkerRequest {
	return &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: worker, Type: scv1.OperatorType_OPERATOR_TYPE_PROVIDER, OuterId: "test12345"}
}

// topCalls reads how many calls of method TOP (the emulator at url)
// received.
func topCalls(t *testing.T, admin func(method, path string) []byte, method string) int64 {
	t.Helper()
	var st topemu.Stats
	if err := json.Unmarshal(admin(http.MethodGet, "/_emulator/stats"), &st); err != nil {
		t.Fatal(err)
	}
	return st.Calls.ByMethod[method]
}

func embeddedAdmin(t *testing.T, ts *testserver.Server) func(method, path string) []byte {
	return func(method, path string) []byte { return ts.Emulator(t, method, path, nil) }
}

// keyed is ctx with an idempotency key.
func keyed(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, idempotency.KeyHeader, key)
}

// assign calls AssignWorker and returns the answer, its status and its
// headers.
func assign(ctx context.Context, ts *testserver.Server, req *scv1.AssignWorkerRequest) (*scv1.AssignWorkerResponse, error, metadata.MD) {
	var md metadata.MD
	resp, err := ts.Workcards.AssignWorker(ctx, req, grpc.Header(&md))
	return resp, err, md
}

// errReason is the ErrorInfo reason of err, "" when none.
func errReason(err error) string { return reasonOf(status.Convert(err).Details()) }

// restRaw posts body to the gateway with headers and returns the status,
// headers and raw body.
func restRaw(t *testing.T, ts *testserver.Server, path, body string, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+ts.HTTPAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

// TestIdempotencyReplay: the same AssignWorker twice with one key reaches
// TOP once, and the second answer is the first's, byte for byte, marked
// as a replay and carrying the first call's TOP request id; over REST the
// same with the Idempotency-Key header. The same key with another payload
// is INVALID_ARGUMENT / 422 IDEMPOTENCY_KEY_REUSED, and no key runs the
// call every time.
func TestIdempotencyReplay(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	admin := embeddedAdmin(t, ts)
	ctx := grpcCtx(t)

	first, err, md1 := assign(keyed(ctx, "grpc-key-1"), ts, assignRequest(1234567))
	if err != nil {
		t.Fatal(err)
	}
	second, err, md2 := assign(keyed(ctx, "grpc-key-1"), ts, assignRequest(1234567))
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := proto.Marshal(first)
	b2, _ := proto.Marshal(second)
	if !bytes.Equal(b1, b2) {
		t.Fatalf("replay answered %x, first %x", b2, b1)
	}
	if got := md1.Get(idempotency.ReplayedHeader); len(got) != 0 {
		t.Fatalf("first call marked replayed: %v", got)
	}
	if got := md2.Get(idempotency.ReplayedHeader); len(got) != 1 || got[0] != "true" {
		t.Fatalf("replay's %s = %v, want true", idempotency.ReplayedHeader, got)
	}
	if a, b := md1.Get(rpc.TOPRequestIDHeader), md2.Get(rpc.TOPRequestIDHeader); len(a) != 1 || len(b) != 1 || a[0] != b[0] {
		t.Fatalf("x-top-request-id: first %v, replay %v", a, b)
	}
	if n := topCalls(t, admin, top.MethodAssignWorker); n != 1 {
		t.Fatalf("TOP got %d assignworker calls, want 1", n)
	}

	// Another payload with the key.
	_, err, _ = assign(keyed(ctx, "grpc-key-1"), ts, assignRequest(7654321))
	if status.Code(err) != codes.InvalidArgument || errReason(err) != idempotency.ReasonKeyReused {
		t.Fatalf("reuse: %v (reason %q), want INVALID_ARGUMENT %s", err, errReason(err), idempotency.ReasonKeyReused)
	}

	// REST.
	path, body := "/v1/workcards/2345678:assignWorker", `{"target_worker_id":"1234567","type":"OPERATOR_TYPE_PROVIDER","outer_id":"test12345"}`
	h := map[string]string{"Idempotency-Key": "rest-key-1"}
	c1, h1, r1 := restRaw(t, ts, path, body, h)
	c2, h2, r2 := restRaw(t, ts, path, body, h)
	if c1 != http.StatusOK || c2 != http.StatusOK || !bytes.Equal(r1, r2) {
		t.Fatalf("REST: %d %s, then %d %s", c1, r1, c2, r2)
	}
	if h1.Get("Idempotency-Replayed") != "" || h2.Get("Idempotency-Replayed") != "true" {
		t.Fatalf("REST Idempotency-Replayed: first %q, replay %q", h1.Get("Idempotency-Replayed"), h2.Get("Idempotency-Replayed"))
	}
	c3, _, r3 := restRaw(t, ts, path, strings.Replace(body, "1234567", "7654321", 1), h)
	if c3 != http.StatusUnprocessableEntity || !bytes.Contains(r3, []byte(idempotency.ReasonKeyReused)) {
		t.Fatalf("REST reuse: %d %s, want 422 %s", c3, r3, idempotency.ReasonKeyReused)
	}
	if n := topCalls(t, admin, top.MethodAssignWorker); n != 2 {
		t.Fatalf("TOP got %d assignworker calls, want 2 (one per key)", n)
	}

	// Without a key every call runs.
	for range 2 {
		if _, err, md := assign(ctx, ts, assignRequest(1234567)); err != nil || len(md.Get(idempotency.ReplayedHeader)) != 0 {
			t.Fatalf("call without key: %v, %v", err, md)
		}
	}
	if n := topCalls(t, admin, top.MethodAssignWorker); n != 4 {
		t.Fatalf("TOP got %d assignworker calls, want 4", n)
	}
}

// TestIdempotencyKeyRules: a malformed key is INVALID_ARGUMENT naming
// the header, over gRPC and REST, before anything runs; with
// --require-idempotency-key the unary writes need one, the reads do not.
func TestIdempotencyKeyRules(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, func(c *server.Config) { c.Idempotency.Require = true })
	ctx := grpcCtx(t)
	for _, tc := range []struct {
		name string
		ctx  context.Context
	}{
		{"none", ctx},
		{"empty", keyed(ctx, "")},
		{"too long", keyed(ctx, strings.Repeat("k", idempotency.MaxKeyLen+1))},
		{"twice", metadata.AppendToOutgoingContext(keyed(ctx, "a"), idempotency.KeyHeader, "b")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err, _ := assign(tc.ctx, ts, assignRequest(1234567))
			st := status.Convert(err)
			var field string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 {
					field = br.GetFieldViolations()[0].GetField()
				}
			}
			if st.Code() != codes.InvalidArgument || field != idempotency.KeyHeader {
				t.Fatalf("got %v (field %q), want INVALID_ARGUMENT on %s", err, field, idempotency.KeyHeader)
			}
		})
	}
	if _, err := ts.Workers.GetWorkerTags(ctx, &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}); status.Code(err) == codes.InvalidArgument {
		t.Fatalf("a read was refused for want of a key: %v", err)
	}
	if n := topCalls(t, embeddedAdmin(t, ts), top.MethodAssignWorker); n != 0 {
		t.Fatalf("TOP got %d assignworker calls, want 0", n)
	}
	code, _, raw := restRaw(t, ts, "/v1/workcards/2345678:assignWorker", `{"target_worker_id":"1234567","type":"OPERATOR_TYPE_PROVIDER"}`,
		map[string]string{"Idempotency-Key": strings.Repeat("x", 256)})
	if code != http.StatusBadRequest || !bytes.Contains(raw, []byte(idempotency.KeyHeader)) {
		t.Fatalf("REST with a 256-character key: %d %s", code, raw)
	}
}

// TestIdempotencyInFlight: two concurrent calls with one key (the first
// held in TOP by a latency fault) give one execution and one ABORTED
// IDEMPOTENCY_KEY_IN_FLIGHT with RetryInfo (409 over REST); once the
// first ends, a retry is its replay.
func TestIdempotencyInFlight(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	admin := embeddedAdmin(t, ts)
	ts.Emulator(t, http.MethodPut, "/_emulator/faults", map[string]any{"rules": []map[string]any{
		{"method": top.MethodAssignWorker, "latency": "3s", "count": 1},
	}})
	ctx := grpcCtx(t)
	var (
		wg    sync.WaitGroup
		first *scv1.AssignWorkerResponse
		err1  error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		first, err1, _ = assign(keyed(ctx, "held"), ts, assignRequest(1234567))
	}()
	ts.WaitFaultFired(t, 0, 1)

	_, err, _ := assign(keyed(ctx, "held"), ts, assignRequest(1234567))
	if status.Code(err) != codes.Aborted || errReason(err) != idempotency.ReasonKeyInFlight {
		t.Fatalf("second call: %v (reason %q), want ABORTED %s", err, errReason(err), idempotency.ReasonKeyInFlight)
	}
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry.GetRetryDelay().AsDuration() <= 0 {
		t.Fatalf("no RetryInfo in %v", status.Convert(err).Details())
	}
	code, _, raw := restRaw(t, ts, "/v1/workcards/2345678:assignWorker", `{"target_worker_id":"1234567","type":"OPERATOR_TYPE_PROVIDER","outer_id":"test12345"}`,
		map[string]string{"Idempotency-Key": "held"})
	if code != http.StatusConflict || !bytes.Contains(raw, []byte(idempotency.ReasonKeyInFlight)) {
		t.Fatalf("REST while in flight: %d %s, want 409", code, raw)
	}

	wg.Wait()
	if err1 != nil {
		t.Fatal(err1)
	}
	again, err, md := assign(keyed(ctx, "held"), ts, assignRequest(1234567))
	if err != nil || !proto.Equal(again, first) || md.Get(idempotency.ReplayedHeader)[0] != "true" {
		t.Fatalf("after the first ended: %v %v %v", again, err, md)
	}
	if n := topCalls(t, admin, top.MethodAssignWorker); n != 1 {
		t.Fatalf("TOP got %d assignworker calls, want 1", n)
	}
}

// TestIdempotencyTransientReleased: a transient outcome (TOP answered
// 502: UNAVAILABLE) is not stored, so a retry with the key runs again;
// a final error (NOT_FOUND) is stored and replayed.
func TestIdempotencyTransientReleased(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	admin := embeddedAdmin(t, ts)
	ts.Emulator(t, http.MethodPut, "/_emulator/faults", map[string]any{"rules": []map[string]any{
		{"method": top.MethodAssignWorker, "http_status": 502, "count": 1},
	}})
	ctx := keyed(grpcCtx(t), "transient")
	if _, err, _ := assign(ctx, ts, assignRequest(1234567)); status.Code(err) != codes.Unavailable {
		t.Fatalf("first call: %v, want UNAVAILABLE", err)
	}
	if _, err, md := assign(ctx, ts, assignRequest(1234567)); err != nil || len(md.Get(idempotency.ReplayedHeader)) != 0 {
		t.Fatalf("retry: %v %v, want a fresh success", err, md)
	}
	if n := topCalls(t, admin, top.MethodAssignWorker); n != 2 {
		t.Fatalf("TOP got %d calls, want 2", n)
	}

	missing := assignRequest(1234567)
	missing.WorkcardId = 99999999
	ctx = keyed(grpcCtx(t), "final")
	_, err1, _ := assign(ctx, ts, missing)
	_, err2, md := assign(ctx, ts, missing)
	if status.Code(err1) == codes.OK || idempotency.Transient(status.Code(err1)) {
		t.Fatalf("unknown workcard: %v, want a final error", err1)
	}
	if !proto.Equal(status.Convert(err1).Proto(), status.Convert(err2).Proto()) || md.Get(idempotency.ReplayedHeader)[0] != "true" {
		t.Fatalf("replayed error %v, first %v (%v)", err2, err1, md)
	}
	if n := topCalls(t, admin, top.MethodAssignWorker); n != 3 {
		t.Fatalf("TOP got %d calls, want 3", n)
	}
}

// TestIdempotencyAcrossReplicas: two servers on one PostgreSQL database
// and one TOP: a key used on one is replayed by the other (TOP once); a
// claim left by a replica that died (its lease ran out) is taken over by
// the next call, and a live one answers IN_FLIGHT.
func TestIdempotencyAcrossReplicas(t *testing.T) {
	t.Parallel()
	url := pgmigrated.NewDatabase(t)
	emu := testserver.StartEmulator(t, topemu.Config{})
	admin := func(method, path string) []byte { return emu.Admin(t, method, path, nil) }
	mutate := func(c *server.Config) {
		emu.Use(c)
		c.Store.DatabaseURL = url
	}
	a, b := testserver.Start(t, mutate), testserver.Start(t, mutate)
	ctx := grpcCtx(t)

	first, err, _ := assign(keyed(ctx, "replicas"), a, assignRequest(1234567))
	if err != nil {
		t.Fatal(err)
	}
	second, err, md := assign(keyed(ctx, "replicas"), b, assignRequest(1234567))
	if err != nil || !proto.Equal(first, second) || md.Get(idempotency.ReplayedHeader)[0] != "true" {
		t.Fatalf("other replica: %v %v %v", second, err, md)
	}
	if n := topCalls(t, admin, top.MethodAssignWorker); n != 1 {
		t.Fatalf("TOP got %d calls, want 1", n)
	}

	// A replica that died holding keys: one whose lease ran out, one
	// still leased.
	st := storetest.PostgresAt(t, url)
	req := assignRequest(1234567)
	hash, err := idempotency.Hash(req)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for key, lease := range map[string]time.Time{"dead": now.Add(-time.Second), "alive": now.Add(time.Hour)} {
		_, claimed, err := st.ClaimIdempotencyKey(context.Background(), idempotency.Claim{
			Client: "", Key: key, Method: scv1.WorkcardService_AssignWorker_FullMethodName, Hash: hash, Token: "dead-replica",
			Now: now.Add(-time.Minute), LeaseUntil: lease, Expires: now.Add(time.Hour),
		})
		if err != nil || !claimed {
			t.Fatalf("claim %s: %v %v", key, claimed, err)
		}
	}
	if _, err, _ := assign(keyed(ctx, "alive"), b, req); status.Code(err) != codes.Aborted {
		t.Fatalf("key held by a live lease: %v, want ABORTED", err)
	}
	if _, err, md := assign(keyed(ctx, "dead"), b, req); err != nil || len(md.Get(idempotency.ReplayedHeader)) != 0 {
		t.Fatalf("key of a dead replica: %v %v, want a fresh success", err, md)
	}
	if _, err, md := assign(keyed(ctx, "dead"), a, req); err != nil || md.Get(idempotency.ReplayedHeader)[0] != "true" {
		t.Fatalf("after the take-over: %v %v, want a replay", err, md)
	}
	if n := topCalls(t, admin, top.MethodAssignWorker); n != 2 {
		t.Fatalf("TOP got %d calls, want 2", n)
	}
}

// importWithKey runs ImportUserBlacklist with key over mobiles and
// returns the answer (or the status) and the headers.
func importWithKey(ctx context.Context, t *testing.T, ts *testserver.Server, key string, mobiles ...string) (*scv1.ImportUserBlacklistResponse, error, metadata.MD) {
	t.Helper()
	stream, err := ts.Logistics.ImportUserBlacklist(keyed(ctx, key))
	if err != nil {
		t.Fatal(err)
	}
	msg := &scv1.ImportUserBlacklistRequest{Settings: &scv1.BlacklistSyncJobSettings{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}}
	for _, m := range mobiles {
		msg.Entries = append(msg.Entries, &scv1.BlacklistImportEntry{Mobile: m, Reason: []scv1.BlacklistReason{scv1.BlacklistReason_BLACKLIST_REASON_OTHER}})
	}
	if err := stream.Send(msg); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.CloseAndRecv()
	md, _ := stream.Header()
	return resp, err, md
}

// TestIdempotencyImport: the same upload again with the key answers the
// first job, in its current state, and creates nothing; another upload
// with the key is IDEMPOTENCY_KEY_REUSED; a file uploaded over REST with
// an Idempotency-Key header is replayed the same way.
func TestIdempotencyImport(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	ctx := grpcCtx(t)
	first, err, md := importWithKey(ctx, t, ts, "import-1", "13700000001", "13700000002", "bad")
	if err != nil || len(md.Get(idempotency.ReplayedHeader)) != 0 {
		t.Fatalf("import: %v %v", err, md)
	}
	if first.GetJob().GetRejectedCount() != 1 || len(first.GetRejections()) != 1 {
		t.Fatalf("first import = %v", first)
	}
	// Wait until the job has moved on, so that the replay shows its
	// current state, not the one stored.
	testserver.WaitFor(t, "the job to succeed", func() bool {
		j, err := ts.Logistics.GetBlacklistSyncJob(ctx, &scv1.GetBlacklistSyncJobRequest{JobId: first.GetJob().GetJobId()})
		return err == nil && j.GetJob().GetState() == scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED
	})
	again, err, md := importWithKey(ctx, t, ts, "import-1", "13700000001", "13700000002", "bad")
	if err != nil || md.Get(idempotency.ReplayedHeader)[0] != "true" {
		t.Fatalf("replay: %v %v", err, md)
	}
	if again.GetJob().GetJobId() != first.GetJob().GetJobId() || again.GetJob().GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED ||
		!proto.Equal(again.GetRejections()[0], first.GetRejections()[0]) {
		t.Fatalf("replay = %v, first %v", again, first)
	}
	if _, err, _ := importWithKey(ctx, t, ts, "import-1", "13700000001"); status.Code(err) != codes.InvalidArgument || errReason(err) != idempotency.ReasonKeyReused {
		t.Fatalf("another upload with the key: %v", err)
	}

	// A file over REST.
	post := func(key, body string) (int, http.Header, map[string]any) {
		req, err := http.NewRequest(http.MethodPost, "http://"+ts.HTTPAddr()+"/v1/blacklist/jobs:import?supplier_id=10000000001", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, out
	}
	csv := "mobile,reason\n13700000003,1\n"
	c1, h1, b1 := post("file-1", csv)
	c2, h2, b2 := post("file-1", csv)
	id := func(b map[string]any) any { j, _ := b["job"].(map[string]any); return j["job_id"] }
	if c1 != http.StatusOK || c2 != http.StatusOK || id(b1) == nil || id(b1) != id(b2) || h1.Get("Idempotency-Replayed") != "" || h2.Get("Idempotency-Replayed") != "true" {
		t.Fatalf("file uploads: %d %v %v, then %d %v %v", c1, h1, b1, c2, h2, b2)
	}
	if c, _, b := post("file-1", "mobile,reason\n13700000004,1\n"); c != http.StatusUnprocessableEntity {
		t.Fatalf("another file with the key: %d %v", c, b)
	}
	list, err := ts.Logistics.ListBlacklistSyncJobs(ctx, &scv1.ListBlacklistSyncJobsRequest{})
	if err != nil || len(list.GetJobs()) != 2 {
		t.Fatalf("jobs = %v, %v; want 2 (one per key)", list, err)
	}
}

// TestJobRetention: --job-retention deletes a finished job's entries once
// it is that old, and keeps the job with its counters; a server whose
// retention is 0 deletes nothing.
func TestJobRetention(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		retention time.Duration
		want      int
	}{{"30 days", 720 * time.Hour, 2}, {"forever", 0, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			ts := testserver.Start(t, func(c *server.Config) { c.Sync.JobRetention = tc.retention })
			ctx := grpcCtx(t)
			first, err, _ := importWithKey(ctx, t, ts, "retention", "13700000001", "13700000002")
			if err != nil {
				t.Fatal(err)
			}
			id := first.GetJob().GetJobId()
			testserver.WaitFor(t, "the job to succeed", func() bool {
				j, err := ts.Logistics.GetBlacklistSyncJob(ctx, &scv1.GetBlacklistSyncJobRequest{JobId: id})
				return err == nil && j.GetJob().GetState() == scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED
			})
			// Not yet old enough.
			if n, err := ts.BlacklistJobs().PruneEntries(ctx, time.Now().Add(tc.retention-time.Minute)); err != nil || n != 0 {
				t.Fatalf("prune before the retention = %d, %v", n, err)
			}
			n, err := ts.BlacklistJobs().PruneEntries(ctx, time.Now().Add(tc.retention+time.Minute))
			if err != nil || n != tc.want {
				t.Fatalf("prune after the retention = %d, %v; want %d", n, err, tc.want)
			}
			j, err := ts.Logistics.GetBlacklistSyncJob(ctx, &scv1.GetBlacklistSyncJobRequest{JobId: id})
			if err != nil || j.GetJob().GetTotalCount() != 2 || j.GetJob().GetAcknowledgedCount() != 2 ||
				j.GetJob().GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED {
				t.Fatalf("job after pruning = %v, %v", j, err)
			}
		})
	}
}

// TestIdempotencyKeysPerClient: two authenticated clients using the same
// key each get their own call and their own replay.
func TestIdempotencyKeysPerClient(t *testing.T) {
	t.Parallel()
	const tokenA, tokenB = "scd_test-idem-a-token", "scd_test-idem-b-token"
	clients := writeClients(t, t.TempDir(), `clients:
  - name: a
    token_sha256: [`+auth.HashToken(tokenA)+`]
    allow: ["*"]
  - name: b
    token_sha256: [`+auth.HashToken(tokenB)+`]
    allow: ["*"]
`)
	ts := testserver.Start(t, func(c *server.Config) { c.Auth.ClientsFile = clients })
	ctx := keyed(grpcCtx(t), "shared")
	var tops []string
	for _, token := range []string{tokenA, tokenB, tokenA, tokenB} {
		_, err, md := assign(withToken(ctx, token), ts, assignRequest(1234567))
		if err != nil {
			t.Fatal(err)
		}
		tops = append(tops, md.Get(rpc.TOPRequestIDHeader)[0])
	}
	if tops[0] == tops[1] || tops[2] != tops[0] || tops[3] != tops[1] {
		t.Fatalf("TOP request ids a, b, a again, b again: %v; want each client its own, replayed", tops)
	}
	if n := topCalls(t, embeddedAdmin(t, ts), top.MethodAssignWorker); n != 2 {
		t.Fatalf("TOP got %d calls, want 2 (one per client)", n)
	}
}
