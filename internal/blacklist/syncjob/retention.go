package syncjob

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Entry retention defaults.
const (
	// RetentionEvery is how often the server's periodic job runs PruneEntries.
	RetentionEvery = time.Hour
	// RetentionBatch is how many entries one store call deletes at most,
	// so that a chunk write waiting behind it waits milliseconds.
	RetentionBatch = 10000
)

// PruneEntries deletes the entries of the jobs that finished more than
// --job-retention before now, RetentionBatch at a time, checking ctx
// between batches, and returns how many it deleted; nothing with a
// retention of 0. The server runs it as a periodic River job
// (server/bulk.go schedulePruning), once per RetentionEvery across the
// replicas.
func (m *Manager) PruneEntries(ctx context.Context, now time.Time) (int, error) {
	keep := m.cfg.Settings.JobRetention
	if keep <= 0 {
		return 0, nil
	}
	before := now.Add(-keep)
	total := 0
	defer func() {
		if total > 0 {
			m.logger.InfoContext(ctx, "job retention: entries of finished jobs deleted",
				slog.Int("entries", total), slog.Time("finished_before", before))
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := m.store.PruneJobEntries(ctx, before, RetentionBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune entries of jobs finished before %s: %w", before.Format(time.RFC3339), err)
		}
		if n < RetentionBatch {
			return total, nil
		}
	}
}
