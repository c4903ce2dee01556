// Package pgtest gives each test a PostgreSQL database of its own,
// created for it and dropped when it ends, so that tests run in parallel
// and leave nothing behind but the templates NewDatabaseFrom copies from
// (one per key, named Prefix+"tpl_"+a hash of it, small, made once and
// reused by later runs; drop them with DROP DATABASE to start afresh).
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
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
	return newDatabase(t, Admin(t), "")
}

// newDatabase creates a database with a new random name and the CREATE
// DATABASE options opts, drops it when the test ends and returns its URL.
func newDatabase(t testing.TB, admin *pgx.Conn, opts string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := Prefix + strings.ToLower(hex.EncodeToString(b[:]))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := admin.Exec(ctx, strings.TrimSpace("CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" "+opts)); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := databaseURL(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// databaseURL is the URL of the database name on the server.
func databaseURL(name string) (string, error) {
	u, err := url.Parse(ServerURL())
	if err != nil {
		return "", fmt.Errorf("%s: %w", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String(), nil
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

// templateLock is the advisory lock (pg_advisory_lock) under which a
// template database is looked up and, when missing, made: test processes
// of several packages running at once make each template once.
const templateLock = 0x5343_4454_4d50_4c54 // "SCDTMPLT"

// NewDatabaseFrom creates a database for the test as a copy (CREATE
// DATABASE ... TEMPLATE) of a template database that prepare filled once,
// and returns its URL; the copy is dropped when the test ends. The
// template is named after key, which must change whenever what prepare
// does changes (e.g. a hash of the schema's migrations): it is made once
// per key on the server, by whichever test process gets there first, and
// kept for later runs. prepare gets the URL of a new empty database and
// must leave no connection to it open. It skips, or fails under CI, when
// the server cannot be reached.
func NewDatabaseFrom(t testing.TB, key string, prepare func(ctx context.Context, url string) error) string {
	t.Helper()
	admin := Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sum := sha256.Sum256([]byte(key))
	tmpl := Prefix + "tpl_" + hex.EncodeToString(sum[:8])
	if err := ensureTemplate(ctx, admin, tmpl, prepare); err != nil {
		t.Fatalf("template database %s: %v", tmpl, err)
	}
	return newDatabase(t, admin, "TEMPLATE "+pgx.Identifier{tmpl}.Sanitize())
}

// ensureTemplate makes the database tmpl with prepare unless it exists,
// under templateLock. The template is prepared under a name of its own
// and renamed when done, so that a run stopped half-way leaves no
// half-prepared template behind under tmpl's name.
func ensureTemplate(ctx context.Context, admin *pgx.Conn, tmpl string, prepare func(ctx context.Context, url string) error) (err error) {
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(templateLock)); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer func() {
		if _, uerr := admin.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", int64(templateLock)); uerr != nil {
			err = errors.Join(err, fmt.Errorf("unlock: %w", uerr))
		}
	}()
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tmpl).Scan(&exists); err != nil {
		return fmt.Errorf("look up: %w", err)
	}
	if exists {
		return nil
	}
	building := tmpl + "_building"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{building}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop a stale %s: %w", building, err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{building}.Sanitize()); err != nil {
		return fmt.Errorf("create %s: %w", building, err)
	}
	u, err := databaseURL(building)
	if err == nil {
		err = prepare(ctx, u)
	}
	if err != nil {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{building}.Sanitize()+" WITH (FORCE)")
		return fmt.Errorf("prepare: %w", err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{building}.Sanitize()+" RENAME TO "+pgx.Identifier{tmpl}.Sanitize()); err != nil {
		return fmt.Errorf("rename %s: %w", building, err)
	}
	return nil
}
