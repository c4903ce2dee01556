package audit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/servicecenterd/servicecenterd/internal/interceptor"
	"github.com/servicecenterd/servicecenterd/internal/redact"
)

// recordTimeout bounds recording one event; the call's own context may
// already be over (the caller went away), the event is recorded anyway.
const recordTimeout = 5 * time.Second

// Auditor records the calls of the audited methods.
type Auditor struct {
	rec     Recorder
	logger  *slog.Logger
	methods map[string]bool
	now     func() time.Time
}

// NewAuditor returns an Auditor recording calls of methods (full method
// names) in rec. Failures to record are logged at Error with the event
// (masked); the call's answer is not changed, since TOP may already have
// acted on it.
func NewAuditor(rec Recorder, logger *slog.Logger, methods ...string) *Auditor {
	a := &Auditor{rec: rec, logger: logger, methods: map[string]bool{}, now: time.Now}
	for _, m := range methods {
		a.methods[m] = true
	}
	return a
}

// Audited reports whether calls of fullMethod are recorded.
func (a *Auditor) Audited(fullMethod string) bool { return a.methods[fullMethod] }

// UnaryInterceptor records every call of an audited method, whatever its
// outcome (denied, invalid and failed calls included). Chain it after the
// request id interceptor and outside authentication, so that it sees the
// request id, the client name authentication sets and the final status
// of a denied call.
func (a *Auditor) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !a.methods[info.FullMethod] {
			return handler(ctx, req)
		}
		start := a.now()
		resp, err := handler(ctx, req)
		a.record(ctx, start, info.FullMethod, Targets(req, resp), err)
		return resp, err
	}
}

// StreamInterceptor records every stream of an audited method; the
// targets come from the first message received and the last one sent.
func (a *Auditor) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !a.methods[info.FullMethod] {
			return handler(srv, ss)
		}
		start := a.now()
		ws := &watchedStream{ServerStream: ss}
		err := handler(srv, ws)
		first, last := ws.messages()
		a.record(ss.Context(), start, info.FullMethod, Targets(first, last), err)
		return err
	}
}

func (a *Auditor) record(ctx context.Context, start time.Time, method string, targets []Target, err error) {
	call := interceptor.CallFrom(ctx)
	a.Record(ctx, Event{
		Time:         start,
		Client:       call.Client,
		RPC:          method,
		Targets:      targets,
		Outcome:      status.Code(err),
		TOPRequestID: call.TOPRequestID,
		RequestID:    call.RequestID,
	})
}

// Record records e, for a mutating call that does not pass the gRPC
// interceptors (such as a plain HTTP upload route). The recording
// outlives ctx's cancellation; a failure is logged at Error, not
// returned, since the call has already acted.
func (a *Auditor) Record(ctx context.Context, e Event) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if rerr := a.rec.Record(rctx, e); rerr != nil {
		a.logger.ErrorContext(ctx, "audit event not recorded",
			slog.String("error", redact.Text(rerr.Error())),
			slog.String("rpc", e.RPC), slog.String("client", e.Client),
			slog.String("outcome", e.Outcome.String()), slog.String("request_id", e.RequestID))
	}
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
