-- Dashboards (README "Dashboards"): rollups kept with every transition, so
-- that no page view counts the cases table.
--
-- stat_cases: handed-in cases by division, month handed in (the city's
-- YYYY-MM) and current state; a step moves one count from its old state
-- to its new one. stat_steps: staff decisions by division, month decided,
-- step (the state decided on; '' is a whole case, counted when it is
-- granted or refused), the person deciding (0 for the whole case) and the
-- working days taken (a histogram: medians and percentiles are read off
-- it exactly). stat_meta records when the rollups were last rebuilt from
-- the cases' histories (empty: never, and the portal rebuilds them when it
-- starts). case_history.due_at is the due date of the state a step entered,
-- so that a rebuild knows which decisions were on time.

-- +goose Up
CREATE TABLE stat_cases (
    division text NOT NULL,
    service  text NOT NULL,
    month    text NOT NULL,
    state    text NOT NULL,
    district text NOT NULL,
    n        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (division, service, month, state)
);
CREATE INDEX stat_cases_district ON stat_cases (district, service, month);

CREATE TABLE stat_steps (
    division text NOT NULL,
    service  text NOT NULL,
    month    text NOT NULL,
    step     text NOT NULL,
    actor_id bigint NOT NULL,
    days     integer NOT NULL,
    district text NOT NULL,
    n        bigint NOT NULL DEFAULT 0,
    approved bigint NOT NULL DEFAULT 0,
    timed    bigint NOT NULL DEFAULT 0,
    on_time  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (division, service, month, step, actor_id, days)
);
CREATE INDEX stat_steps_district ON stat_steps (district, service, month);

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
DROP TABLE stat_steps;
DROP TABLE stat_cases;
