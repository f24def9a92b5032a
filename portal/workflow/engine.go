package workflow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/looplab/fsm"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/validate"
)

// Firing is one event being fired, as guards, conditions and actions see it.
type Firing struct {
	Def   *Definition
	Case  *portal.Case // actions may change Result
	Event string
	From  string
	To    string // the state the event leads to (after the conditions chose)
	Actor portal.Actor
	Role  string
	Input Input
	Tx    portal.Tx
	Now   time.Time
	Cal   *Calendar
	// History is the case's timeline; write appends the step it records.
	History []portal.History

	e *Engine
}

// Input is what the person firing an event sends with it.
type Input struct {
	Values  portal.Inputs // declared inputs by name: strings, dates, lists of strings
	Version int           // the version the person saw; 0 = don't check
	// IdempotencyKey makes a repeated request answer as the first did.
	IdempotencyKey string
}

// Authorizer is the part of authz the engine needs.
type Authorizer interface {
	Reach(u *portal.User, c *portal.Case) bool
	Can(u *portal.User, division, obj, act string) (role string, ok bool)
	Scope(u *portal.User, obj, act string) portal.CaseFilter
	Divisions() *portal.Divisions
	// RoleMay answers Can for someone other than the person asking, from
	// one of their grants (who may hold a case).
	RoleMay(role, grantDivision, division, obj, act string) bool
}

// Config is what an engine needs; NewEngine refuses a missing part.
type Config struct {
	Registry  *Registry
	Store     portal.Store
	Authz     Authorizer
	Audit     *audit.Log
	Calendar  *Calendar
	Validator *validate.Validator // checks event inputs
	Now       func() time.Time
	Log       *slog.Logger // failures that must not fail the request
	// Files keeps the bytes of materials (a directory, or the database).
	Files portal.Files
	// Notifier writes the notices of steps that tell the applicant
	// (workflow files, notify) into the outbox, in the step's transaction.
	Notifier Notifier
	// Certifier signs the certificates approvals issue.
	Certifier Certifier
	// Deadline is policies/deadlines.yaml: the bands of the deadline views
	// and who is told of an overdue step.
	Deadline DeadlinePolicy
	// Sampling is policies/sampling.yaml: the daily re-review draw (nil:
	// none).
	Sampling *SamplingPolicy
	// Stats is policies/stats.yaml, with the staff roles whose steps are
	// decisions.
	Stats *StatsPolicy
	// Observer counts committed steps and background jobs for the
	// operators' metrics (nil: nothing is counted).
	Observer Observer
}

// Observer is told what operators watch: each committed step, how late a
// timer ran, and failed runs of background jobs.
type Observer interface {
	Transition(service, event string)
	JobRan(job string, lag time.Duration)
	JobFailed(job string)
}

// Notifier tells people of a step, inside its transaction: what it writes
// commits or rolls back with the step.
type Notifier interface {
	Notify(ctx context.Context, f *Firing) error
	// Escalated tells staff (the supervisors of the case's division) that
	// f's case went past the deadline of its step: their inbox only.
	Escalated(ctx context.Context, f *Firing, to []portal.User) error
}

// Certifier signs an issued certificate's public claims into the token its
// QR code carries.
type Certifier interface {
	Token(c *portal.Case, cert *portal.Certificate) (string, error)
}

// Engine runs the workflows. It is safe for concurrent use: nothing mutable
// is shared; an FSM is built per transition.
type Engine struct {
	Config
	// From the definitions, once: private state names per service ("":
	// of any service), and StaffStates' answers.
	privates map[string]map[string]bool
	staff    map[string][]string // StaffStates
	queued   map[string][]string // states of staff's queue (State.Queued), per service ("": of any service)
	granted  map[string][]string // states that end a case granted, per service ("": of any service, sorted)
	// firesFrom: role → service → the states from which the role may fire
	// some event (where a case waits on a system account of that role).
	firesFrom map[string]map[string][]string
	// steps: the states whose deadline is staff's, per service
	// (DeadlineSteps); pausable: the states a case may leave to wait on the
	// applicant, keeping their clock.
	steps    map[string][]string
	pausable map[string]map[string]bool
	// cleaning bounds the uploads being decoded at once.
	cleaning chan struct{}
	// calVersion is the newest change of the calendar this node applied.
	calVersion calendarVersion
	// counts keeps the worklist's counts per state a few seconds
	// (counts.go): the one cache of the engine, safe for concurrent use.
	counts *countsCache
}

// NewEngine returns the engine of the registry's services.
func NewEngine(c Config) (*Engine, error) {
	switch {
	case c.Registry == nil || c.Store == nil || c.Authz == nil || c.Audit == nil || c.Calendar == nil || c.Validator == nil ||
		c.Files == nil || c.Notifier == nil || c.Certifier == nil || c.Deadline.NotifyRole == "" || c.Stats == nil:
		return nil, errors.New("workflow.NewEngine: registry, store, authz, audit, calendar, validator, files, notifier, certifier, deadline and stats policies are all needed")
	case c.Now == nil:
		c.Now = time.Now
	}
	// Times as the databases keep them (microseconds): a request answered
	// again from what was stored answers exactly as the first time did.
	now := c.Now
	c.Now = func() time.Time { return now().Truncate(time.Microsecond) }
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Sampling != nil {
		for id := range c.Sampling.Services {
			if _, ok := c.Registry.Definition(id); !ok {
				return nil, fmt.Errorf("policies/%s: services: no service %s", SamplingFile, id)
			}
		}
	}
	e := &Engine{Config: c, privates: map[string]map[string]bool{"": {}}, staff: map[string][]string{},
		queued: map[string][]string{}, granted: map[string][]string{}, firesFrom: map[string]map[string][]string{},
		cleaning: make(chan struct{}, runtime.GOMAXPROCS(0)),
		counts:   &countsCache{ttl: time.Duration(c.Stats.WorklistCountsSeconds) * time.Second}}
	add := func(m map[string][]string, service, st string) {
		m[service] = append(m[service], st)
		if !slices.Contains(m[""], st) {
			m[""] = append(m[""], st)
		}
	}
	e.steps, e.pausable = deadlineSteps(c.Registry.Definitions()), map[string]map[string]bool{}
	for id, def := range c.Registry.Definitions() {
		e.pausable[id] = pausableStates(def)
		e.privates[id] = map[string]bool{}
		for _, name := range def.StateNames() {
			st := def.States[name]
			if st.Private {
				e.privates[id][name], e.privates[""][name] = true, true
			}
			if st.Queued() {
				add(e.queued, id, name)
			}
			if st.Outcome == OutcomeGranted {
				add(e.granted, id, name)
			}
		}
		for _, ev := range def.EventNames() {
			for _, st := range def.Events[ev].From {
				for _, role := range def.Events[ev].By.From(st) {
					if e.firesFrom[role] == nil {
						e.firesFrom[role] = map[string][]string{}
					}
					if !slices.Contains(e.firesFrom[role][id], st) {
						e.firesFrom[role][id] = append(e.firesFrom[role][id], st)
					}
				}
			}
		}
	}
	sort.Strings(e.granted[""])
	for _, service := range append([]string{""}, e.Services()...) {
		e.staff[service] = e.staffStates(service)
	}
	return e, nil
}

