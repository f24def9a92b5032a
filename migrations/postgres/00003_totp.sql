-- Staff two-factor login (TOTP, RFC 6238). The secret is stored encrypted;
-- totp_last_step is the last time step a code was accepted for, so that a
-- code is accepted once only.

-- +goose Up
ALTER TABLE users ADD COLUMN totp_secret bytea;
ALTER TABLE users ADD COLUMN totp_confirmed_at timestamptz;
ALTER TABLE users ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN totp_confirmed_at;
ALTER TABLE users DROP COLUMN totp_secret;
