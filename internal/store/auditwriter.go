package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// errClosed answers a Record that arrives while the store closes.
var errClosed = errors.New("store is closed")

// maxAuditGroup bounds how many events share one commit.
const maxAuditGroup = 256

const insertAuditEvent = `INSERT INTO audit_events
	(time_ns, client, rpc, targets, outcome, top_request_id, request_id) VALUES (?, ?, ?, ?, ?, ?, ?)`

// auditRow is one audit_events row, ready to insert.
type auditRow struct {
	timeNS                  int64
	client, rpc, targets    string
	outcome                 int64
	topRequestID, requestID string
}

type auditWrite struct {
	row  auditRow
	done chan error // buffered: the writer never waits for a caller
}

// auditWriter commits audit events in groups (group commit): Record hands
// its row to one writer goroutine and waits until the transaction holding
// it has committed, so Record's promise is unchanged, while the events of
// concurrent calls share one transaction, one lock round trip and one WAL
// append instead of one each. Ids still follow the order of commits.
type auditWriter struct {
	db      *sql.DB
	queue   chan auditWrite // unbuffered: a row is taken only by a running writer
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func newAuditWriter(db *sql.DB) *auditWriter {
	w := &auditWriter{db: db, queue: make(chan auditWrite), stop: make(chan struct{}), stopped: make(chan struct{})}
	go w.run()
	return w
}

// write commits row in the next group. When ctx ends first it returns
// ctx's error; the row may still be committed.
func (w *auditWriter) write(ctx context.Context, row auditRow) error {
	done := make(chan error, 1)
	select {
	case w.queue <- auditWrite{row: row, done: done}:
	case <-w.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *auditWriter) run() {
	defer close(w.stopped)
	group := make([]auditWrite, 0, maxAuditGroup)
	for {
		select {
		case first := <-w.queue:
			group = append(group[:0], first)
		case <-w.stop:
			return
		}
	more:
		for len(group) < maxAuditGroup {
			select {
			case next := <-w.queue:
				group = append(group, next)
			default:
				break more
			}
		}
		err := w.commit(group)
		for _, g := range group {
			g.done <- err
		}
	}
}

func (w *auditWriter) commit(group []auditWrite) error {
	// No deadline: SQLite's busy_timeout bounds the wait for the write
	// lock, and a cancellable context would cost the driver a watcher per
	// statement. Callers stop waiting when their own contexts end.
	ctx := context.Background()
	if len(group) == 1 { // alone: a plain autocommit INSERT is cheapest
		r := group[0].row
		_, err := w.db.ExecContext(ctx, insertAuditEvent, r.timeNS, r.client, r.rpc, r.targets, r.outcome, r.topRequestID, r.requestID)
		return err
	}
	return inTx(ctx, w.db, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, insertAuditEvent)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, g := range group {
			r := g.row
			if _, err := stmt.ExecContext(ctx, r.timeNS, r.client, r.rpc, r.targets, r.outcome, r.topRequestID, r.requestID); err != nil {
				return err
			}
		}
		return nil
	})
}

// close stops the writer after the group it is committing, if any;
// later writes answer errClosed. It may be called more than once.
func (w *auditWriter) close() {
	w.once.Do(func() { close(w.stop) })
	<-w.stopped
}
