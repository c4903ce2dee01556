package audit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/servicecenterd/servicecenterd/internal/redact"
	"github.com/servicecenterd/servicecenterd/internal/rpc"
)

// recordTimeout bounds recording one event (up to recordWindow more: see
// deadlines); the call's own context may already be over (the caller
// went away), the event is recorded anyway.
const recordTimeout = 5 * time.Second

// ReasonUnavailable is the ErrorInfo reason of a mutating call refused
// with UNAVAILABLE because its event could not be recorded (FailClosed).
const ReasonUnavailable = "AUDIT_UNAVAILABLE"

// Options are an Auditor's settings.
type Options struct {
	// Plan says which RPCs are recorded and what their events list
	// (NewPlan); nil records none.
	Plan *Plan
	// FailClosed refuses the calls of audited methods, with UNAVAILABLE
	// and reason AUDIT_UNAVAILABLE, before they act, while the trail is
	// failing: from the first event the recorder could not record until
	// one is recorded again. The refused calls are recorded too, and the
	// first that is recorded ends the refusals. The calls in flight when
	// the recorder starts failing have acted already: their answers are
	// not changed and their events are only in the log.
	FailClosed bool
	// Failed, when set, is called once for each event the recorder could
	// not record (a metric).
	Failed func()
}

// Auditor records the calls of the audited methods.
type Auditor struct {
	rec    Recorder
	logger *slog.Logger
	plan   *Plan
	now    func() time.Time
	opts   Options
	// failing is true from a failed recording to the next successful one.
	failing atomic.Bool
	// deadlines bound the recordings (recordTimeout).
	deadlines *deadlines
}

// NewAuditor returns an Auditor recording the calls of o.Plan's RPCs in rec.
// Failures to record are logged at Error with the event (masked) and
// passed to o.Failed; the answer of the call is not changed, since TOP
// may already have acted on it (see Options.FailClosed for refusing the
// calls that come after).
func NewAuditor(rec Recorder, logger *slog.Logger, o Options) *Auditor {
	plan := o.Plan
	if plan == nil {
		plan = &Plan{}
	}
	return &Auditor{rec: rec, logger: logger, plan: plan, now: time.Now, opts: o, deadlines: newDeadlines(recordTimeout, recordWindow)}
}

// refuse reports whether a call must be refused (FailClosed while the
// trail is failing), and the error to answer.
func (a *Auditor) refuse(method string) error {
	if !a.opts.FailClosed || !a.failing.Load() {
		return nil
	}
	return rpc.ErrorInfo(codes.Unavailable, "the audit trail cannot record calls right now; retry later",
		ReasonUnavailable, map[string]string{"rpc": method})
}

// Audited reports whether calls of fullMethod are recorded.
func (a *Auditor) Audited(fullMethod string) bool { return a.plan.Audited(fullMethod) }

// UnaryInterceptor records every call of an audited method, whatever its
// outcome (denied, invalid and failed calls included). Chain it after the
// request id interceptor and outside authentication, so that it sees the
// request id, the client name authentication sets, whether the call was
// admitted (rpc.Call.Authorized: a denied call's blacklist
// entries are not listed, see Plan.Targets) and the final status of a denied
// call.
func (a *Auditor) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		mp := a.plan.methods[info.FullMethod]
		if mp == nil {
			return handler(ctx, req)
		}
		start := a.now()
		if err := a.refuse(info.FullMethod); err != nil {
			a.record(ctx, start, info.FullMethod, mp.list(req, nil, false), err)
			return nil, err
		}
		resp, err := handler(ctx, req)
		a.record(ctx, start, info.FullMethod, mp.list(req, resp, rpc.CallFrom(ctx).Authorized), err)
		return resp, err
	}
}

// StreamInterceptor records every stream of an audited method; the
// targets come from the first message received and the last one sent.
func (a *Auditor) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		mp := a.plan.methods[info.FullMethod]
		if mp == nil {
			return handler(srv, ss)
		}
		start := a.now()
		if err := a.refuse(info.FullMethod); err != nil {
			a.record(ss.Context(), start, info.FullMethod, nil, err)
			return err
		}
		ws := &watchedStream{ServerStream: ss}
		err := handler(srv, ws)
		first, last := ws.messages()
		a.record(ss.Context(), start, info.FullMethod, mp.list(first, last, rpc.CallFrom(ss.Context()).Authorized), err)
		return err
	}
}

func (a *Auditor) record(ctx context.Context, start time.Time, method string, targets []Target, err error) {
	call := rpc.CallFrom(ctx)
	a.Record(ctx, Event{
		Time:         start,
		Client:       call.Client,
		RPC:          method,
		Targets:      targets,
		Outcome:      status.Code(err),
		TOPRequestID: call.TOPRequestID,
		RequestID:    call.RequestID,
		TraceID:      traceID(ctx),
	})
}

// traceID is the trace id of ctx's span, "" without one.
func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

// Record records e, for a mutating call that does not pass the gRPC
// interceptors (such as a plain HTTP upload route). The recording
// outlives ctx's cancellation; a failure is logged at Error and counted
// (Options.Failed), not returned, since the call has already acted.
func (a *Auditor) Record(ctx context.Context, e Event) {
	rerr := a.rec.Record(a.deadlines.recordContext(ctx), e)
	if rerr == nil {
		if a.failing.Load() && a.failing.CompareAndSwap(true, false) {
			a.logger.InfoContext(ctx, "audit events are recorded again")
		}
		return
	}
	a.failing.Store(true)
	if a.opts.Failed != nil {
		a.opts.Failed()
	}
	a.logger.ErrorContext(ctx, "audit event not recorded",
		slog.String("error", redact.Text(rerr.Error())),
		slog.String("rpc", e.RPC), slog.String("client", e.Client),
		slog.String("outcome", e.Outcome.String()), slog.String("request_id", e.RequestID),
		slog.Bool("fail_closed", a.opts.FailClosed))
}

// watchedStream remembers the first message received and the last sent.
type watchedStream struct {
	grpc.ServerStream
	mu          sync.Mutex
	first, last any
}

func (w *watchedStream) RecvMsg(m any) error {
	err := w.ServerStream.RecvMsg(m)
	if err == nil {
		w.mu.Lock()
		if w.first == nil {
			w.first = m
		}
		w.mu.Unlock()
	}
	return err
}

func (w *watchedStream) SendMsg(m any) error {
	err := w.ServerStream.SendMsg(m)
	if err == nil {
		w.mu.Lock()
		w.last = m
		w.mu.Unlock()
	}
	return err
}

func (w *watchedStream) messages() (first, last any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first, w.last
}
