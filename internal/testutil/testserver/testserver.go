// Package testserver runs servicecenterd for tests, the same way for every
// package that needs one: in process (Start: the real server.Server on
// loopback ports, the embedded TOP emulator unless the config says
// otherwise, generated clients of every service), as the built binary
// (Binary, StartProcess), and a TOP emulator of the test's own
// (StartEmulator; its Use and ServeFlags point a server at it). The server tests, the commands' tests and the
// end-to-end suites (internal/e2e) share it, so a change to how the server
// starts or stops is made once.
//
// Every wait polls a condition and gives up after WaitTimeout, failing the
// test: no test depends on how fast a loaded machine is.
package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/config"
	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/store/sqlite"
	"github.com/servicecenterd/servicecenterd/internal/testutil/logbuf"
	"github.com/servicecenterd/servicecenterd/internal/testutil/sqlitetest"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// WaitTimeout bounds every wait on a condition: long enough for a loaded
// machine, short enough that a broken server fails the test rather than
// hanging it.
const WaitTimeout = 15 * time.Second

// WaitFor polls cond until it holds, failing the test with what after
// WaitTimeout.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", WaitTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Config is the serve defaults (no environment, no file) with free
// loopback ports for gRPC, HTTP and the embedded emulator, a temporary
// data dir holding a store already migrated (sqlitetest.Seed: a server
// started on it migrates nothing), no drain delay and a 5s shutdown
// timeout.
func Config(t testing.TB) server.Config {
	t.Helper()
	var cfg server.Config
	if err := config.Defaults(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Listen.GRPCAddr, cfg.Listen.HTTPAddr, cfg.Emulator.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Process.ShutdownTimeout = 5 * time.Second
	cfg.Process.DrainDelay = 0 // tests of draining set their own
	cfg.Store.DataDir = t.TempDir()
	sqlitetest.Seed(t, filepath.Join(cfg.Store.DataDir, sqlite.FileName))
	return cfg
}

// Clients are generated gRPC clients of every service over one
// connection without transport security.
type Clients struct {
	Conn      *grpc.ClientConn
	Workcards scv1.WorkcardServiceClient
	Workers   scv1.WorkerServiceClient
	Logistics scv1.LogisticsServiceClient
	Audit     scv1.AuditServiceClient
	Events    scv1.EventServiceClient
}

// Dial returns clients of the server at addr (plain gRPC). The caller
// closes Conn.
func Dial(t testing.TB, addr string) Clients {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	return Clients{
		Conn:      conn,
		Workcards: scv1.NewWorkcardServiceClient(conn),
		Workers:   scv1.NewWorkerServiceClient(conn),
		Logistics: scv1.NewLogisticsServiceClient(conn),
		Audit:     scv1.NewAuditServiceClient(conn),
		Events:    scv1.NewEventServiceClient(conn),
	}
}

// Server is a real servicecenterd serving in the test process.
type Server struct {
	*server.Server
	Clients
	// Cfg is the configuration it runs with.
	Cfg server.Config
	// Logger writes JSON lines, Debug and up, to Logs.
	Logger *slog.Logger
	Logs   *logbuf.Buffer

	cancel context.CancelFunc
	done   chan error
}

// Start builds a server from Config(t) changed by mutate (which may be
// nil), validates it, serves it until the test ends and dials it.
func Start(t testing.TB, mutate func(*server.Config), opts ...server.Option) *Server {
	t.Helper()
	cfg := Config(t)
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, cfg, logger, opts...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ts := &Server{Server: s, Cfg: cfg, Logger: logger, Logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx) }()
	ts.Clients = Dial(t, s.GRPCAddr())
	t.Cleanup(func() { ts.Stop(t) })
	return ts
}

// Shutdown cancels the server's context and waits for Serve to return
// (graceful: calls in flight finish), returning its error; after the
// first call it returns nil at once.
func (ts *Server) Shutdown(t testing.TB) error {
	t.Helper()
	ts.cancel()
	if ts.done == nil {
		return nil
	}
	select {
	case err := <-ts.done:
		ts.done = nil
		return err
	case <-time.After(WaitTimeout):
		t.Fatal("server did not stop")
	}
	return nil
}

// Stop shuts the server down, fails the test if Serve failed, and closes
// the clients; calling it twice is fine.
func (ts *Server) Stop(t testing.TB) {
	t.Helper()
	if ts.Conn != nil {
		ts.Conn.Close()
		ts.Conn = nil
	}
	if err := ts.Shutdown(t); err != nil {
		t.Errorf("Serve: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
}

// REST posts body (JSON) to the gateway and returns the status, the
// headers and the decoded JSON body.
func (ts *Server) REST(t testing.TB, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	resp, raw := ts.RESTRaw(t, path, body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s answered %d with non-JSON %q", path, resp.StatusCode, raw)
	}
	return resp.StatusCode, resp.Header, out
}

// RESTRaw posts body (JSON) to the gateway and returns the response,
// its body already read and closed, and the body's bytes.
func (ts *Server) RESTRaw(t testing.TB, path, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post("http://"+ts.HTTPAddr()+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

// Emulator sends an admin request to the embedded emulator (see Admin).
func (ts *Server) Emulator(t testing.TB, method, path string, body any) []byte {
	t.Helper()
	return Admin(t, ts.EmulatorURL(), method, path, body)
}

// WaitFaultFired waits until the embedded emulator's fault rule i has
// fired on n calls. A rule fires as a call arrives, before its latency: a
// call held by a latency rule is in flight once its rule has fired.
func (ts *Server) WaitFaultFired(t testing.TB, i, n int) {
	t.Helper()
	WaitFor(t, "the emulator's fault rule to fire", func() bool {
		var f topemu.Faults
		if err := json.Unmarshal(ts.Emulator(t, http.MethodGet, "/_emulator/faults", nil), &f); err != nil {
			t.Fatal(err)
		}
		return len(f.Rules) > i && f.Rules[i].Fired >= n
	})
}

// WaitLogCount waits until the server has logged msg more than n times
// (n is a count taken before the action that logs it again).
func (ts *Server) WaitLogCount(t testing.TB, msg string, n int) {
	t.Helper()
	WaitFor(t, "log line "+msg, func() bool { return strings.Count(ts.Logs.String(), msg) > n })
}

// Admin sends an admin request to the emulator at baseURL and returns the
// answer's body, failing the test on a status of 300 or more. A string
// body is sent as it is, any other non-nil body as JSON.
func Admin(t testing.TB, baseURL, method, path string, body any) []byte {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, baseURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("emulator %s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return raw
}
