package server

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html"
	"html/template"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/locale"
	"tzportal/portal/workflow"
)

// Dashboards (README "Dashboards"): the page /oversight/stats, its JSON
// (GET /api/v1/stats/overview, /clerks, /reveals) and each table as CSV
// (GET /api/v1/stats/{report}.csv), within the reader's reach (policy
// "stats, read"). Figures come from the rollups (workflow/stats.go).

// statsReports are the tables that export as CSV.
var statsReports = []string{"services", "months", "states", "divisions", "steps", "clerks", "reveals"}

func readStatsQuery(c *fiber.Ctx) workflow.StatsQuery {
	return workflow.StatsQuery{Division: strings.TrimSpace(c.Query("division")), Service: c.Query("service"),
		From: strings.TrimSpace(c.Query("from")), To: strings.TrimSpace(c.Query("to"))}
}

func statsValues(q workflow.StatsQuery) url.Values {
	v := url.Values{}
	for k, x := range map[string]string{"division": q.Division, "service": q.Service, "from": q.From, "to": q.To} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v
}

// mayReadStats reports whether u reads any figures (the navigation offers
// the page only then).
func (s *Server) mayReadStats(u *portal.User) bool {
	if u == nil || u.Kind != portal.KindStaff {
		return false
	}
	f := s.Authz.Scope(u, "stats", "read")
	return f.AllScope || len(f.Scope) > 0
}

// Figures with their names, as the API gives them.
type (
	serviceStatsDoc struct {
		workflow.ServiceFigures
		Name string `json:"service_name"`
	}
	stateStatsDoc struct {
		workflow.StateFigures
		ServiceName string `json:"service_name"`
		Label       string `json:"state_label"`
	}
	divisionStatsDoc struct {
		workflow.DivisionFigures
		Name string `json:"division_name"`
		Href string `json:"-"` // the overview of that area (the page's drill-down)
	}
	stepStatsDoc struct {
		workflow.StepFigures
		ServiceName string `json:"service_name"`
		Label       string `json:"step_label"`
	}
	clerkStatsDoc struct {
		workflow.ClerkFigures
		ServiceName string `json:"service_name"`
		Label       string `json:"step_label"`
	}
	revealDoc struct {
		Name        string `json:"name"`
		Role        string `json:"role"`
		RoleLabel   string `json:"role_label"`
		Office      string `json:"office"`
		OfficeName  string `json:"office_name"`
		CaseNo      string `json:"case_no"`
		Service     string `json:"service"`
		ServiceName string `json:"service_name"`
		Day         string `json:"day"`
		Reveals     int    `json:"reveals"`
	}
)

// overviewDoc is GET /api/v1/stats/overview.
type overviewDoc struct {
	*workflow.Overview
	DivisionName string             `json:"division_name,omitempty"`
	Services     []serviceStatsDoc  `json:"services"`
	States       []stateStatsDoc    `json:"states"`
	Divisions    []divisionStatsDoc `json:"divisions"`
	Steps        []stepStatsDoc     `json:"steps"`
}

func (s *Server) divisionName(code string) string {
	divs := s.Authz.Divisions()
	if d, ok := divs.Get(code); ok {
		return districtAndName(divs, d)
	}
	return code
}

func (s *Server) overviewDoc(c *fiber.Ctx, q workflow.StatsQuery) (*overviewDoc, error) {
	o, err := s.Engine.Overview(ctx(c), actor(c), q)
	if err != nil {
		return nil, err
	}
	l := loc(c)
	d := &overviewDoc{Overview: o, Services: []serviceStatsDoc{}, States: []stateStatsDoc{}, Divisions: []divisionStatsDoc{},
		Steps: []stepStatsDoc{}}
	if q.Division != "" {
		d.DivisionName = s.divisionName(q.Division)
	}
	for _, f := range o.Services {
		d.Services = append(d.Services, serviceStatsDoc{ServiceFigures: f, Name: serviceName(l, f.Service)})
	}
	for _, f := range o.States {
		d.States = append(d.States, stateStatsDoc{StateFigures: f, ServiceName: serviceName(l, f.Service), Label: stateLabel(l, f.Service, f.State)})
	}
	for _, f := range o.Divisions {
		d.Divisions = append(d.Divisions, divisionStatsDoc{DivisionFigures: f, Name: s.divisionName(f.Division)})
	}
	for _, f := range o.Steps {
		d.Steps = append(d.Steps, stepStatsDoc{StepFigures: f, ServiceName: serviceName(l, f.Service), Label: stateLabel(l, f.Service, f.Step)})
	}
	return d, nil
}

