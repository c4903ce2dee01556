package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/service"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

func bulkMobile(i int) string { return fmt.Sprintf("137%08d", i) }

// blacklistStats reads the emulator's exactly-once counters.
func blacklistStats(t *testing.T, ts *testserver.Server) (applied, mobiles, maxPer int64) {
	t.Helper()
	var st struct {
		Blacklist struct {
			EntriesApplied      int64 `json:"entries_applied"`
			MobilesApplied      int64 `json:"mobiles_applied"`
			MaxAppliesPerMobile int64 `json:"max_applies_per_mobile"`
		} `json:"blacklist"`
	}
	if err := json.Unmarshal(ts.Emulator(t, http.MethodGet, "/_emulator/stats", nil), &st); err != nil {
		t.Fatal(err)
	}
	return st.Blacklist.EntriesApplied, st.Blacklist.MobilesApplied, st.Blacklist.MaxAppliesPerMobile
}

// upload posts a file to the import route.
func upload(t *testing.T, ts *testserver.Server, query, contentType, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post("http://"+ts.HTTPAddr()+"/v1/blacklist/jobs:import?"+query, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("upload answered %d with non-JSON %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func get(t *testing.T, ts *testserver.Server, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get("http://" + ts.HTTPAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// watchREST follows a job over REST until the stream ends and returns the
// states seen.
func watchREST(t *testing.T, ts *testserver.Server, id string) []string {
	t.Helper()
	resp, err := http.Get("http://" + ts.HTTPAddr() + "/v1/blacklist/jobs/" + id + ":watch")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("watch: %d", resp.StatusCode)
	}
	var states []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line struct {
			Result struct {
				Job struct {
					State string `json:"state"`
				} `json:"job"`
			} `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("watch line %q: %v", sc.Bytes(), err)
		}
		states = append(states, line.Result.Job.State)
	}
	return states
}

func TestImportOverGRPC(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, func(c *server.Config) { c.Sync.ChunkSize = 7 })
	ctx := grpcCtx(t)
	stream, err := ts.Logistics.ImportUserBlacklist(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(m *scv1.ImportUserBlacklistRequest) {
		if err := stream.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	send(&scv1.ImportUserBlacklistRequest{Settings: &scv1.BlacklistSyncJobSettings{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}})
	for b := range 5 {
		var entries []*scv1.BlacklistImportEntry
		for i := range 20 {
			entries = append(entries, &scv1.BlacklistImportEntry{Mobile: bulkMobile(b*20 + i), Reason: []scv1.BlacklistReason{scv1.BlacklistReason_BLACKLIST_REASON_OTHER}})
		}
		if b == 4 {
			entries[3].Mobile = "2"                                                                    // index 83
			entries[4].Reason = []scv1.BlacklistReason{scv1.BlacklistReason_BLACKLIST_REASON_OTHER, 5} // index 84
			entries[5].Mobile = bulkMobile(0)                                                          // duplicate
		}
		send(&scv1.ImportUserBlacklistRequest{Entries: entries})
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	j := resp.GetJob()
	if j.GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_QUEUED || j.GetReceivedCount() != 100 || j.GetRejectedCount() != 2 ||
		j.GetDuplicateCount() != 1 || j.GetTotalCount() != 97 || j.GetChunkSize() != 7 || j.GetChunkCount() != 14 ||
		j.GetSettings().GetSupplierId() != "10000000001" || j.GetSettings().GetServiceType() != scv1.BlacklistServiceType_BLACKLIST_SERVICE_TYPE_DOOR_TO_DOOR_PICKUP {
		t.Fatalf("job %v", j)
	}
	if rj := resp.GetRejections(); len(rj) != 2 || rj[0].GetIndex() != 83 || rj[0].GetField() != "mobile" || rj[1].GetIndex() != 84 || rj[1].GetField() != "reason[1]" {
		t.Fatalf("rejections %v", rj)
	}

	watch, err := ts.Logistics.WatchBlacklistSyncJob(ctx, &scv1.WatchBlacklistSyncJobRequest{JobId: j.GetJobId()})
	if err != nil {
		t.Fatal(err)
	}
	var last *scv1.BlacklistSyncJob
	for {
		m, err := watch.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = m.GetJob()
	}
	if last.GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED || last.GetAcknowledgedCount() != 97 || last.GetSentCount() != 97 {
		t.Fatalf("last watched %v", last)
	}
	if a, m, mx := blacklistStats(t, ts); a != 97 || m != 97 || mx != 1 {
		t.Fatalf("emulator applied %d entries, %d mobiles, max %d", a, m, mx)
	}
	got, err := ts.Logistics.GetBlacklistSyncJob(ctx, &scv1.GetBlacklistSyncJobRequest{JobId: j.GetJobId()})
	if err != nil || got.GetJob().GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED {
		t.Fatalf("Get = %v, %v", got, err)
	}
	list, err := ts.Logistics.ListBlacklistSyncJobs(ctx, &scv1.ListBlacklistSyncJobsRequest{
		State: scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED, SupplierId: "10000000001"})
	if err != nil || len(list.GetJobs()) != 1 || list.GetJobs()[0].GetJobId() != j.GetJobId() {
		t.Fatalf("List = %v, %v", list, err)
	}
	_, err = ts.Logistics.CancelBlacklistSyncJob(ctx, &scv1.CancelBlacklistSyncJobRequest{JobId: j.GetJobId()})
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition {
		t.Fatalf("cancel of a finished job: %v", err)
	}
	_, err = ts.Logistics.GetBlacklistSyncJob(ctx, &scv1.GetBlacklistSyncJobRequest{JobId: "bj-nope"})
	if st := status.Convert(err); st.Code() != codes.NotFound {
		t.Fatalf("get of an unknown job: %v", err)
	}
}

func TestImportStreamErrors(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	settings := &scv1.BlacklistSyncJobSettings{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_DELETE}
	entry := []*scv1.BlacklistImportEntry{{Mobile: bulkMobile(1)}}
	tests := []struct {
		name  string
		msgs  []*scv1.ImportUserBlacklistRequest
		field string
	}{
		{"nothing", nil, "settings"},
		{"no settings first", []*scv1.ImportUserBlacklistRequest{{Entries: entry}}, "settings"},
		{"settings twice", []*scv1.ImportUserBlacklistRequest{{Settings: settings}, {Settings: settings, Entries: entry}}, "settings"},
		{"bad settings", []*scv1.ImportUserBlacklistRequest{{Settings: &scv1.BlacklistSyncJobSettings{OperateType: 1}}}, "settings.supplier_id"},
		{"no entries", []*scv1.ImportUserBlacklistRequest{{Settings: settings}}, "entries"},
		{"only bad entries", []*scv1.ImportUserBlacklistRequest{{Settings: settings, Entries: []*scv1.BlacklistImportEntry{{Mobile: "1", Line: 9}}}}, "entries[0].mobile"},
		{"too many entries in a message", []*scv1.ImportUserBlacklistRequest{{Settings: settings}, {Entries: make([]*scv1.BlacklistImportEntry, 1001)}}, "entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, err := ts.Logistics.ImportUserBlacklist(grpcCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.msgs {
				if m.Entries != nil && m.Entries[0] == nil {
					for i := range m.Entries {
						m.Entries[i] = &scv1.BlacklistImportEntry{Mobile: bulkMobile(i)}
					}
				}
				if err := stream.Send(m); err != nil {
					break // the server ended the stream; CloseAndRecv says why
				}
			}
			_, err = stream.CloseAndRecv()
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("%v", err)
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if len(fields) == 0 || fields[0] != tt.field {
				t.Fatalf("violations on %v, want %s (%v)", fields, tt.field, err)
			}
		})
	}
	list, err := ts.Logistics.ListBlacklistSyncJobs(grpcCtx(t), &scv1.ListBlacklistSyncJobsRequest{})
	if err != nil || len(list.GetJobs()) != 0 {
		t.Fatalf("jobs left behind: %v, %v", list, err)
	}
}

func TestUploadOverREST(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	var csv strings.Builder
	csv.WriteString("mobile,reason\n")
	for i := range 250 {
		fmt.Fprintf(&csv, "%s,\"1,%d\"\n", bulkMobile(i), 2+i%4)
	}
	csv.WriteString("12345,1\n")                  // line 252: bad mobile
	csv.WriteString(bulkMobile(3) + ",\"1,1\"\n") // line 253: repeated reason
	code, body := upload(t, ts, "supplier_id=10000000001", "text/csv", csv.String())
	if code != http.StatusOK {
		t.Fatalf("upload %d %v", code, body)
	}
	job := body["job"].(map[string]any)
	if job["received_count"] != "252" || job["rejected_count"] != "2" || job["total_count"] != "250" || job["chunk_count"] != "3" ||
		job["state"] != "BLACKLIST_SYNC_JOB_STATE_QUEUED" {
		t.Fatalf("job %v", job)
	}
	rej := body["rejections"].([]any)
	if len(rej) != 2 || rej[0].(map[string]any)["line"] != "252" || rej[1].(map[string]any)["field"] != "reason[1]" {
		t.Fatalf("rejections %v", rej)
	}
	id := job["job_id"].(string)
	states := watchREST(t, ts, id)
	if len(states) == 0 || states[len(states)-1] != "BLACKLIST_SYNC_JOB_STATE_SUCCEEDED" {
		t.Fatalf("watched states %v", states)
	}
	if a, m, mx := blacklistStats(t, ts); a != 250 || m != 250 || mx != 1 {
		t.Fatalf("emulator applied %d entries, %d mobiles, max %d", a, m, mx)
	}
	code, got := get(t, ts, "/v1/blacklist/jobs/"+id)
	if code != http.StatusOK || got["job"].(map[string]any)["acknowledged_count"] != "250" {
		t.Fatalf("GET job %d %v", code, got)
	}

	// NDJSON, a delete.
	nd := `{"mobile":"` + bulkMobile(0) + `"}` + "\n" + `{"mobile":"` + bulkMobile(1) + `","reason":[1]}` + "\n"
	code, body = upload(t, ts, "supplier_id=10000000001&operate_type=delete", "application/x-ndjson", nd)
	if code != http.StatusOK || body["job"].(map[string]any)["settings"].(map[string]any)["operate_type"] != "OPERATE_TYPE_DELETE" {
		t.Fatalf("NDJSON upload %d %v", code, body)
	}
	watchREST(t, ts, body["job"].(map[string]any)["job_id"].(string))

	// The gateway's own form: newline-delimited ImportUserBlacklistRequest.
	gw := `{"settings":{"supplier_id":"10000000002","operate_type":"OPERATE_TYPE_UPSERT"}}` + "\n" +
		`{"entries":[{"mobile":"` + bulkMobile(900) + `","reason":["BLACKLIST_REASON_OTHER"]}]}`
	code, _, gbody := ts.REST(t, "/v1/blacklist/jobs:import", gw)
	if code != http.StatusOK || gbody["job"].(map[string]any)["total_count"] != "1" {
		t.Fatalf("gateway import %d %v", code, gbody)
	}

	code, list := get(t, ts, "/v1/blacklist/jobs?supplier_id=10000000001&page_size=1")
	if code != http.StatusOK || len(list["jobs"].([]any)) != 1 || list["next_page_token"] == "" {
		t.Fatalf("list %d %v", code, list)
	}
	code, list = get(t, ts, "/v1/blacklist/jobs?state=BLACKLIST_SYNC_JOB_STATE_SUCCEEDED&supplier_id=10000000001")
	if code != http.StatusOK || len(list["jobs"].([]any)) != 2 {
		t.Fatalf("list succeeded %d %v", code, list)
	}
	code, _, cbody := ts.REST(t, "/v1/blacklist/jobs/"+id+":cancel", `{}`)
	if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(cbody), "BLACKLIST_SYNC_JOB_FINISHED") {
		t.Fatalf("cancel of a finished job: %d %v", code, cbody)
	}
	code, got = get(t, ts, "/v1/blacklist/jobs/bj-nope")
	if code != http.StatusNotFound {
		t.Fatalf("unknown job %d %v", code, got)
	}
}

// TestMalformedUploadLeavesNoJob: a file that breaks off in the middle is
// refused with its line, and no job exists, even though entries before the
// bad line were already streamed to the server.
func TestMalformedUploadLeavesNoJob(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	var csv strings.Builder
	csv.WriteString("mobile,reason\n")
	for i := range 3000 {
		fmt.Fprintf(&csv, "%s,1\n", bulkMobile(i))
	}
	csv.WriteString("13700000001,1,2\n") // line 3002
	tests := []struct {
		name, query, ct, body string
		code                  int
		want                  string
	}{
		{"csv breaks off", "supplier_id=10000000001", "text/csv", csv.String(), http.StatusBadRequest, "line 3002: wrong number of fields"},
		{"ndjson not json", "supplier_id=10000000001", "application/x-ndjson", `{"mobile":"13700000001"}` + "\n{oops\n", http.StatusBadRequest, "line 2: not a JSON object"},
		{"csv without header", "supplier_id=10000000001", "text/csv", "13700000001,1\n", http.StatusBadRequest, "line 1: header"},
		{"no supplier", "", "text/csv", "mobile\n13700000001\n", http.StatusBadRequest, "settings.supplier_id"},
		{"bad operate type", "supplier_id=1&operate_type=merge", "text/csv", "mobile\n13700000001\n", http.StatusBadRequest, "operate_type"},
		{"only bad entries", "supplier_id=1", "text/csv", "mobile\n1\n", http.StatusBadRequest, "entries[0].mobile"},
		{"empty", "supplier_id=1", "application/x-ndjson", "", http.StatusBadRequest, "no entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := upload(t, ts, tt.query, tt.ct, tt.body)
			if code != tt.code || !strings.Contains(fmt.Sprint(body), tt.want) {
				t.Fatalf("upload %d %v, want %d with %q", code, body, tt.code, tt.want)
			}
			if strings.Contains(fmt.Sprint(body), "13700000001") {
				t.Fatalf("the answer quotes a mobile: %v", body)
			}
		})
	}
	_, list := get(t, ts, "/v1/blacklist/jobs")
	if jobs, _ := list["jobs"].([]any); len(jobs) != 0 {
		t.Fatalf("jobs left behind: %v", list)
	}
	if a, _, _ := blacklistStats(t, ts); a != 0 {
		t.Fatalf("%d entries reached TOP", a)
	}
}

// TestCancelOverREST cancels a running job over REST. TOP answers three
// chunks, then holds the fourth (a 5-minute latency the cancel abandons):
// the job cannot finish before the cancel, however slow the machine.
func TestCancelOverREST(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, func(c *server.Config) { c.Sync.ChunksInFlight = 1 })
	ts.Emulator(t, http.MethodPut, "/_emulator/faults", map[string]any{"rules": []map[string]any{
		{"method": top.MethodBlacklistSync, "latency": "50ms", "count": 3},
		{"method": top.MethodBlacklistSync, "latency": "5m"},
	}})
	var nd strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&nd, "{\"mobile\":\"%s\"}\n", bulkMobile(i))
	}
	code, body := upload(t, ts, "supplier_id=10000000001", "application/x-ndjson", nd.String())
	if code != http.StatusOK {
		t.Fatalf("upload %d %v", code, body)
	}
	id := body["job"].(map[string]any)["job_id"].(string)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, got := get(t, ts, "/v1/blacklist/jobs/"+id)
		if got["job"].(map[string]any)["state"] == "BLACKLIST_SYNC_JOB_STATE_RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not running: %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, _, cbody := ts.REST(t, "/v1/blacklist/jobs/"+id+":cancel", `{}`)
	job := cbody["job"].(map[string]any)
	if code != http.StatusOK || job["state"] != "BLACKLIST_SYNC_JOB_STATE_CANCELLED" || job["acknowledged_count"] == "2000" {
		t.Fatalf("cancel %d %v", code, cbody)
	}
	if states := watchREST(t, ts, id); len(states) != 1 || states[0] != "BLACKLIST_SYNC_JOB_STATE_CANCELLED" {
		t.Fatalf("watch of a cancelled job: %v", states)
	}
}

// TestStoreSurvivesRestart: jobs are in --data-dir, and a second server
// on the same directory is refused while the first runs.
func TestStoreSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ts := testserver.Start(t, func(c *server.Config) { c.Store.DataDir = dir })
	code, body := upload(t, ts, "supplier_id=10000000001", "text/csv", "mobile\n13700000001\n")
	if code != http.StatusOK {
		t.Fatalf("upload %d %v", code, body)
	}
	id := body["job"].(map[string]any)["job_id"].(string)
	watchREST(t, ts, id)
	cfg := testserver.Config(t)
	cfg.Store.DataDir = dir
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if s, err := server.New(t.Context(), cfg, ts.Logger); err == nil || !strings.Contains(err.Error(), "another servicecenterd") {
		if s != nil {
			s.CloseAll()
		}
		t.Fatalf("second server on one data dir: %v", err)
	}
	ts.Stop(t)
	ts2 := testserver.Start(t, func(c *server.Config) { c.Store.DataDir = dir })
	if code, got := get(t, ts2, "/v1/blacklist/jobs/"+id); code != http.StatusOK ||
		got["job"].(map[string]any)["state"] != "BLACKLIST_SYNC_JOB_STATE_SUCCEEDED" {
		t.Fatalf("after restart %d %v", code, got)
	}
}

// TestBulkSettingsValidate: the server's Validate fills the default data
// directory (store.DefaultDir) and checks the bulk sync's settings.
func TestBulkSettingsValidate(t *testing.T) {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		t.Skip("the user config directory there")
	}
	t.Setenv("XDG_DATA_HOME", "relative") // ignored, as the XDG spec says
	t.Setenv("HOME", "/home/u")
	cfg := testserver.Config(t)
	cfg.Store.DataDir, cfg.Sync.ChunkSize, cfg.Sync.ConcurrentJobs, cfg.Sync.ChunksInFlight = "", 101, 0, 65
	err := cfg.Validate()
	for _, want := range []string{"--sync-chunk-size must be 1 to 100", "--sync-concurrent-jobs", "--sync-chunks-in-flight"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
	if cfg.Store.DataDir != "/home/u/.local/share/servicecenterd" {
		t.Errorf("DataDir %q", cfg.Store.DataDir)
	}
}

// TestBulkWithSecurity runs the bulk path on a server with caller
// authentication, a short --default-deadline and an audit store: the
// upload is authenticated and authorized as the gRPC call it becomes, the
// long streams outlive the default deadline, the import and the cancel are
// audited, and /metrics counts the jobs by state.
func TestBulkWithSecurity(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	trail := audit.NewMemory()
	ts := testserver.Start(t, func(c *server.Config) {
		c.Auth.ClientsFile = p.clientsFile
		c.GRPC.DefaultDeadline = 300 * time.Millisecond
		c.Sync.ChunkSize, c.Sync.ChunksInFlight = 10, 1
	}, server.WithAuditStore(trail))
	// TOP answers busy (a transient failure the job retries) until the
	// watch below has outlived the default deadline: the job cannot finish
	// before, however slow the machine.
	ts.Emulator(t, http.MethodPut, "/_emulator/faults", map[string]any{"rules": []map[string]any{
		{"method": top.MethodBlacklistSync, "busy": true},
	}})
	var csv strings.Builder
	csv.WriteString("mobile\n")
	for i := range 500 {
		csv.WriteString(bulkMobile(i) + "\n")
	}
	upload := func(token string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+ts.HTTPAddr()+"/v1/blacklist/jobs:import?supplier_id=10000000001", strings.NewReader(csv.String()))
		req.Header.Set("Content-Type", "text/csv")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}
	if code, body := upload(""); code != http.StatusUnauthorized {
		t.Fatalf("upload without a token: %d %v", code, body)
	}
	if code, body := upload(tokenTagsOnly); code != http.StatusForbidden {
		t.Fatalf("upload by a client without the right: %d %v", code, body)
	}
	code, body := upload(tokenOps)
	if code != http.StatusOK {
		t.Fatalf("upload: %d %v", code, body)
	}
	id := body["job"].(map[string]any)["job_id"].(string)

	// The watch stays open past the default deadline while TOP holds the
	// job (waiting for time to pass only lengthens the hold), then TOP
	// answers and the watch follows the job to its end.
	ops := withToken(context.Background(), tokenOps)
	start := time.Now()
	w, err := ts.Logistics.WatchBlacklistSyncJob(ops, &scv1.WatchBlacklistSyncJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	first, err := w.Recv()
	if err != nil || first.GetJob().GetState() == scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED {
		t.Fatalf("first watch message %v, %v", first, err)
	}
	ts.WaitFaultFired(t, 0, 1)
	for time.Since(start) < 2*300*time.Millisecond {
		time.Sleep(10 * time.Millisecond)
	}
	ts.Emulator(t, http.MethodDelete, "/_emulator/faults", nil)
	last := first.GetJob()
	for {
		m, err := w.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("watch after %v: %v", time.Since(start), err)
		}
		last = m.GetJob()
	}
	if last.GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("watch ended after %v with %v", time.Since(start), last)
	}
	// A unary call with its own deadline: the 300ms default is for calls
	// without one, and a loaded machine's store write may take longer.
	if _, err := ts.Logistics.CancelBlacklistSyncJob(withToken(grpcCtx(t), tokenOps), &scv1.CancelBlacklistSyncJobRequest{JobId: id}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("cancel: %v", err)
	}

	var imports, cancels []string
	for _, e := range trail.Events() {
		line := fmt.Sprintf("%s %s %v", e.Client, e.Outcome, e.Targets)
		switch e.RPC {
		case scv1.LogisticsService_ImportUserBlacklist_FullMethodName:
			imports = append(imports, line)
		case scv1.LogisticsService_CancelBlacklistSyncJob_FullMethodName:
			cancels = append(cancels, line)
		}
	}
	wantImports := []string{
		" Unauthenticated []",
		"tags-only PermissionDenied []",
		"ops OK [{supplier 10000000001} {operate_type OPERATE_TYPE_UPSERT} {sync_job " + id + "}]",
	}
	if strings.Join(imports, "|") != strings.Join(wantImports, "|") {
		t.Errorf("import events\n got %q\nwant %q", imports, wantImports)
	}
	if len(cancels) != 1 || cancels[0] != "ops FailedPrecondition [{sync_job "+id+"}]" {
		t.Errorf("cancel events %q", cancels)
	}

	resp, err := http.Get("http://" + ts.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`servicecenterd_sync_jobs{state="succeeded"} 1`, `servicecenterd_sync_jobs{state="queued"} 0`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRetryFailedChunksOverREST: a job FAILED by one chunk TOP refused is
// retried through the REST route: 200 with the job QUEUED and one chunk
// queued, then SUCCEEDED with every entry applied once; a second retry is
// 400 BLACKLIST_SYNC_JOB_NO_FAILED_CHUNKS, an unknown job 404.
func TestRetryFailedChunksOverREST(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	ts.Emulator(t, http.MethodPut, "/_emulator/faults", map[string]any{"rules": []map[string]any{{
		"method": top.MethodBlacklistSync, "count": 1,
		"error": map[string]any{"code": 15, "sub_code": "isv.invalid-parameter", "sub_msg": "refused"},
	}}})
	resp, err := importEntries(t, ts, 0, 250)
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetJob().GetJobId()
	waitEnd := func(want scv1.BlacklistSyncJobState) *scv1.BlacklistSyncJob {
		t.Helper()
		var j *scv1.BlacklistSyncJob
		testserver.WaitFor(t, "the job to end "+want.String(), func() bool {
			r, err := ts.Logistics.GetBlacklistSyncJob(context.Background(), &scv1.GetBlacklistSyncJobRequest{JobId: id})
			if err != nil {
				t.Fatal(err)
			}
			j = r.GetJob()
			return j.GetState() == want
		})
		return j
	}
	waitEnd(scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_FAILED)

	code, _, body := ts.REST(t, "/v1/blacklist/jobs/"+id+":retryFailedChunks", "{}")
	job, _ := body["job"].(map[string]any)
	if code != http.StatusOK || body["chunks_queued"] != "1" || job["state"] != "BLACKLIST_SYNC_JOB_STATE_QUEUED" || job["failed_count"] != "0" {
		t.Fatalf("retry: %d %v", code, body)
	}
	j := waitEnd(scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED)
	if j.GetAcknowledgedCount() != 250 || j.GetFailedCount() != 0 {
		t.Fatalf("job after retry: %v", j)
	}
	if applied, mobiles, maxPer := blacklistStats(t, ts); applied != 250 || mobiles != 250 || maxPer != 1 {
		t.Fatalf("emulator applied %d entries, %d mobiles, at most %d times each; want 250 once each", applied, mobiles, maxPer)
	}
	for _, tt := range []struct {
		id     string
		code   int
		reason string
	}{
		{id, http.StatusBadRequest, service.ReasonJobNoFailedChunks},
		{"bj-unknown", http.StatusNotFound, service.ReasonJobNotFound},
	} {
		code, _, body := ts.REST(t, "/v1/blacklist/jobs/"+tt.id+":retryFailedChunks", "{}")
		raw, _ := json.Marshal(body)
		if code != tt.code || !strings.Contains(string(raw), `"reason":"`+tt.reason+`"`) {
			t.Errorf("retry of %s: %d %s; want %d %s", tt.id, code, raw, tt.code, tt.reason)
		}
	}
}
