-- audit: the OpenTelemetry trace id of each event's call (issue 14)
-- +goose Up
ALTER TABLE audit_events ADD COLUMN trace_id TEXT NOT NULL DEFAULT '';
