-- A draw freezes a whole waiting list (a hundred thousand entries) along
-- case_lists_order, which holds the order but not the columns read: each
-- entry was a look-up of its row in the table as well. This index holds
-- them all, so the read is one pass along it (a third less time on
-- SQLite). case_lists_order stays for a household's place, counted along
-- the narrower index.

-- +goose Up
CREATE INDEX case_lists_members ON case_lists (list, class_rank, prior_rank, joined_at, case_id, case_no, applicant_id, class, label);

-- +goose Down
DROP INDEX case_lists_members;