// Definition returns the workflow of an online service.
func (e *Engine) Definition(service string) (*Definition, bool) {
	return e.Registry.Definition(service)
}

// Definitions returns every online workflow by service id.
func (e *Engine) Definitions() map[string]*Definition { return e.Registry.Definitions() }

// Services returns the ids of the online services, in catalogue order.
func (e *Engine) Services() []string {
	var out []string
	for _, s := range e.Registry.Online() {
		out = append(out, s.ID)
	}
	return out
}

func (e *Engine) entry(service string) *Entry {
	s, _ := e.Registry.Get(service)
	return s
}

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
// nor open it (it answers 404, as a case out of reach). Another system
// sees only the cases waiting on it, and the ones it just moved.
func (e *Engine) visible(actor portal.Actor, c *portal.Case, hist []portal.History) bool {
	u := actor.User
	if u == nil || !e.Authz.Reach(u, c) {
		return false
	}
	if e.private(c.Service, c.State) && u.ID != c.ApplicantID {
		return false
	}
	if u.Kind == portal.KindSystem {
		return e.waitsOn(u, c) || e.movedLast(u, c, hist)
	}
	return true
}

// movedLast reports whether the case's last step is an event u fired and
// may fire (its own confirmation, which it may read back or send again) —
// not a linked record its event amended in another case.
func (e *Engine) movedLast(u *portal.User, c *portal.Case, hist []portal.History) bool {
	if len(hist) == 0 {
		return false
	}
	last := hist[len(hist)-1]
	if last.ActorID == nil || *last.ActorID != u.ID {
		return false
	}
	_, ok := e.Authz.Can(u, c.Division, c.Service, EventAction(last.Event, last.From))
	return ok
}

// waitsOn reports whether u may fire some event of the case now.
func (e *Engine) waitsOn(u *portal.User, c *portal.Case) bool {
	def, ok := e.Definition(c.Service)
	if !ok {
		return false
	}
	for _, ev := range def.EventsFrom(c.State) {
		if _, ok := e.Authz.Can(u, c.Division, c.Service, EventAction(ev, c.State)); ok {
			return true
		}
	}
	return false
}

// StaffStates lists the states in which staff see cases of a service (of
// every service if ""), in file order: every state but the private ones.
// Callers must not modify it.
func (e *Engine) StaffStates(service string) []string {
	return e.staff[service]
}

