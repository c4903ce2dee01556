package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/topclient"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// upstream is the TOP gateway servicecenterd calls: real TOP, or the
// embedded emulator when no --top-url is given.
type upstream struct {
	url                        string
	appKey, appSecret, session string
	emulatorURL                string
	emulator                   *topemu.Emulator
	emulatorSrv                *http.Server
	probe                      *http.Client
	mu                         sync.Mutex
	lastProbe                  time.Time
	lastErr                    error
}

// startUpstream resolves the TOP gateway of top, or starts the embedded
// emulator on emu's address when top names none.
func startUpstream(top topclient.Settings, emu EmulatorSettings, logger *slog.Logger) (*upstream, error) {
	u := &upstream{probe: &http.Client{Timeout: 3 * time.Second}}
	if !top.Embedded() {
		url, err := topclient.ResolveURL(top.URL)
		if err != nil {
			return nil, fmt.Errorf("--top-url: %w", err)
		}
		u.url, u.appKey, u.appSecret, u.session = url, top.AppKey, top.AppSecret, top.Session
		return u, nil
	}
	emulator, err := topemu.New(topemu.Config{Logger: logger.With(slog.String("component", "emulator"))})
	if err != nil {
		return nil, fmt.Errorf("embedded emulator: %w", err)
	}
	lis, err := net.Listen("tcp", emu.Addr)
	if err != nil {
		_ = emulator.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen --emulator-addr %s: the address is in use, maybe by `servicecenterd emulator` (or `make emulator`), "+
				"which has the same default, or by another servicecenterd. To use that emulator, pass --top-url http://%s/router/rest "+
				"--top-app-key emulator --top-app-secret emulator-secret --top-session emulator-session; "+
				"otherwise give the embedded one another address (--emulator-addr 127.0.0.1:0 picks a free port): %w", emu.Addr, emu.Addr, err)
		}
		return nil, fmt.Errorf("listen --emulator-addr: %w", err)
	}
	// Validate allows loopback addresses only; a name such as localhost
	// is resolved by Listen, so check what it bound.
	if a, ok := lis.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		_ = lis.Close()
		_ = emulator.Close()
		return nil, fmt.Errorf("--emulator-addr %q: bound %s, which is not a loopback address; the embedded emulator listens on loopback only", emu.Addr, lis.Addr())
	}
	u.emulator = emulator
	u.emulatorSrv = &http.Server{Handler: emulator, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = u.emulatorSrv.Serve(lis) }()
	u.emulatorURL = "http://" + lis.Addr().String()
	u.url = u.emulatorURL + "/router/rest"
	u.appKey, u.appSecret, u.session = topemu.DefaultAppKey, topemu.DefaultAppSecret, topemu.DefaultSession
	return u, nil
}

// clientConfig is the TOP client's configuration: the settings', with the
// gateway and credentials resolved here (the emulator's when embedded).
func (u *upstream) clientConfig(s topclient.Settings) topclient.Config {
	cfg := s.Config()
	cfg.URL, cfg.AppKey, cfg.AppSecret, cfg.Session = u.url, u.appKey, u.appSecret, u.session
	return cfg
}

// probeTTL is how long a readiness answer is reused, so that a busy
// /readyz does not become load on TOP.
const probeTTL = 2 * time.Second

// ready reports whether the TOP gateway answers HTTP at all (any status:
// TOP answers a bare request with an error envelope).
func (u *upstream) ready(ctx context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.lastProbe.IsZero() && time.Since(u.lastProbe) < probeTTL {
		return u.lastErr
	}
	u.lastErr = u.probeOnce(ctx)
	u.lastProbe = time.Now()
	return u.lastErr
}

func (u *upstream) probeOnce(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.url, nil)
	if err != nil {
		return fmt.Errorf("probe TOP: %w", err)
	}
	resp, err := u.probe.Do(req)
	if err != nil {
		var uerr interface{ Unwrap() error }
		if errors.As(err, &uerr) {
			err = uerr.Unwrap()
		}
		return fmt.Errorf("TOP gateway does not answer: %w", err)
	}
	_ = resp.Body.Close()
	return nil
}

func (u *upstream) close() {
	u.probe.CloseIdleConnections()
	if u.emulatorSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = u.emulatorSrv.Shutdown(ctx)
	}
	if u.emulator != nil {
		_ = u.emulator.Close()
	}
}
