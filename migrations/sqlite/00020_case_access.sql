-- Who viewed my file (PIPL art. 44–45): each access of staff or another
-- system to a case, one row per (case, person, kind, day) counted up, so
-- that repeated reads do not grow the table. The applicant sees the
-- division and role, never the person (user_id is never shown).

-- +goose Up
CREATE TABLE case_access (
    case_id  INTEGER NOT NULL REFERENCES cases (id),
    user_id  INTEGER NOT NULL REFERENCES users (id),
    kind     TEXT NOT NULL CHECK (kind IN ('view', 'material', 'reveal')),
    day      TEXT NOT NULL, -- YYYY-MM-DD, the city's date
    role     TEXT NOT NULL,
    division TEXT NOT NULL,
    n        INTEGER NOT NULL DEFAULT 1,
    first_at TEXT NOT NULL,
    last_at  TEXT NOT NULL,
    PRIMARY KEY (case_id, user_id, kind, day)
);

-- +goose Down
DROP TABLE case_access;
