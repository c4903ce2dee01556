-- tmc events
-- +goose Up
-- One row per TMC data message (internal/events.Event), stored once per
-- TMC message id. The cursor is handed out by tmc_event_log, one row,
-- inside the inserting transaction, so cursors follow commit order and
-- are never reused, even after pruning.
CREATE TABLE tmc_events (
	cursor            INTEGER PRIMARY KEY,
	message_id        INTEGER NOT NULL UNIQUE,
	topic             TEXT    NOT NULL,
	user_id           INTEGER NOT NULL DEFAULT 0,
	user_nick         TEXT    NOT NULL DEFAULT '',
	publish_ns        INTEGER NOT NULL,
	publisher_app_key TEXT    NOT NULL DEFAULT '',
	data_id           TEXT    NOT NULL DEFAULT '',
	content           BLOB    NOT NULL,
	stored_ns         INTEGER NOT NULL
);
CREATE INDEX tmc_events_topic ON tmc_events (topic, cursor);
-- last: the newest cursor handed out; pruned: the highest cursor deleted.
CREATE TABLE tmc_event_log (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	last   INTEGER NOT NULL,
	pruned INTEGER NOT NULL
);
INSERT INTO tmc_event_log (id, last, pruned) VALUES (1, 0, 0);
-- The cursor each named consumer committed (AckEvents).
CREATE TABLE tmc_event_consumers (
	name       TEXT    PRIMARY KEY,
	cursor     INTEGER NOT NULL,
	updated_ns INTEGER NOT NULL
);
