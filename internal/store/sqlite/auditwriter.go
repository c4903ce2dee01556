package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/store/groupcommit"
)

// errClosed answers calls that arrive while the store closes.
var errClosed = groupcommit.ErrClosed

// maxAuditGroup bounds how many events share one commit.
const maxAuditGroup = 256

// auditLinger is how long the busy audit writer waits for more events to
// join a group (groupcommit.Options.Linger). Each commit appends the
// pages it changed (the table's and its indexes') to the WAL, one
// write each, whatever the number of rows in it; at thousands of audited
// calls a second, groups of one paid that for every call. An isolated
// call never waits, and a lull of auditGap ends the wait. The writer
// stays busy for auditIdle after a group of more than one event: at 64
// callers, three commits in four held one event otherwise (the events
// between the bursts of a closed loop of callers), a fifth of the events,
// each paying a whole commit.
const (
	auditLinger = time.Millisecond
	auditGap    = 250 * time.Microsecond
	auditIdle   = 50 * time.Millisecond
)

// auditColumns are the columns of an audit_events row the writer inserts.
const auditColumns = 8

// insertAuditEvents are the INSERTs of 1, 4, 16 and 64 rows (index i
// holds 4^i rows). A group is inserted by as few of them as its size
// allows, the largest first: one statement per group of 64 instead of 64,
// each execution paying database/sql's and the VDBE's setup and the
// AUTOINCREMENT counter's update once, while the connection's statement
// cache holds four texts whatever the group sizes.
//
// They are INSERT OR ROLLBACK: a constraint failure ends the whole
// transaction, not just the statement. With the default (ABORT), SQLite
// must be able to undo one statement of several rows inside a
// transaction, so it copies every page the statement changes into a
// statement journal (in memory) before changing it: 2-5% of a group's
// instructions (BenchmarkCommitAudit under callgrind: 261,180 -> 248,262
// for a group of 4, 686,484 -> 665,311 for 16). The writer rolls back the
// whole group on any error anyway (its events share the error), and these
// rows fail no constraint (every column gets a value, the id is the
// table's).
var insertAuditEvents = func() []string {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?)"
	out := make([]string, 4)
	for i := range out {
		n := 1 << (2 * i)
		out[i] = "INSERT OR ROLLBACK INTO audit_events (time_ns, client, rpc, targets, outcome, top_request_id, request_id, trace_id) VALUES " +
			strings.Repeat(row+", ", n-1) + row
	}
	return out
}()

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
	o := groupcommit.Options{Max: maxAuditGroup, Linger: auditLinger, Gap: auditGap, Idle: auditIdle}
	return groupcommit.NewWithOptions(o, func(rows []auditRow) error { return commitAudit(db, rows) })
}

func commitAudit(db *sql.DB, rows []auditRow) error {
	// No deadline: SQLite's busy_timeout bounds the wait for the write
	// lock, and a cancellable context would cost the driver a watcher per
	// statement. Callers stop waiting when their own contexts end.
	ctx := context.Background()
	if len(rows) == 1 { // alone: a plain autocommit INSERT is cheapest
		_, err := db.ExecContext(ctx, insertAuditEvents[0], auditArgs(nil, rows)...)
		return err
	}
	return inTx(ctx, db, func(tx *sql.Tx) error {
		args := make([]any, 0, auditColumns*min(len(rows), 1<<(2*(len(insertAuditEvents)-1))))
		for len(rows) > 0 {
			i := len(insertAuditEvents) - 1
			for 1<<(2*i) > len(rows) {
				i--
			}
			n := 1 << (2 * i)
			args = auditArgs(args[:0], rows[:n])
			if _, err := tx.ExecContext(ctx, insertAuditEvents[i], args...); err != nil {
				return err
			}
			rows = rows[n:]
		}
		return nil
	})
}

// auditArgs appends the arguments of rows, in column order, to args.
func auditArgs(args []any, rows []auditRow) []any {
	for _, r := range rows {
		args = append(args, r.timeNS, r.client, r.rpc, r.targets, r.outcome, r.topRequestID, r.requestID, r.traceID)
	}
	return args
}
