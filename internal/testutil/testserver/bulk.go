package testserver

import (
	"context"
	"fmt"
	"testing"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
)

// GeneratedMobile is the i-th mobile of ImportGenerated's entries.
func GeneratedMobile(i int) string { return fmt.Sprintf("135%08d", i) }

// ImportGenerated imports n generated entries (GeneratedMobile(first) on,
// reasons 1 to 5 in turn) through c's ImportUserBlacklist, in messages of
// 1000, and returns the response; any failure fails t.
func ImportGenerated(ctx context.Context, t testing.TB, c scv1.LogisticsServiceClient, first, n int) *scv1.ImportUserBlacklistResponse {
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
			batch = append(batch, &scv1.BlacklistImportEntry{Mobile: GeneratedMobile(first + i),
				Reason: []scv1.BlacklistReason{scv1.BlacklistReason(1 + i%5)}})
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
