-- A certificate's timers (the reminder before its end date, its suspension
-- at the end date) are replaced whenever it changes: an endorsement, a
-- replacement, a revocation finishes the case's unfinished ones first.

-- +goose Up
CREATE INDEX jobs_case ON jobs (case_id) WHERE done_at IS NULL;

-- +goose Down
DROP INDEX jobs_case;
