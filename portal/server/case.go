package server

import (
	"html"
	"html/template"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/locale"
	"tzportal/portal/pii"
	"tzportal/portal/workflow"
)

// listFilter reads a list's filters from the query string. For staff with
// no state filter the list shows the open cases: the queue — unless they
// search (q), which looks for any case, open or ended.
func (s *Server) listFilter(c *fiber.Ctx) workflow.ListFilter {
	f := workflow.ListFilter{Service: c.Query("service"), Q: c.Query("q")}
	st := c.Query("state")
	if svc, state, ok := strings.Cut(st, ":"); ok && f.Service == "" {
		// The worklist's filter names a state of one service: several
		// services have a "submitted".
		f.Service, st = svc, state
	}
	if st != "" && st != "all" {
		f.States = strings.Split(st, ",")
	} else if st == "" && f.Q == "" && currentUser(c).Kind == portal.KindStaff {
		f.Queue = true
	}
	f.Overdue = c.Query("overdue") == "1" || c.Query("overdue") == "true"
	f.Mine = c.Query("mine") == "1" || c.Query("mine") == "true"
	f.Unclaimed = c.Query("unclaimed") == "1" || c.Query("unclaimed") == "true"
	f.Due = c.Query("due")
	f.After, _ = strconv.ParseInt(c.Query("after"), 10, 64)
	f.Limit, _ = strconv.Atoi(c.Query("limit"))
	return f
}

type casesData struct {
	Labels  columnLabels
	Rows    template.HTML // caseRows of Items
	Items   []caseSummary
	Next    *string
	State   string // the filter as chosen: "", "all" or "<service>:<state>"
	Q       string // the search as typed
	Overdue bool
	// Mine, Unclaimed: the desk's filters as chosen; Done: the queue a
	// clerk worked through "… and open the next one" is empty.
	Mine, Unclaimed bool
	Done, DoneCase  string
	// Saved are the person's saved filters; Current the query a new one
	// would save (the filter as chosen); FilterName what they typed.
	Saved        []savedFilterDoc
	Current      string
	FilterName   string
	Filters      []stateGroup  // the state filter: each service's states
	StateOptions template.HTML // Filters' options (stateOptions)
	Counts       []stateCount  // the open states with cases, as links
	Staff        bool
	Services     []string // services an applicant may apply for
	More         string   // query of the next page
	// Bulk are the buttons acting on the ticked cases (each row has a
	// checkbox when there is one); IdemKey makes a double click one request.
	Bulk    []bulkButton
	IdemKey string
}

// stateGroup is the states of one service, for the state filter; an
// open state's label carries its count.
type stateGroup struct {
	Name   string
	States []choiceDoc
}

// stateCount is one link of the worklist's counts: the open cases of the
// reader's jurisdiction in a state (Value as the state filter's).
type stateCount struct {
	Value, Label string
	Cases        int64
}

// choiceDoc is one option of a select or a set of checkboxes.
type choiceDoc struct {
	Value, Label string
}

func (s *Server) casesPage(c *fiber.Ctx) error { return s.casesPageWith(c, fiber.StatusOK, nil, nil) }

