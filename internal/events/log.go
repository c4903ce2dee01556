package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of LogConfig's zero values.
const (
	// DefaultPollInterval is how often a Log reads the store's newest
	// cursor to learn of events other replicas committed: the bound of a
	// watcher's delay for them (events of this replica wake watchers at
	// once).
	DefaultPollInterval = 200 * time.Millisecond
	// DefaultBatch is how many events a watcher reads per query.
	DefaultBatch = 256
)

// Errors of the reading side, each wrapped with the cursors involved.
var (
	// ErrCursorExpired: the events after the cursor were partly removed
	// by retention; reading on would skip some.
	ErrCursorExpired = errors.New("cursor older than the event retention")
	// ErrCursorAhead: the cursor is beyond the newest event stored.
	ErrCursorAhead = errors.New("cursor beyond the newest event")
)

// Metrics receives the Log's events; internal/metrics implements it.
// Topics are the channel's topic names, a set fixed by the app's
// subscriptions.
type Metrics interface {
	// Stored reports a message stored for the first time; Duplicate one
	// that was stored already (a redelivery, or another replica's).
	Stored(topic string)
	Duplicate(topic string)
	// StoreFailed reports a message the store refused (the channel
	// redelivers it).
	StoreFailed(topic string)
	// Pruned reports events retention deleted.
	Pruned(n int)
}

type nopMetrics struct{}

func (nopMetrics) Stored(string)      {}
func (nopMetrics) Duplicate(string)   {}
func (nopMetrics) StoreFailed(string) {}
func (nopMetrics) Pruned(int)         {}

