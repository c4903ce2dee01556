package server_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/server"
	"github.com/servicecenterd/servicecenterd/internal/testutil/testserver"
)

// mountSmallFS mounts a tmpfs of size bytes on a new directory and
// returns it; it is unmounted when the test ends. It skips the test when
// mounting is not permitted (it needs root or CAP_SYS_ADMIN).
func mountSmallFS(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+size+",mode=0700"); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("mounting a %s tmpfs is not permitted here (%v): it needs root or CAP_SYS_ADMIN; "+
				"TestStoreFullOverGRPCAndREST covers the same path without privileges", size, err)
		}
		t.Fatalf("mount a %s tmpfs: %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file in dir until the filesystem is full and returns its
// path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ballast")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return path
		}
	}
}

// TestStoreFullOnARealFilesystem runs the server with --data-dir on a
// 2 MiB tmpfs (River's tables and indexes take a few hundred KiB of it).
// An import larger than the disk answers RESOURCE_EXHAUSTED / STORE_FULL
// and is removed at once, so a 2-entry import then goes
// through; with the disk filled to the last byte even that one answers
// STORE_FULL; once space is freed the server imports and delivers again,
// without a restart.
func TestStoreFullOnARealFilesystem(t *testing.T) {
	// Not t.Parallel: it keeps the CPU busy for seconds (see TestMain).
	dataDir := mountSmallFS(t, "2m")
	ts := testserver.Start(t, func(c *server.Config) { c.Store.DataDir = dataDir })
	_, err := importEntries(t, ts, 0, 150_000)
	wantStoreFull(t, "import of 150,000 entries on a 2 MiB disk", err)
	if left := stagingLeft(t, dataDir); len(left) != 0 {
		t.Fatalf("the aborted import left %v", left)
	}
	importSucceeds(t, ts, "a 2-entry import after the full one", 0, 2)

	ballast := fill(t, dataDir)
	_, err = importEntries(t, ts, 10, 2)
	wantStoreFull(t, "a 2-entry import on a full disk", err)
	if left := stagingLeft(t, dataDir); len(left) != 0 {
		t.Fatalf("the aborted import left %v", left)
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	importSucceeds(t, ts, "a 2-entry import once space is freed", 20, 2)
	importSucceeds(t, ts, "a 2,000-entry import once space is freed", 100, 2_000)
}
