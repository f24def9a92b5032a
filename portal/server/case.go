package server

import (
	"encoding/json"
	"html"
	"html/template"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/locale"
	"tzportal/portal/pii"
	"tzportal/portal/residence"
	"tzportal/portal/workflow"
)

// listFilter reads a list's filters from the query string. For staff with
// no state filter the list shows the open (non-final) cases: the queue.
func (s *Server) listFilter(c *fiber.Ctx) workflow.ListFilter {
	f := workflow.ListFilter{Service: c.Query("service")}
	if st := c.Query("state"); st != "" && st != "all" {
		f.States = strings.Split(st, ",")
	} else if st == "" && currentUser(c).Kind != portal.KindApplicant {
		f.States = s.Engine.StaffStates(f.Service, true)
	}
	f.Overdue = c.Query("overdue") == "1" || c.Query("overdue") == "true"
	f.After, _ = strconv.ParseInt(c.Query("after"), 10, 64)
	f.Limit, _ = strconv.Atoi(c.Query("limit"))
	return f
}

type casesData struct {
	Labels   columnLabels
	Rows     template.HTML // caseRows of Items
	Items    []caseSummary
	Next     *string
	State    string
	Overdue  bool
	States   []string
	Staff    bool
	Services []string // services an applicant may apply for
	More     string   // query of the next page
}

func (s *Server) casesPage(c *fiber.Ctx) error {
	f := s.listFilter(c)
	cases, next, err := s.Engine.List(ctx(c), actor(c), f)
	if err != nil {
		return err
	}
	u := currentUser(c)
	staff := u.Kind != portal.KindApplicant
	d := &casesData{Labels: newColumnLabels(loc(c)), Items: s.summaries(loc(c), cases, staff), Next: cursor(next),
		State: c.Query("state"), Overdue: f.Overdue, States: s.Engine.StaffStates("", false), Staff: staff}
	d.Rows = caseRows(d.Items, d.Labels, staff)
	if next != 0 {
		q := c.Request().URI().QueryArgs()
		q.Set("after", strconv.FormatInt(next, 10))
		d.More = "/cases?" + string(q.QueryString())
	}
	for id := range forms {
		d.Services = append(d.Services, id)
	}
	slices.Sort(d.Services)
	title := "cases.title_mine"
	if staff {
		title = "cases.title_worklist"
	}
	return s.render(c, "cases", s.newPage(c, title, d))
}

// columnLabels are the data-label attributes of a list's cells, escaped
// once per page instead of once per row.
type columnLabels struct {
	No, Service, Applicant, Division, State, Due, Created template.HTMLAttr
}

func newColumnLabels(l *locale.L) columnLabels {
	a := func(id string) template.HTMLAttr {
		return template.HTMLAttr(`data-label="` + html.EscapeString(l.T(id)) + `"`)
	}
	return columnLabels{No: a("cases.col_no"), Service: a("cases.col_service"), Applicant: a("cases.col_applicant"),
		Division: a("cases.col_division"), State: a("cases.col_state"), Due: a("cases.col_due"), Created: a("cases.col_created")}
}

type formData struct {
	Service  string
	Partial  string
	Values   map[string]string
	Groups   []divisionGroup
	Bases    []string
	IdemKey  string
	CaseNo   string // editing an existing case
	Version  int
	Step     int
	Action   string
	Checking bool
}

func (s *Server) formPage(c *fiber.Ctx, d *formData, status int, err error) error {
	spec, ok := forms[d.Service]
	if !ok {
		return portal.NotFound(nil)
	}
	d.Partial = spec.Partial
	d.Groups = divisionGroups(s.Authz.Divisions())
	d.Bases = residence.Bases
	d.Step = 1
	p := s.newPage(c, "service."+d.Service+".name", d)
	if err != nil {
		p.Errors, p.Summary = fieldMessages(c, err)
	}
	return s.write(c, status, "form", p)
}

func (s *Server) newCasePage(c *fiber.Ctx) error {
	svc := c.Query("service")
	if _, ok := forms[svc]; !ok {
		return portal.NotFound(nil)
	}
	if currentUser(c).Kind != portal.KindApplicant {
		return portal.Errorf(portal.EFORBIDDEN, "error.forbidden_create", nil)
	}
	return s.formPage(c, &formData{Service: svc, Values: map[string]string{}, IdemKey: newIdempotencyKey(), Action: "/cases"}, fiber.StatusOK, nil)
}

