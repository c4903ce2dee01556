package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/service"
	"github.com/servicecenterd/servicecenterd/internal/store"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// importEntries streams an import of n entries (mobiles from offset on)
// over gRPC and returns the response or the stream's status.
func importEntries(t *testing.T, ts *testserver.Server, offset, n int) (*scv1.ImportUserBlacklistResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := ts.Logistics.ImportUserBlacklist(ctx)
	if err != nil {
		return nil, err
	}
	msg := &scv1.ImportUserBlacklistRequest{Settings: &scv1.BlacklistSyncJobSettings{SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}}
	for i := 0; i < n; {
		for ; i < n && len(msg.Entries) < 1000; i++ {
			msg.Entries = append(msg.Entries, &scv1.BlacklistImportEntry{Mobile: bulkMobile(offset + i), Reason: []scv1.BlacklistReason{scv1.BlacklistReason_BLACKLIST_REASON_OTHER}})
		}
		if err := stream.Send(msg); err != nil {
			break // the server ended the stream: CloseAndRecv says why
		}
		msg = &scv1.ImportUserBlacklistRequest{}
	}
	return stream.CloseAndRecv()
}

// wantStoreFull checks that err is RESOURCE_EXHAUSTED with ErrorInfo
// STORE_FULL and no RetryInfo.
func wantStoreFull(t *testing.T, what string, err error) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("%s: %v, want RESOURCE_EXHAUSTED", what, err)
	}
	var reason string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			reason = d.GetDomain() + "/" + d.GetReason()
		case *errdetails.RetryInfo:
			t.Errorf("%s: RetryInfo %v: a full disk is not a reason to retry at once", what, d)
		}
	}
	if reason != rpc.ErrorDomain+"/"+service.ReasonStoreFull || !strings.Contains(st.Message(), "store is full") {
		t.Fatalf("%s: %q with ErrorInfo %s, want the store-full reason", what, st.Message(), reason)
	}
}

// importSucceeds imports n entries and follows the job to SUCCEEDED.
func importSucceeds(t *testing.T, ts *testserver.Server, what string, offset, n int) {
	t.Helper()
	resp, err := importEntries(t, ts, offset, n)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	watch, err := ts.Logistics.WatchBlacklistSyncJob(ctx, &scv1.WatchBlacklistSyncJobRequest{JobId: resp.GetJob().GetJobId()})
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
			t.Fatalf("%s: watch: %v", what, err)
		}
		last = m.GetJob()
	}
	if last.GetState() != scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED || last.GetAcknowledgedCount() != int64(n) {
		t.Fatalf("%s: job ended %v", what, last)
	}
}

// stagingLeft lists the staging files of imports in the data directory.
func stagingLeft(t *testing.T, dataDir string) []string {
	t.Helper()
	des, err := os.ReadDir(sqlite.StagingDir(filepath.Join(dataDir, sqlite.FileName)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

// TestStoreFullOverGRPCAndREST fills the store without privileges: the
// server's store is capped with SQLite's max_page_count, which fails
// writes with SQLITE_FULL, the error a full disk gives. An import too big
// for it answers RESOURCE_EXHAUSTED / STORE_FULL over gRPC and 507 over
// REST, leaves nothing behind, and a small import then goes through.
// TestStoreFullOnARealFilesystem does the same on a real full filesystem.
func TestStoreFullOverGRPCAndREST(t *testing.T) {
	// Not t.Parallel: it keeps the CPU busy for seconds (see TestMain).
	ts := testserver.Start(t, func(c *server.Config) { c.Sync.ChunkSize = 10 }, server.WithStoreOptions(store.WithSQLite(sqlite.WithMaxPages(128)))) // 512 KiB per file
	_, err := importEntries(t, ts, 0, 60_000)
	wantStoreFull(t, "gRPC import of 60,000 entries", err)
	if left := stagingLeft(t, ts.Cfg.Store.DataDir); len(left) != 0 {
		t.Fatalf("the aborted import left %v", left)
	}
	importSucceeds(t, ts, "a 2-entry import after the full one", 0, 2)

	var csv strings.Builder
	csv.WriteString("mobile,reason\n")
	for i := range 60_000 {
		fmt.Fprintf(&csv, "%s,1\n", bulkMobile(i))
	}
	code, body := upload(t, ts, "supplier_id=10000000001", "text/csv", csv.String())
	if code != http.StatusInsufficientStorage || !strings.Contains(fmt.Sprint(body), service.ReasonStoreFull) {
		t.Fatalf("REST upload of 60,000 entries: HTTP %d %v, want 507 with %s", code, body, service.ReasonStoreFull)
	}
	if left := stagingLeft(t, ts.Cfg.Store.DataDir); len(left) != 0 {
		t.Fatalf("the aborted upload left %v", left)
	}
	importSucceeds(t, ts, "a 2-entry import after the full upload", 10, 2)
	if !strings.Contains(ts.Logs.String(), "store full") {
		t.Error("the server did not log that its store is full")
	}
}
