-- A draw freezes a whole waiting list (a hundred thousand entries) along
-- case_lists_order, which holds the order but not the columns read: each
-- entry was a look-up of its row in the table as well, and then a value
-- built from its columns (sqlstore's listMembersSQLite). entry is that
-- value, a generated column; this index holds it in the list's order, so
-- that the read is one pass along the index, concatenating values made
-- when the entries were written. case_lists_order stays for a household's
-- place, counted along the narrower index.

-- +goose Up
ALTER TABLE case_lists ADD COLUMN entry TEXT GENERATED ALWAYS AS (
    case_id || ' ' || applicant_id || ' ' || class_rank || ' ' || prior_rank || ' ' ||
    octet_length(case_no) || ' ' || octet_length(class) || ' ' || octet_length(joined_at) || ' ' ||
    octet_length(label) || ' ' || case_no || class || joined_at || label) VIRTUAL;
CREATE INDEX case_lists_members ON case_lists (list, class_rank, prior_rank, joined_at, case_id, entry);

-- +goose Down
DROP INDEX case_lists_members;
ALTER TABLE case_lists DROP COLUMN entry;
