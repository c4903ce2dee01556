//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockStore keeps every other process out of the store at path, so that
// one process at a time uses it: two delivery workers on one database
// would send the same chunks, and each would drop the other's imports at
// start. It takes two exclusive locks (flock), which the kernel releases
// when the process ends, even by SIGKILL:
//
//   - on the directory holding the database. This is the one that
//     matters: a directory cannot be deleted while it holds the database,
//     so, unlike a lock file, the lock cannot be removed from under a
//     running server (deleting a lock file let a second server in). The
//     database itself is not locked with flock: SQLite locks it with
//     fcntl, and on some systems (BSD, Linux over NFS) the two kinds of
//     lock conflict.
//   - on path+".lock", as servicecenterd did before it locked the
//     directory, so that an older version running on the same directory
//     is kept out too (and keeps this one out).
//
// The returned function releases both.
func lockStore(path string) (release func() error, err error) {
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if err := flock(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", lockPath, err)
	}
	dir := filepath.Dir(path)
	d, err := os.Open(dir)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock directory: %w", err)
	}
	if err := flock(d); err != nil {
		_ = d.Close()
		_ = f.Close()
		return nil, fmt.Errorf("directory %s: %w", dir, err)
	}
	return func() error { return errors.Join(d.Close(), f.Close()) }, nil
}

// errLocked: another process holds the lock.
var errLocked = errors.New("locked: another servicecenterd uses this data directory")

func flock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	return nil
}
