package portal

import (
	"context"
	"time"
)

// The dashboards' rollups (README "Dashboards"): counts kept with every
// transition, in the transition's own transaction, so that a dashboard
// reads a few hundred rows whatever the number of cases.

// CaseCount is a change to the count of handed-in cases of one area (a
// street, a district or the city), period handed in (YYYY-MM or YYYY, the
// city's time), service and state.
type CaseCount struct {
	Area, Period, Service, State string
	N                            int64
}

// StepCount is a change to the decisions of one area, period decided,
// service, step (the state decided on; "" for a whole case, granted or
// refused) and working days taken.
type StepCount struct {
	Area, Period, Service, Step string
	Days                        int
	// N decisions, of which Approved moved the case on (neither a refusal
	// nor a return to the applicant), Timed had a time limit and OnTime
	// were made within it.
	N, Approved, Timed, OnTime int64
}

// ClerkCount is StepCount by person, at the street (Division) only.
type ClerkCount struct {
	Division, District, Period, Service, Step string
	ActorID                                   int64
	Days                                      int
	N, Approved, Timed, OnTime                int64
}

// StatDelta is what one transaction changes in the rollups.
type StatDelta struct {
	Cases  []CaseCount
	Steps  []StepCount
	Clerks []ClerkCount
}

// StatQuery selects rollup rows of some areas and periods, of a service
// ("" all). The rows come summed over the areas and periods unless ByArea
// or ByPeriod keeps them apart.
type StatQuery struct {
	Areas            []string
	Periods          []string
	AllYears         bool // every year's row, instead of Periods
	Service          string
	ByArea, ByPeriod bool
}

// ClerkQuery selects the clerks' rows: a scope (as a CaseFilter's), the
// periods and a service.
type ClerkQuery struct {
	Scope    []ScopeTerm
	AllScope bool
	Periods  []string
	Service  string
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

// StatStore reads the rollups.
type StatStore interface {
	// StatCases returns each query's case counts by service and state
	// (and area, period), N ≠ 0 only, in one statement.
	StatCases(ctx context.Context, qs ...StatQuery) ([][]CaseCount, error)
	// StatSteps returns q's decisions by service, step and days (and area,
	// period).
	StatSteps(ctx context.Context, q StatQuery) ([]StepCount, error)
	// StatClerks returns q's decisions by service, step, person and days.
	StatClerks(ctx context.Context, q ClerkQuery) ([]ClerkCount, error)
	// Reveals returns the reveals of full ID numbers on cases of q's scope
	// (and service) from day from to day to (YYYY-MM-DD) by staff who took
	// no step on them.
	Reveals(ctx context.Context, q ClerkQuery, from, to string, limit int) ([]RevealRow, error)
	// StatsRebuiltAt returns when the rollups were last rebuilt (zero:
	// never).
	StatsRebuiltAt(ctx context.Context) (time.Time, error)
	// StatRows returns every row of the rollups (for fsck).
	StatRows(ctx context.Context) (StatDelta, error)
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
