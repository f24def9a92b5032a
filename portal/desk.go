package portal

import (
	"context"
	"encoding/json"
)

// SavedFilter is one of a staff member's named worklist filters (the
// clerk's desk): the worklist's query string (state, service, overdue,
// mine, unclaimed). A user's are kept with the user (User.SavedFilters).
type SavedFilter struct {
	Name  string `json:"name"`
	Query string `json:"query"`
}

// DeskTx keeps a user's saved filters.
type DeskTx interface {
	// SavedFiltersForUpdate returns the user's saved filters (JSON) and
	// locks them until the transaction ends.
	SavedFiltersForUpdate(ctx context.Context, userID int64) (json.RawMessage, error)
	// SetSavedFilters replaces them.
	SetSavedFilters(ctx context.Context, userID int64, filters json.RawMessage) error
}
