-- 好差评 (GB/T 39734-2020): one rating per case, by its applicant, once the
-- case has ended; the division, district and service are copied so the
-- rates are counted per jurisdiction without reading the cases, and clerk_id
-- is the staff member who took the case's last step (the rate per clerk).
-- A bad rating opens its follow-up: return visit, then rectification,
-- closed with what was done, each by its due time (policies/ratings.yaml).
-- Retention clears the comment and the notes of an anonymised case.

-- +goose Up
CREATE TABLE ratings (
    case_id    INTEGER PRIMARY KEY REFERENCES cases (id),
    service    TEXT NOT NULL,
    division   TEXT NOT NULL,
    district   TEXT NOT NULL,
    clerk_id   INTEGER REFERENCES users (id),
    score      INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment    TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX ratings_district ON ratings (district, division);

CREATE TABLE rating_follow_ups (
    case_id      INTEGER PRIMARY KEY REFERENCES ratings (case_id),
    division     TEXT NOT NULL,
    district     TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('visit', 'rectify', 'closed')),
    opened_at    TEXT NOT NULL,
    visit_due    TEXT NOT NULL,
    rectify_due  TEXT NOT NULL,
    visited_at   TEXT,
    visited_by   INTEGER REFERENCES users (id),
    visit_note   TEXT NOT NULL DEFAULT '',
    closed_at    TEXT,
    closed_by    INTEGER REFERENCES users (id),
    closing_note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX rating_follow_ups_open ON rating_follow_ups (district, division) WHERE state <> 'closed';

-- +goose Down
DROP TABLE rating_follow_ups;
DROP TABLE ratings;
