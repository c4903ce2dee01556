package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// TestRejectedEntriesPaged: every rejected entry of an import, not only
// the first 100 of its answer, is listed by pages over gRPC and REST.
func TestRejectedEntriesPaged(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t, nil)
	ctx := grpcCtx(t)
	mobiles := []string{"13700000001"}
	for i := range 150 {
		mobiles = append(mobiles, fmt.Sprint(1000+i))
	}
	resp, err, _ := importWithKey(ctx, t, ts, "rejections", mobiles...)
	if err != nil || len(resp.GetRejections()) != 100 || resp.GetJob().GetRejectedCount() != 150 {
		t.Fatalf("import: %v, %d rejections listed", err, len(resp.GetRejections()))
	}
	id := resp.GetJob().GetJobId()

	var all []*scv1.BlacklistEntryRejection
	req := &scv1.ListRejectedEntriesRequest{JobId: id, PageSize: 60}
	for range 4 {
		page, err := ts.Logistics.ListRejectedEntries(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.GetRejections()...)
		if req.PageToken = page.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	if len(all) != 150 || all[0].GetIndex() != 1 || all[149].GetIndex() != 150 || all[0].GetField() != "mobile" {
		t.Fatalf("listed %d: first %v, last %v", len(all), all[0], all[len(all)-1])
	}

	code, body := get(t, ts, "/v1/blacklist/jobs/"+id+"/rejectedEntries?page_size=100")
	rs, _ := body["rejections"].([]any)
	tok, _ := body["next_page_token"].(string)
	if code != http.StatusOK || len(rs) != 100 || tok == "" {
		t.Fatalf("REST first page: %d, %d rejections, token %q", code, len(rs), tok)
	}
	code, body = get(t, ts, "/v1/blacklist/jobs/"+id+"/rejectedEntries?page_size=100&page_token="+url.QueryEscape(tok))
	rs, _ = body["rejections"].([]any)
	if code != http.StatusOK || len(rs) != 50 || body["next_page_token"] != "" {
		t.Fatalf("REST second page: %d, %v", code, body)
	}
	if code, body := get(t, ts, "/v1/blacklist/jobs/bj-nope/rejectedEntries"); code != http.StatusNotFound {
		t.Fatalf("unknown job: %d %v", code, body)
	}
	if code, body := get(t, ts, "/v1/blacklist/jobs/"+id+"/rejectedEntries?page_token=forged"); code != http.StatusBadRequest {
		t.Fatalf("forged token: %d %v", code, body)
	}
}
