package topclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// caller is one way of calling TOP, idempotent or not.
type caller struct {
	name       string
	idempotent bool
	call       func(ctx context.Context, c *Client) error
}

func callers() []caller {
	return []caller{
		{"AssignWorker", false, func(ctx context.Context, c *Client) error {
			_, err := top.Do(ctx, c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 1})
			return err
		}},
		{"UpdateWorker", false, func(ctx context.Context, c *Client) error {
			_, err := top.Do(ctx, c, top.WorkerUpdate, &top.WorkerUpdateRequest{Worker: &top.WorkerDto{Name: "x"}})
			return err
		}},
		{"BindVirtualPhone", false, func(ctx context.Context, c *Client) error {
			_, err := top.Do(ctx, c, top.VirtualPhoneBind, &top.VirtualPhoneBindRequest{WorkcardRequest: &top.WorkcardBaseRequest{WorkcardID: 1}})
			return err
		}},
		{"Call", false, func(ctx context.Context, c *Client) error {
			return c.Call(ctx, "taobao.some.write", []top.Param{{Key: "a", Value: "1"}}, new(genericResult))
		}},
		{"GetWorkerTags", true, func(ctx context.Context, c *Client) error {
			_, err := top.Do(ctx, c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone})
			return err
		}},
		{"SyncBlacklist", true, func(ctx context.Context, c *Client) error {
			_, err := top.Do(ctx, c, top.BlacklistSync, &top.BlacklistSyncRequest{UserBlacklistRequest: &top.UserBlacklistRequest{RequestID: "r1"}})
			return err
		}},
		{"Call+Idempotent", true, func(ctx context.Context, c *Client) error {
			return c.Call(ctx, "taobao.some.read", []top.Param{{Key: "a", Value: "1"}}, new(genericResult), Idempotent())
		}},
	}
}

// genericResult is what the generic callers decode into.
type genericResult struct {
	Result struct {
		Success top.Bool `json:"success"`
	} `json:"result"`
}

// failureKind is one way an attempt can fail, and whether retrying it is
// safe for any call ("always"), only for idempotent calls, or never.
type failureKind struct {
	name  string
	retry string // "always", "idempotent", "never"
	// repeat is what top.FailureOf says of the error when the failure persists.
	repeat top.Repeat
	dial   bool // fail at connect time, before anything is written
	reply  func(w http.ResponseWriter)
}

func failureKinds() []failureKind {
	errBody := func(body string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) { writeJSON(w, `{"error_response":`+body+`}`) }
	}
	status := func(code int) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) { http.Error(w, http.StatusText(code), code) }
	}
	return []failureKind{
		{name: "connection refused", retry: "always", repeat: top.RepeatNow, dial: true},
		{name: "dropped after request", retry: "idempotent", repeat: top.RepeatIfIdempotent, reply: func(w http.ResponseWriter) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}},
		{name: "answer cut short", retry: "idempotent", repeat: top.RepeatIfIdempotent, reply: func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "200")
			_, _ = w.Write([]byte(`{"result":`))
		}},
		{name: "HTTP 502", retry: "idempotent", repeat: top.RepeatIfIdempotent, reply: status(502)},
		{name: "HTTP 503", retry: "idempotent", repeat: top.RepeatIfIdempotent, reply: status(503)},
		{name: "HTTP 504", retry: "idempotent", repeat: top.RepeatIfIdempotent, reply: status(504)},
		{name: "HTTP 500", retry: "never", repeat: top.RepeatLater, reply: status(500)},
		{name: "code 10", retry: "always", repeat: top.RepeatNow, reply: errBody(`{"code":10,"msg":"Service Currently Unavailable"}`)},
		{name: "isp sub-code", retry: "idempotent", repeat: top.RepeatIfIdempotent, reply: errBody(`{"code":15,"msg":"Remote service error","sub_code":"isp.top-remote-connection-timeout"}`)},
		{name: "isv sub-code", retry: "never", repeat: top.RepeatNever, reply: errBody(`{"code":15,"msg":"Remote service error","sub_code":"isv.invalid-parameter"}`)},
		{name: "signature", retry: "never", repeat: top.RepeatLater, reply: errBody(`{"code":25,"msg":"Invalid signature"}`)},
		{name: "quota without ban", retry: "never", repeat: top.RepeatLater, reply: errBody(`{"code":7,"msg":"App Call Limited"}`)},
		{name: "not JSON", retry: "never", repeat: top.RepeatLater, reply: func(w http.ResponseWriter) { _, _ = w.Write([]byte("<html>")) }},
		{name: "bad success", retry: "never", repeat: top.RepeatLater, reply: func(w http.ResponseWriter) {
			writeJSON(w, `{"result":{"success":"xxx"},"user_blacklist_response":{"success":"xxx"}}`)
		}},
	}
}

// TestRetryMatrix checks, for every caller and failure kind, how many
// attempts a call makes when the failure persists and when it happens once.
func TestRetryMatrix(t *testing.T) {
	t.Parallel()
	for _, kind := range failureKinds() {
		for _, cl := range callers() {
			retries := kind.retry == "always" || kind.retry == "idempotent" && cl.idempotent
			for _, failN := range []int{1, 99} {
				name := kind.name + "/" + cl.name + "/persistent"
				if failN == 1 {
					name = kind.name + "/" + cl.name + "/once"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					wantAttempts, wantOK := 1, false
					switch {
					case retries && failN == 1:
						wantAttempts, wantOK = 2, true
					case retries:
						wantAttempts = 3
					}
					runRetryCase(t, kind, cl, failN, wantAttempts, wantOK)
				})
			}
		}
	}
}

