package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

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
func startBulk(ctx context.Context, settings syncjob.Settings, st store.Store, top syncjob.Syncer, tp trace.TracerProvider,
	logger *slog.Logger) (*bulk, error) {
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
		return newBulk(ctx, settings, q, st, top, tp, logger)
	case *postgres.Store:
		q, err := jobqueue.Postgres(ctx, st.Pool(), qcfg)
		if err != nil {
			return nil, err
		}
		return newBulk(ctx, settings, q, st, top, tp, logger)
	}
	return nil, fmt.Errorf("bulk sync: no job engine for the %s store", store.Backend(st))
}

func newBulk[TTx any](ctx context.Context, settings syncjob.Settings, q *jobqueue.Queue[TTx], st syncjob.TxStore[TTx],
	top syncjob.Syncer, tp trace.TracerProvider, logger *slog.Logger) (*bulk, error) {
	jobs, err := syncjob.New(ctx, syncjob.Config{
		Store: st, TOP: top, Settings: settings, TracerProvider: tp,
		Engine: syncjob.NewRiver(st, q.Client(), q.Workers()),
		Logger: logger.With(slog.String("component", "bulksync")),
	})
	if err != nil {
		return nil, err
	}
	return &bulk{jobs: jobs, queue: q.Run, periodic: q.Periodic}, nil
}

// schedulePruning runs the stores' retention as periodic jobs of the job
// engine, each once per interval across the replicas that share the
// database: the audit trail (--audit-retention), the expired idempotency
// keys (--idempotency-ttl), the entries of finished sync jobs
// (--job-retention) and the TMC event log (--event-retention).
func (s *Server) schedulePruning() error {
	var errs []error
	if s.retention != nil {
		errs = append(errs, s.bulk.periodic("audit_retention", s.retention.Every(), func(ctx context.Context) error {
			_, err := s.retention.PruneOnce(ctx)
			return err
		}))
	}
	errs = append(errs, s.bulk.periodic("idempotency_keys", s.keyPruner.Every(), pruneNow(s.keyPruner.Prune)))
	if s.cfg.Sync.JobRetention > 0 {
		errs = append(errs, s.bulk.periodic("job_retention", syncjob.RetentionEvery, pruneNow(s.bulk.jobs.PruneEntries)))
	}
	if s.cfg.Events.Retention > 0 {
		errs = append(errs, s.bulk.periodic("event_retention", eventPruneEvery, pruneNow(s.events.log.Prune)))
	}
	return errors.Join(errs...)
}

// pruneNow is a periodic job's function that prunes what is due now.
func pruneNow(prune func(ctx context.Context, now time.Time) (int, error)) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := prune(ctx, time.Now())
		return err
	}
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
