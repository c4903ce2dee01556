-- blacklist sync jobs
-- +goose Up
-- Times are Unix nanoseconds (*_ns), as on SQLite: the store keeps the
-- instants it is given to the nanosecond, whatever the database.
CREATE TABLE blacklist_jobs (
	key           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id            TEXT    NOT NULL UNIQUE,
	supplier_id   TEXT    NOT NULL,
	operate_type  INTEGER NOT NULL,
	service_type  INTEGER NOT NULL,
	ability_type  INTEGER NOT NULL,
	chunk_size    INTEGER NOT NULL,
	state         INTEGER NOT NULL,
	received      BIGINT  NOT NULL DEFAULT 0,
	rejected      BIGINT  NOT NULL DEFAULT 0,
	duplicates    BIGINT  NOT NULL DEFAULT 0,
	total         BIGINT  NOT NULL DEFAULT 0,
	chunks        BIGINT  NOT NULL DEFAULT 0,
	sent          BIGINT  NOT NULL DEFAULT 0,
	acknowledged  BIGINT  NOT NULL DEFAULT 0,
	failed        BIGINT  NOT NULL DEFAULT 0,
	created_ns    BIGINT  NOT NULL,
	updated_ns    BIGINT  NOT NULL,
	err_chunk     BIGINT  NOT NULL DEFAULT -1,
	err_code      TEXT    NOT NULL DEFAULT '',
	err_sub_code  TEXT    NOT NULL DEFAULT '',
	err_message   TEXT    NOT NULL DEFAULT '',
	err_final     BOOLEAN NOT NULL DEFAULT false,
	err_ns        BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX blacklist_jobs_state ON blacklist_jobs (state, key);

-- A job's entries, numbered 0..total-1; chunk n is seq n*chunk_size up
-- to (n+1)*chunk_size-1. Mobiles are 11-digit numbers, kept as integers.
CREATE TABLE blacklist_entries (
	job     BIGINT   NOT NULL,
	seq     BIGINT   NOT NULL,
	mobile  BIGINT   NOT NULL,
	reasons SMALLINT NOT NULL,
	PRIMARY KEY (job, seq)
);

-- Chunks sent at least once, with their outcome.
CREATE TABLE blacklist_chunks (
	job        BIGINT  NOT NULL,
	idx        BIGINT  NOT NULL,
	state      INTEGER NOT NULL,
	entries    BIGINT  NOT NULL,
	code       TEXT    NOT NULL DEFAULT '',
	sub_code   TEXT    NOT NULL DEFAULT '',
	message    TEXT    NOT NULL DEFAULT '',
	updated_ns BIGINT  NOT NULL,
	PRIMARY KEY (job, idx)
);