func (e *Engine) staffStates(service string) []string {
	var out []string
	for _, id := range e.Services() {
		if service != "" && id != service {
			continue
		}
		for _, st := range e.entry(id).Def.StateNames() {
			if !e.private(service, st) && !slices.Contains(out, st) {
				out = append(out, st)
			}
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

// Denied records an access to a case outside the actor's reach, or an
// event they may not fire, in a transaction of its own (the request's own
// transaction is rolled back). Callers that refuse on the engine's behalf
// (the audit page) record theirs with it too.
func (e *Engine) Denied(ctx context.Context, actor portal.Actor, action, no string) {
	e.DeniedOn(ctx, actor, action, caseObject(no))
}

// DeniedOn records a refused access to any object ("cohort:…").
func (e *Engine) DeniedOn(ctx context.Context, actor portal.Actor, action, object string) {
	ent := audit.Entry(actor, action, object, audit.ResultDenied)
	// The person gets the same 404/403 either way; an entry that could not be
	// written must at least reach the operator.
	if err := e.Audit.Record(context.WithoutCancel(ctx), e.Store, ent); err != nil {
		e.Log.Error("audit: could not record a denied access", "actor", ent.Actor, "action", action, "object", object, "err", err)
	}
}

// Fire fires event on the case in one transaction, and returns the case
// as the actor now sees it — from what the transaction read and wrote, with
// no second read after the commit.
//
// The checks, in order: an event a system account may never fire is 403
// (it fires its own events only); a case the actor cannot see is 404; an event the
// workflow does not have is 404; an event none of the actor's roles may
// ever fire is 403; an event that does not fire from the case's state is
// 409 (someone moved it on); an event the actor may not fire from this
// state is 403; a stale version is 409; separation of duties is 403; bad
// inputs are 422; a refusing guard is 422.
func (e *Engine) Fire(ctx context.Context, actor portal.Actor, no, event string, in Input) (*View, error) {
	if err := checkCaseNo(no); err != nil {
		return nil, err
	}
	if err := checkIdemKey(in.IdempotencyKey); err != nil {
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
		ent := e.entry(c.Service)
		def := ent.Def
		// A system account may fire its own events only: any other is 403
		// on every case, before whether it may see the case (a person gets
		// 404 for a case out of reach, which says nothing about it).
		if actor.User != nil && actor.User.Kind == portal.KindSystem && !e.mayEverFire(actor.User, c, def, event) {
			deniedAction = "case." + event
			return forbiddenEvent(no, event)
		}
		if !e.visible(actor, c, hist) {
			deniedAction = "case.read"
			return portal.NotFound(fmt.Errorf("workflow.Fire(%s): out of reach", no))
		}
		ev, ok := def.Events[event]
		if !ok {
			return &portal.Error{Code: portal.ENOTFOUND, Message: "error.no_such_event", Data: map[string]any{"Event": event}}
		}
		var reqHash string
		if in.IdempotencyKey != "" {
			reqHash = digest(no+"\x00"+event, normalized(in.Values))
			id, err := priorRequest(ctx, tx, actor.User.ID, in.IdempotencyKey, reqHash)
			switch {
			case err != nil:
				return err
			case id != 0 && id != c.ID:
				return errKeyReused()
			case id != 0:
				out = e.view(actor, c, ent, hist) // the first request's answer: nothing changes
				return nil
			}
		}
		if !e.mayEverFire(actor.User, c, def, event) {
			deniedAction = "case." + event
			return forbiddenEvent(no, event)
		}
		if ev.Cohort {
			return &portal.Error{Code: portal.ECONFLICT, Message: "error.cohort_event",
				Err: fmt.Errorf("workflow.Fire(%s): %s moves a cohort, not one case", c.No, event)}
		}
		if !slices.Contains(ev.From, c.State) {
			if ev.Idempotent && repeats(hist, event, in.Values) {
				out = e.view(actor, c, ent, hist) // a retry of what already happened
				return nil
			}
			return &portal.Error{Code: portal.ECONFLICT, Message: "error.wrong_state",
				Data: map[string]any{"State": c.State}, Err: fmt.Errorf("workflow.Fire(%s): %s from %s", c.No, event, c.State)}
		}
		role, ok := e.Authz.Can(actor.User, c.Division, c.Service, EventAction(event, c.State))
		if !ok {
			deniedAction = "case." + event
			return forbiddenEvent(no, event+" from "+c.State)
		}
		if actor.User.Kind == portal.KindStaff {
			// Someone else holds the case (holder.go): theirs to decide.
			holder, err := e.heldByOther(ctx, tx, actor.User, c, def, hist)
			if err != nil {
				return err
			}
			if holder != nil {
				return e.heldError(holder, c)
			}
		}
		f := e.firing(tx, def, c, event, actor, role, e.Now())
		f.History, f.Input = hist, in
		if err := e.check(f, ev); err != nil {
			if portal.ErrorCode(err) == portal.EFORBIDDEN {
				deniedAction = "case." + event // separation of duties: a refusal like any other
			}
			return err
		}
		if err := e.transition(ctx, f, ent, ev); err != nil {
			return err
		}
		if in.IdempotencyKey != "" {
			if err := tx.ClaimIdempotency(ctx, actor.User.ID, in.IdempotencyKey, reqHash, c.ID, f.Now); err != nil {
				return err
			}
		}
		out = e.view(actor, c, ent, f.History)
		return nil
	})
	e.auditRefusal(ctx, actor, no, deniedAction, err)
	return out, err
}

// auditRefusal records a refused transaction's denied action, if any: the
// action refused, or a claim refused because of someone else's case.
func (e *Engine) auditRefusal(ctx context.Context, actor portal.Actor, no, action string, err error) {
	if action == "" && claimedElsewhere(err) {
		action = "case.claim"
	}
	if action != "" {
		e.Denied(ctx, actor, action, no)
	}
}

// claimedElsewhere reports a refusal because someone in the case is in
// another applicant's open case: audited, since one could try ID numbers
// to learn who has applied.
func claimedElsewhere(err error) bool {
	pe := portal.AsError(err)
	return pe != nil && pe.Message == "error.claimed_elsewhere"
}

func forbiddenEvent(no, what string) error {
	return &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden_event",
		Err: fmt.Errorf("workflow.Fire(%s, %s): role not allowed", no, what)}
}

// mayEverFire reports whether u may fire event from some state of the case's
// workflow (else the answer is 403 whatever the state).
func (e *Engine) mayEverFire(u *portal.User, c *portal.Case, def *Definition, event string) bool {
	ev, ok := def.Events[event]
	if !ok {
		return false
	}
	for _, st := range ev.From {
		if _, ok := e.Authz.Can(u, c.Division, c.Service, EventAction(event, st)); ok {
			return true
		}
	}
	return false
}

// repeats reports whether the case's last step was event with the same inputs.
func repeats(hist []portal.History, event string, values portal.Inputs) bool {
	if len(hist) == 0 {
		return false
	}
	last := hist[len(hist)-1]
	return last.Event == event && reflect.DeepEqual(normalized(last.Inputs), normalized(values))
}

// normalized trims inputs the way the engine stores them, for comparing.
func normalized(in portal.Inputs) portal.Inputs {
	out := portal.Inputs{}
	for k, v := range in {
		switch v := v.(type) {
		case string:
			if s := strings.TrimSpace(v); s != "" {
				out[k] = s
			}
		case []string:
			var l []string
			for _, x := range v {
				if x = strings.TrimSpace(x); x != "" {
					l = append(l, x)
				}
			}
			if len(l) > 0 {
				out[k] = l
			}
		}
	}
	return out
}

// digest identifies a request for its idempotency key: what it names
// (case and event, or service) and its values as canonical JSON (maps
// marshal with sorted keys).
func digest(what string, values any) string {
	b, _ := json.Marshal(values) // strings, lists and maps of them: no error
	sum := sha256.Sum256(append([]byte(what+"\x00"), b...))
	return hex.EncodeToString(sum[:])
}

// priorRequest returns the case a first request with the key made or
// moved, 0 if the key is new; a key sent before with another request is
// refused.
func priorRequest(ctx context.Context, tx portal.Tx, userID int64, key, hash string) (int64, error) {
	id, h, err := tx.Idempotency(ctx, userID, key)
	switch {
	case portal.ErrorCode(err) == portal.ENOTFOUND:
		return 0, nil
	case err != nil:
		return 0, err
	case h != hash:
		return 0, errKeyReused()
	}
	return id, nil
}

func errKeyReused() error {
	return portal.Invalid(portal.FieldError{Field: "Idempotency-Key", Rule: "idempotency_reused"})
}

// check runs the checks that do not need the FSM: version, separation of
// duties and inputs.
func (e *Engine) check(f *Firing, ev *Event) error {
	c := f.Case
	if f.Input.Version != 0 && f.Input.Version != c.Version && !onlySince(f.History, f.Input.Version, portal.DeskEvent) {
		return &portal.Error{Code: portal.ECONFLICT, Message: "error.case_conflict",
			Err: fmt.Errorf("workflow.Fire(%s): version %d, caller saw %d", c.No, c.Version, f.Input.Version)}
	}
	if by, ok := e.separated(f.Actor, ev, f.History); ok {
		return &portal.Error{Code: portal.EFORBIDDEN, Rule: "separation_of_duties", Message: "error.separation_of_duties",
			Data: map[string]any{"Event": by, "Service": c.Service}}
	}
	if f.Actor.User != nil && c.ApplicantID == f.Actor.User.ID && f.Actor.User.Kind != portal.KindApplicant {
		return &portal.Error{Code: portal.EFORBIDDEN, Rule: "separation_of_duties", Message: "error.own_case"}
	}
	values, err := e.inputs(f.Def, ev, f.Input.Values)
	if err != nil {
		return err
	}
	f.Input.Values = values
	return nil
}

// inputs checks the inputs sent with an event against its declaration and
// returns them trimmed: undeclared ones are refused, required ones must be
// there, each within its type and limits (validator tags, so the messages
// are the forms' own).
// textRule is the rule a typed answer breaks, if any: unreadable
// characters, or a line break in a one-line answer.
func textRule(s string, oneLine bool) string {
	switch {
	case !validate.CleanText(s):
		return "text"
	case oneLine && !validate.CleanLine(s):
		return "line"
	}
	return ""
}

func (e *Engine) inputs(def *Definition, ev *Event, values portal.Inputs) (portal.Inputs, error) {
	var fields []portal.FieldError
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if !slices.ContainsFunc(ev.Inputs, func(in EventInput) bool { return in.Name == k }) {
			fields = append(fields, portal.FieldError{Field: k, Rule: "unknown_field"})
		}
	}
	out := portal.Inputs{}
	for _, in := range ev.Inputs {
		spec := def.Inputs[in.Name]
		req := "omitempty"
		if in.Required {
			req = "required"
		}
		raw, present := values[in.Name]
		switch spec.Type {
		case InputList:
			var list []string
			switch v := raw.(type) {
			case []string:
				list = v
			case nil:
			default:
				fields = append(fields, portal.FieldError{Field: in.Name, Rule: "type"})
				continue
			}
			var kept []string
			for _, it := range list {
				if it = strings.TrimSpace(it); it != "" {
					kept = append(kept, it)
				}
			}
			bad := e.Validator.Var(in.Name, kept, fmt.Sprintf("%s,max=%d", req, def.Limit(spec.Max)))
			for i := range bad {
				if bad[i].Rule == "max" {
					bad[i].Rule = "max_items" // entries, not characters
				}
			}
			for i, it := range kept {
				name := fmt.Sprintf("%s[%d]", in.Name, i)
				if r := textRule(it, true); r != "" {
					bad = append(bad, portal.FieldError{Field: name, Rule: r})
					continue
				}
				bad = append(bad, e.Validator.Var(name, it, fmt.Sprintf("max=%d", def.Limit(spec.ItemMax)))...)
			}
			fields = append(fields, bad...)
			if len(bad) == 0 && len(kept) > 0 {
				out[in.Name] = kept
			}
		case InputDivision:
			s, ok := raw.(string)
			if present && raw != nil && !ok {
				fields = append(fields, portal.FieldError{Field: in.Name, Rule: "type"})
				continue
			}
			switch s = strings.TrimSpace(s); {
			case s == "" && in.Required:
				fields = append(fields, portal.FieldError{Field: in.Name, Rule: "required"})
			case s == "":
			case e.divisionRule(s) != "":
				fields = append(fields, portal.FieldError{Field: in.Name, Rule: e.divisionRule(s)})
			default:
				out[in.Name] = s
			}
		default:
			s, ok := raw.(string)
			if present && raw != nil && !ok {
				fields = append(fields, portal.FieldError{Field: in.Name, Rule: "type"})
				continue
			}
			s = strings.TrimSpace(s)
			if r := textRule(s, spec.Type != InputText); r != "" {
				fields = append(fields, portal.FieldError{Field: in.Name, Rule: r})
				continue
			}
			tag := fmt.Sprintf("%s,max=%d", req, def.Limit(spec.Max))
			if spec.Type == InputChoice {
				tag = req + ",oneof=" + strings.Join(spec.Options, " ")
			}
			if spec.Type == InputDate {
				tag = req + ",date"
				if spec.NotFuture {
					tag += ",notfuture"
				}
			}
			bad := e.Validator.Var(in.Name, s, tag)
			fields = append(fields, bad...)
			if len(bad) == 0 && s != "" {
				out[in.Name] = s
			}
		}
	}
	if len(fields) > 0 {
		return nil, &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Fields: fields, Labels: def.Service + ".input"}
	}
	return out, nil
}

