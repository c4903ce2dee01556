package floor

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/testutil/grpctest"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestUpstreamAnswersByMethod(t *testing.T) {
	srv := httptest.NewServer(NewUpstream())
	t.Cleanup(srv.Close)
	tests := []struct {
		name, query, body, want string
	}{
		{"taglist in the body", "", "a=1&method=tmall.servicecenter.worker.taglist.get&b=2", TagListBody},
		{"assign in the body", "", "method=tmall.servicecenter.workcard.assignworker", AssignWorkerBody},
		{"assign in the query", "method=tmall.servicecenter.workcard.assignworker", "", AssignWorkerBody},
		{"a longer name is another method", "", "method=tmall.servicecenter.worker.taglist.get2", unknownBody},
		{"a longer key is another parameter", "", "xmethod=tmall.servicecenter.worker.taglist.get", unknownBody},
		{"nothing", "", "", unknownBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/router/rest?"+tt.query, top.FormContentType, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != tt.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header, b)
			}
		})
	}
}

// TestUpstreamSatisfiesTheClient runs servicecenterd's real TOP client
// against the upstream: its fixed answers decode as successes.
func TestUpstreamSatisfiesTheClient(t *testing.T) {
	srv := httptest.NewServer(NewUpstream())
	t.Cleanup(srv.Close)
	c, err := topclient.New(topclient.Config{URL: srv.URL + "/router/rest", AppKey: "bench", AppSecret: "bench-secret", Session: "s"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx := context.Background()
	tags, err := top.Do(ctx, c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: "11010519491231002X", Mobile: "13245678901"})
	if err != nil || !tags.Result.Success || tags.RequestID != "bench0taglist" {
		t.Fatalf("GetWorkerTags: %+v, %v", tags, err)
	}
	abilities, err := top.ParseAbilityMap(tags.Result.ResultData.AbilityMap)
	if err != nil || len(abilities) != 2 || len(tags.Result.ResultData.HomeWorkerTags) != 1 {
		t.Fatalf("abilities %v (%v), tags %+v", abilities, err, tags.Result.ResultData)
	}
	assign, err := top.Do(ctx, c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 1, TargetWorkerID: 2, Type: 2})
	if err != nil || !assign.Result.Success || assign.RequestID != "bench0assign" {
		t.Fatalf("AssignWorker: %+v, %v", assign, err)
	}
}

// TestFloor calls the floor's two RPCs over a real listener: each makes
// one POST of its method to the upstream.
func TestFloor(t *testing.T) {
	methods := make(chan string, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		methods <- r.PostForm.Get("method")
		NewUpstream().ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	f := NewFloor(up.URL + "/router/rest")
	t.Cleanup(f.Close)
	s := grpc.NewServer()
	f.Register(s)
	conn := grpctest.Serve(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tags, err := scv1.NewWorkerServiceClient(conn).GetWorkerTags(ctx, &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"})
	if err != nil || !tags.GetSuccess() {
		t.Fatalf("GetWorkerTags: %v, %v", tags, err)
	}
	assign, err := scv1.NewWorkcardServiceClient(conn).AssignWorker(ctx, &scv1.AssignWorkerRequest{WorkcardId: 1, TargetWorkerId: 2})
	if err != nil || !assign.GetSuccess() {
		t.Fatalf("AssignWorker: %v, %v", assign, err)
	}
	if got := []string{<-methods, <-methods}; got[0] != top.MethodWorkerTagList || got[1] != top.MethodAssignWorker {
		t.Fatalf("upstream saw %v", got)
	}
}
