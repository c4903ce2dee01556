package docs

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/testutil/logbuf"
)

// TestMakeRunStopsCleanly: the quick start's `make run` serves until
// Ctrl-C (SIGINT to the terminal's process group: make and the server),
// then stops without make reporting an error. (No drain delay: the 5s
// default only makes the stop wait.)
func TestMakeRunStopsCleanly(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make here")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "run",
		"RUN_BIN="+filepath.Join(dir, "servicecenterd"), "RUN_DATA_DIR="+filepath.Join(dir, "data"),
		"RUN_FLAGS=--grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --emulator-addr 127.0.0.1:0 --drain-delay 0s")
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &logbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(out.String(), "servicecenterd started") {
		if ctx.Err() != nil {
			t.Fatalf("make run did not start:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "make reset clears it") {
		t.Errorf("make run does not say where its state is:\n%s", out.String())
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	// make ends the way a Ctrl-C'd make does: exit 0, or killed by the
	// SIGINT it re-raises; never "Error 1".
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == -1) {
		t.Errorf("make run ended with %v", err)
	}
	if text := out.String(); strings.Contains(text, "make: ***") || !strings.Contains(text, "shutting down") {
		t.Errorf("make run did not stop cleanly:\n%s", text)
	}
}
