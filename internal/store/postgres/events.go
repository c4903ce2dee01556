package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/servicecenterd/servicecenterd/internal/events"
)

var _ events.Store = (*Store)(nil)

const eventColumns = `cursor, message_id, topic, user_id, user_nick, publish_ns, publisher_app_key, data_id, content, stored_ns`

// InsertEvent implements events.Store. One transaction, durable at commit
// (the server's synchronous_commit, not relaxed: TMC forgets a message
// once it is confirmed):
//
//  1. a message already stored answers its cursor, without a write;
//  2. UPDATE tmc_event_log SET last = last + 1 takes the next cursor and
//     holds the row's lock until commit, so the next insert on any replica
//     waits and takes a higher cursor only after this one has committed:
//     cursors are handed out in commit order, and a reader that saw
//     cursor c never later finds a lower one;
//  3. INSERT ... ON CONFLICT (message_id) DO NOTHING: a replica that
//     stored the same message meanwhile wins, and this transaction rolls
//     back, its cursor unused.
func (s *Store) InsertEvent(ctx context.Context, e events.Event) (cursor int64, stored bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		switch err := tx.QueryRow(ctx, "SELECT cursor FROM tmc_events WHERE message_id = $1", e.MessageID).Scan(&cursor); {
		case err == nil:
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if err := tx.QueryRow(ctx, "UPDATE tmc_event_log SET last = last + 1 WHERE id = 1 RETURNING last").Scan(&cursor); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO tmc_events (`+eventColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (message_id) DO NOTHING`,
			cursor, e.MessageID, e.Topic, e.UserID, e.UserNick, nanos(e.PublishTime), e.PublisherAppKey, e.DataID,
			nonNil(e.Content), nanos(e.StoredTime))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errDuplicate
		}
		stored = true
		return nil
	})
	if errors.Is(err, errDuplicate) {
		// Another replica committed it while this one waited for the
		// counter: answer its cursor.
		err = s.pool.QueryRow(ctx, "SELECT cursor FROM tmc_events WHERE message_id = $1", e.MessageID).Scan(&cursor)
		if errors.Is(err, pgx.ErrNoRows) {
			cursor, err = 0, nil
		}
	}
	if err != nil {
		return 0, false, markFull(fmt.Errorf("store TMC message %d: %w", e.MessageID, err))
	}
	return cursor, stored, nil
}

// errDuplicate rolls back an insert that lost to another replica's.
var errDuplicate = errors.New("stored meanwhile")

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// EventsAfter implements events.Store.
func (s *Store) EventsAfter(ctx context.Context, q events.Query) ([]events.Event, error) {
	query := "SELECT " + eventColumns + " FROM tmc_events WHERE cursor > $1"
	args := []any{q.After}
	if len(q.Topics) > 0 {
		args = append(args, q.Topics)
		query += " AND topic = ANY($2)"
	}
	args = append(args, q.Limit)
	query += fmt.Sprintf(" ORDER BY cursor LIMIT $%d", len(args))
	rows, err := s.pool.Query(ctx, query, args...)
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
		e.PublishTime = fromNanos(publish)
		e.StoredTime = fromNanos(storedNS)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// EventBounds implements events.Store. It reads the committed counter:
// every cursor up to last has committed (see InsertEvent).
func (s *Store) EventBounds(ctx context.Context) (events.Bounds, error) {
	var b events.Bounds
	if err := s.pool.QueryRow(ctx, "SELECT last, pruned FROM tmc_event_log WHERE id = 1").Scan(&b.Last, &b.Pruned); err != nil {
		return b, fmt.Errorf("read event log bounds: %w", err)
	}
	return b, nil
}

// PruneEvents implements events.Store: one transaction deleting the
// oldest events up to the first one stored at or after before. Replicas
// pruning at once each count only the rows they deleted.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var upTo *int64
		if err := tx.QueryRow(ctx, `WITH head AS (SELECT cursor, stored_ns FROM tmc_events ORDER BY cursor LIMIT $1)
			SELECT max(cursor) FROM head WHERE cursor < coalesce((SELECT min(cursor) FROM head WHERE stored_ns >= $2), $3)`,
			limit, nanos(before), int64(math.MaxInt64)).Scan(&upTo); err != nil {
			return err
		}
		if upTo == nil {
			return nil
		}
		tag, err := tx.Exec(ctx, "DELETE FROM tmc_events WHERE cursor <= $1", *upTo)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, "UPDATE tmc_event_log SET pruned = greatest(pruned, $1) WHERE id = 1", *upTo)
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
	switch err := s.pool.QueryRow(ctx, "SELECT cursor FROM tmc_event_consumers WHERE name = $1", name).Scan(&c); {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, fmt.Errorf("consumer %q: %w", name, events.ErrNoConsumer)
	case err != nil:
		return 0, fmt.Errorf("read consumer %q: %w", name, err)
	}
	return c, nil
}

// CommitConsumer implements events.Store.
func (s *Store) CommitConsumer(ctx context.Context, name string, cursor int64, now time.Time) (int64, error) {
	var c int64
	err := s.pool.QueryRow(ctx, `INSERT INTO tmc_event_consumers AS c (name, cursor, updated_ns) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET cursor = greatest(c.cursor, excluded.cursor),
			updated_ns = CASE WHEN excluded.cursor > c.cursor THEN excluded.updated_ns ELSE c.updated_ns END
		RETURNING cursor`, name, cursor, nanos(now)).Scan(&c)
	if err != nil {
		return 0, markFull(fmt.Errorf("commit consumer %q: %w", name, err))
	}
	return c, nil
}
