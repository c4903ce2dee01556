package blacklist

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testserver.RemoveBinary()
	os.Exit(code)
}

// startProcess runs `servicecenterd serve` against the emulator with its
// store in dataDir, on free loopback ports, and waits until it serves.
func startProcess(t testing.TB, bin string, e *testserver.Emulator, dataDir string, extra ...string) *testserver.Process {
	t.Helper()
	args := append(append([]string{"serve"}, e.ServeFlags()...),
		"--data-dir", dataDir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-format", "json")
	args = append(args, extra...)
	return testserver.StartProcess(t, bin, args...)
}

// importGenerated imports n generated entries (mobiles from first) in
// messages of 1000 and returns the response.
func importGenerated(ctx context.Context, t testing.TB, c scv1.LogisticsServiceClient, first, n int) *scv1.ImportUserBlacklistResponse {
	t.Helper()
	stream, err := c.ImportUserBlacklist(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&scv1.ImportUserBlacklistRequest{Settings: &scv1.BlacklistSyncJobSettings{
		SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}}); err != nil {
		t.Fatal(err)
	}
	for start := 0; start < n; start += 1000 {
		batch := make([]*scv1.BlacklistImportEntry, 0, 1000)
		for i := start; i < min(n, start+1000); i++ {
			batch = append(batch, &scv1.BlacklistImportEntry{Mobile: mobile(first + i), Reason: []scv1.BlacklistReason{scv1.BlacklistReason(1 + i%5)}})
		}
		if err := stream.Send(&scv1.ImportUserBlacklistRequest{Entries: batch}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func mobile(i int) string { return fmt.Sprintf("135%08d", i) }

// waitJob follows a job with WatchBlacklistSyncJob until it ends.
func waitJob(ctx context.Context, t testing.TB, c scv1.LogisticsServiceClient, id string) *scv1.BlacklistSyncJob {
	t.Helper()
	w, err := c.WatchBlacklistSyncJob(ctx, &scv1.WatchBlacklistSyncJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	var last *scv1.BlacklistSyncJob
	for {
		m, err := w.Recv()
		if err == io.EOF {
			return last
		}
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		last = m.GetJob()
	}
}
