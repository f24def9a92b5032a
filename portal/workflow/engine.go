package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/looplab/fsm"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/validate"
)

// Service is what a citizen service plugs into the engine.
type Service interface {
	ID() string
	// Configure reads the service's settings from its definition; an error
	// stops start-up.
	Configure(d *Definition) error
	Guards() map[string]Guard
	Actions() map[string]Action
	// Form decodes, normalizes and validates an applicant's form, and returns
	// the JSON to store and the leaf division the case belongs to.
	Form(ctx context.Context, raw json.RawMessage) (json.RawMessage, string, error)
}

// Guard decides whether an event may fire; it returns a *portal.Error
// (usually ERULE, naming the rule) to refuse.
type Guard func(ctx context.Context, f *Firing) error

// Action does the work of an event inside its transaction, after the guards,
// e.g. issue a permit number into f.Case.Result.
type Action func(ctx context.Context, f *Firing) error

// Firing is one event being fired, as guards and actions see it.
type Firing struct {
	Def   *Definition
	Case  *portal.Case // actions may change Result
	Event string
	From  string
	Actor portal.Actor
	Role  string
	Input Input
	Tx    portal.Tx
	Now   time.Time
	Cal   *Calendar
	// History is the case's timeline; write appends the step it records.
	History []portal.History
}

// Input is what the person firing an event sends with it.
type Input struct {
	Reason  string   `json:"reason" form:"reason"`
	Items   []string `json:"items" form:"items"`
	Version int      `json:"version" form:"version"` // the version the person saw; 0 = don't check
}

// Authorizer is the part of authz the engine needs.
type Authorizer interface {
	Reach(u *portal.User, c *portal.Case) bool
	Can(u *portal.User, division, obj, act string) (role string, ok bool)
	Scope(u *portal.User, obj, act string) portal.CaseFilter
	Divisions() *portal.Divisions
}

// Engine runs the workflows. It is safe for concurrent use: nothing mutable
// is shared; an FSM is built per transition.
type Engine struct {
	Store    portal.Store
	Authz    Authorizer
	Audit    *audit.Log
	Calendar *Calendar
	Now      func() time.Time
	Log      *slog.Logger // optional: failures that must not fail the request

	defs     map[string]*Definition
	services map[string]Service
	// From the definitions, once: private state names per service ("":
	// of any service), and StaffStates' answers.
	privates map[string]map[string]bool
	staff    map[staffKey][]string
}

type staffKey struct {
	service string
	open    bool
}

// NewEngine wires definitions to the services that registered them. Every
// definition needs its service and every service its definition.
func NewEngine(defs map[string]*Definition, services []Service) (*Engine, error) {
	e := &Engine{defs: defs, services: map[string]Service{}}
	for _, s := range services {
		if _, ok := defs[s.ID()]; !ok {
			return nil, fmt.Errorf("workflow.NewEngine: service %s has no workflows/%s.yaml", s.ID(), s.ID())
		}
		if err := s.Configure(defs[s.ID()]); err != nil {
			return nil, err
		}
		e.services[s.ID()] = s
	}
	for id := range defs {
		if _, ok := e.services[id]; !ok {
			return nil, fmt.Errorf("workflow.NewEngine: workflows/%s.yaml has no service registered in code", id)
		}
	}
	e.privates = map[string]map[string]bool{"": {}}
	for id, def := range defs {
		e.privates[id] = map[string]bool{}
		for name, st := range def.States {
			if st.Private {
				e.privates[id][name], e.privates[""][name] = true, true
			}
		}
	}
	e.staff = map[staffKey][]string{}
	for _, service := range append([]string{""}, e.Services()...) {
		for _, open := range []bool{false, true} {
			e.staff[staffKey{service, open}] = e.staffStates(service, open)
		}
	}
	return e, nil
}

