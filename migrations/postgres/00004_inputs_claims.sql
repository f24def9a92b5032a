-- Typed event inputs and claims.
--
-- case_history.inputs holds every input a step was given, as declared in its
-- workflow file (reason, items, reference, confirmed_on…); the reason and
-- items columns become two inputs among others.
--
-- case_claims keeps what must be unique among open cases (workflow files,
-- "unique"): one row per claim, e.g. "residence-permit|applicant:42" or
-- "hukou-transfer|person:<blind index of an ID number>". The primary key makes
-- a second open application impossible, whatever the race; a case gives its
-- claims back when it ends.

-- +goose Up
ALTER TABLE case_history ADD COLUMN inputs jsonb NOT NULL DEFAULT '{}';
UPDATE case_history SET inputs = inputs || jsonb_build_object('reason', reason) WHERE reason <> '';
UPDATE case_history SET inputs = inputs || jsonb_build_object('items', items) WHERE items <> '[]'::jsonb;
ALTER TABLE case_history DROP COLUMN reason;
ALTER TABLE case_history DROP COLUMN items;

CREATE TABLE case_claims (
    claim   text PRIMARY KEY,
    case_id bigint NOT NULL REFERENCES cases (id)
);
CREATE INDEX case_claims_case ON case_claims (case_id);

-- Until now an applicant could hold several open residence-permit
-- applications: the oldest open one of each applicant claims. Any others
-- stay open as they were (no one's application is closed by a migration);
-- `portal fsck` lists each as "an open case without its claim" for a clerk
-- to settle with the applicant.
INSERT INTO case_claims (claim, case_id)
SELECT 'residence-permit|applicant:' || applicant_id, min(id) FROM cases
WHERE service = 'residence-permit' AND state NOT IN ('approved', 'rejected', 'withdrawn', 'discarded')
GROUP BY applicant_id;

-- +goose Down
DROP TABLE case_claims;
ALTER TABLE case_history ADD COLUMN reason text NOT NULL DEFAULT '';
ALTER TABLE case_history ADD COLUMN items jsonb NOT NULL DEFAULT '[]';
UPDATE case_history SET reason = COALESCE(inputs ->> 'reason', ''), items = COALESCE(inputs -> 'items', '[]'::jsonb);
ALTER TABLE case_history DROP COLUMN inputs;
