// Package sqlite is servicecenterd's embedded store: the blacklist sync
// jobs (syncjob.Store) and the audit trail (audit.Store) in one SQLite
// file in the data directory, through a pure Go driver (modernc.org/sqlite,
// no cgo). While an import is in progress its entries are staged in a file
// of their own (staging.go). One process at a time uses a file: Open locks
// its directory.
//
// # Schema migrations
//
// The schema is versioned with goose (migrations/*.sql, migrations.go);
// Open applies the versions a file has not had yet, each in its own
// transaction with its version record, so a crash leaves a file at a whole
// version, and refuses a file whose version is newer than the binary
// knows. Files written before goose (versioned by PRAGMA user_version) are
// bridged at their first open (bridge.go).
//
// # Prepared statements
//
// Neither database/sql nor modernc's driver keeps a statement prepared
// between two calls, so SQLite parses every query again; with River's
// long riversqlite statements (several per chunk of a bulk sync) parsing
// was half of a sync's CPU. Each connection therefore keeps its last
// stmtCacheSize statements prepared (stmtcache.go, through modernc's
// NewConnector; no library offers this for database/sql).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/audit"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/store/groupcommit"
	"github.com/servicecenterd/servicecenterd/internal/store/pagetoken"
	"github.com/servicecenterd/servicecenterd/internal/store/schema"
	_ "modernc.org/sqlite" // pure Go SQLite driver, registered as "sqlite"
)

// FileName is the store's file name inside the data directory.
const FileName = "servicecenterd.db"

// SQLite is the Store in one SQLite file, in WAL mode. Every commit
// survives a crash of the process (kill -9) as soon as its call returns.
// The commits the API promises also survive a crash of the machine: they
// run with synchronous=FULL (the WAL is fsynced, and with it every earlier
// commit): CommitImport and state changes by UpdateJob. The frequent
// chunk progress writes (BeginChunk, FinishChunk, last errors) run with
// synchronous=NORMAL, so a power loss may forget the last of them; that
// only makes the worker resend chunks, which TOP answers as replays of
// their request_id. Imports in progress are staged in files of their own
// (see staging.go), not in the database.
//
// Every write goes through one connection, so SQLite never sees two
// writers and no call fails with SQLITE_BUSY; reads use a pool of
// read-only connections and see the last committed state.
//
// A write that finds no space left fails with syncjob.ErrFull and changes
// nothing; the store works again, without a restart, once space is freed.
type Store struct {
	w    *sql.DB
	r    *sql.DB
	path string
	// unlock releases the locks held while open (lockStore).
	unlock func() error
	// stagingDir holds the staging files of imports in progress.
	stagingDir string
	// maxPages caps every file of the store (WithMaxPages); 0 is no cap.
	maxPages int
	// migrated is what Open migrated.
	migrated schema.Result
	// audit commits audit events in groups.
	audit *groupcommit.Writer[auditRow]

	mu sync.Mutex
	// imports are the imports in progress, by job id; nil once closed.
	imports map[string]*staged
}

var (
	_ syncjob.TxStore[*sql.Tx] = (*Store)(nil)
	_ audit.Store              = (*Store)(nil)
)

// Option changes how Open opens the store.
type Option func(*Store)

// WithMaxPages caps the database and each import's staging file at n
// pages of 4 KiB (SQLite's max_page_count): a write beyond the cap fails
// with syncjob.ErrFull, as on a full disk. It lets tests fill the store without
// filling a filesystem.
func WithMaxPages(n int) Option {
	return func(s *Store) { s.maxPages = n }
}

func maxPagesPragma(n int) string {
	if n <= 0 {
		return ""
	}
	return "&_pragma=max_page_count(" + strconv.Itoa(n) + ")"
}

// walSizeLimit is the size the WAL is truncated to after a checkpoint: a
// large transaction that failed (on a full disk, say) does not keep its
// space in the WAL for ever.
const walSizeLimit = 64 << 20

// Open opens the SQLite store at path, creating the file (mode 0600) if
// needed, and migrates its schema to the latest version. The directory
// must exist; imports in progress are staged in path+"-imports" (created,
// mode 0700). One process at a time may have it open: Open locks the
// directory (and path+".lock") and fails when another process holds it.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	return openVersion(ctx, path, 0, opts...)
}

