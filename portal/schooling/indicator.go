package schooling

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// The plan's indicator (《泰州市“十四五”新型城镇化规划》): the share of
// eligible migrant children placed in public schools, by district and
// year, computed from the cases. Eligible: verified by the district (on
// its list, allocated, placed or enrolled); placed in a public school:
// assigned or enrolled at a school marked public.
var (
	eligibleStates = []string{stateVerified, statePublished, stateAppeal, "assigned", "unassigned", "enrolled"}
	placedStates   = map[string]bool{"assigned": true, "enrolled": true}
)

// IndicatorRow is the indicator of one district and year.
type IndicatorRow struct {
	District     string  `json:"district"`
	Year         int     `json:"year"`
	Eligible     int     `json:"eligible"`
	Placed       int     `json:"placed"`
	PlacedPublic int     `json:"placed_public"`
	Share        float64 `json:"share"` // placed_public ÷ eligible, 0 when none
	Target       float64 `json:"target"`
}

// Indicator computes the indicator for a year, of one district or of every
// district with an enrollment window that year.
func Indicator(ctx context.Context, e *workflow.Engine, district string, year int) ([]IndicatorRow, error) {
	var districts []string
	if district != "" {
		districts = []string{district}
	} else {
		ws, err := e.Store.EnrollmentWindows(ctx, "", year)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			districts = append(districts, w.District)
		}
	}
	target := service(e).set.IndicatorTarget
	out := []IndicatorRow{}
	for _, d := range districts {
		schools, err := e.Store.Schools(ctx, d, year)
		if err != nil {
			return nil, err
		}
		public := map[string]bool{}
		for _, s := range schools {
			public[s.Code] = s.Public
		}
		row := IndicatorRow{District: d, Year: year, Target: target}
		for _, st := range eligibleStates {
			ms, err := members(ctx, e.Store, d, st, year, "") // both grades, one read
			if err != nil {
				return nil, err
			}
			row.Eligible += len(ms)
			if !placedStates[st] {
				continue
			}
			for _, m := range ms {
				row.Placed++
				if public[schoolOf(m.c)] {
					row.PlacedPublic++
				}
			}
		}
		if row.Eligible > 0 {
			row.Share = math.Round(float64(row.PlacedPublic)/float64(row.Eligible)*10000) / 10000
		}
		out = append(out, row)
	}
	return out, nil
}

// schoolOf is the school in a case's result, "" if none.
func schoolOf(c *portal.Case) string {
	var r struct {
		School string `json:"school"`
	}
	_ = json.Unmarshal(c.Result, &r)
	return r.School
}

// Indicators is the plan's indicator for the city (workflow.IndicatorSource):
// the share of eligible migrant children placed in public schools, over
// every district with an enrollment window in the year.
func (s *Service) Indicators(ctx context.Context, e *workflow.Engine, year int, _ time.Time) ([]workflow.Indicator, error) {
	rows, err := Indicator(ctx, e, "", year)
	if err != nil {
		return nil, err
	}
	var eligible, public int
	for _, r := range rows {
		eligible, public = eligible+r.Eligible, public+r.PlacedPublic
	}
	in := workflow.Indicator{ID: "migrant_children_public_school_share", Unit: "share", Numerator: &public, Denominator: &eligible}
	base, target := s.set.IndicatorBaseline, s.set.IndicatorTarget
	in.Baseline, in.Target = &base, &target
	if eligible > 0 {
		in.Value = math.Round(float64(public)/float64(eligible)*10000) / 10000
	}
	return []workflow.Indicator{in}, nil
}
