package server

import (
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// Deadlines that escalate (workflow/deadline.go): the overdue and due-soon
// cases and the aging bands per office, within the reader's reach (policy
// "deadlines, read": a clerk their street, an officer their district, a
// supervisor their subtree). Anyone else finds no such page (404).

// agingDoc is GET /api/v1/stats/aging and the page's table.
type agingDoc struct {
	AsOf            time.Time     `json:"as_of"`
	SoonWorkingDays int           `json:"soon_working_days"`
	LateWorkingDays int           `json:"late_working_days"`
	Service         string        `json:"service,omitempty"`
	Items           []agingOffice `json:"items"`
	Total           agingCounts   `json:"total"`
}

// agingCounts are open cases with a staff deadline by band.
type agingCounts struct {
	OnTime  int `json:"on_time"`
	Late    int `json:"late"`
	Delayed int `json:"delayed"`
	Open    int `json:"open"`
}

// agingOffice is one office's (division's) counts.
type agingOffice struct {
	Division string `json:"division"`
	Name     string `json:"name,omitempty"`
	agingCounts
}

// aging reads the bands of the reader's reach (?service= narrows them).
func (s *Server) aging(c *fiber.Ctx) (*agingDoc, error) {
	service := c.Query("service")
	rows, err := s.Engine.Aging(ctx(c), actor(c), service)
	if err != nil {
		return nil, err
	}
	pol := s.Engine.Deadline
	d := &agingDoc{AsOf: s.Now().UTC(), SoonWorkingDays: pol.SoonWorkingDays, LateWorkingDays: pol.LateWorkingDays,
		Service: service, Items: []agingOffice{}}
	divs := s.Authz.Divisions()
	for _, r := range rows {
		o := agingOffice{Division: r.Division, agingCounts: agingCounts{OnTime: r.OnTime, Late: r.Late, Delayed: r.Delayed,
			Open: r.OnTime + r.Late + r.Delayed}}
		if dv, ok := divs.Get(r.Division); ok {
			o.Name = districtAndName(divs, dv)
		}
		d.Items = append(d.Items, o)
		d.Total.OnTime += r.OnTime
		d.Total.Late += r.Late
		d.Total.Delayed += r.Delayed
		d.Total.Open += o.Open
	}
	return d, nil
}

// apiAging is GET /api/v1/stats/aging?service=.
func (s *Server) apiAging(c *fiber.Ctx) error {
	d, err := s.aging(c)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

// deadlinesDoc is the deadlines page.
type deadlinesDoc struct {
	Aging    *agingDoc
	Due      string // workflow.DueOverdue or workflow.DueSoon: the list shown
	Service  string
	Services []choiceDoc
	Labels   columnLabels
	Items    []caseSummary
	Rows     template.HTML // caseRows of Items
	More     string        // query of the next page
	SoonDays int
}

// afterKey is the keyset of the deadline lists: "<due, Unix µs>-<id>".
func afterKey(c portal.Case) string {
	return strconv.FormatInt(c.DueAt.UnixMicro(), 10) + "-" + strconv.FormatInt(c.ID, 10)
}

func parseAfterKey(q string) (time.Time, int64) {
	at, id, ok := strings.Cut(q, "-")
	us, err1 := strconv.ParseInt(at, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return time.Time{}, 0
	}
	return time.UnixMicro(us), n
}

// deadlinesPage is GET /oversight/deadlines?due=overdue|soon&service=&after=.
func (s *Server) deadlinesPage(c *fiber.Ctx) error {
	d := &deadlinesDoc{Due: c.Query("due", workflow.DueOverdue), Service: c.Query("service"),
		SoonDays: s.Engine.Deadline.SoonWorkingDays}
	if d.Due != workflow.DueSoon {
		d.Due = workflow.DueOverdue
	}
	aging, err := s.aging(c)
	if err != nil {
		return err
	}
	d.Aging = aging
	q := workflow.DeadlineQuery{Due: d.Due, Service: d.Service}
	q.AfterDue, q.AfterID = parseAfterKey(c.Query("after"))
	cases, more, err := s.Engine.Deadlines(ctx(c), actor(c), q)
	if err != nil {
		return err
	}
	l := loc(c)
	d.Labels = newColumnLabels(l)
	d.Items = s.summaries(l, cases, true, currentUser(c))
	d.Rows = caseRows(d.Items, d.Labels, true)
	if more && len(cases) > 0 {
		args := c.Request().URI().QueryArgs()
		args.Set("due", d.Due)
		args.Set("after", afterKey(cases[len(cases)-1]))
		d.More = "/oversight/deadlines?" + string(args.QueryString())
	}
	for _, id := range s.Engine.Services() {
		d.Services = append(d.Services, choiceDoc{Value: id, Label: serviceName(l, id)})
	}
	return s.render(c, "deadlines", s.newPage(c, "deadlines.title", d))
}

// mayReadDeadlines reports whether u has any reach over the deadline views
// (the navigation offers the page only then).
func (s *Server) mayReadDeadlines(u *portal.User) bool {
	for _, g := range u.Grants {
		if _, ok := s.Authz.Can(u, g.Division, "deadlines", "read"); ok {
			return true
		}
	}
	return false
}
