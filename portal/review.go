package portal

import (
	"context"
	"time"
)

// Re-review sampling (抽查复核): each day a share of every service's decided
// cases is drawn, with a seed the draw logs, for a supervisor's second
// look; the supervisor records a finding (agree, or disagree with a
// reason), counted per clerk who decided.

// Findings of a re-review.
const (
	FindingAgree    = "agree"
	FindingDisagree = "disagree"
)

// Sample is one day's draw of a service's decided cases.
type Sample struct {
	ID      int64
	Service string
	Day     string // the civil day (Asia/Shanghai) whose decisions it drew from, YYYY-MM-DD
	Seed    string // lowercase hex: anyone can redraw it from the seed and the day's decisions
	Share   float64
	Decided int // the day's decided cases
	Drawn   int
	DrawnAt time.Time
}

// DecidedCase is a case decided on a day: its deciding step's event and who
// took it.
type DecidedCase struct {
	CaseID    int64
	CaseNo    string
	Division  string
	District  string
	Event     string
	DecidedBy *int64 // the deciding user (nil: a system)
	DecidedAt time.Time
}

// SampleCase is one drawn case and its finding ("" while it waits).
type SampleCase struct {
	SampleID int64
	DecidedCase
	Service    string
	Day        string
	Finding    string
	Reason     string
	ReviewerID *int64
	ReviewedAt *time.Time
	// DeciderName is the deciding user's name, as read (for pages).
	DeciderName string
}

// ReviewFilter selects drawn cases within a reader's reach, newest first.
type ReviewFilter struct {
	Scope    []ScopeTerm
	AllScope bool
	Pending  bool // only those without a finding
	Service  string
	// Keyset: cases drawn before (SampleID, CaseID).
	BeforeSample, BeforeCase int64
	Limit                    int
}

// ClerkFindings are the findings on one clerk's sampled decisions.
type ClerkFindings struct {
	UserID   int64
	Name     string
	Service  string
	Drawn    int
	Agree    int
	Disagree int
}

// ReviewStore reads the samples.
type ReviewStore interface {
	// DecidedCases returns a service's cases that reached one of states in
	// [from, to), by case number, with their last step (the decision).
	DecidedCases(ctx context.Context, service string, states []string, from, to time.Time) ([]DecidedCase, error)
	// SampleOf returns a service's draw of a day, ENOTFOUND if none.
	SampleOf(ctx context.Context, service, day string) (*Sample, error)
	// SampleCases returns drawn cases by f.
	SampleCases(ctx context.Context, f ReviewFilter) ([]SampleCase, error)
	// ClerkFindings counts the findings per clerk and service within the
	// reach of f (its Scope, AllScope and Service).
	ClerkFindings(ctx context.Context, f ReviewFilter) ([]ClerkFindings, error)
}

// ReviewTx writes them.
type ReviewTx interface {
	// InsertSample records a day's draw with its cases; ECONFLICT when the
	// service's day is drawn already (another node drew it).
	InsertSample(ctx context.Context, s *Sample, cases []DecidedCase) error
	// RecordFinding records the finding on a drawn case; ECONFLICT when it
	// has one, ENOTFOUND when the case was not drawn in that sample.
	RecordFinding(ctx context.Context, sampleID, caseID int64, finding, reason string, reviewer int64, at time.Time) error
	// SampleCaseForUpdate reads one drawn case and locks it.
	SampleCaseForUpdate(ctx context.Context, sampleID int64, caseNo string) (*SampleCase, error)
}
