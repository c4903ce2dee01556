package server_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/metadata"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgmigrated"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// TestServesFromPostgreSQL: a server started with --database-url keeps
// every job and audit event in PostgreSQL, and nothing in --data-dir: a
// job imported over gRPC is delivered to the emulator, listed and read,
// and the calls are in the audit trail; a second server on the same
// database (another replica) answers the same, from the same rows, and
// cancels a job with its River chunk jobs.
func TestServesFromPostgreSQL(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	url := pgmigrated.NewDatabase(t)
	dataDir := t.TempDir()
	mutate := func(c *server.Config) {
		c.Auth.ClientsFile, c.Store.DatabaseURL, c.Store.DataDir, c.Sync.ChunkSize = p.clientsFile, url, dataDir, 10
	}
	ts := testserver.Start(t, mutate)
	// ctx spans every step below, a second server's start among them:
	// its deadline bounds a stuck test, it times nothing (grpcCtx's 10s
	// per call would be short for the whole on a loaded machine).
	base, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	ctx := metadata.AppendToOutgoingContext(withToken(base, tokenOps), rpc.RequestIDHeader, "pg-import-1")

	stream, err := ts.Logistics.ImportUserBlacklist(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg := &scv1.ImportUserBlacklistRequest{Settings: &scv1.BlacklistSyncJobSettings{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}}
	for i := range 95 {
		msg.Entries = append(msg.Entries, &scv1.BlacklistImportEntry{Mobile: bulkMobile(i % 90), Reason: []scv1.BlacklistReason{scv1.BlacklistReason_BLACKLIST_REASON_OTHER}})
	}
	if err := stream.Send(msg); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	j := resp.GetJob()
	if j.GetTotalCount() != 90 || j.GetDuplicateCount() != 5 || j.GetChunkCount() != 9 {
		t.Fatalf("imported %v", j)
	}
	watch, err := ts.Logistics.WatchBlacklistSyncJob(ctx, &scv1.WatchBlacklistSyncJobRequest{JobId: j.GetJobId()})
	if err != nil {
		t.Fatal(err)
	}
	var last *scv1.BlacklistSyncJob
	for {
		m, err := watch.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = m.GetJob()
	}
	if last.GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED || last.GetAcknowledgedCount() != 90 {
		t.Fatalf("job ended %v", last)
	}
	if applied, mobiles, maxPer := blacklistStats(t, ts); applied != 90 || mobiles != 90 || maxPer != 1 {
		t.Fatalf("the emulator applied %d entries, %d mobiles, at most %d each; want 90, 90, 1", applied, mobiles, maxPer)
	}

	// The rows are PostgreSQL's; --data-dir holds no store.
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var jobs, entries, events int
	if err := conn.QueryRow(context.Background(), `SELECT (SELECT COUNT(*) FROM blacklist_jobs), (SELECT COUNT(*) FROM blacklist_entries),
		(SELECT COUNT(*) FROM audit_events WHERE request_id = 'pg-import-1')`).Scan(&jobs, &entries, &events); err != nil {
		t.Fatal(err)
	}
	if jobs != 1 || entries != 90 || events != 1 {
		t.Fatalf("PostgreSQL holds %d jobs, %d entries, %d import events; want 1, 90, 1", jobs, entries, events)
	}
	if _, err := os.Stat(filepath.Join(dataDir, sqlite.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a SQLite store in --data-dir: %v", err)
	}

	// Every replica answers from the same database.
	ts2 := testserver.Start(t, mutate)
	for i, s := range []*testserver.Server{ts, ts2} {
		got, err := s.Logistics.GetBlacklistSyncJob(ctx, &scv1.GetBlacklistSyncJobRequest{JobId: j.GetJobId()})
		if err != nil || got.GetJob().GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED || got.GetJob().GetAcknowledgedCount() != 90 {
			t.Fatalf("server %d: Get = %v, %v", i+1, got, err)
		}
		list, err := s.Logistics.ListBlacklistSyncJobs(ctx, &scv1.ListBlacklistSyncJobsRequest{SupplierId: "10000000001"})
		if err != nil || len(list.GetJobs()) != 1 || list.GetJobs()[0].GetJobId() != j.GetJobId() {
			t.Fatalf("server %d: List = %v, %v", i+1, list, err)
		}
		audit, err := scv1.NewAuditServiceClient(s.Conn).ListAuditEvents(withToken(grpcCtx(t), tokenOps),
			&scv1.ListAuditEventsRequest{Rpc: scv1.LogisticsService_ImportUserBlacklist_FullMethodName})
		want := "ops|" + scv1.LogisticsService_ImportUserBlacklist_FullMethodName + "|OK|supplier:10000000001 operate_type:OPERATE_TYPE_UPSERT sync_job:" +
			j.GetJobId() + "||pg-import-1"
		if err != nil || len(audit.GetEvents()) != 1 || eventLine(audit.GetEvents()[0]) != want {
			t.Fatalf("server %d: ListAuditEvents = %v, %v; want %s", i+1, audit, err, want)
		}
		if at := audit.GetEvents()[0].GetTime().AsTime(); at.Before(time.Now().Add(-time.Minute)) || at.After(time.Now()) {
			t.Errorf("server %d: event time %v", i+1, at)
		}
	}

	// A job cancelled on the other replica: its waiting River chunk jobs
	// are cancelled in the same transaction.
	stream, err = ts.Logistics.ImportUserBlacklist(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg.Entries = nil
	for i := range 500 {
		msg.Entries = append(msg.Entries, &scv1.BlacklistImportEntry{Mobile: bulkMobile(1000 + i)})
	}
	if err := stream.Send(msg); err != nil {
		t.Fatal(err)
	}
	if resp, err = stream.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	cancelled, err := ts2.Logistics.CancelBlacklistSyncJob(ctx, &scv1.CancelBlacklistSyncJobRequest{JobId: resp.GetJob().GetJobId()})
	if err != nil || cancelled.GetJob().GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_CANCELLED {
		t.Fatalf("cancel on the other replica: %v, %v", cancelled, err)
	}
	var waiting, chunkJobs int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE state IN ('available', 'scheduled', 'retryable')), count(*)
		FROM river_job WHERE kind = 'blacklist_sync_chunk' AND args->>'job' = $1`, resp.GetJob().GetJobId()).Scan(&waiting, &chunkJobs); err != nil {
		t.Fatal(err)
	}
	if waiting != 0 || chunkJobs != 50 {
		t.Fatalf("%d of the cancelled job's %d chunk jobs still waiting; want 0 of 50", waiting, chunkJobs)
	}
}