// casesPageWith renders the list of cases with an error summary, if any
// (a bulk action with nothing ticked).
// A form of the page that failed (formErr: saving a filter) shows its
// errors beside its fields.
func (s *Server) casesPageWith(c *fiber.Ctx, status int, summary []summaryItem, formErr error) error {
	f := s.listFilter(c)
	cases, next, listErr := s.Engine.List(ctx(c), actor(c), f)
	if listErr != nil && portal.ErrorCode(listErr) != portal.EINVALID {
		return listErr
	}
	l := loc(c)
	u := currentUser(c)
	staff := u.Kind != portal.KindApplicant
	d := &casesData{Labels: newColumnLabels(l), Items: s.summaries(l, cases, staff, u), Next: cursor(next),
		State: c.Query("state"), Q: f.Q, Overdue: f.Overdue, Mine: f.Mine, Unclaimed: f.Unclaimed, Staff: staff}
	switch done, no := c.Query("done"), c.Query("case"); {
	case done == "queue_empty":
		d.Done = done
	case done == "transfer" && portal.ValidCaseNo(no):
		d.Done, d.DoneCase = done, no
	}
	if u.Kind == portal.KindStaff {
		s.savedFilters(c, d)
	}
	if staff {
		if d.Bulk = s.bulkButtons(c, l, cases); len(d.Bulk) > 0 {
			d.Labels.pick(l)
			d.IdemKey = newIdempotencyKey()
		}
	}
	d.Rows = caseRows(d.Items, d.Labels, staff)
	if next != 0 {
		q := c.Request().URI().QueryArgs()
		q.Set("after", strconv.FormatInt(next, 10))
		d.More = "/cases?" + string(q.QueryString())
	}
	counts := map[string]int64{}
	if u.Kind == portal.KindStaff {
		qc, err := s.Engine.QueueCounts(ctx(c), actor(c))
		if err != nil && portal.ErrorCode(err) != portal.ENOTFOUND { // no jurisdiction: no counts
			return err
		}
		for _, sc := range qc {
			v := sc.Service + ":" + sc.State
			counts[v] = sc.Cases
			if sc.Cases > 0 {
				d.Counts = append(d.Counts, stateCount{Value: v, Label: stateLabel(l, sc.Service, sc.State), Cases: sc.Cases})
			}
		}
	}
	// "已提交（12）": the words made once, the numbers put in per state (a
	// message with data runs a template: fifty on every worklist view).
	countFmt := l.T("cases.state_count", map[string]any{"State": "\x00S", "N": "\x00N"})
	for _, id := range s.Engine.Services() {
		d.Services = append(d.Services, id)
		if staff {
			g := stateGroup{Name: serviceName(l, id)}
			for _, st := range s.Engine.StaffStates(id) {
				v, label := id+":"+st, stateLabel(l, id, st)
				if n, open := counts[v]; open {
					label = strings.NewReplacer("\x00S", label, "\x00N", strconv.FormatInt(n, 10)).Replace(countFmt)
				}
				g.States = append(g.States, choiceDoc{Value: v, Label: label})
			}
			d.Filters = append(d.Filters, g)
		}
	}
	d.StateOptions = stateOptions(d.Filters, d.State)
	title := "cases.title_mine"
	if staff {
		title = "cases.title_worklist"
	}
	p := s.newPage(c, title, d)
	if listErr != nil {
		// A search the worklist cannot read: the message beside the field,
		// what was typed kept in it.
		p.Errors, p.Summary = fieldMessages(c, listErr)
		return s.write(c, fiber.StatusUnprocessableEntity, "cases", p)
	}
	p.Summary = summary
	if formErr != nil {
		p.Errors, p.Summary = fieldMessages(c, formErr)
	}
	return s.write(c, status, "cases", p)
}

// columnLabels are the data-label attributes of a list's cells, escaped
// once per page instead of once per row.
type columnLabels struct {
	No, Service, Applicant, Division, State, Holder, Due, Created template.HTMLAttr
	// Mine and Nobody are the holder column's words for "(me)" and
	// "nobody", escaped.
	Mine, Nobody string
	// Pick, when set, is the escaped label of each row's checkbox before
	// the case number ("选择办件"): the list is a bulk action's form;
	// PickCol the data-label of its cell ("选择", shown on a phone).
	Pick    string
	PickCol template.HTMLAttr
}

func newColumnLabels(l *locale.L) columnLabels {
	a := func(id string) template.HTMLAttr {
		return template.HTMLAttr(`data-label="` + html.EscapeString(l.T(id)) + `"`)
	}
	return columnLabels{No: a("cases.col_no"), Service: a("cases.col_service"), Applicant: a("cases.col_applicant"),
		Division: a("cases.col_division"), State: a("cases.col_state"), Holder: a("cases.col_holder"), Due: a("cases.col_due"),
		Created: a("cases.col_created"), Mine: html.EscapeString(l.T("cases.holder_me")), Nobody: html.EscapeString(l.T("cases.holder_none"))}
}

