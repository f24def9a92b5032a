-- The installation: a random id made with the database, part of every key
-- the portal keeps in Redis (boot), so that two databases sharing one
-- Redis — staging and training, or a database re-created beside an old
-- Redis — never touch each other's sessions, lockouts or revocations
-- (user ids repeat across databases; the installation id does not).

-- +goose Up
CREATE TABLE installation (
    id         integer PRIMARY KEY CHECK (id = 1),
    key        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO installation (id, key) VALUES (1, substr(replace(gen_random_uuid()::text, '-', ''), 1, 16));

-- +goose Down
DROP TABLE installation;
