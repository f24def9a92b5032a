-- The clerk's desk (README "The clerk's desk").
--
-- holder_id: the staff member working the case now (认领/指派), NULL when
-- nobody holds it. A claim, a release and an assignment are steps of the
-- case's timeline (pseudo-events claim, release, assign: staff see them,
-- the applicant does not) and audit entries; this column is the current
-- holder only. "My cases" reads the partial index below: a holder's open
-- cases, in id order, however many cases the street has.
--
-- users.saved_filters: a staff member's named worklist filters (state,
-- service, overdue, mine, unclaimed), a JSON list of {name, query}. They
-- are read with the user, which every request reads already: the worklist
-- shows them at no extra round trip, the same on every node.

-- +goose Up
ALTER TABLE cases ADD COLUMN holder_id bigint REFERENCES users (id);
CREATE INDEX cases_holder ON cases (holder_id, id) WHERE holder_id IS NOT NULL;

ALTER TABLE users ADD COLUMN saved_filters text NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE users DROP COLUMN saved_filters;
DROP INDEX cases_holder;
ALTER TABLE cases DROP COLUMN holder_id;
