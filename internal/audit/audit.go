// Package audit keeps servicecenterd's audit trail: one Event per
// mutating call (assign, update, bind, sync, and the bulk import and
// cancel), with when, who (the authenticated client), which RPC, the
// target ids (personal data masked), the outcome and TOP's request_id.
// Which RPCs are audited and which ids their events list is declared in
// the protos, by the servicecenter.v1.audit method option
// (proto/servicecenter/v1/options.proto); a Plan compiles those options
// once, at start, into field paths and masks per method.
// The interceptor (Auditor) builds events and hands them to a Recorder:
// the structured log (LogSink) and the durable store, which also answers
// ListAuditEvents and drops events past the retention period (Store,
// Retention). Package audittest holds the cases every Store must pass.
package audit

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
)

// Event is one audited call.
type Event struct {
	// ID is the store's sequence number, given by Record: it increases in
	// the order events are recorded (when the calls end), so a long call
	// may have a higher ID than a shorter one that arrived after it. 0
	// until the event is stored.
	ID int64
	// Time is when the call arrived.
	Time time.Time
	// Client names the authenticated caller ("" when the server runs
	// without authentication or the caller was not authenticated).
	Client string
	// RPC is the full gRPC method, e.g.
	// /servicecenter.v1.WorkcardService/AssignWorker.
	RPC string
	// Targets are the ids the call acted on, personal data masked.
	Targets []Target
	// Outcome is the call's gRPC status code.
	Outcome codes.Code
	// TOPRequestID is TOP's request_id of the upstream call, if one was
	// made and answered.
	TOPRequestID string
	// RequestID is servicecenterd's request id (x-request-id).
	RequestID string
	// TraceID is the call's OpenTelemetry trace id (32 hex digits), when
	// tracing is on (internal/telemetry); "" otherwise.
	TraceID string
}

// Target is one id a call acted on.
type Target struct {
	// Kind says what the id names, e.g. workcard, worker_mobile.
	Kind string
	// ID is the id as text; phone and ID numbers are masked.
	ID string
}

// Recorder records audit events. It must be safe for concurrent use.
type Recorder interface {
	Record(ctx context.Context, e Event) error
}

// Query selects events for Lister.List.
type Query struct {
	// From and To bound the event time: From <= Time < To; a zero time
	// leaves that side open.
	From, To time.Time
	// Client, when set, selects one client's events.
	Client string
	// RPC, when set, selects one full method's events.
	RPC string
	// Outcomes, when not empty, selects events with one of these codes.
	Outcomes []codes.Code
	// BeforeID, when not 0, selects events with ID < BeforeID (paging).
	BeforeID int64
	// Limit is how many events to return at most; it is always > 0.
	Limit int
}

// Match reports whether e satisfies the query's filters (not its paging).
func (q Query) Match(e Event) bool {
	switch {
	case !q.From.IsZero() && e.Time.Before(q.From),
		!q.To.IsZero() && !e.Time.Before(q.To),
		q.Client != "" && e.Client != q.Client,
		q.RPC != "" && e.RPC != q.RPC,
		q.BeforeID != 0 && e.ID >= q.BeforeID:
		return false
	}
	if len(q.Outcomes) == 0 {
		return true
	}
	for _, c := range q.Outcomes {
		if e.Outcome == c {
			return true
		}
	}
	return false
}

// Lister lists stored events.
type Lister interface {
	// List returns up to q.Limit events matching q, newest (highest ID)
	// first.
	List(ctx context.Context, q Query) ([]Event, error)
}

// Pruner drops old events (the retention of the trail).
type Pruner interface {
	// Prune deletes up to limit events whose Time is before before,
	// oldest first, and returns how many it deleted. limit is > 0.
	Prune(ctx context.Context, before time.Time, limit int) (int, error)
}

// Store records events durably, lists them and drops old ones.
type Store interface {
	Recorder
	Lister
	Pruner
}

// Multi records each event in every recorder, in order; it returns the
// errors joined.
func Multi(recorders ...Recorder) Recorder { return multi(recorders) }

type multi []Recorder

func (m multi) Record(ctx context.Context, e Event) error {
	var errs []error
	for _, r := range m {
		if err := r.Record(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