// clerksDoc is GET /api/v1/stats/clerks.
type clerksDoc struct {
	*workflow.ClerkReport
	Items []clerkStatsDoc `json:"items"`
}

func (s *Server) clerksDoc(c *fiber.Ctx, q workflow.StatsQuery) (*clerksDoc, error) {
	r, err := s.Engine.Clerks(ctx(c), actor(c), q)
	if err != nil {
		return nil, err
	}
	l := loc(c)
	d := &clerksDoc{ClerkReport: r, Items: []clerkStatsDoc{}}
	for _, f := range r.Items {
		d.Items = append(d.Items, clerkStatsDoc{ClerkFigures: f, ServiceName: serviceName(l, f.Service), Label: stateLabel(l, f.Service, f.Step)})
	}
	return d, nil
}

func (s *Server) revealDocs(c *fiber.Ctx, q workflow.StatsQuery) ([]revealDoc, error) {
	rows, err := s.Engine.Reveals(ctx(c), actor(c), q)
	if err != nil {
		return nil, err
	}
	l := loc(c)
	out := []revealDoc{}
	for _, r := range rows {
		out = append(out, revealDoc{Name: r.Name, Role: r.Role, RoleLabel: roleLabel(l, r.Role), Office: r.Office,
			OfficeName: s.divisionName(r.Office), CaseNo: r.CaseNo, Service: r.Service, ServiceName: serviceName(l, r.Service),
			Day: r.Day, Reveals: r.N})
	}
	return out, nil
}

// apiStatsOverview is GET /api/v1/stats/overview?division=&service=&from=&to=.
func (s *Server) apiStatsOverview(c *fiber.Ctx) error {
	d, err := s.overviewDoc(c, readStatsQuery(c))
	if err != nil {
		return err
	}
	return c.JSON(d)
}

// apiStatsClerks is GET /api/v1/stats/clerks (the same query).
func (s *Server) apiStatsClerks(c *fiber.Ctx) error {
	d, err := s.clerksDoc(c, readStatsQuery(c))
	if err != nil {
		return err
	}
	return c.JSON(d)
}