// transition chooses the target (conditions), runs the FSM (guards in
// before_<event>), the event's actions and the target state's on_enter
// actions, and writes the case, its history row, its timer and the audit
// entry.
func (e *Engine) transition(ctx context.Context, f *Firing, ent *Entry, ev *Event) error {
	c := f.Case
	for _, b := range ev.To.Branches {
		if b.If == "" {
			f.To = b.To
			break
		}
		ok, err := ent.Hooks.Conditions[b.If](ctx, f)
		if err != nil {
			return err
		}
		if ok {
			f.To = b.To
			break
		}
	}
	machine := fsm.NewFSM(c.State, fsm.Events{{Name: f.Event, Src: ev.From, Dst: f.To}}, fsm.Callbacks{
		"before_" + f.Event: func(ctx context.Context, fe *fsm.Event) {
			for _, name := range ev.Guards {
				if err := ent.Hooks.Guards[name](ctx, f); err != nil {
					fe.Cancel(err)
					return
				}
			}
		},
	})
	if err := machine.Event(ctx, f.Event); err != nil {
		var canceled fsm.CanceledError
		var same fsm.NoTransitionError
		switch {
		case errors.As(err, &canceled) && canceled.Err != nil:
			return canceled.Err
		case errors.As(err, &same) && ev.Transfer != "":
			// A transfer keeps the case in its state (the guards ran).
		default:
			return fmt.Errorf("workflow.Fire(%s, %s): %w", c.No, f.Event, err)
		}
	}
	actions := slices.Clone(ev.Actions)
	if f.To != f.From {
		actions = append(actions, f.Def.States[f.To].OnEnter...)
	}
	for _, name := range actions {
		if err := ent.Hooks.Actions[name](ctx, f); err != nil {
			return err
		}
	}
	if ev.Transfer != "" {
		if err := e.transfer(ctx, f, ev); err != nil {
			return err
		}
	}
	return e.write(ctx, f, machine.Current())
}

