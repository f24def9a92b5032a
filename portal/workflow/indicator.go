package workflow

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"tzportal/portal"
)

// The plan's indicators (《泰州市“十四五”新型城镇化规划》表1), live from the
// cases: a service counts the cases that reached a final state (its
// workflow file's indicators:), or computes a share of its own
// (IndicatorSource). Their names, definitions and sources are texts
// (<service>.indicator.<id>.name|definition|source).

// Indicator is one indicator for a year, as of a day.
type Indicator struct {
	ID         string   `json:"id"`
	Service    string   `json:"service"`
	Name       string   `json:"name"`
	Definition string   `json:"definition"`
	Baseline   *float64 `json:"baseline"` // nil: the plan sets none
	Target     *float64 `json:"target"`
	Value      float64  `json:"value"`
	Unit       string   `json:"unit"` // share (0–1), permits, people…
	AsOf       string   `json:"as_of"`
	Source     string   `json:"source"`
	// InYear is what the year alone added, for a cumulative count.
	InYear *int `json:"in_year,omitempty"`
	// By breaks a count down (hukou settlements by basis).
	By map[string]int `json:"by,omitempty"`
	// ByKey is the form key By is by (basis, kind).
	ByKey string `json:"by_key,omitempty"`
	// Numerator and Denominator of a share.
	Numerator   *int `json:"numerator,omitempty"`
	Denominator *int `json:"denominator,omitempty"`
}

// IndicatorSource is a service that computes indicators of its own for a
// year, as of asOf (the year's last moment, or now if sooner).
type IndicatorSource interface {
	Indicators(ctx context.Context, e *Engine, year int, asOf time.Time) ([]Indicator, error)
}

// Indicators computes every service's indicators for year (from 2000 to
// the current year), as of now or the year's end.
func (e *Engine) Indicators(ctx context.Context, year int) ([]Indicator, error) {
	now := e.Now()
	zone := e.Calendar.Zone
	if year < 2000 || year > now.In(zone).Year() {
		return nil, &portal.Error{Code: portal.EINVALID, Message: "error.invalid",
			Fields: []portal.FieldError{{Field: "year", Rule: "year"}}, Err: fmt.Errorf("workflow.Indicators: year %d", year)}
	}
	start, end := time.Date(year, 1, 1, 0, 0, 0, 0, zone), time.Date(year+1, 1, 1, 0, 0, 0, 0, zone)
	asOf := end
	if now.Before(end) {
		asOf = now
	}
	day := asOf.Add(-time.Nanosecond).In(zone).Format(time.DateOnly)
	out := []Indicator{}
	defs := e.Definitions()
	for _, id := range slices.Sorted(maps.Keys(defs)) {
		d := defs[id]
		for _, spec := range d.Indicators {
			in := Indicator{ID: spec.ID, Service: d.Service, Baseline: spec.Baseline, Target: spec.Target, Unit: spec.Unit, AsOf: day}
			year, err := e.Store.CountReached(ctx, d.Service, spec.State, start, asOf, spec.By)
			if err != nil {
				return nil, err
			}
			n := total(year)
			in.Value = float64(n)
			if spec.Cumulative {
				all, err := e.Store.CountReached(ctx, d.Service, spec.State, time.Time{}, asOf, spec.By)
				if err != nil {
					return nil, err
				}
				in.Value, in.InYear = float64(total(all)), &n
			}
			if spec.By != "" {
				in.By, in.ByKey = year, spec.By
			}
			out = append(out, in)
		}
		if src, ok := e.entry(d.Service).Service.(IndicatorSource); ok {
			more, err := src.Indicators(ctx, e, year, asOf)
			if err != nil {
				return nil, err
			}
			for i := range more {
				more[i].Service, more[i].AsOf = d.Service, day
			}
			out = append(out, more...)
		}
	}
	return out, nil
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
