-- audit trail
-- +goose Up
-- One row per audited call (internal/audit.Event). The identity never
-- hands out an id twice, even after the newest events are pruned, so page
-- tokens (id < before) stay valid.
CREATE TABLE audit_events (
	id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time_ns        BIGINT  NOT NULL,
	client         TEXT    NOT NULL DEFAULT '',
	rpc            TEXT    NOT NULL,
	targets        JSONB   NOT NULL DEFAULT '[]', -- [{"kind":..,"id":..}], personal data masked
	outcome        INTEGER NOT NULL,              -- gRPC status code
	top_request_id TEXT    NOT NULL DEFAULT '',
	request_id     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_time ON audit_events (time_ns);
CREATE INDEX audit_events_client ON audit_events (client, id);
CREATE INDEX audit_events_rpc ON audit_events (rpc, id);
CREATE INDEX audit_events_outcome ON audit_events (outcome, id);
