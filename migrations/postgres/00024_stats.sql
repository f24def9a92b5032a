-- Dashboards (README "Dashboards"): rollups kept with every transition, so
-- that no page view counts the cases table, and a page reads a few hundred
-- rows however many cases and streets there are.
--
-- Every count is kept at three areas — the case's street, its district and
-- the city — and two periods: its month (YYYY-MM) and its year (YYYY), in
-- the city's time. A dashboard reads the rows of its own area (a district's
-- supervisor their district's) and of the year when it asks for whole
-- years, the months otherwise.
--
-- stat_cases: handed-in cases by the period they were handed in and their
-- current state; a step moves one count from its old state to its new one.
-- stat_steps: staff decisions by the period decided, the step (the state
-- decided on; '' is a whole case, counted when it is granted or refused)
-- and the working days taken (a histogram: medians and percentiles are read
-- off it exactly). stat_clerks: the same decisions by person, at the street
-- only. stat_meta records when the rollups were last rebuilt from the cases'
-- timelines (no row: never, and a node starting rebuilds them).
-- case_history.due_at is the due date of the state a step entered, so that
-- a rebuild knows which decisions were on time.
--
-- The rollups' rows are counters that every step updates (the city's row
-- of a service and state, many times a second): their pages are kept half
-- empty (fillfactor 50) so that an update finds room beside the old
-- version of its row and leaves the index alone (a HOT update).

-- +goose Up
CREATE TABLE stat_cases (
    area    text NOT NULL,
    period  text NOT NULL,
    service text NOT NULL,
    state   text NOT NULL,
    n       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (area, period, service, state)
) WITH (fillfactor = 50);

CREATE TABLE stat_steps (
    area     text NOT NULL,
    period   text NOT NULL,
    service  text NOT NULL,
    step     text NOT NULL,
    days     integer NOT NULL,
    n        bigint NOT NULL DEFAULT 0,
    approved bigint NOT NULL DEFAULT 0,
    timed    bigint NOT NULL DEFAULT 0,
    on_time  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (area, period, service, step, days)
) WITH (fillfactor = 50);

CREATE TABLE stat_clerks (
    division text NOT NULL,
    period   text NOT NULL,
    service  text NOT NULL,
    step     text NOT NULL,
    actor_id bigint NOT NULL,
    days     integer NOT NULL,
    district text NOT NULL,
    n        bigint NOT NULL DEFAULT 0,
    approved bigint NOT NULL DEFAULT 0,
    timed    bigint NOT NULL DEFAULT 0,
    on_time  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (division, period, service, step, actor_id, days)
) WITH (fillfactor = 50);
CREATE INDEX stat_clerks_district ON stat_clerks (district, period);

CREATE TABLE stat_meta (
    id         integer PRIMARY KEY CHECK (id = 1),
    rebuilt_at timestamptz NOT NULL,
    cases      bigint NOT NULL
);

ALTER TABLE case_history ADD COLUMN due_at timestamptz;

-- Reveals of full ID numbers, read by day for the report of reveals on
-- cases the person took no action on.
CREATE INDEX case_access_reveals ON case_access (day) WHERE kind = 'reveal';

-- +goose Down
DROP INDEX case_access_reveals;
ALTER TABLE case_history DROP COLUMN due_at;
DROP TABLE stat_meta;
DROP TABLE stat_clerks;
DROP TABLE stat_steps;
DROP TABLE stat_cases;
