// Package emulatorcmd is `servicecenterd emulator`: the TOP emulator
// (internal/topsim) alone on an HTTP listener, for other teams' TOP SDKs.
package emulatorcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/topsim"
)

// DefaultAddr is where the emulator listens unless --addr says otherwise.
const DefaultAddr = "127.0.0.1:8800"

// shutdownTimeout bounds the graceful shutdown; calls still running then
// (such as injected delays) are cut.
const shutdownTimeout = 10 * time.Second

// options are the parsed flags.
type options struct {
	addr, appKey, appSecret, session string
	seedFile, stateFile, logLevel    string
	maxCalls                         int
	allowNonLoopback                 bool
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("servicecenterd emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", DefaultAddr, "listen address (host:port); loopback only unless --allow-non-loopback")
	fs.StringVar(&o.appKey, "app-key", topsim.DefaultAppKey, "the app key callers must send")
	fs.StringVar(&o.appSecret, "app-secret", topsim.DefaultAppSecret, "the app secret callers sign with")
	fs.StringVar(&o.session, "session", topsim.DefaultSession, "the session the tmall.* methods require")
	fs.StringVar(&o.seedFile, "seed", "", "JSON seed document (see examples/emulator-seed.json); default: demo data")
	fs.StringVar(&o.stateFile, "state-file", "", "SQLite file keeping the state across restarts; default: in memory")
	fs.IntVar(&o.maxCalls, "max-calls", topsim.DefaultMaxRecordedCalls, "how many calls GET /_emulator/calls keeps (negative: none)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug (every call), info, warn or error")
	fs.BoolVar(&o.allowNonLoopback, "allow-non-loopback", false, "allow listening beyond loopback (the admin API has no authentication)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: servicecenterd emulator [flags]\n\nRuns the TOP gateway emulator on %s.\n\nFlags:\n", DefaultAddr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.appKey == "" || o.appSecret == "" || o.session == "" {
		return o, errors.New("--app-key, --app-secret and --session must not be empty")
	}
	return o, nil
}

// Run parses args (the flags after `servicecenterd emulator`), serves the
// emulator until ctx is done, then shuts down gracefully. The URL and the
// credentials go to stdout; the demo secret and session are printed, ones
// given by flag are not. Logs go to stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if err := checkLoopback(o.addr, o.allowNonLoopback); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var seed *topsim.State
	if o.seedFile != "" {
		b, err := os.ReadFile(o.seedFile)
		if err != nil {
			return fmt.Errorf("--seed: %w", err)
		}
		if seed, err = topsim.ParseState(b); err != nil {
			return fmt.Errorf("--seed %s: %w", o.seedFile, err)
		}
	}
	emu, err := topsim.New(topsim.Config{
		AppKey: o.appKey, AppSecret: o.appSecret, Session: o.session,
		Seed: seed, StateFile: o.stateFile, Logger: logger, MaxRecordedCalls: o.maxCalls,
	})
	if err != nil {
		return fmt.Errorf("start emulator: %w", err)
	}
	defer emu.Close()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	srv := &http.Server{
		Handler:           emu,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	printBanner(stdout, "http://"+ln.Addr().String(), o)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down the emulator")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
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

// checkLoopback refuses addresses beyond loopback unless allowed: the
// admin API can change the state and read recorded calls.
func checkLoopback(addr string, allowed bool) error {
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

// shown prints a credential only when it is the emulator's public demo
// value; a value given by flag may be a real secret.
func shown(value, demo string) string {
	if value == demo {
		return value
	}
	return "[REDACTED] (as given)"
}

func printBanner(w io.Writer, base string, o options) {
	state := "in memory"
	if o.stateFile != "" {
		state = "SQLite file " + o.stateFile
	}
	seed := "demo data (see README.md)"
	if o.seedFile != "" {
		seed = o.seedFile
	}
	if o.stateFile != "" {
		seed += "; used only when the state file is new"
	}
	fmt.Fprintf(w, "TOP emulator ready\n"+
		"  url:        %s/router/rest\n"+
		"  app_key:    %s\n"+
		"  app_secret: %s\n"+
		"  session:    %s\n"+
		"  admin:      %s/_emulator/\n"+
		"  seed:       %s\n"+
		"  state:      %s\n",
		base, o.appKey, shown(o.appSecret, topsim.DefaultAppSecret), shown(o.session, topsim.DefaultSession),
		base, seed, state)
}
