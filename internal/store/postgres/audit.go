package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/store/groupcommit"
)

// auditRow is one audit_events row, ready to insert.
type auditRow struct {
	timeNS                  int64
	client, rpc, targets    string
	outcome                 int32
	topRequestID, requestID string
	traceID                 string
}

// maxAuditGroup bounds how many events share one commit.
const maxAuditGroup = 256

// auditLinger is how long the busy audit writer waits for more events to
// join a group (groupcommit.Options.Linger): each group is one round trip
// and one commit, whatever its size. An isolated call never waits, and a
// lull of auditGap ends the wait. The writer stays busy for auditIdle
// after a group of more than one event, so that the events between the
// bursts of many callers share commits too (as in the SQLite store).
const (
	auditLinger = time.Millisecond
	auditGap    = 250 * time.Microsecond
	auditIdle   = 50 * time.Millisecond
)

// auditCommitTimeout bounds one group's commit, so that a database that
// stopped answering fails the writes instead of holding them for ever.
const auditCommitTimeout = 30 * time.Second

// newAuditWriter commits audit events in groups (group commit): the
// events of concurrent calls go in one INSERT of arrays (one round trip,
// one commit, one connection) instead of one each.
func newAuditWriter(pool *pgxpool.Pool) *groupcommit.Writer[auditRow] {
	o := groupcommit.Options{Max: maxAuditGroup, Linger: auditLinger, Gap: auditGap, Idle: auditIdle}
	return groupcommit.NewWithOptions(o, func(rows []auditRow) error {
		ctx, cancel := context.WithTimeout(context.Background(), auditCommitTimeout)
		defer cancel()
		var (
			times    = make([]int64, len(rows))
			clients  = make([]string, len(rows))
			rpcs     = make([]string, len(rows))
			targets  = make([]string, len(rows))
			outcomes = make([]int32, len(rows))
			tops     = make([]string, len(rows))
			requests = make([]string, len(rows))
			traces   = make([]string, len(rows))
		)
		for i, r := range rows {
			times[i], clients[i], rpcs[i], targets[i], outcomes[i], tops[i], requests[i], traces[i] =
				r.timeNS, r.client, r.rpc, r.targets, r.outcome, r.topRequestID, r.requestID, r.traceID
		}
		// unnest yields the rows in array order, and the identity numbers
		// them in that order. One round trip, one transaction.
		b := &pgx.Batch{}
		b.Queue(relaxed)
		b.Queue(`INSERT INTO audit_events (time_ns, client, rpc, targets, outcome, top_request_id, request_id, trace_id)
			SELECT t, c, r, g::jsonb, o, tr, q, tc FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::text[], $7::text[], $8::text[])
			AS u(t, c, r, g, o, tr, q, tc)`, times, clients, rpcs, targets, outcomes, tops, requests, traces)
		return pool.SendBatch(ctx, b).Close()
	})
}

// Record implements audit.Recorder: it appends e to the trail with the
// next id. Concurrent events share commits. Like the chunk progress, it
// commits without waiting for the WAL flush (relaxed): the event survives
// a crash of this process as soon as Record returns, and a crash of the
// PostgreSQL server once the WAL writer has flushed it (within three
// wal_writer_delay, 600 ms by default).
func (s *Store) Record(ctx context.Context, e audit.Event) error {
	raw, err := audit.TargetsJSON(e.Targets)
	if err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	err = s.audit.Write(ctx, auditRow{
		timeNS: nanos(e.Time), client: e.Client, rpc: e.RPC, targets: raw,
		outcome: int32(e.Outcome), topRequestID: e.TOPRequestID, requestID: e.RequestID, traceID: e.TraceID,
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
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1))
	}
	if !q.From.IsZero() {
		add("time_ns >= ?", nanos(q.From))
	}
	if !q.To.IsZero() {
		add("time_ns < ?", nanos(q.To))
	}
	if q.Client != "" {
		add("client = ?", q.Client)
	}
	if q.RPC != "" {
		add("rpc = ?", q.RPC)
	}
	if len(q.Outcomes) > 0 {
		outcomes := make([]int32, len(q.Outcomes))
		for i, c := range q.Outcomes {
			outcomes[i] = int32(c)
		}
		add("outcome = ANY(?)", outcomes)
		if !slices.Contains(q.Outcomes, codes.OK) {
			// Failures only: their index (audit_events_failures, partial)
			// serves the query only when it states the index's condition.
			where = append(where, "outcome <> 0")
		}
	}
	if q.BeforeID != 0 {
		add("id < ?", q.BeforeID)
	}
	query := "SELECT id, time_ns, client, rpc, targets::text, outcome, top_request_id, request_id, trace_id FROM audit_events"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, q.Limit)
	query += " ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, query, args...)
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
			outcome int32
		)
		if err := rows.Scan(&e.ID, &ns, &e.Client, &e.RPC, &raw, &outcome, &e.TOPRequestID, &e.RequestID, &e.TraceID); err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		if e.Targets, err = audit.ParseTargetsJSON(raw); err != nil {
			return nil, fmt.Errorf("list audit events: event %d: %w", e.ID, err)
		}
		e.Time = fromNanos(ns)
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
// Replicas pruning at once delete each event once: each counts only the
// rows it deleted.
func (s *Store) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM audit_events WHERE id IN
		(SELECT id FROM audit_events WHERE time_ns < $1 ORDER BY time_ns LIMIT $2)`, nanos(before), limit)
	if err != nil {
		return 0, fmt.Errorf("prune audit events: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
