-- Ordered lists a service keeps of its cases in a state (housing's waiting
-- lists, 轮候: one per district and kind). The engine writes a case's entry
-- with each step into or within a `listed` state and removes it with the
-- step out, so freezing a list of a hundred thousand households for a draw
-- is one read of small rows along list_order, and a household's place is a
-- count along the same index. `prior_rank` is a place an earlier ordering gave
-- (a draw), 2147483647 for none: ranked entries come first.

-- +goose Up
CREATE TABLE case_lists (
    case_id      bigint PRIMARY KEY REFERENCES cases (id),
    list         text NOT NULL,
    case_no      text NOT NULL,
    applicant_id bigint NOT NULL,
    class        text NOT NULL,
    class_rank   integer NOT NULL,
    prior_rank   integer NOT NULL,
    joined_at    timestamptz NOT NULL,
    label        text NOT NULL
);
CREATE INDEX case_lists_order ON case_lists (list, class_rank, prior_rank, joined_at, case_id);

-- A draw's frozen participants and its reveal are megabytes of text written
-- once: lz4 compresses them several times faster than the default pglz
-- (where the server was built without lz4, the default stays).
-- +goose StatementBegin
DO $$
BEGIN
    ALTER TABLE cohorts ALTER COLUMN data SET COMPRESSION lz4, ALTER COLUMN summary SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE cohorts ALTER COLUMN data SET COMPRESSION default, ALTER COLUMN summary SET COMPRESSION default;
DROP TABLE case_lists;
