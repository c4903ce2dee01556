package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/store/pagetoken"
)

// rejectionList names a job's rejections in page tokens.
func rejectionList(jobID string) string { return "rejections/" + jobID }

// AddImportRejections implements syncjob.Store: the rejections go to the
// import's staging file, with its entries.
func (s *Store) AddImportRejections(ctx context.Context, jobID string, rejections []syncjob.Rejection) error {
	if len(rejections) == 0 {
		return nil
	}
	st, err := s.open(ctx, jobID)
	if err != nil {
		return fmt.Errorf("add import rejections: %w", err)
	}
	defer st.mu.Unlock()
	err = inTx(ctx, st.db, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, "INSERT INTO rejections (idx, line, field, description) VALUES (?, ?, ?, ?)")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rejections {
			if _, err := stmt.ExecContext(ctx, r.Index, r.Line, r.Field, r.Description); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
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
	ref, err := lookup(ctx, s.r, q.JobID)
	if err != nil {
		return syncjob.RejectionPage{}, fmt.Errorf("list rejections of job %s: %w", q.JobID, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT idx, line, field, description FROM blacklist_rejections
		WHERE job = ? AND idx > ? ORDER BY idx LIMIT ?`, ref.key, after, size+1)
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
