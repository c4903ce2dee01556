package topclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/backoff"
	"github.com/servicecenterd/servicecenterd/internal/quota"
	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// Sizes of the pooled per-call buffers.
const (
	initialParams = 16
	initialForm   = 1 << 10
	initialResp   = 2 << 10
	// maxPooledBuffer keeps a rare huge answer from pinning memory in the pool.
	maxPooledBuffer = 64 << 10
	// drainLimit is how much of an unwanted body is read so that its
	// connection can be reused.
	drainLimit = 4 << 10
)

// callState holds one call's buffers; it is pooled per Client. Nothing in
// it is handed to net/http (the request body is a copy), so it is free for
// the next call as soon as the call returns.
type callState struct {
	params []top.Param
	form   []byte // the signed form body, built here and copied for sending
	resp   []byte
	// written is set when net/http reports the current attempt's request
	// as completely written: from then on the server may have acted.
	written atomic.Bool
	trace   *httptrace.ClientTrace
}

func newCallState() *callState {
	st := &callState{
		params: make([]top.Param, 0, initialParams),
		form:   make([]byte, 0, initialForm),
		resp:   make([]byte, 0, initialResp),
	}
	st.trace = &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			st.written.Store(true)
		}
	}}
	return st
}

func (c *Client) getState() *callState {
	return c.states.Get().(*callState)
}

// putState returns st to the pool unless its buffers grew too large.
func (c *Client) putState(st *callState) {
	if cap(st.form) > maxPooledBuffer || cap(st.resp) > maxPooledBuffer {
		return
	}
	clear(st.params[:cap(st.params)]) // drop references to parameter strings
	st.params = st.params[:0]
	st.form = st.form[:0]
	st.resp = st.resp[:0]
	c.states.Put(st)
}

// attempt is the result of sending a call once.
type attempt struct {
	err error // nil on success
	// repeat says whether the attempt may be repeated (top.Repeat.Retry):
	// top.RepeatOf for TOP's errors, and for a failed exchange RepeatNow
	// when nothing was written, RepeatIfIdempotent when TOP may have
	// acted, RepeatLater otherwise.
	repeat    top.Repeat
	outcome   Outcome
	status    int
	apiErr    *top.ErrorResponse
	requestID string
}

// do runs one call whose business parameters are in st.params: it checks
// bans, signs (with the session when session is set), sends with retries,
// decodes into out and reports to the Observer. It owns st.
func (c *Client) do(ctx context.Context, method string, session bool, st *callState, out any, idempotent bool) error {
	start := c.now()
	info := CallInfo{Method: method}
	if b := c.bans.Check(ctx, method, start); b != nil {
		be := banError(method, *b, start)
		c.putState(st)
		info.Outcome, info.Kind, info.Code, info.SubCode = OutcomeBanned, top.KindQuota, be.Resp.Code, be.Resp.SubCode
		c.observe(&info, start)
		return be
	}
	if err := c.encode(st, method, session, start); err != nil {
		c.putState(st)
		return err
	}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > c.timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	// The body is sent from a copy in an in-memory reader: net/http then
	// writes headers and body in one segment, and may still read it after
	// RoundTrip returns without touching the pooled buffers.
	data := bytes.Clone(st.form)
	var a attempt
	for {
		if c.limiter != nil {
			waitStart := c.now()
			err := c.limiter.Wait(ctx, method)
			info.QuotaWait += c.now().Sub(waitStart)
			var banned *quota.BannedError
			if errors.As(err, &banned) {
				be := banError(method, banned.Ban, c.now())
				a = attempt{err: be, outcome: OutcomeBanned, repeat: top.RepeatAfterBan, apiErr: be.Resp}
				break
			}
			if err != nil {
				a = attempt{err: canceled(ctx, method, "waiting for the rate limiter"), outcome: OutcomeCanceled}
				break
			}
		}
		info.Attempts++
		if c.tracer != nil {
			a = c.sendTraced(ctx, method, st, data, out, info.Attempts)
		} else {
			a = c.send(ctx, c.rt, method, st, data, out, info.Attempts)
		}
		if a.err == nil || !a.repeat.Retry(idempotent) || info.Attempts >= c.maxAttempts {
			break
		}
		if err := c.sleep(ctx, info.Attempts); err != nil {
			if ctx.Err() != nil {
				a = attempt{err: canceled(ctx, method, "backing off"), outcome: OutcomeCanceled, status: a.status}
			}
			break
		}
	}
	c.putState(st)
	if c.observer != nil {
		info.Outcome, info.HTTPStatus, info.RequestID = a.outcome, a.status, a.requestID
		if a.apiErr != nil {
			info.Kind, info.Code, info.SubCode = top.KindOf(a.apiErr.Code, a.apiErr.SubCode), a.apiErr.Code, a.apiErr.SubCode
			if info.RequestID == "" {
				info.RequestID = a.apiErr.RequestID
			}
		}
		c.observe(&info, start)
	}
	return a.err
}

