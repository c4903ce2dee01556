package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/store/pagetoken"
)

// querier is what the pool, a connection and a transaction share.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const jobColumns = `id, supplier_id, operate_type, service_type, ability_type, chunk_size, state,
	received, rejected, duplicates, total, chunks, sent, acknowledged, failed, created_ns, updated_ns,
	err_chunk, err_code, err_sub_code, err_message, err_final, err_ns, err_top_request_id`

func scanJob(row pgx.Row, extra ...any) (syncjob.Job, error) {
	var (
		j                                syncjob.Job
		created, updated, errNS          int64
		errChunk                         int64
		errCode, errSub, errMsg, errTOP  string
		errFinal                         bool
		operate, service, ability, state int32
		chunkSize                        int32
	)
	dest := append(extra, &j.ID, &j.SupplierID, &operate, &service, &ability, &chunkSize, &state,
		&j.Received, &j.Rejected, &j.Duplicates, &j.Total, &j.Chunks, &j.Sent, &j.Acknowledged, &j.Failed,
		&created, &updated, &errChunk, &errCode, &errSub, &errMsg, &errFinal, &errNS, &errTOP)
	if err := row.Scan(dest...); err != nil {
		return syncjob.Job{}, err
	}
	j.OperateType, j.ServiceType, j.AbilityType = int(operate), int(service), int(ability)
	j.ChunkSize, j.State = int(chunkSize), syncjob.State(state)
	j.Created, j.Updated = fromNanos(created), fromNanos(updated)
	if errNS != 0 {
		j.LastError = &syncjob.JobError{Chunk: errChunk, Code: errCode, SubCode: errSub, Message: errMsg, TOPRequestID: errTOP,
			Final: errFinal, Time: fromNanos(errNS)}
	}
	return j, nil
}

// job reads a committed job by id.
func job(ctx context.Context, q querier, id string) (syncjob.Job, error) {
	j, err := scanJob(q.QueryRow(ctx, "SELECT "+jobColumns+" FROM blacklist_jobs WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return syncjob.Job{}, syncjob.ErrJobNotFound
	}
	if err != nil {
		return syncjob.Job{}, fmt.Errorf("read job: %w", err)
	}
	return j, nil
}

// jobRef is what the chunk calls need of a job; none of it changes after
// the job's commit.
type jobRef struct {
	key       int64
	chunkSize int64
	total     int64
	chunks    int64
}

// lookup finds a committed job.
func lookup(ctx context.Context, q querier, id string) (jobRef, error) {
	var r jobRef
	err := q.QueryRow(ctx, "SELECT key, chunk_size, total, chunks FROM blacklist_jobs WHERE id = $1", id).
		Scan(&r.key, &r.chunkSize, &r.total, &r.chunks)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, syncjob.ErrJobNotFound
	}
	if err != nil {
		return r, fmt.Errorf("look up job: %w", err)
	}
	return r, nil
}

// Job implements syncjob.Store.
func (s *Store) Job(ctx context.Context, id string) (syncjob.Job, error) {
	j, err := job(ctx, s.pool, id)
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
	var wanted []int32
	for _, st := range states {
		if st != syncjob.StateImporting { // never a row here
			wanted = append(wanted, int32(st))
		}
	}
	if len(wanted) == 0 {
		return syncjob.JobPage{}, nil
	}
	where := []string{"state = ANY($1)"}
	args := []any{wanted}
	if q.SupplierID != "" {
		args = append(args, q.SupplierID)
		where = append(where, "supplier_id = $"+strconv.Itoa(len(args)))
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
		args = append(args, after)
		where = append(where, "key "+cmp+" $"+strconv.Itoa(len(args)))
	}
	args = append(args, size+1)
	rows, err := s.pool.Query(ctx, "SELECT key, "+jobColumns+" FROM blacklist_jobs WHERE "+
		strings.Join(where, " AND ")+" ORDER BY key "+order+" LIMIT $"+strconv.Itoa(len(args)), args...)
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
		j, err := scanJob(rows, &key)
		if err != nil {
			return syncjob.JobPage{}, fmt.Errorf("list jobs: %w", err)
		}
		lastKey = key
		page.Jobs = append(page.Jobs, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return syncjob.JobPage{}, fmt.Errorf("list jobs: %w", err)
	}
	return page, nil
}

// CountJobs implements syncjob.Store.
func (s *Store) CountJobs(ctx context.Context) (map[syncjob.State]int64, error) {
	rows, err := s.pool.Query(ctx, "SELECT state, COUNT(*) FROM blacklist_jobs GROUP BY state")
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	out := map[syncjob.State]int64{}
	for rows.Next() {
		var (
			st int32
			n  int64
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		out[syncjob.State(st)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	return out, nil
}

// clearError is the SET clause that removes a job's last error.
const clearError = "err_chunk = -1, err_code = '', err_sub_code = '', err_message = '', err_final = false, err_ns = 0, err_top_request_id = ''"

// UpdateJob implements syncjob.Store.
func (s *Store) UpdateJob(ctx context.Context, id string, u syncjob.JobUpdate) (syncjob.Job, error) {
	return s.UpdateJobWith(ctx, id, u, nil)
}

// UpdateJobWith implements syncjob.TxStore.
func (s *Store) UpdateJobWith(ctx context.Context, id string, u syncjob.JobUpdate, also syncjob.TxFunc[pgx.Tx]) (syncjob.Job, error) {
	var out syncjob.Job
	conflict := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The row stays locked until the commit: the state check and the
		// change are one step for every replica.
		if u.State == 0 { // a last error: progress, not a promise
			if _, err := tx.Exec(ctx, relaxed); err != nil {
				return err
			}
		}
		var (
			key   int64
			state int32
			final bool
		)
		err := tx.QueryRow(ctx, "SELECT key, state, err_final FROM blacklist_jobs WHERE id = $1 FOR UPDATE", id).Scan(&key, &state, &final)
		if errors.Is(err, pgx.ErrNoRows) {
			return syncjob.ErrJobNotFound
		}
		if err != nil {
			return err
		}
		if len(u.From) > 0 && !containsState(u.From, syncjob.State(state)) {
			conflict = true
			out, err = job(ctx, tx, id)
			return err
		}
		set := []string{"updated_ns = $1"}
		args := []any{nanos(u.Time)}
		if u.State != 0 {
			args = append(args, int32(u.State))
			set = append(set, "state = $"+strconv.Itoa(len(args)))
		}
		e := u.Error
		if e != nil && !e.Final && final {
			e = nil // a failure being retried does not hide one that is final
		}
		if u.State == syncjob.StateSucceeded {
			// Every entry was acknowledged: no failure stands.
			set = append(set, clearError)
			e = nil
		}
		if e != nil {
			n := len(args)
			set = append(set, fmt.Sprintf("err_chunk = $%d, err_code = $%d, err_sub_code = $%d, err_message = $%d, err_final = $%d, err_ns = $%d, err_top_request_id = $%d",
				n+1, n+2, n+3, n+4, n+5, n+6, n+7))
			args = append(args, e.Chunk, e.Code, e.SubCode, e.Message, e.Final, nanos(e.Time), e.TOPRequestID)
		}
		args = append(args, key)
		if _, err := tx.Exec(ctx, "UPDATE blacklist_jobs SET "+strings.Join(set, ", ")+" WHERE key = $"+strconv.Itoa(len(args)), args...); err != nil {
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
	ref, err := lookup(ctx, s.pool, jobID)
	if err != nil {
		return dst, fmt.Errorf("chunk %d of job %s: %w", n, jobID, err)
	}
	if n < 0 || n >= ref.chunks {
		return dst, fmt.Errorf("chunk %d of job %s: out of range (%d chunks)", n, jobID, ref.chunks)
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, mobile, reasons FROM blacklist_entries
		WHERE job = $1 AND seq >= $2 AND seq < $3 ORDER BY seq`, ref.key, n*ref.chunkSize, (n+1)*ref.chunkSize)
	if err != nil {
		return dst, fmt.Errorf("chunk %d of job %s: %w", n, jobID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e       syncjob.Entry
			mobile  int64
			reasons int16
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

// BeginChunk implements syncjob.Store. The chunk's row and the job's Sent
// counter change in one statement: of replicas that begin the same chunk
// at once, one inserts the row and counts it, the others wait for its
// commit and find the row.
func (s *Store) BeginChunk(ctx context.Context, jobID string, n int64, now time.Time) (syncjob.ChunkState, error) {
	prev, err := s.beginChunk(ctx, jobID, n, now)
	if err != nil {
		return 0, markFull(fmt.Errorf("begin chunk %d of job %s: %w", n, jobID, err))
	}
	return prev, nil
}

func (s *Store) beginChunk(ctx context.Context, jobID string, n int64, now time.Time) (syncjob.ChunkState, error) {
	ref, err := lookup(ctx, s.pool, jobID)
	if err != nil {
		return 0, err
	}
	if n < 0 || n >= ref.chunks {
		return 0, fmt.Errorf("out of range (%d chunks)", ref.chunks)
	}
	entries := min(ref.chunkSize, ref.total-n*ref.chunkSize)
	// One round trip, one transaction (a batch runs in one): the chunk's
	// row and the job's counter, then the chunk's state, which the insert
	// made or a concurrent one committed before ON CONFLICT went on.
	var (
		begun bool
		state int32
	)
	b := &pgx.Batch{}
	b.Queue(relaxed)
	b.Queue(`WITH begun AS (
			INSERT INTO blacklist_chunks (job, idx, state, entries, updated_ns) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (job, idx) DO NOTHING RETURNING entries)
		UPDATE blacklist_jobs SET sent = sent + begun.entries, updated_ns = $5 FROM begun WHERE key = $1`,
		ref.key, n, int32(syncjob.ChunkSent), entries, nanos(now)).Exec(func(tag pgconn.CommandTag) error {
		begun = tag.RowsAffected() == 1
		return nil
	})
	b.Queue("SELECT state FROM blacklist_chunks WHERE job = $1 AND idx = $2", ref.key, n).QueryRow(func(r pgx.Row) error { return r.Scan(&state) })
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, err
	}
	if begun {
		return syncjob.ChunkNew, nil
	}
	return syncjob.ChunkState(state), nil
}

// FinishChunk implements syncjob.Store.
func (s *Store) FinishChunk(ctx context.Context, jobID string, n int64, r syncjob.ChunkResult) (syncjob.Job, error) {
	return s.FinishChunkWith(ctx, jobID, n, r, nil)
}

// FinishChunkWith implements syncjob.TxStore. Only the first outcome of a
// chunk counts: the chunk's row changes from sent to its outcome in one
// conditional UPDATE, and the job's counters only when it did.
func (s *Store) FinishChunkWith(ctx context.Context, jobID string, n int64, r syncjob.ChunkResult, also syncjob.TxFunc[pgx.Tx]) (syncjob.Job, error) {
	if r.State != syncjob.ChunkAcknowledged && r.State != syncjob.ChunkFailed {
		return syncjob.Job{}, fmt.Errorf("finish chunk %d of job %s: state %d is not an outcome", n, jobID, r.State)
	}
	var out syncjob.Job
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, relaxed); err != nil {
			return err
		}
		ref, err := lookup(ctx, tx, jobID)
		if err != nil {
			return err
		}
		ns := nanos(r.Time)
		var entries int64
		err = tx.QueryRow(ctx, `UPDATE blacklist_chunks SET state = $3, code = $4, sub_code = $5, message = $6,
			top_request_id = $7, updated_ns = $8 WHERE job = $1 AND idx = $2 AND state = $9 RETURNING entries`,
			ref.key, n, int32(r.State), r.Code, r.SubCode, r.Message, r.TOPRequestID, ns, int32(syncjob.ChunkSent)).Scan(&entries)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// Finished before, or never begun.
			var begun bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM blacklist_chunks WHERE job = $1 AND idx = $2)", ref.key, n).Scan(&begun); err != nil {
				return err
			}
			if !begun {
				return errors.New("chunk was not begun")
			}
		case err != nil:
			return err
		case r.State == syncjob.ChunkAcknowledged:
			// The job's row stays locked from here to the commit, which
			// every chunk of the job (on every replica) waits for: one
			// statement changes and returns it.
			if out, err = scanJob(tx.QueryRow(ctx, `UPDATE blacklist_jobs SET acknowledged = acknowledged + $2, updated_ns = $3
				WHERE key = $1 RETURNING `+jobColumns, ref.key, entries, ns)); err != nil {
				return err
			}
			if e := out.LastError; e != nil && !e.Final && e.Chunk == n {
				// A failure of this chunk that was being retried is over:
				// the last error no longer shows it.
				if out, err = scanJob(tx.QueryRow(ctx, "UPDATE blacklist_jobs SET "+clearError+" WHERE key = $1 RETURNING "+jobColumns, ref.key)); err != nil {
					return err
				}
			}
			return runAlso(ctx, also, tx, out)
		default:
			if out, err = scanJob(tx.QueryRow(ctx, `UPDATE blacklist_jobs SET failed = failed + $2, updated_ns = $3,
				err_chunk = $4, err_code = $5, err_sub_code = $6, err_message = $7, err_final = true, err_ns = $3,
				err_top_request_id = $8 WHERE key = $1 RETURNING `+jobColumns,
				ref.key, entries, ns, n, r.Code, r.SubCode, r.Message, r.TOPRequestID)); err != nil {
				return err
			}
			return runAlso(ctx, also, tx, out)
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
func (s *Store) RetryFailedChunksWith(ctx context.Context, jobID string, now time.Time, also syncjob.RetryFunc[pgx.Tx]) (syncjob.Job, error) {
	var (
		out   syncjob.Job
		cause error
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var (
			key   int64
			state int32
		)
		err := tx.QueryRow(ctx, "SELECT key, state FROM blacklist_jobs WHERE id = $1 FOR UPDATE", jobID).Scan(&key, &state)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && syncjob.State(state) == syncjob.StateImporting) {
			return syncjob.ErrJobNotFound
		}
		if err != nil {
			return err
		}
		if syncjob.State(state) != syncjob.StateFailed {
			cause = syncjob.ErrStateConflict
			out, err = job(ctx, tx, jobID)
			return err
		}
		rows, err := tx.Query(ctx, "DELETE FROM blacklist_chunks WHERE job = $1 AND state = $2 RETURNING idx, entries",
			key, int32(syncjob.ChunkFailed))
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
		slices.Sort(chunks)
		if _, err := tx.Exec(ctx, "UPDATE blacklist_jobs SET state = $2, failed = failed - $3, sent = sent - $3, updated_ns = $4, "+
			clearError+" WHERE key = $1", key, int32(syncjob.StateQueued), entries, nanos(now)); err != nil {
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
// limit entries of the finished jobs last changed before before. Replicas
// pruning at once each count only the rows they deleted.
func (s *Store) PruneJobEntries(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM blacklist_entries WHERE (job, seq) IN (
		SELECT job, seq FROM blacklist_entries WHERE job IN (
			SELECT key FROM blacklist_jobs WHERE state IN ($1, $2, $3) AND updated_ns < $4)
		LIMIT $5)`,
		int32(syncjob.StateSucceeded), int32(syncjob.StateFailed), int32(syncjob.StateCancelled), nanos(before), limit)
	if err != nil {
		return 0, fmt.Errorf("prune job entries: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
