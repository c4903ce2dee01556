package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
)

// Config is every setting of `servicecenterd serve`. Each field's `flag`
// tag names its flag; internal/config derives the SERVICECENTERD_* env var
// and the YAML key from it, and docs/configuration.md is generated from
// these tags.
type Config struct {
	GRPCAddr string `flag:"grpc-addr" default:"127.0.0.1:9090" help:"gRPC listen address (host:port)."`
	HTTPAddr string `flag:"http-addr" default:"127.0.0.1:8080" help:"REST gateway, health and OpenAPI listen address (host:port)."`

	TOPURL           string        `flag:"top-url" help:"TOP gateway: production, sandbox, overseas or an http(s) URL. Empty runs the embedded emulator with its demo data."`
	TOPAppKey        string        `flag:"top-app-key" help:"TOP app key (required with --top-url)."`
	TOPAppSecret     string        `flag:"top-app-secret" secret:"true" help:"TOP app secret (required with --top-url, or use --top-app-secret-file)."`
	TOPAppSecretFile string        `flag:"top-app-secret-file" help:"File holding the TOP app secret; trailing newlines are ignored."`
	TOPSession       string        `flag:"top-session" secret:"true" help:"TOP session (access token) sent with the tmall.* methods."`
	TOPSessionFile   string        `flag:"top-session-file" help:"File holding the TOP session; trailing newlines are ignored."`
	TOPSignMethod    string        `flag:"top-sign-method" default:"hmac-sha256" help:"TOP signature method: md5, hmac or hmac-sha256."`
	TOPTimeout       time.Duration `flag:"top-timeout" default:"15s" help:"Timeout of one TOP call when the caller's deadline is later or unset."`
	TOPMaxAttempts   int           `flag:"top-max-attempts" default:"3" help:"Attempts per TOP call, retries included (retries only where safe)."`
	TOPRateLimit     float64       `flag:"top-rate-limit" default:"0" help:"TOP calls per second for the app key (token bucket); 0 is no limit."`
	TOPRateBurst     int           `flag:"top-rate-burst" default:"0" help:"Token bucket burst; 0 means the rate rounded up."`

	EmulatorAddr string `flag:"emulator-addr" default:"127.0.0.1:0" help:"Listen address of the embedded emulator (only without --top-url): loopback only, always (its admin API has no authentication); port 0 picks a free one."`

	DataDir            string `flag:"data-dir" help:"Directory of the durable store (servicecenterd.db: bulk blacklist sync jobs and the audit trail). Empty: $XDG_DATA_HOME/servicecenterd, else ~/.local/share/servicecenterd (on macOS and Windows, servicecenterd in the user config directory)."`
	SyncChunkSize      int    `flag:"sync-chunk-size" default:"100" help:"Entries per TOP call of new bulk blacklist sync jobs, 1 to 100 (fixed per job)."`
	SyncConcurrentJobs int    `flag:"sync-concurrent-jobs" default:"2" help:"Bulk blacklist sync jobs delivered at once; later jobs wait QUEUED."`
	SyncChunksInFlight int    `flag:"sync-chunks-in-flight" default:"4" help:"TOP calls in flight per bulk blacklist sync job."`

	ShutdownTimeout time.Duration `flag:"shutdown-timeout" default:"10s" help:"How long graceful shutdown waits for calls in flight."`
	LogLevel        string        `flag:"log-level" default:"info" help:"Log level: debug, info, warn or error."`
	LogFormat       string        `flag:"log-format" default:"text" help:"Log format: text or json."`

	SecurityConfig
}

// Validate checks the settings and loads secrets from their files. Errors
// name the setting, never a secret's value.
func (c *Config) Validate() error {
	var errs []error
	for _, a := range []struct{ flag, addr string }{{"grpc-addr", c.GRPCAddr}, {"http-addr", c.HTTPAddr}, {"emulator-addr", c.EmulatorAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("--%s %q is not host:port", a.flag, a.addr))
		}
	}
	if _, _, err := net.SplitHostPort(c.EmulatorAddr); err == nil && c.TOPURL == "" && !isLoopback(c.EmulatorAddr) {
		errs = append(errs, fmt.Errorf("--emulator-addr %q is not a loopback address: the embedded emulator listens on loopback only, "+
			"whatever the other settings, since its admin API has no authentication and shows the demo data's phone and ID numbers "+
			"(use 127.0.0.1:PORT or [::1]:PORT; to serve other machines, run `servicecenterd emulator` on its own)", c.EmulatorAddr))
	}
	if _, err := top.ParseSignMethod(c.TOPSignMethod); err != nil {
		errs = append(errs, fmt.Errorf("--top-sign-method: %w", err))
	}
	if err := readSecretFile(&c.TOPAppSecret, c.TOPAppSecretFile, "top-app-secret"); err != nil {
		errs = append(errs, err)
	}
	if err := readSecretFile(&c.TOPSession, c.TOPSessionFile, "top-session"); err != nil {
		errs = append(errs, err)
	}
	if c.TOPURL != "" {
		if _, err := topclient.ResolveURL(c.TOPURL); err != nil {
			errs = append(errs, fmt.Errorf("--top-url: %w", err))
		}
		if c.TOPAppKey == "" {
			errs = append(errs, errors.New("--top-app-key is required with --top-url"))
		}
		if c.TOPAppSecret == "" {
			errs = append(errs, errors.New("--top-app-secret or --top-app-secret-file is required with --top-url"))
		}
	}
	if c.TOPTimeout <= 0 {
		errs = append(errs, errors.New("--top-timeout must be positive"))
	}
	if c.TOPMaxAttempts < 1 || c.TOPMaxAttempts > 10 {
		errs = append(errs, errors.New("--top-max-attempts must be 1 to 10"))
	}
	if c.TOPRateLimit < 0 || c.TOPRateBurst < 0 {
		errs = append(errs, errors.New("--top-rate-limit and --top-rate-burst must not be negative"))
	}
	errs = append(errs, c.validateBulk()...)
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout must be positive"))
	}
	if _, err := c.level(); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", c.LogFormat))
	}
	errs = append(errs, c.validateSecurity(c.listeners())...)
	return errors.Join(errs...)
}

// readSecretFile fills *value from file when file is set; setting both is
// an error, so that it is clear which one is used.
func readSecretFile(value *string, file, name string) error {
	if file == "" {
		return nil
	}
	if *value != "" {
		return fmt.Errorf("--%s and --%s-file are both set; use one", name, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--%s-file: %w", name, err)
	}
	*value = strings.TrimRight(string(b), "\r\n")
	if *value == "" {
		return fmt.Errorf("--%s-file %s is empty", name, file)
	}
	return nil
}

func (c *Config) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return l, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// NewLogger returns the logger the settings ask for, writing to w.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	level, _ := c.level()
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
