package housing

import (
	"context"
	"math"
	"slices"
	"strconv"
	"time"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// The plan's indicator (《泰州市“十四五”新型城镇化规划》, Table 1): urban
// permanent residents covered by housing security, 28.3 % in 2020 and 29 %
// by 2025. Here: the households housed through this service (leased, or
// bought a share) by the end of a year, by kind and district, over the
// district's urban permanent residents' households (settings, the
// statistics bureau's figures).

// CoverageRow is the indicator of one district (or of the city) and year.
type CoverageRow struct {
	District     string         `json:"district"`
	DistrictName string         `json:"district_name"`
	Year         int            `json:"year"`
	ByKind       map[string]int `json:"by_kind"` // households covered by the end of the year, by kind
	Covered      int            `json:"covered"`
	New          int            `json:"new"`        // of them, housed during the year
	Households   int            `json:"households"` // urban permanent residents' households (the denominator)
	Share        float64        `json:"share"`      // covered ÷ households
	Baseline     float64        `json:"baseline"`
	Target       float64        `json:"target"`
}

// cityCode is the whole city's row of the indicator.
const cityCode = "321200"

// Coverage computes the indicator for a year, of one district of the
// settings' denominators, or of each and the whole city ("").
func (s *Service) Coverage(ctx context.Context, e *workflow.Engine, district string, year int) ([]CoverageRow, error) {
	set := s.set.Indicator
	var districts []string
	for d := range set.Households {
		districts = append(districts, d)
	}
	slices.Sort(districts)
	if district != "" {
		if _, ok := set.Households[district]; !ok {
			return nil, &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Labels: ServiceID + ".indicator",
				Fields: []portal.FieldError{{Field: "district", Rule: "district"}}}
		}
		districts = []string{district}
	}
	divs := e.Authz.Divisions()
	name := func(code string) string {
		if d, ok := divs.Get(code); ok {
			return d.Name
		}
		return code
	}
	city := CoverageRow{District: cityCode, DistrictName: name(cityCode), Year: year, ByKind: map[string]int{}, Baseline: set.Baseline, Target: set.Target}
	out := []CoverageRow{}
	for _, d := range districts {
		row := CoverageRow{District: d, DistrictName: name(d), Year: year, ByKind: map[string]int{}, Households: set.Households[d],
			Baseline: set.Baseline, Target: set.Target}
		for _, k := range kindOptions {
			row.ByKind[k] = 0
		}
		var after int64
		for {
			page, err := e.Store.CasesInState(ctx, ServiceID, d, stateLeased, after, casesPage)
			if err != nil {
				return nil, err
			}
			for i := range page {
				c := &page[i]
				on, err := time.Parse(time.DateOnly, resultText(c.Result, "leased_on"))
				if err != nil || on.Year() > year {
					continue
				}
				f, err := stored(c)
				if err != nil {
					return nil, err
				}
				row.ByKind[f.Kind]++
				row.Covered++
				if on.Year() == year {
					row.New++
				}
			}
			if len(page) < casesPage {
				break
			}
			after = page[len(page)-1].ID
		}
		row.Share = share(row.Covered, row.Households)
		out = append(out, row)
		for k, n := range row.ByKind {
			city.ByKind[k] += n
		}
		city.Covered, city.New, city.Households = city.Covered+row.Covered, city.New+row.New, city.Households+row.Households
	}
	if district == "" {
		city.Share = share(city.Covered, city.Households)
		out = append(out, city)
	}
	return out, nil
}

// share is covered ÷ households to four decimals, 0 without households.
func share(covered, households int) float64 {
	if households <= 0 {
		return 0
	}
	return math.Round(float64(covered)/float64(households)*10000) / 10000
}

// coverageQuery reads ?district=&year= (both optional: every district, this
// year).
func coverageQuery(e *workflow.Engine, r workflow.Request) (string, int, error) {
	district, year := r.Query("district"), e.Now().In(e.Calendar.Zone).Year()
	var bad []portal.FieldError
	if district != "" && !districtRE.MatchString(district) {
		bad = append(bad, portal.FieldError{Field: "district", Rule: "district"})
	}
	if y := r.Query("year"); y != "" {
		n, err := strconv.Atoi(y)
		if err != nil || n < 2000 || n > 2100 {
			bad = append(bad, portal.FieldError{Field: "year", Rule: "year"})
		}
		year = n
	}
	if len(bad) > 0 {
		return "", 0, &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Fields: bad, Labels: ServiceID + ".indicator"}
	}
	return district, year, nil
}

// Indicators is the plan's indicator for the city (workflow.IndicatorSource):
// the households covered by housing security over the urban permanent
// residents' households (the settings' denominators).
func (s *Service) Indicators(ctx context.Context, e *workflow.Engine, year int, _ time.Time) ([]workflow.Indicator, error) {
	rows, err := s.Coverage(ctx, e, "", year)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	city := rows[len(rows)-1]
	set := s.set.Indicator
	in := workflow.Indicator{ID: "housing_security_coverage", Unit: "share", Value: city.Share, Baseline: &set.Baseline, Target: &set.Target,
		Numerator: &city.Covered, Denominator: &city.Households, By: city.ByKind, ByKey: fieldKind}
	return []workflow.Indicator{in}, nil
}
