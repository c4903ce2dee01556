-- blacklist: imports staged in files of their own
-- +goose Up
-- On SQLite this version moved imports in progress out of the database.
-- On PostgreSQL they never were in its tables: each is staged in a
-- temporary table of its own connection (imports.go). Nothing to do; the
-- version exists so that a version number means the same schema on both
-- databases.
SELECT 1;
