package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"tzportal/portal"
	"tzportal/portal/locale"
	"tzportal/portal/workflow"
)

// caseDoc is a case as the API returns it and the case page shows it.
type caseDoc struct {
	CaseNo        string          `json:"case_no"`
	Service       string          `json:"service"`
	ServiceName   string          `json:"service_name"`
	State         string          `json:"state"`
	StateLabel    string          `json:"state_label"`
	Outcome       string          `json:"outcome,omitempty"` // granted, refused or withdrawn, once the case has ended
	Version       int             `json:"version"`
	Division      string          `json:"division"`
	DivisionName  string          `json:"division_name"`
	Form          json.RawMessage `json:"form"` // as the viewer may see it: sealed numbers masked for staff
	AllowedEvents []string        `json:"allowed_events"`
	Editable      bool            `json:"editable"`
	Timeline      []timelineDoc   `json:"timeline"`
	Result        json.RawMessage `json:"result"`
	Due           *dueDoc         `json:"due,omitempty"`
	Correction    *correctionDoc  `json:"correction,omitempty"`
	Applicant     *applicantDoc   `json:"applicant,omitempty"`
	// Holder is the staff member working the case (staff only; absent when
	// nobody holds it).
	Holder    *holderDoc `json:"holder,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`

	// For the page only.
	Steps    []timelineDoc `json:"-"` // the timeline, a run of edits by one person shown once
	Sections []section     `json:"-"`
	Final    bool          `json:"-"`
	Tone     string        `json:"-"` // how the status tag looks: granted, refused, withdrawn, yours, open
	Draft    bool          `json:"-"` // in the initial state: the answers are to be checked
	Results  resultData    `json:"-"` // the result, decoded, for the service's result panel
	Refusal  string        `json:"-"` // the reason of a refusal
	L        *locale.L     `json:"-"`
}

// resultData is a case's result for a template: keys as the service wrote them.
type resultData map[string]any

// Has reports whether the result has a non-empty value for key.
func (r resultData) Has(key string) bool { v, ok := r[key]; return ok && v != "" && v != nil }

type timelineDoc struct {
	Event      string        `json:"event"`
	EventLabel string        `json:"event_label"`
	From       string        `json:"from"`
	To         string        `json:"to"`
	ToLabel    string        `json:"to_label"`
	ActorRole  string        `json:"actor_role"`
	RoleLabel  string        `json:"role_label"`
	At         time.Time     `json:"at"`
	Reason     string        `json:"reason,omitempty"`
	Items      []string      `json:"items,omitempty"`
	Inputs     portal.Inputs `json:"inputs,omitempty"` // every input of the step, reason and items included
	Shown      []inputDoc    `json:"-"`                // inputs but the reason and items, labelled
	ItemLabels []string      `json:"-"`
	AtText     string        `json:"-"`
	Times      int           `json:"-"` // on the page: how many edits in a row this line stands for
}

// inputDoc is one input of a step, labelled for the timeline.
type inputDoc struct {
	Label, Value string
}

// dueDoc is the time limit of the current state, as a countdown.
type dueDoc struct {
	At        time.Time `json:"at"`
	LastDay   string    `json:"last_day"`  // YYYY-MM-DD, China time
	Remaining int       `json:"remaining"` // days (working days if Working) left, today included
	Working   bool      `json:"working_days"`
	Overdue   bool      `json:"overdue"`
}

// correctionDoc is the latest correction request (一次告知), while the case
// waits for the applicant.
type correctionDoc struct {
	Reason     string   `json:"reason"`
	Items      []string `json:"items"`
	ItemLabels []string `json:"-"`
}

// holderDoc is who holds a case (认领/指派): their name, and whether it
// is the viewer.
type holderDoc struct {
	Name string `json:"name"`
	Mine bool   `json:"mine"`
}

type applicantDoc struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number"` // masked for staff unless revealed
	Mobile   string `json:"mobile"`
}

