package server

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
)

// Re-review sampling (workflow/sampling.go): the cases the daily draw
// picked for a second look, within the supervisor's reach (policy review,
// write), each with a form for the finding; the findings counted per clerk
// who decided. Anyone else finds no such page (404).

// reviewPage is how many drawn cases a page lists.
const reviewPage = 50

// reviewItem is a drawn case as the page and the API show it.
type reviewItem struct {
	Sample     int64   `json:"sample"`
	Day        string  `json:"day"`
	CaseNo     string  `json:"case_no"`
	Service    string  `json:"service"`
	Division   string  `json:"division"`
	Decision   string  `json:"decision"`
	DecidedBy  string  `json:"decided_by"` // the clerk's name (staff read it: their colleagues' decisions)
	DecidedAt  string  `json:"decided_at"`
	Finding    string  `json:"finding"`
	Reason     string  `json:"reason,omitempty"`
	ReviewedAt *string `json:"reviewed_at,omitempty"`
	// For the page: labels in the reader's language.
	ServiceName   string `json:"-"`
	DivisionName  string `json:"-"`
	DecisionLabel string `json:"-"`
	Key           string `json:"-"` // the form's id: "<sample>-<case>"
}

// clerkItem is one clerk's findings.
type clerkItem struct {
	Clerk       string `json:"clerk"`
	Service     string `json:"service"`
	ServiceName string `json:"-"`
	Drawn       int    `json:"drawn"`
	Agree       int    `json:"agree"`
	Disagree    int    `json:"disagree"`
	Pending     int    `json:"pending"`
}

// reviewsDoc is the page's data and GET /api/v1/reviews.
type reviewsDoc struct {
	Pending bool         `json:"pending"`
	Items   []reviewItem `json:"items"`
	Clerks  []clerkItem  `json:"clerks"`
	Next    string       `json:"next,omitempty"` // the next page's query
	// The form that failed, what was typed and the share drawn (page only).
	Failed   string            `json:"-"`
	Typed    map[string]string `json:"-"`
	Done     string            `json:"-"` // the case whose finding was just recorded
	Share    string            `json:"-"`
	Reason   [2]int            `json:"-"`
	Findings []choiceDoc       `json:"-"`
}

// reviews reads the drawn cases of the reader's reach: ?all=1 lists the
// reviewed too, ?before=<sample>-<case> pages.
func (s *Server) reviews(c *fiber.Ctx) (*reviewsDoc, error) {
	a := actor(c)
	f := s.Engine.ReviewScope(a)
	if !f.AllScope && len(f.Scope) == 0 {
		return nil, portal.NotFound(nil)
	}
	l := loc(c)
	d := &reviewsDoc{Pending: c.Query("all") != "1", Items: []reviewItem{}, Clerks: []clerkItem{}, Done: c.Query("done")}
	f.Pending, f.Limit = d.Pending, reviewPage+1
	if sample, kase, ok := strings.Cut(c.Query("before"), "-"); ok {
		f.BeforeSample, _ = strconv.ParseInt(sample, 10, 64)
		f.BeforeCase, _ = strconv.ParseInt(kase, 10, 64)
	}
	cases, err := s.Store.SampleCases(ctx(c), f)
	if err != nil {
		return nil, err
	}
	if len(cases) > reviewPage {
		last := cases[reviewPage-1]
		cases = cases[:reviewPage]
		args := c.Request().URI().QueryArgs()
		args.Set("before", strconv.FormatInt(last.SampleID, 10)+"-"+strconv.FormatInt(last.CaseID, 10))
		d.Next = string(args.QueryString())
	}
	zone := s.Engine.Calendar.Zone
	divs := s.Authz.Divisions()
	for _, sc := range cases {
		it := reviewItem{Sample: sc.SampleID, Day: sc.Day, CaseNo: sc.CaseNo, Service: sc.Service, Division: sc.Division,
			Decision: sc.Event, DecidedBy: sc.DeciderName, DecidedAt: sc.DecidedAt.In(zone).Format("2006-01-02 15:04"),
			Finding: sc.Finding, Reason: sc.Reason, ServiceName: serviceName(l, sc.Service),
			DecisionLabel: eventLabel(l, sc.Service, sc.Event), Key: strconv.FormatInt(sc.SampleID, 10) + "-" + sc.CaseNo}
		if sc.ReviewedAt != nil {
			at := sc.ReviewedAt.In(zone).Format("2006-01-02 15:04")
			it.ReviewedAt = &at
		}
		if dv, ok := divs.Get(sc.Division); ok {
			it.DivisionName = districtAndName(divs, dv)
		}
		d.Items = append(d.Items, it)
	}
	f.Pending, f.BeforeSample, f.BeforeCase = false, 0, 0
	clerks, err := s.Store.ClerkFindings(ctx(c), f)
	if err != nil {
		return nil, err
	}
	for _, k := range clerks {
		d.Clerks = append(d.Clerks, clerkItem{Clerk: k.Name, Service: k.Service, ServiceName: serviceName(l, k.Service),
			Drawn: k.Drawn, Agree: k.Agree, Disagree: k.Disagree, Pending: k.Drawn - k.Agree - k.Disagree})
	}
	p := s.Engine.Sampling
	d.Share = strconv.FormatFloat(p.Share*100, 'f', -1, 64)
	d.Reason = [2]int{p.ReasonMinChars, p.ReasonMaxChars}
	d.Findings = []choiceDoc{{Value: portal.FindingAgree, Label: l.T("review.finding.agree")},
		{Value: portal.FindingDisagree, Label: l.T("review.finding.disagree")}}
	return d, nil
}

