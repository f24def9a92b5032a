-- The installation: a random id made with the database, part of every key
-- the portal keeps in Redis (boot), so that two databases sharing one
-- Redis — staging and training, or a database re-created beside an old
-- Redis — never touch each other's sessions, lockouts or revocations
-- (user ids repeat across databases; the installation id does not).

-- +goose Up
CREATE TABLE installation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    key        TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO installation (id, key) VALUES (1, lower(hex(randomblob(8))));

-- +goose Down
DROP TABLE installation;
