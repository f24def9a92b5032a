-- The plan's indicators count the cases of a service that reached a final
-- state within a period (residence permits issued, settlements): an index
-- range per indicator, not a scan of the state's cases.

-- +goose Up
CREATE INDEX cases_service_state_since ON cases (service, state, state_since);

-- +goose Down
DROP INDEX cases_service_state_since;