// write moves the case to state `to` with a compare-and-set on its version
// and records the step: history (with the inputs), claims, timer, audit.
// Edits and amendments (to == from) keep the state's deadline.
func (e *Engine) write(ctx context.Context, f *Firing, to string) error {
	c := f.Case
	prev := c.Version
	c.Version++
	c.UpdatedAt = f.Now
	created := f.Event == portal.EventCreate
	moved := to != f.From || created
	prevDue := c.DueAt
	if moved {
		c.State = to
		c.StateSince = f.Now
		c.InQueue = f.Def.States[to].Queued()
		c.DueAt = nil
		if s := f.Def.States[to]; !s.Deadline.IsZero() {
			due := e.Calendar.Due(f.Now, s.Deadline)
			c.DueAt = &due
		} else if s.DeadlineFrom != "" {
			due, err := time.Parse(time.RFC3339, resultTexts(c.Result)[s.DeadlineFrom])
			if err != nil {
				return fmt.Errorf("workflow: %s enters %s without a deadline in result.%s: %w", c.No, to, s.DeadlineFrom, err)
			}
			c.DueAt = &due
		}
	}
	if moved && !created {
		if err := e.clock(ctx, f, to, prevDue); err != nil {
			return err
		}
		if err := e.keepHolder(ctx, f); err != nil {
			return err
		}
	}
	var err error
	if created {
		err = f.Tx.InsertCase(ctx, c)
	} else {
		err = f.Tx.UpdateCase(ctx, c, prev)
	}
	if err != nil {
		return err
	}
	h := &portal.History{CaseID: c.ID, Seq: c.Version, Event: f.Event, From: f.From, To: c.State,
		ActorRole: f.Role, Inputs: f.Input.Values, At: f.Now, DueAt: c.DueAt}
	if f.Actor.User != nil {
		id := f.Actor.User.ID
		h.ActorID = &id
	}
	if err := f.Tx.InsertHistory(ctx, h); err != nil {
		return err
	}
	if moved {
		// A timer's firing did not read the timeline, which the rollups'
		// change needs (when the case was handed in, when it entered the
		// state it leaves).
		if f.History == nil && !created {
			hist, err := f.Tx.History(ctx, c.ID)
			if err != nil {
				return err
			}
			// This step's own row, if the read saw it, is not "before".
			f.History = slices.DeleteFunc(hist, func(r portal.History) bool { return r.Seq >= h.Seq })
		}
		e.recordStats(f, f.History, h)
	}
	f.History = append(f.History, *h)
	if e.Observer != nil {
		service, event := c.Service, f.Event
		f.Tx.AfterCommit(func() { e.Observer.Transition(service, event) })
	}
	f.Tx.AfterCommit(e.counts.changed) // the worklist's counts are read again
	if err := e.claim(ctx, f); err != nil {
		return err
	}
	if err := e.keepList(ctx, f); err != nil {
		return err
	}
	if s := f.Def.States[c.State]; to != f.From && s.OnTimeout != "" && c.DueAt != nil {
		if err := f.Tx.InsertJob(ctx, &portal.Job{CaseID: c.ID, Event: s.OnTimeout, Version: c.Version, DueAt: *c.DueAt}); err != nil {
			return err
		}
	}
	if moved {
		if err := e.scheduleEscalation(ctx, f); err != nil {
			return err
		}
	}
	if ev, ok := f.Def.Events[f.Event]; ok && ev.Notify {
		if err := e.Notifier.Notify(ctx, f); err != nil {
			return err
		}
	}
	ent := audit.Entry(f.Actor, "case."+f.Event, caseObject(c.No), audit.ResultOK)
	if f.Role != "" {
		ent.Role = f.Role
	}
	ent.Division = c.Division
	detail := map[string]any{"from": f.From, "to": c.State, "version": c.Version}
	if f.Event == portal.EventAmend {
		detail["inputs"] = f.Input.Values
	}
	ent = audit.WithDetail(ent, detail)
	return e.Audit.Append(ctx, f.Tx, ent)
}

// claim keeps the case's claims (workflow file, unique.open) in step with
// it: taken when it is created, the claims about other people when it is
// handed in and whenever its form changes after, all given back when it
// ends. Other transitions change none, and cost nothing.
func (e *Engine) claim(ctx context.Context, f *Firing) error {
	def, c := f.Def, f.Case
	if len(def.Unique.Open) == 0 {
		return nil
	}
	others := slices.ContainsFunc(def.Unique.Open, func(k string) bool { return k != ClaimApplicant })
	final := def.States[c.State].Final
	switch {
	case final && f.From != c.State:
	case f.Event == portal.EventCreate:
	case others && (f.Event == portal.EventEdit || e.private(c.Service, f.From) != e.private(c.Service, c.State)):
	default:
		return nil
	}
	var keys []ClaimKey
	if !final {
		for _, kind := range def.Unique.Open {
			switch {
			case kind == ClaimApplicant:
				keys = append(keys, ClaimKey{Key: applicantKey(c.ApplicantID)})
			case !e.private(c.Service, c.State):
				applicant := c.Applicant
				if u := f.Actor.User; applicant == nil && u != nil && u.ID == c.ApplicantID {
					applicant = u // claims change by the applicant's own hand: creating, editing, handing in
				}
				more, err := e.entry(c.Service).Hooks.Claims[kind](c, applicant)
				if err != nil {
					return err
				}
				keys = append(keys, more...)
			}
		}
	}
	claims := make([]string, len(keys))
	for i, k := range keys {
		claims[i] = claimOf(c.Service, k.Key)
	}
	conflict, err := f.Tx.SetClaims(ctx, c.ID, claims)
	if err != nil || conflict == nil {
		return err
	}
	perr := &portal.Error{Code: portal.ECONFLICT, Rule: "unique_open", Message: "error.duplicate_case",
		Data: map[string]any{"CaseNo": conflict.CaseNo, "Service": c.Service}, Labels: c.Service + ".field",
		Err: fmt.Errorf("workflow: a claim of %s is held by %s", c.No, conflict.CaseNo)} // the claim itself may hold a person's blind index: not logged
	if conflict.ApplicantID != c.ApplicantID {
		// Someone else's case: say that it exists, never which.
		perr.Message, perr.Data = "error.claimed_elsewhere", map[string]any{"Service": c.Service}
	}
	for i, k := range keys {
		if claims[i] == conflict.Claim && k.Field != "" {
			perr.Fields = []portal.FieldError{{Field: k.Field, Rule: "claimed"}}
		}
	}
	return perr
}

// claimOf is a claim as stored: the service and the key.
func claimOf(service, key string) string { return service + "|" + key }

func applicantKey(applicantID int64) string { return "applicant:" + strconv.FormatInt(applicantID, 10) }

// ApplicantClaim is the claim an open case of service holds for its
// applicant when the service allows one open case per applicant.
func ApplicantClaim(service string, applicantID int64) string {
	return claimOf(service, applicantKey(applicantID))
}

