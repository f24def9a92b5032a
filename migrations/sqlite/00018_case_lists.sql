-- Ordered lists a service keeps of its cases in a state (housing's waiting
-- lists, 轮候: one per district and kind). The engine writes a case's entry
-- with each step into or within a `listed` state and removes it with the
-- step out, so freezing a list of a hundred thousand households for a draw
-- is one read of small rows along list_order, and a household's place is a
-- count along the same index. `prior_rank` is a place an earlier ordering gave
-- (a draw), 2147483647 for none: ranked entries come first.

-- +goose Up
CREATE TABLE case_lists (
    case_id      INTEGER PRIMARY KEY REFERENCES cases (id),
    list         TEXT NOT NULL,
    case_no      TEXT NOT NULL,
    applicant_id INTEGER NOT NULL,
    class        TEXT NOT NULL,
    class_rank   INTEGER NOT NULL,
    prior_rank   INTEGER NOT NULL,
    joined_at    TEXT NOT NULL,
    label        TEXT NOT NULL
);
CREATE INDEX case_lists_order ON case_lists (list, class_rank, prior_rank, joined_at, case_id);

-- +goose Down
DROP TABLE case_lists;
