-- Reference data for school places (随迁子女入学), and cohort operations.
--
-- schools: one row per school, year and entry grade, as the admin imports
-- them (portal schools import); catchment is the 9-digit divisions the
-- school serves, joined by ';'.
--
-- enrollment_windows: when a district takes applications for a year, how
-- many days its list is published and how many working days an appeal may
-- be made after publication.
--
-- cohorts: an operation that moves many cases at once (a published list, an
-- allocation, a housing draw) — who ran it, when, on what inputs, with what
-- seed and its commitment. It is written before its cases move and counts
-- them as they do, batch by batch, so that a run cut short resumes from
-- where it stopped, and never runs twice for the same scope.

-- +goose Up
CREATE TABLE schools (
    code      TEXT NOT NULL,
    year      INTEGER NOT NULL,
    grade     TEXT NOT NULL CHECK (grade IN ('1', '7')),
    name      TEXT NOT NULL,
    district  TEXT NOT NULL,
    catchment TEXT NOT NULL,
    seats     INTEGER NOT NULL CHECK (seats >= 0),
    public    BOOLEAN NOT NULL,
    PRIMARY KEY (code, year, grade)
);
CREATE INDEX schools_district ON schools (district, year, code);

CREATE TABLE enrollment_windows (
    district         TEXT NOT NULL,
    year             INTEGER NOT NULL,
    opens            TEXT NOT NULL,
    closes           TEXT NOT NULL CHECK (closes >= opens),
    publication_days INTEGER NOT NULL CHECK (publication_days > 0),
    appeal_days      INTEGER NOT NULL CHECK (appeal_days > 0),
    updated_by       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (district, year)
);

CREATE TABLE cohorts (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    service     TEXT NOT NULL,
    district    TEXT NOT NULL,
    scope       TEXT NOT NULL,
    commitment  TEXT NOT NULL DEFAULT '',
    seed        TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    total       INTEGER NOT NULL,
    done        INTEGER NOT NULL DEFAULT 0,
    summary     TEXT NOT NULL DEFAULT '{}',
    data        TEXT NOT NULL DEFAULT '{}',
    UNIQUE (kind, service, district, scope)
);

-- +goose Down
DROP TABLE cohorts;
DROP TABLE enrollment_windows;
DROP TABLE schools;