// onlineService returns the service of an HTML form, 404 if it cannot be
// applied for here.
func (s *Server) onlineService(id string) (*workflow.Entry, error) {
	e, ok := s.Engine.Registry.Get(id)
	if !ok || !e.Online() {
		return nil, portal.NotFound(nil)
	}
	return e, nil
}

func (s *Server) formPage(c *fiber.Ctx, d *formData, status int, err error) error {
	e, ferr := s.onlineService(d.Service)
	if ferr != nil {
		return ferr
	}
	pages := e.Service.Pages()
	_, i, _ := pageOf(pages, d.Page.ID)
	d.Step, d.Steps = i+1, len(pages)+1
	d.Groups = divisionGroups(s.Authz.Divisions())
	if opt, ok := e.Service.(workflow.Optioner); ok {
		d.Choices = map[string][]workflow.Option{}
		for _, f := range d.Page.Fields {
			if f.Kind != workflow.KindRanked {
				continue
			}
			if d.Choices[f.Name], ferr = opt.Options(ctx(c), s.Store, d.form, f.Name); ferr != nil {
				return ferr
			}
		}
	}
	if d.Back == "" {
		d.Back = "/services/" + d.Service
		if d.CaseNo != "" {
			d.Back = "/cases/" + d.CaseNo
		}
	}
	p := s.newPage(c, "", d)
	p.Title = serviceName(p.L, d.Service)
	p.Service = d.Service
	if err != nil {
		p.Errors, p.Summary = fieldMessages(c, err)
		if d.Page.List != "" && d.Item != "" {
			p.Errors = entryErrors(p.Errors, p.Summary, d.Page.List, d.entry)
		}
	}
	return s.write(c, status, "form", p)
}

func (s *Server) newCasePage(c *fiber.Ctx) error {
	e, err := s.onlineService(c.Query("service"))
	if err != nil {
		return err
	}
	if currentUser(c).Kind != portal.KindApplicant {
		return portal.Errorf(portal.EFORBIDDEN, "error.forbidden_create", nil)
	}
	pages := e.Service.Pages()
	prefill, err := s.Engine.Prefill(ctx(c), actor(c), e.ID)
	if err != nil {
		return err
	}
	return s.formPage(c, &formData{Service: e.ID, Page: pages[0], Values: storedValues(prefill, pages[0], ""), IdemKey: newIdempotencyKey(),
		Action: "/cases", Flow: len(pages) > 1}, fiber.StatusOK, nil)
}

func (s *Server) createCase(c *fiber.Ctx) error {
	e, err := s.onlineService(c.FormValue("service"))
	if err != nil {
		return err
	}
	pages := e.Service.Pages()
	vals := pageValues(c, pages[0])
	form, err := mergePage(nil, pages[0], vals, "", false)
	if err != nil {
		return err
	}
	created, err := s.Engine.Create(ctx(c), actor(c), e.ID, form, c.FormValue("_idem"))
	if formError(err) {
		return s.formPage(c, &formData{Service: e.ID, Page: pages[0], Values: vals, IdemKey: c.FormValue("_idem"), Action: "/cases",
			Flow: len(pages) > 1}, status(portal.ErrorCode(err)), err)
	}
	if err != nil {
		return err
	}
	if len(pages) > 1 {
		return redirect(c, afterPage(created.No, pages, 0, true))
	}
	return redirect(c, "/cases/"+created.No+"?done=create")
}

// editCasePage shows one page of a case's form: a plain page, a list page
// (the task list of its entries), or one entry of a list ("new" to add).
func (s *Server) editCasePage(c *fiber.Ctx) error {
	v, err := s.Engine.Get(ctx(c), actor(c), c.Params("no"))
	if err != nil {
		return err
	}
	if !v.Editable {
		return redirect(c, "/cases/"+v.Case.No)
	}
	p, _, ok := pageOf(v.Service.Pages(), c.Query("step"))
	if !ok {
		return portal.NotFound(nil)
	}
	d := s.editData(loc(c), v, p, c.Query("item"), c.Query("flow") == "1")
	d.Values = storedValues(v.Form, p, d.Item)
	return s.formPage(c, d, fiber.StatusOK, nil)
}

