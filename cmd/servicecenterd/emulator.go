package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/config"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// defaultEmulatorAddr is where the emulator listens unless --addr says otherwise.
const defaultEmulatorAddr = "127.0.0.1:8800"

// emulatorShutdownTimeout bounds the graceful shutdown; calls still running then
// (such as injected delays) are cut.
const emulatorShutdownTimeout = 10 * time.Second

// emulatorOptions are the emulator's settings. Each is a flag, an environment
// variable SERVICECENTERD_EMULATOR_<FLAG> and a key of the --config YAML
// file (internal/config).
type emulatorOptions struct {
	Addr             string `flag:"addr" default:"127.0.0.1:8800" help:"Listen address (host:port); loopback only unless --allow-non-loopback."`
	AppKey           string `flag:"app-key" default:"emulator" help:"The app key callers must send."`
	AppSecret        string `flag:"app-secret" default:"emulator-secret" secret:"true" help:"The app secret callers sign with."`
	Session          string `flag:"session" default:"emulator-session" secret:"true" help:"The session the tmall.* methods require."`
	SeedFile         string `flag:"seed" help:"JSON seed document (see examples/emulator-seed.json); default: demo data."`
	StateFile        string `flag:"state-file" help:"SQLite file keeping the state across restarts; default: in memory."`
	MaxCalls         int    `flag:"max-calls" default:"10000" help:"How many calls GET /_emulator/calls keeps (negative: none)."`
	LogLevel         string `flag:"log-level" default:"info" help:"Log level: debug (every call), info, warn or error."`
	AllowNonLoopback bool   `flag:"allow-non-loopback" default:"false" help:"Allow listening beyond loopback (the admin API has no authentication)."`
}

// emulatorEnvPrefix starts the emulator's environment variables.
const emulatorEnvPrefix = "SERVICECENTERD_EMULATOR_"

func parseEmulatorFlags(args []string, stderr io.Writer) (emulatorOptions, error) {
	var o emulatorOptions
	res, err := config.Loader{Name: "servicecenterd emulator", EnvPrefix: emulatorEnvPrefix, Output: stderr}.Load(&o, args)
	if err != nil {
		return o, err
	}
	if len(res.Args) > 0 {
		return o, fmt.Errorf("unexpected arguments %q", res.Args)
	}
	if o.AppKey == "" || o.AppSecret == "" || o.Session == "" {
		return o, errors.New("--app-key, --app-secret and --session must not be empty")
	}
	return o, nil
}

// runEmulator is `servicecenterd emulator`: the TOP emulator
// (internal/topemu) alone on an HTTP listener, for other teams' TOP SDKs.
// It parses args (the flags after `servicecenterd emulator`), serves the
// emulator until ctx is done, then shuts down gracefully. The URL and the
// credentials go to stdout; the demo secret and session are printed, ones
// given by flag are not. Logs go to stderr.
func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseEmulatorFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := checkEmulatorLoopback(o.Addr, o.AllowNonLoopback); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var seed *topemu.State
	if o.SeedFile != "" {
		b, err := os.ReadFile(o.SeedFile)
		if err != nil {
			return fmt.Errorf("--seed: %w", err)
		}
		if seed, err = topemu.ParseState(b); err != nil {
			return fmt.Errorf("--seed %s: %w", o.SeedFile, err)
		}
	}
	emu, err := topemu.New(topemu.Config{
		AppKey: o.AppKey, AppSecret: o.AppSecret, Session: o.Session,
		Seed: seed, StateFile: o.StateFile, Logger: logger, MaxRecordedCalls: o.MaxCalls,
	})
	if err != nil {
		return fmt.Errorf("start emulator: %w", err)
	}
	defer emu.Close()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.Addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on %s: the address is in use, maybe by `servicecenterd serve` (or `make run`), whose embedded emulator "+
			"has the same default address and answers the same /router/rest and admin API: use that one, or pass --addr (e.g. 127.0.0.1:8801): %w", o.Addr, err)
	}
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Addr, err)
	}
	srv := &http.Server{
		Handler:           emu,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	printEmulatorBanner(stdout, "http://"+ln.Addr().String(), o)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down the emulator")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), emulatorShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		logger.Warn("emulator shutdown cut calls short", "err", err)
	}
	<-served
	if err := emu.Close(); err != nil {
		return fmt.Errorf("close emulator: %w", err)
	}
	return nil
}

// checkEmulatorLoopback refuses addresses beyond loopback unless allowed: the
// admin API can change the state and read recorded calls.
func checkEmulatorLoopback(addr string, allowed bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if allowed || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--addr %q is not a loopback address; the emulator's admin API has no authentication (pass --allow-non-loopback to listen there anyway)", addr)
}

// shownCredential prints a credential only when it is the emulator's public demo
// value; a value given by flag may be a real secret.
func shownCredential(value, demo string) string {
	if value == demo {
		return value
	}
	return "[REDACTED] (as given)"
}

func printEmulatorBanner(w io.Writer, base string, o emulatorOptions) {
	state := "in memory"
	if o.StateFile != "" {
		state = "SQLite file " + o.StateFile
	}
	seed := "demo data (see docs/emulator.md)"
	if o.SeedFile != "" {
		seed = o.SeedFile
	}
	if o.StateFile != "" {
		seed += "; used only when the state file is new"
	}
	fmt.Fprintf(w, "TOP emulator ready\n"+
		"  url:        %s/router/rest\n"+
		"  app_key:    %s\n"+
		"  app_secret: %s\n"+
		"  session:    %s\n"+
		"  admin:      %s/_emulator/\n"+
		"  tmc:        %s/ (TMC over WebSocket, same app key and secret)\n"+
		"  seed:       %s\n"+
		"  state:      %s\n",
		base, o.AppKey, shownCredential(o.AppSecret, topemu.DefaultAppSecret), shownCredential(o.Session, topemu.DefaultSession),
		base, "ws"+strings.TrimPrefix(base, "http"), seed, state)
}
