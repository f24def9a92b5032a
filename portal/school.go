package portal

import (
	"context"
	"time"
)

// School is a school's places for one year and entry grade (随迁子女入学),
// as the admin imports them.
type School struct {
	Code      string
	Year      int
	Grade     string // "1" or "7"
	Name      string
	District  string   // 6-digit district code
	Catchment []string // 9-digit divisions it serves
	Seats     int
	Public    bool
}

// Serves reports whether the school's catchment holds the division.
func (s *School) Serves(division string) bool {
	for _, d := range s.Catchment {
		if d == division {
			return true
		}
	}
	return false
}

// EnrollmentWindow is when a district takes school applications for a
// year, and how long what follows lasts.
type EnrollmentWindow struct {
	District        string
	Year            int
	Opens           string // YYYY-MM-DD, first day
	Closes          string // YYYY-MM-DD, last day
	PublicationDays int    // days a published list is on public notice
	AppealDays      int    // working days after publication an appeal may be made
	UpdatedBy       string
	UpdatedAt       time.Time
}

// SchoolStore reads the reference data of school places.
type SchoolStore interface {
	// Schools returns a district's schools for a year (all grades), by code
	// and grade; district "" means every district.
	Schools(ctx context.Context, district string, year int) ([]School, error)
	// EnrollmentWindow returns a district's window for a year, ENOTFOUND if
	// none is set.
	EnrollmentWindow(ctx context.Context, district string, year int) (*EnrollmentWindow, error)
	// EnrollmentWindows returns the windows set, filtered when district or
	// year is given.
	EnrollmentWindows(ctx context.Context, district string, year int) ([]EnrollmentWindow, error)
}

// SchoolTx writes them.
type SchoolTx interface {
	// PutSchools inserts or replaces rows by (code, year, grade).
	PutSchools(ctx context.Context, rows []School) error
	// PutEnrollmentWindow inserts or replaces a window.
	PutEnrollmentWindow(ctx context.Context, w *EnrollmentWindow) error
}
