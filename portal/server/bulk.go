package server

import (
	"encoding/json"
	"html"
	"html/template"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/locale"
	"tzportal/portal/workflow"
)

// Bulk events: the worklist's "accept the selected cases". Each case goes
// through Engine.Fire on its own (workflow.FireBulk); the answer says what
// happened to each, in the order sent.

// bulkResult is what the event did to one case: its new state (status
// 200), or the problem that refused it, with the status the single-case
// endpoint would have answered.
type bulkResult struct {
	CaseNo string   `json:"case_no"`
	Status int      `json:"status"`
	State  string   `json:"state,omitempty"`
	Error  *problem `json:"error,omitempty"`
}

// bulkReply is the answer of a bulk event.
type bulkReply struct {
	Results []bulkResult `json:"results"`
}

// apiFireBulk is POST /api/v1/cases/events/{event}. The request as a
// whole is refused (problem, 404 or 422) only when the event is no
// service's, or bulk in none (422, rule not_bulk), or the body is wrong;
// otherwise it answers 200 with one result per case, refusals included.
func (s *Server) apiFireBulk(c *fiber.Ctx) error {
	var body map[string]json.RawMessage
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	var nos []string
	if raw, ok := body["case_nos"]; ok {
		if json.Unmarshal(raw, &nos) != nil {
			return portal.Invalid(portal.FieldError{Field: "case_nos", Rule: "type"})
		}
		delete(body, "case_nos")
	}
	in := workflow.Input{Values: portal.Inputs{}, IdempotencyKey: c.Get("Idempotency-Key")}
	eventValues(body, in.Values)
	results, err := s.Engine.FireBulk(ctx(c), actor(c), nos, c.Params("event"), in)
	if err != nil {
		return err
	}
	l, rid := loc(c), requestID(c)
	out := bulkReply{Results: make([]bulkResult, 0, len(results))}
	for _, r := range results {
		res := bulkResult{CaseNo: r.CaseNo, Status: fiber.StatusOK}
		if r.Err != nil {
			e, st := s.refusal(c, r.Err)
			p := newProblem(l, e, st, rid)
			res.Status, res.Error = st, &p
		} else {
			res.State = r.View.Case.State
		}
		out.Results = append(out.Results, res)
	}
	return c.JSON(out)
}

// bulkButton is one bulk event offered under the worklist.
type bulkButton struct {
	Event  string
	Label  string
	Action string // the form's target, with the list's filter kept
}

// bulkButtons are the worklist's buttons: the bulk events the viewer may
// fire on some listed case. Each posts the ticked cases to
// /cases/events/<event>, with the list's query, so a page that must be
// shown again (nothing ticked) shows the same list.
func (s *Server) bulkButtons(c *fiber.Ctx, l *locale.L, cases []portal.Case) []bulkButton {
	events := s.Engine.BulkEvents(currentUser(c), cases)
	if len(events) == 0 {
		return nil
	}
	q := string(c.Request().URI().QueryArgs().QueryString())
	var out []bulkButton
	for _, ev := range events {
		b := bulkButton{Event: ev, Action: "/cases/events/" + url.PathEscape(ev)}
		if q != "" {
			b.Action += "?" + q
		}
		if id := "bulk.button." + ev; l.Has(id) {
			b.Label = l.T(id)
		} else {
			b.Label = l.T("bulk.button", map[string]any{"Action": eventAction(l, cases, ev)})
		}
		out = append(out, b)
	}
	return out
}

// eventAction is the button word of event in the first listed service
// that has it ("受理").
func eventAction(l *locale.L, cases []portal.Case, event string) string {
	for _, c := range cases {
		if id := c.Service + ".action." + event; l.Has(id) {
			return l.T(id)
		}
	}
	return event
}

// pick makes caseRows start each row with a checkbox (a bulk action's
// form): its label's words before the case number ("选择办件") and its
// cell's data-label, escaped once per page.
func (a *columnLabels) pick(l *locale.L) {
	a.Pick = html.EscapeString(l.T("bulk.pick"))
	a.PickCol = template.HTMLAttr(`data-label="` + html.EscapeString(l.T("bulk.col_pick")) + `"`)
}

// bulkData is the results page of a bulk event.
type bulkData struct {
	Results []bulkLine
	Done    int
	Failed  int
}

// bulkLine is one case's outcome in words.
type bulkLine struct {
	CaseNo  string
	Tone    string // granted when done, refused when not (the tags' colours)
	Outcome string // "已受理（审核中）", or why not
}

// fireBulk is POST /cases/events/:event from the worklist's form: the
// ticked cases (case_no, several), fired one by one; the answer is a page
// listing each case and what happened to it. With nothing ticked, the
// worklist again, saying so.
func (s *Server) fireBulk(c *fiber.Ctx) error {
	l := loc(c)
	var nos []string
	for _, v := range c.Request().PostArgs().PeekMulti("case_no") {
		nos = append(nos, string(v))
	}
	if len(nos) == 0 {
		return s.casesPageWith(c, fiber.StatusUnprocessableEntity, []summaryItem{{Message: l.T("bulk.none_selected"), Href: "#bulk-cases"}}, nil)
	}
	event := c.Params("event")
	results, err := s.Engine.FireBulk(ctx(c), actor(c), nos, event,
		workflow.Input{Values: portal.Inputs{}, IdempotencyKey: c.FormValue("_idem")})
	if err != nil {
		return err
	}
	d := &bulkData{}
	for _, r := range results {
		line := bulkLine{CaseNo: r.CaseNo}
		if r.Err != nil {
			e, _ := s.refusal(c, r.Err)
			line.Tone, line.Outcome = workflow.OutcomeRefused, l.Error(e)
			d.Failed++
		} else {
			v := r.View
			done := stateLabel(l, v.Case.Service, v.Case.State)
			if id := v.Case.Service + ".done." + event; l.Has(id) {
				done = l.T(id) + l.T("bulk.now", map[string]any{"State": done})
			}
			line.Tone, line.Outcome = workflow.OutcomeGranted, done
			d.Done++
		}
		d.Results = append(d.Results, line)
	}
	return s.render(c, "bulk", s.newPage(c, "bulk.title", d))
}
