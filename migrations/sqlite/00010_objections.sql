-- Objections to a public notice (公示异议): anyone may raise one while a
-- case is on notice, without an account. The applicant learns that one
-- exists, never who raised it; the district officer resolves each (upheld:
-- the application is refused; dismissed: it goes on). contact is how the
-- officer may reach the objector (not shown to anyone else).

-- +goose Up
CREATE TABLE objections (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    contact     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    resolved_at TEXT,
    upheld      BOOLEAN,
    resolution  TEXT NOT NULL DEFAULT '',
    resolved_by INTEGER REFERENCES users (id)
);
CREATE INDEX objections_open ON objections (case_id, id) WHERE resolved_at IS NULL;

-- +goose Down
DROP TABLE objections;
