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

-- +goose Down
DROP TABLE division_changes;
