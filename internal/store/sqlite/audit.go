package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/servicecenterd/servicecenterd/internal/audit"
)

// Record implements audit.Recorder: it appends e to the trail with the
// next id. Concurrent events share commits (see auditWriter). It commits
// with synchronous=NORMAL, like the chunk progress: the event survives a
// crash of the process as soon as Record returns, and a crash of the
// machine once the WAL is next synced (at the next durable commit or
// checkpoint).
func (s *Store) Record(ctx context.Context, e audit.Event) error {
	raw, err := audit.TargetsJSON(e.Targets)
	if err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	err = s.audit.Write(ctx, auditRow{
		timeNS: e.Time.UnixNano(), client: e.Client, rpc: e.RPC, targets: raw,
		outcome: int64(e.Outcome), topRequestID: e.TOPRequestID, requestID: e.RequestID, traceID: e.TraceID,
	})
	if err != nil {
		return markFull(fmt.Errorf("record audit event: %w", err))
	}
	return nil
}

// List implements audit.Lister: the filters of audit.Query.Match, id <
// q.BeforeID, newest (highest id) first, at most q.Limit events.
func (s *Store) List(ctx context.Context, q audit.Query) ([]audit.Event, error) {
	var (
		where []string
		args  []any
	)
	if !q.From.IsZero() {
		where = append(where, "time_ns >= ?")
		args = append(args, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		where = append(where, "time_ns < ?")
		args = append(args, q.To.UnixNano())
	}
	if q.Client != "" {
		where = append(where, "client = ?")
		args = append(args, q.Client)
	}
	if q.RPC != "" {
		where = append(where, "rpc = ?")
		args = append(args, q.RPC)
	}
	if len(q.Outcomes) > 0 {
		marks := make([]string, len(q.Outcomes))
		for i, c := range q.Outcomes {
			marks[i] = "?"
			args = append(args, int64(c))
		}
		where = append(where, "outcome IN ("+strings.Join(marks, ", ")+")")
		if !slices.Contains(q.Outcomes, codes.OK) {
			// Failures only: their index (audit_events_failures, partial)
			// serves the query only when it states the index's condition.
			where = append(where, "outcome != 0")
		}
	}
	if q.BeforeID != 0 {
		where = append(where, "id < ?")
		args = append(args, q.BeforeID)
	}
	// The ids first, then their rows: the filter and the sort read only
	// an index (ids are in every index), and only the page's rows are
	// read from the table. A time range is read through the time index
	// and its ids sorted, so its cost grows with the events in the range;
	// the other filters read their index in id order and stop at the
	// page's end.
	ids := "SELECT id FROM audit_events"
	if len(where) > 0 {
		ids += " WHERE " + strings.Join(where, " AND ")
	}
	query := "SELECT id, time_ns, client, rpc, targets, outcome, top_request_id, request_id, trace_id FROM audit_events WHERE id IN (" +
		ids + " ORDER BY id DESC LIMIT ?) ORDER BY id DESC"
	args = append(args, q.Limit)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		var (
			e       audit.Event
			ns      int64
			raw     string
			outcome int64
		)
		if err := rows.Scan(&e.ID, &ns, &e.Client, &e.RPC, &raw, &outcome, &e.TOPRequestID, &e.RequestID, &e.TraceID); err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		if e.Targets, err = audit.ParseTargetsJSON(raw); err != nil {
			return nil, fmt.Errorf("list audit events: event %d: %w", e.ID, err)
		}
		e.Time = time.Unix(0, ns).UTC()
		e.Outcome = codes.Code(outcome)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

// Prune implements audit.Pruner: one transaction deleting up to limit
// events older than before, oldest first (through the time index).
func (s *Store) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM audit_events WHERE id IN
		(SELECT id FROM audit_events WHERE time_ns < ? ORDER BY time_ns LIMIT ?)`, before.UnixNano(), limit)
	if err != nil {
		return 0, fmt.Errorf("prune audit events: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune audit events: %w", err)
	}
	return int(n), nil
}
