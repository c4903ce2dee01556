package idempotency

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Pruning defaults.
const (
	// DefaultPruneEvery is how often a Pruner deletes expired keys. An
	// expired key is already ignored by a claim; pruning only frees space.
	DefaultPruneEvery = 10 * time.Minute
	// DefaultPruneBatch is how many keys one store call deletes at most,
	// so that a claim waiting behind it waits milliseconds.
	DefaultPruneBatch = 1000
)

// Pruner deletes expired keys in bounded batches: Prune is what the
// server's periodic job (internal/jobqueue) calls every Every.
type Pruner struct {
	store  Store
	every  time.Duration
	batch  int
	logger *slog.Logger
	pruned func(int)
}

// NewPruner returns a Pruner of store's expired keys; every and batch of
// 0 are the defaults, pruned (when not nil) is told each prune's count.
func NewPruner(store Store, every time.Duration, batch int, logger *slog.Logger, pruned func(int)) *Pruner {
	if every <= 0 {
		every = DefaultPruneEvery
	}
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pruner{store: store, every: every, batch: batch, logger: logger, pruned: pruned}
}

// Prune deletes every key expired at now, a batch at a time, checking ctx
// between batches, and returns how many it deleted.
func (p *Pruner) Prune(ctx context.Context, now time.Time) (int, error) {
	total := 0
	defer func() {
		if total > 0 {
			if p.pruned != nil {
				p.pruned(total)
			}
			p.logger.InfoContext(ctx, "idempotency: expired keys deleted", slog.Int("keys", total))
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := p.store.PruneIdempotencyKeys(ctx, now, p.batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune idempotency keys expired at %s: %w", now.Format(time.RFC3339), err)
		}
		if n < p.batch {
			return total, nil
		}
	}
}

// Every is how often the keys should be pruned.
func (p *Pruner) Every() time.Duration { return p.every }
