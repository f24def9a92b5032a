-- Retention (保存期限): when a closed case's personal data was removed. The
-- job looks for closed cases past their service's retention that still
-- hold it, oldest first, along the partial index.

-- +goose Up
ALTER TABLE cases ADD COLUMN anonymised_at TEXT;
CREATE INDEX cases_to_anonymise ON cases (service, state, state_since) WHERE anonymised_at IS NULL;

-- +goose Down
DROP INDEX cases_to_anonymise;
ALTER TABLE cases DROP COLUMN anonymised_at;
