package topclient

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// banReply answers the first call with a quota ban of secs seconds under
// subCode, and every later call with success.
func banReply(code int, subCode string, secs string) func(w http.ResponseWriter, _ *http.Request, got received, n int) {
	return func(w http.ResponseWriter, _ *http.Request, got received, n int) {
		if n == 1 {
			writeJSON(w, `{"error_response":{"code":`+itoa(code)+`,"msg":"App Call Limited","sub_code":"`+subCode+
				`","sub_msg":"This ban will last for `+secs+` more seconds","request_id":"ban-1"}}`)
			return
		}
		writeJSON(w, okBody(got.Method, false))
	}
}

func itoa(n int) string { return top.Int64(n).String() }

// TestBanFailsFast checks a per-app ban: the call that meets it and every
// later call of the app fail with a BanError without reaching the gateway
// until the ban ends, measured on the client's clock.
func TestBanFailsFast(t *testing.T) {
	t.Parallel()
	for _, code := range []int{4, 5, 6, 7, 8} {
		t.Run(itoa(code), func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			u := newUpstream(t, banReply(code, top.SubCodeAppAccessCount, "60"))
			var infos []CallInfo
			c := newTestClient(t, u, func(cfg *Config) {
				cfg.Now = clock.Now
				cfg.Observer = func(ci CallInfo) { infos = append(infos, ci) }
			})
			ctx := testCtx(t)
			_, err := top.Do(ctx, c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 1})
			var be *BanError
			if !errors.As(err, &be) || be.Scope != top.BanApp || be.RetryAfter != time.Minute ||
				!be.Until.Equal(clock.Now().Add(time.Minute)) || be.Resp == nil || be.Resp.Code != code || be.Method != top.MethodAssignWorker {
				t.Fatalf("first call: err = %v (%+v)", err, be)
			}
			clock.Advance(20 * time.Second)
			_, err = top.Do(ctx, c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone})
			if !errors.As(err, &be) || be.RetryAfter != 40*time.Second || be.Method != top.MethodWorkerTagList {
				t.Fatalf("during the ban: err = %v", err)
			}
			if n := u.count.Load(); n != 1 {
				t.Fatalf("banned call reached the gateway (%d requests)", n)
			}
			if last := infos[len(infos)-1]; last.Outcome != OutcomeBanned || last.Attempts != 0 || last.Kind != top.KindQuota {
				t.Fatalf("CallInfo %+v", last)
			}
			clock.Advance(40 * time.Second)
			if _, err := top.Do(ctx, c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone}); err != nil {
				t.Fatalf("after the ban: %v", err)
			}
			if n := u.count.Load(); n != 2 {
				t.Fatalf("%d requests, want 2", n)
			}
		})
	}
}

// TestBanPerAPI checks that limited-by-api-access-count bans only the
// method that met it.
func TestBanPerAPI(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	u := newUpstream(t, banReply(7, top.SubCodeAPIAccessCount, "30"))
	c := newTestClient(t, u, func(cfg *Config) { cfg.Now = clock.Now })
	ctx := testCtx(t)
	tags := func() error {
		_, err := top.Do(ctx, c, top.WorkerTagList, &top.TagListGetRequest{IDNumber: testID, Mobile: testPhone})
		return err
	}
	var be *BanError
	if err := tags(); !errors.As(err, &be) || be.Scope != top.BanAPI {
		t.Fatalf("first call: %v", err)
	}
	if err := tags(); !errors.As(err, &be) || u.count.Load() != 1 {
		t.Fatalf("same API during the ban: %v (%d requests)", err, u.count.Load())
	}
	if _, err := top.Do(ctx, c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 1}); err != nil {
		t.Fatalf("other API during the ban: %v", err)
	}
	clock.Advance(30 * time.Second)
	if err := tags(); err != nil {
		t.Fatalf("after the ban: %v", err)
	}
	if n := u.count.Load(); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
}

// TestQuotaWithoutBan checks that a quota error without a ban length is a
// plain APIError and starts no ban.
func TestQuotaWithoutBan(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, got received, n int) {
		if n == 1 {
			writeJSON(w, `{"error_response":{"code":7,"msg":"App Call Limited","sub_code":"accesscontrol.limited-by-app-access-count","sub_msg":"try later"}}`)
			return
		}
		writeJSON(w, okBody(got.Method, false))
	})
	c := newTestClient(t, u, nil)
	ctx := testCtx(t)
	_, err := top.Do(ctx, c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 1})
	var ae *APIError
	if !errors.As(err, &ae) || ae.TOPFailure().Kind != top.KindQuota {
		t.Fatalf("err = %v", err)
	}
	if _, err := top.Do(ctx, c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 1}); err != nil || u.count.Load() != 2 {
		t.Fatalf("second call: %v (%d requests)", err, u.count.Load())
	}
}

// TestBanIsCapped checks that an absurd ban length is capped at the
// midnight Beijing time that ends TOP's daily quota (quota.MaxBanUntil).
func TestBanIsCapped(t *testing.T) {
	t.Parallel()
	for _, at := range []struct {
		now, until time.Time
	}{
		// 03:04 UTC is 11:04 in Beijing: the cap is 16:00 UTC that day.
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2026, 1, 2, 16, 0, 0, 0, time.UTC)},
		// 15:30 UTC is 23:30 in Beijing, less than an hour before
		// midnight: the cap is the next midnight but one.
		{time.Date(2026, 1, 2, 15, 30, 0, 0, time.UTC), time.Date(2026, 1, 3, 16, 0, 0, 0, time.UTC)},
	} {
		clock := &fakeClock{now: at.now}
		u := newUpstream(t, banReply(7, top.SubCodeDynamicAccessCount, "99999999999999"))
		c := newTestClient(t, u, func(cfg *Config) { cfg.Now = clock.Now })
		_, err := top.Do(testCtx(t), c, top.AssignWorker, &top.AssignWorkerRequest{WorkcardID: 1})
		var be *BanError
		if !errors.As(err, &be) || !be.Until.Equal(at.until) || be.RetryAfter != at.until.Sub(at.now) {
			t.Fatalf("at %v: err = %v", at.now, err)
		}
	}
}
