package testserver

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/logbuf"
	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// The built binary, shared by the tests of one test binary.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary builds cmd/servicecenterd into a temporary directory, once per
// test binary, and returns its path. Call RemoveBinary from TestMain.
func Binary(t testing.TB) string {
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

// RemoveBinary deletes what Binary built, if anything.
func RemoveBinary() {
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
}

// Started reads the JSON "servicecenterd started" log line and returns
// the gRPC and HTTP addresses it names; ok is false for any other line.
func Started(line []byte) (grpcAddr, httpAddr string, ok bool) {
	var l struct {
		Msg      string `json:"msg"`
		GRPCAddr string `json:"grpc_addr"`
		HTTPAddr string `json:"http_addr"`
	}
	if json.Unmarshal(line, &l) != nil || l.Msg != "servicecenterd started" {
		return "", "", false
	}
	return l.GRPCAddr, l.HTTPAddr, true
}

// WaitStarted waits until logs hold the "servicecenterd started" line of
// a server running in the test process, and returns its addresses; it
// fails the test if done (the server's end) yields first.
func WaitStarted(t testing.TB, logs *logbuf.Buffer, done <-chan error) (grpcAddr, httpAddr string) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for time.Now().Before(deadline) {
		for line := range strings.SplitSeq(logs.String(), "\n") {
			if g, h, ok := Started([]byte(line)); ok {
				return g, h
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("server did not start:\n%s", logs.String())
	return "", ""
}

// Process is a servicecenterd child process.
type Process struct {
	Clients
	// GRPCAddr and HTTPAddr are the addresses it serves, from its log.
	GRPCAddr, HTTPAddr string
	// Logs are its standard error: JSON log lines.
	Logs *logbuf.Buffer

	cmd    *exec.Cmd
	exited chan struct{}
}

// StartProcess runs bin with args (which must include "--log-format
// json" after "serve") and waits until it serves, learning its addresses
// from the "servicecenterd started" log line; it dials it. The process
// runs with SERVICECENTERD_DRAIN_DELAY=0s (a --drain-delay flag
// overrides it) and is stopped when the test ends.
func StartProcess(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	p := &Process{cmd: exec.Command(bin, args...), Logs: &logbuf.Buffer{}, exited: make(chan struct{})}
	// No drain delay unless the test's flags set one: stopping is quick.
	p.cmd.Env = append(os.Environ(), "SERVICECENTERD_DRAIN_DELAY=0s")
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
			p.Logs.Write(append(sc.Bytes(), '\n'))
			if g, h, ok := Started(sc.Bytes()); ok {
				ready <- [2]string{g, h}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.Stop(t) })
	select {
	case addrs := <-ready:
		p.GRPCAddr, p.HTTPAddr = addrs[0], addrs[1]
	case <-p.exited:
		t.Fatalf("servicecenterd exited at start:\n%s", p.Logs)
	case <-time.After(2 * WaitTimeout):
		t.Fatalf("servicecenterd did not start:\n%s", p.Logs)
	}
	p.Clients = Dial(t, p.GRPCAddr)
	return p
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	p.Conn.Close()
}

// Stop sends SIGTERM (SIGKILL after WaitTimeout) and waits; calling it
// after the process ended is fine.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(WaitTimeout):
		t.Errorf("servicecenterd did not stop on SIGTERM; killing it")
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	if p.Conn != nil {
		p.Conn.Close()
	}
}

// PeakRSS reads the process's peak resident set size (VmHWM), in bytes.
func (p *Process) PeakRSS(t testing.TB) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
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

// Emulator is a TOP emulator served from the test process.
type Emulator struct {
	*topemu.Emulator
	// URL is its base URL; TOP's gateway is URL + "/router/rest".
	URL string
}

// StartEmulator serves a new emulator until the test ends.
func StartEmulator(t testing.TB, cfg topemu.Config) *Emulator {
	t.Helper()
	emu, err := topemu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		srv.Close()
		emu.Close()
	})
	return &Emulator{Emulator: emu, URL: srv.URL}
}

// Use points a server's TOP client at the emulator, with the emulator's
// demo app key, secret and session (so no embedded emulator starts): pass
// it to Start, alone or inside a mutate of the test's own, e.g. to run
// several servers against one TOP as replicas do.
func (e *Emulator) Use(c *server.Config) {
	c.TOP.URL, c.TOP.AppKey, c.TOP.AppSecret, c.TOP.Session = e.URL+"/router/rest", topemu.DefaultAppKey, topemu.DefaultAppSecret, topemu.DefaultSession
}

// ServeFlags are the serve command's flags that do what Use does, for
// StartProcess.
func (e *Emulator) ServeFlags() []string {
	return []string{"--top-url", e.URL + "/router/rest", "--top-app-key", topemu.DefaultAppKey,
		"--top-app-secret", topemu.DefaultAppSecret, "--top-session", topemu.DefaultSession}
}

// TMCURL is the emulator's TMC endpoint, for --tmc-url (servers pointed
// at the emulator with Use or ServeFlags consume TMC only when told so).
func (e *Emulator) TMCURL() string { return "ws://" + strings.TrimPrefix(e.URL, "http://") + "/" }

// Admin sends an admin request to the emulator (see the package-level
// Admin).
func (e *Emulator) Admin(t testing.TB, method, path string, body any) []byte {
	t.Helper()
	return Admin(t, e.URL, method, path, body)
}
