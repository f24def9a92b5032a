package portal

import (
	"context"
	"time"
)

// Rating is an applicant's rating of how a case was served (好差评, GB/T
// 39734-2020): 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意.
type Rating struct {
	CaseID    int64
	CaseNo    string
	Service   string
	Division  string
	District  string
	ClerkID   *int64 // the staff member who took the case's last step
	Score     int
	Comment   string
	CreatedAt time.Time
	FollowUp  *FollowUp // a bad rating's follow-up
}

// Follow-up states: the return visit is due, then the rectification, then
// it is closed with what was done.
const (
	FollowUpVisit   = "visit"
	FollowUpRectify = "rectify"
	FollowUpClosed  = "closed"
)

// FollowUp is the follow-up of a bad rating by the supervisors of the
// case's division (整改回访).
type FollowUp struct {
	CaseID      int64
	CaseNo      string
	Division    string
	District    string
	State       string
	OpenedAt    time.Time
	VisitDue    time.Time
	RectifyDue  time.Time
	VisitedAt   *time.Time
	VisitedBy   *int64
	VisitNote   string
	ClosedAt    *time.Time
	ClosedBy    *int64
	ClosingNote string
	// Read with it for the supervisors' page.
	Score   int
	Comment string
	Service string
}

// RatingCount is the ratings of one group (a division, a clerk): how many,
// how many good, and, for divisions, how many cases ended there.
type RatingCount struct {
	Key     string // division code, or clerk id
	Name    string // the clerk's name
	Rated   int
	Good    int
	Ended   int // cases handed in and now in a final state (divisions only)
	FollowN int // follow-ups closed
	OnTime  int // of those, closed with both steps in time
}

// RatingQuery selects the ratings of a jurisdiction for the rates.
type RatingQuery struct {
	Scope    []ScopeTerm
	AllScope bool
	GoodMin  int
}

// RatingStore reads ratings.
type RatingStore interface {
	// RatingOf returns a case's rating with its follow-up, ENOTFOUND if none.
	RatingOf(ctx context.Context, caseID int64) (*Rating, error)
	// FollowUps returns the follow-ups of a jurisdiction, open first (by
	// due time), then the latest closed, up to limit.
	FollowUps(ctx context.Context, q RatingQuery, limit int) ([]FollowUp, error)
	// RatingsByDivision and RatingsByClerk count the jurisdiction's ratings.
	RatingsByDivision(ctx context.Context, q RatingQuery) ([]RatingCount, error)
	RatingsByClerk(ctx context.Context, q RatingQuery) ([]RatingCount, error)
	// StaffIn returns the active staff holding a grant on one of divisions,
	// each with those grants only (who may be told of a follow-up).
	StaffIn(ctx context.Context, divisions []string) ([]User, error)
}

// RatingTx writes them.
type RatingTx interface {
	// InsertRating records a rating (and its follow-up, if any); a second
	// rating of the case is ECONFLICT.
	InsertRating(ctx context.Context, r *Rating) error
	// UpdateFollowUp writes a follow-up's step if it is still in state from;
	// otherwise ECONFLICT.
	UpdateFollowUp(ctx context.Context, f *FollowUp, from string) error
}
