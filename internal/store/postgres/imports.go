package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
)

// An import in progress holds a connection of the pool and stages its
// entries in a temporary table of that connection's session,
// pg_temp.blacklist_import, with COPY (pgx's CopyFrom) in batches, so that
// memory stays flat however many entries arrive. CommitImport turns them
// into the job's entries in one transaction on the same connection, then
// the table is dropped and the connection goes back to the pool.
//
// Temporary tables are neither logged nor seen by other sessions, and
// PostgreSQL drops them when their session ends: an import that a crash
// of this process (or a lost connection) interrupted leaves nothing
// behind, whichever replica it ran on. So DeleteStaleImports has nothing
// to do here, and no replica can drop another's import in progress.
//
// This needs session-level pooling between servicecenterd and PostgreSQL
// (PgBouncer's session mode, not its transaction mode), as River's
// LISTEN does.

// importTable is the temporary table of an import, in its session.
const importTable = "pg_temp.blacklist_import"

// validJobID is what a job id must look like (as on SQLite, where it names
// a file).
var validJobID = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$`)

// errClosed answers calls that arrive while the store closes.
var errClosed = errors.New("store is closed")

// staged is an import in progress.
type staged struct {
	spec syncjob.JobSpec
	// mu serialises the calls on this import.
	mu sync.Mutex
	// conn holds the temporary table; nil once dropped or committed.
	conn *pgxpool.Conn
	// count is how many entries were staged.
	count int64
	// rejections says whether the rejections' table exists: it is made at
	// the first rejection, so that an import without any needs one table.
	rejections bool
}

// CreateImport implements syncjob.Store: it takes a connection for the
// import and creates its temporary table. It waits while half the pool's
// connections already hold imports (or until ctx ends).
func (s *Store) CreateImport(ctx context.Context, spec syncjob.JobSpec) (syncjob.Job, error) {
	if !validJobID.MatchString(spec.ID) || spec.ChunkSize <= 0 {
		return syncjob.Job{}, errors.New("create import: a job id of 1 to 64 letters, digits, '.', '_' or '-' and a chunk size are required")
	}
	if _, err := lookup(ctx, s.pool, spec.ID); !errors.Is(err, syncjob.ErrJobNotFound) {
		if err == nil {
			err = fmt.Errorf("job %s exists", spec.ID)
		}
		return syncjob.Job{}, fmt.Errorf("create import: %w", err)
	}
	st := &staged{spec: spec}
	st.mu.Lock() // until the table exists: Close waits for it
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
	if err := s.stage(ctx, st); err != nil {
		s.forget(spec.ID)
		return syncjob.Job{}, markFull(fmt.Errorf("create import: %w", err))
	}
	return syncjob.Job{JobSpec: spec, State: syncjob.StateImporting, Updated: spec.Created}, nil
}

// stage takes an import slot and a connection, and creates the table.
func (s *Store) stage(ctx context.Context, st *staged) error {
	select {
	case s.importSlots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for one of the %d imports in progress to end: %w", cap(s.importSlots), ctx.Err())
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		<-s.importSlots
		return err
	}
	st.conn = conn
	// No primary key: COPY appends fastest to a bare heap, and the commit
	// sorts anyway.
	if _, err := conn.Exec(ctx, "CREATE TEMPORARY TABLE blacklist_import (pos BIGINT NOT NULL, mobile BIGINT NOT NULL, reasons SMALLINT NOT NULL)"); err != nil {
		s.release(st)
		return err
	}
	return nil
}

// release drops the import's table and gives its connection and slot
// back. When the table cannot be dropped, the connection is closed, which
// drops it all the same.
func (s *Store) release(st *staged) {
	if st.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := st.conn.Exec(ctx, "DROP TABLE IF EXISTS "+importTable+", "+rejectionsTable); err != nil {
		_ = st.conn.Hijack().Close(ctx)
	} else {
		st.conn.Release()
	}
	st.conn = nil
	<-s.importSlots
}

// open returns the import of jobID, locked; the caller unlocks it. When
// there is none it returns syncjob.ErrStateConflict if the job is
// committed, syncjob.ErrJobNotFound otherwise.
func (s *Store) open(ctx context.Context, jobID string) (*staged, error) {
	s.mu.Lock()
	st := s.imports[jobID]
	s.mu.Unlock()
	if st != nil {
		st.mu.Lock()
		if st.conn != nil {
			return st, nil
		}
		st.mu.Unlock() // dropped or committed meanwhile
	}
	if _, err := lookup(ctx, s.pool, jobID); err != nil {
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

// AddImportEntries implements syncjob.Store: one COPY of the batch.
func (s *Store) AddImportEntries(ctx context.Context, jobID string, entries []syncjob.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	mobiles := make([]int64, len(entries))
	for i, e := range entries {
		m, err := mobileNumber(e.Mobile)
		if err != nil {
			return fmt.Errorf("add import entries: %w", err)
		}
		mobiles[i] = m
	}
	st, err := s.open(ctx, jobID)
	if err != nil {
		return fmt.Errorf("add import entries: %w", err)
	}
	defer st.mu.Unlock()
	rows := pgx.CopyFromSlice(len(entries), func(i int) ([]any, error) {
		return []any{entries[i].Pos, mobiles[i], int16(entries[i].Reasons)}, nil
	})
	if _, err := st.conn.CopyFrom(ctx, pgx.Identifier{"pg_temp", "blacklist_import"}, []string{"pos", "mobile", "reasons"}, rows); err != nil {
		return markFull(fmt.Errorf("add import entries: %w", err))
	}
	st.count += int64(len(entries))
	return nil
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

// commitWorkMem is the memory PostgreSQL may use for each of the commit's
// two sorts (by mobile, to collapse duplicates; by position, to number the
// survivors) before it spills to disk: a million entries sort in memory.
const commitWorkMem = "64MB"

// CommitImport implements syncjob.Store: in one transaction on the
// import's connection it inserts the job and its numbered entries; then
// it drops the staging table. When the commit fails (the disk is full,
// say) nothing is written and the import stays staged: DeleteImport drops
// it.
func (s *Store) CommitImport(ctx context.Context, jobID string, counts syncjob.ImportCounts, now time.Time) (syncjob.Job, error) {
	return s.CommitImportWith(ctx, jobID, counts, now, nil)
}

// CommitImportWith implements syncjob.TxStore: CommitImport, with also in
// its transaction.
func (s *Store) CommitImportWith(ctx context.Context, jobID string, counts syncjob.ImportCounts, now time.Time, also syncjob.TxFunc[pgx.Tx]) (syncjob.Job, error) {
	st, err := s.open(ctx, jobID)
	if err != nil {
		return syncjob.Job{}, fmt.Errorf("commit import %s: %w", jobID, err)
	}
	defer st.mu.Unlock()
	var out syncjob.Job
	err = pgx.BeginFunc(ctx, st.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL work_mem = '"+commitWorkMem+"'"); err != nil {
			return err
		}
		sp := st.spec
		var key int64
		err := tx.QueryRow(ctx, `INSERT INTO blacklist_jobs
			(id, supplier_id, operate_type, service_type, ability_type, chunk_size, state,
			 received, rejected, created_ns, updated_ns)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING key`,
			sp.ID, sp.SupplierID, sp.OperateType, sp.ServiceType, sp.AbilityType, sp.ChunkSize, int32(syncjob.StateQueued),
			counts.Received, counts.Rejected, nanos(sp.Created), nanos(now)).Scan(&key)
		if isUniqueViolation(err) {
			return fmt.Errorf("insert job: job %s exists", sp.ID)
		}
		if err != nil {
			return fmt.Errorf("insert job: %w", err)
		}
		// Of the entries of one mobile, the last (highest position) stays;
		// the survivors are numbered in position order.
		tag, err := tx.Exec(ctx, `INSERT INTO blacklist_entries (job, seq, mobile, reasons)
			SELECT $1, ROW_NUMBER() OVER (ORDER BY pos) - 1, mobile, reasons
			FROM (SELECT DISTINCT ON (mobile) pos, mobile, reasons FROM `+importTable+` ORDER BY mobile, pos DESC) AS last`, key)
		if err != nil {
			return fmt.Errorf("number entries: %w", err)
		}
		total := tag.RowsAffected()
		if st.rejections {
			if _, err := tx.Exec(ctx, `INSERT INTO blacklist_rejections (job, idx, line, field, description)
				SELECT $1, idx, line, field, description FROM `+rejectionsTable, key); err != nil {
				return fmt.Errorf("store rejections: %w", err)
			}
		}
		chunks := (total + int64(sp.ChunkSize) - 1) / int64(sp.ChunkSize)
		if _, err := tx.Exec(ctx, "UPDATE blacklist_jobs SET duplicates = $1, total = $2, chunks = $3 WHERE key = $4",
			st.count-total, total, chunks, key); err != nil {
			return fmt.Errorf("count entries: %w", err)
		}
		if out, err = job(ctx, tx, jobID); err != nil {
			return err
		}
		return runAlso(ctx, also, tx, out)
	})
	if err != nil {
		return syncjob.Job{}, markFull(fmt.Errorf("commit import %s: %w", jobID, err))
	}
	s.forget(jobID)
	s.release(st)
	return out, nil
}

// DeleteImport implements syncjob.Store: it drops the import's table.
func (s *Store) DeleteImport(ctx context.Context, jobID string) error {
	st, err := s.open(ctx, jobID)
	if err != nil {
		return fmt.Errorf("delete import %s: %w", jobID, err)
	}
	defer st.mu.Unlock()
	s.forget(jobID)
	s.release(st)
	return nil
}

// DeleteStaleImports implements syncjob.Store. There are never any: an
// import's table goes with its connection (see above).
func (s *Store) DeleteStaleImports(ctx context.Context) (int, error) {
	return 0, ctx.Err()
}

// dropImports drops every import in progress (at Close).
func (s *Store) dropImports() error {
	s.mu.Lock()
	imports := s.imports
	s.imports = nil
	s.mu.Unlock()
	for _, st := range imports {
		st.mu.Lock()
		s.release(st)
		st.mu.Unlock()
	}
	return nil
}