// apiReviews is GET /api/v1/reviews?all=1&before=.
func (s *Server) apiReviews(c *fiber.Ctx) error {
	d, err := s.reviews(c)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

// reviewsPage is GET /oversight/reviews.
func (s *Server) reviewsPage(c *fiber.Ctx) error {
	d, err := s.reviews(c)
	if err != nil {
		return err
	}
	return s.render(c, "reviews", s.newPage(c, "review.title", d))
}

// findingBody is POST /api/v1/reviews/{sample}/{case_no}.
type findingBody struct {
	Finding string `json:"finding"`
	Reason  string `json:"reason"`
}

// finding records a finding from the route's sample and case.
func (s *Server) finding(c *fiber.Ctx, b findingBody) (*portal.SampleCase, error) {
	sample, err := strconv.ParseInt(c.Params("sample"), 10, 64)
	if err != nil || sample <= 0 {
		return nil, portal.NotFound(err)
	}
	return s.Engine.RecordFinding(ctx(c), actor(c), sample, c.Params("case"), b.Finding, b.Reason)
}

// apiFinding is POST /api/v1/reviews/{sample}/{case_no} {"finding","reason"} → 201.
func (s *Server) apiFinding(c *fiber.Ctx) error {
	var b findingBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	sc, err := s.finding(c, b)
	if err != nil {
		return err
	}
	at := sc.ReviewedAt.In(s.Engine.Calendar.Zone).Format(time.RFC3339)
	return c.Status(fiber.StatusCreated).JSON(reviewItem{Sample: sc.SampleID, Day: sc.Day, CaseNo: sc.CaseNo, Service: sc.Service,
		Division: sc.Division, Decision: sc.Event, DecidedBy: sc.DeciderName,
		DecidedAt: sc.DecidedAt.In(s.Engine.Calendar.Zone).Format(time.RFC3339), Finding: sc.Finding, Reason: sc.Reason, ReviewedAt: &at})
}

// postFinding is the page's form: back to the list, or the list again with
// the error next to the field of the form that failed and what was typed.
func (s *Server) postFinding(c *fiber.Ctx) error {
	b := findingBody{Finding: c.FormValue("finding"), Reason: c.FormValue("reason")}
	_, err := s.finding(c, b)
	if err == nil {
		return redirect(c, "/oversight/reviews?done="+c.Params("case"))
	}
	if !formError(err) {
		return err
	}
	d, rerr := s.reviews(c)
	if rerr != nil {
		return rerr
	}
	d.Failed = c.Params("sample") + "-" + c.Params("case")
	d.Typed = map[string]string{"finding": b.Finding, "reason": b.Reason}
	p := s.newPage(c, "review.title", d)
	p.Errors, p.Summary = fieldMessages(c, err)
	for i := range p.Summary {
		if p.Summary[i].Field != "" {
			p.Summary[i].Field = d.Failed + "-" + p.Summary[i].Field
		}
	}
	return s.write(c, status(portal.ErrorCode(err)), "reviews", p)
}
