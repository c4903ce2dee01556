// Package events is servicecenterd's durable log of the messages TOP's
// message channel (TMC) delivered: the model (Event), the Store interface
// the backends implement (internal/store/sqlite and internal/store/postgres;
// package eventstest holds the cases every Store must pass), the Log that
// stores messages deduplicated and wakes watchers, and the reading side of
// WatchEvents and ListEvents (Reader).
//
// Every stored event gets a cursor: store-wide, strictly increasing, in
// the order the events were committed. A reader that has seen every event
// up to cursor c and later asks for the events after c gets each event
// committed since exactly once, on any replica. On PostgreSQL, where
// several replicas insert at once, the cursor is not a sequence (sequence
// values commit out of order, and a reader could move past a value that
// commits later) but a single-row counter incremented inside the insert
// transaction: its row lock orders the inserts, so cursors are handed out
// in commit order (see internal/store/postgres/events.go).
package events

import (
	"context"
	"errors"
	"time"
)

// Event is one stored TMC data message.
type Event struct {
	// Cursor is the store's position of the event, given at commit:
	// strictly increasing in commit order, never reused. 0 until stored.
	Cursor int64
	// MessageID is TMC's outgoing message id (`id`), the dedup key: the
	// channel redelivers unconfirmed messages, and several replicas may
	// receive the same one; it is stored once.
	MessageID int64
	// Topic is TMC's `topic`, e.g. tmall_fuwu_WorkcardInfo.
	Topic string
	// UserID is TMC's `userid`, the seller's user id (0 when absent).
	UserID int64
	// UserNick is TMC's `nick`.
	UserNick string
	// PublishTime is TMC's `time`, when the message was published.
	PublishTime time.Time
	// PublisherAppKey is TMC's `publisher`.
	PublisherAppKey string
	// DataID is TMC's `dataid`, as text.
	DataID string
	// Content is TMC's `content`, as received (gunzipped), normally JSON.
	Content []byte
	// StoredTime is when servicecenterd stored the event; retention
	// counts from it.
	StoredTime time.Time
}

// Bounds are the ends of the stored log.
type Bounds struct {
	// Last is the cursor of the newest event ever stored (0: none yet).
	// Every event up to Last has committed.
	Last int64
	// Pruned is the highest cursor retention removed (0: none): every
	// event after Pruned, up to Last, is still stored.
	Pruned int64
}

// Query selects events for Store.EventsAfter.
type Query struct {
	// After selects events with Cursor > After.
	After int64
	// Topics, when not empty, selects events of these topics only.
	Topics []string
	// Limit is how many events to return at most; it is always > 0.
	Limit int
}

// Match reports whether e satisfies the query's filters (not its limit).
func (q Query) Match(e Event) bool {
	if e.Cursor <= q.After {
		return false
	}
	if len(q.Topics) == 0 {
		return true
	}
	for _, t := range q.Topics {
		if t == e.Topic {
			return true
		}
	}
	return false
}

// ErrNoConsumer is the answer about a consumer that never committed a
// cursor.
var ErrNoConsumer = errors.New("no such consumer")

// Store keeps the events durably. It must be safe for concurrent use, by
// several processes sharing one database where the backend allows it.
type Store interface {
	// InsertEvent stores e (its Cursor ignored) unless an event with its
	// MessageID is stored, in one durable commit: when it returns nil the
	// event survives a crash of the machine. It returns the event's
	// cursor and whether this call stored it (false: a duplicate, and the
	// cursor is the one stored before; 0 when that one was pruned).
	InsertEvent(ctx context.Context, e Event) (cursor int64, stored bool, err error)
	// EventsAfter returns up to q.Limit events matching q, in cursor
	// order (oldest first).
	EventsAfter(ctx context.Context, q Query) ([]Event, error)
	// EventBounds returns the ends of the log.
	EventBounds(ctx context.Context) (Bounds, error)
	// PruneEvents deletes up to limit of the oldest events, in cursor
	// order, as long as their StoredTime is before before: it stops at
	// the first newer one, so that every event after Bounds.Pruned stays
	// stored. It returns how many it deleted.
	PruneEvents(ctx context.Context, before time.Time, limit int) (int, error)
	// ConsumerCursor returns the cursor the named consumer committed last,
	// or ErrNoConsumer.
	ConsumerCursor(ctx context.Context, name string) (int64, error)
	// CommitConsumer moves the named consumer's committed cursor forward to
	// cursor (creating the consumer); a cursor at or below the committed
	// one leaves it unchanged. It returns the committed cursor after the
	// call.
	CommitConsumer(ctx context.Context, name string, cursor int64, now time.Time) (int64, error)
}