// RegistryFor returns the guards and actions services registered, for LoadAll.
func RegistryFor(roles map[string]bool, services []Service) Registry {
	r := Registry{Roles: roles, Guards: map[string]map[string]bool{}, Actions: map[string]map[string]bool{}}
	for _, s := range services {
		r.Guards[s.ID()], r.Actions[s.ID()] = map[string]bool{}, map[string]bool{}
		for name := range s.Guards() {
			r.Guards[s.ID()][name] = true
		}
		for name := range s.Actions() {
			r.Actions[s.ID()][name] = true
		}
	}
	return r
}

// Definition returns the workflow of service.
func (e *Engine) Definition(service string) (*Definition, bool) {
	d, ok := e.defs[service]
	return d, ok
}

// Definitions returns every definition by service id.
func (e *Engine) Definitions() map[string]*Definition { return e.defs }

// Services returns the service ids in order.
func (e *Engine) Services() []string { return SortedServices(e.defs) }

func caseObject(no string) string { return "case:" + no }

// checkCaseNo answers 404 for what cannot be a case number, before any query.
func checkCaseNo(no string) error {
	if !portal.ValidCaseNo(no) {
		return portal.NotFound(fmt.Errorf("workflow: %q is not a case number", no))
	}
	return nil
}

// visible reports whether actor may see the case at all: it is within
// their reach, and — for anyone but its applicant — not in a private state.
// A draft (or a discarded draft) is the applicant's own: staff neither list
// nor open it (it answers 404, as a case out of reach).
func (e *Engine) visible(actor portal.Actor, c *portal.Case) bool {
	if actor.User == nil || !e.Authz.Reach(actor.User, c) {
		return false
	}
	if e.private(c.Service, c.State) && actor.User.ID != c.ApplicantID {
		return false
	}
	return true
}

// StaffStates lists the states in which staff see cases of a service (of
// every service if ""), in file order: every state but the private ones;
// only the non-final ones (the queue) if open. Callers must not modify it.
func (e *Engine) StaffStates(service string, open bool) []string {
	return e.staff[staffKey{service, open}]
}

func (e *Engine) staffStates(service string, open bool) []string {
	var out []string
	for _, id := range e.Services() {
		if service != "" && id != service {
			continue
		}
		def := e.defs[id]
		for _, st := range def.StateNames() {
			if e.private(service, st) || (open && def.States[st].Final) || slices.Contains(out, st) {
				continue
			}
			out = append(out, st)
		}
	}
	return out
}

// private reports whether st is a private state of the service — of any
// service if service is "" (a list over all services then leaves the state
// out for all of them: privacy first).
func (e *Engine) private(service, st string) bool {
	return e.privates[service][st]
}

// Denied records that actor was refused action on the case (for callers
// outside the engine that refuse on its behalf).
func (e *Engine) Denied(ctx context.Context, actor portal.Actor, action, no string) {
	e.denied(ctx, actor, action, no)
}

// denied records an access to a case outside the actor's reach, or an event
// they may not fire, in a transaction of its own (the request's own
// transaction is rolled back).
func (e *Engine) denied(ctx context.Context, actor portal.Actor, action, no string) {
	ent := audit.Entry(actor, action, caseObject(no), audit.ResultDenied)
	// The person gets the same 404/403 either way; an entry that could not be
	// written must at least reach the operator.
	if err := e.Audit.Record(context.WithoutCancel(ctx), e.Store, ent); err != nil && e.Log != nil {
		e.Log.Error("audit: could not record a denied access", "actor", ent.Actor, "action", action, "case", no, "err", err)
	}
}

