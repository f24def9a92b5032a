-- Deadlines that escalate. case_clocks keeps the time a staff deadline had
-- left when its case went back to the applicant (a state with pauses_clock:
-- correction, awaiting a supplement): when the case enters that state again
-- it has those days, not a fresh limit. escalations records each overdue
-- step once (case, the version at which the case entered the state): the
-- unique key is what two nodes firing the same deadline cannot both pass.
-- Cases open before this migration get the escalation timer of the step
-- at which they entered their state (the engine finishes those whose state does not escalate
-- as obsolete). The overdue and due-soon lists and the aging bands read a
-- street's or a district's open cases along the partial queue indexes
-- (migration 00006).

-- +goose Up
CREATE TABLE case_clocks (
    case_id   INTEGER NOT NULL REFERENCES cases (id),
    state     TEXT NOT NULL,
    days_left INTEGER NOT NULL,
    paused_at TEXT NOT NULL,
    PRIMARY KEY (case_id, state)
);

CREATE TABLE escalations (
    id           INTEGER PRIMARY KEY,
    case_id      INTEGER NOT NULL REFERENCES cases (id),
    step         INTEGER NOT NULL,
    state        TEXT NOT NULL,
    division     TEXT NOT NULL,
    due_at       TEXT NOT NULL,
    escalated_at TEXT NOT NULL,
    notified     INTEGER NOT NULL,
    UNIQUE (case_id, step)
);

INSERT INTO jobs (case_id, event, version, due_at)
    SELECT id, 'deadline.escalate',
        COALESCE((SELECT max(h.seq) FROM case_history h
            WHERE h.case_id = cases.id AND (h.from_state <> h.to_state OR h.event = 'create')), version),
        due_at
    FROM cases WHERE in_queue AND due_at IS NOT NULL;

-- +goose Down
DELETE FROM jobs WHERE event = 'deadline.escalate';
DROP TABLE escalations;
DROP TABLE case_clocks;
