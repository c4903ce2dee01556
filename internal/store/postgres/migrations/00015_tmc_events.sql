-- tmc events
-- +goose Up
-- One row per TMC data message (internal/events.Event), stored once per
-- TMC message id, by whichever replica commits first (ON CONFLICT DO
-- NOTHING). The cursor is not a sequence: sequence values commit out of
-- order, so a watcher reading "cursor > c" could pass a value that commits
-- later. It comes from tmc_event_log, one row, incremented inside the
-- inserting transaction: the row lock orders the inserts, so cursors are
-- handed out in commit order, and never reused, even after pruning.
CREATE TABLE tmc_events (
	cursor            BIGINT PRIMARY KEY,
	message_id        BIGINT NOT NULL UNIQUE,
	topic             TEXT   NOT NULL,
	user_id           BIGINT NOT NULL DEFAULT 0,
	user_nick         TEXT   NOT NULL DEFAULT '',
	publish_ns        BIGINT NOT NULL,
	publisher_app_key TEXT   NOT NULL DEFAULT '',
	data_id           TEXT   NOT NULL DEFAULT '',
	content           BYTEA  NOT NULL,
	stored_ns         BIGINT NOT NULL
);
CREATE INDEX tmc_events_topic ON tmc_events (topic, cursor);
-- last: the newest cursor handed out; pruned: the highest cursor deleted.
CREATE TABLE tmc_event_log (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	last   BIGINT  NOT NULL,
	pruned BIGINT  NOT NULL
);
INSERT INTO tmc_event_log (id, last, pruned) VALUES (1, 0, 0);
-- The cursor each named consumer committed (AckEvents).
CREATE TABLE tmc_event_consumers (
	name       TEXT   PRIMARY KEY,
	cursor     BIGINT NOT NULL,
	updated_ns BIGINT NOT NULL
);
