package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/servicecenterd/servicecenterd/internal/config"
	"github.com/servicecenterd/servicecenterd/internal/logbuffer"
	"github.com/servicecenterd/servicecenterd/internal/quota/redisquota"
)

// LoadConfig resolves the serve settings from args and the environment and
// validates them (reading secret files).
func LoadConfig(args []string, stderr io.Writer) (Config, *config.Result, error) {
	var cfg Config
	res, err := config.Loader{Name: "servicecenterd serve", Output: stderr}.Load(&cfg, args)
	if err != nil {
		return cfg, nil, err
	}
	if len(res.Args) > 0 {
		return cfg, nil, fmt.Errorf("unexpected arguments %q", res.Args)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, fmt.Errorf("invalid settings:\n%w", err)
	}
	return cfg, res, nil
}

// logBufferSize is how many bytes of log lines wait at most before they
// are written (about 250 call lines).
const logBufferSize = 64 << 10

// RunCommand is `servicecenterd serve [flags]` (also plain
// `servicecenterd`): it resolves the settings (flags > SERVICECENTERD_*
// env > YAML file > defaults), logs them with secrets redacted, and runs
// the server until the context ends. Logs go to stderr, in batches
// (--log-flush-interval, internal/logbuffer), all written before it
// returns. scdbench's -profile mode runs it in-process.
func RunCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, res, err := LoadConfig(args, stderr)
	if err != nil {
		return err
	}
	logs := logbuffer.New(stderr, cfg.Process.LogFlushInterval, logBufferSize)
	defer logs.Close() // the last lines, whatever Run returns
	logger := cfg.Process.NewLogger(logs)
	attrs := make([]any, 0, len(res.Values)+2)
	if res.File != "" {
		attrs = append(attrs, slog.String("config_file", res.File))
	}
	for _, v := range res.Values {
		attrs = append(attrs, slog.String(v.Key, v.Shown))
	}
	attrs = append(attrs, slog.String("gogc", tuneGC(os.LookupEnv)))
	logger.Info("settings", attrs...)
	// go-redis logs through a process-wide logger; give it ours.
	redis.SetLogger(redisquota.Printer{Logger: logger})
	var idle sync.WaitGroup
	defer idle.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle.Go(func() { _ = newIdleHeap().run(ctx, idleCheckInterval) })
	return Run(ctx, cfg, logger)
}