func (s *Server) createCase(c *fiber.Ctx) error {
	svc := c.FormValue("service")
	spec, ok := forms[svc]
	if !ok {
		return portal.NotFound(nil)
	}
	vals := formValues(c, spec)
	created, err := s.Engine.Create(ctx(c), actor(c), svc, formJSON(vals), c.FormValue("_idem"))
	if formError(err) {
		return s.formPage(c, &formData{Service: svc, Values: vals, IdemKey: c.FormValue("_idem"), Action: "/cases"}, status(portal.ErrorCode(err)), err)
	}
	if err != nil {
		return err
	}
	return redirect(c, "/cases/"+created.No+"?done=create")
}

func (s *Server) editCasePage(c *fiber.Ctx) error {
	v, err := s.Engine.Get(ctx(c), actor(c), c.Params("no"))
	if err != nil {
		return err
	}
	if !v.Editable {
		return redirect(c, "/cases/"+v.Case.No)
	}
	return s.formPage(c, &formData{Service: v.Case.Service, Values: storedValues(v.Case.Form), CaseNo: v.Case.No,
		Version: v.Case.Version, Action: "/cases/" + v.Case.No + "/edit"}, fiber.StatusOK, nil)
}

func (s *Server) editCase(c *fiber.Ctx) error {
	no := c.Params("no")
	svc := c.FormValue("service")
	spec, ok := forms[svc]
	if !ok {
		return portal.NotFound(nil)
	}
	vals := formValues(c, spec)
	version, _ := strconv.Atoi(c.FormValue("version"))
	_, err := s.Engine.Edit(ctx(c), actor(c), no, formJSON(vals), version)
	if formError(err) {
		return s.formPage(c, &formData{Service: svc, Values: vals, CaseNo: no, Version: version, Action: "/cases/" + no + "/edit"},
			status(portal.ErrorCode(err)), err)
	}
	if err != nil {
		return err
	}
	return redirect(c, "/cases/"+no+"?done=edit")
}

type caseData struct {
	Case      *caseDoc
	Materials []string
	Input     map[string]string // what the person typed into an action form that failed
	Items     []string
	Failed    string // the event whose form failed
	Done      string // the event just done, for the confirmation panel
	Revealed  string
	CanAudit  bool
	CanReveal bool
	Events    []eventForm
	Permit    *residence.Result // an issued residence permit
	Refusal   string            // the reason of a refusal
}

// eventForm is one action button (and its inputs) on the case page.
type eventForm struct {
	Name     string
	Reason   bool
	Items    bool
	Primary  bool
	Negative bool // ends the case refused or withdrawn: asks to confirm
}

// loadCase reads a case for its viewer and presents it.
func (s *Server) loadCase(c *fiber.Ctx, no string) (*workflow.View, *caseDoc, error) {
	v, err := s.Engine.Get(ctx(c), actor(c), no)
	if err != nil {
		return nil, nil, err
	}
	return v, s.caseDoc(c, v), nil
}

// caseDoc presents a case to the current user; staff also see who applied
// (the ID and mobile numbers masked).
func (s *Server) caseDoc(c *fiber.Ctx, v *workflow.View) *caseDoc {
	var app *applicantDoc
	if u := currentUser(c); u.Kind != portal.KindApplicant && v.Case.Applicant != nil {
		owner := v.Case.Applicant
		app = &applicantDoc{Name: owner.Name, IDNumber: s.Accounts.MaskedIDNumber(owner), Mobile: pii.MaskMobile(owner.Mobile)}
	}
	return s.present(loc(c), v, app)
}

