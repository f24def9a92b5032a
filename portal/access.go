package portal

import (
	"context"
	"time"
)

// Who viewed my file (PIPL art. 44–45: the right to know how one's data is
// processed): every access by staff or another system to an applicant's
// case is counted, per person, kind and day, so that the applicant can see
// which office looked at it, in which role and when — never who.

// Kinds of access to a case.
const (
	AccessView     = "view"     // the case read: its page, its API, its list of materials
	AccessMaterial = "material" // one of its materials opened or downloaded
	AccessReveal   = "reveal"   // a full ID number shown
)

// Access is what one person did with one case on one day: how often, first
// and last, and the role and division (their office) by which they reached
// it. A person's repeated reads add to the day's row; the table grows with
// people and days, not with page views.
type Access struct {
	CaseID   int64
	UserID   int64 // written, never read back: the log names offices, not people
	Kind     string
	Day      string // YYYY-MM-DD, the city's date
	Role     string
	Division string
	Count    int
	FirstAt  time.Time
	LastAt   time.Time
}

// AccessStore reads the access log.
type AccessStore interface {
	// AccessLog returns up to limit of a case's access rows, the latest
	// first, without the people (UserID is 0).
	AccessLog(ctx context.Context, caseID int64, limit int) ([]Access, error)
}

// AccessWriter records an access: one statement (an upsert), in a
// transaction of its own or in the caller's.
type AccessWriter interface {
	// RecordAccess adds one access at a.LastAt to the row of (case, person,
	// kind, day), creating it if needed.
	RecordAccess(ctx context.Context, a Access) error
}