func runRetryCase(t *testing.T, kind failureKind, cl caller, failN, wantAttempts int, wantOK bool) {
	t.Helper()
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, got received, n int) {
		if kind.dial || n > failN {
			writeJSON(w, okBody(got.Method, false))
			return
		}
		kind.reply(w)
	})
	var dials atomic.Int32
	tr := newTransport()
	if kind.dial {
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if int(dials.Add(1)) <= failN {
				return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
			}
			return dialer.DialContext(ctx, network, addr)
		}
	}
	var info CallInfo
	c := newTestClient(t, u, func(cfg *Config) {
		cfg.Transport = tr
		cfg.Observer = func(ci CallInfo) { info = ci }
	})
	t.Cleanup(tr.CloseIdleConnections)
	err := cl.call(testCtx(t), c)
	if (err == nil) != wantOK {
		t.Fatalf("err = %v, want success %v", err, wantOK)
	}
	if err != nil {
		if f, ok := top.FailureOf(err); !ok || f.Repeat != kind.repeat || f.Err == nil {
			t.Fatalf("FailureOf(%v) = %+v, %v; want repeat %v", err, f, ok, kind.repeat)
		}
	}
	if info.Attempts != wantAttempts {
		t.Fatalf("%d attempts, want %d (err %v)", info.Attempts, wantAttempts, err)
	}
	reached := wantAttempts
	if kind.dial {
		reached = max(0, wantAttempts-failN)
	}
	if n := int(u.count.Load()); n != reached {
		t.Fatalf("gateway saw %d requests, want %d", n, reached)
	}
}

// TestCancelDuringBackoff checks that a cancelled context ends a call at
// once while it sleeps between attempts.
func TestCancelDuringBackoff(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ received, _ int) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	})
	var info CallInfo
	c := newTestClient(t, u, func(cfg *Config) {
		cfg.BackoffBase, cfg.BackoffMax, cfg.Timeout = time.Hour, time.Hour, 2*time.Hour
		cfg.Observer = func(ci CallInfo) { info = ci }
	})
	sleeping := make(chan struct{}, 1)
	c.backoff.Rand = func(n int64) int64 { // called just before the client sleeps
		sleeping <- struct{}{}
		return n - 1 // the full hour
	}
	// No deadline on ctx (the 2h Timeout applies): a deadline shorter than
	// the backoff would end the call before sleeping.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := top.Do(ctx, c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone})
		done <- err
	}()
	<-sleeping
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if l := leaks(err.Error()); len(l) > 0 {
			t.Fatalf("err %q leaks %v", err, l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("call did not stop when its context was cancelled")
	}
	if info.Outcome != OutcomeCanceled || info.Attempts != 1 || info.HTTPStatus != 503 {
		t.Fatalf("CallInfo %+v", info)
	}
}

// TestBackoffRespectsDeadline checks that a retry whose backoff would pass
// the deadline is not attempted: the call returns the last error at once.
func TestBackoffRespectsDeadline(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ received, _ int) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	})
	c := newTestClient(t, u, func(cfg *Config) {
		cfg.BackoffBase, cfg.BackoffMax, cfg.Timeout = time.Hour, time.Hour, time.Minute
	})
	c.backoff.Rand = func(n int64) int64 { return n - 1 }
	_, err := top.Do(testCtx(t), c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone})
	var te *TransportError
	if !errors.As(err, &te) || te.StatusCode != 503 || u.count.Load() != 1 {
		t.Fatalf("err = %v after %d attempts, want the 503 after 1", err, u.count.Load())
	}
}

// TestCanceledBeforeSend checks that a call with a done context returns
// the context's error.
func TestCanceledBeforeSend(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, nil)
	c := newTestClient(t, u, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := top.Do(ctx, c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 1})
	if !errors.Is(err, context.Canceled) || u.count.Load() != 0 {
		t.Fatalf("err = %v, %d requests", err, u.count.Load())
	}
}

// TestBackoffGrowsWithFullJitter checks the delay ceilings: base doubled
// per retry, capped at BackoffMax, and the jitter's range.
func TestBackoffGrowsWithFullJitter(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, nil)
	c := newTestClient(t, u, func(cfg *Config) { cfg.BackoffBase, cfg.BackoffMax = 100*time.Millisecond, 350*time.Millisecond })
	var ceilings []time.Duration
	c.backoff.Rand = func(n int64) int64 {
		ceilings = append(ceilings, time.Duration(n))
		return 0
	}
	for n := 1; n <= 4; n++ {
		if err := c.sleep(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 350 * time.Millisecond, 350 * time.Millisecond}
	for i := range want {
		if ceilings[i] != want[i] {
			t.Fatalf("ceilings %v, want %v", ceilings, want)
		}
	}
	c.backoff.Rand = nil // the real random source
	for range 100 {
		if d := c.backoff.Delay(1); d < 0 || d >= 100*time.Millisecond {
			t.Fatalf("delay %v out of [0, 100ms)", d)
		}
	}
}
