package blacklist

import (
	"context"
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