// Fire fires event on the case in one transaction, and returns the case
// as the actor now sees it — from what the transaction read and wrote, with
// no second read after the commit.
func (e *Engine) Fire(ctx context.Context, actor portal.Actor, no, event string, in Input) (*View, error) {
	if err := checkCaseNo(no); err != nil {
		return nil, err
	}
	var out *View
	var deniedAction string
	err := e.Store.Tx(ctx, func(tx portal.Tx) error {
		deniedAction = ""
		// The history comes with the locked row: the separation-of-duty
		// rules read it, and the answer shows it.
		c, hist, err := tx.CaseWithHistoryForUpdate(ctx, no)
		if err != nil {
			return err
		}
		if !e.visible(actor, c) {
			deniedAction = "case.read"
			return portal.NotFound(fmt.Errorf("workflow.Fire(%s): out of reach", no))
		}
		def := e.defs[c.Service]
		ev, ok := def.Events[event]
		if !ok {
			return &portal.Error{Code: portal.ENOTFOUND, Message: "error.no_such_event", Data: map[string]any{"Event": event}}
		}
		role, ok := e.Authz.Can(actor.User, c.Division, c.Service, event)
		if !ok {
			deniedAction = "case." + event
			return &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden_event",
				Err: fmt.Errorf("workflow.Fire(%s, %s): role not allowed", no, event)}
		}
		f := &Firing{Def: def, Case: c, History: hist, Event: event, From: c.State, Actor: actor, Role: role, Input: in,
			Tx: tx, Now: e.Now(), Cal: e.Calendar}
		if err := e.check(f, ev); err != nil {
			return err
		}
		if err := e.transition(ctx, f, ev); err != nil {
			return err
		}
		out = e.view(actor, c, def, f.History)
		return nil
	})
	if deniedAction != "" {
		e.denied(ctx, actor, deniedAction, no)
	}
	return out, err
}

// check runs the checks that do not need the FSM: version, state,
// separation of duties and required inputs.
func (e *Engine) check(f *Firing, ev *Event) error {
	c := f.Case
	if f.Input.Version != 0 && f.Input.Version != c.Version {
		return &portal.Error{Code: portal.ECONFLICT, Message: "error.case_conflict",
			Err: fmt.Errorf("workflow.Fire(%s): version %d, caller saw %d", c.No, c.Version, f.Input.Version)}
	}
	if !slices.Contains(ev.From, c.State) {
		return &portal.Error{Code: portal.ECONFLICT, Message: "error.wrong_state",
			Data: map[string]any{"State": c.State}, Err: fmt.Errorf("workflow.Fire(%s): %s from %s", c.No, f.Event, c.State)}
	}
	if e.separated(f.Actor, ev, f.History) {
		return &portal.Error{Code: portal.EFORBIDDEN, Rule: "separation_of_duties", Message: "error.separation_of_duties"}
	}
	if f.Actor.User != nil && c.ApplicantID == f.Actor.User.ID && f.Actor.User.Kind != portal.KindApplicant {
		return &portal.Error{Code: portal.EFORBIDDEN, Rule: "separation_of_duties", Message: "error.own_case"}
	}
	return e.requirements(f, ev)
}

