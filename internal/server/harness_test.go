package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/testutil/logbuf"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/config"
)

// testServer is a real servicecenterd on loopback ports, with the
// embedded emulator unless the config says otherwise.
type testServer struct {
	*Server
	logs      *logbuf.Buffer
	conn      *grpc.ClientConn
	workcards scv1.WorkcardServiceClient
	workers   scv1.WorkerServiceClient
	logistics scv1.LogisticsServiceClient
	cancel    context.CancelFunc
	done      chan error
}

// defaultConfig is the serve defaults with free loopback ports.
func defaultConfig(t *testing.T) Config {
	t.Helper()
	var cfg Config
	if err := config.Defaults(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Listen.GRPCAddr, cfg.Listen.HTTPAddr, cfg.Emulator.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Process.ShutdownTimeout = 5 * time.Second
	cfg.Store.DataDir = t.TempDir()
	return cfg
}

func startServer(t *testing.T, mutate func(*Config), opts ...Option) *testServer {
	t.Helper()
	cfg := defaultConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, cfg, logger, opts...)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ts := &testServer{Server: s, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx) }()
	ts.conn, err = grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ts.workcards = scv1.NewWorkcardServiceClient(ts.conn)
	ts.workers = scv1.NewWorkerServiceClient(ts.conn)
	ts.logistics = scv1.NewLogisticsServiceClient(ts.conn)
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop shuts the server down and waits for Serve to return; calling it
// twice is fine.
func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	ts.cancel()
	if ts.conn != nil {
		ts.conn.Close()
		ts.conn = nil
	}
	if ts.done == nil {
		return
	}
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("server did not stop")
	}
	ts.done = nil
	http.DefaultClient.CloseIdleConnections()
}

// rest posts body to the gateway and returns the status, headers and
// decoded JSON body.
func (ts *testServer) rest(t *testing.T, path, body string) (int, http.Header, map[string]any) {
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
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s answered %d with non-JSON %q", path, resp.StatusCode, raw)
	}
	return resp.StatusCode, resp.Header, out
}

// emulator sends an admin request to the embedded emulator.
func (ts *testServer) emulator(t *testing.T, method, path string, body any) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, ts.EmulatorURL()+path, rd)
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
