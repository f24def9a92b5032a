package portal

import (
	"context"
	"encoding/json"
	"time"
)

// Cohort is an operation that moves many cases at once — a published
// school list, an allocation, a housing draw — and the public record of it:
// who ran it, when, on what scope, with which seed and its commitment. It
// is written before its cases move and counts them as they do, so a run
// cut short resumes where it stopped; a scope has at most one of each kind.
type Cohort struct {
	ID         int64
	Kind       string // e.g. enrollment-list, allocation
	Service    string
	District   string
	Scope      string // within the district, e.g. "2027/1" (year and grade)
	Commitment string // SHA-256 of the seed, published before the seed
	Seed       string
	Actor      string // audit actor id of who ran it
	CreatedAt  time.Time
	FinishedAt *time.Time
	Total      int             // cases it moves
	Done       int             // cases moved so far
	Summary    json.RawMessage // what the operation's page shows
	Data       json.RawMessage // its published input and output
}

// CohortStore reads cohort operations.
type CohortStore interface {
	CohortByID(ctx context.Context, id int64) (*Cohort, error)
	// CohortRecord is CohortByID without the operation's data.
	CohortRecord(ctx context.Context, id int64) (*Cohort, error)
	// CohortOf returns the operation of kind over a scope, ENOTFOUND if none.
	CohortOf(ctx context.Context, kind, service, district, scope string) (*Cohort, error)
	// CohortIDs returns the ids of a district's operations of a kind, oldest
	// first.
	CohortIDs(ctx context.Context, kind, service, district string) ([]int64, error)
	// UnfinishedCohorts returns the operations not finished (cut short),
	// without their data.
	UnfinishedCohorts(ctx context.Context) ([]Cohort, error)
	// CasesInState returns a district's cases of a service in a state, by
	// id after afterID, with their forms and results (a cohort's members).
	CasesInState(ctx context.Context, service, district, state string, afterID int64, limit int) ([]Case, error)
	Reached
}

// Reached counts the cases of a service in (final) state whose state
// began in [from, to) (from zero: since ever), by the text of their form's
// key by ("" for all, or for a case without it).
type Reached interface {
	CountReached(ctx context.Context, service, state string, from, to time.Time, by string) (map[string]int, error)
}

// CohortTx writes them.
type CohortTx interface {
	// InsertCohort records a new operation; ECONFLICT if its scope has one.
	InsertCohort(ctx context.Context, c *Cohort) error
	// UpdateCohort writes Done, FinishedAt, Summary and Data.
	UpdateCohort(ctx context.Context, c *Cohort) error
	// CohortProgress writes Done, FinishedAt and Summary (unless nil: the
	// stored one stays), not Data: a batch's progress without rewriting an
	// operation's data (a draw's or an allocation's can be megabytes).
	CohortProgress(ctx context.Context, c *Cohort) error
}