// requirements checks the inputs the event requires, and trims them.
func (e *Engine) requirements(f *Firing, ev *Event) error {
	maxReason := 500
	if v, ok := f.Def.Settings["reason_max_chars"].(int); ok {
		maxReason = v
	}
	in := &f.Input
	in.Reason = strings.TrimSpace(in.Reason)
	var items []string
	for _, it := range in.Items {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	in.Items = items
	if bad := validate.TextFields(in); len(bad) > 0 {
		return portal.Invalid(bad...)
	}
	var fields []portal.FieldError
	if slices.Contains(ev.Requires, RequireReason) {
		switch {
		case in.Reason == "":
			fields = append(fields, portal.FieldError{Field: "reason", Rule: "required"})
		case utf8.RuneCountInString(in.Reason) > maxReason:
			fields = append(fields, portal.FieldError{Field: "reason", Rule: "max", Param: fmt.Sprint(maxReason)})
		}
	} else {
		in.Reason = ""
	}
	if slices.Contains(ev.Requires, RequireItems) {
		switch {
		case len(in.Items) == 0:
			fields = append(fields, portal.FieldError{Field: "items", Rule: "required"})
		case len(in.Items) > 30:
			fields = append(fields, portal.FieldError{Field: "items", Rule: "max", Param: "30"})
		}
		for i, it := range in.Items {
			if utf8.RuneCountInString(it) > 200 {
				fields = append(fields, portal.FieldError{Field: fmt.Sprintf("items[%d]", i), Rule: "max", Param: "200"})
			}
		}
	} else {
		in.Items = nil
	}
	if len(fields) > 0 {
		return portal.Invalid(fields...)
	}
	return nil
}

// transition runs the FSM (guards in before_<event>), the actions, and
// writes the case, its history row, its timer and the audit entry.
func (e *Engine) transition(ctx context.Context, f *Firing, ev *Event) error {
	c := f.Case
	svc := e.services[c.Service]
	machine := fsm.NewFSM(c.State, e.fsmEvents(f.Def), fsm.Callbacks{
		"before_" + f.Event: func(ctx context.Context, fe *fsm.Event) {
			for _, name := range ev.Guards {
				if err := svc.Guards()[name](ctx, f); err != nil {
					fe.Cancel(err)
					return
				}
			}
		},
	})
	if err := machine.Event(ctx, f.Event); err != nil {
		var canceled fsm.CanceledError
		if errors.As(err, &canceled) && canceled.Err != nil {
			return canceled.Err
		}
		return fmt.Errorf("workflow.Fire(%s, %s): %w", c.No, f.Event, err)
	}
	for _, name := range ev.Actions {
		if err := svc.Actions()[name](ctx, f); err != nil {
			return err
		}
	}
	return e.write(ctx, f, machine.Current(), f.Input.Reason, f.Input.Items)
}

// fsmEvents converts a definition to looplab/fsm events.
func (e *Engine) fsmEvents(d *Definition) fsm.Events {
	out := make(fsm.Events, 0, len(d.eventOrder))
	for _, name := range d.eventOrder {
		out = append(out, fsm.EventDesc{Name: name, Src: d.Events[name].From, Dst: d.Events[name].To})
	}
	return out
}

// write moves the case to state `to` with a compare-and-set on its version
// and records the step. Edits (to == from) keep the state's deadline.
func (e *Engine) write(ctx context.Context, f *Firing, to, reason string, items []string) error {
	c := f.Case
	prev := c.Version
	c.Version++
	c.UpdatedAt = f.Now
	if to != f.From || f.Event == portal.EventCreate {
		c.State = to
		c.StateSince = f.Now
		c.DueAt = nil
		if s := f.Def.States[to]; !s.Deadline.IsZero() {
			due := e.Calendar.Due(f.Now, s.Deadline)
			c.DueAt = &due
		}
	}
	var err error
	if f.Event == portal.EventCreate {
		err = f.Tx.InsertCase(ctx, c)
	} else {
		err = f.Tx.UpdateCase(ctx, c, prev)
	}
	if err != nil {
		return err
	}
	h := &portal.History{CaseID: c.ID, Seq: c.Version, Event: f.Event, From: f.From, To: c.State,
		ActorRole: f.Role, Reason: reason, Items: items, At: f.Now}
	if f.Actor.User != nil {
		id := f.Actor.User.ID
		h.ActorID = &id
	}
	if err := f.Tx.InsertHistory(ctx, h); err != nil {
		return err
	}
	f.History = append(f.History, *h)
	if s := f.Def.States[c.State]; to != f.From && s.OnTimeout != "" && c.DueAt != nil {
		if err := f.Tx.InsertJob(ctx, &portal.Job{CaseID: c.ID, Event: s.OnTimeout, Version: c.Version, DueAt: *c.DueAt}); err != nil {
			return err
		}
	}
	ent := audit.Entry(f.Actor, "case."+f.Event, caseObject(c.No), audit.ResultOK)
	if f.Role != "" {
		ent.Role = f.Role
	}
	ent.Division = c.Division
	ent = audit.WithDetail(ent, map[string]any{"from": f.From, "to": c.State, "version": c.Version})
	return e.Audit.Append(ctx, f.Tx, ent)
}

// Create makes a new case from an applicant's form, in the initial state.
// With a non-empty idemKey, the same key and form from the same user return
// the case made the first time; the same key with another form is EINVALID.
func (e *Engine) Create(ctx context.Context, actor portal.Actor, service string, raw json.RawMessage, idemKey string) (*portal.Case, error) {
	def, ok := e.defs[service]
	if !ok {
		return nil, portal.Invalid(portal.FieldError{Field: "service", Rule: "oneof"})
	}
	if actor.User == nil {
		return nil, portal.Errorf(portal.EUNAUTHORIZED, "error.login_required", nil)
	}
	if len(idemKey) > 200 {
		return nil, portal.Invalid(portal.FieldError{Field: "Idempotency-Key", Rule: "max", Param: "200"})
	}
	form, division, err := e.services[service].Form(ctx, raw)
	if err != nil {
		return nil, err
	}
	role, ok := e.Authz.Can(actor.User, division, service, portal.EventCreate)
	if !ok {
		return nil, &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden_create"}
	}
	sum := sha256.Sum256(append([]byte(service+"\x00"), form...))
	reqHash := hex.EncodeToString(sum[:])
	var out *portal.Case
	err = e.Store.Tx(ctx, func(tx portal.Tx) error {
		if idemKey != "" {
			id, hash, err := tx.Idempotency(ctx, actor.User.ID, idemKey)
			switch {
			case err == nil && hash != reqHash:
				return portal.Invalid(portal.FieldError{Field: "Idempotency-Key", Rule: "idempotency_reused"})
			case err == nil:
				out, err = tx.CaseByID(ctx, id)
				return err
			case portal.ErrorCode(err) != portal.ENOTFOUND:
				return err
			}
		}
		now := e.Now()
		day := now.In(e.Calendar.Zone).Format("20060102")
		seq, err := tx.NextSeq(ctx, "case:"+def.Code, day)
		if err != nil {
			return err
		}
		c := &portal.Case{
			No: fmt.Sprintf("TZ%s%s%06d", def.Code, day, seq), Service: service, ItemCode: def.ItemCode,
			ApplicantID: actor.User.ID, Division: division, District: e.Authz.Divisions().District(division),
			Form: form, Result: json.RawMessage("{}"), CreatedAt: now,
		}
		f := &Firing{Def: def, Case: c, Event: portal.EventCreate, Actor: actor, Role: role, Tx: tx, Now: now, Cal: e.Calendar}
		if err := e.write(ctx, f, def.Initial, "", nil); err != nil {
			return err
		}
		if idemKey != "" {
			if err := tx.ClaimIdempotency(ctx, actor.User.ID, idemKey, reqHash, c.ID, now); err != nil {
				return err
			}
		}
		out = c
		return nil
	})
	return out, err
}

// Edit replaces the form of a case in a state where the actor may edit it
// (a draft, or a case returned for correction).
func (e *Engine) Edit(ctx context.Context, actor portal.Actor, no string, raw json.RawMessage, version int) (*portal.Case, error) {
	if err := checkCaseNo(no); err != nil {
		return nil, err
	}
	var out *portal.Case
	var deniedAction string
	err := e.Store.Tx(ctx, func(tx portal.Tx) error {
		deniedAction = ""
		c, err := tx.CaseByNoForUpdate(ctx, no)
		if err != nil {
			return err
		}
		if !e.visible(actor, c) {
			deniedAction = "case.read"
			return portal.NotFound(fmt.Errorf("workflow.Edit(%s): out of reach", no))
		}
		def := e.defs[c.Service]
		role, ok := e.Authz.Can(actor.User, c.Division, c.Service, EditAction(c.State))
		if !ok {
			if len(def.States[c.State].EditableBy) == 0 {
				return &portal.Error{Code: portal.ECONFLICT, Message: "error.not_editable", Data: map[string]any{"State": c.State}}
			}
			deniedAction = "case.edit"
			return &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden_event"}
		}
		if version != 0 && version != c.Version {
			return &portal.Error{Code: portal.ECONFLICT, Message: "error.case_conflict"}
		}
		form, division, err := e.services[c.Service].Form(ctx, raw)
		if err != nil {
			return err
		}
		if _, ok := e.Authz.Can(actor.User, division, c.Service, EditAction(c.State)); !ok {
			return &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden_event"}
		}
		c.Form, c.Division, c.District = form, division, e.Authz.Divisions().District(division)
		f := &Firing{Def: def, Case: c, Event: portal.EventEdit, From: c.State, Actor: actor, Role: role, Tx: tx, Now: e.Now(), Cal: e.Calendar}
		if err := e.write(ctx, f, c.State, "", nil); err != nil {
			return err
		}
		out = c
		return nil
	})
	if deniedAction != "" {
		e.denied(ctx, actor, deniedAction, no)
	}
	return out, err
}

// View is a case as one person may see it.
type View struct {
	Case     *portal.Case
	Def      *Definition
	History  []portal.History
	Allowed  []string // events the viewer may fire now
	Editable bool     // the viewer may edit the form now
}

// Get returns the case if the actor may see it; otherwise ENOTFOUND,
// exactly as for a case that does not exist, and an audit entry.
func (e *Engine) Get(ctx context.Context, actor portal.Actor, no string) (*View, error) {
	if err := checkCaseNo(no); err != nil {
		return nil, err
	}
	c, hist, err := e.Store.CaseWithHistory(ctx, no)
	if err != nil {
		return nil, err
	}
	if !e.visible(actor, c) {
		e.denied(ctx, actor, "case.read", no)
		return nil, portal.NotFound(fmt.Errorf("workflow.Get(%s): out of reach", no))
	}
	return e.view(actor, c, e.defs[c.Service], hist), nil
}

// view is the case as actor sees it: the events they may fire now and
// whether they may edit it.
func (e *Engine) view(actor portal.Actor, c *portal.Case, def *Definition, hist []portal.History) *View {
	v := &View{Case: c, Def: def, History: hist}
	for _, ev := range def.EventsFrom(c.State) {
		if _, ok := e.Authz.Can(actor.User, c.Division, c.Service, ev); ok && !e.separated(actor, def.Events[ev], hist) {
			v.Allowed = append(v.Allowed, ev)
		}
	}
	_, v.Editable = e.Authz.Can(actor.User, c.Division, c.Service, EditAction(c.State))
	return v
}

// separated reports whether a separation-of-duty rule stops actor from firing ev.
func (e *Engine) separated(actor portal.Actor, ev *Event, hist []portal.History) bool {
	for _, h := range hist {
		if slices.Contains(ev.NotByActorOf, h.Event) && h.ActorID != nil && actor.User != nil && *h.ActorID == actor.User.ID {
			return true
		}
	}
	return false
}

// ListFilter is what a person may ask of a list.
type ListFilter struct {
	Service string
	States  []string
	Overdue bool
	After   int64
	Limit   int
}

// List returns one page of the cases the actor may see: an applicant's own
// (newest first), or the cases of a staff member's jurisdiction (oldest
// first: a queue is worked first come, first served). next is the cursor
// of the next page, 0 at the end.
func (e *Engine) List(ctx context.Context, actor portal.Actor, lf ListFilter) (cases []portal.Case, next int64, err error) {
	if actor.User == nil {
		return nil, 0, portal.Errorf(portal.EUNAUTHORIZED, "error.login_required", nil)
	}
	f := e.Authz.Scope(actor.User, "case", "read")
	f.Desc = actor.User.Kind == portal.KindApplicant
	f.Service, f.States, f.After = lf.Service, lf.States, lf.After
	if actor.User.Kind != portal.KindApplicant {
		// Staff never see private states (see visible).
		if len(f.States) == 0 {
			f.States = e.StaffStates(lf.Service, false)
		} else {
			f.States = slices.DeleteFunc(slices.Clone(f.States), func(st string) bool { return e.private(lf.Service, st) })
		}
		if len(f.States) == 0 {
			return nil, 0, nil
		}
	}
	if lf.Overdue {
		now := e.Now()
		f.OverdueAt = &now
	}
	limit := lf.Limit
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	f.Limit = limit + 1 // one more tells whether there is a next page, without COUNT(*)
	f.NoForm = true     // lists show no form
	cases, err = e.Store.ListCases(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	if len(cases) > limit {
		cases = cases[:limit]
		next = cases[limit-1].ID
	}
	return cases, next, nil
}
