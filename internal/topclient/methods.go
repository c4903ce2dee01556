package topclient

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// CallOption adjusts one generic Call.
type CallOption func(*callOptions)

type callOptions struct {
	idempotent bool
}

// Idempotent marks a call as safe to repeat: it is retried even when the
// request may already have reached TOP (written but unanswered, a
// 502/503/504, an isp.* error). Use it for reads and for writes with an
// idempotency key.
func Idempotent() CallOption { return setIdempotent }

func setIdempotent(o *callOptions) { o.idempotent = true }

// Business failures (result.success false) are not errors here: the typed
// response comes back and the caller reads its success and codes.

// AssignWorker calls tmall.servicecenter.workcard.assignworker. It is a
// write that TOP cannot deduplicate, so it is retried only when the request
// cannot have reached TOP.
func (c *Client) AssignWorker(ctx context.Context, r *top.AssignWorkerRequest) (*top.AssignWorkerResponse, error) {
	if r == nil {
		return nil, nilRequest(top.MethodAssignWorker)
	}
	out := new(top.AssignWorkerResponse)
	if err := c.callRequest(ctx, r, out, false); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateWorker calls tmall.servicecenter.worker.update, a write retried only
// when the request cannot have reached TOP.
func (c *Client) UpdateWorker(ctx context.Context, r *top.WorkerUpdateRequest) (*top.WorkerUpdateResponse, error) {
	if r == nil {
		return nil, nilRequest(top.MethodWorkerUpdate)
	}
	out := new(top.WorkerUpdateResponse)
	if err := c.callRequest(ctx, r, out, false); err != nil {
		return nil, err
	}
	return out, nil
}

// GetWorkerTags calls tmall.servicecenter.worker.taglist.get, a read (so
// retried whenever retrying may help). When TOP puts home_worker_tags
// beside result_data, they are moved into result_data.home_worker_tags
// (result_data is created if TOP sent none).
func (c *Client) GetWorkerTags(ctx context.Context, r *top.TagListGetRequest) (*top.TagListGetResponse, error) {
	if r == nil {
		return nil, nilRequest(top.MethodWorkerTagList)
	}
	out := new(top.TagListGetResponse)
	if err := c.callRequest(ctx, r, out, true); err != nil {
		return nil, err
	}
	mergeHomeWorkerTags(&out.Result)
	return out, nil
}

// mergeHomeWorkerTags moves result.home_worker_tags into
// result.result_data.home_worker_tags.
func mergeHomeWorkerTags(r *top.TagListResult) {
	if len(r.HomeWorkerTags) == 0 {
		r.HomeWorkerTags = nil
		return
	}
	if r.ResultData == nil {
		r.ResultData = new(top.WorkerTag)
	}
	r.ResultData.HomeWorkerTags = append(r.ResultData.HomeWorkerTags, r.HomeWorkerTags...)
	r.HomeWorkerTags = nil
}

// BindVirtualPhone calls tmall.servicecenter.workcard.virtualphone.bind, a
// write retried only when the request cannot have reached TOP.
func (c *Client) BindVirtualPhone(ctx context.Context, r *top.VirtualPhoneBindRequest) (*top.VirtualPhoneBindResponse, error) {
	if r == nil {
		return nil, nilRequest(top.MethodVirtualPhoneBind)
	}
	out := new(top.VirtualPhoneBindResponse)
	if err := c.callRequest(ctx, r, out, false); err != nil {
		return nil, err
	}
	return out, nil
}

// SyncBlacklist calls taobao.logistics.express.user.blacklist.tms.sync. It
// is idempotent by user_blacklist_request.request_id, so it is retried
// whenever retrying may help; no session is sent.
func (c *Client) SyncBlacklist(ctx context.Context, r *top.BlacklistSyncRequest) (*top.BlacklistSyncResponse, error) {
	if r == nil {
		return nil, nilRequest(top.MethodBlacklistSync)
	}
	out := new(top.BlacklistSyncResponse)
	if err := c.callRequest(ctx, r, out, true); err != nil {
		return nil, err
	}
	return out, nil
}

// Call calls any TOP method with business parameters already formatted
// (empty values are not sent) and decodes the success envelope, normal or
// simplified, into out (a pointer, or nil to discard it). Parameters named
// like TOP's system parameters are refused, except target_app_key. Without
// the Idempotent option, a call is retried only when the request cannot
// have reached TOP.
func (c *Client) Call(ctx context.Context, method string, params []top.Param, out any, opts ...CallOption) error {
	var o callOptions
	for _, opt := range opts {
		opt(&o)
	}
	if method == "" || hasControl(method) {
		return errors.New("topclient: call: invalid method name")
	}
	if out != nil {
		if v := reflect.ValueOf(out); v.Kind() != reflect.Pointer || v.IsNil() {
			return errors.New("top " + method + ": out must be a non-nil pointer")
		}
	}
	for _, p := range params {
		if top.IsSystemParam(p.Key) && p.Key != top.ParamTargetAppKey {
			return errors.New("top " + method + ": parameter " + p.Key + " is a system parameter")
		}
	}
	st := c.getState()
	st.params = append(st.params[:0], params...)
	return c.do(ctx, method, st, out, o.idempotent)
}

func (c *Client) callRequest(ctx context.Context, r top.Request, out any, idempotent bool) error {
	st := c.getState()
	params, err := r.AppendParams(st.params[:0])
	if err != nil {
		c.putState(st)
		return fmt.Errorf("top %s: encode request: %w", r.APIMethod(), err)
	}
	st.params = params
	return c.do(ctx, r.APIMethod(), st, out, idempotent)
}

func nilRequest(method string) error {
	return errors.New("top " + method + ": nil request")
}
