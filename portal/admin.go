package portal

import (
	"context"
	"time"
)

// AccountFilter selects the staff and system accounts an administrator
// lists: Kind (staff or system, "" for both), Q a part of the login or name.
type AccountFilter struct {
	Kind  UserKind
	Q     string
	Limit int
}

// AccountStore lists the accounts that are not applicants (administration).
type AccountStore interface {
	// Accounts returns staff and system accounts with their grants, by login.
	Accounts(ctx context.Context, f AccountFilter) ([]User, error)
}

// Kinds of change to the division tree.
const (
	DivisionAdd    = "add"    // a new statistical zone
	DivisionRename = "rename" // Old and New are names
	DivisionMove   = "move"   // Old and New are parent codes
)

// DivisionChange is one line of the division tree's history: who changed
// which division, when, from what to what.
type DivisionChange struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`      // audit name: user:42, cli:root
	ActorName string    `json:"actor_name"` // the person's name when the change was made
	Code      string    `json:"code"`
	Change    string    `json:"change"` // add, rename, move
	Old       string    `json:"old"`
	New       string    `json:"new"`
}

// DivisionStore reads the division tree's history.
type DivisionStore interface {
	// DivisionChanges returns the newest changes first, at most limit.
	DivisionChanges(ctx context.Context, code string, limit int) ([]DivisionChange, error)
	// DivisionVersion is the id of the newest change (0 when none): a node
	// whose tree is older reloads it.
	DivisionVersion(ctx context.Context) (int64, error)
	// CasesIn counts the cases filed in a division.
	CasesIn(ctx context.Context, code string) (int, error)
}

// DivisionTx changes the division tree.
type DivisionTx interface {
	InsertDivision(ctx context.Context, d Division) error
	UpdateDivision(ctx context.Context, d Division) error
	InsertDivisionChange(ctx context.Context, c *DivisionChange) error
}

// CalendarChange is one line of the working-day calendar's history: who
// set which day, when, from what kind to what (holiday, workday, normal).
type CalendarChange struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	ActorName string    `json:"actor_name"`
	Day       string    `json:"day"`
	Old       string    `json:"old"`
	New       string    `json:"new"`
	Note      string    `json:"note,omitempty"`
}

// CalendarStore reads the days an administrator set over
// workflows/calendar.yaml, and their history.
type CalendarStore interface {
	// CalendarDays returns every day set, day → kind.
	CalendarDays(ctx context.Context) (map[string]string, error)
	// CalendarChanges returns the changes of days starting with prefix
	// (a year, "2027-"), newest first, at most limit.
	CalendarChanges(ctx context.Context, prefix string, limit int) ([]CalendarChange, error)
	// CalendarVersion is the id of the newest change (0 when none).
	CalendarVersion(ctx context.Context) (int64, error)
}

// CalendarTx sets a day of the calendar.
type CalendarTx interface {
	SetCalendarDay(ctx context.Context, day, kind string) error
	InsertCalendarChange(ctx context.Context, c *CalendarChange) error
}
