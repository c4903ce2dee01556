package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/servicecenterd/servicecenterd/internal/idempotency"
)

var _ idempotency.Store = (*Store)(nil)

// ClaimIdempotencyKey implements idempotency.Store: one upsert on the
// write connection (so claims are serialised), which takes the row over
// only under the conditions of the interface; when it does not, the row
// is read in the same transaction.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, c idempotency.Claim) (rec idempotency.Record, claimed bool, err error) {
	now := c.Now.UnixNano()
	// A key that cannot be claimed (an outcome or a live claim: a replay,
	// or a retry while the call runs) is answered from a read connection,
	// without waiting for the writer.
	rec, err = scanIdempotencyKey(s.r.QueryRowContext(ctx, selectIdempotencyKey, c.Client, c.Key))
	switch {
	case err == nil && unclaimable(rec, c.Now):
		return rec, false, nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return idempotency.Record{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	hash := c.Hash
	if hash == nil {
		hash = []byte{}
	}
	err = inTx(ctx, s.w, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys
			(client, key, method, request_hash, token, created_ns, lease_ns, expires_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (client, key) DO UPDATE SET
				method = excluded.method, request_hash = excluded.request_hash, token = excluded.token,
				done = 0, code = 0, outcome = x'', top_request_id = '',
				created_ns = excluded.created_ns, lease_ns = excluded.lease_ns, expires_ns = excluded.expires_ns
			WHERE idempotency_keys.expires_ns <= ?
				OR (idempotency_keys.done = 0 AND idempotency_keys.lease_ns <= ?
					AND idempotency_keys.method = excluded.method AND idempotency_keys.request_hash = excluded.request_hash)`,
			c.Client, c.Key, c.Method, hash, c.Token, now, c.LeaseUntil.UnixNano(), c.Expires.UnixNano(), now, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			claimed = true
			rec = idempotency.Record{Client: c.Client, Key: c.Key, Method: c.Method, Hash: c.Hash, Created: c.Now, LeaseUntil: c.LeaseUntil, Expires: c.Expires}
			return nil
		}
		rec, err = scanIdempotencyKey(tx.QueryRowContext(ctx, selectIdempotencyKey, c.Client, c.Key))
		return err
	})
	if err != nil {
		return idempotency.Record{}, false, markFull(fmt.Errorf("claim idempotency key: %w", err))
	}
	return rec, claimed, nil
}

// selectIdempotencyKey reads one key.
const selectIdempotencyKey = `SELECT client, key, method, request_hash, done, code, outcome, top_request_id,
	created_ns, lease_ns, expires_ns FROM idempotency_keys WHERE client = ? AND key = ?`

// unclaimable reports whether no claim at now can take rec: it has not
// expired, and it holds an outcome or a live lease.
func unclaimable(rec idempotency.Record, now time.Time) bool {
	return rec.Expires.After(now) && (rec.Done || rec.LeaseUntil.After(now))
}

func scanIdempotencyKey(row scanner) (idempotency.Record, error) {
	var (
		r                       idempotency.Record
		done                    bool
		code                    int64
		created, lease, expires int64
	)
	if err := row.Scan(&r.Client, &r.Key, &r.Method, &r.Hash, &done, &code, &r.Outcome.Body, &r.Outcome.TOPRequestID,
		&created, &lease, &expires); err != nil {
		return r, err
	}
	if len(r.Hash) == 0 {
		r.Hash = nil
	}
	r.Done, r.Outcome.Code = done, codes.Code(code)
	r.Outcome.Hash = r.Hash
	r.Created, r.LeaseUntil, r.Expires = time.Unix(0, created), time.Unix(0, lease), time.Unix(0, expires)
	r.Outcome.Expires = r.Expires
	return r, nil
}

// ownerExec runs an update of token's open claim; ErrNotOwner when it
// changed no row.
func (s *Store) ownerExec(ctx context.Context, what, query string, args ...any) error {
	res, err := s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return markFull(fmt.Errorf("%s idempotency key: %w", what, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s idempotency key: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s idempotency key: %w", what, idempotency.ErrNotOwner)
	}
	return nil
}

// RenewIdempotencyKey implements idempotency.Store.
func (s *Store) RenewIdempotencyKey(ctx context.Context, client, key, token string, leaseUntil time.Time) error {
	return s.ownerExec(ctx, "renew", `UPDATE idempotency_keys SET lease_ns = ?
		WHERE client = ? AND key = ? AND token = ? AND done = 0`, leaseUntil.UnixNano(), client, key, token)
}

// CompleteIdempotencyKey implements idempotency.Store.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, client, key, token string, o idempotency.Outcome) error {
	hash := o.Hash
	if hash == nil {
		hash = []byte{}
	}
	body := o.Body
	if body == nil {
		body = []byte{}
	}
	return s.ownerExec(ctx, "complete", `UPDATE idempotency_keys SET done = 1, request_hash = ?, code = ?, outcome = ?,
		top_request_id = ?, expires_ns = ? WHERE client = ? AND key = ? AND token = ? AND done = 0`,
		hash, int64(o.Code), body, o.TOPRequestID, o.Expires.UnixNano(), client, key, token)
}

// ReleaseIdempotencyKey implements idempotency.Store.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, client, key, token string) error {
	return s.ownerExec(ctx, "release", `DELETE FROM idempotency_keys WHERE client = ? AND key = ? AND token = ? AND done = 0`,
		client, key, token)
}

// PruneIdempotencyKeys implements idempotency.Store: one statement
// deleting up to limit expired keys, through the expiry index. Deleting
// needs a little space; on a full disk it fails with syncjob.ErrFull.
func (s *Store) PruneIdempotencyKeys(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE (client, key) IN
		(SELECT client, key FROM idempotency_keys WHERE expires_ns <= ? ORDER BY expires_ns LIMIT ?)`, before.UnixNano(), limit)
	if err != nil {
		return 0, markFull(fmt.Errorf("prune idempotency keys: %w", err))
	}
	n, err := res.RowsAffected()
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return int(n), nil
}