// Create makes a new case from an applicant's form, in the initial state.
// With a non-empty idemKey, the same key and form from the same user return
// the case made the first time; the same key with another form is EINVALID.
func (e *Engine) Create(ctx context.Context, actor portal.Actor, service string, raw json.RawMessage, idemKey string) (*portal.Case, error) {
	ent := e.entry(service)
	if ent == nil || !ent.Online() {
		return nil, portal.Invalid(portal.FieldError{Field: "service", Rule: "oneof"})
	}
	def := ent.Def
	if actor.User == nil {
		return nil, portal.Errorf(portal.EUNAUTHORIZED, "error.login_required", nil)
	}
	if err := checkIdemKey(idemKey); err != nil {
		return nil, err
	}
	now := e.Now()
	form, division, err := e.form(ctx, ent, FormInput{Raw: raw, Mode: Draft, Applicant: actor.User, Now: now, Store: e.Store})
	if err != nil {
		return nil, err
	}
	role, ok := e.Authz.Can(actor.User, division, service, portal.EventCreate)
	if !ok {
		return nil, &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden_create"}
	}
	reqHash, err := formHash(service, raw)
	if err != nil {
		return nil, err
	}
	var out *portal.Case
	create := func(tx portal.Tx) error {
		if idemKey != "" {
			id, err := priorRequest(ctx, tx, actor.User.ID, idemKey, reqHash)
			if err != nil || id != 0 {
				if err == nil {
					out, err = tx.CaseByID(ctx, id) // the first request's case
				}
				return err
			}
		}
		if def.Unique.WhileValid {
			valid, err := e.validGrant(ctx, tx, actor.User.ID, service, now)
			switch {
			case err == nil:
				return &portal.Error{Code: portal.ECONFLICT, Rule: "while_valid", Message: "error.holds_valid",
					Data: map[string]any{"CaseNo": valid.No, "Service": service, "ValidUntil": resultTexts(valid.Result)[portal.ResultValidUntil]}}
			case portal.ErrorCode(err) != portal.ENOTFOUND:
				return err
			}
		}
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
		f := e.firing(tx, def, c, portal.EventCreate, actor, role, now)
		if err := e.write(ctx, f, def.Initial); err != nil {
			return err
		}
		if idemKey != "" {
			if err := tx.ClaimIdempotency(ctx, actor.User.ID, idemKey, reqHash, c.ID, now); err != nil {
				return err
			}
		}
		out = c
		return nil
	}
	err = e.Store.Tx(ctx, create)
	if pe := portal.AsError(err); pe != nil && pe.Rule == "unique_open" && idemKey != "" {
		// Two requests with one key raced, and the other committed first:
		// its case holds the claims. Once more, the key finds that case.
		err = e.Store.Tx(ctx, create)
	}
	return out, err
}

// firing starts the firing of event on c (from its state) in tx.
func (e *Engine) firing(tx portal.Tx, def *Definition, c *portal.Case, event string, actor portal.Actor, role string, now time.Time) *Firing {
	return &Firing{Def: def, Case: c, Event: event, From: c.State, Actor: actor, Role: role, Tx: tx, Now: now, Cal: e.Calendar, e: e}
}

// maxIdemKey is the longest Idempotency-Key a client may send (a UUID is 36).
const maxIdemKey = 200

func checkIdemKey(key string) error {
	if len(key) > maxIdemKey {
		return portal.Invalid(portal.FieldError{Field: "Idempotency-Key", Rule: "max", Param: strconv.Itoa(maxIdemKey)})
	}
	return nil
}

// formHash identifies a create request for its idempotency key: the form
// as sent, not as stored (sealed values use a fresh nonce each time).
func formHash(service string, raw json.RawMessage) (string, error) {
	var v any
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber() // numbers kept as written, not rounded to float64
		if err := dec.Decode(&v); err != nil {
			return "", portal.Invalid(portal.FieldError{Field: "form", Rule: "json"})
		}
	}
	return digest(service, v), nil
}

// form decodes a form through its service, naming the service's field
// labels in its errors.
func (e *Engine) form(ctx context.Context, ent *Entry, in FormInput) (json.RawMessage, string, error) {
	form, division, err := ent.Service.Form(ctx, in)
	if pe := portal.AsError(err); pe != nil && pe.Labels == "" && len(pe.Fields) > 0 {
		pe.Labels = ent.ID + ".field"
	}
	return form, division, err
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
		if !e.visible(actor, c, nil) {
			deniedAction = "case.read"
			return portal.NotFound(fmt.Errorf("workflow.Edit(%s): out of reach", no))
		}
		ent := e.entry(c.Service)
		def := ent.Def
		role, ok := e.Authz.Can(actor.User, c.Division, c.Service, EditAction(c.State))
		if !ok {
			if len(def.States[c.State].EditableBy) == 0 {
				return &portal.Error{Code: portal.ECONFLICT, Message: "error.not_editable", Data: map[string]any{"State": c.State}}
			}
			deniedAction = "case.edit"
			return &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden_event"}
		}
		if version != 0 && version != c.Version {
			// Who works the case (the desk's steps) changes nothing the
			// applicant saw.
			hist, err := tx.History(ctx, c.ID)
			if err != nil {
				return err
			}
			if !onlySince(hist, version, portal.DeskEvent) {
				return &portal.Error{Code: portal.ECONFLICT, Message: "error.case_conflict"}
			}
		}
		now := e.Now()
		form, division, err := e.form(ctx, ent, FormInput{Raw: raw, Mode: Draft, Applicant: actor.User, Now: now, Store: e.Store})
		if err != nil {
			return err
		}
		if _, ok := e.Authz.Can(actor.User, division, c.Service, EditAction(c.State)); !ok {
			return &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden_event"}
		}
		old := *c
		c.Form, c.Division, c.District = form, division, e.Authz.Divisions().District(division)
		f := e.firing(tx, def, c, portal.EventEdit, actor, role, now)
		if division != old.Division && !e.private(c.Service, c.State) {
			// A case returned for correction whose applicant names another
			// street moves there, as a transfer does (transfer.go): its counts
			// with it, and nobody at the new office holds it yet.
			if f.History, err = tx.History(ctx, c.ID); err != nil {
				return err
			}
			e.moveStats(f, &old, c)
			c.HolderID, c.HolderName = nil, ""
		}
		if err := e.write(ctx, f, c.State); err != nil {
			return err
		}
		out = c
		return nil
	})
	e.auditRefusal(ctx, actor, no, deniedAction, err)
	return out, err
}

// View is a case as one person may see it.
type View struct {
	Case     *portal.Case
	Def      *Definition
	Service  Service
	History  []portal.History
	Allowed  []string // events the viewer may fire now
	Editable bool     // the viewer may edit the form now
	Owner    bool     // the viewer is the applicant
	// HeldByOther: another staff member holds the case (Case.HolderName),
	// so the viewer's decisions wait (Allowed is empty).
	HeldByOther bool
	Form        json.RawMessage // the form as the viewer may see it (Service.Show)
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
	if !e.visible(actor, c, hist) {
		e.Denied(ctx, actor, "case.read", no)
		return nil, portal.NotFound(fmt.Errorf("workflow.Get(%s): out of reach", no))
	}
	if err := e.recordView(ctx, actor, c); err != nil {
		return nil, err
	}
	ent := e.entry(c.Service)
	if a, ok := ent.Service.(Annotator); ok {
		extra, err := a.Annotate(ctx, e.Store, c)
		if err != nil {
			return nil, err
		}
		if len(extra) > 0 {
			if err := SetResult(c, extra); err != nil {
				return nil, err
			}
		}
	}
	held := false
	if u := actor.User; u != nil && u.Kind == portal.KindStaff && c.HolderID != nil && *c.HolderID != u.ID {
		holder, err := e.heldByOther(ctx, e.Store, u, c, ent.Def, hist)
		if err != nil {
			return nil, err
		}
		held = holder != nil
	}
	return e.viewHeld(actor, c, ent, hist, held), nil
}

