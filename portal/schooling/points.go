package schooling

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// Score is a child's points as the result keeps them (result.score): the
// total and every part that made it, so that anyone can see why.
type Score struct {
	Total int    `json:"total"`
	Parts []Part `json:"parts"`
}

// Part is one item of a score: its points and what counted for them. Basis
// is data, not words — a number of months or years, or a code (own_in_catchment,
// true) — and the result panel says it in the reader's language
// (school-enrollment.basis.<item>); an amended appeal's part has the
// district's reason as its basis.
type Part struct {
	Item   string `json:"item"`
	Points int    `json:"points"`
	Basis  string `json:"basis"`
}

// PartAppeal is the item of the part an amended appeal adds: the
// difference between the corrected total and the one before.
const PartAppeal = "appeal"

// pointItem is one line of the points formula (settings, points:). A
// number source (insurance_months, permit_years) gives Weight points per
// whole Per of it; a choice source (housing, family_migrated) gives Weight
// when its answer is When — and, with Catchment, only when the child's
// street is in the catchment of one of the district's schools for that
// year and grade. Cap, when set, bounds the item's points.
type pointItem struct {
	Item      string `yaml:"item"`
	Source    string `yaml:"source"`
	Per       int    `yaml:"per"`
	When      string `yaml:"when"`
	Catchment bool   `yaml:"catchment"`
	Weight    int    `yaml:"weight"`
	Cap       *int   `yaml:"cap"`
	Clause    string `yaml:"clause"`
}

// Point sources: the numbers and the choices of the form an item may count,
// and the whole years of the guardian's residence permit.
const (
	sourceInsurance = "insurance_months"
	sourcePermit    = "permit_years"
	sourceHousing   = "housing"
	sourceFamily    = "family_migrated"
)

// numberSources count by Per; choiceSources count an answer, among these.
var (
	numberSources = []string{sourceInsurance, sourcePermit}
	choiceSources = map[string][]string{sourceHousing: housingOptions, sourceFamily: {"true", "false"}}
)

// Basis codes of an item counted in a catchment.
const (
	inCatchment      = "_in_catchment"
	outsideCatchment = "_outside_catchment"
)

// checkPoints refuses a formula the service could not apply.
func checkPoints(items []pointItem) []string {
	var problems []string
	bad := func(i int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("points[%d]: ", i)+fmt.Sprintf(format, args...))
	}
	if len(items) == 0 {
		problems = append(problems, "points: at least one item")
	}
	seen := map[string]bool{}
	for i, p := range items {
		switch {
		case !itemRE.MatchString(p.Item) || p.Item == PartAppeal:
			bad(i, "item %q: lower_snake_case, not %s", p.Item, PartAppeal)
		case seen[p.Item]:
			bad(i, "item %s is listed twice", p.Item)
		}
		seen[p.Item] = true
		if p.Clause == "" {
			bad(i, "%s needs the clause it comes from", p.Item)
		}
		if p.Weight < 0 || p.Cap != nil && *p.Cap < 0 {
			bad(i, "%s: weight and cap cannot be negative", p.Item)
		}
		options, choice := choiceSources[p.Source]
		switch {
		case slices.Contains(numberSources, p.Source):
			if p.Per <= 0 || p.When != "" || p.Catchment {
				bad(i, "%s counts the number %s: it needs per (> 0), and no when or catchment", p.Item, p.Source)
			}
		case choice:
			if p.Per != 0 || !slices.Contains(options, p.When) {
				bad(i, "%s counts the answer %s: it needs when (one of %v), and no per", p.Item, p.Source, options)
			}
		default:
			bad(i, "%s: source %q (known: %v and %v)", p.Item, p.Source, numberSources, []string{sourceHousing, sourceFamily})
		}
	}
	return problems
}

// facts are what points count beyond the form: the guardian's years of
// residence permit held in the portal, and whether the child's street is
// in the catchment of one of the district's schools for the year and
// grade.
type facts struct {
	PermitYears int
	InCatchment bool
}

