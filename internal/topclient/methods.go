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

// Invoke sends one call of m (a method of top.Methods, normally through
// top.Do) and decodes TOP's answer into resp. The session goes with it when
// m.Session says so; it is retried when the request may have reached TOP
// only when m is idempotent (top.Method.Idempotent). A business failure
// (result.success false) is not an error here: it is in resp.Err().
func (c *Client) Invoke(ctx context.Context, m top.Method, req top.Request, resp top.Response) error {
	if req == nil || resp == nil {
		return errors.New("top " + m.Name + ": nil request or response")
	}
	if name := req.APIMethod(); name != m.Name {
		return errors.New("top " + m.Name + ": request is for " + name)
	}
	st := c.getState()
	params, err := req.AppendParams(st.params[:0])
	if err != nil {
		c.putState(st)
		return fmt.Errorf("top %s: encode request: %w", m.Name, err)
	}
	st.params = params
	return c.do(ctx, m.Name, m.Session, st, resp, m.Idempotent())
}

// Call calls any TOP method with business parameters already formatted
// (empty values are not sent) and decodes the success envelope, normal or
// simplified, into out (a pointer, or nil to discard it). Parameters named
// like TOP's system parameters are refused, except target_app_key. The
// session, when configured, is always sent. Without the Idempotent option,
// a call is retried only when the request cannot have reached TOP.
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
	return c.do(ctx, method, c.session != "", st, out, o.idempotent)
}
