package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	key := strings.Join(areas, ",")
	if out, ok := e.counts.get(key, e.Now()); ok {
		return out, nil
	}
	gen := e.counts.generation()
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
	e.counts.put(key, gen, e.Now(), out)
	return out, nil
}

// countsCache keeps the worklist's counts of each jurisdiction for a few
// seconds (policies/stats.yaml, worklist_counts_seconds): every clerk of a
// street reads the same few rows on every view of the worklist, which is
// the page they load most. A step committed on this node starts a new
// generation, so that here they are never behind this node's own steps;
// another node's steps show within the seconds.
type countsCache struct {
	ttl  time.Duration
	gen  atomic.Int64
	mu   sync.Mutex
	byKV map[string]countsEntry
}

type countsEntry struct {
	gen    int64
	at     time.Time
	counts []StateCount
}

// maxCountsEntries bounds the cache: a jurisdiction's entry is a few
// dozen counts, and a city has a few hundred streets and towns.
const maxCountsEntries = 10000

func (cc *countsCache) generation() int64 { return cc.gen.Load() }

// changed starts a new generation (a step committed).
func (cc *countsCache) changed() { cc.gen.Add(1) }

func (cc *countsCache) get(key string, now time.Time) ([]StateCount, bool) {
	if cc.ttl <= 0 {
		return nil, false
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	en, ok := cc.byKV[key]
	if !ok || en.gen != cc.gen.Load() || now.Sub(en.at) >= cc.ttl || now.Before(en.at) {
		return nil, false
	}
	return en.counts, true
}

func (cc *countsCache) put(key string, gen int64, now time.Time, counts []StateCount) {
	if cc.ttl <= 0 {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.byKV == nil || len(cc.byKV) >= maxCountsEntries {
		cc.byKV = map[string]countsEntry{}
	}
	cc.byKV[key] = countsEntry{gen: gen, at: now, counts: counts}
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