// Annotator is a service that adds to a case's result, as it is read, what
// depends on other cases and changes without this one moving (a place on a
// waiting list). Nothing it adds is stored.
type Annotator interface {
	Annotate(ctx context.Context, r portal.Reader, c *portal.Case) (map[string]any, error)
}

// view is the case as actor sees it: the events they may fire now, whether
// they may edit it, and the form with what they may see of it.
func (e *Engine) view(actor portal.Actor, c *portal.Case, ent *Entry, hist []portal.History) *View {
	u := actor.User
	return e.viewHeld(actor, c, ent, hist, u != nil && u.Kind == portal.KindStaff && c.HolderID != nil && *c.HolderID != u.ID)
}

// viewHeld is view, told whether someone else holds the case (Get asks
// whether the holder may still act on it: one who may not holds nothing).
func (e *Engine) viewHeld(actor portal.Actor, c *portal.Case, ent *Entry, hist []portal.History, heldByOther bool) *View {
	def := ent.Def
	v := &View{Case: c, Def: def, Service: ent.Service, History: hist, Owner: actor.User != nil && actor.User.ID == c.ApplicantID,
		HeldByOther: heldByOther}
	for _, ev := range def.EventsFrom(c.State) {
		if v.HeldByOther && !v.Owner {
			break // someone else works it: their decisions (Fire says so, naming them)
		}
		if def.Events[ev].Cohort {
			continue // fired by a cohort operation, never on one case
		}
		if _, ok := e.Authz.Can(actor.User, c.Division, c.Service, EventAction(ev, c.State)); !ok {
			continue
		}
		if _, sep := e.separated(actor, def.Events[ev], hist); !sep {
			v.Allowed = append(v.Allowed, ev)
		}
	}
	_, v.Editable = e.Authz.Can(actor.User, c.Division, c.Service, EditAction(c.State))
	form, err := ent.Service.Show(c.Form, v.Owner)
	if err != nil {
		// The case is still shown, without a form the viewer must not see in part.
		e.Log.Error("workflow: form not shown", "case", c.No, "err", err)
		form = json.RawMessage("{}")
	}
	v.Form = form
	return v
}

// separated reports whether a separation-of-duty rule stops actor from
// firing ev, and the earlier event that stops them.
func (e *Engine) separated(actor portal.Actor, ev *Event, hist []portal.History) (string, bool) {
	for _, h := range hist {
		if slices.Contains(ev.NotByActorOf, h.Event) && h.ActorID != nil && actor.User != nil && *h.ActorID == actor.User.ID {
			return h.Event, true
		}
	}
	return "", false
}

// ListFilter is what a person may ask of a list.
type ListFilter struct {
	Service string
	States  []string
	Queue   bool // staff: the open cases (handed in, not ended), whatever their state
	Overdue bool
	// Due: DueOverdue or DueSoon, the cases of the deadline views (states
	// whose deadline is staff's) overdue or due soon.
	Due string
	// Mine: the cases the staff member holds; Unclaimed: the cases nobody
	// holds (the clerk's desk).
	Mine, Unclaimed bool
	After           int64
	Limit           int
	// Q finds cases by case number, or by the applicant's mobile number,
	// its last four digits or name (ParseSearch), within the same reach
	// and filters; each search is audited (SearchAction).
	Q string
}

