package portal

import (
	"context"
	"time"
)

// Deadlines that escalate (承诺时限): a case in a state where staff owe the
// next step has a due date (Case.DueAt); past it, the case is overdue and
// escalated once to the supervisors of its division. While the case waits
// on the applicant (a correction, promised materials) the staff clock is
// paused: CaseClock keeps what it had left.

// Escalation records that a case's step went past its deadline and who
// was told, once per (case, step): Step is the version at which the case
// entered the state.
type Escalation struct {
	CaseID      int64
	Step        int
	State       string
	Division    string
	DueAt       time.Time
	EscalatedAt time.Time
	Notified    int // supervisors whose inbox has it
}

// DeadlineFilter selects the open cases of a jurisdiction by due date. The
// scope is a CaseFilter's (Scope, AllScope); Steps names, per service, the
// states whose deadline is staff's.
type DeadlineFilter struct {
	Scope    []ScopeTerm
	AllScope bool
	Steps    map[string][]string
	Service  string
	// DueAfter < due_at ≤ DueUntil (either may be zero: unbounded).
	DueAfter time.Time
	DueUntil time.Time
	// AfterDue, AfterID: keyset, cases after this (due_at, id).
	AfterDue time.Time
	AfterID  int64
	Limit    int
}

// AgingRow counts one office's open cases with a staff deadline by band.
type AgingRow struct {
	Division string `json:"division"`
	OnTime   int    `json:"on_time"`
	Late     int    `json:"late"`
	Delayed  int    `json:"delayed"`
}

// DeadlineStore reads cases by their deadlines.
type DeadlineStore interface {
	// DeadlineCases returns open cases in f's steps and scope, by due date
	// then id (applicant names filled, no form).
	DeadlineCases(ctx context.Context, f DeadlineFilter) ([]Case, error)
	// Aging counts the open cases in f's steps and scope per division: on
	// time (due after now), late (due at or before now, after lateCut),
	// delayed (due at or before lateCut).
	Aging(ctx context.Context, f DeadlineFilter, now, lateCut time.Time) ([]AgingRow, error)
	// Escalations returns the escalations of a case, oldest first.
	Escalations(ctx context.Context, caseID int64) ([]Escalation, error)
}

// DeadlineTx writes what the engine keeps of deadlines.
type DeadlineTx interface {
	// PauseClock keeps the days a state's deadline had left (negative:
	// overdue already) while the case waits on the applicant.
	PauseClock(ctx context.Context, caseID int64, state string, daysLeft int, at time.Time) error
	// ResumeClock takes back the days kept for a state; false if none.
	ResumeClock(ctx context.Context, caseID int64, state string) (int, bool, error)
	// InsertEscalation records e; false if the step was escalated already.
	InsertEscalation(ctx context.Context, e *Escalation) (bool, error)
	// UsersWithRole returns the enabled staff holding role in one of divisions.
	UsersWithRole(ctx context.Context, role string, divisions []string) ([]User, error)
}
