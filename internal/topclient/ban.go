package topclient

import (
	"context"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/quota"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// recordBan starts a ban if resp is a quota error announcing one ("This
// ban will last for N more seconds"), in the client's quota.Bans (the
// process's own, or the one replicas share); it returns the BanError for
// the call that received resp, or nil when resp announces no ban. The ban
// is capped at quota.MaxBanUntil.
func (c *Client) recordBan(ctx context.Context, method string, resp *top.ErrorResponse) *BanError {
	now := c.now()
	b, ok := banOf(method, resp, now)
	if !ok {
		return nil
	}
	// The ban is recorded even when the call's context ends meanwhile:
	// the other callers (and replicas) need it.
	return banError(method, c.bans.Record(context.WithoutCancel(ctx), b, now), now)
}

// banOf is the ban resp announces, if any.
func banOf(method string, resp *top.ErrorResponse, now time.Time) (quota.Ban, bool) {
	if !top.IsQuota(resp.Code, resp.SubCode) {
		return quota.Ban{}, false
	}
	d, ok := top.ParseBan(resp.SubMsg)
	if !ok {
		d, ok = top.ParseBan(resp.Msg)
	}
	if !ok || d <= 0 {
		return quota.Ban{}, false
	}
	until := quota.CapUntil(now, now.Add(min(d, 48*time.Hour)))
	return quota.Ban{Scope: top.ScopeOfBan(resp.SubCode), Method: method, Until: until, Resp: *resp}, true
}

// banError is the error of a call of method refused because of b.
func banError(method string, b quota.Ban, now time.Time) *BanError {
	resp := b.Resp
	return &BanError{Method: method, Scope: b.Scope, RetryAfter: b.Until.Sub(now), Until: b.Until, Resp: &resp}
}
