package store

// Migration is one step of the schema's history: the SQL that takes a
// database from version N-1 to version N, where N is its place in
// migrations (1-based).
type Migration struct {
	// Name says what the step does, for logs and errors.
	Name string
	// SQL is one or more statements, run in one transaction.
	SQL string
}

// migrations is the schema's whole history, oldest first; the schema
// version of a database is how many of them it has had.
//
// To change the schema (for example to add a column to audit_events):
//
//  1. Append a Migration at the end. Never edit, reorder or remove one
//     that has been released: databases out there have already run it.
//  2. Write plain SQLite DDL/DML; it runs in one transaction with the
//     version bump, so it must not contain BEGIN/COMMIT or VACUUM.
//     Prefix new tables with their concern (blacklist_*, audit_*).
//  3. Add a case to TestMigrateFromEveryVersion's expectations if the
//     step transforms existing rows, and run go test ./internal/store.
//
// Open applies the missing steps at start, in order.
func migrations() []Migration {
	return []Migration{
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
