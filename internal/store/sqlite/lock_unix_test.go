//go:build unix

package sqlite

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestLockSurvivesDeletingTheLockFile: with the lock file deleted, a
// second open of the same data directory is still refused, in this
// process and in another one; and a lock on the lock file alone (what an
// older servicecenterd holds) keeps this one out too.
func TestLockSurvivesDeletingTheLockFile(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// hold locks the store at path, as another user would; the
		// returned function lets go.
		hold func(t *testing.T, path string) func()
		// lockFileOnly: the holder locks the lock file, nothing else.
		lockFileOnly bool
	}{
		{"another open in this process", func(t *testing.T, path string) func() {
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			return func() { s.Close() }
		}, false},
		{"another process", holdInHelperProcess, false},
		{"an older servicecenterd (lock file only)", func(t *testing.T, path string) func() {
			f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
				t.Fatal(err)
			}
			return func() { f.Close() }
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			release := tt.hold(t, path)
			if _, err := Open(ctx, path); !errors.Is(err, errLocked) {
				t.Fatalf("second open with the lock file in place: %v, want %v", err, errLocked)
			}
			if !tt.lockFileOnly {
				if err := os.Remove(path + ".lock"); err != nil {
					t.Fatal(err)
				}
				s, err := Open(ctx, path)
				if err == nil {
					s.Close()
					t.Fatal("a second open succeeded once the lock file was deleted")
				}
				if !errors.Is(err, errLocked) {
					t.Fatalf("second open after deleting the lock file: %v, want %v", err, errLocked)
				}
			}
			release()
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatalf("open after the other user let go: %v", err)
			}
			s.Close()
		})
	}
}

// helperEnv marks the test binary run as the lock holder.
const helperEnv = "SERVICECENTERD_STORE_LOCK_HELPER"

// holdInHelperProcess runs this test binary as another process that opens
// the store at path, and returns once it holds it; calling the returned
// function makes it close the store and exit.
func holdInHelperProcess(t *testing.T, path string) func() {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLockHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper process: %v", err)
		}
		cancel()
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "store open" {
			go func() {
				for sc.Scan() { // drain the test framework's output
				}
			}()
			return stop
		}
	}
	stop()
	t.Fatal("the helper process did not open the store")
	return nil
}

// TestLockHelperProcess is the other process of holdInHelperProcess; run
// alone, it does nothing.
func TestLockHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper of TestLockSurvivesDeletingTheLockFile")
	}
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	os.Stdout.WriteString("store open\n")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until stdin closes
}
