-- blacklist sync jobs
-- +goose Up
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
