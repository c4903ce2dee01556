// Package redistest gives each test a Redis key prefix of its own, whose
// keys are deleted when the test ends, so that tests share one Redis, run
// in parallel and leave nothing behind.
//
// The server is the one at EnvURL's URL, by default the local one
// (redis://127.0.0.1:6379/0). When it cannot be reached, the test is
// skipped with a message saying how to start it, except when the CI
// variable is set: then the test fails, so that a CI run never passes
// without its Redis tests.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the variable that points the tests at another server.
const EnvURL = "SERVICECENTERD_TEST_REDIS_URL"

// DefaultURL is the server the tests use without EnvURL.
const DefaultURL = "redis://127.0.0.1:6379/0"

// StartHint says how to start the local server.
const StartHint = "start it with `redis-server --daemonize yes --bind 127.0.0.1`, or point " + EnvURL + " at one"

// URL is the URL of the server the tests use.
func URL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// Prefix returns a key prefix of the test's own ("scdtest:<random>:")
// after checking that the server answers (skipping, or failing under CI,
// when it does not); every key under it is deleted when the test ends.
func Prefix(t testing.TB) string {
	t.Helper()
	rdb := Client(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "scdtest:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("list the keys of %s: %v", prefix, err)
			return
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("delete the keys of %s: %v", prefix, err)
			}
		}
	})
	return prefix
}

// Client connects to the server, or skips (fails under CI) when it cannot
// be reached. The client is closed when the test ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Redis is not reachable at %s (%v), and CI is set: the Redis tests must run; %s", redacted(URL()), err, StartHint)
		}
		t.Skipf("Redis is not reachable at %s (%v): %s", redacted(URL()), err, StartHint)
	}
	return rdb
}

// redacted is u without its password.
func redacted(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(the URL in " + EnvURL + ")"
	}
	return p.Redacted()
}