// section is one page of a form's answers.
type section struct {
	Page    string
	Title   string
	Href    string // where to change it, when the viewer may
	List    bool
	Answers []answer
	Entries []entry
}

// entry is one entry of a list page (a family member).
type entry struct {
	Index   int
	Title   string // 家庭成员 1
	Answers []answer
	Href    string // its own page, on a list page
}

// answer is one labelled value of a form.
type answer struct {
	Field   string // path in the form: address, members[1].id_number
	Label   string
	Value   string
	Missing bool
	Sealed  bool // an ID number staff see masked and may reveal
}

// serviceName is the localized name of a service.
func serviceName(l *locale.L, service string) string { return l.T(service + ".name") }

// stateLabel is the familiar word for a state of a service (已提交, 需补正, …).
func stateLabel(l *locale.L, service, state string) string { return l.T(service + ".state." + state) }

// eventLabel names a step of the timeline: the service's events, and the
// portal's pseudo-events (create, edit, amend).
func eventLabel(l *locale.L, service, event string) string {
	switch event {
	case portal.EventCreate, portal.EventEdit, portal.EventAmend, portal.EventClaim, portal.EventRelease, portal.EventAssign:
		return l.T("event." + event)
	}
	return l.T(service + ".event." + event)
}

// inputLabel names an input of a step: the service's, else the portal's own
// (the inputs of an amendment).
func inputLabel(l *locale.L, service, name string) string {
	if id := service + ".input." + name; l.Has(id) {
		return l.T(id)
	}
	return l.T("input." + name)
}

// due builds the countdown for a case's current state.
func (s *Server) due(c *portal.Case, def *workflow.Definition) *dueDoc {
	if c.DueAt == nil {
		return nil
	}
	cal := s.Engine.Calendar
	working := def.States[c.State].Deadline.Working
	now := s.Now()
	return &dueDoc{At: *c.DueAt, LastDay: cal.LastDay(*c.DueAt).Format(time.DateOnly),
		Remaining: cal.Remaining(now, *c.DueAt, working), Working: working, Overdue: !now.Before(*c.DueAt)}
}

// itemLabels localizes correction items that name a material of the service.
func itemLabels(l *locale.L, def *workflow.Definition, items []string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		if slices.Contains(def.Material, it) {
			out[i] = l.T(def.Service + ".material." + it)
		} else {
			out[i] = it
		}
	}
	return out
}

