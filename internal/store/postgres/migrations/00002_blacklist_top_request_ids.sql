-- blacklist: TOP request ids of failures; list by supplier
-- +goose Up
ALTER TABLE blacklist_chunks ADD COLUMN top_request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE blacklist_jobs ADD COLUMN err_top_request_id TEXT NOT NULL DEFAULT '';
CREATE INDEX blacklist_jobs_supplier ON blacklist_jobs (supplier_id, key);