// List returns one page of the cases the actor may see: an applicant's own
// (newest first), or the cases of a staff member's jurisdiction (oldest
// first: a queue is worked first come, first served); another system sees
// the cases waiting on it. next is the cursor of the next page, 0 at the end.
func (e *Engine) List(ctx context.Context, actor portal.Actor, lf ListFilter) (cases []portal.Case, next int64, err error) {
	u := actor.User
	if u == nil {
		return nil, 0, portal.Errorf(portal.EUNAUTHORIZED, "error.login_required", nil)
	}
	search, err := ParseSearch(lf.Q)
	if err != nil {
		return nil, 0, err
	}
	f := e.Authz.Scope(u, "case", "read")
	f.Desc = u.Kind == portal.KindApplicant
	f.Search = search
	if search.Kind != "" {
		// Every search leaves its entry, also one that finds nothing
		// (out of reach, or no such person): the trail shows who looked
		// whom up, not only who found them.
		defer func() {
			if err == nil {
				err = e.auditSearch(ctx, actor, search, cases)
			}
			if err != nil {
				cases, next = nil, 0
			}
		}()
	}
	if lf.Due != "" {
		if lf, err = e.dueFilter(lf, &f); err != nil || len(lf.States) == 0 {
			return nil, 0, err
		}
	}
	f.Service, f.States, f.After = lf.Service, lf.States, lf.After
	switch u.Kind {
	case portal.KindSystem:
		service, states, err := e.waiting(u, lf.Service)
		if err != nil {
			return nil, 0, err
		}
		f.Service = service
		if len(lf.States) > 0 {
			states = slices.DeleteFunc(slices.Clone(states), func(st string) bool { return !slices.Contains(lf.States, st) })
		}
		f.States = states
		if len(f.States) == 0 {
			return nil, 0, nil
		}
	case portal.KindStaff:
		// Staff never see private states (see visible).
		switch {
		case lf.Queue && f.AllScope:
			// City-wide, the queue is read a state at a time (the (state,
			// id) indexes; the partial queue indexes are by division and
			// district), each branch also asking in_queue: a state name
			// queued in one service may be final in another.
			f.States, f.Queue = e.queued[lf.Service], true
		case lf.Queue:
			f.States, f.Queue = nil, true
		case len(f.States) == 0:
			f.States = e.StaffStates(lf.Service) // "all": a state at a time, each bounded by its index
		default:
			f.States = slices.DeleteFunc(slices.Clone(f.States), func(st string) bool { return e.private(lf.Service, st) })
			if len(f.States) == 0 {
				return nil, 0, nil
			}
		}
	}
	if lf.Overdue {
		now := e.Now()
		f.OverdueAt = &now
	}
	if u.Kind == portal.KindStaff {
		if lf.Mine {
			f.HolderID = u.ID
		}
		f.Unheld = lf.Unclaimed
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

// waiting returns the service and the states in which cases wait on a
// system account: those its roles may fire an event from (the list is
// bounded by its grants' divisions like anyone's). A system taking part in
// several services names the one it lists.
func (e *Engine) waiting(u *portal.User, service string) (string, []string, error) {
	var svc string
	var states []string
	for _, g := range u.Grants {
		for _, ent := range e.Registry.Online() {
			from := e.firesFrom[g.Role][ent.ID]
			if len(from) == 0 || service != "" && ent.ID != service {
				continue
			}
			if svc != "" && svc != ent.ID {
				return "", nil, portal.Invalid(portal.FieldError{Field: "service", Rule: "required"})
			}
			svc = ent.ID
			for _, st := range from {
				if !slices.Contains(states, st) {
					states = append(states, st)
				}
			}
		}
	}
	return svc, states, nil
}

// validGrant returns the applicant's granted case of service that is still
// valid (result valid_until today or later, not cancelled), ENOTFOUND if none.
func (e *Engine) validGrant(ctx context.Context, r portal.Reader, applicantID int64, service string, now time.Time) (*portal.Case, error) {
	granted := e.granted[service]
	if len(granted) == 0 {
		return nil, portal.NotFound(fmt.Errorf("workflow: no service %s grants anything", service))
	}
	cases, err := r.ListCases(ctx, portal.CaseFilter{ApplicantID: applicantID, Service: service, States: granted, Desc: true, Limit: 20})
	if err != nil {
		return nil, err
	}
	today := now.In(e.Calendar.Zone).Format(time.DateOnly)
	for i := range cases {
		c := &cases[i]
		if res := resultTexts(c.Result); res[portal.ResultValidUntil] >= today && res[portal.ResultCancelledBy] == "" {
			return c, nil
		}
	}
	return nil, portal.NotFound(fmt.Errorf("workflow: no valid %s", service))
}

// resultTexts reads the texts of a case's result (nothing from a result
// that is not an object).
func resultTexts(result json.RawMessage) map[string]string {
	var m map[string]any
	_ = json.Unmarshal(result, &m)
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// ValidGrant returns the applicant's granted case of service that is still
// valid, ENOTFOUND if none (e.g. a valid residence permit to prefill from).
func (e *Engine) ValidGrant(ctx context.Context, applicantID int64, service string) (*portal.Case, error) {
	return e.validGrant(ctx, e.Store, applicantID, service, e.Now())
}

// ValidGrant returns the applicant's valid granted case of another service,
// read inside the firing's transaction (ENOTFOUND if none).
func (f *Firing) ValidGrant(ctx context.Context, service string) (*portal.Case, error) {
	return f.e.validGrant(ctx, f.Tx, f.Case.ApplicantID, service, f.Now)
}

// GrantedCases returns the applicant's cases of service that ended granted,
// newest first, valid or not (a lapsed permit to endorse late), read inside
// the firing's transaction.
func (f *Firing) GrantedCases(ctx context.Context, service string) ([]portal.Case, error) {
	granted := f.e.granted[service]
	if len(granted) == 0 {
		return nil, nil
	}
	return f.Tx.ListCases(ctx, portal.CaseFilter{ApplicantID: f.Case.ApplicantID, Service: service, States: granted, Desc: true, Limit: 20})
}

// Amend sets keys of another decided case's result in this transaction —
// a linked record, e.g. a residence permit cancelled when its holder
// settles. The other case gets a history step (amend, with the keys as its
// inputs) and an audit entry; it commits or rolls back with the firing.
func (f *Firing) Amend(ctx context.Context, no string, set map[string]string) error {
	c, err := f.Tx.CaseByNoForUpdate(ctx, no)
	if err != nil {
		return err
	}
	def, ok := f.e.Definition(c.Service)
	if !ok || !def.Allows(portal.EventAmend, c.State, c.State) {
		return fmt.Errorf("workflow.Amend(%s): %s cannot be amended in state %s", no, c.Service, c.State)
	}
	inputs, values := portal.Inputs{}, map[string]any{}
	for k, v := range set {
		inputs[k], values[k] = v, v
	}
	if err := SetResult(c, values); err != nil {
		return err
	}
	g := f.e.firing(f.Tx, def, c, portal.EventAmend, f.Actor, f.Role, f.Now)
	g.To, g.Input = c.State, Input{Values: inputs}
	return f.e.write(ctx, g, c.State)
}

// SetResult sets keys of a case's result, keeping the others.
func SetResult(c *portal.Case, kv map[string]any) error {
	r := map[string]any{}
	if len(c.Result) > 0 {
		if err := json.Unmarshal(c.Result, &r); err != nil {
			return fmt.Errorf("workflow: result of %s: %w", c.No, err)
		}
	}
	maps.Copy(r, kv)
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("workflow: result of %s: %w", c.No, err)
	}
	c.Result = b
	return nil
}

// Granted returns the applicant's cases that ended granted (permits,
// settlements), newest first, with their results: their account page shows
// what they hold.
func (e *Engine) Granted(ctx context.Context, actor portal.Actor) ([]portal.Case, error) {
	if actor.User == nil || actor.User.Kind != portal.KindApplicant {
		return nil, nil
	}
	cases, err := e.Store.ListCases(ctx, portal.CaseFilter{ApplicantID: actor.User.ID, States: e.granted[""], Desc: true, Limit: 50})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(cases, func(c portal.Case) bool {
		def, ok := e.Definition(c.Service)
		return !ok || def.Outcome(c.State) != OutcomeGranted
	}), nil
}

// Prefiller is a service that fills in a new form from what the portal
// already knows of the applicant (e.g. their valid residence permit).
type Prefiller interface {
	Prefill(ctx context.Context, valid func(ctx context.Context, service string) (*portal.Case, error)) (json.RawMessage, error)
}

// Prefill returns the values a new form of service starts with for the
// applicant, "{}" when there is nothing to say.
func (e *Engine) Prefill(ctx context.Context, actor portal.Actor, service string) (json.RawMessage, error) {
	ent := e.entry(service)
	if ent == nil || !ent.Online() {
		return nil, portal.NotFound(nil)
	}
	p, ok := ent.Service.(Prefiller)
	if !ok || actor.User == nil {
		return json.RawMessage("{}"), nil
	}
	return p.Prefill(ctx, func(ctx context.Context, other string) (*portal.Case, error) {
		return e.ValidGrant(ctx, actor.User.ID, other)
	})
}