// editData is the form data of a page of an existing case.
func (s *Server) editData(l *locale.L, v *workflow.View, p workflow.Page, item string, flow bool) *formData {
	no := v.Case.No
	d := &formData{Service: v.Case.Service, Page: p, CaseNo: no, Version: v.Case.Version, Action: "/cases/" + no + "/edit", Flow: flow, Item: item,
		form: v.Case.Form}
	pages := v.Service.Pages()
	_, i, _ := pageOf(pages, p.ID)
	if i > 0 && flow {
		d.Back = editHref(no, pages[i-1].ID, true)
	}
	if p.List == "" {
		return d
	}
	if item != "" {
		d.Back = editHref(no, p.ID, flow)
		return d
	}
	for _, sec := range s.answers(l, v.Case.Service, []workflow.Page{p}, v.Form, nil, true, nil) {
		d.Entries = sec.Entries
	}
	for i := range d.Entries {
		d.Entries[i].Href = editHref(no, p.ID, flow, "item", strconv.Itoa(d.Entries[i].Index))
	}
	d.Full = p.Max > 0 && len(d.Entries) >= p.Max
	d.AddHref = editHref(no, p.ID, flow, "item", "new")
	d.NextHref = afterPage(no, pages, i, flow)
	return d
}

func (s *Server) editCase(c *fiber.Ctx) error {
	no := c.Params("no")
	v, err := s.Engine.Get(ctx(c), actor(c), no)
	if err != nil {
		return err
	}
	pages := v.Service.Pages()
	p, i, ok := pageOf(pages, c.FormValue("step"))
	if !ok {
		return portal.NotFound(nil)
	}
	item, flow, remove := c.FormValue("item"), c.FormValue("flow") == "1", c.FormValue("_remove") != ""
	if p.List != "" && item == "" {
		return portal.NotFound(nil) // a list page itself has nothing to save
	}
	vals := pageValues(c, p)
	form, err := mergePage(v.Form, p, vals, item, remove)
	if err != nil {
		return err
	}
	// The page was read outside this request's transaction: its version
	// (always in the form) guards against saving over someone's later change.
	version, _ := strconv.Atoi(c.FormValue("version"))
	if version <= 0 {
		err = &portal.Error{Code: portal.ECONFLICT, Message: "error.case_conflict"}
	} else {
		_, err = s.Engine.Edit(ctx(c), actor(c), no, form, version)
	}
	if formError(err) {
		d := s.editData(loc(c), v, p, item, flow)
		d.Version, d.Values, d.entry = version, vals, item
		if item == "new" {
			d.entry = strconv.Itoa(listLen(v.Form, p.List)) // where the new entry would have gone
		}
		return s.formPage(c, d, status(portal.ErrorCode(err)), err)
	}
	if err != nil {
		return err
	}
	switch {
	case p.List != "":
		return redirect(c, editHref(no, p.ID, flow))
	case flow && i+1 < len(pages):
		return redirect(c, afterPage(no, pages, i, true))
	}
	return redirect(c, "/cases/"+no+"?done=edit")
}

type caseData struct {
	Case      *caseDoc
	Input     map[string]string // what the person typed into an action form that failed
	Ticked    []string          // the list entries they ticked
	Failed    string            // the event whose form failed
	Done      string            // the event just done, for the confirmation panel
	Revealed  map[string]string // full ID numbers a staff member asked to see, by field ("" the applicant's)
	CanAudit  bool
	CanReveal bool
	Events    []eventForm
	// Materials is the case's checklist with its files (services with a
	// checklist); MaterialsEditable: the viewer may upload now.
	Materials         []checklistDoc
	MaterialsEditable bool
	// Certificate: the case issued one the viewer can open.
	Certificate bool
	// Access is the case's access log (查阅记录), shown to its applicant
	// (ShowAccess), empty until staff read it.
	Access     []accessDoc
	ShowAccess bool
	// Rating is the applicant's rating of the ended case; CanRate: the
	// form is shown (RatingMax: the comment's length).
	Rating    *ratingDoc
	CanRate   bool
	RatingMax int
	// Desk: who holds the case and what the viewer may do about it
	// (staff, open cases); Next: the decisions may open the next case.
	Desk *deskDoc
	Next bool
	// Prev is the case decided just before this one ("… and open the
	// next one"), whose confirmation this page shows.
	Prev string
}

