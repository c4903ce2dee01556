package blacklist

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/testutil/logbuf"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// buildBinary builds servicecenterd into a temp dir once per test binary.
func buildBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "servicecenterd-e2e-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "servicecenterd")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/servicecenterd/servicecenterd/cmd/servicecenterd").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// The built binary, shared by the tests of this package (removed by
// TestMain).
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// emulator is a TOP emulator served from the test process.
type emulator struct {
	emu *topemu.Emulator
	srv *httptest.Server
}

func startEmulator(t testing.TB, cfg topemu.Config) *emulator {
	t.Helper()
	emu, err := topemu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &emulator{emu: emu, srv: httptest.NewServer(emu)}
	t.Cleanup(func() {
		e.srv.Close()
		e.emu.Close()
	})
	return e
}

func (e *emulator) admin(t testing.TB, method, path, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
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

// process is a servicecenterd child process.
type process struct {
	cmd      *exec.Cmd
	grpcAddr string
	httpAddr string
	logs     *logbuf.Buffer
	exited   chan struct{}
	conn     *grpc.ClientConn
	client   scv1.LogisticsServiceClient
}

// startProcess runs `servicecenterd serve` against the emulator with its
// store in dataDir, on free loopback ports, and waits until it serves: it
// learns the ports from the JSON "servicecenterd started" log line.
func startProcess(t testing.TB, bin string, e *emulator, dataDir string, extra ...string) *process {
	t.Helper()
	args := append([]string{"serve",
		"--top-url", e.srv.URL + "/router/rest", "--top-app-key", topemu.DefaultAppKey,
		"--top-app-secret", topemu.DefaultAppSecret, "--top-session", topemu.DefaultSession,
		"--data-dir", dataDir, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--log-format", "json",
	}, extra...)
	p := &process{cmd: exec.Command(bin, args...), logs: &logbuf.Buffer{}, exited: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.logs.Write(append(sc.Bytes(), '\n'))
			var line struct {
				Msg      string `json:"msg"`
				GRPCAddr string `json:"grpc_addr"`
				HTTPAddr string `json:"http_addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "servicecenterd started" {
				ready <- [2]string{line.GRPCAddr, line.HTTPAddr}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case addrs := <-ready:
		p.grpcAddr, p.httpAddr = addrs[0], addrs[1]
	case <-p.exited:
		t.Fatalf("servicecenterd exited at start:\n%s", p.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("servicecenterd did not start:\n%s", p.logs)
	}
	if p.conn, err = grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		t.Fatal(err)
	}
	p.client = scv1.NewLogisticsServiceClient(p.conn)
	return p
}

// kill sends SIGKILL and waits for the process to end.
func (p *process) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	p.conn.Close()
}

// stop sends SIGTERM (SIGKILL after 15 s) and waits.
func (p *process) stop(t testing.TB) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Errorf("servicecenterd did not stop on SIGTERM; killing it")
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.conn.Close()
}

// peakRSS reads the process's peak resident set size (VmHWM), in bytes.
func (p *process) peakRSS(t testing.TB) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}

// importGenerated imports n generated entries (mobiles from first) in
// messages of 1000 and returns the response.
func importGenerated(ctx context.Context, t testing.TB, c scv1.LogisticsServiceClient, first, n int) *scv1.ImportUserBlacklistResponse {
	t.Helper()
	stream, err := c.ImportUserBlacklist(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&scv1.ImportUserBlacklistRequest{Settings: &scv1.BlacklistSyncJobSettings{
		SupplierId: "10000000001", OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}}); err != nil {
		t.Fatal(err)
	}
	for start := 0; start < n; start += 1000 {
		batch := make([]*scv1.BlacklistImportEntry, 0, 1000)
		for i := start; i < min(n, start+1000); i++ {
			batch = append(batch, &scv1.BlacklistImportEntry{Mobile: mobile(first + i), Reason: []scv1.BlacklistReason{scv1.BlacklistReason(1 + i%5)}})
		}
		if err := stream.Send(&scv1.ImportUserBlacklistRequest{Entries: batch}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func mobile(i int) string { return fmt.Sprintf("135%08d", i) }

// waitJob follows a job with WatchBlacklistSyncJob until it ends.
func waitJob(ctx context.Context, t testing.TB, c scv1.LogisticsServiceClient, id string) *scv1.BlacklistSyncJob {
	t.Helper()
	w, err := c.WatchBlacklistSyncJob(ctx, &scv1.WatchBlacklistSyncJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	var last *scv1.BlacklistSyncJob
	for {
		m, err := w.Recv()
		if err == io.EOF {
			return last
		}
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		last = m.GetJob()
	}
}
