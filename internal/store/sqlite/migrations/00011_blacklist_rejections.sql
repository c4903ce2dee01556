-- blacklist: every rejected entry of an import
-- +goose Up
-- The entries an import rejected as invalid, all of them (an import's
-- answer lists the first 100): their position in the import, line in the
-- caller's file, field and problem; never the value (personal data).
CREATE TABLE blacklist_rejections (
	job         INTEGER NOT NULL,
	idx         INTEGER NOT NULL,
	line        INTEGER NOT NULL,
	field       TEXT   NOT NULL,
	description TEXT   NOT NULL,
	PRIMARY KEY (job, idx)
) WITHOUT ROWID;
