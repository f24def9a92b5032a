-- 好差评 (GB/T 39734-2020): one rating per case, by its applicant, once the
-- case has ended; the division, district and service are copied so the
-- rates are counted per jurisdiction without reading the cases, and clerk_id
-- is the staff member who took the case's last step (the rate per clerk).
-- A bad rating opens its follow-up: return visit, then rectification,
-- closed with what was done, each by its due time (policies/ratings.yaml).
-- Retention clears the comment and the notes of an anonymised case.

-- +goose Up
CREATE TABLE ratings (
    case_id    bigint PRIMARY KEY REFERENCES cases (id),
    service    TEXT NOT NULL,
    division   TEXT NOT NULL,
    district   TEXT NOT NULL,
    clerk_id   bigint REFERENCES users (id),
    score      INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment    TEXT NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);
CREATE INDEX ratings_district ON ratings (district, division);

CREATE TABLE rating_follow_ups (
    case_id      bigint PRIMARY KEY REFERENCES ratings (case_id),
    division     TEXT NOT NULL,
    district     TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('visit', 'rectify', 'closed')),
    opened_at    timestamptz NOT NULL,
    visit_due    timestamptz NOT NULL,
    rectify_due  timestamptz NOT NULL,
    visited_at   timestamptz,
    visited_by   bigint REFERENCES users (id),
    visit_note   TEXT NOT NULL DEFAULT '',
    closed_at    timestamptz,
    closed_by    bigint REFERENCES users (id),
    closing_note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX rating_follow_ups_open ON rating_follow_ups (district, division) WHERE state <> 'closed';

-- +goose Down
DROP TABLE rating_follow_ups;
DROP TABLE ratings;
