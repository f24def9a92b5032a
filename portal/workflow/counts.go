package workflow

import (
	"context"
	"fmt"
	"slices"

	"tzportal/portal"
)

// StateCount is how many open cases of a reader's jurisdiction are in one
// state of a service, for the worklist's state filter.
type StateCount struct {
	Service string `json:"service"`
	State   string `json:"state"`
	Cases   int64  `json:"cases"`
}

// QueueCounts returns how many open cases of the actor's jurisdiction (the
// reach of their lists: "case, read") are in each open state of each
// service — the states of staff's queue, in the services' and files'
// order, zeros included. The counts are read from the dashboards' rollups
// (stat_cases, kept with every transition), a few rows per area and state
// for all years, so a view of the worklist never counts the cases table.
// Staff only: an applicant's own list has no filter bar (404).
func (e *Engine) QueueCounts(ctx context.Context, actor portal.Actor) ([]StateCount, error) {
	u := actor.User
	if u == nil {
		return nil, portal.Errorf(portal.EUNAUTHORIZED, "error.login_required", nil)
	}
	scope := e.Authz.Scope(u, "case", "read")
	areas := e.scopeAreas(scope)
	if u.Kind != portal.KindStaff || len(areas) == 0 {
		return nil, portal.NotFound(fmt.Errorf("workflow: %s has no worklist", u.Login))
	}
	rows, err := e.Store.StatCases(ctx, portal.StatQuery{Areas: areas, AllYears: true})
	if err != nil {
		return nil, err
	}
	n := map[[2]string]int64{}
	for _, r := range rows[0] {
		n[[2]string{r.Service, r.State}] += r.N
	}
	out := []StateCount{}
	for _, id := range e.Services() {
		for _, st := range e.queued[id] {
			out = append(out, StateCount{Service: id, State: st, Cases: n[[2]string{id, st}]})
		}
	}
	return out, nil
}

// scopeAreas are the rollups' areas of a scope: the city's root for a
// city-wide scope, else each term's street or district, less those within
// another term's area (a street within a district also reached counts
// once, in the district).
func (e *Engine) scopeAreas(scope portal.CaseFilter) []string {
	divs := e.Authz.Divisions()
	if scope.AllScope {
		return []string{divs.Root}
	}
	code := func(t portal.ScopeTerm) string { return t.Division + t.District }
	var areas []string
	for _, t := range scope.Scope {
		if !slices.ContainsFunc(scope.Scope, func(o portal.ScopeTerm) bool { return code(o) != code(t) && divs.Covers(code(o), code(t)) }) &&
			!slices.Contains(areas, code(t)) {
			areas = append(areas, code(t))
		}
	}
	return areas
}