func (c *Client) observe(info *CallInfo, start time.Time) {
	if c.observer != nil {
		info.Duration = c.now().Sub(start)
		c.observer(*info)
	}
}

// sleep waits before retry number n (1 for the first retry), as the
// client's backoff policy says (full jitter). It returns an error, without
// sleeping, when the wait would pass the context's deadline, and as soon
// as the context ends.
func (c *Client) sleep(ctx context.Context, n int) error {
	d := c.backoff.Delay(n)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return errors.New("backoff would pass the deadline")
	}
	return backoff.Wait(ctx, d)
}

// canceled is the error of a call its context ended (or was about to end:
// the rate limiter refuses waits that would pass the deadline).
func canceled(ctx context.Context, method, while string) error {
	err := ctx.Err()
	if err == nil {
		err = context.DeadlineExceeded
	}
	return &canceledError{method: method, while: while, err: err}
}

type canceledError struct {
	method, while string
	err           error
}

func (e *canceledError) Error() string {
	return "top " + e.method + ": " + e.while + ": " + e.err.Error()
}

func (e *canceledError) Unwrap() error { return e.err }

// encode adds the system parameters to the business parameters in
// st.params (the session, when one is configured and session is set),
// sorts them, and writes the signed form body into st.form.
func (c *Client) encode(st *callState, method string, session bool, now time.Time) error {
	ps := st.params
	for _, p := range ps {
		if p.Key == "" {
			return errors.New("top " + method + ": a parameter has an empty name")
		}
	}
	// The system parameters go in in key order, so that the sort (by
	// insertion) has only the business parameters to move among them.
	ps = append(ps,
		top.Param{Key: top.ParamAppKey, Value: c.appKey},
		top.Param{Key: top.ParamFormat, Value: top.FormatJSON},
		top.Param{Key: top.ParamMethod, Value: method},
		top.Param{Key: top.ParamPartnerID, Value: c.partnerID},
	)
	if session && c.session != "" {
		ps = append(ps, top.Param{Key: top.ParamSession, Value: c.session})
	}
	ps = append(ps, top.Param{Key: top.ParamSignMethod, Value: string(c.signMethod)})
	if c.simplify {
		ps = append(ps, top.Param{Key: top.ParamSimplify, Value: "true"})
	}
	ps = append(ps,
		top.Param{Key: top.ParamTimestamp, Value: c.timestamp(now)},
		top.Param{Key: top.ParamVersion, Value: top.Version},
	)
	top.SortParams(ps)
	for i := 1; i < len(ps); i++ {
		if ps[i].Key == ps[i-1].Key {
			return errors.New("top " + method + ": parameter " + ps[i].Key + " given twice")
		}
	}
	st.params = ps
	form := top.AppendForm(st.form[:0], ps)
	form = append(form, "&"+top.ParamSign+"="...)
	st.form = c.signer.AppendSign(form, ps)
	return nil
}

