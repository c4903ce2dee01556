-- idempotency keys
-- +goose Up
-- One row per (client, key) (internal/idempotency): a claim while its
-- call runs (done false, token its claimant, lease_ns the end of its
-- lease), then the call's final outcome (done: code, and outcome holding
-- the response or the google.rpc.Status, encoded). request_hash is empty
-- for a stream in flight. Rows whose expires_ns passed are ignored by
-- claims and pruned.
CREATE TABLE idempotency_keys (
	client         TEXT    NOT NULL,
	key            TEXT    NOT NULL,
	method         TEXT    NOT NULL,
	request_hash   BYTEA   NOT NULL,
	token          TEXT    NOT NULL,
	done           BOOLEAN NOT NULL DEFAULT false,
	code           INTEGER NOT NULL DEFAULT 0,
	outcome        BYTEA   NOT NULL DEFAULT '',
	top_request_id TEXT    NOT NULL DEFAULT '',
	created_ns     BIGINT  NOT NULL,
	lease_ns       BIGINT  NOT NULL,
	expires_ns     BIGINT  NOT NULL,
	PRIMARY KEY (client, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_ns);
