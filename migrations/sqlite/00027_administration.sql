-- What the administration pages change (/admin/…), with its history.
--
-- The division tree's history: an administrator renames a division, moves
-- it under another parent or adds a statistical zone (/admin/divisions);
-- each change is a row here (who, when, old → new) as well as an audit
-- entry. A node compares the newest id with the one its tree was loaded
-- at, and reloads the tree when another node changed it.

-- +goose Up
CREATE TABLE division_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    actor_name TEXT NOT NULL DEFAULT '',
    code       TEXT NOT NULL REFERENCES divisions (code),
    change     TEXT NOT NULL CHECK (change IN ('add', 'rename', 'move')),
    old_value  TEXT NOT NULL DEFAULT '',
    new_value  TEXT NOT NULL
);
CREATE INDEX division_changes_code ON division_changes (code, id);

-- The working-day calendar: workflows/calendar.yaml is the published
-- arrangement; a row here sets one day over it (holiday, workday — a
-- weekend day made a working day, 调休 — or normal, as its weekday says).
-- calendar_changes is its history; its newest id is the version other
-- nodes compare with theirs, as for the division tree.
CREATE TABLE calendar_days (
    day  TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('holiday', 'workday', 'normal'))
);
CREATE TABLE calendar_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    actor_name TEXT NOT NULL DEFAULT '',
    day        TEXT NOT NULL,
    old_kind   TEXT NOT NULL,
    new_kind   TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX calendar_changes_day ON calendar_changes (day, id);

-- +goose Down
DROP TABLE calendar_changes;
DROP TABLE calendar_days;
DROP TABLE division_changes;
