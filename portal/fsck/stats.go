package fsck

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"tzportal/portal"
)

// Replay computes the rollups' change of some cases from their timelines
// (workflow.Engine.ReplayStats).
type Replay func(cases []portal.Case, hist map[int64][]portal.History) portal.StatDelta

// CheckStats compares the dashboards' rollups with what every case's
// timeline adds up to, row by row: a count that a transition left out, or
// that someone changed by hand, shows as the row and both values. Run it
// on a quiet database (a step committed between the two reads shows as a
// difference); `portal stats rebuild` puts the rollups right.
func CheckStats(ctx context.Context, r portal.Reader, replay Replay) ([]Violation, error) {
	want := map[string]string{}
	addUp := func(d portal.StatDelta, into map[string][5]int64) {
		for _, c := range d.Cases {
			k := fmt.Sprintf("stat_cases %s %s %s %s", c.Area, c.Period, c.Service, c.State)
			v := into[k]
			v[0] += c.N
			into[k] = v
		}
		for _, c := range d.Steps {
			k := fmt.Sprintf("stat_steps %s %s %s %q %d", c.Area, c.Period, c.Service, c.Step, c.Days)
			v := into[k]
			into[k] = [5]int64{v[0] + c.N, v[1] + c.Approved, v[2] + c.Timed, v[3] + c.OnTime}
		}
		for _, c := range d.Clerks {
			k := fmt.Sprintf("stat_clerks %s %s %s %s user:%d %d", c.Division, c.Period, c.Service, c.Step, c.ActorID, c.Days)
			v := into[k]
			into[k] = [5]int64{v[0] + c.N, v[1] + c.Approved, v[2] + c.Timed, v[3] + c.OnTime}
		}
	}
	sums := map[string][5]int64{}
	var after int64
	for {
		cases, err := r.ListCases(ctx, portal.CaseFilter{AllScope: true, After: after, Limit: batch, NoForm: true})
		if err != nil {
			return nil, err
		}
		if len(cases) == 0 {
			break
		}
		ids := make([]int64, len(cases))
		for i, c := range cases {
			ids[i] = c.ID
		}
		hist, err := r.HistoryOf(ctx, ids)
		if err != nil {
			return nil, err
		}
		addUp(replay(cases, hist), sums)
		after = cases[len(cases)-1].ID
	}
	for k, v := range sums {
		if v != ([5]int64{}) {
			want[k] = fmt.Sprint(v[:4])
		}
	}
	stored, err := r.StatRows(ctx)
	if err != nil {
		return nil, err
	}
	rows := map[string][5]int64{}
	addUp(stored, rows)
	got := map[string]string{}
	for k, v := range rows {
		if v != ([5]int64{}) {
			got[k] = fmt.Sprint(v[:4])
		}
	}
	var out []Violation
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			out = append(out, Violation{Reason: fmt.Sprintf("%s: %s, the cases' timelines add up to %s", k, orNone(got[k]), want[k])})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			out = append(out, Violation{Reason: fmt.Sprintf("%s: %s, the cases' timelines add up to nothing", k, got[k])})
		}
	}
	return out, nil
}

func orNone(s string) string {
	if s == "" {
		return "missing"
	}
	return s
}
