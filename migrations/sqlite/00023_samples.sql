-- Re-review sampling (抽查复核). samples: one draw per service and civil
-- day, with the seed that drew it (unique: two nodes cannot both draw a
-- day). sample_cases: the cases it drew, who decided each, and the
-- supervisor's finding. Supervisors read their reach by division or
-- district, newest first.

-- +goose Up
CREATE TABLE samples (
    id       INTEGER PRIMARY KEY,
    service  TEXT NOT NULL,
    day      TEXT NOT NULL,
    seed     TEXT NOT NULL,
    share    REAL NOT NULL,
    decided  INTEGER NOT NULL,
    drawn    INTEGER NOT NULL,
    drawn_at TEXT NOT NULL,
    UNIQUE (service, day)
);

CREATE TABLE sample_cases (
    sample_id   INTEGER NOT NULL REFERENCES samples (id),
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    case_no     TEXT NOT NULL,
    service     TEXT NOT NULL,
    division    TEXT NOT NULL,
    district    TEXT NOT NULL,
    event       TEXT NOT NULL,
    decided_by  INTEGER REFERENCES users (id),
    decided_at  TEXT NOT NULL,
    finding     TEXT NOT NULL DEFAULT '' CHECK (finding IN ('', 'agree', 'disagree')),
    reason      TEXT NOT NULL DEFAULT '',
    reviewer_id INTEGER REFERENCES users (id),
    reviewed_at TEXT,
    PRIMARY KEY (sample_id, case_id)
);
CREATE INDEX sample_cases_division ON sample_cases (division, sample_id, case_id);
CREATE INDEX sample_cases_district ON sample_cases (district, sample_id, case_id);

-- +goose Down
DROP TABLE sample_cases;
DROP TABLE samples;
