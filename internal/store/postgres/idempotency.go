package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"

	"github.com/servicecenterd/servicecenterd/internal/idempotency"
)

var _ idempotency.Store = (*Store)(nil)

// ClaimIdempotencyKey implements idempotency.Store: one upsert, which
// PostgreSQL runs atomically against concurrent claims of the same key
// (by any replica), taking the row over only under the conditions of the
// interface; when it does not, the row is read. A row pruned between the
// two is claimed again.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, c idempotency.Claim) (idempotency.Record, bool, error) {
	now := c.Now.UnixNano()
	hash := c.Hash
	if hash == nil {
		hash = []byte{}
	}
	// A key that cannot be claimed (an outcome or a live claim: a replay,
	// or a retry while the call runs) is answered by a read, which takes
	// no row lock: a storm of retries of one key does not queue on it.
	rec, err := scanIdempotencyKey(s.pool.QueryRow(ctx, selectIdempotencyKey, c.Client, c.Key))
	switch {
	case err == nil && rec.Expires.After(c.Now) && (rec.Done || rec.LeaseUntil.After(c.Now)):
		return rec, false, nil
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return idempotency.Record{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	for range 3 {
		var token string
		err := s.pool.QueryRow(ctx, `INSERT INTO idempotency_keys
			(client, key, method, request_hash, token, created_ns, lease_ns, expires_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (client, key) DO UPDATE SET
				method = excluded.method, request_hash = excluded.request_hash, token = excluded.token,
				done = false, code = 0, outcome = '', top_request_id = '',
				created_ns = excluded.created_ns, lease_ns = excluded.lease_ns, expires_ns = excluded.expires_ns
			WHERE idempotency_keys.expires_ns <= $9
				OR (NOT idempotency_keys.done AND idempotency_keys.lease_ns <= $9
					AND idempotency_keys.method = excluded.method AND idempotency_keys.request_hash = excluded.request_hash)
			RETURNING token`,
			c.Client, c.Key, c.Method, hash, c.Token, now, c.LeaseUntil.UnixNano(), c.Expires.UnixNano(), now).Scan(&token)
		if err == nil {
			return idempotency.Record{Client: c.Client, Key: c.Key, Method: c.Method, Hash: c.Hash,
				Created: c.Now, LeaseUntil: c.LeaseUntil, Expires: c.Expires}, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return idempotency.Record{}, false, markFull(fmt.Errorf("claim idempotency key: %w", err))
		}
		rec, err := scanIdempotencyKey(s.pool.QueryRow(ctx, selectIdempotencyKey, c.Client, c.Key))
		if errors.Is(err, pgx.ErrNoRows) {
			continue // pruned or released in between: claim again
		}
		if err != nil {
			return idempotency.Record{}, false, fmt.Errorf("claim idempotency key: %w", err)
		}
		return rec, false, nil
	}
	return idempotency.Record{}, false, errors.New("claim idempotency key: the key kept changing under the claim")
}

// selectIdempotencyKey reads one key.
const selectIdempotencyKey = `SELECT client, key, method, request_hash, done, code, outcome,
	top_request_id, created_ns, lease_ns, expires_ns FROM idempotency_keys WHERE client = $1 AND key = $2`

func scanIdempotencyKey(row pgx.Row) (idempotency.Record, error) {
	var (
		r                       idempotency.Record
		code                    int32
		created, lease, expires int64
	)
	if err := row.Scan(&r.Client, &r.Key, &r.Method, &r.Hash, &r.Done, &code, &r.Outcome.Body, &r.Outcome.TOPRequestID,
		&created, &lease, &expires); err != nil {
		return r, err
	}
	if len(r.Hash) == 0 {
		r.Hash = nil
	}
	r.Outcome.Code = codes.Code(code)
	r.Outcome.Hash = r.Hash
	r.Created, r.LeaseUntil, r.Expires = time.Unix(0, created), time.Unix(0, lease), time.Unix(0, expires)
	r.Outcome.Expires = r.Expires
	return r, nil
}

// ownerExec runs an update of token's open claim; ErrNotOwner when it
// changed no row.
func (s *Store) ownerExec(ctx context.Context, what, query string, args ...any) error {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return markFull(fmt.Errorf("%s idempotency key: %w", what, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s idempotency key: %w", what, idempotency.ErrNotOwner)
	}
	return nil
}

// RenewIdempotencyKey implements idempotency.Store.
func (s *Store) RenewIdempotencyKey(ctx context.Context, client, key, token string, leaseUntil time.Time) error {
	return s.ownerExec(ctx, "renew", `UPDATE idempotency_keys SET lease_ns = $1
		WHERE client = $2 AND key = $3 AND token = $4 AND NOT done`, leaseUntil.UnixNano(), client, key, token)
}

// CompleteIdempotencyKey implements idempotency.Store.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, client, key, token string, o idempotency.Outcome) error {
	hash, body := o.Hash, o.Body
	if hash == nil {
		hash = []byte{}
	}
	if body == nil {
		body = []byte{}
	}
	return s.ownerExec(ctx, "complete", `UPDATE idempotency_keys SET done = true, request_hash = $1, code = $2, outcome = $3,
		top_request_id = $4, expires_ns = $5 WHERE client = $6 AND key = $7 AND token = $8 AND NOT done`,
		hash, int32(o.Code), body, o.TOPRequestID, o.Expires.UnixNano(), client, key, token)
}

// ReleaseIdempotencyKey implements idempotency.Store.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, client, key, token string) error {
	return s.ownerExec(ctx, "release", `DELETE FROM idempotency_keys WHERE client = $1 AND key = $2 AND token = $3 AND NOT done`,
		client, key, token)
}

// PruneIdempotencyKeys implements idempotency.Store: one statement
// deleting up to limit expired keys, through the expiry index. Replicas
// pruning at once each count only the rows they deleted.
func (s *Store) PruneIdempotencyKeys(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE (client, key) IN
		(SELECT client, key FROM idempotency_keys WHERE expires_ns <= $1 ORDER BY expires_ns LIMIT $2)`, before.UnixNano(), limit)
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
