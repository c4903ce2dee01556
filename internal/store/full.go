package store

import (
	"errors"
	"fmt"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrFull: the store could not write because the data directory has no
// space left (ENOSPC, SQLITE_FULL), or a file of the store reached the
// size cap of WithMaxPages. Nothing was changed by the failed call; the
// store goes on working, without a restart, once space is freed.
var ErrFull = errors.New("store is full: no space left in the data directory")

// markFull wraps err with ErrFull when it says that space ran out, so
// that callers can tell with errors.Is(err, ErrFull); other errors are
// returned as they are.
func markFull(err error) error {
	if err == nil || errors.Is(err, ErrFull) || !isFull(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrFull, err)
}

// isFull reports whether err is SQLite's or the OS's "no space left".
// SQLITE_FULL is what SQLite answers when a write meets ENOSPC or the
// max_page_count cap; SQLITE_IOERR_SHMSIZE when it cannot grow the WAL
// index (the -shm file), which on a local filesystem only fails for want
// of space.
func isFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code()
		return code&0xff == sqlite3.SQLITE_FULL || code == sqlite3.SQLITE_IOERR_SHMSIZE
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
