package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/store/groupcommit"
)

// errClosed answers calls that arrive while the store closes.
var errClosed = groupcommit.ErrClosed

// maxAuditGroup bounds how many events share one commit.
const maxAuditGroup = 256

// auditLinger is how long the busy audit writer waits for more events to
// join a group (groupcommit.Options.Linger). Each commit appends the
// pages it changed (the table's and its four indexes') to the WAL, one
// write each, whatever the number of rows in it; at thousands of audited
// calls a second, groups of one paid that for every call. An isolated
// call never waits, and a lull of auditGap ends the wait.
const (
	auditLinger = time.Millisecond
	auditGap    = 250 * time.Microsecond
)

const insertAuditEvent = `INSERT INTO audit_events
	(time_ns, client, rpc, targets, outcome, top_request_id, request_id, trace_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// auditRow is one audit_events row, ready to insert.
type auditRow struct {
	timeNS                  int64
	client, rpc, targets    string
	outcome                 int64
	topRequestID, requestID string
	traceID                 string
}

// auditWriter commits audit events in groups (group commit) on db:
// Record waits until the transaction holding its row has committed, so
// its promise is unchanged, while the events of concurrent calls share
// one transaction, one lock round trip and one WAL append instead of one
// each. Ids follow the order of commits. The INSERT is prepared once, at
// the first commit (a store opened at an old schema version for a test
// has no audit table), and kept.
type auditWriter struct {
	*groupcommit.Writer[auditRow]
	db *sql.DB
	// insert is the prepared INSERT; only the writer's goroutine uses it
	// until Close.
	insert *sql.Stmt
}

func newAuditWriter(db *sql.DB) *auditWriter {
	w := &auditWriter{db: db}
	w.Writer = groupcommit.NewWithOptions(groupcommit.Options{Max: maxAuditGroup, Linger: auditLinger, Gap: auditGap}, w.commit)
	return w
}

// Close stops the writer, then releases the statement.
func (w *auditWriter) Close() {
	w.Writer.Close()
	if w.insert != nil {
		_ = w.insert.Close()
	}
}

func (w *auditWriter) commit(rows []auditRow) error {
	// No deadline: SQLite's busy_timeout bounds the wait for the write
	// lock, and a cancellable context would cost the driver a watcher per
	// statement. Callers stop waiting when their own contexts end.
	ctx := context.Background()
	if w.insert == nil {
		insert, err := w.db.PrepareContext(ctx, insertAuditEvent)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		w.insert = insert
	}
	if len(rows) == 1 { // alone: a plain autocommit INSERT is cheapest
		r := rows[0]
		_, err := w.insert.ExecContext(ctx, r.timeNS, r.client, r.rpc, r.targets, r.outcome, r.topRequestID, r.requestID, r.traceID)
		return err
	}
	return inTx(ctx, w.db, func(tx *sql.Tx) error {
		stmt := tx.StmtContext(ctx, w.insert)
		for _, r := range rows {
			if _, err := stmt.ExecContext(ctx, r.timeNS, r.client, r.rpc, r.targets, r.outcome, r.topRequestID, r.requestID, r.traceID); err != nil {
				return err
			}
		}
		return nil
	})
}