// present builds the document of a case for its viewer; staff also see
// who holds it, and the desk's steps (claims, releases, assignments) in
// the timeline.
func (s *Server) present(l *locale.L, v *workflow.View, applicant *applicantDoc, choices map[string]string, staff *portal.User) *caseDoc {
	c, def := v.Case, v.Def
	divs := s.Authz.Divisions()
	d := &caseDoc{
		CaseNo: c.No, Service: c.Service, ServiceName: serviceName(l, c.Service), State: c.State,
		StateLabel: stateLabel(l, c.Service, c.State), Outcome: def.Outcome(c.State), Version: c.Version, Division: c.Division,
		Form: v.Form, AllowedEvents: v.Allowed, Editable: v.Editable, Result: c.Result,
		Due: s.due(c, def), Applicant: applicant, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		Final: def.States[c.State].Final, Tone: def.Tone(c.State), Draft: c.State == def.Initial, L: l,
	}
	if d.AllowedEvents == nil {
		d.AllowedEvents = []string{}
	}
	if dv, ok := divs.Get(c.Division); ok {
		d.DivisionName = districtAndName(divs, dv)
	}
	json.Unmarshal(c.Result, &d.Results) // a result that does not decode shows no panel
	zone := s.Engine.Calendar.Zone
	if staff != nil && c.HolderID != nil {
		d.Holder = &holderDoc{Name: c.HolderName, Mine: *c.HolderID == staff.ID}
	}
	for i, h := range v.History {
		if staff == nil && portal.DeskEvent(h.Event) {
			continue // who works the case is the office's business
		}
		t := timelineDoc{Event: h.Event, EventLabel: eventLabel(l, c.Service, h.Event), From: h.From, To: h.To,
			ToLabel: stateLabel(l, c.Service, h.To), ActorRole: h.ActorRole, RoleLabel: roleLabel(l, h.ActorRole),
			At: h.At, Reason: h.Inputs.Text("reason"), Items: h.Inputs.List("items"), Inputs: h.Inputs,
			ItemLabels: itemLabels(l, def, h.Inputs.List("items")), AtText: h.At.In(zone).Format("2006-01-02 15:04")}
		for _, name := range sortedInputs(def, h.Inputs) {
			if name != "reason" && name != "items" {
				value := h.Inputs.Text(name)
				if dv, ok := divs.Get(value); ok && (name == "division" || name == "from_division") {
					value = districtAndName(divs, dv) // a transfer's offices, by name
				}
				t.Shown = append(t.Shown, inputDoc{Label: inputLabel(l, c.Service, name), Value: value})
			}
		}
		d.Timeline = append(d.Timeline, t)
		// A form filled in page by page is an edit per page: the page shows
		// a run of edits by one person as one line, the latest.
		if n := len(d.Steps); n > 0 && h.Event == portal.EventEdit && d.Steps[n-1].Event == portal.EventEdit &&
			i > 0 && sameActor(v.History[i-1], h) {
			t.Times = d.Steps[n-1].Times + 1
			d.Steps[n-1] = t
		} else {
			t.Times = 1
			d.Steps = append(d.Steps, t)
		}
		if h.To == c.State && len(t.Items) > 0 && len(def.States[c.State].EditableBy) > 0 {
			d.Correction = &correctionDoc{Reason: t.Reason, Items: t.Items, ItemLabels: t.ItemLabels}
		}
	}
	if d.Outcome == workflow.OutcomeRefused && len(v.History) > 0 {
		d.Refusal = v.History[len(v.History)-1].Inputs.Text("reason")
	}
	var href func(page string) string
	if v.Editable {
		href = func(page string) string { return editHref(c.No, page, false) }
	}
	d.Sections = s.answers(l, c.Service, v.Service.Pages(), v.Form, href, v.Owner, choices)
	return d
}

// sameActor reports whether two steps were taken by the same person.
func sameActor(a, b portal.History) bool {
	return a.ActorID != nil && b.ActorID != nil && *a.ActorID == *b.ActorID
}

