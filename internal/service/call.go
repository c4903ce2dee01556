package service

import (
	"context"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// call sends req as api says, through the handlers' TOP invoker; notes
// TOP's request_id in the rpc.Call (for the log line, the audit trail and
// the caller's x-top-request-id header), from the answer or from the
// failure; and maps any failure, a business one included, through Status.
// On success the answer's business result is a success.
func call[Req, Resp any, PReq interface {
	*Req
	top.Request
}, PResp interface {
	*Resp
	top.Response
}](ctx context.Context, h handlers, api top.API[Req, Resp], req *Req) (*Resp, error) {
	out, err := top.Do[Req, Resp, PReq, PResp](ctx, h.top, api, req)
	if err == nil {
		err = PResp(out).Err()
	}
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	noteTOPRequestID(ctx, PResp(out).TOPRequestID())
	return out, nil
}
