-- Schema of the portal on SQLite. Times are TEXT in UTC with a fixed width
-- (2006-01-02T15:04:05.000000Z) so that they sort and compare as strings.

-- +goose Up
CREATE TABLE divisions (
    code   TEXT PRIMARY KEY CHECK (length(code) IN (6, 9)),
    name   TEXT NOT NULL,
    parent TEXT NOT NULL,
    level  TEXT NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('applicant', 'staff', 'system')),
    name          TEXT NOT NULL,
    login         TEXT UNIQUE,
    mobile        TEXT UNIQUE,
    id_index      TEXT UNIQUE,
    id_cipher     BLOB,
    password_hash TEXT NOT NULL DEFAULT '',
    token_hash    TEXT UNIQUE,
    locale        TEXT NOT NULL DEFAULT '',
    disabled_at   TEXT,
    created_at    TEXT NOT NULL
);

CREATE TABLE grants (
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT NOT NULL,
    division TEXT NOT NULL REFERENCES divisions (code),
    PRIMARY KEY (user_id, role, division)
);

CREATE TABLE counters (
    name   TEXT NOT NULL,
    period TEXT NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (name, period)
);

CREATE TABLE cases (
    id           INTEGER PRIMARY KEY,
    case_no      TEXT NOT NULL UNIQUE,
    service      TEXT NOT NULL,
    item_code    TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    applicant_id INTEGER NOT NULL REFERENCES users (id),
    division     TEXT NOT NULL REFERENCES divisions (code),
    district     TEXT NOT NULL REFERENCES divisions (code),
    form         TEXT NOT NULL,
    result       TEXT NOT NULL DEFAULT '{}',
    state_since  TEXT NOT NULL,
    due_at       TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
-- Lists are keyset-paginated on id within a jurisdiction (and state).
CREATE INDEX cases_applicant ON cases (applicant_id, id);
CREATE INDEX cases_division ON cases (division, id);
CREATE INDEX cases_division_state ON cases (division, state, id);
CREATE INDEX cases_district ON cases (district, id);
CREATE INDEX cases_district_state ON cases (district, state, id);
CREATE INDEX cases_state ON cases (state, id);

CREATE TABLE case_history (
    case_id    INTEGER NOT NULL REFERENCES cases (id),
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    event      TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    actor_id   INTEGER REFERENCES users (id),
    actor_role TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    items      TEXT NOT NULL DEFAULT '[]',
    at         TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    role      TEXT NOT NULL,
    division  TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    result    TEXT NOT NULL,
    ip        TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_object ON audit_log (object, seq);

-- The head of the chain: one row, locked by every append so that entries are
-- chained in commit order.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

-- The audit trail is append-only. The hash chain detects what someone with
-- file access does anyway; these triggers stop the portal's own code.
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd

CREATE TABLE idempotency_keys (
    user_id      INTEGER NOT NULL REFERENCES users (id),
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    case_id      INTEGER NOT NULL REFERENCES cases (id),
    created_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE TABLE jobs (
    id      INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases (id),
    event   TEXT NOT NULL,
    version INTEGER NOT NULL,
    due_at  TEXT NOT NULL,
    done_at TEXT,
    outcome TEXT NOT NULL DEFAULT ''
);
CREATE INDEX jobs_due ON jobs (due_at) WHERE done_at IS NULL;

-- +goose Down
DROP TABLE jobs;
DROP TABLE idempotency_keys;
DROP TABLE audit_head;
DROP TABLE audit_log;
DROP TABLE case_history;
DROP TABLE cases;
DROP TABLE counters;
DROP TABLE grants;
DROP TABLE users;
DROP TABLE divisions;
