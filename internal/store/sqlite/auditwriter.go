package sqlite

import (
	"context"
	"database/sql"
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

// newAuditWriter commits audit events in groups (group commit) on db:
// Record waits until the transaction holding its row has committed, so
// its promise is unchanged, while the events of concurrent calls share
// one transaction, one lock round trip and one WAL append instead of one
// each. Ids follow the order of commits. The INSERT stays prepared in the
// connection's statement cache (stmtcache.go).
func newAuditWriter(db *sql.DB) *groupcommit.Writer[auditRow] {
	o := groupcommit.Options{Max: maxAuditGroup, Linger: auditLinger, Gap: auditGap}
	return groupcommit.NewWithOptions(o, func(rows []auditRow) error { return commitAudit(db, rows) })
}

func commitAudit(db *sql.DB, rows []auditRow) error {
	// No deadline: SQLite's busy_timeout bounds the wait for the write
	// lock, and a cancellable context would cost the driver a watcher per
	// statement. Callers stop waiting when their own contexts end.
	ctx := context.Background()
	if len(rows) == 1 { // alone: a plain autocommit INSERT is cheapest
		r := rows[0]
		_, err := db.ExecContext(ctx, insertAuditEvent, r.timeNS, r.client, r.rpc, r.targets, r.outcome, r.topRequestID, r.requestID, r.traceID)
		return err
	}
	return inTx(ctx, db, func(tx *sql.Tx) error {
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, insertAuditEvent, r.timeNS, r.client, r.rpc, r.targets, r.outcome, r.topRequestID, r.requestID, r.traceID); err != nil {
				return err
			}
		}
		return nil
	})
}
