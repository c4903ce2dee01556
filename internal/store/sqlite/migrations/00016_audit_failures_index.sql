-- audit: the outcome index holds failed calls only (issue 16)
-- +goose Up
-- Every index costs each audit INSERT a B-tree insert (about 5,300
-- instructions per event on the audit writer, a tenth of its work at
-- groups of 16), and most audited calls succeed. The outcome filter of
-- ListAuditEvents is how failures are found: they keep their index;
-- a filter on OK alone reads the trail newest first, where OK events are
-- most of it. The store's List adds "outcome != 0" whenever OK is not
-- among the outcomes asked for, since SQLite uses a partial index only
-- when the query states its condition.
DROP INDEX IF EXISTS audit_events_outcome;
CREATE INDEX audit_events_failures ON audit_events (outcome, id) WHERE outcome != 0;
