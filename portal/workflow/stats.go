package workflow

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"tzportal/portal"
)

// Dashboards (README "Dashboards"). Every step adds its change to two
// rollups in its own transaction (portal.Tx.AddStats), and a dashboard
// reads those, never the cases:
//
//   - stat_cases counts handed-in cases by area (the case's street, its
//     district, the city), period handed in (its month and its year) and
//     current state: a step moves one count from the state left to the
//     state entered; a case counts from the step that hands it in (the
//     first into a state that is not private).
//   - stat_steps counts decisions (by area and period; stat_clerks by
//     person, at the street): a step by staff (a role of kind staff in
//     policies/roles.yaml) from a state the case was handed in for, moving
//     it elsewhere, not a cohort's event (a draw or an allocation moves
//     thousands at once and decides nothing of any one). Each decision
//     counts under the state decided on, the person, the month, and the
//     working days the case had been in that state; approved unless it
//     ends the case refused or sends it back to the applicant (a state
//     that pauses the clock); timed when the state had a due date, on time
//     when decided before it. A case that ends granted or refused counts
//     once more as a whole (step "", person 0), with its processing time:
//     the working days from hand-in to the end, less those it waited on
//     the applicant (pauses_clock) or on a waiting list (listed).
//
// The same function (statDelta) computes a step's change for a transition
// and for a rebuild from the cases' timelines (RebuildStats), so the two
// agree; portal fsck compares them.

// StatsFile is the dashboards' settings in policies/.
const StatsFile = "stats.yaml"

// StatsPolicy holds policies/stats.yaml.
type StatsPolicy struct {
	// Outliers: how clerks are compared with their peers.
	Outliers OutlierPolicy `yaml:"outliers"`
	// RevealsLimit bounds the report of reveals on cases not acted on.
	RevealsLimit int `yaml:"reveals_limit"`
	// WorklistCountsSeconds: how long a node keeps the worklist's counts
	// per state of a jurisdiction before reading them again (0: never
	// kept); a step committed on the node reads them again at once.
	WorklistCountsSeconds int `yaml:"worklist_counts_seconds"`
	// StaffRoles are the roles of kind staff (policies/roles.yaml), whose
	// steps are decisions; set by whoever loads the policy.
	StaffRoles map[string]bool `yaml:"-"`
}

// OutlierPolicy: a person's figure on a step stands out when its modified
// z-score against the peers on the same service and step — 0.6745 ×
// (x − median) ÷ MAD — is above Threshold in absolute value, counting only
// people with MinDecisions decisions there, and only when at least
// MinPeers of them are compared.
type OutlierPolicy struct {
	MinDecisions int     `yaml:"min_decisions"`
	MinPeers     int     `yaml:"min_peers"`
	Threshold    float64 `yaml:"threshold"`
}

// LoadStatsPolicy reads stats.yaml from fsys (policies.FS); staffRoles are
// the roles of kind staff.
func LoadStatsPolicy(fsys fs.FS, staffRoles map[string]bool) (*StatsPolicy, error) {
	src, err := fs.ReadFile(fsys, StatsFile)
	if err != nil {
		return nil, fmt.Errorf("policies/%s: %w", StatsFile, err)
	}
	var p StatsPolicy
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("policies/%s: %w", StatsFile, err)
	}
	var errs []string
	if p.Outliers.MinDecisions < 1 {
		errs = append(errs, "outliers.min_decisions must be at least 1")
	}
	if p.Outliers.MinPeers < 3 {
		errs = append(errs, "outliers.min_peers must be at least 3")
	}
	if !(p.Outliers.Threshold > 0) {
		errs = append(errs, "outliers.threshold must be above 0")
	}
	if p.RevealsLimit < 1 || p.RevealsLimit > 10000 {
		errs = append(errs, "reveals_limit must be from 1 to 10000")
	}
	if p.WorklistCountsSeconds < 0 || p.WorklistCountsSeconds > 300 {
		errs = append(errs, "worklist_counts_seconds must be from 0 to 300")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("policies/%s: %s", StatsFile, strings.Join(errs, "; "))
	}
	p.StaffRoles = staffRoles
	return &p, nil
}

