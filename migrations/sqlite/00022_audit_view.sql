-- The audit view (/audit): supervisors read the trail newest first,
-- filtered, a page at a time. Each filter reads along an index ordered by
-- seq, so a page reads about a page of entries, never the whole log: the
-- entries of a division (one branch per division in the reader's reach),
-- of an actor, of an action (city-wide), of an object (audit_object, from
-- 00001). The person filter finds people by name (users_name) as well as
-- by login. audit_checks keeps every verification of the chain (from the
-- page or `portal audit verify`), so the page shows the last one and when
-- it ran.

-- +goose Up
CREATE INDEX audit_division ON audit_log (division, seq);
CREATE INDEX audit_actor ON audit_log (actor, seq);
CREATE INDEX audit_action ON audit_log (action, seq);
CREATE INDEX users_name ON users (name);

CREATE TABLE audit_checks (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    intact     INTEGER NOT NULL,
    entries    INTEGER NOT NULL,
    broken_seq INTEGER NOT NULL DEFAULT 0,
    reason     TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE audit_checks;
DROP INDEX users_name;
DROP INDEX audit_action;
DROP INDEX audit_actor;
DROP INDEX audit_division;
