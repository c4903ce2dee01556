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

// Pruner deletes expired keys, in bounded batches, at start and then
// periodically. (Once internal/jobqueue runs periodic jobs, Prune is what
// such a job calls.)
type Pruner struct {
	store  Store
	every  time.Duration
	batch  int
	logger *slog.Logger
	now    func() time.Time
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
	return &Pruner{store: store, every: every, batch: batch, logger: logger, now: time.Now, pruned: pruned}
}

// Run prunes at once and then every period until ctx is done; a failure
// is logged and tried again at the next tick.
func (p *Pruner) Run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		if _, err := p.Prune(ctx, p.now()); err != nil && ctx.Err() == nil {
			p.logger.ErrorContext(ctx, "idempotency: pruning expired keys failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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
