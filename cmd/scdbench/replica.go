package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/servicecenterd/servicecenterd/internal/bench/report"
)

// Defaults of the PostgreSQL and Redis that targets e and f run on: the
// local ones (trust authentication), or SCDBENCH_DATABASE_URL and
// SCDBENCH_REDIS_URL.
const (
	defaultPGURL    = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	defaultRedisURL = "redis://127.0.0.1:6379/0"
	envPGURL        = "SCDBENCH_DATABASE_URL"
	envRedisURL     = "SCDBENCH_REDIS_URL"
	// dbPrefix starts the name of the database a run creates, and
	// redisPrefix its Redis key prefix.
	dbPrefix    = "scdbench_"
	redisPrefix = "scdbench:"
)

// envOr is the environment variable key, or def when it is unset.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// errUnreachable marks a PostgreSQL or Redis that did not answer: the run
// then measures the other targets and says so.
var errUnreachable = errors.New("unreachable")

// replica is the PostgreSQL database and the Redis key prefix of one
// run's replica deployment (targets e and f): created for the run, and
// dropped and deleted by close.
type replica struct {
	adminURL string
	admin    *pgx.Conn
	rdb      *redis.Client
	info     report.Replica
	dbURL    string // the run's database
	redisURL string
}

// newReplica creates a fresh database on the PostgreSQL server of
// adminURL (its user must be allowed to create databases) and picks a
// Redis key prefix of the run's own, after checking that Redis answers.
// An error wrapping errUnreachable means PostgreSQL or Redis did not
// answer.
func newReplica(ctx context.Context, adminURL, redisURL string) (_ *replica, err error) {
	r := &replica{adminURL: adminURL, redisURL: redisURL}
	defer func() {
		if err != nil {
			r.close(ctx)
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if r.admin, err = pgx.Connect(cctx, adminURL); err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %w: %v", redactURL(adminURL), errUnreachable, err)
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("-redis-url: not a redis:// URL")
	}
	r.rdb = redis.NewClient(opts)
	if err := r.rdb.Ping(cctx).Err(); err != nil {
		return nil, fmt.Errorf("Redis at %s: %w: %v", redactURL(redisURL), errUnreachable, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	name := dbPrefix + suffix
	if _, err := r.admin.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return nil, fmt.Errorf("-pg-url: %w", err)
	}
	u.Path = "/" + name
	r.dbURL = u.String()
	r.info = report.Replica{Database: name, PostgreSQL: redactURL(adminURL), Redis: redactURL(redisURL),
		RedisPrefix: redisPrefix + suffix + ":"}
	return r, nil
}

// env is the replica's settings as servicecenterd's environment, as a
// real secret would reach it.
func (r *replica) env() []string {
	return []string{"SERVICECENTERD_DATABASE_URL=" + r.dbURL, "SERVICECENTERD_REDIS_URL=" + r.redisURL}
}

// close drops the run's database and deletes the keys under its Redis
// prefix (counting them first, into info.RedisKeysAtEnd). Call it after
// the servicecenterd using them has stopped.
func (r *replica) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var errs []error
	if r.rdb != nil {
		if r.info.RedisPrefix != "" {
			n, err := deleteKeys(ctx, r.rdb, r.info.RedisPrefix)
			r.info.RedisKeysAtEnd = n
			errs = append(errs, err)
		}
		errs = append(errs, r.rdb.Close())
		r.rdb = nil
	}
	if r.admin != nil {
		if r.info.Database != "" {
			_, err := r.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{r.info.Database}.Sanitize()+" WITH (FORCE)")
			if err != nil {
				errs = append(errs, fmt.Errorf("drop database %s: %w", r.info.Database, err))
			} else {
				r.info.Dropped = true
			}
		}
		errs = append(errs, r.admin.Close(ctx))
		r.admin = nil
	}
	return errors.Join(errs...)
}

// see adds the keys now under the run's Redis prefix (without it) to
// info.RedisKeysSeen.
func (r *replica) see(ctx context.Context) error {
	keys, err := listKeys(ctx, r.rdb, r.info.RedisPrefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		k = strings.TrimPrefix(k, r.info.RedisPrefix)
		if !slices.Contains(r.info.RedisKeysSeen, k) {
			r.info.RedisKeysSeen = append(r.info.RedisKeysSeen, k)
		}
	}
	slices.Sort(r.info.RedisKeysSeen)
	return nil
}

// listKeys returns the keys under prefix.
func listKeys(ctx context.Context, rdb *redis.Client, prefix string) ([]string, error) {
	var keys []string
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("list the keys of %s: %w", prefix, err)
	}
	return keys, nil
}

// deleteKeys deletes the keys under prefix and returns how many there
// were.
func deleteKeys(ctx context.Context, rdb *redis.Client, prefix string) (int, error) {
	keys, err := listKeys(ctx, rdb, prefix)
	if err != nil {
		return 0, err
	}
	if len(keys) > 0 {
		if err := rdb.Del(ctx, keys...).Err(); err != nil {
			return len(keys), fmt.Errorf("delete the keys of %s: %w", prefix, err)
		}
	}
	return len(keys), nil
}

// waitQuotaBackend polls servicecenterd's /readyz until it reports its
// quota kept in want ("redis"), for at most timeout.
func waitQuotaBackend(ctx context.Context, httpAddr, want string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			last = strings.TrimSpace(string(b))
			if resp.StatusCode == http.StatusOK && strings.HasSuffix(last, "\nquota: "+want) {
				return nil
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz does not say ready with quota %s after %s: %q", want, timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// redactURL is u without its password.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}
