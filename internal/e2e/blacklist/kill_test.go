package blacklist

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// TestKill9MidJobThenRestartAppliesEachEntryOnce imports 20,000 entries,
// SIGKILLs servicecenterd while the job is being sent (TOP answers slowly
// and sometimes busy), restarts it on the same data directory, and checks
// that the job resumes and that the emulator applied every entry exactly
// once: each chunk's request_id was applied once, resends were replays.
func TestKill9MidJobThenRestartAppliesEachEntryOnce(t *testing.T) {
	const n, chunk = 20000, 100
	bin := testserver.Binary(t)
	e := testserver.StartEmulator(t, topemu.Config{MaxRecordedCalls: 5000})
	faults := `{"seed": 1, "rules": [
		{"method": "` + top.MethodBlacklistSync + `", "busy": true, "latency": "15ms", "probability": 0.05},
		{"method": "` + top.MethodBlacklistSync + `", "latency": "15ms"%s}%s]}`
	// Before the kill TOP answers 80 chunks (a third is 67), then holds
	// the next ones (a latency the kill abandons): the job is mid-way at the
	// kill, however slow the machine.
	e.Admin(t, http.MethodPut, "/_emulator/faults", fmt.Sprintf(faults, `, "count": 80`,
		`, {"method": "`+top.MethodBlacklistSync+`", "latency": "5m"}`))
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	p := startProcess(t, bin, e, dir)
	resp := testserver.ImportGenerated(ctx, t, p.Logistics, 0, n)
	id := resp.GetJob().GetJobId()
	if resp.GetJob().GetTotalCount() != n || resp.GetJob().GetChunkCount() != n/chunk {
		t.Fatalf("imported job %v", resp.GetJob())
	}
	// Kill it once a third is acknowledged.
	for {
		j, err := p.Logistics.GetBlacklistSyncJob(ctx, &scv1.GetBlacklistSyncJobRequest{JobId: id})
		if err != nil {
			t.Fatal(err)
		}
		if j.GetJob().GetAcknowledgedCount() >= n/3 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.Kill(t)
	applied := e.Stats().Blacklist.EntriesApplied
	if applied >= n || applied < n/3 {
		t.Fatalf("after the kill the emulator has %d of %d entries; want the job mid-way", applied, n)
	}

	e.Admin(t, http.MethodPut, "/_emulator/faults", fmt.Sprintf(faults, "", ""))
	p = startProcess(t, bin, e, dir)
	j := waitJob(ctx, t, p.Logistics, id)
	if j.GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED || j.GetAcknowledgedCount() != n || j.GetFailedCount() != 0 {
		t.Fatalf("job after restart: %v\nlogs:\n%s", j, p.Logs)
	}
	p.Stop(t)

	b := e.Stats().Blacklist
	if b.EntriesApplied != n || b.MobilesApplied != n || b.MaxAppliesPerMobile != 1 || b.SyncRequestsApplied != n/chunk || b.SyncRequestsConflicting != 0 {
		t.Fatalf("emulator: %+v; want %d entries applied once each in %d requests", b, n, n/chunk)
	}
	// The recorded calls: every request_id is "<job>:<chunk>", each chunk
	// was sent, and a chunk sent more than once was a replay (or busy).
	var calls struct {
		Calls []topemu.RecordedCall `json:"calls"`
	}
	if err := json.Unmarshal(e.Admin(t, http.MethodGet, "/_emulator/calls?method="+top.MethodBlacklistSync+"&limit=5000", ""), &calls); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(id) + `:(\d+)$`)
	sends := map[int]int{}
	for _, c := range calls.Calls {
		var u struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(c.Params["user_blacklist_request"]), &u); err != nil {
			t.Fatal(err)
		}
		m := re.FindStringSubmatch(u.RequestID)
		if m == nil {
			t.Fatalf("request_id %q is not <job>:<chunk>", u.RequestID)
		}
		k, _ := strconv.Atoi(m[1])
		sends[k]++
	}
	if len(sends) != n/chunk {
		t.Fatalf("%d distinct chunks sent, want %d", len(sends), n/chunk)
	}
	extra := len(calls.Calls) - n/chunk
	t.Logf("%d calls for %d chunks: %d resends (busy answers and the chunks in flight at the kill); %d replays; emulator calls %d", len(calls.Calls), n/chunk, extra, b.SyncRequestsReplayed, e.Stats().Calls.Total)
}

// TestKill9DuringImportLeavesNoJob kills servicecenterd while an import
// is streaming: after a restart there is no job and nothing reached TOP.
func TestKill9DuringImportLeavesNoJob(t *testing.T) {
	bin := testserver.Binary(t)
	e := testserver.StartEmulator(t, topemu.Config{})
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := startProcess(t, bin, e, dir)
	stream, err := p.Logistics.ImportUserBlacklist(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&scv1.ImportUserBlacklistRequest{Settings: &scv1.BlacklistSyncJobSettings{
		SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}}); err != nil {
		t.Fatal(err)
	}
	for b := range 20 { // 20,000 entries, more than one store batch
		batch := make([]*scv1.BlacklistImportEntry, 1000)
		for i := range batch {
			batch[i] = &scv1.BlacklistImportEntry{Mobile: testserver.GeneratedMobile(b*1000 + i)}
		}
		if err := stream.Send(&scv1.ImportUserBlacklistRequest{Entries: batch}); err != nil {
			t.Fatal(err)
		}
	}
	// Kill once the server has begun the import in its store.
	waitImportStored(ctx, t, dir)
	p.Kill(t)
	if _, err := stream.CloseAndRecv(); err == nil {
		t.Fatal("the import succeeded on a killed server")
	}

	p = startProcess(t, bin, e, dir)
	list, err := p.Logistics.ListBlacklistSyncJobs(ctx, &scv1.ListBlacklistSyncJobsRequest{})
	if err != nil || len(list.GetJobs()) != 0 {
		t.Fatalf("jobs after the restart: %v, %v", list, err)
	}
	if a := e.Stats().Blacklist.EntriesApplied; a != 0 {
		t.Fatalf("%d entries reached TOP", a)
	}
	if !regexp.MustCompile(`removed blacklist imports a previous run left unfinished","component":"bulksync","imports":1`).MatchString(p.Logs.String()) {
		t.Errorf("the restart did not report the dropped import:\n%s", p.Logs)
	}
}

// waitImportStored waits until the store in dataDir holds an import that
// has begun: a staging file in its imports directory (sqlite.StagingDir).
func waitImportStored(ctx context.Context, t *testing.T, dataDir string) {
	t.Helper()
	dir := sqlite.StagingDir(filepath.Join(dataDir, sqlite.FileName))
	for {
		files, err := os.ReadDir(dir)
		if err == nil && len(files) > 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("no import in the store: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
