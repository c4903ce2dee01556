package sqlite

import (
	"context"
	"database/sql"

	"github.com/servicecenterd/servicecenterd/internal/store/groupcommit"
)

// errClosed answers calls that arrive while the store closes.
var errClosed = groupcommit.ErrClosed

// maxAuditGroup bounds how many events share one commit.
const maxAuditGroup = 256

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
// each. Ids follow the order of commits.
func newAuditWriter(db *sql.DB) *groupcommit.Writer[auditRow] {
	return groupcommit.New(maxAuditGroup, func(rows []auditRow) error { return commitAudit(db, rows) })
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
		stmt, err := tx.PrepareContext(ctx, insertAuditEvent)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rows {
			if _, err := stmt.ExecContext(ctx, r.timeNS, r.client, r.rpc, r.targets, r.outcome, r.topRequestID, r.requestID, r.traceID); err != nil {
				return err
			}
		}
		return nil
	})
}
