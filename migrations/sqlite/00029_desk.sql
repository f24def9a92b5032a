-- The clerk's desk (README "The clerk's desk").
--
-- holder_id: the staff member working the case now (认领/指派), NULL when
-- nobody holds it. A claim, a release and an assignment are steps of the
-- case's timeline (pseudo-events claim, release, assign: staff see them,
-- the applicant does not) and audit entries; this column is the current
-- holder only. "My cases" reads the partial index below: a holder's open
-- cases, in id order, however many cases the street has.
--
-- saved_filters: a staff member's named worklist filters (state, service,
-- overdue, mine, unclaimed), as the worklist's query string.

-- +goose Up
ALTER TABLE cases ADD COLUMN holder_id INTEGER REFERENCES users (id);
CREATE INDEX cases_holder ON cases (holder_id, id) WHERE holder_id IS NOT NULL;

CREATE TABLE saved_filters (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    name       TEXT NOT NULL,
    query      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (user_id, name)
);

-- +goose Down
DROP TABLE saved_filters;
DROP INDEX cases_holder;
ALTER TABLE cases DROP COLUMN holder_id;
