package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/store"
)

// bulk is the durable bulk blacklist sync: the job manager that imports
// and delivers jobs, over the store in --data-dir.
type bulk struct {
	jobs *syncjob.Manager
}

// validateBulk checks the bulk sync settings and fills the default
// --data-dir.
func (c *Config) validateBulk() []error {
	var errs []error
	if c.DataDir == "" {
		dir, err := DefaultDataDir()
		if err != nil {
			errs = append(errs, fmt.Errorf("--data-dir has no default here (%w): set it", err))
		}
		c.DataDir = dir
	}
	if c.SyncChunkSize < 1 || c.SyncChunkSize > syncjob.MaxChunkSize {
		errs = append(errs, fmt.Errorf("--sync-chunk-size must be 1 to %d (TOP's entries per call)", syncjob.MaxChunkSize))
	}
	if c.SyncConcurrentJobs < 1 || c.SyncConcurrentJobs > 64 {
		errs = append(errs, errors.New("--sync-concurrent-jobs must be 1 to 64"))
	}
	if c.SyncChunksInFlight < 1 || c.SyncChunksInFlight > 64 {
		errs = append(errs, errors.New("--sync-chunks-in-flight must be 1 to 64"))
	}
	return errs
}

// DefaultDataDir is where servicecenterd keeps its store unless --data-dir
// says otherwise: $XDG_DATA_HOME/servicecenterd, else
// ~/.local/share/servicecenterd (the XDG base directory default); on macOS
// and Windows, servicecenterd in the user config directory (~/Library/
// Application Support, %AppData%). Not a cache directory: the store holds
// jobs that must not be lost.
func DefaultDataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "servicecenterd"), nil
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		d, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(d, "servicecenterd"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "share", "servicecenterd"), nil
}

// WithStoreOptions passes opts to store.Open when New opens the store in
// --data-dir (tests cap its size with store.WithMaxPages to fill it).
func WithStoreOptions(opts ...store.Option) Option {
	return func(o *options) { o.storeOptions = append(o.storeOptions, opts...) }
}

// openStore opens (creating, migrating) the store in cfg.DataDir: the
// bulk sync's jobs and the audit trail.
func openStore(ctx context.Context, cfg Config, logger *slog.Logger, opts ...store.Option) (*store.SQLite, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	path := filepath.Join(cfg.DataDir, store.FileName)
	st, err := store.Open(ctx, path, opts...)
	if err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	version, _ := st.SchemaVersion(ctx)
	logger.Info("store opened", slog.String("path", path), slog.Int("schema_version", version))
	return st, nil
}

// startBulk builds the job manager over st; uncommitted imports of a
// previous run are dropped.
func startBulk(ctx context.Context, cfg Config, st syncjob.Store, top syncjob.Syncer, logger *slog.Logger) (*bulk, error) {
	jobs, err := syncjob.New(ctx, syncjob.Config{
		Store: st, TOP: top, ChunkSize: cfg.SyncChunkSize,
		ConcurrentJobs: cfg.SyncConcurrentJobs, ChunksInFlight: cfg.SyncChunksInFlight,
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

// longStreams are the bulk sync's streams, which last as long as their
// work (an import of millions of entries, a watch until the job ends):
// --default-deadline does not apply to them.
func longStreams() []string {
	return []string{
		scv1.LogisticsService_ImportUserBlacklist_FullMethodName,
		scv1.LogisticsService_WatchBlacklistSyncJob_FullMethodName,
	}
}
