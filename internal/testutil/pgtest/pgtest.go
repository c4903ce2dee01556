// Package pgtest gives each test a PostgreSQL database of its own,
// created for it and dropped when it ends, so that tests run in parallel
// and leave nothing behind.
//
// The server is the one at EnvURL's URL, by default the local one
// (postgres://postgres@127.0.0.1:5432/postgres, trust authentication); its
// user must be allowed to create databases. When it cannot be reached,
// the test is skipped with a message saying how to start it, except when
// the CI variable is set: then the test fails, so that a CI run never
// passes without its PostgreSQL tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that points the tests at another server: the
// URL of a database the tests' user can connect to and create databases
// from.
const EnvURL = "SERVICECENTERD_TEST_DATABASE_URL"

// DefaultURL is the server the tests use without EnvURL.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Prefix starts the name of every database the tests create.
const Prefix = "scdtest_"

// StartHint says how to start the local server.
const StartHint = "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, " +
	"or point " + EnvURL + " at one"

// connectTimeout bounds the wait for the server.
const connectTimeout = 5 * time.Second

// ServerURL is the URL of the server's maintenance database the tests
// connect to.
func ServerURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// Admin connects to the server's maintenance database, or skips (fails
// under CI) when the server cannot be reached. The connection is closed
// when the test ends.
func Admin(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		unreachable(t, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func unreachable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("PostgreSQL is not reachable at %s (%v), and CI is set: the PostgreSQL tests must run; %s", redacted(ServerURL()), err, StartHint)
	}
	t.Skipf("PostgreSQL is not reachable at %s (%v): %s", redacted(ServerURL()), err, StartHint)
}

// NewDatabase creates an empty database for the test and returns its URL;
// the database is dropped (with whatever still uses it) when the test
// ends. It skips, or fails under CI, when the server cannot be reached.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := Admin(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := Prefix + strings.ToLower(hex.EncodeToString(b[:]))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(ServerURL())
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// WithParams returns url with the query parameters params
// ("key=value&...") added.
func WithParams(url, params string) string {
	if strings.Contains(url, "?") {
		return url + "&" + params
	}
	return url + "?" + params
}

// redacted is u without its password.
func redacted(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(the URL in " + EnvURL + ")"
	}
	return p.Redacted()
}
