-- idempotency keys
-- +goose Up
-- One row per (client, key) (internal/idempotency): a claim while its
-- call runs (done = 0, token its claimant, lease_ns the end of its
-- lease), then the call's final outcome (done = 1: code, and outcome
-- holding the response or the google.rpc.Status, encoded). request_hash
-- is empty for a stream in flight. Rows whose expires_ns passed are
-- ignored by claims and pruned.
CREATE TABLE idempotency_keys (
	client         TEXT    NOT NULL,
	key            TEXT    NOT NULL,
	method         TEXT    NOT NULL,
	request_hash   BLOB    NOT NULL,
	token          TEXT    NOT NULL,
	done           INTEGER NOT NULL DEFAULT 0,
	code           INTEGER NOT NULL DEFAULT 0,
	outcome        BLOB    NOT NULL DEFAULT x'',
	top_request_id TEXT    NOT NULL DEFAULT '',
	created_ns     INTEGER NOT NULL,
	lease_ns       INTEGER NOT NULL,
	expires_ns     INTEGER NOT NULL,
	PRIMARY KEY (client, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_ns);