// score applies the formula to a form: every item gives a part (zero
// points too, so that a family sees what did not count), whole numbers.
func (s *Service) score(f *application, fx facts) Score {
	sc := Score{Parts: make([]Part, 0, len(s.set.Points))}
	for _, p := range s.set.Points {
		var part Part
		switch p.Source {
		case sourceInsurance, sourcePermit:
			n := fx.PermitYears
			if p.Source == sourceInsurance {
				n = 0
				if f.InsuranceMonths != nil {
					n = *f.InsuranceMonths
				}
			}
			part = Part{Item: p.Item, Points: max(n, 0) / p.Per * p.Weight, Basis: strconv.Itoa(n)}
		default:
			answer := f.Housing
			if p.Source == sourceFamily {
				answer = strconv.FormatBool(f.FamilyMigrated != nil && *f.FamilyMigrated)
			}
			part = Part{Item: p.Item, Basis: answer}
			if answer == p.When {
				part.Points = p.Weight
				if p.Catchment {
					part.Basis = answer + inCatchment
					if !fx.InCatchment {
						part.Basis, part.Points = answer+outsideCatchment, 0
					}
				}
			}
		}
		if p.Cap != nil && part.Points > *p.Cap {
			part.Points = *p.Cap
		}
		sc.Total += part.Points
		sc.Parts = append(sc.Parts, part)
	}
	return sc
}

// Score works out a case's points in the firing's transaction: its form,
// the guardian's valid residence permit held in the portal, and the
// district's schools of the year (catchments).
func (s *Service) Score(ctx context.Context, f *workflow.Firing) (Score, error) {
	form, err := stored(f.Case)
	if err != nil {
		return Score{}, err
	}
	permit, err := s.validPermit(ctx, f)
	if err != nil {
		return Score{}, err
	}
	var schools []portal.School
	if form.district() != "" {
		if schools, err = f.Tx.Schools(ctx, form.district(), form.Year); err != nil {
			return Score{}, err
		}
	}
	return s.Points(f.Case.Form, permit, schools, f.Now.In(f.Cal.Zone))
}

// Points applies the formula of the settings to a stored form, given the
// guardian's valid residence permit in the portal (nil: none, 0 years; its
// whole years count from years_since, else valid_from, to today), the
// district's schools of the form's year (its catchments) and today, the
// city's date.
func (s *Service) Points(form json.RawMessage, permit *portal.Case, schools []portal.School, today time.Time) (Score, error) {
	var f application
	if err := json.Unmarshal(form, &f); err != nil {
		return Score{}, fmt.Errorf("schooling.Points: %w", err)
	}
	var fx facts
	if permit != nil {
		fx.PermitYears = permitYears(permit, today)
	}
	fx.InCatchment = slices.ContainsFunc(schools, func(sc portal.School) bool {
		return sc.Grade == f.Grade && sc.Year == f.Year && sc.Serves(f.Division)
	})
	return s.score(&f, fx), nil
}

// scoreAction is the action score: it writes result.score (verify, and
// again when the list is published: the permit's years grow meanwhile).
func (s *Service) scoreAction(ctx context.Context, f *workflow.Firing) error {
	sc, err := s.Score(ctx, f)
	if err != nil {
		return err
	}
	return workflow.SetResult(f.Case, map[string]any{"score": sc})
}

// permitYears is the whole years a residence permit has been held on day
// today: from the date its continuous years count from (years_since, which
// a late endorsement restarts), else its valid_from.
func permitYears(permit *portal.Case, today time.Time) int {
	from := resultText(permit.Result, "years_since")
	if from == "" {
		from = resultText(permit.Result, "valid_from")
	}
	since, err := time.ParseInLocation(time.DateOnly, from, today.Location())
	if err != nil {
		return 0
	}
	return workflow.MonthsBetween(since, today) / 12
}

// resultText is a text of a case's result ("" when it has none).
func resultText(result json.RawMessage, key string) string {
	var m map[string]any
	_ = json.Unmarshal(result, &m)
	s, _ := m[key].(string)
	return s
}

// Result is what a case's result holds of this service's own: the score,
// and the school once the allocation or a district officer placed the
// child (School is "" while none is: the allocation writes null then),
// and the placement notice's number once the school confirmed.
type Result struct {
	Score        *Score `json:"score,omitempty"`
	School       string `json:"school,omitempty"`
	SchoolName   string `json:"school_name,omitempty"`
	PlacedByHand bool   `json:"placed_by_hand,omitempty"`
	PlacementNo  string `json:"placement_no,omitempty"`
}

// ReadResult reads a case's result: its score, school and placement.
func ReadResult(c *portal.Case) (*Result, error) {
	var r Result
	if len(c.Result) == 0 {
		return &r, nil
	}
	if err := json.Unmarshal(c.Result, &r); err != nil {
		return nil, fmt.Errorf("schooling: result of %s: %w", c.No, err)
	}
	return &r, nil
}
