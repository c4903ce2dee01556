package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/events"
)

var _ events.Store = (*Store)(nil)

const eventColumns = `cursor, message_id, topic, user_id, user_nick, publish_ns, publisher_app_key, data_id, content, stored_ns`

// InsertEvent implements events.Store. The one write connection orders
// the inserts, so the cursor taken from tmc_event_log follows commit
// order. It commits with synchronous=FULL: the message is confirmed to
// TMC, which then forgets it, once this returns.
func (s *Store) InsertEvent(ctx context.Context, e events.Event) (cursor int64, stored bool, err error) {
	err = s.durableTx(ctx, func(tx *sql.Tx) error {
		switch err := tx.QueryRowContext(ctx, "SELECT cursor FROM tmc_events WHERE message_id = ?", e.MessageID).Scan(&cursor); {
		case err == nil:
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if err := tx.QueryRowContext(ctx, "UPDATE tmc_event_log SET last = last + 1 WHERE id = 1 RETURNING last").Scan(&cursor); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO tmc_events (`+eventColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			cursor, e.MessageID, e.Topic, e.UserID, e.UserNick, e.PublishTime.UnixNano(), e.PublisherAppKey, e.DataID,
			nonNil(e.Content), e.StoredTime.UnixNano())
		stored = err == nil
		return err
	})
	if err != nil {
		return 0, false, markFull(fmt.Errorf("store TMC message %d: %w", e.MessageID, err))
	}
	return cursor, stored, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// EventsAfter implements events.Store.
func (s *Store) EventsAfter(ctx context.Context, q events.Query) ([]events.Event, error) {
	query := "SELECT " + eventColumns + " FROM tmc_events WHERE cursor > ?"
	args := []any{q.After}
	if len(q.Topics) > 0 {
		query += " AND topic IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(q.Topics)), ", ") + ")"
		for _, t := range q.Topics {
			args = append(args, t)
		}
	}
	query += " ORDER BY cursor LIMIT ?"
	args = append(args, q.Limit)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []events.Event
	for rows.Next() {
		var (
			e                 events.Event
			publish, storedNS int64
		)
		if err := rows.Scan(&e.Cursor, &e.MessageID, &e.Topic, &e.UserID, &e.UserNick, &publish, &e.PublisherAppKey,
			&e.DataID, &e.Content, &storedNS); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		e.PublishTime = time.Unix(0, publish).UTC()
		e.StoredTime = time.Unix(0, storedNS).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// EventBounds implements events.Store.
func (s *Store) EventBounds(ctx context.Context) (events.Bounds, error) {
	var b events.Bounds
	if err := s.r.QueryRowContext(ctx, "SELECT last, pruned FROM tmc_event_log WHERE id = 1").Scan(&b.Last, &b.Pruned); err != nil {
		return b, fmt.Errorf("read event log bounds: %w", err)
	}
	return b, nil
}

// PruneEvents implements events.Store: one transaction deleting the
// oldest events up to the first one stored at or after before.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int64
	err := inTx(ctx, s.w, func(tx *sql.Tx) error {
		var upTo sql.NullInt64
		if err := tx.QueryRowContext(ctx, `WITH head AS (SELECT cursor, stored_ns FROM tmc_events ORDER BY cursor LIMIT ?)
			SELECT max(cursor) FROM head WHERE cursor < coalesce((SELECT min(cursor) FROM head WHERE stored_ns >= ?), 9223372036854775807)`,
			limit, before.UnixNano()).Scan(&upTo); err != nil {
			return err
		}
		if !upTo.Valid {
			return nil
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM tmc_events WHERE cursor <= ?", upTo.Int64)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE tmc_event_log SET pruned = max(pruned, ?) WHERE id = 1", upTo.Int64)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return int(n), nil
}

// ConsumerCursor implements events.Store.
func (s *Store) ConsumerCursor(ctx context.Context, name string) (int64, error) {
	var c int64
	switch err := s.r.QueryRowContext(ctx, "SELECT cursor FROM tmc_event_consumers WHERE name = ?", name).Scan(&c); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("consumer %q: %w", name, events.ErrNoConsumer)
	case err != nil:
		return 0, fmt.Errorf("read consumer %q: %w", name, err)
	}
	return c, nil
}

// CommitConsumer implements events.Store.
func (s *Store) CommitConsumer(ctx context.Context, name string, cursor int64, now time.Time) (int64, error) {
	var c int64
	err := s.w.QueryRowContext(ctx, `INSERT INTO tmc_event_consumers (name, cursor, updated_ns) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET cursor = max(cursor, excluded.cursor),
			updated_ns = CASE WHEN excluded.cursor > cursor THEN excluded.updated_ns ELSE updated_ns END
		RETURNING cursor`, name, cursor, now.UnixNano()).Scan(&c)
	if err != nil {
		return 0, markFull(fmt.Errorf("commit consumer %q: %w", name, err))
	}
	return c, nil
}