// openVersion opens the store and migrates it to version, 0 for the
// latest (tests open old versions).
func openVersion(ctx context.Context, path string, version int64, opts ...Option) (_ *Store, err error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store file %q: want a path without ? or #", path)
	}
	s := &Store{path: path, stagingDir: StagingDir(path), imports: map[string]*staged{}}
	for _, o := range opts {
		o(s)
	}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if s.unlock, err = lockStore(path); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store file: %w", err)
	}
	_ = f.Close()
	if err := os.Mkdir(s.stagingDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("store: import staging directory: %w", err)
	}
	common := "&_pragma=busy_timeout(10000)&_pragma=foreign_keys(0)" + maxPagesPragma(s.maxPages)
	if s.w, err = openDB("file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=journal_size_limit(" + strconv.Itoa(walSizeLimit) + ")" + common); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetConnMaxIdleTime(0)
	if s.migrated, err = migrate(ctx, s.w, version); err != nil {
		return nil, markFull(fmt.Errorf("store %s: %w", path, err))
	}
	if s.r, err = openDB("file:" + path + "?_pragma=query_only(1)" + common); err != nil {
		return nil, fmt.Errorf("open store %s for reading: %w", path, err)
	}
	s.r.SetMaxOpenConns(4)
	if err := s.r.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("open store %s for reading: %w", path, err)
	}
	s.audit = newAuditWriter(s.w)
	return s, nil
}

// SchemaVersion is the database's schema version.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	return schema.Version(ctx, s.r)
}

// Migrated says what Open found and migrated.
func (s *Store) Migrated() schema.Result { return s.migrated }

// DB is the store's write connection pool, of one connection: every write
// to the file goes through it, so that SQLite never sees two writers. It
// is for the job engine (River, with riversqlite), whose tables live in
// the same file and whose transactions must be the store's (see
// CommitImportTx).
func (s *Store) DB() *sql.DB { return s.w }

// Ping checks that the file can be read.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("store %s: %w", s.path, err)
	}
	return nil
}

// Path is the file's path.
func (s *Store) Path() string { return s.path }

// Close drops the imports in progress and closes the database.
func (s *Store) Close() error {
	if s.audit != nil {
		s.audit.Close()
	}
	errs := []error{s.dropImports()}
	for _, db := range []*sql.DB{s.r, s.w} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if s.unlock != nil {
		errs = append(errs, s.unlock())
		s.unlock = nil
	}
	return errors.Join(errs...)
}

func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return commitTx(tx, fn)
}

// commitTx runs fn in tx, then commits tx, or rolls it back when fn fails.
func commitTx(tx *sql.Tx, fn func(*sql.Tx) error) error {
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// withConn runs fn on the write connection.
func (s *Store) withConn(ctx context.Context, fn func(*sql.Conn) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(conn)
}

// durableTx runs fn in a transaction on the write connection with
// synchronous=FULL: when it returns nil, the commit (and every earlier
// one) is on disk.
func (s *Store) durableTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.withConn(ctx, func(conn *sql.Conn) error { return durableConnTx(ctx, conn, fn) })
}