// send sends the call (its signed form body is data) once over rt and
// decodes the answer into out; n is the attempt's number.
func (c *Client) send(ctx context.Context, rt http.RoundTripper, method string, st *callState, data []byte, out any, n int) attempt {
	req := &http.Request{
		Method:        http.MethodPost,
		URL:           c.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        c.header,
		Body:          io.NopCloser(bytes.NewReader(data)),
		GetBody:       func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		ContentLength: int64(len(data)),
		Host:          c.url.Host,
	}
	st.written.Store(false)
	trace := st.trace
	if httptrace.ContextClientTrace(ctx) != nil {
		// WithClientTrace composes the caller's hooks into trace: use a
		// fresh one rather than change the pooled one for good.
		trace = &httptrace.ClientTrace{WroteRequest: trace.WroteRequest}
	}
	ctx = httptrace.WithClientTrace(ctx, trace)
	resp, err := rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return attempt{err: canceled(ctx, method, "sending"), outcome: OutcomeCanceled}
		}
		r := top.RepeatNow // nothing reached TOP
		var certErr *tls.CertificateVerificationError
		switch {
		case errors.As(err, &certErr):
			r = top.RepeatLater // the same certificate will fail again
		case st.written.Load():
			r = top.RepeatIfIdempotent
		}
		return attempt{err: &TransportError{Method: method, Err: c.scrubError(unwrapURLError(err), st), Attempts: n, repeat: r},
			repeat: r, outcome: OutcomeTransportError}
	}
	defer resp.Body.Close()
	a := attempt{status: resp.StatusCode}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
		a.repeat = top.RepeatLater
		switch resp.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			a.repeat = top.RepeatIfIdempotent
		}
		a.err = &TransportError{Method: method, StatusCode: resp.StatusCode, Attempts: n, repeat: a.repeat}
		a.outcome = OutcomeTransportError
		return a
	}
	buf, err := readBounded(resp.Body, st.resp[:0], c.maxResponse, resp.ContentLength)
	st.resp = buf
	if err != nil {
		if ctx.Err() != nil {
			a.err, a.outcome = canceled(ctx, method, "reading the answer"), OutcomeCanceled
			return a
		}
		a.repeat = top.RepeatLater
		if tl := (*tooLargeError)(nil); !errors.As(err, &tl) {
			a.repeat = top.RepeatIfIdempotent // the answer was cut short
		}
		a.err = &TransportError{Method: method, StatusCode: resp.StatusCode, Err: c.scrubError(err, st), Attempts: n, repeat: a.repeat}
		a.outcome = OutcomeTransportError
		return a
	}
	apiErr, err := top.DecodeEnvelope(method, buf, out)
	switch {
	case err != nil:
		var nj *top.NotJSONError
		isNotJSON := errors.As(err, &nj)
		err = c.scrubError(err, st)
		a.repeat = top.RepeatLater
		if isNotJSON {
			a.err = &TransportError{Method: method, StatusCode: resp.StatusCode, Err: err, Attempts: n, repeat: a.repeat}
			a.outcome = OutcomeTransportError
		} else {
			a.err, a.outcome = &DecodeError{Method: method, Err: err}, OutcomeDecodeError
		}
		if c.observer != nil || c.tracer != nil {
			a.requestID = top.FindRequestID(buf)
		}
	case apiErr != nil:
		apiErr.Msg, apiErr.SubMsg = c.scrub(apiErr.Msg, st), c.scrub(apiErr.SubMsg, st)
		a.apiErr = apiErr
		if be := c.recordBan(ctx, method, apiErr); be != nil {
			a.err, a.outcome, a.repeat = be, OutcomeBanned, top.RepeatAfterBan
			return a
		}
		a.err = &APIError{Method: method, Resp: *apiErr, HTTPStatus: resp.StatusCode, Attempts: n}
		a.outcome = OutcomeAPIError
		a.repeat = top.RepeatOf(apiErr.Code, apiErr.SubCode)
	default:
		a.outcome = OutcomeOK
		if c.observer != nil || c.tracer != nil {
			a.requestID = requestIDOf(out, buf)
		}
	}
	return a
}

// unwrapURLError drops net/http's *url.Error wrapper, whose message repeats
// the method and URL, keeping the cause (a dial error, a reset, EOF).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// scrub replaces the app secret, the session and the call's signature in a
// message from the gateway, in case it echoes them.
func (c *Client) scrub(msg string, st *callState) string {
	if msg == "" {
		return msg
	}
	for _, v := range [...]string{c.secret, c.session, string(st.sign())} {
		if len(v) >= 4 && strings.Contains(msg, v) {
			msg = strings.ReplaceAll(msg, v, redact.Redacted)
		}
	}
	return msg
}

// scrubError is err with its message scrubbed (see scrub); errors.Is and
// errors.As still see err.
func (c *Client) scrubError(err error, st *callState) error {
	msg := err.Error()
	if s := c.scrub(msg, st); s != msg {
		return &scrubbedError{msg: s, err: err}
	}
	return err
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// sign returns the signature at the end of the encoded form.
func (st *callState) sign() []byte {
	const key = "&" + top.ParamSign + "="
	i := bytes.LastIndex(st.form, []byte(key))
	if i < 0 {
		return nil
	}
	return st.form[i+len(key):]
}
