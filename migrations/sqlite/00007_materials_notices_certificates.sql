-- Materials, notifications and e-certificates: shared by every service.
--
-- materials: one row per uploaded file, attached to a checklist item of its
-- case (workflow files, "checklist"). The file lives where `storage` says:
-- "db" in material_blobs (several nodes, no shared disk), "dir" under
-- PORTAL_DATA_DIR/materials (the embedded default), written and fsynced
-- before the row commits; `portal fsck` finds a row without its file and a
-- file without its row.
--
-- notifications: the in-portal inbox, written in the transaction of the
-- step it tells of (the outbox). deliveries: the same notice on another
-- channel (sms, email), sent by a worker that claims rows with
-- FOR UPDATE SKIP LOCKED and a lease, retries with backoff, and keeps failed
-- rows visible.
--
-- certificates: what an approval issues (a residence permit, a move-in
-- permit), verifiable by anyone from a signed token; expired is worked out
-- from valid_until, the other statuses are set by steps.

-- +goose Up
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';

CREATE TABLE materials (
    id           TEXT PRIMARY KEY,
    case_id      INTEGER NOT NULL REFERENCES cases (id),
    item         TEXT NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size         INTEGER NOT NULL CHECK (size > 0),
    sha256       TEXT NOT NULL,
    storage      TEXT NOT NULL CHECK (storage IN ('db', 'dir')),
    uploaded_by  INTEGER NOT NULL REFERENCES users (id),
    uploaded_at  TEXT NOT NULL
);
CREATE INDEX materials_case ON materials (case_id, uploaded_at, id);

CREATE TABLE material_blobs (
    id   TEXT PRIMARY KEY REFERENCES materials (id) ON DELETE CASCADE,
    data BLOB NOT NULL
);

CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    case_id    INTEGER REFERENCES cases (id),
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    read_at    TEXT
);
CREATE INDEX notifications_user ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL REFERENCES notifications (id),
    channel         TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         TEXT NOT NULL,
    locked_until    TEXT,
    last_error      TEXT NOT NULL DEFAULT '',
    sent_at         TEXT
);
CREATE INDEX deliveries_due ON deliveries (next_at, id) WHERE status = 'pending';

CREATE TABLE certificates (
    number       TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    case_id      INTEGER NOT NULL REFERENCES cases (id),
    holder_id    INTEGER NOT NULL REFERENCES users (id),
    status       TEXT NOT NULL CHECK (status IN ('valid', 'suspended', 'revoked', 'used')),
    issued_at    TEXT NOT NULL,
    valid_until  TEXT NOT NULL DEFAULT '',
    years_since  TEXT NOT NULL DEFAULT '',
    token        TEXT NOT NULL UNIQUE,
    verified     INTEGER NOT NULL DEFAULT 0,
    updated_at   TEXT NOT NULL
);
CREATE INDEX certificates_case ON certificates (case_id);

-- SQLite has one writer: a claim is an UPDATE in a write transaction.

-- +goose Down
DROP TABLE certificates;
DROP TABLE deliveries;
DROP TABLE notifications;
DROP TABLE material_blobs;
DROP TABLE materials;
ALTER TABLE users DROP COLUMN email;
