package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
)

// Imports are staged outside the database, each in a file of its own in
// the staging directory (the database's path + "-imports"), and copied
// into the database by CommitImport in one transaction. Until then the
// database holds nothing of them, so dropping an import is deleting its
// file: that needs no space, and it frees the space the import took. In
// the database, deleting staged rows would need space (the WAL gets a new
// copy of every page the delete changes), so an import aborted because
// the disk was full could not be removed while it stayed full, and every
// later import failed too.
//
// A staging file is a throwaway: journal in memory, no fsync. A crash
// leaves it behind for DeleteStaleImports.

// stagingDirSuffix names the staging directory after the database.
const stagingDirSuffix = "-imports"

// stagingExt ends every staging file's name; SQLite may add "-journal".
const stagingExt = ".import"

// stagingCacheKiB is the page cache of one staging file: entries arrive in
// position order, so appends touch the last pages only.
const stagingCacheKiB = 1024

// validJobID is what a job id must look like to name a file.
var validJobID = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$`)

// staged is an import in progress.
type staged struct {
	spec syncjob.JobSpec
	path string
	// mu serialises the calls on this import.
	mu sync.Mutex
	db *sql.DB // nil once dropped or committed
	// count is how many entries were staged.
	count int64
}

// StagingDir is the directory where the store at path stages imports in
// progress, one file each.
func StagingDir(path string) string { return path + stagingDirSuffix }

// stagingPath is the staging file of job id.
func (s *Store) stagingPath(id string) string {
	return filepath.Join(s.stagingDir, id+stagingExt)
}

// CreateImport implements syncjob.Store: it creates the import's staging file.
func (s *Store) CreateImport(ctx context.Context, spec syncjob.JobSpec) (syncjob.Job, error) {
	if !validJobID.MatchString(spec.ID) || spec.ChunkSize <= 0 {
		return syncjob.Job{}, errors.New("create import: a job id of 1 to 64 letters, digits, '.', '_' or '-' and a chunk size are required")
	}
	if _, err := lookup(ctx, s.r, spec.ID); !errors.Is(err, syncjob.ErrJobNotFound) {
		if err == nil {
			err = fmt.Errorf("job %s exists", spec.ID)
		}
		return syncjob.Job{}, fmt.Errorf("create import: %w", err)
	}
	st := &staged{spec: spec, path: s.stagingPath(spec.ID)}
	st.mu.Lock() // until the file exists: Close waits for it
	defer st.mu.Unlock()
	s.mu.Lock()
	if s.imports == nil {
		s.mu.Unlock()
		return syncjob.Job{}, errClosed
	}
	if _, dup := s.imports[spec.ID]; dup {
		s.mu.Unlock()
		return syncjob.Job{}, fmt.Errorf("create import: import %s exists", spec.ID)
	}
	s.imports[spec.ID] = st
	s.mu.Unlock()
	if err := st.create(ctx, s.maxPages); err != nil {
		s.forget(spec.ID)
		_ = st.drop()
		return syncjob.Job{}, markFull(fmt.Errorf("create import: %w", err))
	}
	return syncjob.Job{JobSpec: spec, State: syncjob.StateImporting, Updated: spec.Created}, nil
}

// create makes the staging file and its table.
func (st *staged) create(ctx context.Context, maxPages int) error {
	f, err := os.OpenFile(st.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	dsn := "file:" + st.path + "?_pragma=journal_mode(MEMORY)&_pragma=synchronous(OFF)&_pragma=cache_size(-" +
		strconv.Itoa(stagingCacheKiB) + ")" + maxPagesPragma(maxPages)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	st.db = db
	// pos is the rowid: entries arrive in position order and append.
	if _, err = db.ExecContext(ctx, `CREATE TABLE entries (
		pos     INTEGER PRIMARY KEY,
		mobile  INTEGER NOT NULL,
		reasons INTEGER NOT NULL
	)`); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `CREATE TABLE rejections (
		idx         INTEGER PRIMARY KEY,
		line        INTEGER NOT NULL,
		field       TEXT    NOT NULL,
		description TEXT    NOT NULL
	)`)
	return err
}

// drop closes the staging file and deletes it. Deleting a file needs no
// space, so this works on a full disk (and frees what the import took).
func (st *staged) drop() error {
	var errs []error
	if st.db != nil {
		errs = append(errs, st.db.Close())
		st.db = nil
	}
	for _, p := range []string{st.path, st.path + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// open returns the import of jobID, locked; the caller unlocks it. When
// there is none it returns syncjob.ErrStateConflict if the job is committed,
// syncjob.ErrJobNotFound otherwise.
func (s *Store) open(ctx context.Context, jobID string) (*staged, error) {
	s.mu.Lock()
	st := s.imports[jobID]
	s.mu.Unlock()
	if st != nil {
		st.mu.Lock()
		if st.db != nil {
			return st, nil
		}
		st.mu.Unlock() // dropped or committed meanwhile
	}
	if _, err := lookup(ctx, s.r, jobID); err != nil {
		return nil, err
	}
	return nil, syncjob.ErrStateConflict
}

// forget removes jobID from the imports in progress.
func (s *Store) forget(jobID string) {
	s.mu.Lock()
	delete(s.imports, jobID)
	s.mu.Unlock()
}

// insertRows is how many entries one INSERT statement carries.
const insertRows = 100

const insertStagedOne = "INSERT INTO entries (pos, mobile, reasons) VALUES (?, ?, ?)"

// insertStagedMany inserts insertRows entries.
var insertStagedMany = "INSERT INTO entries (pos, mobile, reasons) VALUES " +
	strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", insertRows), ", ")

// AddImportEntries implements syncjob.Store.
func (s *Store) AddImportEntries(ctx context.Context, jobID string, entries []syncjob.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	st, err := s.open(ctx, jobID)
	if err != nil {
		return fmt.Errorf("add import entries: %w", err)
	}
	defer st.mu.Unlock()
	err = inTx(ctx, st.db, func(tx *sql.Tx) error {
		args := make([]any, 0, 3*insertRows)
		rest := entries
		if len(rest) >= insertRows {
			many, err := tx.PrepareContext(ctx, insertStagedMany)
			if err != nil {
				return err
			}
			defer many.Close()
			for ; len(rest) >= insertRows; rest = rest[insertRows:] {
				args = args[:0]
				for _, e := range rest[:insertRows] {
					if args, err = appendEntry(args, e); err != nil {
						return err
					}
				}
				if _, err := many.ExecContext(ctx, args...); err != nil {
					return err
				}
			}
		}
		if len(rest) > 0 {
			one, err := tx.PrepareContext(ctx, insertStagedOne)
			if err != nil {
				return err
			}
			defer one.Close()
			for _, e := range rest {
				if args, err = appendEntry(args[:0], e); err != nil {
					return err
				}
				if _, err := one.ExecContext(ctx, args...); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return markFull(fmt.Errorf("add import entries: %w", err))
	}
	st.count += int64(len(entries))
	return nil
}

func appendEntry(args []any, e syncjob.Entry) ([]any, error) {
	m, err := mobileNumber(e.Mobile)
	if err != nil {
		return args, err
	}
	return append(args, e.Pos, m, int64(e.Reasons)), nil
}

// mobileNumber turns an 11-digit mobile into the integer kept in the
// database (it starts with 1, so no leading zero is lost).
func mobileNumber(s string) (int64, error) {
	if len(s) != 11 || s[0] != '1' {
		return 0, errors.New("entry mobile is not an 11-digit number starting with 1")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errors.New("entry mobile is not an 11-digit number starting with 1")
	}
	return n, nil
}

// CommitImport implements syncjob.Store: it attaches the staging file to the write
// connection and, in one durable transaction, inserts the job and its
// numbered entries; then it deletes the staging file. When the commit
// fails (the disk is full, say) nothing is written and the import stays
// staged: DeleteImport drops it.
func (s *Store) CommitImport(ctx context.Context, jobID string, counts syncjob.ImportCounts, now time.Time) (syncjob.Job, error) {
	return s.CommitImportWith(ctx, jobID, counts, now, nil)
}

// CommitImportWith implements syncjob.TxStore: CommitImport, with also in
// its transaction.
func (s *Store) CommitImportWith(ctx context.Context, jobID string, counts syncjob.ImportCounts, now time.Time, also syncjob.TxFunc[*sql.Tx]) (syncjob.Job, error) {
	st, err := s.open(ctx, jobID)
	if err != nil {
		return syncjob.Job{}, fmt.Errorf("commit import %s: %w", jobID, err)
	}
	defer st.mu.Unlock()
	var out syncjob.Job
	err = s.withConn(ctx, func(conn *sql.Conn) (err error) {
		if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS staged", st.path); err != nil {
			return fmt.Errorf("attach staged entries: %w", err)
		}
		// Read once, in order: a small cache will do.
		if _, err := conn.ExecContext(ctx, "PRAGMA staged.cache_size = -"+strconv.Itoa(stagingCacheKiB)); err != nil {
			return fmt.Errorf("attach staged entries: %w", err)
		}
		defer func() {
			if _, derr := conn.ExecContext(context.WithoutCancel(ctx), "DETACH DATABASE staged"); derr != nil && err == nil {
				err = fmt.Errorf("detach staged entries: %w", derr)
			}
		}()
		return durableConnTx(ctx, conn, func(tx *sql.Tx) error {
			sp := st.spec
			res, err := tx.ExecContext(ctx, `INSERT INTO blacklist_jobs
				(id, supplier_id, operate_type, service_type, ability_type, chunk_size, state,
				 received, rejected, created_ns, updated_ns)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				sp.ID, sp.SupplierID, sp.OperateType, sp.ServiceType, sp.AbilityType, sp.ChunkSize, syncjob.StateQueued,
				counts.Received, counts.Rejected, sp.Created.UnixNano(), now.UnixNano())
			if err != nil {
				return fmt.Errorf("insert job: %w", err)
			}
			key, err := res.LastInsertId()
			if err != nil {
				return err
			}
			// With exactly one max() aggregate, SQLite takes the bare
			// column reasons from the row holding the maximum: the last
			// duplicate.
			res, err = tx.ExecContext(ctx, `INSERT INTO blacklist_entries (job, seq, mobile, reasons)
				SELECT ?, ROW_NUMBER() OVER (ORDER BY p) - 1, mobile, reasons
				FROM (SELECT MAX(pos) AS p, mobile, reasons FROM staged.entries GROUP BY mobile)`, key)
			if err != nil {
				return fmt.Errorf("number entries: %w", err)
			}
			total, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO blacklist_rejections (job, idx, line, field, description)
				SELECT ?, idx, line, field, description FROM staged.rejections`, key); err != nil {
				return fmt.Errorf("store rejections: %w", err)
			}
			chunks := (total + int64(sp.ChunkSize) - 1) / int64(sp.ChunkSize)
			if _, err := tx.ExecContext(ctx, "UPDATE blacklist_jobs SET duplicates = ?, total = ?, chunks = ? WHERE key = ?",
				st.count-total, total, chunks, key); err != nil {
				return fmt.Errorf("count entries: %w", err)
			}
			if out, err = job(ctx, tx, jobID); err != nil {
				return err
			}
			return runAlso(ctx, also, tx, out)
		})
	})
	if err != nil {
		return syncjob.Job{}, markFull(fmt.Errorf("commit import %s: %w", jobID, err))
	}
	s.forget(jobID)
	_ = st.drop() // committed; a file left behind goes at the next DeleteStaleImports
	return out, nil
}

// DeleteImport implements syncjob.Store: it deletes the import's staging file,
// which works on a full disk.
func (s *Store) DeleteImport(ctx context.Context, jobID string) error {
	st, err := s.open(ctx, jobID)
	if err != nil {
		return fmt.Errorf("delete import %s: %w", jobID, err)
	}
	defer st.mu.Unlock()
	s.forget(jobID)
	if err := st.drop(); err != nil {
		return fmt.Errorf("delete import %s: %w", jobID, err)
	}
	return nil
}

// DeleteStaleImports implements syncjob.Store: it deletes the staging files that
// no import in progress owns (a crash left them).
func (s *Store) DeleteStaleImports(ctx context.Context) (int, error) {
	names, err := os.ReadDir(s.stagingDir)
	if err != nil {
		return 0, fmt.Errorf("delete stale imports: %w", err)
	}
	s.mu.Lock()
	live := make(map[string]bool, len(s.imports))
	for id := range s.imports {
		live[id] = true
	}
	s.mu.Unlock()
	stale := map[string]bool{}
	var errs []error
	for _, e := range names {
		if ctx.Err() != nil {
			return len(stale), ctx.Err()
		}
		id, ok := strings.CutSuffix(strings.TrimSuffix(e.Name(), "-journal"), stagingExt)
		if !ok || live[id] {
			continue
		}
		stale[id] = true
		if err := os.Remove(filepath.Join(s.stagingDir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return len(stale), fmt.Errorf("delete stale imports: %w", err)
	}
	return len(stale), nil
}

// dropImports drops every import in progress (at Close).
func (s *Store) dropImports() error {
	s.mu.Lock()
	imports := s.imports
	s.imports = nil
	s.mu.Unlock()
	var errs []error
	for _, st := range imports {
		st.mu.Lock()
		errs = append(errs, st.drop())
		st.mu.Unlock()
	}
	return errors.Join(errs...)
}
