package topclient

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// maxBan caps a ban TOP announces: its longest bans (the daily app quota)
// end at midnight Beijing time, so anything longer is a malformed message.
const maxBan = 24 * time.Hour

// ban is one quota ban TOP announced.
type ban struct {
	until time.Time
	resp  top.ErrorResponse
}

// bans remembers the quota bans of one app key: one for the whole app and
// one per API. The common case, no ban at all, costs one atomic load.
type bans struct {
	any atomic.Bool // a ban may be active; cleared when all have expired
	mu  sync.Mutex
	app *ban
	api map[string]*ban
}

// check returns a BanError when a ban active at now covers method.
func (b *bans) check(method string, now time.Time) *BanError {
	if !b.any.Load() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.app != nil && !now.Before(b.app.until) {
		b.app = nil
	}
	for m, x := range b.api {
		if !now.Before(x.until) {
			delete(b.api, m)
		}
	}
	if b.app == nil && len(b.api) == 0 {
		b.any.Store(false)
		return nil
	}
	if x := b.app; x != nil {
		return x.errorFor(method, top.BanApp, now)
	}
	if x := b.api[method]; x != nil {
		return x.errorFor(method, top.BanAPI, now)
	}
	return nil
}

// record starts a ban if resp is a quota error announcing one ("This ban
// will last for N more seconds"); it returns the BanError for the call that
// received resp, or nil when resp announces no ban.
func (b *bans) record(method string, resp *top.ErrorResponse, now time.Time) *BanError {
	if !top.IsQuota(resp.Code, resp.SubCode) {
		return nil
	}
	d, ok := top.ParseBan(resp.SubMsg)
	if !ok {
		d, ok = top.ParseBan(resp.Msg)
	}
	if !ok || d <= 0 {
		return nil
	}
	d = min(d, maxBan)
	x := &ban{until: now.Add(d), resp: *resp}
	scope := top.ScopeOfBan(resp.SubCode)
	b.mu.Lock()
	defer b.mu.Unlock()
	switch scope {
	case top.BanAPI:
		if old := b.api[method]; old == nil || old.until.Before(x.until) {
			if b.api == nil {
				b.api = make(map[string]*ban)
			}
			b.api[method] = x
		}
	default:
		if b.app == nil || b.app.until.Before(x.until) {
			b.app = x
		}
	}
	b.any.Store(true)
	return x.errorFor(method, scope, now)
}

func (x *ban) errorFor(method string, scope top.BanScope, now time.Time) *BanError {
	resp := x.resp
	return &BanError{Method: method, Scope: scope, RetryAfter: x.until.Sub(now), Until: x.until, Resp: &resp}
}