// LogConfig configures a Log.
type LogConfig struct {
	// Store keeps the events (required).
	Store Store
	// PollInterval is how often Run reads the newest cursor; 0 is
	// DefaultPollInterval.
	PollInterval time.Duration
	// Batch is how many events one read of a watcher returns at most; 0
	// is DefaultBatch.
	Batch int
	// Retention is how long events are kept (Prune); 0 keeps them for
	// ever.
	Retention time.Duration
	// Logger logs failures of the poll and of pruning; nil discards.
	Logger *slog.Logger
	// Metrics receives the Log's events; nil discards.
	Metrics Metrics
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Log stores TMC messages once each and lets any number of watchers
// follow them by cursor. Append wakes this process's watchers at once;
// Run polls the store's newest cursor so that they also wake, within
// PollInterval, for events other replicas committed. A watcher reads the
// store itself: the Log holds no events in memory, so a slow watcher
// costs nothing but its own reads.
type Log struct {
	cfg  LogConfig
	log  *slog.Logger
	met  Metrics
	last atomic.Int64 // the newest cursor known to have committed

	mu      sync.Mutex
	changed chan struct{} // closed (and replaced) when last grows
}

// NewLog returns a Log for cfg, with its defaults filled in.
func NewLog(cfg LogConfig) (*Log, error) {
	if cfg.Store == nil {
		return nil, errors.New("events: a store is required")
	}
	if cfg.PollInterval < 0 || cfg.Batch < 0 || cfg.Retention < 0 {
		return nil, errors.New("events: negative poll interval, batch or retention")
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Log{cfg: cfg, log: cfg.Logger, met: cfg.Metrics, changed: make(chan struct{})}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.met == nil {
		l.met = nopMetrics{}
	}
	return l, nil
}

// Store is the Log's store.
func (l *Log) Store() Store { return l.cfg.Store }

// Retention is how long events are kept (0: for ever).
func (l *Log) Retention() time.Duration { return l.cfg.Retention }

// Append stores e once (by its MessageID), stamped with the store time,
// durably, and wakes the watchers. It returns the event's cursor and
// whether this call stored it. When it returns nil the message may be
// confirmed to TMC.
func (l *Log) Append(ctx context.Context, e Event) (int64, bool, error) {
	e.StoredTime = l.cfg.Now()
	cursor, stored, err := l.cfg.Store.InsertEvent(ctx, e)
	switch {
	case err != nil:
		l.met.StoreFailed(e.Topic)
		return 0, false, err
	case stored:
		l.met.Stored(e.Topic)
		l.advance(cursor)
	default:
		l.met.Duplicate(e.Topic)
	}
	return cursor, stored, nil
}

// advance records that every cursor up to c has committed and wakes the
// watchers when that is news.
func (l *Log) advance(c int64) {
	for {
		old := l.last.Load()
		if c <= old {
			return
		}
		if l.last.CompareAndSwap(old, c) {
			break
		}
	}
	l.mu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *Log) changes() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Run reads the store's newest cursor every PollInterval, waking the
// watchers when another replica committed events, until ctx ends. A
// failed read is logged (once until reads work again) and retried.
func (l *Log) Run(ctx context.Context) {
	t := time.NewTicker(l.cfg.PollInterval)
	defer t.Stop()
	failing := false
	for {
		b, err := l.cfg.Store.EventBounds(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			l.log.WarnContext(ctx, "events: reading the newest cursor failed; watchers wait for this replica's events only until it works again",
				slog.String("error", err.Error()))
		case err == nil:
			if failing {
				l.log.InfoContext(ctx, "events: reading the newest cursor works again")
			}
			failing = false
			l.advance(b.Last)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Start says where a reading starts: after the cursor After; when
// FromNewest is set, at the newest event instead (only new ones).
type Start struct {
	After      int64
	FromNewest bool
}

// Begin checks a start against the store's bounds and returns the cursor
// to read after: ErrCursorExpired when retention removed events after it,
// ErrCursorAhead when it is beyond the newest event. After 0 reads from
// the oldest event kept.
func (l *Log) Begin(ctx context.Context, s Start) (int64, error) {
	b, err := l.cfg.Store.EventBounds(ctx)
	if err != nil {
		return 0, err
	}
	l.advance(b.Last)
	switch {
	case s.FromNewest:
		return b.Last, nil
	case s.After == 0:
		return b.Pruned, nil
	case s.After < b.Pruned:
		return 0, fmt.Errorf("%w: events up to cursor %d were removed (kept: after %d, up to %d); start again from 0 or a cursor at least %d",
			ErrCursorExpired, b.Pruned, b.Pruned, b.Last, b.Pruned)
	case s.After > b.Last:
		return 0, fmt.Errorf("%w: cursor %d, newest %d", ErrCursorAhead, s.After, b.Last)
	}
	return s.After, nil
}

// Read returns up to limit events of topics (empty: all) after cursor
// after, oldest first, and the store's bounds read before them. It fails
// with ErrCursorExpired when retention removed events after after.
func (l *Log) Read(ctx context.Context, after int64, topics []string, limit int) ([]Event, Bounds, error) {
	b, err := l.cfg.Store.EventBounds(ctx)
	if err != nil {
		return nil, b, err
	}
	if after < b.Pruned {
		return nil, b, fmt.Errorf("%w: events up to cursor %d were removed while reading after %d", ErrCursorExpired, b.Pruned, after)
	}
	evs, err := l.cfg.Store.EventsAfter(ctx, Query{After: after, Topics: topics, Limit: limit})
	return evs, b, err
}

// Watch calls send with the events of topics (empty: all) after cursor
// after, oldest first, in batches, then with each new batch as it
// commits, until ctx ends (it returns ctx's error), send fails (its
// error) or reading fails. Each event goes to send once, in cursor order.
func (l *Log) Watch(ctx context.Context, after int64, topics []string, send func([]Event) error) error {
	for {
		changed := l.changes()
		evs, b, err := l.Read(ctx, after, topics, l.cfg.Batch)
		if err != nil {
			return err
		}
		if len(evs) > 0 {
			if err := send(evs); err != nil {
				return err
			}
			after = evs[len(evs)-1].Cursor
			continue
		}
		// Nothing of these topics up to b.Last, which had committed
		// before the read: skip past it.
		after = max(after, b.Last)
		l.advance(b.Last)
		if l.last.Load() > after {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// Prune deletes the events older than the retention, batch at a time,
// checking ctx between batches, and returns how many it deleted. It does
// nothing when the retention is 0.
func (l *Log) Prune(ctx context.Context, now time.Time) (int, error) {
	if l.cfg.Retention <= 0 {
		return 0, nil
	}
	before := now.Add(-l.cfg.Retention)
	const batch = 1000
	total := 0
	defer func() {
		if total > 0 {
			l.met.Pruned(total)
			l.log.InfoContext(ctx, "events: retention deleted old events", slog.Int("events", total), slog.Time("before", before))
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := l.cfg.Store.PruneEvents(ctx, before, batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune events before %s: %w", before.Format(time.RFC3339), err)
		}
		if n < batch {
			return total, nil
		}
	}
}
