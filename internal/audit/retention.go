package audit

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Retention defaults.
const (
	// DefaultPruneEvery is the default of RetentionConfig.Every.
	DefaultPruneEvery = time.Hour
	// DefaultPruneBatch is how many events one Prune call deletes at most:
	// small enough that a write waiting behind it (an audit event of a
	// call in progress) waits milliseconds, not seconds.
	DefaultPruneBatch = 1000
)

// RetentionConfig says which events Retention drops and how.
type RetentionConfig struct {
	// Store is where the events are.
	Store Pruner
	// Keep is how long events are kept; events whose Time is older than
	// Keep are deleted. It must be > 0 (0 keeps events forever: then do
	// not run a Retention at all).
	Keep time.Duration
	// Every is the time between prunes; 0 is DefaultPruneEvery.
	Every time.Duration
	// Batch is the most events one Prune call deletes; 0 is
	// DefaultPruneBatch.
	Batch int
	// Logger logs each prune that deleted something and each failure.
	Logger *slog.Logger
	// Pruned, when set, is told how many events each prune deleted (a
	// metric).
	Pruned func(n int)
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Retention deletes events older than the retention period, in bounded
// batches (PruneOnce, run periodically).
type Retention struct {
	cfg RetentionConfig
}

// NewRetention returns a Retention for cfg, with its defaults filled in.
func NewRetention(cfg RetentionConfig) (*Retention, error) {
	if cfg.Store == nil || cfg.Keep <= 0 {
		return nil, fmt.Errorf("audit retention: a store and a positive period are required (got %v)", cfg.Keep)
	}
	if cfg.Every <= 0 {
		cfg.Every = DefaultPruneEvery
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultPruneBatch
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Retention{cfg: cfg}, nil
}

// Every is the time between prunes. The server runs PruneOnce at start
// and then every Every as a periodic job of internal/jobqueue (once per
// database, whichever replica takes it); a failed prune is logged there
// and done by the next one.
func (r *Retention) Every() time.Duration { return r.cfg.Every }

// PruneOnce deletes every event older than cfg.Keep, cfg.Batch at a
// time, checking ctx between batches; it returns how many it deleted.
func (r *Retention) PruneOnce(ctx context.Context) (int, error) {
	before := r.cfg.Now().Add(-r.cfg.Keep)
	total := 0
	defer func() {
		if total > 0 {
			if r.cfg.Pruned != nil {
				r.cfg.Pruned(total)
			}
			r.cfg.Logger.InfoContext(ctx, "audit retention: old events deleted",
				slog.Int("events", total), slog.Time("before", before))
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := r.cfg.Store.Prune(ctx, before, r.cfg.Batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune audit events before %s: %w", before.Format(time.RFC3339), err)
		}
		if n < r.cfg.Batch {
			return total, nil
		}
	}
}
