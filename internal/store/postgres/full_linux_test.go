package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob/syncjobtest"
	"github.com/servicecenterd/servicecenterd/internal/testutil/pgtest"
)

// smallTablespace mounts a tmpfs of size on a new directory, owned by the
// local PostgreSQL server's user, and makes it a tablespace; both go when
// the test ends. It skips when that cannot be done here: it needs root
// (to mount) and the server on this machine (to write there).
func smallTablespace(t *testing.T, admin *pgx.Conn, size string) string {
	t.Helper()
	ctx := context.Background()
	var dataDir string
	if err := admin.QueryRow(ctx, "SHOW data_directory").Scan(&dataDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dataDir); err != nil {
		t.Skipf("the PostgreSQL server is not on this machine (its data directory %s: %v)", dataDir, err)
	}
	owner, err := user.Lookup("postgres")
	if err != nil {
		t.Skipf("no postgres user here: %v", err)
	}
	parent, err := os.MkdirTemp("", "scdtest-pgfull-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(parent, 0o755); err != nil { // the server's user must reach the mount
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "ts")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("size=%s,mode=0700,uid=%s,gid=%s", size, owner.Uid, owner.Gid)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		os.RemoveAll(parent)
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("mounting a tmpfs is not permitted here (%v): it needs root or CAP_SYS_ADMIN", err)
		}
		t.Fatalf("mount a %s tmpfs: %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
		os.RemoveAll(parent)
	})
	name := pgtest.Prefix + "ts_" + filepath.Base(parent)[len("scdtest-pgfull-"):]
	if _, err := admin.Exec(ctx, "CREATE TABLESPACE "+name+" LOCATION '"+dir+"'"); err != nil {
		t.Fatalf("create tablespace: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP TABLESPACE IF EXISTS "+name); err != nil {
			t.Errorf("drop tablespace: %v", err)
		}
	})
	return name
}

// fill writes a file in dir until its filesystem is full and returns the
// file's path.
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

// TestFullDisk runs the store on a database whose tables (and temporary
// tables) live on a 2 MiB tmpfs: an import larger than the disk answers
// ErrFull and is removed all the same, a small one goes through; with
// the disk filled to the last byte, writes answer ErrFull and reads go
// on; once space is freed the store carries on, without being reopened.
// PostgreSQL's own "no space left" is SQLSTATE 53100 (disk_full).
func TestFullDisk(t *testing.T) {
	ctx := context.Background()
	admin := pgtest.Admin(t)
	ts := smallTablespace(t, admin, "2m")
	var location string
	if err := admin.QueryRow(ctx, "SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = $1", ts).Scan(&location); err != nil {
		t.Fatal(err)
	}
	url := pgtest.NewDatabase(t)
	db := strings.TrimPrefix(strings.SplitN(url[strings.LastIndex(url, "/"):], "?", 2)[0], "/")
	for _, q := range []string{
		"ALTER DATABASE " + db + " SET default_tablespace = " + ts,
		"ALTER DATABASE " + db + " SET temp_tablespaces = " + ts,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, url)
	isFull := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, syncjob.ErrFull) {
			t.Fatalf("%s: %v, want ErrFull", what, err)
		}
		if !strings.Contains(err.Error(), "SQLSTATE 53100") {
			t.Errorf("%s: %q does not carry PostgreSQL's reason", what, err)
		}
	}
	stage := func(id string, n int) error {
		if _, err := s.CreateImport(ctx, syncjob.JobSpec{ID: id, SupplierID: syncjobtest.Supplier, OperateType: 1, ServiceType: 1, AbilityType: 1, ChunkSize: 100, Created: t0}); err != nil {
			return err
		}
		for start := 0; start < n; start += 4096 {
			batch := make([]syncjob.Entry, 0, 4096)
			for i := start; i < min(n, start+4096); i++ {
				batch = append(batch, syncjob.Entry{Pos: int64(i), Mobile: syncjobtest.Mobile(i), Reasons: 1 << 1})
			}
			if err := s.AddImportEntries(ctx, id, batch); err != nil {
				return err
			}
		}
		return nil
	}
	small := func(id string) {
		t.Helper()
		if err := stage(id, 2); err != nil {
			t.Fatalf("small import %s: %v", id, err)
		}
		if j, err := s.CommitImport(ctx, id, syncjob.ImportCounts{Received: 2}, t0); err != nil || j.Total != 2 {
			t.Fatalf("small import %s: %+v, %v", id, j, err)
		}
	}

	isFull("staging 100,000 entries", stage("bj-huge", 100_000))
	if err := s.DeleteImport(ctx, "bj-huge"); err != nil {
		t.Fatalf("removing the aborted import: %v", err)
	}
	if n := tempTables(t, s); n != 0 {
		t.Fatalf("%d staging tables left", n)
	}
	small("bj-small-1")

	// The disk full to the last byte.
	ballast := fill(t, location)
	var recordErr error
	for i := 0; recordErr == nil; i++ {
		if i > 100_000 {
			t.Fatal("the full disk never filled")
		}
		recordErr = s.Record(ctx, audit.Event{Time: t0, RPC: "/s.S/M", Client: fmt.Sprintf("client-%06d-padding-padding-padding", i)})
	}
	isFull("audit record", recordErr)
	err := stage("bj-more", 10_000)
	if err == nil {
		_, err = s.CommitImport(ctx, "bj-more", syncjob.ImportCounts{Received: 10_000}, t0)
	}
	isFull("an import of 10,000 entries on a full disk", err)
	if err := s.DeleteImport(ctx, "bj-more"); err != nil {
		t.Fatalf("removing an import while the disk is full: %v", err)
	}
	if j, err := s.Job(ctx, "bj-small-1"); err != nil || j.Total != 2 {
		t.Fatalf("reading on a full disk: %+v, %v", j, err)
	}

	// Room again, without reopening.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if prev, err := s.BeginChunk(ctx, "bj-small-1", 0, t0); err != nil || prev != syncjob.ChunkNew {
		t.Fatalf("begin chunk once there is room: %v, %v", prev, err)
	}
	small("bj-small-2")
	if err := s.Record(ctx, audit.Event{Time: t0, RPC: "/s.S/M"}); err != nil {
		t.Fatalf("audit record once there is room: %v", err)
	}
}
