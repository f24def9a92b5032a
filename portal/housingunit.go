package portal

import (
	"context"
	"time"
)

// Statuses of a housing unit of the stock.
const (
	UnitAvailable = "available" // may be drawn
	UnitWithdrawn = "withdrawn" // out of the stock (sold, repaired, let outside draws)
)

// Kinds of change to a housing unit.
const (
	UnitAdd      = "add"      // New is the status it starts with
	UnitWithdraw = "withdraw" // Old and New are statuses
	UnitRestore  = "restore"
)

// HousingUnit is a unit of the housing-security stock (房源): the city
// administrator keeps the stock, a district officer draws from it.
type HousingUnit struct {
	Code      string    `json:"code"`
	District  string    `json:"district"` // the county-level unit (6 digits)
	Kind      string    `json:"kind"`     // public_rental, affordable_rental, shared_ownership
	Address   string    `json:"address"`
	Area      float64   `json:"area"` // m²
	Rooms     int       `json:"rooms"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// HousingUnitFilter selects units: each field "" for any.
type HousingUnitFilter struct {
	District, Kind, Status string
	Limit                  int
}

// HousingUnitChange is one line of a unit's history: who changed it,
// when, from what to what.
type HousingUnitChange struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	ActorName string    `json:"actor_name"`
	Code      string    `json:"code"`
	Change    string    `json:"change"` // add, withdraw, restore
	Old       string    `json:"old"`
	New       string    `json:"new"`
}

// HousingUnitStore reads the stock.
type HousingUnitStore interface {
	// HousingUnits returns the units f selects, by district, kind and code.
	HousingUnits(ctx context.Context, f HousingUnitFilter) ([]HousingUnit, error)
	// HousingUnit returns one unit; ENOTFOUND when there is none.
	HousingUnit(ctx context.Context, code string) (*HousingUnit, error)
	// HousingUnitChanges returns the stock's newest changes first (of one
	// unit when code is not ""), at most limit.
	HousingUnitChanges(ctx context.Context, code string, limit int) ([]HousingUnitChange, error)
}

// HousingUnitTx changes the stock.
type HousingUnitTx interface {
	// InsertHousingUnit adds a unit; a code in use is EINVALID on "code".
	InsertHousingUnit(ctx context.Context, u HousingUnit) error
	// SetHousingUnitStatus sets a unit's status from old; ECONFLICT when
	// it is not old any more (another administrator changed it meanwhile).
	SetHousingUnitStatus(ctx context.Context, code, old, status string, at time.Time) error
	InsertHousingUnitChange(ctx context.Context, c *HousingUnitChange) error
}