// WorkingDays counts the working days after from's day up to and including
// to's day: a case decided the day it arrived took 0, one that arrived on
// Friday and was decided on Monday 1. It is the working days a deadline
// ending with to's day had left at from (DaysLeft).
func (c *Calendar) WorkingDays(from, to time.Time) int {
	return max(c.DaysLeft(from, c.startOfDay(to).AddDate(0, 0, 1), true), 0)
}

// Month is t's month in the city (YYYY-MM), the rollups' grain.
func (c *Calendar) Month(t time.Time) string { return t.In(c.Zone).Format("2006-01") }

// moves reports whether history row h entered a state (created the case,
// or changed its state).
func moves(h *portal.History) bool { return h.Event == portal.EventCreate || h.From != h.To }

// handedIn returns the row of hist that handed the case in: the first into
// a state that is not private; nil if none.
func handedIn(def *Definition, hist []portal.History) *portal.History {
	for i := range hist {
		if st := def.States[hist[i].To]; st != nil && !st.Private && moves(&hist[i]) {
			return &hist[i]
		}
	}
	return nil
}

// statDelta is what step h of case c (its division as at the step) changes
// in the rollups; hist is the case's timeline before h. Each count goes to
// the case's street, its district and the city, for the month and for the
// year.
func (e *Engine) statDelta(def *Definition, c *portal.Case, hist []portal.History, h *portal.History) portal.StatDelta {
	var d portal.StatDelta
	if !moves(h) {
		return d
	}
	areas := []string{c.Division, c.District, e.Authz.Divisions().Root}
	if c.District == "" || c.District == c.Division {
		areas = []string{c.Division, e.Authz.Divisions().Root}
	}
	periods := func(at time.Time) [2]string {
		m := e.Calendar.Month(at)
		return [2]string{m, m[:4]}
	}
	count := func(at time.Time, state string, n int64) {
		for _, a := range areas {
			for _, p := range periods(at) {
				d.Cases = append(d.Cases, portal.CaseCount{Area: a, Period: p, Service: def.Service, State: state, N: n})
			}
		}
	}
	decision := func(s portal.StepCount) {
		for _, a := range areas {
			for _, p := range periods(h.At) {
				s.Area, s.Period = a, p
				d.Steps = append(d.Steps, s)
			}
		}
	}
	in := handedIn(def, hist)
	to := def.States[h.To]
	switch {
	case in != nil:
		count(in.At, h.From, -1)
		count(in.At, h.To, 1)
	case to != nil && !to.Private:
		count(h.At, h.To, 1)
	}
	if in == nil || h.Event == portal.EventCreate {
		return d
	}
	// The row that entered the state left: since when, and its due date.
	var entered *portal.History
	for i := len(hist) - 1; i >= 0; i-- {
		if moves(&hist[i]) || restartsClock(def, &hist[i]) {
			entered = &hist[i]
			break
		}
	}
	ev := def.Events[h.Event]
	if entered != nil && ev != nil && !ev.Cohort && e.staffRole(h.ActorRole) && h.ActorID != nil {
		s := portal.StepCount{Service: def.Service, Step: h.From, Days: e.Calendar.WorkingDays(entered.At, h.At), N: 1}
		if to != nil && to.Outcome != OutcomeRefused && !to.PausesClock {
			s.Approved = 1
		}
		if entered.DueAt != nil {
			s.Timed = 1
			if h.At.Before(*entered.DueAt) {
				s.OnTime = 1
			}
		}
		decision(s)
		for _, p := range periods(h.At) {
			d.Clerks = append(d.Clerks, portal.ClerkCount{Division: c.Division, District: c.District, Period: p, Service: def.Service,
				Step: s.Step, ActorID: *h.ActorID, Days: s.Days, N: 1, Approved: s.Approved, Timed: s.Timed, OnTime: s.OnTime})
		}
	}
	if to != nil && to.Final && (to.Outcome == OutcomeGranted || to.Outcome == OutcomeRefused) {
		s := portal.StepCount{Service: def.Service, Days: e.processingDays(def, hist, in, h), N: 1}
		if to.Outcome == OutcomeGranted {
			s.Approved = 1
		}
		decision(s)
	}
	return d
}

