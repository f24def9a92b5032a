-- The staff's queue: a case handed in and not ended (not a private draft,
-- not in a final state). The engine keeps in_queue in step with the state
-- (workflow files say which states are private or final), so a clerk's or
-- an officer's queue is one read of a partial index per grant however many
-- services and states there are; with one branch per state, each new
-- service's states made every queue slower (the load tool: 0.41 → 0.28 of
-- a bare handler with the hukou transfer's two more open states).

-- +goose Up
ALTER TABLE cases ADD COLUMN in_queue boolean NOT NULL DEFAULT false;
-- Until now only the residence permit existed: its open, non-private states.
UPDATE cases SET in_queue = true WHERE service = 'residence-permit' AND state IN ('submitted', 'correction', 'reviewing');
CREATE INDEX cases_division_queue ON cases (division, id) WHERE in_queue;
CREATE INDEX cases_district_queue ON cases (district, id) WHERE in_queue;
-- City-wide (a supervisor of 321200) the queue is read a state at a time:
-- a state name queued in one service may be final in another.
CREATE INDEX cases_state_queue ON cases (state, id) WHERE in_queue;

-- +goose Down
DROP INDEX cases_state_queue;
DROP INDEX cases_district_queue;
DROP INDEX cases_division_queue;
ALTER TABLE cases DROP COLUMN in_queue;