// durableConnTx is durableTx on conn.
func durableConnTx(ctx context.Context, conn *sql.Conn, fn func(*sql.Tx) error) error {
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
		return err
	}
	defer func() {
		// If this fails the connection stays FULL: slower, still correct.
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = NORMAL")
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return commitTx(tx, fn)
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

const jobColumns = `id, supplier_id, operate_type, service_type, ability_type, chunk_size, state,
	received, rejected, duplicates, total, chunks, sent, acknowledged, failed, created_ns, updated_ns,
	err_chunk, err_code, err_sub_code, err_message, err_final, err_ns, err_top_request_id`

type scanner interface{ Scan(dest ...any) error }

func scanJob(row scanner) (syncjob.Job, error) {
	var (
		j                         syncjob.Job
		created, updated, errNS   int64
		errChunk                  int64
		errCode, errSub, errMsg   string
		errTOP                    string
		errFinal                  bool
		operate, service, ability int
	)
	err := row.Scan(&j.ID, &j.SupplierID, &operate, &service, &ability, &j.ChunkSize, &j.State,
		&j.Received, &j.Rejected, &j.Duplicates, &j.Total, &j.Chunks, &j.Sent, &j.Acknowledged, &j.Failed,
		&created, &updated, &errChunk, &errCode, &errSub, &errMsg, &errFinal, &errNS, &errTOP)
	if err != nil {
		return syncjob.Job{}, err
	}
	j.OperateType, j.ServiceType, j.AbilityType = operate, service, ability
	j.Created, j.Updated = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	if errNS != 0 {
		j.LastError = &syncjob.JobError{Chunk: errChunk, Code: errCode, SubCode: errSub, Message: errMsg, TOPRequestID: errTOP,
			Final: errFinal, Time: time.Unix(0, errNS).UTC()}
	}
	return j, nil
}

// job reads a job by id, importing or not.
func job(ctx context.Context, q querier, id string) (syncjob.Job, error) {
	j, err := scanJob(q.QueryRowContext(ctx, "SELECT "+jobColumns+" FROM blacklist_jobs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return syncjob.Job{}, syncjob.ErrJobNotFound
	}
	if err != nil {
		return syncjob.Job{}, fmt.Errorf("read job: %w", err)
	}
	return j, nil
}

// jobRef is what the chunk and import calls need of a job.
type jobRef struct {
	key       int64
	state     syncjob.State
	chunkSize int64
	total     int64
	chunks    int64
}

func lookup(ctx context.Context, q querier, id string) (jobRef, error) {
	var r jobRef
	err := q.QueryRowContext(ctx, "SELECT key, state, chunk_size, total, chunks FROM blacklist_jobs WHERE id = ?", id).
		Scan(&r.key, &r.state, &r.chunkSize, &r.total, &r.chunks)
	if errors.Is(err, sql.ErrNoRows) {
		return r, syncjob.ErrJobNotFound
	}
	if err != nil {
		return r, fmt.Errorf("look up job: %w", err)
	}
	return r, nil
}

// Job implements syncjob.Store.
func (s *Store) Job(ctx context.Context, id string) (syncjob.Job, error) {
	j, err := job(ctx, s.r, id)
	if err == nil && j.State == syncjob.StateImporting {
		err = syncjob.ErrJobNotFound
	}
	if err != nil {
		return syncjob.Job{}, fmt.Errorf("job %s: %w", id, err)
	}
	return j, nil
}

// ListJobs implements syncjob.Store.
func (s *Store) ListJobs(ctx context.Context, q syncjob.JobQuery) (syncjob.JobPage, error) {
	size := q.PageSize
	if size <= 0 {
		size = syncjob.DefaultPageSize
	}
	size = min(size, syncjob.MaxPageSize)
	states := q.States
	if len(states) == 0 {
		states = syncjob.CommittedStates()
	}
	var (
		where []string
		args  []any
	)
	marks := make([]string, 0, len(states))
	for _, st := range states {
		if st == syncjob.StateImporting {
			continue
		}
		marks = append(marks, "?")
		args = append(args, st)
	}
	if len(marks) == 0 {
		return syncjob.JobPage{}, nil
	}
	where = append(where, "state IN ("+strings.Join(marks, ", ")+")")
	if q.SupplierID != "" {
		where = append(where, "supplier_id = ?")
		args = append(args, q.SupplierID)
	}
	order, cmp := "DESC", "<"
	if q.OldestFirst {
		order, cmp = "ASC", ">"
	}
	if q.PageToken != "" {
		after, ok := pagetoken.Parse(q.PageToken, "jobs", q.OldestFirst)
		if !ok {
			return syncjob.JobPage{}, syncjob.ErrBadPageToken
		}
		where = append(where, "key "+cmp+" ?")
		args = append(args, after)
	}
	args = append(args, size+1)
	rows, err := s.r.QueryContext(ctx, "SELECT key, "+jobColumns+" FROM blacklist_jobs WHERE "+
		strings.Join(where, " AND ")+" ORDER BY key "+order+" LIMIT ?", args...)
	if err != nil {
		return syncjob.JobPage{}, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var (
		page    syncjob.JobPage
		lastKey int64
	)
	for rows.Next() {
		if len(page.Jobs) == size {
			page.NextPageToken = pagetoken.Make("jobs", q.OldestFirst, lastKey)
			break
		}
		var key int64
		j, err := scanJob(keyScanner{rows, &key})
		if err != nil {
			return syncjob.JobPage{}, fmt.Errorf("list jobs: %w", err)
		}
		lastKey = key
		page.Jobs = append(page.Jobs, j)
	}
	if err := rows.Err(); err != nil {
		return syncjob.JobPage{}, fmt.Errorf("list jobs: %w", err)
	}
	return page, nil
}

// keyScanner scans a leading key column, then the job.
type keyScanner struct {
	rows *sql.Rows
	key  *int64
}

func (k keyScanner) Scan(dest ...any) error {
	return k.rows.Scan(append([]any{k.key}, dest...)...)
}

// CountJobs implements syncjob.Store.
func (s *Store) CountJobs(ctx context.Context) (map[syncjob.State]int64, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT state, COUNT(*) FROM blacklist_jobs WHERE state != ? GROUP BY state", syncjob.StateImporting)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	out := map[syncjob.State]int64{}
	for rows.Next() {
		var (
			st syncjob.State
			n  int64
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	return out, nil
}

// clearError is the SET clause that removes a job's last error.
const clearError = "err_chunk = -1, err_code = '', err_sub_code = '', err_message = '', err_final = 0, err_ns = 0, err_top_request_id = ''"

// UpdateJob implements syncjob.Store.
func (s *Store) UpdateJob(ctx context.Context, id string, u syncjob.JobUpdate) (syncjob.Job, error) {
	return s.UpdateJobWith(ctx, id, u, nil)
}

// UpdateJobWith implements syncjob.TxStore.
func (s *Store) UpdateJobWith(ctx context.Context, id string, u syncjob.JobUpdate, also syncjob.TxFunc[*sql.Tx]) (syncjob.Job, error) {
	var out syncjob.Job
	conflict := false
	run := func(fn func(*sql.Tx) error) error { return inTx(ctx, s.w, fn) }
	if u.State != 0 {
		run = func(fn func(*sql.Tx) error) error { return s.durableTx(ctx, fn) }
	}
	err := run(func(tx *sql.Tx) error {
		ref, err := lookup(ctx, tx, id)
		if err == nil && ref.state == syncjob.StateImporting {
			err = syncjob.ErrJobNotFound
		}
		if err != nil {
			return err
		}
		if len(u.From) > 0 && !containsState(u.From, ref.state) {
			conflict = true
			out, err = job(ctx, tx, id)
			return err
		}
		set := []string{"updated_ns = ?"}
		args := []any{u.Time.UnixNano()}
		if u.State != 0 {
			set = append(set, "state = ?")
			args = append(args, u.State)
		}
		if e := u.Error; e != nil && !e.Final {
			// A failure being retried does not hide one that is final.
			var final bool
			if err := tx.QueryRowContext(ctx, "SELECT err_final FROM blacklist_jobs WHERE key = ?", ref.key).Scan(&final); err != nil {
				return err
			}
			if final {
				e = nil
			}
			u.Error = e
		}
		if u.State == syncjob.StateSucceeded {
			// Every entry was acknowledged: no failure stands.
			set = append(set, clearError)
			u.Error = nil
		}
		if e := u.Error; e != nil {
			set = append(set, "err_chunk = ?", "err_code = ?", "err_sub_code = ?", "err_message = ?", "err_final = ?", "err_ns = ?", "err_top_request_id = ?")
			args = append(args, e.Chunk, e.Code, e.SubCode, e.Message, e.Final, e.Time.UnixNano(), e.TOPRequestID)
		}
		args = append(args, ref.key)
		if _, err := tx.ExecContext(ctx, "UPDATE blacklist_jobs SET "+strings.Join(set, ", ")+" WHERE key = ?", args...); err != nil {
			return err
		}
		if out, err = job(ctx, tx, id); err != nil {
			return err
		}
		return runAlso(ctx, also, tx, out)
	})
	if err != nil {
		return syncjob.Job{}, markFull(fmt.Errorf("update job %s: %w", id, err))
	}
	if conflict {
		return out, fmt.Errorf("update job %s (%s): %w", id, out.State, syncjob.ErrStateConflict)
	}
	return out, nil
}

// runAlso runs the caller's work of a TxStore method, if any.
func runAlso(ctx context.Context, also syncjob.TxFunc[*sql.Tx], tx *sql.Tx, j syncjob.Job) error {
	if also == nil {
		return nil
	}
	return also(ctx, tx, j)
}

func containsState(states []syncjob.State, s syncjob.State) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

// ChunkEntries implements syncjob.Store.
func (s *Store) ChunkEntries(ctx context.Context, jobID string, n int64, dst []syncjob.Entry) ([]syncjob.Entry, error) {
	ref, err := lookup(ctx, s.r, jobID)
	if err != nil {
		return dst, fmt.Errorf("chunk %d of job %s: %w", n, jobID, err)
	}
	if n < 0 || n >= ref.chunks {
		return dst, fmt.Errorf("chunk %d of job %s: out of range (%d chunks)", n, jobID, ref.chunks)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, mobile, reasons FROM blacklist_entries
		WHERE job = ? AND seq >= ? AND seq < ? ORDER BY seq`, ref.key, n*ref.chunkSize, (n+1)*ref.chunkSize)
	if err != nil {
		return dst, fmt.Errorf("chunk %d of job %s: %w", n, jobID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e       syncjob.Entry
			mobile  int64
			reasons int64
		)
		if err := rows.Scan(&e.Pos, &mobile, &reasons); err != nil {
			return dst, fmt.Errorf("chunk %d of job %s: %w", n, jobID, err)
		}
		e.Mobile, e.Reasons = strconv.FormatInt(mobile, 10), uint8(reasons)
		dst = append(dst, e)
	}
	if err := rows.Err(); err != nil {
		return dst, fmt.Errorf("chunk %d of job %s: %w", n, jobID, err)
	}
	return dst, nil
}

// BeginChunk implements syncjob.Store.
func (s *Store) BeginChunk(ctx context.Context, jobID string, n int64, now time.Time) (syncjob.ChunkState, error) {
	var prev syncjob.ChunkState
	err := inTx(ctx, s.w, func(tx *sql.Tx) error {
		ref, err := lookup(ctx, tx, jobID)
		if err != nil {
			return err
		}
		if n < 0 || n >= ref.chunks {
			return fmt.Errorf("out of range (%d chunks)", ref.chunks)
		}
		err = tx.QueryRowContext(ctx, "SELECT state FROM blacklist_chunks WHERE job = ? AND idx = ?", ref.key, n).Scan(&prev)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		prev = syncjob.ChunkNew
		entries := min(ref.chunkSize, ref.total-n*ref.chunkSize)
		if _, err := tx.ExecContext(ctx, "INSERT INTO blacklist_chunks (job, idx, state, entries, updated_ns) VALUES (?, ?, ?, ?, ?)",
			ref.key, n, syncjob.ChunkSent, entries, now.UnixNano()); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE blacklist_jobs SET sent = sent + ?, updated_ns = ? WHERE key = ?", entries, now.UnixNano(), ref.key)
		return err
	})
	if err != nil {
		return 0, markFull(fmt.Errorf("begin chunk %d of job %s: %w", n, jobID, err))
	}
	return prev, nil
}

// FinishChunk implements syncjob.Store.
func (s *Store) FinishChunk(ctx context.Context, jobID string, n int64, r syncjob.ChunkResult) (syncjob.Job, error) {
	return s.FinishChunkWith(ctx, jobID, n, r, nil)
}

// FinishChunkWith implements syncjob.TxStore.
func (s *Store) FinishChunkWith(ctx context.Context, jobID string, n int64, r syncjob.ChunkResult, also syncjob.TxFunc[*sql.Tx]) (syncjob.Job, error) {
	if r.State != syncjob.ChunkAcknowledged && r.State != syncjob.ChunkFailed {
		return syncjob.Job{}, fmt.Errorf("finish chunk %d of job %s: state %d is not an outcome", n, jobID, r.State)
	}
	var out syncjob.Job
	err := inTx(ctx, s.w, func(tx *sql.Tx) error {
		ref, err := lookup(ctx, tx, jobID)
		if err != nil {
			return err
		}
		var (
			state   syncjob.ChunkState
			entries int64
		)
		err = tx.QueryRowContext(ctx, "SELECT state, entries FROM blacklist_chunks WHERE job = ? AND idx = ?", ref.key, n).Scan(&state, &entries)
		if errors.Is(err, sql.ErrNoRows) {
			return errors.New("chunk was not begun")
		}
		if err != nil {
			return err
		}
		if state == syncjob.ChunkSent {
			ns := r.Time.UnixNano()
			if _, err := tx.ExecContext(ctx, `UPDATE blacklist_chunks SET state = ?, code = ?, sub_code = ?, message = ?,
				top_request_id = ?, updated_ns = ? WHERE job = ? AND idx = ?`,
				r.State, r.Code, r.SubCode, r.Message, r.TOPRequestID, ns, ref.key, n); err != nil {
				return err
			}
			if r.State == syncjob.ChunkAcknowledged {
				_, err = tx.ExecContext(ctx, "UPDATE blacklist_jobs SET acknowledged = acknowledged + ?, updated_ns = ? WHERE key = ?",
					entries, ns, ref.key)
				if err == nil {
					// A failure of this chunk that was being retried is
					// over: the last error no longer shows it.
					_, err = tx.ExecContext(ctx, "UPDATE blacklist_jobs SET "+clearError+" WHERE key = ? AND err_final = 0 AND err_chunk = ?",
						ref.key, n)
				}
			} else {
				_, err = tx.ExecContext(ctx, `UPDATE blacklist_jobs SET failed = failed + ?, updated_ns = ?,
					err_chunk = ?, err_code = ?, err_sub_code = ?, err_message = ?, err_final = 1, err_ns = ?,
					err_top_request_id = ? WHERE key = ?`, entries, ns, n, r.Code, r.SubCode, r.Message, ns, r.TOPRequestID, ref.key)
			}
			if err != nil {
				return err
			}
		}
		if out, err = job(ctx, tx, jobID); err != nil {
			return err
		}
		return runAlso(ctx, also, tx, out)
	})
	if err != nil {
		return syncjob.Job{}, markFull(fmt.Errorf("finish chunk %d of job %s: %w", n, jobID, err))
	}
	return out, nil
}

// RetryFailedChunksWith implements syncjob.TxStore.
func (s *Store) RetryFailedChunksWith(ctx context.Context, jobID string, now time.Time, also syncjob.RetryFunc[*sql.Tx]) (syncjob.Job, error) {
	var (
		out   syncjob.Job
		cause error
	)
	err := s.durableTx(ctx, func(tx *sql.Tx) error {
		ref, err := lookup(ctx, tx, jobID)
		if err == nil && ref.state == syncjob.StateImporting {
			err = syncjob.ErrJobNotFound
		}
		if err != nil {
			return err
		}
		if ref.state != syncjob.StateFailed {
			cause = syncjob.ErrStateConflict
			out, err = job(ctx, tx, jobID)
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT idx, entries FROM blacklist_chunks WHERE job = ? AND state = ? ORDER BY idx",
			ref.key, syncjob.ChunkFailed)
		if err != nil {
			return err
		}
		var (
			chunks  []int64
			entries int64
		)
		for rows.Next() {
			var n, e int64
			if err := rows.Scan(&n, &e); err != nil {
				rows.Close()
				return err
			}
			chunks, entries = append(chunks, n), entries+e
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(chunks) == 0 {
			cause = syncjob.ErrNoFailedChunks
			out, err = job(ctx, tx, jobID)
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM blacklist_chunks WHERE job = ? AND state = ?", ref.key, syncjob.ChunkFailed); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE blacklist_jobs SET state = ?, failed = failed - ?, sent = sent - ?, updated_ns = ?, "+
			clearError+" WHERE key = ?", syncjob.StateQueued, entries, entries, now.UnixNano(), ref.key); err != nil {
			return err
		}
		if out, err = job(ctx, tx, jobID); err != nil {
			return err
		}
		if also == nil {
			return nil
		}
		return also(ctx, tx, out, chunks)
	})
	if err != nil {
		return syncjob.Job{}, markFull(fmt.Errorf("retry failed chunks of job %s: %w", jobID, err))
	}
	if cause != nil {
		return out, fmt.Errorf("retry failed chunks of job %s (%s): %w", jobID, out.State, cause)
	}
	return out, nil
}

// PruneJobEntries implements syncjob.Store: one statement deleting up to
// limit entries of the finished jobs last changed before before, through
// the state index and the entries' primary key.
func (s *Store) PruneJobEntries(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM blacklist_entries WHERE (job, seq) IN (
		SELECT job, seq FROM blacklist_entries WHERE job IN (
			SELECT key FROM blacklist_jobs WHERE state IN (?, ?, ?) AND updated_ns < ?)
		LIMIT ?)`,
		int64(syncjob.StateSucceeded), int64(syncjob.StateFailed), int64(syncjob.StateCancelled), before.UnixNano(), limit)
	if err != nil {
		return 0, markFull(fmt.Errorf("prune job entries: %w", err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune job entries: %w", err)
	}
	return int(n), nil
}
