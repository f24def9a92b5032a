package portal

import (
	"context"
	"time"
)

// The dashboards' rollups (README "Dashboards"): counts kept with every
// transition, in the transition's own transaction, so that a dashboard
// reads a few hundred rows whatever the number of cases.

// CaseCount is a change to the count of handed-in cases of one division,
// service, month handed in (the city's YYYY-MM) and state.
type CaseCount struct {
	Division, District, Service, Month, State string
	N                                         int64
}

// StepCount is a change to the decisions of one division, service, month
// decided, step (the state decided on; "" for a whole case, granted or
// refused), person (0 for a whole case) and working days taken.
type StepCount struct {
	Division, District, Service, Month, Step string
	ActorID                                  int64
	Days                                     int
	// N decisions, of which Approved moved the case on (neither a refusal
	// nor a return to the applicant), Timed had a time limit and OnTime
	// were made within it.
	N, Approved, Timed, OnTime int64
}

// StatDelta is what one transaction changes in the rollups.
type StatDelta struct {
	Cases []CaseCount
	Steps []StepCount
}

// StatFilter selects rollup rows: a scope (as a CaseFilter's), a service
// ("" all) and months FromMonth..ToMonth (YYYY-MM, inclusive; "" open).
type StatFilter struct {
	Scope     []ScopeTerm
	AllScope  bool
	Service   string
	FromMonth string
	ToMonth   string
	// ByActor: step rows per person (the clerks' report); otherwise summed
	// over people.
	ByActor bool
}

// RevealRow is a full ID number revealed on a case the person revealing
// it took no action on.
type RevealRow struct {
	UserID   int64
	Name     string
	Role     string
	Office   string // the division the person acted from
	CaseNo   string
	Service  string
	Division string // the case's
	Day      string
	N        int
}

// StatStore reads and rebuilds the rollups.
type StatStore interface {
	// StatCases returns f's case counts, one row per division, service,
	// month and state (N > 0 only).
	StatCases(ctx context.Context, f StatFilter) ([]CaseCount, error)
	// StatSteps returns f's decisions, one row per service, step, days —
	// and person when f.ByActor (Division, District and Month empty).
	StatSteps(ctx context.Context, f StatFilter) ([]StepCount, error)
	// Reveals returns the reveals of full ID numbers on f's cases from
	// day from to day to (YYYY-MM-DD) by staff who took no step on them.
	Reveals(ctx context.Context, f StatFilter, from, to string, limit int) ([]RevealRow, error)
	// StatsRebuiltAt returns when the rollups were last rebuilt (zero:
	// never).
	StatsRebuiltAt(ctx context.Context) (time.Time, error)
}

// StatRebuilder rebuilds the rollups (a Store's).
type StatRebuilder interface {
	// RebuildStats empties the rollups and fills them again from every
	// case, batch by batch (cases without forms, with their timelines):
	// each returns a batch's deltas. It holds the rollups' tables for its
	// whole run, so no transition counts into them meanwhile, and returns
	// the number of cases read.
	RebuildStats(ctx context.Context, now time.Time, each func(cases []Case, hist map[int64][]History) (StatDelta, error)) (int64, error)
}
