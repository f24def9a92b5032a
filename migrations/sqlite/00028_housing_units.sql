-- The stock of housing-security units (房源) the city administrator keeps
-- (/admin/housing-units, portal housing units import) and district officers
-- draw from (/housing/draws, "fill from stock"). A unit is never deleted:
-- it is withdrawn (and may be restored). housing_unit_changes is its
-- history (who, when, old → new), as division_changes is the tree's.
-- code has the shape a draw's units accept (portal/housing unitCodeRE).

-- +goose Up
CREATE TABLE housing_units (
    code       TEXT PRIMARY KEY,
    district   TEXT NOT NULL REFERENCES divisions (code),
    kind       TEXT NOT NULL, -- a kind of the housing workflow's form
    address    TEXT NOT NULL,
    area       REAL NOT NULL CHECK (area > 0),
    rooms      INTEGER NOT NULL CHECK (rooms >= 0),
    status     TEXT NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'withdrawn')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX housing_units_draw ON housing_units (district, kind, status, code);

CREATE TABLE housing_unit_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    actor_name TEXT NOT NULL DEFAULT '',
    code       TEXT NOT NULL REFERENCES housing_units (code),
    change     TEXT NOT NULL CHECK (change IN ('add', 'withdraw', 'restore')),
    old_value  TEXT NOT NULL DEFAULT '',
    new_value  TEXT NOT NULL
);
CREATE INDEX housing_unit_changes_code ON housing_unit_changes (code, id);

-- +goose Down
DROP TABLE housing_unit_changes;
DROP TABLE housing_units;
