package sqlite

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	modsqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// markFull wraps err with syncjob.ErrFull when it says that space ran
// out (ENOSPC, SQLITE_FULL, or a file of the store reached the size cap
// of WithMaxPages), so that callers can tell with errors.Is; other errors
// are returned as they are.
func markFull(err error) error {
	if err == nil || errors.Is(err, syncjob.ErrFull) || !isFull(err) {
		return err
	}
	return fmt.Errorf("%w: %w", syncjob.ErrFull, err)
}

// isFull reports whether err is SQLite's or the OS's "no space left".
// SQLITE_FULL is what SQLite answers when a write meets ENOSPC or the
// max_page_count cap; SQLITE_IOERR_SHMSIZE when it cannot grow the WAL
// index (the -shm file), which on a local filesystem only fails for want
// of space.
func isFull(err error) bool {
	var se *modsqlite.Error
	if errors.As(err, &se) {
		code := se.Code()
		return code&0xff == sqlite3.SQLITE_FULL || code == sqlite3.SQLITE_IOERR_SHMSIZE
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
