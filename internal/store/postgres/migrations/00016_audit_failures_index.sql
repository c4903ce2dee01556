-- audit: the outcome index holds failed calls only (issue 16)
-- +goose Up
-- As on SQLite: every index costs each audit INSERT, and most audited
-- calls succeed. The outcome filter of ListAuditEvents is how failures
-- are found: they keep their index; a filter on OK alone reads the trail
-- newest first. The store's List adds "outcome <> 0" whenever OK is not
-- among the outcomes asked for, so that the planner can use the partial
-- index whatever the parameters.
DROP INDEX IF EXISTS audit_events_outcome;
CREATE INDEX audit_events_failures ON audit_events (outcome, id) WHERE outcome <> 0;
