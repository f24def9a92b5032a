package portal

import (
	"context"
	"time"
)

// SavedFilter is a staff member's named worklist filter (the clerk's
// desk): the worklist's query string (state, service, overdue, mine,
// unclaimed).
type SavedFilter struct {
	ID        int64
	Name      string
	Query     string
	CreatedAt time.Time
}

// DeskStore reads a person's saved filters.
type DeskStore interface {
	// SavedFilters returns the user's filters by name.
	SavedFilters(ctx context.Context, userID int64) ([]SavedFilter, error)
}

// DeskTx keeps them.
type DeskTx interface {
	// SaveFilter adds the filter, or replaces the query of the user's
	// filter of the same name.
	SaveFilter(ctx context.Context, userID int64, f SavedFilter) error
	// DeleteFilter removes the user's filter id (another's: nothing).
	DeleteFilter(ctx context.Context, userID, id int64) error
}