// processingDays is a case's processing time, in working days, from its
// hand-in (row in of hist) to step end: less each wait on the applicant or
// on a waiting list, counted from the day it began to the day it ended.
func (e *Engine) processingDays(def *Definition, hist []portal.History, in, end *portal.History) int {
	days := e.Calendar.WorkingDays(in.At, end.At)
	var since *portal.History
	for i := range hist {
		h := &hist[i]
		if h.Seq < in.Seq || !moves(h) {
			continue
		}
		if since != nil {
			days -= e.Calendar.WorkingDays(since.At, h.At)
			since = nil
		}
		if st := def.States[h.To]; st != nil && (st.PausesClock || st.Listed) {
			since = h
		}
	}
	if since != nil {
		days -= e.Calendar.WorkingDays(since.At, end.At)
	}
	return max(days, 0)
}

// staffRole reports whether role is of kind staff.
func (e *Engine) staffRole(role string) bool {
	return e.Stats.StaffRoles[role]
}

// recordStats adds f's step (its history row h, the case's timeline
// before it in hist) to the rollups.
func (e *Engine) recordStats(f *Firing, hist []portal.History, h *portal.History) {
	f.Tx.AddStats(e.statDelta(f.Def, f.Case, hist, h))
}

// ReplayStats is the rollups' change of the cases given, computed from
// their timelines as each step computed it.
func (e *Engine) ReplayStats(cases []portal.Case, hist map[int64][]portal.History) portal.StatDelta {
	var out portal.StatDelta
	for i := range cases {
		c := &cases[i]
		def, ok := e.Definition(c.Service)
		if !ok {
			continue
		}
		hs := hist[c.ID]
		for j := range hs {
			d := e.statDelta(def, c, hs[:j], &hs[j])
			out.Cases = append(out.Cases, d.Cases...)
			out.Steps = append(out.Steps, d.Steps...)
			out.Clerks = append(out.Clerks, d.Clerks...)
		}
	}
	return out
}

// RebuildStats fills the rollups again from every case's timeline.
func (e *Engine) RebuildStats(ctx context.Context) (int64, error) {
	return e.Store.RebuildStats(ctx, e.Now(), func(cases []portal.Case, hist map[int64][]portal.History) (portal.StatDelta, error) {
		return e.ReplayStats(cases, hist), nil
	})
}

// RebuildStatsIfNew rebuilds the rollups if they never were (a database
// from before they existed): what a node does when it starts.
func (e *Engine) RebuildStatsIfNew(ctx context.Context) (int64, bool, error) {
	at, err := e.Store.StatsRebuiltAt(ctx)
	if err != nil || !at.IsZero() {
		return 0, false, err
	}
	n, err := e.RebuildStats(ctx)
	return n, err == nil, err
}

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 1) of a
// histogram of working days: the smallest number of days within which at
// least p of the decisions fall. ok is false for an empty histogram.
func Percentile(hist map[int]int64, p float64) (days int, ok bool) {
	var total int64
	keys := make([]int, 0, len(hist))
	for d, n := range hist {
		if n > 0 {
			total += n
			keys = append(keys, d)
		}
	}
	if total == 0 {
		return 0, false
	}
	slices.Sort(keys)
	rank := int64(math.Ceil(p * float64(total)))
	var seen int64
	for _, d := range keys {
		seen += hist[d]
		if seen >= rank {
			return d, true
		}
	}
	return keys[len(keys)-1], true
}

// ModifiedZ returns the modified z-scores (Iglewicz and Hoaglin) of xs
// against their median: 0.6745 × (x − median) ÷ MAD. When the MAD is 0
// (more than half agree exactly), the mean absolute deviation × 1.2533
// stands in for it; when that is 0 too, every score is 0.
func ModifiedZ(xs []float64) []float64 {
	med := median(xs)
	dev := make([]float64, len(xs))
	var sum float64
	for i, x := range xs {
		dev[i] = math.Abs(x - med)
		sum += dev[i]
	}
	mad := median(dev)
	scale := mad / 0.6745
	if mad == 0 {
		scale = 1.2533 * sum / float64(len(xs))
	}
	out := make([]float64, len(xs))
	if scale == 0 {
		return out
	}
	for i, x := range xs {
		out[i] = (x - med) / scale
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}
