// Package jobqueue is servicecenterd's job engine: a River client
// (github.com/riverqueue/river) on the store's own database, so that a
// job is inserted, worked and completed in the same transactions as the
// store's writes. The rest of servicecenterd uses River's API directly for
// its workers (river.AddWorker on Workers, InsertTx, JobCompleteTx); this
// package adds only what River leaves to its user:
//
//   - the client for either store, the driver chosen by the backend:
//     riversqlite on the embedded SQLite file (SQLite), riverpgxv5 on the
//     PostgreSQL pool that every replica shares (Postgres);
//   - a check at start that River's tables are at the version this binary
//     was built for. River's schema is one version of the store's own
//     goose history (internal/store/schema.RiverVersion: rivermigrate run
//     from a Go migration), not a second history with a version table of
//     its own, so one migration step and one "database newer than this
//     binary" refusal cover every table;
//   - on SQLite, the rescue at start of the jobs a killed process left
//     running: one process owns a SQLite file (its lock file), so every
//     running job there is an orphan. On PostgreSQL, River's rescuer
//     (Config.RescueAfter) hands the jobs of a replica that died to the
//     others;
//   - periodic maintenance as River periodic jobs (Periodic), so that
//     pruning runs the same way everywhere: once per interval per
//     database, not once per replica;
//   - Run, which starts the client and stops it (StopAndCancel, bounded)
//     before the store closes.
//
// River's own telemetry: Config.Middleware and Config.Hooks reach River's
// client unchanged (for example rivercontrib/otelriver's middleware).
package jobqueue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// Defaults of Config.
const (
	// DefaultRescueAfter is how long a job may stay running before River's
	// rescuer takes it as abandoned by a replica that died.
	DefaultRescueAfter = time.Minute
	// DefaultPollInterval is how often a client looks for jobs without a
	// notification (SQLite has no LISTEN/NOTIFY; on PostgreSQL it is the
	// fallback when a notification is lost).
	DefaultPollInterval = time.Second
	// DefaultStopTimeout bounds Run's stop: the jobs still running then
	// are cancelled, and River runs them again later.
	DefaultStopTimeout = 10 * time.Second
	// fetchCooldown is the least time between two fetches of a producer
	// (River's default is 100 ms): a fetch fills the free workers, and
	// chunk jobs take milliseconds, so with River's default a replica
	// would send at most its workers' count of chunks per 100 ms.
	fetchCooldown = 5 * time.Millisecond
	// MinRescueAfter is the least RescueAfter: a job must have time to
	// make its TOP call before it may be taken from its replica.
	MinRescueAfter = time.Second
)

// Config configures a Queue.
type Config struct {
	// Queues are River's queues and their workers per replica (at least
	// one). Register their workers on Workers() before Run.
	Queues map[string]int
	// RescueAfter is how long a job may run before River's rescuer runs
	// it again elsewhere (it must be longer than any job takes): also the
	// jobs' timeout. 0 means DefaultRescueAfter.
	RescueAfter time.Duration
	// PollInterval is how often the client polls for new jobs; 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
	// StopTimeout bounds Run's stop; 0 means DefaultStopTimeout.
	StopTimeout time.Duration
	// Logger receives River's logs (warnings and errors); nil discards.
	Logger *slog.Logger
	// Middleware and Hooks are passed to River's client as they are (the
	// hook for River's tracing and metrics).
	Middleware []rivertype.Middleware
	// Hooks are River's global hooks.
	Hooks []rivertype.Hook
}

// Queue is a River client over a store's database, with its workers and
// periodic jobs. TTx is the database's transaction type (*sql.Tx on
// SQLite, pgx.Tx on PostgreSQL).
type Queue[TTx any] struct {
	client      *river.Client[TTx]
	workers     *river.Workers
	tasks       *periodicTasks
	logger      *slog.Logger
	stopTimeout time.Duration
	// beforeStart runs at Run, before the client starts (SQLite's rescue).
	beforeStart func(ctx context.Context) error
}

// SQLite returns a Queue on the SQLite store's write handle (db: River's
// SQLite driver wants a pool of one connection, which the store's write
// handle is, so River's transactions and the store's take turns).
func SQLite(ctx context.Context, db *sql.DB, cfg Config) (*Queue[*sql.Tx], error) {
	q, err := newQueue(ctx, riversqlite.New(db), cfg, true)
	if err != nil {
		return nil, err
	}
	q.beforeStart = func(ctx context.Context) error { return rescueOrphans(ctx, db) }
	return q, nil
}

