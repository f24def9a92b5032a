package server

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal/workflow"
)

// The plan's indicators (《泰州市“十四五”新型城镇化规划》表1), live from the
// cases (workflow.Engine.Indicators): public, as the plan's monitoring is,
// in the reader's language, each with its definition.

// indicators computes the indicators of the year asked (?year=, this year by
// default) with their texts.
func (s *Server) indicators(c *fiber.Ctx) (int, []workflow.Indicator, error) {
	year := s.Now().In(s.Zone).Year()
	if q := c.Query("year"); q != "" {
		y, err := strconv.Atoi(q)
		if err != nil {
			y = -1 // refused below, next to the field
		}
		year = y
	}
	items, err := s.Engine.Indicators(ctx(c), year)
	if err != nil {
		return year, nil, err
	}
	l := loc(c)
	for i := range items {
		k := items[i].Service + ".indicator." + items[i].ID + "."
		items[i].Name, items[i].Definition, items[i].Source = l.T(k+"name"), l.T(k+"definition"), l.T(k+"source")
	}
	return year, items, nil
}

// apiIndicators is GET /api/v1/indicators?year=.
func (s *Server) apiIndicators(c *fiber.Ctx) error {
	_, items, err := s.indicators(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": items})
}

// indicatorsDoc is the indicators page.
type indicatorsDoc struct {
	Year, ThisYear int
	Years          []int
	Items          []indicatorView
}

// indicatorView is an indicator as the page shows it: its figures written
// out (a share as a percentage, a count with separators), and how far the
// value is towards the target (0–100, for the bar).
type indicatorView struct {
	workflow.Indicator
	ValueText, BaselineText, TargetText string
	Reached                             int
	Breakdown                           []indicatorPart
}

type indicatorPart struct {
	Key string
	N   int
}

// figure writes v in the unit's way.
func figure(unit string, v float64) string {
	if unit == "share" {
		return strconv.FormatFloat(v*100, 'f', 1, 64) + "%"
	}
	return groupDigits(int64(v))
}

// groupDigits writes n with a comma every three digits.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func viewOf(in workflow.Indicator) indicatorView {
	v := indicatorView{Indicator: in, ValueText: figure(in.Unit, in.Value)}
	if in.Baseline != nil {
		v.BaselineText = figure(in.Unit, *in.Baseline)
	}
	if in.Target != nil {
		v.TargetText = figure(in.Unit, *in.Target)
		if *in.Target > 0 {
			v.Reached = min(100, int(in.Value / *in.Target * 100))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(in.By)) {
		v.Breakdown = append(v.Breakdown, indicatorPart{Key: k, N: in.By[k]})
	}
	return v
}

// indicatorsPage is GET /indicators?year=.
func (s *Server) indicatorsPage(c *fiber.Ctx) error {
	year, items, err := s.indicators(c)
	if err != nil {
		return err
	}
	now := s.Now().In(s.Zone).Year()
	d := &indicatorsDoc{Year: year, ThisYear: now}
	for _, in := range items {
		d.Items = append(d.Items, viewOf(in))
	}
	for y := now; y >= max(2021, now-5); y-- {
		d.Years = append(d.Years, y)
	}
	p := s.newPage(c, "indicators.title", d)
	return s.render(c, "indicators", p)
}
