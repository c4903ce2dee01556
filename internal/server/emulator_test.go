package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/config"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
	"github.com/servicecenterd/servicecenterd/internal/top"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// TestEmbeddedEmulatorLoopbackOnly: the embedded emulator (whose admin
// API has no authentication and whose state holds phone and ID numbers)
// listens on loopback only, whatever the security settings; an address
// beyond loopback is refused at Validate, and by New should one get past.
func TestEmbeddedEmulatorLoopbackOnly(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	security := []struct {
		name   string
		mutate func(*server.Config)
	}{
		{"no authentication", func(*server.Config) {}},
		{"bearer tokens", func(c *server.Config) { c.Auth.ClientsFile = p.clientsFile }},
		{"mTLS", func(c *server.Config) {
			c.TLS.CertFile, c.TLS.KeyFile, c.TLS.ClientCAFile = p.certFile, p.keyFile, p.caFile
		}},
		{"insecure allowed", func(c *server.Config) { c.Auth.InsecureAllowUnauthenticated = true }},
	}
	addrs := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"127.0.0.2:8800", true},
		{"[::1]:8800", true},
		{"localhost:0", true},
		{"0.0.0.0:8800", false},
		{":8800", false},
		{"[::]:8800", false},
		{"192.0.2.10:8800", false},
		{"emulator.internal:8800", false},
	}
	for _, sec := range security {
		for _, a := range addrs {
			t.Run(sec.name+"/"+a.addr, func(t *testing.T) {
				cfg := testserver.Config(t)
				sec.mutate(&cfg)
				cfg.Emulator.Addr = a.addr
				err := cfg.Validate()
				switch {
				case a.ok && err != nil:
					t.Fatal(err)
				case !a.ok && (err == nil || !strings.Contains(err.Error(), "--emulator-addr") || !strings.Contains(err.Error(), "loopback only")):
					t.Fatalf("Validate = %v, want --emulator-addr refused", err)
				}
				// Against real TOP there is no emulator: the address is unused.
				cfg.TOP.URL, cfg.TOP.AppKey, cfg.TOP.AppSecret = "sandbox", "k", "s"
				if err := cfg.Validate(); err != nil {
					t.Fatalf("with --top-url: %v", err)
				}
			})
		}
	}

	t.Run("New refuses what Validate would", func(t *testing.T) {
		cfg := testserver.Config(t)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		cfg.Emulator.Addr = "0.0.0.0:0"
		s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err == nil {
			s.CloseAll()
			t.Fatal("New started an emulator on all interfaces")
		}
		if !strings.Contains(err.Error(), "loopback only") {
			t.Fatalf("New: %v", err)
		}
	})

	t.Run("the running emulator answers on loopback only", func(t *testing.T) {
		ts := testserver.Start(t, func(c *server.Config) { c.Emulator.Addr = "localhost:0" })
		u, err := url.Parse(ts.EmulatorURL())
		if err != nil {
			t.Fatal(err)
		}
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil {
			t.Fatal(err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			t.Fatalf("emulator at %s", ts.EmulatorURL())
		}
		ts.Emulator(t, http.MethodGet, "/_emulator/stats", nil) // answers on loopback
		other := nonLoopbackIP(t)
		if other == nil {
			t.Skip("this machine has no address beyond loopback to try")
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(other.String(), port), 5*time.Second)
		if err == nil {
			conn.Close()
			t.Fatalf("the emulator accepted a connection on %s", other)
		}
	})
}

// nonLoopbackIP is an address of this machine beyond loopback, if any.
func nonLoopbackIP(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP
		}
	}
	return nil
}

// TestEmulatorAddrDefaultAndInUse: the embedded emulator listens on the
// address the emulator examples use (the standalone command's default),
// and when something holds it, New says what and how to go on.
func TestEmulatorAddrDefaultAndInUse(t *testing.T) {
	t.Parallel()
	var cfg server.Config
	if err := config.Defaults(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Emulator.Addr != "127.0.0.1:8800" {
		t.Errorf("default --emulator-addr %q, want 127.0.0.1:8800", cfg.Emulator.Addr)
	}
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfg = testserver.Config(t)
	cfg.Emulator.Addr = held.Addr().String()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		s.CloseAll()
		t.Fatal("New started with the emulator's address in use")
	}
	for _, want := range []string{"--emulator-addr " + held.Addr().String(), "in use", "servicecenterd emulator",
		"--top-url http://" + held.Addr().String() + "/router/rest", "--emulator-addr 127.0.0.1:0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestServersShareATestsEmulator: servers pointed at one emulator of the
// test's own (testserver's Emulator.Use, as replicas of one app call one
// TOP) start no embedded emulator, and every call of each reaches it.
func TestServersShareATestsEmulator(t *testing.T) {
	t.Parallel()
	e := testserver.StartEmulator(t, topemu.Config{})
	servers := []*testserver.Server{testserver.Start(t, e.Use), testserver.Start(t, e.Use)}
	for i, ts := range servers {
		if ts.EmulatorURL() != "" {
			t.Fatalf("server %d started an embedded emulator at %s", i, ts.EmulatorURL())
		}
		resp, err := ts.Workers.GetWorkerTags(grpcCtx(t), &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"})
		if err != nil || !resp.GetSuccess() {
			t.Fatalf("server %d: GetWorkerTags %v %v", i, resp, err)
		}
	}
	var calls struct {
		Recorded int64 `json:"recorded"`
	}
	if err := json.Unmarshal(e.Admin(t, http.MethodGet, "/_emulator/calls?method="+top.MethodWorkerTagList, nil), &calls); err != nil {
		t.Fatal(err)
	}
	if calls.Recorded != int64(len(servers)) {
		t.Fatalf("the emulator recorded %d taglist calls, want %d", calls.Recorded, len(servers))
	}
}
