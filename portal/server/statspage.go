package server

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/locale"
	"tzportal/portal/workflow"
)

// The dashboard's pages: /oversight/stats (the overview: charts, each with
// its table) and /oversight/stats/staff (decisions per person, reveals).

// bar is one bar of a chart: its label, its length (0..100, of the
// chart's width) and the value written beside it.
type bar struct {
	Label string
	Width float64
	Text  string
	Mark  bool // drawn in the accent (an outlier, a late step)
}

// chartDoc is a horizontal bar chart drawn as SVG on the server.
type chartDoc struct {
	ID, Title, Summary string
	Bars               []bar
}

// SVG draws the chart: per bar two lines, its label (left) and its value
// (right), then the bar, the longest the whole width of a 320-unit view
// box that scales to the column. Written in Go rather than the page's
// template: a chart is a few hundred numbers, which the template would
// compute one reflective call at a time.
func (c chartDoc) SVG() template.HTML {
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg viewBox="0 0 320 %d" role="img" aria-labelledby="%s-t %s-d" focusable="false"><title id="%s-t">%s</title><desc id="%s-d">%s</desc>`,
		len(c.Bars)*36+8, c.ID, c.ID, c.ID, esc(c.Title), c.ID, esc(c.Summary))
	for i, bb := range c.Bars {
		class := "chart-bar"
		if bb.Mark {
			class += " chart-bar-mark"
		}
		fmt.Fprintf(&b, `<text x="0" y="%d" class="chart-label">%s</text><text x="320" y="%d" text-anchor="end" class="chart-value">%s</text><rect x="0" y="%d" width="%g" height="12" class="%s"></rect>`,
			i*36+14, esc(bb.Label), i*36+14, esc(bb.Text), i*36+20, math.Round(bb.Width*32)/10, class)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// series are a chart's bars before they are scaled: a label, a value and
// the value as written.
type series struct {
	labels, texts []string
	values        []float64
}

func (s *series) add(label string, v float64, text string) {
	s.labels, s.values, s.texts = append(s.labels, label), append(s.values, v), append(s.texts, text)
}

// chart scales a series to its longest bar (at least max: a chart of
// rates says 1).
func chart(l *locale.L, name string, s series, max float64) chartDoc {
	ch := chartDoc{ID: "chart-" + strings.ReplaceAll(name, "_", "-"), Title: l.T("stats.chart_" + name), Summary: l.T("stats.chart_" + name + "_summary")}
	for _, v := range s.values {
		if v > max {
			max = v
		}
	}
	for i, v := range s.values {
		w := 0.0
		if max > 0 {
			w = math.Round(v/max*1000) / 10
		}
		ch.Bars = append(ch.Bars, bar{Label: s.labels[i], Width: w, Text: s.texts[i]})
	}
	return ch
}

// statsPageDoc is the dashboard page.
type statsPageDoc struct {
	Q         workflow.StatsQuery
	Services  []choiceDoc
	Divisions []choiceDoc
	Overview  *overviewDoc
	Clerks    *clerksDoc
	Reveals   []revealDoc
	Charts    map[string]chartDoc
	Tables    map[string]template.HTML // each chart's table, and the staff page's
	CSV       map[string]string
	Query     string // the filter as a query string, for the JSON link
	// Staff: the page of clerks and reveals (/oversight/stats/staff), not
	// the overview.
	Staff bool
}

// statsPage is GET /oversight/stats?division=&service=&from=&to=.
func (s *Server) statsPage(c *fiber.Ctx) error {
	u := currentUser(c)
	if !s.mayReadStats(u) {
		return portal.NotFound(nil)
	}
	l := loc(c)
	q := readStatsQuery(c)
	d := &statsPageDoc{Q: q, CSV: map[string]string{}, Charts: map[string]chartDoc{}}
	for _, id := range s.Engine.Services() {
		d.Services = append(d.Services, choiceDoc{Value: id, Label: serviceName(l, id)})
	}
	d.Divisions = s.statsDivisions(u, q.Division)
	ov, err := s.overviewDoc(c, q)
	if err != nil {
		if portal.ErrorCode(err) != portal.EINVALID {
			return err
		}
		p := s.newPage(c, "stats.title", d)
		p.Errors, p.Summary = fieldMessages(c, err)
		return s.write(c, fiber.StatusUnprocessableEntity, "stats", p)
	}
	d.Overview = ov
	// The form shows the range shown (this year, when none was asked).
	d.Q.From, d.Q.To = ov.From, ov.To
	s.statsLinks(d)
	s.statsCharts(l, d)
	d.Tables = map[string]template.HTML{}
	for name, t := range s.overviewTables(l, ov) {
		d.Tables[name] = t.HTML(l.T("stats.table_" + name))
	}
	return s.render(c, "stats", s.newPage(c, "stats.title", d))
}

// statsLinks fills the page's links: each table's CSV, the JSON, the
// other page of the dashboard, all with the filter.
func (s *Server) statsLinks(d *statsPageDoc) {
	v := statsValues(d.Q)
	if d.Overview != nil {
		for i := range d.Overview.Divisions {
			dv := &d.Overview.Divisions[i]
			if dv.Division == d.Q.Division {
				continue
			}
			w := statsValues(d.Q)
			w.Set("division", dv.Division)
			dv.Href = "/oversight/stats?" + w.Encode()
		}
	}
	d.Query = v.Encode()
	for _, r := range statsReports {
		d.CSV[r] = "/api/v1/stats/" + r + ".csv"
		if d.Query != "" {
			d.CSV[r] += "?" + d.Query
		}
	}
}

// statsStaffPage is GET /oversight/stats/staff (the same filter): each
// clerk's decisions with the outliers, and the reveals of ID numbers on
// cases the person revealing them did not work on.
func (s *Server) statsStaffPage(c *fiber.Ctx) error {
	u := currentUser(c)
	if !s.mayReadStats(u) {
		return portal.NotFound(nil)
	}
	l := loc(c)
	d := &statsPageDoc{Q: readStatsQuery(c), CSV: map[string]string{}, Staff: true}
	for _, id := range s.Engine.Services() {
		d.Services = append(d.Services, choiceDoc{Value: id, Label: serviceName(l, id)})
	}
	d.Divisions = s.statsDivisions(u, d.Q.Division)
	var err error
	if d.Clerks, err = s.clerksDoc(c, d.Q); err == nil {
		d.Reveals, err = s.revealDocs(c, d.Q)
	}
	if err != nil {
		if portal.ErrorCode(err) != portal.EINVALID {
			return err
		}
		p := s.newPage(c, "stats.staff_title", d)
		p.Errors, p.Summary = fieldMessages(c, err)
		return s.write(c, fiber.StatusUnprocessableEntity, "stats", p)
	}
	d.Q.From, d.Q.To = d.Clerks.From, d.Clerks.To
	s.statsLinks(d)
	d.Tables = map[string]template.HTML{
		"clerks":  clerksTable(l, d.Clerks).HTML(l.T("stats.clerks")),
		"reveals": revealsTable(l, d.Reveals).HTML(l.T("stats.reveals")),
	}
	return s.render(c, "stats", s.newPage(c, "stats.staff_title", d))
}

// statsCharts draws the page's charts from its figures.
func (s *Server) statsCharts(l *locale.L, d *statsPageDoc) {
	o := d.Overview
	var months, services, states, divisions, steps, onTime series
	for _, m := range o.Months {
		months.add(m.Month, float64(m.HandedIn), l.T("stats.bar_handed_in", map[string]any{"N": m.HandedIn, "Done": m.Completed}))
	}
	volume := func(n int64, rate *float64) string {
		return l.T("stats.bar_service", map[string]any{"N": n, "Rate": orDash(pct(rate))})
	}
	for _, f := range o.Services {
		services.add(f.Name, float64(f.HandedIn), volume(f.HandedIn, f.CompletionRate))
	}
	for _, f := range o.States {
		states.add(f.ServiceName+" · "+f.Label, float64(f.Cases), n64(f.Cases))
	}
	for _, f := range o.Divisions {
		divisions.add(f.Name, float64(f.HandedIn), volume(f.HandedIn, f.CompletionRate))
	}
	for _, f := range o.Steps {
		if f.MedianDays != nil {
			steps.add(f.ServiceName+" · "+f.Label, float64(*f.MedianDays),
				l.T("stats.bar_days", map[string]any{"Median": *f.MedianDays, "P90": intText(f.P90Days)}))
		}
		if f.OnTimeRate != nil {
			onTime.add(f.ServiceName+" · "+f.Label, *f.OnTimeRate, pct(f.OnTimeRate))
		}
	}
	d.Charts["months"] = chart(l, "months", months, 0)
	d.Charts["services"] = chart(l, "services", services, 0)
	d.Charts["states"] = chart(l, "states", states, 0)
	d.Charts["divisions"] = chart(l, "divisions", divisions, 0)
	d.Charts["steps"] = chart(l, "steps", steps, 0)
	ch := chart(l, "on_time", onTime, 1)
	for i := range ch.Bars {
		ch.Bars[i].Mark = onTime.values[i] < 0.9
	}
	d.Charts["on_time"] = ch
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// statsDivisions are the areas the filter offers: the reader's own and
// one level below (the city's districts, a district's streets), and below
// the one chosen, so that a city's supervisor drills down a district at a
// time instead of scrolling a hundred streets.
func (s *Server) statsDivisions(u *portal.User, chosen string) []choiceDoc {
	divs := s.Authz.Divisions()
	scope := s.Authz.Scope(u, "stats", "read")
	var codes []string
	add := func(code string, kids bool) {
		if code != divs.Root && !slices.Contains(codes, code) {
			codes = append(codes, code)
		}
		if kids {
			for _, k := range divs.Children(code) {
				if !slices.Contains(codes, k) {
					codes = append(codes, k)
				}
			}
		}
	}
	reach := func(code string) bool {
		return scope.AllScope || slices.ContainsFunc(scope.Scope, func(t portal.ScopeTerm) bool {
			return divs.Covers(t.Division+t.District, code)
		})
	}
	if scope.AllScope {
		add(divs.Root, true)
	}
	for _, t := range scope.Scope {
		add(t.Division+t.District, true)
	}
	if d, ok := divs.Get(chosen); ok && reach(chosen) {
		add(d.Parent, d.Parent != divs.Root && reach(d.Parent))
		add(chosen, true)
	}
	out := make([]choiceDoc, 0, len(codes))
	for _, code := range codes {
		out = append(out, choiceDoc{Value: code, Label: s.divisionName(code)})
	}
	return out
}
