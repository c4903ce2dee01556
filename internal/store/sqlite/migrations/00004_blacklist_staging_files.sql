-- blacklist: imports staged in files of their own
-- +goose Up
-- Imports in progress are staged outside the database (staging.go), so
-- that dropping one needs no space. An import a crash left here is
-- dropped, as DeleteStaleImports did at every start.
DELETE FROM blacklist_jobs WHERE state = 9;
DROP TABLE blacklist_import_entries;
