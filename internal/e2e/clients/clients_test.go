//go:build clients

package clients

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/config"
	"github.com/servicecenterd/servicecenterd/internal/server"
)

// examples is the repository's examples/ folder.
const examples = "../../../examples"

// startServer runs servicecenterd with the embedded emulator on free
// loopback ports until the test ends.
func startServer(t *testing.T) *server.Server {
	t.Helper()
	var cfg server.Config
	if err := config.Defaults(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Listen.GRPCAddr, cfg.Listen.HTTPAddr, cfg.Emulator.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Store.DataDir = t.TempDir()
	cfg.Process.ShutdownTimeout = 5 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

// run runs an example with a bounded time and returns its output.
func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// wantLines are the lines every example prints: each call a
// success, then the ErrorInfo of AssignWorker on workcard 999.
var wantLines = []*regexp.Regexp{
	regexp.MustCompile(`(?m)^AssignWorker success=(true|True) top_request_id=\w+$`),
	regexp.MustCompile(`(?m)^BindVirtualPhone success=(true|True) result_data=170\d{8}$`),
	regexp.MustCompile(`(?m)^UpdateWorker success=(true|True) value=(true|True)$`),
	regexp.MustCompile(`(?m)^GetWorkerTags success=(true|True) vip=(true|True) abilities=ac_install,tv_install$`),
	regexp.MustCompile(`(?m)^SyncUserBlacklist success=(true|True) code=200 request_id=scd-[0-9a-f]{32}$`),
	regexp.MustCompile(`(?m)^ErrorInfo code=(NotFound|NOT_FOUND|404) reason=TOP_BIZ_1008 domain=servicecenterd top_biz_code=1008$`),
}

// emulator talks to the embedded emulator's admin API.
type emulator struct {
	t   *testing.T
	url string
}

func (e emulator) do(method, path string) string {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("%s %s: %d %v %s", method, path, resp.StatusCode, err, b)
	}
	return string(b)
}

func need(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(examples, p)); err != nil {
			t.Fatalf("%s is missing: run make client-deps examples (or make test-clients)", p)
		}
	}
}

// TestExamples runs each example against one server and checks
// its output and what reached TOP: ext_json (a google.protobuf.Struct) must
// arrive as the object the example sent, never as "{}".
func TestExamples(t *testing.T) {
	need(t, "node/node_modules", "node/gen", "node/rest/dist/client.js", "python/gen", "java/classes/Client.class", "java/classpath")
	javaCP, err := os.ReadFile(filepath.Join(examples, "java", "classpath"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	grpcAddr, httpURL := s.GRPCAddr(), "http://"+s.HTTPAddr()
	emu := emulator{t: t, url: s.EmulatorURL()}
	for _, tt := range []struct {
		name string
		dir  string
		cmd  []string
	}{
		{"node-connect", "node", []string{"node", "connect.mjs", grpcAddr}},
		{"node-grpc-js", "node", []string{"node", "grpcjs.mjs", grpcAddr, "../../dist/protos"}},
		{"typescript-rest", "node", []string{"node", "rest/dist/client.js", httpURL}},
		{"python", "python", []string{"/usr/bin/python3", "client.py", grpcAddr}},
		// classpath names examples/java/classes from the repository root.
		{"java", "..", []string{"java", "-cp", strings.TrimSpace(string(javaCP)), "Client", grpcAddr}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			emu.do(http.MethodDelete, "/_emulator/calls")
			out := run(t, filepath.Join(examples, tt.dir), tt.cmd[0], tt.cmd[1:]...)
			for _, re := range wantLines {
				if !re.MatchString(out) {
					t.Errorf("no line matching %s in:\n%s", re, out)
				}
			}
			calls := emu.do(http.MethodGet, "/_emulator/calls?method=tmall.servicecenter.workcard.assignworker")
			if !strings.Contains(calls, `carNumber`) {
				t.Errorf("ext_json did not reach TOP with carNumber: %.2000s", calls)
			}
		})
	}
}

// TestReflection loads every service through server reflection with
// grpc-js-reflection-client (protobuf.js) and calls through it.
func TestReflection(t *testing.T) {
	need(t, "node/node_modules")
	s := startServer(t)
	out := run(t, filepath.Join(examples, "node"), "node", "reflection.mjs", s.GRPCAddr())
	for _, want := range []string{
		"servicecenter.v1.AuditService: ListAuditEvents",
		"servicecenter.v1.LogisticsService: SyncUserBlacklist, ImportUserBlacklist, GetBlacklistSyncJob, ListBlacklistSyncJobs, CancelBlacklistSyncJob, RetryFailedChunks, WatchBlacklistSyncJob, ListRejectedEntries",
		"servicecenter.v1.EventService: WatchEvents, ListEvents, AckEvents",
		"servicecenter.v1.WorkcardService: AssignWorker, BindVirtualPhone",
		"servicecenter.v1.WorkerService: UpdateWorker, GetWorkerTags",
		"GetWorkerTags via reflection success=true vip=true",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

// TestServedOpenAPIv3IsValid validates the document the server serves at
// /openapi.v3.json with a validator outside Go (swagger-parser).
func TestServedOpenAPIv3IsValid(t *testing.T) {
	need(t, "node/node_modules")
	s := startServer(t)
	resp, err := http.Get("http://" + s.HTTPAddr() + "/openapi.v3.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/openapi.v3.json: %d %v", resp.StatusCode, err)
	}
	file := filepath.Join(t.TempDir(), "openapi.v3.json")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil || len(parsed.Paths) == 0 {
		t.Fatalf("/openapi.v3.json: %d paths, %v", len(parsed.Paths), err)
	}
	out := run(t, filepath.Join(examples, "node"), "node", "validate-openapi.mjs", file)
	// The validator read every path the document has.
	if want := fmt.Sprintf("valid OpenAPI 3.0.3: servicecenterd, %d paths", len(parsed.Paths)); !strings.HasPrefix(out, want) {
		t.Fatalf("validator: %s", out)
	}
}
