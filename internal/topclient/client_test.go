package topclient

import (
	"errors"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// echoReply answers with a body derived from the request, so a caller can
// tell its own answer from another caller's.
func echoReply(w http.ResponseWriter, _ *http.Request, got received, _ int) {
	switch got.Method {
	case top.MethodWorkerTagList:
		m := got.Form.Get("mobile")
		writeJSON(w, `{"tmall_servicecenter_worker_taglist_get_response":{"result":{"msg_info":"`+m+`","success":true},"request_id":"r`+m+`"}}`)
	default:
		n := got.Form.Get("n")
		writeJSON(w, `{"value":"`+n+`","request_id":"r`+n+`"}`)
	}
}

// TestConcurrentCallers runs many callers at once (run it with -race): each
// must get its own answer, whatever the pooled buffers did in between.
func TestConcurrentCallers(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, echoReply)
	var mu sync.Mutex
	reports := map[Outcome]int{}
	c := newTestClient(t, u, func(cfg *Config) {
		cfg.Observer = func(ci CallInfo) {
			mu.Lock()
			reports[ci.Outcome]++
			mu.Unlock()
		}
	})
	ctx := testCtx(t)
	const callers, calls = 64, 20
	var wg sync.WaitGroup
	errs := make(chan error, callers*calls)
	for g := range callers {
		wg.Go(func() {
			for i := range calls {
				id := strconv.Itoa(g*1000 + i)
				if i%2 == 0 {
					mobile := "139" + id
					resp, err := top.Do(ctx, c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: "x", Mobile: mobile})
					if err != nil {
						errs <- err
						continue
					}
					if resp.Result.MsgInfo != mobile || resp.RequestID != "r"+mobile {
						errs <- errors.New("taglist got another caller's answer: " + resp.Result.MsgInfo)
					}
					continue
				}
				var out struct {
					Value string `json:"value"`
				}
				if err := c.Call(ctx, "taobao.echo", []top.Param{{Key: "n", Value: id}}, &out, Idempotent()); err != nil {
					errs <- err
					continue
				}
				if out.Value != id {
					errs <- errors.New("call " + id + " got " + out.Value)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if reports[OutcomeOK] != callers*calls || int(u.count.Load()) != callers*calls {
		t.Fatalf("reports %v, %d requests", reports, u.count.Load())
	}
}

// TestObserverReportsCalls checks the Observer's report of a success.
func TestObserverReportsCalls(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, nil)
	var infos []CallInfo
	c := newTestClient(t, u, func(cfg *Config) { cfg.Observer = func(ci CallInfo) { infos = append(infos, ci) } })
	results := callAll(t, testCtx(t), c)
	if len(infos) != len(results) {
		t.Fatalf("%d reports for %d calls", len(infos), len(results))
	}
	for _, ci := range infos {
		if ci.Outcome != OutcomeOK || ci.Attempts != 1 || ci.HTTPStatus != 200 || ci.RequestID != "rid-"+ci.Method ||
			ci.Duration <= 0 || ci.Code != 0 || ci.QuotaWait != 0 {
			t.Errorf("report %+v", ci)
		}
	}
}

// TestRateLimiter checks that the token bucket makes callers wait and
// reports the wait.
func TestRateLimiter(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, nil)
	var infos []CallInfo
	c := newTestClient(t, u, func(cfg *Config) {
		cfg.RateLimit, cfg.RateBurst = 50, 1
		cfg.Observer = func(ci CallInfo) { infos = append(infos, ci) }
	})
	ctx := testCtx(t)
	for range 4 {
		if _, err := top.Do(ctx, c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var waited int
	for _, ci := range infos {
		if ci.QuotaWait > 0 {
			waited++
		}
	}
	if waited == 0 {
		t.Fatalf("no call waited for the 50/s bucket: %+v", infos)
	}
}

// TestRateLimiterHonoursDeadline checks that a wait longer than the
// context's deadline is refused at once as a deadline error.
func TestRateLimiterHonoursDeadline(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, nil)
	c := newTestClient(t, u, func(cfg *Config) { cfg.RateLimit, cfg.RateBurst = 0.001, 1 })
	ctx := testCtx(t)
	if _, err := top.Do(ctx, c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := top.Do(ctx, c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 1})
	if err == nil || u.count.Load() != 1 {
		t.Fatalf("err = %v, %d requests", err, u.count.Load())
	}
}

// TestNilRequests checks that calls of every method refuse a nil request
// or response before anything is sent, through Invoke and through top.Do.
func TestNilRequests(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, nil)
	c := newTestClient(t, u, nil)
	ctx := testCtx(t)
	for _, m := range top.Methods() {
		if err := c.Invoke(ctx, m, nil, m.NewResponse()); err == nil {
			t.Errorf("%s: Invoke accepted a nil request", m.Name)
		}
		if err := c.Invoke(ctx, m, m.NewRequest(), nil); err == nil {
			t.Errorf("%s: Invoke accepted a nil response", m.Name)
		}
	}
	if _, err := top.Do(ctx, c, top.WorkerTagList, nil); err == nil {
		t.Error("Do accepted a nil request")
	}
	if u.count.Load() != 0 {
		t.Fatal("nil requests reached the gateway")
	}
}

// TestCallerClientTrace checks that a caller's httptrace hooks still fire
// and do not stick to the client's pooled state afterwards.
func TestCallerClientTrace(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, nil)
	c := newTestClient(t, u, nil)
	ctx := testCtx(t)
	var mu sync.Mutex
	wrote := 0
	traced := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		mu.Lock()
		wrote++
		mu.Unlock()
	}})
	for range 3 {
		if _, err := top.Do(traced, c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := top.Do(ctx, c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 1}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if wrote != 3 {
		t.Fatalf("caller's hook fired %d times, want 3", wrote)
	}
}
