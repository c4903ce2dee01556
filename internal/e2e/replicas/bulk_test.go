package replicas

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgmigrated"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testserver.RemoveBinary()
	os.Exit(code)
}

// TestBulkJobSurvivesSIGKILLOfItsReplica: three replicas on one
// PostgreSQL database and one TOP; 50,000 entries imported on A; A is
// killed with SIGKILL while the job is being sent (TOP slows down after
// 200 chunks, so A has chunks in flight); B and C finish the job, taking
// A's chunks in flight once River's rescuer gives them up
// (--sync-rescue-after 2s). The emulator applied every entry exactly once,
// in one request per chunk; a Watch on C followed the job imported on A
// to its end.
func TestBulkJobSurvivesSIGKILLOfItsReplica(t *testing.T) {
	const n, chunk = 50_000, 100
	url := pgmigrated.NewDatabase(t)
	bin := testserver.Binary(t)
	e := testserver.StartEmulator(t, topemu.Config{MaxRecordedCalls: -1})
	slowAfter := func(count int) string {
		return fmt.Sprintf(`{"rules": [
			{"method": %q, "latency": "5ms", "count": %d},
			{"method": %q, "latency": "1s"}]}`, top.MethodBlacklistSync, count, top.MethodBlacklistSync)
	}
	e.Admin(t, http.MethodPut, "/_emulator/faults", slowAfter(200))
	rs := testserver.StartReplicas(t, bin, 3, e, url, "--sync-rescue-after", "2s", "--sync-poll-interval", "100ms")
	a, b, c := rs[0], rs[1], rs[2]

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	id := testserver.ImportGenerated(ctx, t, a.Logistics, 0, n).GetJob().GetJobId()

	// C watches the job A imported, from the start.
	watched := make(chan *scv1.BlacklistSyncJob, 1)
	updates := make(chan int, 1)
	go func() { watched <- watch(ctx, t, c.Logistics, id, updates) }()

	// Kill A once TOP has slowed down with chunks in flight: the job is
	// then mid-way, whatever the machine's speed.
	testserver.WaitFor(t, "200 chunks acknowledged", func() bool {
		j, err := b.Logistics.GetBlacklistSyncJob(ctx, &scv1.GetBlacklistSyncJobRequest{JobId: id})
		return err == nil && j.GetJob().GetAcknowledgedCount() >= 200*chunk
	})
	a.Kill(t)
	killed := time.Now()
	applied := e.Stats().Blacklist.EntriesApplied
	if applied >= n {
		t.Fatalf("after the kill the emulator has %d of %d entries; want the job mid-way", applied, n)
	}
	e.Admin(t, http.MethodPut, "/_emulator/faults", `{"rules": []}`)

	var j *scv1.BlacklistSyncJob
	select {
	case j = <-watched:
	case <-ctx.Done():
		t.Fatalf("the job did not end; B's logs:\n%s", b.Logs)
	}
	t.Logf("killed A at %d of %d entries; B and C ended the job %v later; C's watch saw %d updates",
		applied, n, time.Since(killed).Round(time.Millisecond), <-updates)
	if j.GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED || j.GetAcknowledgedCount() != n || j.GetFailedCount() != 0 {
		t.Fatalf("job after the kill: %v", j)
	}
	st := e.Stats().Blacklist
	if st.EntriesApplied != n || st.MobilesApplied != n || st.MaxAppliesPerMobile != 1 || st.SyncRequestsApplied != n/chunk || st.SyncRequestsConflicting != 0 {
		t.Fatalf("emulator: %+v; want %d entries applied once each in %d requests", st, n, n/chunk)
	}
	// B or C ended it (A was dead).
	if !strings.Contains(b.Logs.String()+c.Logs.String(), `"msg":"blacklist sync job finished"`) {
		t.Fatal("neither B nor C logged the job's end")
	}
	// Every replica left serves the job.
	for name, p := range map[string]*testserver.Process{"B": b, "C": c} {
		got, err := p.Logistics.GetBlacklistSyncJob(ctx, &scv1.GetBlacklistSyncJobRequest{JobId: id})
		if err != nil || got.GetJob().GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED {
			t.Fatalf("%s: %v, %v", name, got, err)
		}
	}
}

// watch follows a job with WatchBlacklistSyncJob until it ends, and
// reports how many updates it saw.
func watch(ctx context.Context, t *testing.T, c scv1.LogisticsServiceClient, id string, updates chan<- int) *scv1.BlacklistSyncJob {
	w, err := c.WatchBlacklistSyncJob(ctx, &scv1.WatchBlacklistSyncJobRequest{JobId: id})
	if err != nil {
		t.Error(err)
		return nil
	}
	var (
		last *scv1.BlacklistSyncJob
		seen int
	)
	defer func() { updates <- seen }()
	for {
		m, err := w.Recv()
		if err == io.EOF {
			return last
		}
		if err != nil {
			t.Errorf("watch: %v", err)
			return last
		}
		seen++
		last = m.GetJob()
	}
}
