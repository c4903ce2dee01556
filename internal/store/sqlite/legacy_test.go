package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	_ "modernc.org/sqlite"
)

// What servicecenterd did before goose, frozen as it was at main@de4cb8e
// (internal/store/migrations.go and migrate in sqlite.go): an ordered
// list of migrations, the schema version in PRAGMA user_version. The
// bridge tests build old-format files with it, the way every released
// servicecenterd wrote them. Never change it.

// legacyMigration is one step of the schema's history before goose.
type legacyMigration struct {
	Name string
	SQL  string
}

// legacyFile writes a store file at user_version version the way
// servicecenterd did before goose, runs extra on it, and returns its path
// (in dir, with the store's file name).
func legacyFile(t *testing.T, dir string, version int, extra ...string) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	all := legacyMigrations()
	for v := 1; v <= version; v++ {
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, all[v-1].SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(v))
			return err
		})
		if err != nil {
			t.Fatalf("legacy migration to %d (%s): %v", v, all[v-1].Name, err)
		}
	}
	for _, q := range extra {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	return path
}

func legacyMigrations() []legacyMigration {
	return []legacyMigration{
		{
			Name: "blacklist sync jobs",
			SQL: `
CREATE TABLE blacklist_jobs (
	key           INTEGER PRIMARY KEY,
	id            TEXT    NOT NULL UNIQUE,
	supplier_id   TEXT    NOT NULL,
	operate_type  INTEGER NOT NULL,
	service_type  INTEGER NOT NULL,
	ability_type  INTEGER NOT NULL,
	chunk_size    INTEGER NOT NULL,
	state         INTEGER NOT NULL,
	received      INTEGER NOT NULL DEFAULT 0,
	rejected      INTEGER NOT NULL DEFAULT 0,
	duplicates    INTEGER NOT NULL DEFAULT 0,
	total         INTEGER NOT NULL DEFAULT 0,
	chunks        INTEGER NOT NULL DEFAULT 0,
	sent          INTEGER NOT NULL DEFAULT 0,
	acknowledged  INTEGER NOT NULL DEFAULT 0,
	failed        INTEGER NOT NULL DEFAULT 0,
	created_ns    INTEGER NOT NULL,
	updated_ns    INTEGER NOT NULL,
	err_chunk     INTEGER NOT NULL DEFAULT -1,
	err_code      TEXT    NOT NULL DEFAULT '',
	err_sub_code  TEXT    NOT NULL DEFAULT '',
	err_message   TEXT    NOT NULL DEFAULT '',
	err_final     INTEGER NOT NULL DEFAULT 0,
	err_ns        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX blacklist_jobs_state ON blacklist_jobs (state, key);

-- Entries of an import not yet committed, in arrival order.
CREATE TABLE blacklist_import_entries (
	job     INTEGER NOT NULL,
	pos     INTEGER NOT NULL,
	mobile  INTEGER NOT NULL,
	reasons INTEGER NOT NULL,
	PRIMARY KEY (job, pos)
) WITHOUT ROWID;

-- A job's entries, numbered 0..total-1; chunk n is seq n*chunk_size up
-- to (n+1)*chunk_size-1. Mobiles are 11-digit numbers, kept as integers.
CREATE TABLE blacklist_entries (
	job     INTEGER NOT NULL,
	seq     INTEGER NOT NULL,
	mobile  INTEGER NOT NULL,
	reasons INTEGER NOT NULL,
	PRIMARY KEY (job, seq)
) WITHOUT ROWID;

-- Chunks sent at least once, with their outcome.
CREATE TABLE blacklist_chunks (
	job        INTEGER NOT NULL,
	idx        INTEGER NOT NULL,
	state      INTEGER NOT NULL,
	entries    INTEGER NOT NULL,
	code       TEXT    NOT NULL DEFAULT '',
	sub_code   TEXT    NOT NULL DEFAULT '',
	message    TEXT    NOT NULL DEFAULT '',
	updated_ns INTEGER NOT NULL,
	PRIMARY KEY (job, idx)
) WITHOUT ROWID;
`,
		},
		{
			Name: "blacklist: TOP request ids of failures; list by supplier",
			SQL: `
ALTER TABLE blacklist_chunks ADD COLUMN top_request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE blacklist_jobs ADD COLUMN err_top_request_id TEXT NOT NULL DEFAULT '';
CREATE INDEX blacklist_jobs_supplier ON blacklist_jobs (supplier_id, key);
`,
		},
		{
			Name: "audit trail",
			SQL: `
-- One row per audited call (internal/audit.Event). AUTOINCREMENT: an id
-- is never reused, even after the newest events are pruned, so page
-- tokens (id < before) stay valid.
CREATE TABLE audit_events (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	time_ns        INTEGER NOT NULL,
	client         TEXT    NOT NULL DEFAULT '',
	rpc            TEXT    NOT NULL,
	targets        TEXT    NOT NULL DEFAULT '[]', -- JSON [{"kind":..,"id":..}], personal data masked
	outcome        INTEGER NOT NULL,              -- gRPC status code
	top_request_id TEXT    NOT NULL DEFAULT '',
	request_id     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_time ON audit_events (time_ns);
CREATE INDEX audit_events_client ON audit_events (client, id);
CREATE INDEX audit_events_rpc ON audit_events (rpc, id);
CREATE INDEX audit_events_outcome ON audit_events (outcome, id);
`,
		},
		{
			Name: "blacklist: imports staged in files of their own",
			SQL: `
-- Imports in progress are staged outside the database (staging.go), so
-- that dropping one needs no space. An import a crash left here is
-- dropped, as DeleteStaleImports did at every start.
DELETE FROM blacklist_jobs WHERE state = 9;
DROP TABLE blacklist_import_entries;
`,
		},
	}
}