func (s *Server) casePageWith(c *fiber.Ctx, no string, status int, d *caseData, err error) error {
	v, doc, lerr := s.loadCase(c, no)
	if lerr != nil {
		return lerr
	}
	d.Case = doc
	d.Materials = v.Def.Material
	u := currentUser(c)
	_, d.CanAudit = s.Authz.Can(u, v.Case.Division, "audit", "read")
	_, d.CanReveal = s.Authz.Can(u, v.Case.Division, "idnumber", "reveal")
	primary := false
	for _, name := range v.Allowed {
		ev := v.Def.Events[name]
		f := eventForm{Name: name, Reason: slices.Contains(ev.Requires, workflow.RequireReason),
			Items: slices.Contains(ev.Requires, workflow.RequireItems), Negative: v.Def.Negative(name)}
		if !primary && len(ev.Requires) == 0 && !f.Negative {
			f.Primary, primary = true, true
		}
		d.Events = append(d.Events, f)
	}
	var permit residence.Result
	if json.Unmarshal(v.Case.Result, &permit) == nil && permit.PermitNo != "" {
		d.Permit = &permit
	}
	if doc.Final && len(v.History) > 0 {
		d.Refusal = v.History[len(v.History)-1].Reason
	}
	// The confirmation ("submitted", "approved", …) is for the step just
	// done; an old link or a reload after the case moved on must not show it.
	if d.Done != "" && (len(v.History) == 0 || v.History[len(v.History)-1].Event != d.Done) {
		d.Done = ""
	}
	p := s.newPage(c, "case.title", d)
	p.Title = doc.ServiceName + " " + doc.CaseNo
	if err != nil {
		p.Errors, p.Summary = fieldMessages(c, err)
	}
	return s.write(c, status, "case", p)
}

func (s *Server) casePage(c *fiber.Ctx) error {
	return s.casePageWith(c, c.Params("no"), fiber.StatusOK, &caseData{Done: c.Query("done")}, nil)
}

// eventInput reads an event's form: reason, the ticked materials and the
// other missing items typed one per line.
func eventInput(c *fiber.Ctx) workflow.Input {
	in := workflow.Input{Reason: c.FormValue("reason")}
	in.Version, _ = strconv.Atoi(c.FormValue("version"))
	args := c.Request().PostArgs()
	for _, v := range args.PeekMulti("items") {
		in.Items = append(in.Items, string(v))
	}
	in.Items = append(in.Items, formLines(c.FormValue("items_other"))...)
	return in
}

func (s *Server) fireEvent(c *fiber.Ctx) error {
	no, event := c.Params("no"), c.Params("event")
	in := eventInput(c)
	_, err := s.Engine.Fire(ctx(c), actor(c), no, event, in)
	if formError(err) {
		d := &caseData{Failed: event, Items: in.Items,
			Input: map[string]string{"reason": c.FormValue("reason"), "items_other": c.FormValue("items_other")}}
		return s.casePageWith(c, no, status(portal.ErrorCode(err)), d, err)
	}
	if err != nil {
		return err
	}
	return redirect(c, "/cases/"+no+"?done="+event)
}

func (s *Server) revealID(c *fiber.Ctx) error {
	no := c.Params("no")
	v, err := s.Engine.Get(ctx(c), actor(c), no)
	if err != nil {
		return err
	}
	id, err := s.Accounts.RevealID(ctx(c), actor(c), v.Case)
	if err != nil {
		return err
	}
	return s.casePageWith(c, no, fiber.StatusOK, &caseData{Revealed: id}, nil)
}

type auditData struct {
	CaseNo  string
	Entries []auditRow
}

type auditRow struct {
	portal.AuditEntry
	AtText string
}

// caseAudit returns a case's audit entries to a supervisor; to anyone else
// the case does not exist.
func (s *Server) caseAudit(c *fiber.Ctx, no string) ([]portal.AuditEntry, error) {
	v, err := s.Engine.Get(ctx(c), actor(c), no)
	if err != nil {
		return nil, err
	}
	if _, ok := s.Authz.Can(currentUser(c), v.Case.Division, "audit", "read"); !ok {
		s.Engine.Denied(ctx(c), actor(c), "audit.read", no)
		return nil, portal.NotFound(nil)
	}
	return s.Store.AuditByObject(ctx(c), "case:"+no, 1000)
}

func (s *Server) auditPage(c *fiber.Ctx) error {
	no := c.Params("no")
	entries, err := s.caseAudit(c, no)
	if err != nil {
		return err
	}
	d := &auditData{CaseNo: no}
	zone := s.Engine.Calendar.Zone
	for _, e := range entries {
		d.Entries = append(d.Entries, auditRow{AuditEntry: e, AtText: e.At.In(zone).Format("2006-01-02 15:04:05")})
	}
	return s.render(c, "audit", s.newPage(c, "audit.title", d))
}