// eventForm is one action button (and its inputs) on the case page.
type eventForm struct {
	Name     string
	Inputs   []inputForm
	Primary  bool
	Negative bool // ends the case refused or withdrawn: asks to confirm
	HandsIn  bool // the applicant hands the case in: they declare the answers true
	// Moves: a transfer, after which the case is no longer the viewer's
	// (no "… and open the next one": the worklist follows anyway).
	Moves bool
}

// inputForm is one input of an action's form.
type inputForm struct {
	Name     string
	Type     string
	Label    string
	Hint     string
	Required bool
	Max      int
	Choices  []choiceDoc     // a list's entries to tick (the service's materials)
	Groups   []divisionGroup // a division's streets and towns, by district
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
	u := currentUser(c)
	if u.Kind != portal.KindApplicant && v.Case.Applicant != nil {
		owner := v.Case.Applicant
		app = &applicantDoc{Name: owner.Name, IDNumber: s.Accounts.MaskedIDNumber(owner), Mobile: pii.MaskMobile(owner.Mobile)}
	}
	var staff *portal.User
	if u.Kind == portal.KindStaff {
		staff = u
	}
	return s.present(loc(c), v, app, s.choiceLabels(c, v), staff)
}

// eventForms are the actions the viewer may take, each with its inputs.
func eventForms(l *locale.L, def *workflow.Definition, allowed []string, divs *portal.Divisions) []eventForm {
	var out []eventForm
	primary := false
	for _, name := range allowed {
		ev := def.Events[name]
		f := eventForm{Name: name, Negative: def.Negative(name), HandsIn: def.HandsIn(name), Moves: ev.Transfer != ""}
		required := false
		for _, in := range ev.Inputs {
			spec := def.Inputs[in.Name]
			label := inputLabel(l, def.Service, in.Name)
			if id := def.Service + ".input." + name + "." + in.Name; l.Has(id) {
				label = l.T(id) // this event's own word for it
			}
			inf := inputForm{Name: in.Name, Type: spec.Type, Label: label, Required: in.Required, Max: def.Limit(spec.Max)}
			if hint := def.Service + ".hint.input." + in.Name; l.Has(hint) {
				inf.Hint = l.T(hint)
			}
			if spec.Type == workflow.InputDivision { // a street or town of the city, by district
				inf.Groups = divisionGroups(divs)
			}
			for _, o := range spec.Options { // a choice
				inf.Choices = append(inf.Choices, choiceDoc{Value: o, Label: l.T(def.Service + ".option.input." + in.Name + "." + o)})
			}
			if spec.Choices == "materials" {
				for _, m := range def.Material {
					inf.Choices = append(inf.Choices, choiceDoc{Value: m, Label: l.T(def.Service + ".material." + m)})
				}
			}
			required = required || in.Required
			f.Inputs = append(f.Inputs, inf)
		}
		if !primary && !required && !f.Negative {
			f.Primary, primary = true, true
		}
		out = append(out, f)
	}
	return out
}

