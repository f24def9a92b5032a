-- Finding a case (GET /cases?q=, README "Finding a case"): by its number
-- (cases.case_no, unique since 00001), or by its applicant's mobile number
-- (users.mobile, unique), the number's last four digits (mobile_tail, kept
-- by InsertUser from mobile) or name (users_name, 00022). The applicants
-- found lead to their cases along cases_applicant (applicant_id, id); the
-- reader's scope and the states filter those few rows. So a search reads
-- a handful of rows at a million cases, never a street's whole list.

-- +goose Up
ALTER TABLE users ADD COLUMN mobile_tail TEXT;
UPDATE users SET mobile_tail = substr(mobile, -4) WHERE mobile IS NOT NULL;
CREATE INDEX users_mobile_tail ON users (mobile_tail);

-- +goose Down
DROP INDEX users_mobile_tail;
ALTER TABLE users DROP COLUMN mobile_tail;