// sortedInputs returns the inputs of a step in the order the workflow
// declares them (undeclared ones — an amendment's — by name after them).
func sortedInputs(def *workflow.Definition, in portal.Inputs) []string {
	var out []string
	for _, name := range def.InputNames() {
		if _, ok := in[name]; ok {
			out = append(out, name)
		}
	}
	var rest []string
	for name := range in {
		if !slices.Contains(out, name) {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// answers presents a form page by page: codes become names, choices their
// labels; an empty answer of a required page is shown as missing to the
// applicant who can still give it.
func (s *Server) answers(l *locale.L, service string, pages []workflow.Page, form json.RawMessage, href func(string) string, owner bool, choices map[string]string) []section {
	var vals map[string]any
	json.Unmarshal(form, &vals) // an unreadable form shows no answers
	var out []section
	for _, p := range pages {
		sec := section{Page: p.ID, Title: l.T(service + ".page." + p.ID), List: p.List != ""}
		if href != nil {
			sec.Href = href(p.ID)
		}
		if p.List == "" {
			for _, f := range p.Fields {
				if !f.Applies(vals) {
					continue
				}
				a := s.answer(l, service, f, f.Name, vals[f.Name], owner, choices)
				a.Missing = a.Value == "" && href != nil && !f.Optional
				sec.Answers = append(sec.Answers, a)
			}
		} else {
			list, _ := vals[p.List].([]any)
			for i, x := range list {
				obj, _ := x.(map[string]any)
				e := entry{Index: i, Title: l.Label(service+".field", fmt.Sprintf("%s[%d]", p.List, i))}
				for _, f := range p.Fields {
					a := s.answer(l, service, f, fmt.Sprintf("%s[%d].%s", p.List, i, f.Name), obj[f.Name], owner, choices)
					a.Label = l.T(service + ".field." + f.Name) // the entry's own heading numbers it
					e.Answers = append(e.Answers, a)
				}
				sec.Entries = append(sec.Entries, e)
			}
		}
		out = append(out, sec)
	}
	return out
}

// answer is one value shown for people; choices label the values of a
// ranked field (a school's name for its code).
func (s *Server) answer(l *locale.L, service string, f workflow.Field, path string, v any, owner bool, choices map[string]string) answer {
	a := answer{Field: path, Label: l.Label(service+".field", path), Value: valueText(v)}
	if a.Value == "" {
		return a
	}
	switch f.Kind {
	case workflow.KindChoice:
		a.Value = l.T(service + ".option." + f.Name + "." + a.Value)
	case workflow.KindDivision:
		if d, ok := s.Authz.Divisions().Get(a.Value); ok {
			a.Value = districtAndName(s.Authz.Divisions(), d)
		}
	case workflow.KindCounty:
		if name := s.Counties.FullName(a.Value); name != "" {
			a.Value = name + "（" + a.Value + "）"
		}
	case workflow.KindCity:
		if name := s.Counties.CityName(a.Value); name != "" {
			a.Value = name
		}
	case workflow.KindIDNumber:
		a.Sealed = !owner
	case workflow.KindBool:
		a.Value = map[bool]string{true: l.T("form.yes"), false: l.T("form.no")}[a.Value == "true"]
	case workflow.KindRanked:
		entries := strings.Split(a.Value, "\n")
		for i := range entries {
			if label, ok := choices[entries[i]]; ok {
				entries[i] = label
			}
			entries[i] = strconv.Itoa(i+1) + ". " + entries[i]
		}
		a.Value = strings.Join(entries, l.T("list.separator"))
	}
	return a
}

// valueText is a form value as text: JSON numbers without a decimal point.
func valueText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case []any: // a ranked field: one entry a line
		var out []string
		for _, it := range v {
			if s := valueText(it); s != "" {
				out = append(out, s)
			}
		}
		return strings.Join(out, "\n")
	}
	return ""
}

// districtAndName returns "海陵区 城东街道" for a street.
func districtAndName(divs *portal.Divisions, d portal.Division) string {
	if p, ok := divs.Get(d.Parent); ok && p.Code != divs.Root {
		return p.Name + " " + d.Name
	}
	return d.Name
}

// caseSummary is one row of a list.
type caseSummary struct {
	CaseNo       string    `json:"case_no"`
	Service      string    `json:"service"`
	ServiceName  string    `json:"service_name"`
	State        string    `json:"state"`
	StateLabel   string    `json:"state_label"`
	Outcome      string    `json:"outcome,omitempty"`
	Version      int       `json:"version"`
	Division     string    `json:"division"`
	DivisionName string    `json:"division_name"`
	Applicant    string    `json:"applicant,omitempty"`
	Holder       string    `json:"holder,omitempty"` // staff: who holds the case
	HeldByMe     bool      `json:"held_by_me,omitempty"`
	Due          *dueDoc   `json:"due,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	CreatedText  string    `json:"-"`
	DueText      string    `json:"-"` // the countdown in words, for the worklist
	Tone         string    `json:"-"`
}

// dueText is a countdown in words: "剩余 3 个工作日（截至 2026-12-02）".
func dueText(l *locale.L, d *dueDoc) string {
	switch {
	case d == nil:
		return ""
	case d.Overdue:
		return l.T("due.overdue", map[string]any{"Day": d.LastDay})
	case d.Working:
		return l.T("due.working", map[string]any{"N": d.Remaining, "Day": d.LastDay})
	}
	return l.T("due.days", map[string]any{"N": d.Remaining, "Day": d.LastDay})
}

func (s *Server) summaries(l *locale.L, cases []portal.Case, staff bool, viewer *portal.User) []caseSummary {
	divs := s.Authz.Divisions()
	zone := s.Engine.Calendar.Zone
	out := make([]caseSummary, 0, len(cases))
	texts, words, dues := map[dueKey]string{}, newDueWords(l), map[dueAt]*dueDoc{}
	for i := range cases {
		c := &cases[i]
		def, ok := s.Engine.Definition(c.Service)
		if !ok {
			continue
		}
		var due *dueDoc
		if c.DueAt != nil {
			// Cases handed in the same day share their due date: its
			// countdown (working days counted on the calendar) is made once.
			k := dueAt{c.DueAt.UnixMicro(), def.States[c.State].Deadline.Working}
			if due = dues[k]; due == nil {
				due = s.due(c, def)
				dues[k] = due
			}
		}
		cs := caseSummary{CaseNo: c.No, Service: c.Service, ServiceName: serviceName(l, c.Service), State: c.State,
			StateLabel: stateLabel(l, c.Service, c.State), Outcome: def.Outcome(c.State), Version: c.Version, Division: c.Division,
			Due: due, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, CreatedText: c.CreatedAt.In(zone).Format("2006-01-02"),
			Tone: def.Tone(c.State)}
		if dv, ok := divs.Get(c.Division); ok {
			cs.DivisionName = districtAndName(divs, dv)
		}
		if staff {
			cs.Applicant, cs.Holder = c.ApplicantName, c.HolderName
			cs.HeldByMe = c.HolderID != nil && viewer != nil && *c.HolderID == viewer.ID
		}
		if cs.Due != nil {
			// A page's cases share a few due dates: each countdown's words
			// are made once (a message with data runs a template).
			key := dueKey{cs.Due.LastDay, cs.Due.Remaining, cs.Due.Working, cs.Due.Overdue}
			text, ok := texts[key]
			if !ok {
				text = words.text(cs.Due)
				texts[key] = text
			}
			cs.DueText = text
		}
		out = append(out, cs)
	}
	return out
}

// dueWords are dueText's three sentences for a list, made once with
// placeholders for the day and the number (a message with data runs a
// template; a page has fifty rows).
type dueWords struct{ overdue, working, days string }

func newDueWords(l *locale.L) dueWords {
	data := map[string]any{"N": "\x00N", "Day": "\x00D"}
	return dueWords{overdue: l.T("due.overdue", data), working: l.T("due.working", data), days: l.T("due.days", data)}
}

// text is dueText(l, d), from the sentences made once.
func (w dueWords) text(d *dueDoc) string {
	f := w.days
	switch {
	case d == nil:
		return ""
	case d.Overdue:
		f = w.overdue
	case d.Working:
		f = w.working
	}
	return strings.NewReplacer("\x00N", strconv.Itoa(d.Remaining), "\x00D", d.LastDay).Replace(f)
}

// dueAt is what a countdown depends on (now being the same for a page).
type dueAt struct {
	micros  int64
	working bool
}

// dueKey is what a countdown's words depend on.
type dueKey struct {
	day              string
	remaining        int
	working, overdue bool
}

func cursor(next int64) *string {
	if next == 0 {
		return nil
	}
	s := strconv.FormatInt(next, 10)
	return &s
}

// roleLabel names the role a step was taken in; the portal's operator on
// the command line ("cli:<login>") is one role for readers.
func roleLabel(l *locale.L, role string) string {
	if strings.HasPrefix(role, "cli:") {
		return l.T("role.operator")
	}
	return l.T("role." + role)
}