func (s *Server) casePageWith(c *fiber.Ctx, no string, status int, d *caseData, err error) error {
	v, doc, lerr := s.loadCase(c, no)
	if lerr != nil {
		return lerr
	}
	d.Case = doc
	u := currentUser(c)
	_, d.CanAudit = s.Authz.Can(u, v.Case.Division, "audit", "read")
	_, d.CanReveal = s.Authz.Can(u, v.Case.Division, "idnumber", "reveal")
	d.Events = eventForms(doc.L, v.Def, v.Allowed, s.Authz.Divisions())
	desk, derr := s.deskPanel(c, v)
	if derr != nil {
		return derr
	}
	d.Desk, d.Next = desk, u.Kind == portal.KindStaff && len(d.Events) > 0
	if d.Desk != nil && d.Failed == "assign" {
		d.Desk.Login = d.Input["login"]
	}
	if prev := c.Query("prev"); portal.ValidCaseNo(prev) {
		d.Prev = prev
	}
	if !doc.Draft || v.Owner {
		mv, err := s.Engine.MaterialsOf(ctx(c), actor(c), v)
		if err != nil {
			return err
		}
		if mv != nil {
			d.Materials, d.MaterialsEditable = checklistDocs(doc.L, mv), mv.Editable
		}
	}
	if v.Owner {
		log, err := s.Engine.AccessLogOf(ctx(c), v)
		if err != nil {
			return err
		}
		d.Access, d.ShowAccess = s.accessDocs(doc.L, log), true
		st := v.Def.States[v.Case.State]
		if err := s.caseRating(c, d, v.Case, st.Final && !st.Private); err != nil {
			return err
		}
	}
	d.Certificate = v.Def.Certificate != nil && v.Def.Outcome(v.Case.State) == workflow.OutcomeGranted
	// The confirmation ("submitted", "approved", …) is for the step just
	// done; an old link or a reload after the case moved on must not show it.
	if d.Done != "" && (len(v.History) == 0 || v.History[len(v.History)-1].Event != d.Done) {
		d.Done = ""
	}
	p := s.newPage(c, "", d)
	p.Title = doc.ServiceName + " " + doc.CaseNo
	p.Service = v.Case.Service
	if err != nil {
		p.Errors, p.Summary = fieldMessages(c, err)
		if pe := portal.AsError(err); pe != nil && pe.Rule == "materials_complete" {
			// Files the checklist still needs: each links to its item.
			for i, it := range p.Summary {
				if it.Field != "" {
					p.Summary[i].Href = "/cases/" + v.Case.No + "/materials#item-" + it.Field
				}
			}
		} else if pe != nil && pe.Labels == v.Case.Service+".field" {
			// The form is not complete: link each answer to its page.
			for i, it := range p.Summary {
				if it.Field != "" {
					p.Summary[i].Href = fieldHref(v.Case.No, v.Service.Pages(), it.Field)
				}
			}
		} else if d.Failed != "" {
			// An action's inputs: each is drawn with the id <event>-<input>.
			for i, it := range p.Summary {
				if top, _, _ := strings.Cut(it.Field, "["); top != "" {
					p.Summary[i].Href = "#" + d.Failed + "-" + top
				}
			}
		}
	}
	return s.write(c, status, "case", p)
}

// fieldHref links an answer to where it is given: its page, or for a list
// entry's answer ("members[1].id_number") that entry's own page.
func fieldHref(no string, pages []workflow.Page, field string) string {
	top, rest, inList := strings.Cut(field, "[")
	for _, p := range pages {
		switch {
		case p.List != "" && p.List == top:
			idx, sub, ok := strings.Cut(rest, "].")
			if n, err := strconv.Atoi(idx); inList && ok && err == nil && n >= 0 {
				return editHref(no, p.ID, false, "item", strconv.Itoa(n)) + "#field-" + sub
			}
			return editHref(no, p.ID, false) + "#field-" + field
		case p.List == "" && slices.ContainsFunc(p.Fields, func(f workflow.Field) bool { return f.Name == top }):
			return editHref(no, p.ID, false) + "#field-" + field
		}
	}
	return "/cases/" + no
}

func (s *Server) casePage(c *fiber.Ctx) error {
	return s.casePageWith(c, c.Params("no"), fiber.StatusOK, &caseData{Done: c.Query("done")}, nil)
}