// apiStatsReveals is GET /api/v1/stats/reveals (the same query).
func (s *Server) apiStatsReveals(c *fiber.Ctx) error {
	d, err := s.revealDocs(c, readStatsQuery(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": d})
}

// pct is a rate as a percentage with one decimal ("" for none).
func pct(r *float64) string {
	if r == nil {
		return ""
	}
	return strconv.FormatFloat(math.Round(*r*1000)/10, 'f', 1, 64) + "%"
}

func intText(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}

func n64(n int64) string { return strconv.FormatInt(n, 10) }

// statsTable is one table of the dashboard: its head (localized), its
// rows of cells; the same table is the page's (HTML) and the CSV.
type statsTable struct {
	Head []string
	Rows [][]statsCell
	Flag []bool // rows marked (an outlier)
}

// statsCell is one cell: its text, a link (the first column's drill-down,
// a case), and whether it is a warning (an outlier's figure).
type statsCell struct {
	Text, Href string
	Warn       bool
}

func (t *statsTable) add(cells ...string) {
	row := make([]statsCell, len(cells))
	for i, c := range cells {
		row[i] = statsCell{Text: c}
	}
	t.Rows = append(t.Rows, row)
	t.Flag = append(t.Flag, false)
}

func newTable(l *locale.L, ids ...string) *statsTable {
	t := &statsTable{Head: make([]string, len(ids))}
	for i, id := range ids {
		t.Head[i] = l.T(id)
	}
	return t
}

// overviewTables are the overview's tables: services, months, states,
// divisions, steps.
func (s *Server) overviewTables(l *locale.L, d *overviewDoc) map[string]*statsTable {
	out := map[string]*statsTable{}
	t := newTable(l, "stats.col_service", "stats.col_handed_in", "stats.col_open", "stats.col_completed", "stats.col_completion_rate",
		"stats.col_granted", "stats.col_refused", "stats.col_withdrawn", "stats.col_decided", "stats.col_median_days", "stats.col_p90_days",
		"stats.col_on_time_rate")
	line := func(name string, f workflow.ServiceFigures) {
		t.add(name, n64(f.HandedIn), n64(f.Open), n64(f.Completed), pct(f.CompletionRate), n64(f.Granted), n64(f.Refused),
			n64(f.Withdrawn+f.Terminated), n64(f.Decided), intText(f.MedianDays), intText(f.P90Days), pct(f.OnTimeRate))
	}
	for _, f := range d.Services {
		line(f.Name, f.ServiceFigures)
	}
	line(l.T("stats.total"), d.Totals)
	out["services"] = t
	t = newTable(l, "stats.col_month", "stats.col_handed_in", "stats.col_completed", "stats.col_completion_rate")
	for _, f := range d.Months {
		t.add(f.Month, n64(f.HandedIn), n64(f.Completed), pct(f.CompletionRate))
	}
	out["months"] = t
	t = newTable(l, "stats.col_state", "stats.col_service", "stats.col_cases")
	for _, f := range d.States {
		t.add(f.Label, f.ServiceName, n64(f.Cases))
	}
	out["states"] = t
	t = newTable(l, "stats.col_division", "stats.col_handed_in", "stats.col_open", "stats.col_completed", "stats.col_completion_rate")
	for _, f := range d.Divisions {
		t.add(f.Name, n64(f.HandedIn), n64(f.Open), n64(f.Completed), pct(f.CompletionRate))
		t.Rows[len(t.Rows)-1][0].Href = f.Href
	}
	out["divisions"] = t
	t = newTable(l, "stats.col_step", "stats.col_service", "stats.col_decisions", "stats.col_approval_rate", "stats.col_median_days",
		"stats.col_p90_days", "stats.col_on_time_rate")
	for _, f := range d.Steps {
		t.add(f.Label, f.ServiceName, n64(f.Decisions), pct(f.ApprovalRate), intText(f.MedianDays), intText(f.P90Days), pct(f.OnTimeRate))
	}
	out["steps"] = t
	return out
}

// clerksTable is the staff figures' table of decisions per person.
func clerksTable(l *locale.L, d *clerksDoc) *statsTable {
	t := newTable(l, "stats.col_person", "stats.col_step", "stats.col_service", "stats.col_decisions", "stats.col_approval_rate",
		"stats.col_median_days", "stats.col_on_time_rate", "stats.col_outlier")
	for _, f := range d.Items {
		t.add(f.Name, f.Label, f.ServiceName, n64(f.Decisions), pct(f.ApprovalRate), intText(f.MedianDays), pct(f.OnTimeRate),
			outlierText(l, f.ClerkFigures))
		if f.Outlier {
			t.Flag[len(t.Flag)-1] = true
			t.Rows[len(t.Rows)-1][7].Warn = true
		}
	}
	return t
}

// revealsTable is the staff figures' table of reveals.
func revealsTable(l *locale.L, d []revealDoc) *statsTable {
	t := newTable(l, "stats.col_person", "stats.col_role", "stats.col_office", "stats.col_case", "stats.col_service", "stats.col_day",
		"stats.col_reveals")
	for _, r := range d {
		t.add(r.Name, r.RoleLabel, r.OfficeName, r.CaseNo, r.ServiceName, r.Day, strconv.Itoa(r.Reveals))
		t.Rows[len(t.Rows)-1][3].Href = "/cases/" + r.CaseNo
	}
	return t
}

// reportTable is one report for its CSV.
func (s *Server) reportTable(c *fiber.Ctx, report string, q workflow.StatsQuery) (*statsTable, error) {
	l := loc(c)
	switch report {
	case "clerks":
		d, err := s.clerksDoc(c, q)
		if err != nil {
			return nil, err
		}
		return clerksTable(l, d), nil
	case "reveals":
		d, err := s.revealDocs(c, q)
		if err != nil {
			return nil, err
		}
		return revealsTable(l, d), nil
	}
	d, err := s.overviewDoc(c, q)
	if err != nil {
		return nil, err
	}
	if t, ok := s.overviewTables(l, d)[report]; ok {
		return t, nil
	}
	return nil, portal.NotFound(fmt.Errorf("server: no report %q", report))
}

// HTML writes the table for the page, with a caption; on a phone each row
// becomes a card whose cells are labelled by their column. Written in Go,
// as the worklist's rows are (rows.go), rather than cell by cell in the
// template.
func (t *statsTable) HTML(caption string) template.HTML {
	var b strings.Builder
	esc := html.EscapeString
	// A table wider than its column scrolls sideways: the region takes the
	// keyboard's focus, so it can be scrolled without a mouse, and is
	// named by its caption.
	b.WriteString(`<div class="table-wrap" tabindex="0" role="region" aria-label="` + esc(caption) + `"><table><caption>` + esc(caption) +
		`</caption><thead><tr>`)
	for _, h := range t.Head {
		b.WriteString(`<th scope="col">` + esc(h) + `</th>`)
	}
	b.WriteString(`</tr></thead><tbody>`)
	for i, row := range t.Rows {
		if t.Flag[i] {
			b.WriteString(`<tr class="row-flag">`)
		} else {
			b.WriteString(`<tr>`)
		}
		for j, c := range row {
			text := esc(c.Text)
			if c.Href != "" {
				text = `<a href="` + esc(c.Href) + `">` + text + `</a>`
			}
			if c.Warn {
				text = `<strong class="tag tag-refused">` + text + `</strong>`
			}
			if j == 0 {
				b.WriteString(`<th scope="row">` + text + `</th>`)
			} else {
				b.WriteString(`<td data-label="` + esc(t.Head[j]) + `">` + text + `</td>`)
			}
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</tbody></table></div>`)
	return template.HTML(b.String())
}

// outlierText says which of a clerk's figures stand out: in line with the
// peers, too few to compare, or which figures.
func outlierText(l *locale.L, f workflow.ClerkFigures) string {
	switch {
	case !f.Compared:
		return l.T("stats.not_compared")
	case !f.Outlier:
		return l.T("stats.within_peers")
	}
	var parts []string
	for _, o := range f.OutlierFor {
		parts = append(parts, l.T("stats.outlier_"+o))
	}
	return strings.Join(parts, l.T("stats.list_sep"))
}

// apiStatsCSV is GET /api/v1/stats/{report}.csv: one table of the
// dashboard, UTF-8 with a byte-order mark for Excel, every cell kept from
// being read as a formula. The export is an audit entry (stats.export).
func (s *Server) apiStatsCSV(c *fiber.Ctx) error {
	report := c.Params("report")
	if !slices.Contains(statsReports, report) {
		return portal.NotFound(fmt.Errorf("server: no report %q", report))
	}
	q := readStatsQuery(c)
	t, err := s.reportTable(c, report, q)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString("\uFEFF")
	w := csv.NewWriter(&buf)
	_ = w.Write(t.Head)
	for _, r := range t.Rows {
		rec := make([]string, len(r))
		for i, c := range r {
			rec[i] = csvCell(c.Text)
		}
		_ = w.Write(rec)
	}
	w.Flush()
	ent := audit.Entry(actor(c), "stats.export", "stats:"+report, audit.ResultOK)
	ent.Division = s.Authz.Divisions().Root
	ent = audit.WithDetail(ent, map[string]any{"filter": statsValues(q), "rows": len(t.Rows)})
	if err := s.Engine.Audit.Record(ctx(c), s.Store, ent); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="stats-`+report+`-`+s.Now().In(s.Engine.Calendar.Zone).Format("20060102-150405")+`.csv"`)
	return c.Send(buf.Bytes())
}
