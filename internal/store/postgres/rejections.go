package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/store/pagetoken"
)

// rejectionsTable is the temporary table of an import's rejections, on
// its connection (beside importTable).
const rejectionsTable = "pg_temp.blacklist_import_rejections"

// rejectionList names a job's rejections in page tokens.
func rejectionList(jobID string) string { return "rejections/" + jobID }

// AddImportRejections implements syncjob.Store: one COPY of the batch into
// the import's temporary table.
func (s *Store) AddImportRejections(ctx context.Context, jobID string, rejections []syncjob.Rejection) error {
	if len(rejections) == 0 {
		return nil
	}
	st, err := s.open(ctx, jobID)
	if err != nil {
		return fmt.Errorf("add import rejections: %w", err)
	}
	defer st.mu.Unlock()
	if !st.rejections {
		if _, err := st.conn.Exec(ctx, "CREATE TEMPORARY TABLE blacklist_import_rejections (idx BIGINT NOT NULL, line BIGINT NOT NULL, field TEXT NOT NULL, description TEXT NOT NULL)"); err != nil {
			return markFull(fmt.Errorf("add import rejections: %w", err))
		}
		st.rejections = true
	}
	rows := pgx.CopyFromSlice(len(rejections), func(i int) ([]any, error) {
		r := rejections[i]
		return []any{r.Index, r.Line, r.Field, r.Description}, nil
	})
	if _, err := st.conn.CopyFrom(ctx, pgx.Identifier{"pg_temp", "blacklist_import_rejections"}, []string{"idx", "line", "field", "description"}, rows); err != nil {
		return markFull(fmt.Errorf("add import rejections: %w", err))
	}
	return nil
}

// ListRejections implements syncjob.Store.
func (s *Store) ListRejections(ctx context.Context, q syncjob.RejectionQuery) (syncjob.RejectionPage, error) {
	size := syncjob.PageSizeOf(q.PageSize, syncjob.DefaultRejectionPageSize)
	after := int64(-1)
	if q.PageToken != "" {
		var ok bool
		if after, ok = pagetoken.Parse(q.PageToken, rejectionList(q.JobID), true); !ok {
			return syncjob.RejectionPage{}, syncjob.ErrBadPageToken
		}
	}
	ref, err := lookup(ctx, s.pool, q.JobID)
	if err != nil {
		return syncjob.RejectionPage{}, fmt.Errorf("list rejections of job %s: %w", q.JobID, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT idx, line, field, description FROM blacklist_rejections
		WHERE job = $1 AND idx > $2 ORDER BY idx LIMIT $3`, ref.key, after, size+1)
	if err != nil {
		return syncjob.RejectionPage{}, fmt.Errorf("list rejections of job %s: %w", q.JobID, err)
	}
	defer rows.Close()
	var page syncjob.RejectionPage
	for rows.Next() {
		if len(page.Rejections) == size {
			page.NextPageToken = pagetoken.Make(rejectionList(q.JobID), true, page.Rejections[size-1].Index)
			break
		}
		var r syncjob.Rejection
		if err := rows.Scan(&r.Index, &r.Line, &r.Field, &r.Description); err != nil {
			return syncjob.RejectionPage{}, fmt.Errorf("list rejections of job %s: %w", q.JobID, err)
		}
		page.Rejections = append(page.Rejections, r)
	}
	if err := rows.Err(); err != nil {
		return syncjob.RejectionPage{}, fmt.Errorf("list rejections of job %s: %w", q.JobID, err)
	}
	return page, nil
}