// eventInput reads an action's form: each input the event declares — a
// list from its ticked boxes and its "other" lines, one entry each.
func eventInput(c *fiber.Ctx, def *workflow.Definition, event string) (workflow.Input, map[string]string, []string) {
	in := workflow.Input{Values: portal.Inputs{}}
	in.Version, _ = strconv.Atoi(c.FormValue("version"))
	typed := map[string]string{}
	var ticked []string
	ev, ok := def.Events[event]
	if !ok {
		return in, typed, nil
	}
	for _, x := range ev.Inputs {
		switch def.Inputs[x.Name].Type {
		case workflow.InputList:
			var list []string
			for _, v := range c.Request().PostArgs().PeekMulti(x.Name) {
				list = append(list, string(v))
			}
			ticked = append(ticked, list...)
			other := c.FormValue(x.Name + "_other")
			typed[x.Name+"_other"] = other
			if list = append(list, formLines(other)...); len(list) > 0 {
				in.Values[x.Name] = list
			}
		default:
			if v := c.FormValue(x.Name); v != "" {
				in.Values[x.Name] = v
				typed[x.Name] = v
			}
		}
	}
	return in, typed, ticked
}

func (s *Server) fireEvent(c *fiber.Ctx) error {
	no, event := c.Params("no"), c.Params("event")
	// The inputs are read by the service's definition, known from the
	// case number; Fire reads the case (once, locked) and checks the rest.
	ent, ok := s.Engine.Registry.ByCaseNo(no)
	if !ok {
		return portal.NotFound(nil) // no online service numbers its cases so
	}
	in, typed, ticked := eventInput(c, ent.Def, event)
	v, err := s.Engine.Fire(ctx(c), actor(c), no, event, in)
	if formError(err) {
		d := &caseData{Failed: event, Input: typed, Ticked: ticked}
		return s.casePageWith(c, no, status(portal.ErrorCode(err)), d, err)
	}
	if err != nil {
		return err
	}
	if ev := ent.Def.Events[event]; ev != nil && ev.Transfer != "" {
		// The case has left this office: back to the worklist, which says so.
		return redirect(c, "/cases?done=transfer&case="+no)
	}
	if c.FormValue("_next") == "1" && len(v.History) > 0 {
		// "… and open the next one": the next case waiting where this one was.
		return redirect(c, s.nextHref(c, v, v.History[len(v.History)-1].From))
	}
	return redirect(c, "/cases/"+no+"?done="+event)
}

// reveal returns a full ID number of the case to staff allowed to see it,
// audited: the applicant's (field "") or one the form keeps sealed.
func (s *Server) reveal(c *fiber.Ctx, no, field string) (*workflow.View, string, error) {
	v, err := s.Engine.Get(ctx(c), actor(c), no)
	if err != nil {
		return nil, "", err
	}
	id, err := s.Accounts.RevealID(ctx(c), actor(c), v.Case, field, func() (string, error) {
		return v.Service.Reveal(v.Case.Form, field)
	}, s.Engine.Access(actor(c), v.Case, portal.AccessReveal))
	return v, id, err
}

func (s *Server) revealID(c *fiber.Ctx) error {
	no, field := c.Params("no"), c.FormValue("field")
	_, id, err := s.reveal(c, no, field)
	if err != nil {
		return err
	}
	return s.casePageWith(c, no, fiber.StatusOK, &caseData{Revealed: map[string]string{field: id}}, nil)
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

// choiceLabels names the values of a case's ranked fields (a school for its
// code) when its service reads their options (workflow.Optioner).
func (s *Server) choiceLabels(c *fiber.Ctx, v *workflow.View) map[string]string {
	opt, ok := v.Service.(workflow.Optioner)
	if !ok {
		return nil
	}
	out := map[string]string{}
	for _, p := range v.Service.Pages() {
		for _, f := range p.Fields {
			if f.Kind != workflow.KindRanked {
				continue
			}
			list, err := opt.Options(ctx(c), s.Store, v.Case.Form, f.Name)
			if err != nil {
				s.Logger.Warn("choices not named", "case", v.Case.No, "err", err)
				continue
			}
			for _, o := range list {
				out[o.Value] = o.Label
			}
		}
	}
	return out
}
