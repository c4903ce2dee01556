package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/events"
	"github.com/servicecenterd/servicecenterd/internal/idempotency"
	"github.com/servicecenterd/servicecenterd/internal/metrics"
	"github.com/servicecenterd/servicecenterd/internal/quota/redisquota"
	"github.com/servicecenterd/servicecenterd/internal/rpc/middleware"
	"github.com/servicecenterd/servicecenterd/internal/store"
	"github.com/servicecenterd/servicecenterd/internal/tlsfiles"
	"github.com/servicecenterd/servicecenterd/internal/tmcconsumer"
	"github.com/servicecenterd/servicecenterd/internal/topclient"
)

// Config is every setting of `servicecenterd serve`, composed of the
// components' sections: each owns its settings (flag tags, from which
// internal/config derives the SERVICECENTERD_* variable and the YAML key,
// and docs/configuration.md is generated) and their Validate. The field
// order is the order of the settings everywhere they are listed.
type Config struct {
	// Listen are the gRPC and HTTP listeners' addresses.
	Listen ListenSettings `section:"listen"`
	// TOP is the TOP gateway and the client's credentials and limits.
	TOP topclient.Settings `section:"top"`
	// Emulator is the embedded emulator's listener (without --top-url).
	Emulator EmulatorSettings `section:"emulator"`
	// Store is the durable store's directory.
	Store store.Settings `section:"store"`
	// Redis is the Redis that replicas share the TOP quota, bans and
	// rate limits through.
	Redis redisquota.Settings `section:"redis"`
	// Sync are the bulk blacklist sync's chunk size and concurrency.
	Sync syncjob.Settings `section:"sync"`
	// Process are shutdown and logging.
	Process ProcessSettings `section:"process"`
	// Auth is caller authentication: the clients file, open endpoints.
	Auth auth.Settings `section:"auth"`
	// TLS are the listeners' certificate and client CAs.
	TLS tlsfiles.Settings `section:"tls"`
	// GRPC are the gRPC server's limits and keepalive (grpc.go).
	GRPC GRPCSettings `section:"grpc"`
	// HTTP are the HTTP server's timeouts and body limits (http.go).
	HTTP HTTPSettings `section:"http"`
	// RateLimit is every client's default rate limit.
	RateLimit middleware.RateLimitSettings `section:"rate_limit"`
	// Metrics is the metrics listener.
	Metrics metrics.Settings `section:"metrics"`
	// Audit is the audit trail's retention and failure policy.
	Audit audit.Settings `section:"audit"`
	// TMC is the consumer of TOP's message channel (tmcconsumer).
	TMC tmcconsumer.Settings `section:"tmc"`
	// Events is the event log's retention.
	Events events.Settings `section:"events"`
	// Idempotency is the idempotency keys' time to live and whether a key
	// is required.
	Idempotency idempotency.Settings `section:"idempotency"`
}

// ListenSettings are the addresses the server listens on.
type ListenSettings struct {
	GRPCAddr string `flag:"grpc-addr" default:"127.0.0.1:9090" help:"gRPC listen address (host:port)."`
	HTTPAddr string `flag:"http-addr" default:"127.0.0.1:8080" help:"REST gateway, /healthz, /readyz, /topz, the contract documents (OpenAPI, proto bundle) and /metrics listen address (host:port). Empty: gRPC only, with gRPC health, and /metrics on --metrics-addr if set."`
}

// Validate checks the settings; errors name the flag. An empty HTTP
// address turns the HTTP listener off.
func (s ListenSettings) Validate() error {
	var errs []error
	for _, a := range []struct{ flag, addr string }{{"grpc-addr", s.GRPCAddr}, {"http-addr", s.HTTPAddr}} {
		if a.flag == "http-addr" && a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("--%s %q is not host:port", a.flag, a.addr))
		}
	}
	return errors.Join(errs...)
}

// EmulatorSettings are the embedded emulator's, which stands in for TOP
// when no --top-url is given.
type EmulatorSettings struct {
	Addr string `flag:"emulator-addr" default:"127.0.0.1:8800" help:"Listen address of the embedded emulator (only without --top-url), printed at start: loopback only, always (its admin API has no authentication). The default is also the one of servicecenterd emulator, so the emulator examples work with either; port 0 picks a free one."`
}

// Validate checks the settings; embedded says whether the emulator will
// run (no --top-url), when its address must be a loopback one.
func (s EmulatorSettings) Validate(embedded bool) error {
	if _, _, err := net.SplitHostPort(s.Addr); err != nil {
		return fmt.Errorf("--emulator-addr %q is not host:port", s.Addr)
	}
	if embedded && !isLoopback(s.Addr) {
		return fmt.Errorf("--emulator-addr %q is not a loopback address: the embedded emulator listens on loopback only, "+
			"whatever the other settings, since its admin API has no authentication and shows the demo data's phone and ID numbers "+
			"(use 127.0.0.1:PORT or [::1]:PORT; to serve other machines, run `servicecenterd emulator` on its own)", s.Addr)
	}
	return nil
}

