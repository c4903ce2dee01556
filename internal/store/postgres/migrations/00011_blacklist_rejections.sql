-- blacklist: every rejected entry of an import
-- +goose Up
-- The entries an import rejected as invalid, all of them (an import's
-- answer lists the first 100): their position in the import, line in the
-- caller's file, field and problem; never the value (personal data).
CREATE TABLE blacklist_rejections (
	job         BIGINT NOT NULL,
	idx         BIGINT NOT NULL,
	line        BIGINT NOT NULL,
	field       TEXT   NOT NULL,
	description TEXT   NOT NULL,
	PRIMARY KEY (job, idx)
);
