package server

import (
	"encoding/json"
	"slices"
	"strconv"
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
	Version       int             `json:"version"`
	Division      string          `json:"division"`
	DivisionName  string          `json:"division_name"`
	Form          json.RawMessage `json:"form"`
	AllowedEvents []string        `json:"allowed_events"`
	Editable      bool            `json:"editable"`
	Timeline      []timelineDoc   `json:"timeline"`
	Result        json.RawMessage `json:"result"`
	Due           *dueDoc         `json:"due,omitempty"`
	Correction    *correctionDoc  `json:"correction,omitempty"`
	Applicant     *applicantDoc   `json:"applicant,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`

	// For the page only.
	Fields  []formField `json:"-"`
	Final   bool        `json:"-"`
	Outcome string      `json:"-"` // approved, rejected, withdrawn: how the case ended
}

type timelineDoc struct {
	Event      string    `json:"event"`
	EventLabel string    `json:"event_label"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	ToLabel    string    `json:"to_label"`
	ActorRole  string    `json:"actor_role"`
	RoleLabel  string    `json:"role_label"`
	At         time.Time `json:"at"`
	Reason     string    `json:"reason,omitempty"`
	Items      []string  `json:"items,omitempty"`
	ItemLabels []string  `json:"-"`
	AtText     string    `json:"-"`
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

type applicantDoc struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number"` // masked for staff unless revealed
	Mobile   string `json:"mobile"`
}

type formField struct {
	Name  string
	Label string
	Value string
}

// serviceName is the localized name of a service.
func serviceName(l *locale.L, service string) string { return l.T("service." + service + ".name") }

// stateLabel is the familiar word for a state (已提交, 需补正, …).
func stateLabel(l *locale.L, state string) string { return l.T("state." + state) }

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
			out[i] = l.T("material." + def.Service + "." + it)
		} else {
			out[i] = it
		}
	}
	return out
}

// present builds the document of a case for its viewer.
func (s *Server) present(l *locale.L, v *workflow.View, applicant *applicantDoc) *caseDoc {
	c, def := v.Case, v.Def
	divs := s.Authz.Divisions()
	d := &caseDoc{
		CaseNo: c.No, Service: c.Service, ServiceName: serviceName(l, c.Service), State: c.State,
		StateLabel: stateLabel(l, c.State), Version: c.Version, Division: c.Division,
		Form: c.Form, AllowedEvents: v.Allowed, Editable: v.Editable, Result: c.Result,
		Due: s.due(c, def), Applicant: applicant, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		Final: def.States[c.State].Final,
	}
	if d.AllowedEvents == nil {
		d.AllowedEvents = []string{}
	}
	if dv, ok := divs.Get(c.Division); ok {
		d.DivisionName = districtAndName(divs, dv)
	}
	if d.Final {
		d.Outcome = c.State
	}
	zone := s.Engine.Calendar.Zone
	for _, h := range v.History {
		t := timelineDoc{Event: h.Event, EventLabel: l.T("event." + h.Event), From: h.From, To: h.To,
			ToLabel: stateLabel(l, h.To), ActorRole: h.ActorRole, RoleLabel: l.T("role." + h.ActorRole),
			At: h.At, Reason: h.Reason, Items: h.Items, ItemLabels: itemLabels(l, def, h.Items),
			AtText: h.At.In(zone).Format("2006-01-02 15:04")}
		d.Timeline = append(d.Timeline, t)
		if h.To == c.State && len(h.Items) > 0 && len(def.States[c.State].EditableBy) > 0 {
			d.Correction = &correctionDoc{Reason: h.Reason, Items: h.Items, ItemLabels: t.ItemLabels}
		}
	}
	d.Fields = formFields(l, c.Service, c.Form, divs)
	return d
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
	Version      int       `json:"version"`
	Division     string    `json:"division"`
	DivisionName string    `json:"division_name"`
	Applicant    string    `json:"applicant,omitempty"`
	Due          *dueDoc   `json:"due,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	CreatedText  string    `json:"-"`
	DueText      string    `json:"-"` // the countdown in words, for the worklist
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

func (s *Server) summaries(l *locale.L, cases []portal.Case, staff bool) []caseSummary {
	divs := s.Authz.Divisions()
	zone := s.Engine.Calendar.Zone
	out := make([]caseSummary, 0, len(cases))
	for i := range cases {
		c := &cases[i]
		def, ok := s.Engine.Definition(c.Service)
		if !ok {
			continue
		}
		cs := caseSummary{CaseNo: c.No, Service: c.Service, ServiceName: serviceName(l, c.Service), State: c.State,
			StateLabel: stateLabel(l, c.State), Version: c.Version, Division: c.Division,
			Due: s.due(c, def), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, CreatedText: c.CreatedAt.In(zone).Format("2006-01-02")}
		if dv, ok := divs.Get(c.Division); ok {
			cs.DivisionName = districtAndName(divs, dv)
		}
		if staff {
			cs.Applicant = c.ApplicantName
		}
		cs.DueText = dueText(l, cs.Due)
		out = append(out, cs)
	}
	return out
}

func cursor(next int64) *string {
	if next == 0 {
		return nil
	}
	s := strconv.FormatInt(next, 10)
	return &s
}