// Postgres returns a Queue on the PostgreSQL store's pool.
func Postgres(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Queue[pgx.Tx], error) {
	return newQueue(ctx, riverpgxv5.New(pool), cfg, false)
}

func newQueue[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], cfg Config, pollOnly bool) (*Queue[TTx], error) {
	if len(cfg.Queues) == 0 {
		return nil, errors.New("jobqueue: no queues")
	}
	if cfg.RescueAfter == 0 {
		cfg.RescueAfter = DefaultRescueAfter
	}
	if cfg.RescueAfter < MinRescueAfter {
		return nil, fmt.Errorf("jobqueue: rescue after %v: must be at least %v", cfg.RescueAfter, MinRescueAfter)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := checkSchema(ctx, driver); err != nil {
		return nil, err
	}
	queues := map[string]river.QueueConfig{MaintenanceQueue: {MaxWorkers: 1}}
	for name, n := range cfg.Queues {
		if name == MaintenanceQueue {
			return nil, fmt.Errorf("jobqueue: queue %q is the periodic jobs'", name)
		}
		queues[name] = river.QueueConfig{MaxWorkers: n}
	}
	workers := river.NewWorkers()
	tasks := &periodicTasks{fns: map[string]func(context.Context) error{}}
	river.AddWorker(workers, &periodicWorker{tasks: tasks, logger: logger})
	client, err := river.NewClient(driver, &river.Config{
		Queues:               queues,
		Workers:              workers,
		RescueStuckJobsAfter: cfg.RescueAfter,
		JobTimeout:           cfg.RescueAfter,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(cfg.PollInterval, fetchCooldown),
		PollOnly:             pollOnly,
		Logger:               logger,
		Middleware:           cfg.Middleware,
		Hooks:                cfg.Hooks,
		// River's job table keeps finished jobs a day for inspection;
		// the store keeps the outcomes that matter.
		CompletedJobRetentionPeriod: 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("jobqueue: %w", err)
	}
	return &Queue[TTx]{client: client, workers: workers, tasks: tasks, logger: logger, stopTimeout: cfg.StopTimeout}, nil
}

// checkSchema refuses a database whose River tables are not at the
// version the store's migrations put there (schema.RiverSchema): a store
// opened through internal/store is.
func checkSchema[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("jobqueue: %w", err)
	}
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("jobqueue: check River's schema: %w", err)
	}
	if !res.OK {
		return fmt.Errorf("jobqueue: River's schema is not migrated (%v): open the store first, which migrates it", res.Messages)
	}
	return nil
}

// Client is the River client: insert jobs with it (InsertTx, InsertManyTx
// in the store's transactions), cancel them, list them. It may be used
// before Run.
func (q *Queue[TTx]) Client() *river.Client[TTx] { return q.client }

// Workers is where workers are registered (river.AddWorker), before Run.
func (q *Queue[TTx]) Workers() *river.Workers { return q.workers }

// Run starts the client, works jobs until ctx ends, then stops it: jobs
// still running after the stop timeout are cancelled (River runs them
// again later, here or on another replica). It returns when the client
// has stopped, so the store may be closed then.
func (q *Queue[TTx]) Run(ctx context.Context) error {
	if q.beforeStart != nil {
		if err := q.beforeStart(ctx); err != nil {
			if ctx.Err() != nil {
				return nil // stopped before it started
			}
			return err
		}
	}
	if err := q.client.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("jobqueue: start: %w", err)
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.stopTimeout)
	defer cancel()
	if err := q.client.Stop(stopCtx); err != nil {
		q.logger.Warn("jobqueue: jobs still running at stop; cancelling them", slog.String("error", err.Error()))
		hard, cancelHard := context.WithTimeout(context.WithoutCancel(ctx), q.stopTimeout)
		defer cancelHard()
		if err := q.client.StopAndCancel(hard); err != nil {
			return fmt.Errorf("jobqueue: stop: %w", err)
		}
	}
	return nil
}

// rescueOrphans makes the jobs that a killed process left running on a
// SQLite file available again, with their attempt counted. Only this
// process uses the file (its lock file says so), so none of them is being
// worked.
func rescueOrphans(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `UPDATE river_job SET state = 'available', scheduled_at = datetime('now', 'subsec')
		WHERE state = 'running'`)
	if err != nil {
		return fmt.Errorf("jobqueue: rescue the jobs of a previous run: %w", err)
	}
	return nil
}
