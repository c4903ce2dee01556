package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/jobqueue"
	"github.com/servicecenterd/servicecenterd/internal/store"
	"github.com/servicecenterd/servicecenterd/internal/store/postgres"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
)

// bulk is the durable bulk blacklist sync and the periodic maintenance:
// the job manager that imports jobs, and the job engine (River, through
// internal/jobqueue) on the store's database that delivers their chunks
// and runs the periodic jobs.
type bulk struct {
	jobs *syncjob.Manager
	// queue runs River's client until its context ends.
	queue func(ctx context.Context) error
	// periodic registers a periodic job (jobqueue.Queue.Periodic).
	periodic func(name string, every time.Duration, fn func(context.Context) error) error
}

// startBulk builds the job engine on st's database (riversqlite on
// SQLite, riverpgxv5 on PostgreSQL) and the job manager over st;
// uncommitted imports of a previous run are dropped.
func startBulk(ctx context.Context, settings syncjob.Settings, st store.Store, top syncjob.Syncer, logger *slog.Logger) (*bulk, error) {
	qcfg := jobqueue.Config{
		Queues:       map[string]int{syncjob.QueueName: settings.Workers()},
		RescueAfter:  settings.RescueAfter,
		PollInterval: settings.PollInterval,
		Logger:       logger.With(slog.String("component", "jobqueue")),
	}
	switch st := st.(type) {
	case *sqlite.Store:
		q, err := jobqueue.SQLite(ctx, st.DB(), qcfg)
		if err != nil {
			return nil, err
		}
		return newBulk(ctx, settings, q, st, top, logger)
	case *postgres.Store:
		q, err := jobqueue.Postgres(ctx, st.Pool(), qcfg)
		if err != nil {
			return nil, err
		}
		return newBulk(ctx, settings, q, st, top, logger)
	}
	return nil, fmt.Errorf("bulk sync: no job engine for the %s store", store.Backend(st))
}

func newBulk[TTx any](ctx context.Context, settings syncjob.Settings, q *jobqueue.Queue[TTx], st syncjob.TxStore[TTx],
	top syncjob.Syncer, logger *slog.Logger) (*bulk, error) {
	jobs, err := syncjob.New(ctx, syncjob.Config{
		Store: st, TOP: top, Settings: settings,
		Engine: syncjob.NewRiver(st, q.Client(), q.Workers()),
		Logger: logger.With(slog.String("component", "bulksync")),
	})
	if err != nil {
		return nil, err
	}
	return &bulk{jobs: jobs, queue: q.Run, periodic: q.Periodic}, nil
}

// pruneAudit runs the audit retention as a periodic job.
func (b *bulk) pruneAudit(r *audit.Retention) error {
	return b.periodic("audit_retention", r.Every(), func(ctx context.Context) error {
		_, err := r.PruneOnce(ctx)
		return err
	})
}

// run delivers jobs and runs the periodic jobs until ctx ends; it returns
// once River's client has stopped. The watches end as soon as ctx does
// (the Manager's Run), not after River's stop.
func (b *bulk) run(ctx context.Context) error {
	watches := make(chan error, 1)
	go func() { watches <- b.jobs.Run(ctx) }()
	return errors.Join(b.queue(ctx), <-watches)
}

// BlacklistJobs is the bulk blacklist sync job manager (for metrics and
// audit hooks: see syncjob.Manager.Counts and syncjob.Config.Observer).
func (s *Server) BlacklistJobs() *syncjob.Manager { return s.bulk.jobs }
