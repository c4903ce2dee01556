package redisquota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/servicecenterd/servicecenterd/internal/config"
)

// Settings are the shared quota's settings of `servicecenterd serve`:
// flags, SERVICECENTERD_* variables and YAML keys (internal/config).
// Without URL, the quota, bans and rate limits stay in the process.
type Settings struct {
	// URL is the Redis the replicas share.
	URL string `flag:"redis-url" secret:"true" help:"Redis URL that replicas share the TOP quota (--top-rate-limit is then the app's rate for all replicas together), the TOP bans and the per-client rate limits through: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or rediss:// for TLS (go-redis's parameters, e.g. ?dial_timeout=1s). Empty: all in this process. When Redis cannot be reached a replica keeps serving on its local share of the quota (see --quota-replicas) and returns to Redis when it answers."`
	// URLFile holds URL.
	URLFile string `flag:"redis-url-file" help:"File holding --redis-url (it may hold the password); trailing newlines are ignored."`
	// Prefix starts every Redis key and channel.
	Prefix string `flag:"redis-prefix" default:"servicecenterd:" help:"Prefix of every Redis key and channel (the app key follows it), so that several deployments can share one Redis."`
	// Replicas is the share of the local fallback.
	Replicas int `flag:"quota-replicas" default:"0" help:"How many replicas share the TOP quota, for the local share a replica falls back to when Redis is down (--top-rate-limit divided by it; also for the per-client limits). 0: the number of live replicas last seen in Redis (each renews a heartbeat there)."`
}

// Validate reads URL from its file and checks it (without connecting).
// Errors name the flag, never the URL (it may hold a password).
func (s *Settings) Validate() error {
	if err := config.SecretFile(&s.URL, s.URLFile, "redis-url"); err != nil {
		return err
	}
	var errs []error
	if s.URL != "" {
		if _, err := redis.ParseURL(s.URL); err != nil {
			errs = append(errs, errors.New("--redis-url is not a valid redis:// or rediss:// URL"))
		}
	}
	if s.Replicas < 0 {
		errs = append(errs, errors.New("--quota-replicas must not be negative"))
	}
	return errors.Join(errs...)
}

// On reports whether a Redis is configured.
func (s Settings) On() bool { return s.URL != "" }

// Client returns a client of the settings' Redis (it does not connect
// yet). Without timeouts in the URL, it fails fast (1 s to dial, 500 ms
// to read or write, no retries), so that a Redis gone away turns into the
// fallback quickly rather than into slow calls.
func (s Settings) Client() (*redis.Client, error) {
	opts, err := redis.ParseURL(s.URL)
	if err != nil {
		return nil, fmt.Errorf("--redis-url is not a valid redis:// or rediss:// URL")
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = time.Second
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = opTimeout
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = opTimeout
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = -1
	}
	return redis.NewClient(opts), nil
}

// Printer writes go-redis's own log lines (reconnections, dial failures)
// to a slog.Logger at debug level, for redis.SetLogger: the command sets
// it once, so that they come in the process's log format; this package's
// warnings say what matters (Redis unreachable, back).
type Printer struct {
	// Logger receives the lines.
	Logger *slog.Logger
}

// Printf implements go-redis's logging interface.
func (p Printer) Printf(ctx context.Context, format string, v ...any) {
	p.Logger.DebugContext(ctx, fmt.Sprintf(format, v...), slog.String("component", "go-redis"))
}
