package server

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
)

// bulk is the durable bulk blacklist sync: the job manager that imports
// and delivers jobs, over the store in --data-dir.
type bulk struct {
	jobs *syncjob.Manager
}

// startBulk builds the job manager over st; uncommitted imports of a
// previous run are dropped.
func startBulk(ctx context.Context, settings syncjob.Settings, st syncjob.Store, top syncjob.Syncer, tp trace.TracerProvider, logger *slog.Logger) (*bulk, error) {
	jobs, err := syncjob.New(ctx, syncjob.Config{
		Store: st, TOP: top, Settings: settings, TracerProvider: tp,
		Logger: logger.With(slog.String("component", "bulksync")),
	})
	if err != nil {
		return nil, err
	}
	return &bulk{jobs: jobs}, nil
}

// run delivers jobs until ctx ends.
func (b *bulk) run(ctx context.Context) error { return b.jobs.Run(ctx) }

// BlacklistJobs is the bulk blacklist sync job manager (for metrics and
// audit hooks: see syncjob.Manager.Counts and syncjob.Config.Observer).
func (s *Server) BlacklistJobs() *syncjob.Manager { return s.bulk.jobs }