// ProcessSettings are the process's: shutdown and logs.
type ProcessSettings struct {
	DrainDelay       time.Duration `flag:"drain-delay" default:"5s" help:"On SIGTERM, how long the server keeps serving after it reports not ready (/readyz 503, gRPC health NOT_SERVING), so that load balancers stop sending calls before it stops; then graceful shutdown. 0 stops at once."`
	ShutdownTimeout  time.Duration `flag:"shutdown-timeout" default:"10s" help:"How long graceful shutdown waits for calls in flight."`
	LogLevel         string        `flag:"log-level" default:"info" help:"Log level: debug, info, warn or error."`
	LogFormat        string        `flag:"log-format" default:"text" help:"Log format: text or json."`
	LogFlushInterval time.Duration `flag:"log-flush-interval" default:"5ms" help:"Write log lines in batches, each within this long of its first line (one write instead of one per line; a graceful shutdown writes them all, a SIGKILL loses at most this long of lines); 0 writes every line at once."`
}

// Validate checks the settings; errors name the flag.
func (s ProcessSettings) Validate() error {
	var errs []error
	if s.DrainDelay < 0 {
		errs = append(errs, errors.New("--drain-delay must not be negative"))
	}
	if s.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("--shutdown-timeout must be positive"))
	}
	if _, err := s.level(); err != nil {
		errs = append(errs, err)
	}
	if s.LogFlushInterval < 0 || s.LogFlushInterval > time.Second {
		errs = append(errs, fmt.Errorf("--log-flush-interval %v: want 0 to 1s", s.LogFlushInterval))
	}
	if s.LogFormat != "text" && s.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", s.LogFormat))
	}
	return errors.Join(errs...)
}

func (s ProcessSettings) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s.LogLevel)); err != nil {
		return l, fmt.Errorf("--log-level %q: want debug, info, warn or error", s.LogLevel)
	}
	return l, nil
}

// NewLogger returns the logger the settings ask for, writing to w.
func (s ProcessSettings) NewLogger(w io.Writer) *slog.Logger {
	level, _ := s.level()
	opts := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Validate checks every section, reading the files the settings name
// (secrets, which it loads into the TOP settings, the clients file, TLS
// files), and then the rules across sections. It fills the defaults that
// depend on the machine (the store's directory). Errors name the
// setting, never a secret's value, and come one per line, every problem
// at once.
func (c *Config) Validate() error {
	errs := []error{
		c.Listen.Validate(),
		c.Emulator.Validate(c.TOP.Embedded()),
		c.TOP.Validate(),
		c.Store.Validate(),
		c.Redis.Validate(),
		c.Sync.Validate(),
		c.Process.Validate(),
		c.Auth.Validate(KnownMethods()),
		c.TLS.Validate(),
		c.Metrics.Validate(),
		c.GRPC.Validate(),
		c.HTTP.Validate(),
		c.RateLimit.Validate(),
		c.Audit.Validate(),
		c.TMC.Validate(),
		c.Events.Validate(),
		c.Idempotency.Validate(),
		c.checkExposure(),
	}
	return errors.Join(errs...)
}

// authOn reports whether callers must authenticate: with a clients file
// or client certificates.
func (c *Config) authOn() bool { return c.Auth.ClientsFile != "" || c.TLS.VerifiesClients() }

// checkExposure refuses to listen beyond loopback without caller
// authentication, unless told to.
func (c *Config) checkExposure() error {
	if c.authOn() || c.Auth.InsecureAllowUnauthenticated {
		return nil
	}
	listeners := c.listeners()
	var wide []string
	for _, flag := range slices.Sorted(maps.Keys(listeners)) {
		if !isLoopback(listeners[flag]) {
			wide = append(wide, fmt.Sprintf("--%s %s", flag, listeners[flag]))
		}
	}
	if len(wide) == 0 {
		return nil
	}
	return fmt.Errorf("refusing to listen beyond loopback (%s) without caller authentication: "+
		"anyone who can reach the port could act for your Tmall app with its secret and session. "+
		"Configure --clients-file (bearer tokens) and/or --tls-client-ca-file (client certificates), "+
		"or pass --insecure-allow-unauthenticated if something else guards the port", strings.Join(wide, ", "))
}

// listeners are the addresses the server will listen on, by flag. The
// embedded emulator's is not one of them: it is loopback only, always
// (EmulatorSettings.Validate).
func (c *Config) listeners() map[string]string {
	out := map[string]string{"grpc-addr": c.Listen.GRPCAddr}
	if c.Listen.HTTPAddr != "" {
		out["http-addr"] = c.Listen.HTTPAddr
	}
	if c.Metrics.Addr != "" {
		out["metrics-addr"] = c.Metrics.Addr
	}
	return out
}

// isLoopback reports whether a listen address stays on this machine:
// localhost or a loopback IP. An empty host (all interfaces) or any other
// name is beyond loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
