// Package workflow turns the service definitions in workflows/ into validated
// state machines and fires their events (Engine.Fire): one transaction per
// transition, authorized through casbin, run by looplab/fsm, written with a
// compare-and-set on the case version, a history row and an audit entry.
// It knows nothing of any particular service: services plug in their form,
// guards, conditions, actions and claims by name (Service), and the Registry
// holds them all.
package workflow

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"tzportal/portal"
)

// IndicatorSpec is an indicator that counts the cases that reached a final
// state: the value is how many did by the end of a year (cumulative) or
// during it; In the year is always given beside it, and By breaks both down
// by a form key. Its name, definition and source are texts
// (<service>.indicator.<id>.name|definition|source).
type IndicatorSpec struct {
	ID         string   `yaml:"id"`
	State      string   `yaml:"state"`      // a final state
	Cumulative bool     `yaml:"cumulative"` // value: every case up to the year's end
	By         string   `yaml:"by"`         // a form key to break the counts down by
	Unit       string   `yaml:"unit"`       // e.g. permits, people
	Baseline   *float64 `yaml:"baseline"`   // the plan's, if it sets one
	Target     *float64 `yaml:"target"`
}

// RetentionSpec is how long a closed case's personal data is kept: Days
// after it reached a final state (WithdrawnDays for one that ended with
// outcome withdrawn), then its form and result keep only the keys listed
// (not personal: what statistics and indicators read) and its materials go.
type RetentionSpec struct {
	Days          int      `yaml:"days"`
	WithdrawnDays int      `yaml:"withdrawn_days"`
	KeepForm      []string `yaml:"keep_form"`
	KeepResult    []string `yaml:"keep_result"`
}

// Definition is one service's workflow, validated.
type Definition struct {
	Service  string         `yaml:"service"`
	Code     string         `yaml:"code"`      // two letters in the case number: TZ<code>yyyymmddNNNNNN
	ItemCode string         `yaml:"item_code"` // GB/T 39554.1 service-item code
	Initial  string         `yaml:"initial"`
	Settings map[string]any `yaml:"settings"` // read by the service's hooks, and by input limits
	// Checklist is the materials an application needs (申请材料), in the
	// order the applicant sees them; labels live in i18n/
	// (<service>.material.<item>).
	Checklist []*ChecklistItem `yaml:"checklist"`
	// Certificate says what an approval issues, if anything (电子证照).
	Certificate *CertificateSpec `yaml:"certificate"`
	// Material is the checklist's item ids: what a correction request may
	// point at.
	Material []string              `yaml:"-"`
	Inputs   map[string]*InputSpec `yaml:"inputs"` // what events may ask of the person firing them
	Unique   Unique                `yaml:"unique"`
	States   map[string]*State     `yaml:"states"`
	Events   map[string]*Event     `yaml:"events"`
	// Indicators are the plan's indicators (《规划》表1) this service's
	// cases count: the cases that reached a final state, by year.
	Indicators []*IndicatorSpec `yaml:"indicators"`
	// Retention is how long a closed case keeps its personal data (none:
	// kept until removed by hand).
	Retention *RetentionSpec `yaml:"retention"`

	File       string   `yaml:"-"`
	stateOrder []string // file order, for stable output
	eventOrder []string
	inputOrder []string
}

// State is one state of a workflow.
type State struct {
	Final      bool     `yaml:"final"`
	EditableBy []string `yaml:"editable_by"` // roles that may edit the form in this state
	Deadline   Deadline `yaml:"deadline"`
	// DeadlineFrom names a result key holding the deadline as an RFC 3339
	// time, set by an action (a public notice's end, which a case keeps when
	// it comes back to the state after an objection).
	DeadlineFrom string `yaml:"deadline_from"`
	OnTimeout    string `yaml:"on_timeout"` // event fired by the scheduler when the deadline passes
	// PausesClock: a case in this state waits on the applicant (a
	// correction, promised materials). The deadline of the state it came
	// from stops, and when the case enters that state again it has the
	// days it had left, not a fresh limit: the applicant's time does not
	// count, and asking for a correction does not buy staff a new one.
	PausesClock bool `yaml:"pauses_clock"`
	// Outcome says how a final state ends the case: granted, refused or
	// withdrawn (for people's pages and the plan's indicators).
	Outcome string `yaml:"outcome"`
	// Private: a case in this state was never handed in; only its
	// applicant sees it (a draft, a discarded draft).
	Private bool `yaml:"private"`
	// OnEnter names actions run whenever a case enters the state, by any
	// event, in the transition's transaction.
	OnEnter []string `yaml:"on_enter"`
	// MaterialsBy are roles that may add and remove materials in this state
	// without editing the form (the supplement after acceptance with gaps);
	// editable_by may do both.
	MaterialsBy []string `yaml:"materials_by"`
	// Listed: a case in this state is on one of its service's ordered
	// lists (housing's waiting lists), whose entry the engine keeps with
	// each step from what the service says of the case (Lister).
	Listed bool `yaml:"listed"`
}

// MaterialsEditable reports whether role may add or remove materials of a
// case in the state.
func (s *State) MaterialsEditable(role string) bool {
	return slices.Contains(s.EditableBy, role) || slices.Contains(s.MaterialsBy, role)
}

// ChecklistItem is one item of a service's checklist of materials.
type ChecklistItem struct {
	Item string `yaml:"item"`
	// Key items must be there to hand the case in; the others may follow
	// after acceptance with gaps (容缺受理).
	Key bool `yaml:"key"`
	// When makes the item required only for some answers of the form:
	// form field → the values that require it (the employment proof only
	// for basis: employment). Empty: always required.
	When map[string][]string `yaml:"when"`
	// Per names a list of the form (e.g. members): one file is needed per
	// entry, and none when the list is empty.
	Per string `yaml:"per"`
}

// Needed returns how many files of the item a form with these values
// needs: 0 when the item does not apply.
func (it *ChecklistItem) Needed(values map[string]any) int {
	for field, want := range it.When {
		got := fmt.Sprint(values[field])
		if !slices.Contains(want, got) {
			return 0
		}
	}
	if it.Per != "" {
		list, _ := values[it.Per].([]any)
		return len(list)
	}
	return 1
}

// CertificateSpec is the e-certificate a service's approval issues: its
// kind, and the keys of the case's result holding its number and its end
// of validity.
type CertificateSpec struct {
	Kind       string `yaml:"kind"`
	Number     string `yaml:"number"`      // result key, e.g. permit_no
	ValidUntil string `yaml:"valid_until"` // result key, "" for no end date
	// Lapse is what a valid certificate is after its end date: expired (the
	// default) or suspended (a permit kept alive by yearly endorsements,
	// restored by a late one).
	Lapse string `yaml:"lapse"`
	// CancelBy are the roles that may revoke an issued certificate, with a
	// reason (a residence permit obtained by fraud, a holder who left).
	CancelBy []string `yaml:"cancel_by"`
	// Remind, if set, tells the holder ahead of each end date (a permit's
	// endorsement falls due).
	Remind *RemindSpec `yaml:"remind"`
	// LapseNotice, if set, is the notice the holder gets when the timer
	// suspends their certificate at its end date (lapse: suspended).
	LapseNotice string `yaml:"lapse_notice"`
}

// RemindSpec is a notice the timer sends months before a certificate's
// end date, at a time of day people read messages.
type RemindSpec struct {
	MonthsBefore int    `yaml:"months_before"`
	At           string `yaml:"at"` // HH:MM, the city's time
	// Notice names the texts: <service>.notify.<notice>.{title,body,sms}.
	Notice string `yaml:"notice"`
}

// Clock is At as hours and minutes.
func (r *RemindSpec) Clock() (h, m int, err error) {
	t, err := time.Parse("15:04", r.At)
	if err != nil {
		return 0, 0, err
	}
	return t.Hour(), t.Minute(), nil
}

// Queued reports whether a case in the state is in staff's queue: handed
// in (not private) and not ended (not final).
func (s *State) Queued() bool { return !s.Final && !s.Private }

// Outcomes of final states.
const (
	OutcomeGranted   = "granted"
	OutcomeRefused   = "refused"
	OutcomeWithdrawn = "withdrawn"
	// OutcomeTerminated ends a case accepted with gaps whose promised
	// materials never came (容缺受理 not made good in time).
	OutcomeTerminated = "terminated"
)

// Outcomes returns the outcomes a final state may have.
func Outcomes() []string {
	return []string{OutcomeGranted, OutcomeRefused, OutcomeWithdrawn, OutcomeTerminated}
}

// Event is one event (a possible transition) of a workflow.
type Event struct {
	From   []string    `yaml:"from"`
	To     Target      `yaml:"to"`
	By     Roles       `yaml:"by"`     // roles that may fire it, from which states
	Inputs EventInputs `yaml:"inputs"` // declared inputs it takes
	Guards []string    `yaml:"guards"` // registered guards, all must pass
	// Actions are registered actions, run in order after the guards.
	Actions []string `yaml:"actions"`
	// NotByActorOf names earlier events whose actor may not fire this one
	// (separation of duties: whoever accepted at the street cannot decide
	// at the district, even holding both grants).
	NotByActorOf []string `yaml:"not_by_actor_of"`
	// Idempotent: the same inputs sent again after the event fired (a
	// system retrying) answer as the first time did and change nothing.
	Idempotent bool `yaml:"idempotent"`
	// Notify tells the applicant of the step: their inbox, and SMS and
	// email where configured, with texts <service>.notify.<event>.*.
	Notify bool `yaml:"notify"`
	// Cohort events move many cases at once through a cohort operation (a
	// published list, an allocation); they are never fired on one case.
	Cohort bool `yaml:"cohort"`
	// Transfer moves the case to another office of the city, in its state
	// (移送, transfer.go): TransferOffice to the street or town its
	// division input names, TransferBack to the office that transferred
	// it here. RestartClock: the state's time limit runs again from the
	// receiving office's receipt (else the case keeps its due date).
	Transfer     string `yaml:"transfer"`
	RestartClock bool   `yaml:"restart_clock"`
	// Bulk: staff may fire the event on many cases in one request (the
	// worklist's "accept the selected cases"), each case still in its own
	// transaction through Fire. Only a plain step forward qualifies (see
	// validator.bulk).
	Bulk bool `yaml:"bulk"`
}

// Kinds of transfer (Event.Transfer).
const (
	TransferOffice = "office"
	TransferBack   = "back"
)

// Target is where an event leads: one state, or branches tried in order,
// each but the last with a condition the service registered.
type Target struct {
	Branches []Branch
}

// Branch is one possible target of an event.
type Branch struct {
	If string `yaml:"if"` // a registered condition; "" for the last branch
	To string `yaml:"to"`
}

// States returns every state the target may lead to, in order.
func (t Target) States() []string {
	out := make([]string, 0, len(t.Branches))
	for _, b := range t.Branches {
		out = append(out, b.To)
	}
	return out
}

// UnmarshalYAML reads "to: state" or a list of {if, to} branches.
func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		t.Branches = []Branch{{To: n.Value}}
		return nil
	}
	var bs []Branch
	if err := n.Decode(&bs); err != nil {
		return fmt.Errorf("line %d: to: want a state or a list of {if: condition, to: state}", n.Line)
	}
	t.Branches = bs
	return nil
}

// Roles says who may fire an event: a list of roles (from every from
// state), or a map of role to the states it may fire the event from.
type Roles struct {
	list    []string
	byRole  map[string][]string
	order   []string // roles of byRole in file order
	mapping bool
}

// UnmarshalYAML reads "by: [role, …]" or "by: {role: [state, …], …}".
func (r *Roles) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.SequenceNode:
		return n.Decode(&r.list)
	case yaml.MappingNode:
		r.mapping, r.byRole = true, map[string][]string{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			var states []string
			if err := n.Content[i+1].Decode(&states); err != nil {
				return fmt.Errorf("line %d: by: %s: want a list of states", n.Content[i+1].Line, n.Content[i].Value)
			}
			r.byRole[n.Content[i].Value] = states
			r.order = append(r.order, n.Content[i].Value)
		}
		return nil
	}
	return fmt.Errorf("line %d: by: want a list of roles or a map of role to states", n.Line)
}

// All returns every role that may fire the event from some state.
func (r Roles) All() []string {
	if r.mapping {
		return r.order
	}
	return r.list
}

// From returns the roles that may fire the event from state.
func (r Roles) From(state string) []string {
	if !r.mapping {
		return r.list
	}
	var out []string
	for _, role := range r.order {
		if slices.Contains(r.byRole[role], state) {
			out = append(out, role)
		}
	}
	return out
}

// EventInput is one input an event takes.
type EventInput struct {
	Name     string
	Required bool
}

// EventInputs are an event's inputs in file order.
type EventInputs []EventInput

// UnmarshalYAML reads "inputs: {name: required|optional, …}".
func (in *EventInputs) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: inputs: want a map of input to required or optional", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Value != "required" && v.Value != "optional" {
			return fmt.Errorf("line %d: input %s: want required or optional, not %q", v.Line, k.Value, v.Value)
		}
		*in = append(*in, EventInput{Name: k.Value, Required: v.Value == "required"})
	}
	return nil
}

// InputSpec declares one input events may take.
type InputSpec struct {
	Type      string `yaml:"type"`       // line (one line), text (several lines), date, list
	Max       Limit  `yaml:"max"`        // characters; for a list, entries
	ItemMax   Limit  `yaml:"item_max"`   // list: characters per entry
	Choices   string `yaml:"choices"`    // list: "materials" offers the workflow's materials to tick
	NotFuture bool   `yaml:"not_future"` // date: today or earlier
	// Options are a choice's values (labels <service>.option.input.<name>.<value>).
	Options []string `yaml:"options"`
}

// Input types.
const (
	InputLine = "line"
	InputText = "text"
	InputDate = "date"
	InputList = "list"
	// InputChoice is one of Options (radio buttons on a page).
	InputChoice = "choice"
	// InputDivision is a street or town of the city (a 9-digit code of
	// the division tree).
	InputDivision = "division"
)

// Limit is a number, or the name of a setting that holds one (limits are
// settings: data, not constants).
type Limit struct {
	N       int
	Setting string
}

// UnmarshalYAML reads 500 or reason_max_chars.
func (l *Limit) UnmarshalYAML(n *yaml.Node) error {
	if v, err := strconv.Atoi(n.Value); err == nil {
		l.N = v
		return nil
	}
	if !nameRE.MatchString(n.Value) {
		return fmt.Errorf("line %d: limit %q: want a number or the name of a setting", n.Line, n.Value)
	}
	l.Setting = n.Value
	return nil
}

// Limit returns the value of a limit (0 if unset).
func (d *Definition) Limit(l Limit) int {
	if l.Setting != "" {
		v, _ := d.Settings[l.Setting].(int)
		return v
	}
	return l.N
}

// Unique says what must be unique among a service's open cases.
type Unique struct {
	// Open names claims every open case holds: "applicant" (one open case
	// per applicant) or a claim the service registered (e.g. one per person
	// moving). Claims about other people are held only once the case is
	// handed in, so nobody can block anyone with a private draft.
	Open []string `yaml:"open"`
	// WhileValid: no new case while the applicant holds a granted case of
	// the service that is still valid (result.valid_until, not cancelled).
	WhileValid bool `yaml:"while_valid"`
}

// ClaimApplicant is the built-in claim: one open case per applicant.
const ClaimApplicant = "applicant"

// Deadline is a time limit: N days or N working days.
type Deadline struct {
	N       int
	Working bool
}

var deadlineRE = regexp.MustCompile(`^(\d+) (working )?days?$`)

// maxDeadlineDays bounds a time limit: ten years is already a mistake, and
// a bound keeps date arithmetic far from overflow.
const maxDeadlineDays = 3650

// UnmarshalYAML parses "2 working days" or "30 days".
func (d *Deadline) UnmarshalYAML(n *yaml.Node) error {
	m := deadlineRE.FindStringSubmatch(strings.TrimSpace(n.Value))
	if m == nil {
		return fmt.Errorf("line %d: deadline %q: want \"N days\" or \"N working days\"", n.Line, n.Value)
	}
	n64, err := strconv.ParseInt(m[1], 10, 32)
	d.N, d.Working = int(n64), m[2] != ""
	switch {
	case err != nil || d.N > maxDeadlineDays:
		return fmt.Errorf("line %d: deadline %q: at most %d days", n.Line, n.Value, maxDeadlineDays)
	case d.N <= 0:
		return fmt.Errorf("line %d: deadline must be at least one day", n.Line)
	}
	return nil
}

// IsZero reports an absent deadline.
func (d Deadline) IsZero() bool { return d.N == 0 }

// DecodeSettings decodes the settings into a service's struct strictly: a
// setting the struct does not know is refused (a misspelt one is not
// silently ignored).
func (d *Definition) DecodeSettings(into any) error {
	b, err := yaml.Marshal(d.Settings)
	if err != nil {
		return fmt.Errorf("%s: settings: %w", d.File, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("%s: settings: %w", d.File, err)
	}
	return nil
}

// StateNames returns the states in file order.
func (d *Definition) StateNames() []string { return d.stateOrder }

// EventNames returns the events in file order.
func (d *Definition) EventNames() []string { return d.eventOrder }

// InputNames returns the declared inputs in file order.
func (d *Definition) InputNames() []string { return d.inputOrder }

// EventsFrom returns the events that can fire from state, in file order.
func (d *Definition) EventsFrom(state string) []string {
	var out []string
	for _, name := range d.eventOrder {
		if slices.Contains(d.Events[name].From, state) {
			out = append(out, name)
		}
	}
	return out
}

// Negative reports whether firing event ends the case refused or withdrawn
// whichever branch it takes: such an action is never the page's primary
// button, and asks to confirm.
func (d *Definition) Negative(event string) bool {
	e, ok := d.Events[event]
	if !ok || len(e.To.Branches) == 0 {
		return false
	}
	for _, to := range e.To.States() {
		if o := d.States[to].Outcome; o != OutcomeRefused && o != OutcomeWithdrawn && o != OutcomeTerminated {
			return false
		}
	}
	return true
}

// HandsIn reports whether the applicant firing event hands the case to
// staff (submitting it, or resubmitting after a correction): the page asks
// them to declare their answers true.
func (d *Definition) HandsIn(event string) bool {
	e, ok := d.Events[event]
	if !ok || !slices.Contains(e.By.All(), portal.RoleApplicant) {
		return false
	}
	// Only from where the applicant fills in the form or adds files (not an
	// appeal against a decision).
	if !slices.ContainsFunc(e.From, func(st string) bool {
		s := d.States[st]
		return s != nil && (slices.Contains(s.EditableBy, portal.RoleApplicant) || slices.Contains(s.MaterialsBy, portal.RoleApplicant))
	}) {
		return false
	}
	for _, to := range e.To.States() {
		s := d.States[to]
		if s.Final || slices.Contains(s.EditableBy, portal.RoleApplicant) {
			return false
		}
	}
	return true
}

// Outcome returns how state ends a case ("" while it is open).
func (d *Definition) Outcome(state string) string {
	if s, ok := d.States[state]; ok {
		return s.Outcome
	}
	return ""
}

// Tone is how a state is shown, never its name: granted, refused or
// withdrawn for a final state; "yours" while the applicant must act
// (a draft, a correction); "open" while staff work on it.
func (d *Definition) Tone(state string) string {
	s, ok := d.States[state]
	switch {
	case !ok:
		return "open"
	case s.Final:
		return s.Outcome
	case slices.Contains(s.EditableBy, portal.RoleApplicant):
		return "yours"
	}
	return "open"
}

// Allows reports whether a history edge (event from → to) is legal in this
// workflow, including the pseudo-events create, edit and amend.
func (d *Definition) Allows(event, from, to string) bool {
	switch event {
	case portal.EventCreate:
		return from == "" && to == d.Initial
	case portal.EventEdit:
		s, ok := d.States[from]
		return ok && from == to && len(s.EditableBy) > 0
	case portal.EventAmend:
		s, ok := d.States[from]
		return ok && from == to && s.Final && s.Outcome == OutcomeGranted
	case portal.EventClaim, portal.EventRelease, portal.EventAssign:
		s, ok := d.States[from]
		return ok && from == to && s.Queued() // who works an open case
	}
	e, ok := d.Events[event]
	return ok && slices.Contains(e.To.States(), to) && slices.Contains(e.From, from)
}

// Policies returns the casbin permissions the definition grants: (role,
// "*", service, EventAction(event, state)) for every state a role may fire
// an event from; (role, "*", service, EditAction(state)) for the roles that
// may edit the form in a state; and "create" for the roles that may edit
// the initial state.
func (d *Definition) Policies() [][]string {
	var out [][]string
	for _, name := range d.eventOrder {
		e := d.Events[name]
		for _, st := range e.From {
			for _, role := range e.By.From(st) {
				out = append(out, []string{role, "*", d.Service, EventAction(name, st)})
			}
		}
	}
	if d.Certificate != nil {
		for _, role := range d.Certificate.CancelBy {
			out = append(out, []string{role, "*", d.Service, CancelCertificateAction})
		}
	}
	for _, name := range d.stateOrder {
		for _, role := range d.States[name].EditableBy {
			out = append(out, []string{role, "*", d.Service, EditAction(name)})
			if name == d.Initial {
				out = append(out, []string{role, "*", d.Service, portal.EventCreate})
			}
		}
	}
	return out
}

// CancelCertificateAction is the permission to revoke a case's certificate.
const CancelCertificateAction = "certificate.cancel"

// EventAction is the permission to fire event on a case in state.
func EventAction(event, state string) string { return event + "." + state }

// EditAction is the permission to edit a case's form in state.
func EditAction(state string) string { return portal.EventEdit + "." + state }

// Known tells the loader what exists outside the files: the roles (from
// policies/roles.yaml) and, per service, the hooks its package registered.
type Known struct {
	Roles map[string]bool
	Hooks map[string]Hooks // service → its hooks
}

// LoadError is a refused definition: the file, the line when known, and why.
type LoadError struct {
	File   string
	Line   int
	Reason string
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Reason)
}

// CatalogueFile lists the services in the order people see them (see Registry).
const CatalogueFile = "catalogue.yaml"

// LoadAll reads every workflow definition (*.yaml but the calendar and the
// catalogue) in each source (workflows/, and the folders of services
// shipped with their own files) and returns them by service id, or every
// refusal joined. Messages name a file as workflows/<file>: where a service
// keeps it.
func LoadAll(known Known, sources ...fs.FS) (map[string]*Definition, error) {
	defs := map[string]*Definition{}
	var errs []error
	for _, fsys := range sources {
		names, err := fs.Glob(fsys, "*.yaml")
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if name == CalendarFile || name == CatalogueFile {
				continue
			}
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			d, err := Parse("workflows/"+name, b, known)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if other, dup := defs[d.Service]; dup {
				errs = append(errs, &LoadError{File: d.File, Reason: fmt.Sprintf("service %q is also defined in %s", d.Service, other.File)})
				continue
			}
			defs[d.Service] = d
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(defs) == 0 {
		return nil, errors.New("workflow.LoadAll: no workflow definitions found")
	}
	return defs, nil
}

var (
	nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	codeRE = regexp.MustCompile(`^[A-Z]{2}$`)
	svcRE  = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
)

// Parse decodes and validates one definition. Every problem is a *LoadError
// naming file and line; all problems are reported together.
func Parse(file string, src []byte, known Known) (*Definition, error) {
	d := &Definition{File: file}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(d); err != nil {
		return nil, &LoadError{File: file, Reason: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, &LoadError{File: file, Reason: err.Error()}
	}
	v := &validator{d: d, file: file, root: &root, known: known}
	d.stateOrder = v.keys("states")
	d.eventOrder = v.keys("events")
	d.inputOrder = v.keys("inputs")
	v.check()
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return d, nil
}

type validator struct {
	d     *Definition
	file  string
	root  *yaml.Node
	known Known
	errs  []error
}

func (v *validator) fail(line int, format string, args ...any) {
	v.errs = append(v.errs, &LoadError{File: v.file, Line: line, Reason: fmt.Sprintf(format, args...)})
}

// line returns the line of the last key of a path (e.g. events, approve,
// to), or of the deepest key that exists, so an error points at the very
// line to fix.
func (v *validator) line(keys ...string) int {
	n := v.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				line, next = n.Content[i].Line, n.Content[i+1]
				break
			}
		}
		n = next
	}
	return line
}

// node finds the value at a key path.
func (v *validator) node(keys ...string) *yaml.Node {
	n := v.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

func (v *validator) keys(section string) []string {
	n := v.node(section)
	var out []string
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			out = append(out, n.Content[i].Value)
		}
	}
	return out
}

// indicatorRE is an indicator's id or a form key it reads.
var indicatorRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

func (v *validator) check() {
	d := v.d
	if !svcRE.MatchString(d.Service) {
		v.fail(v.line("service"), "service id %q: want lower-case letters, digits and dashes", d.Service)
	}
	if want := strings.TrimSuffix(path.Base(v.file), ".yaml"); d.Service != "" && d.Service != want {
		v.fail(v.line("service"), "service %q must be defined in %s.yaml", d.Service, d.Service)
	}
	if !codeRE.MatchString(d.Code) {
		v.fail(v.line("code"), "code %q: want two capital letters (they go into case numbers)", d.Code)
	}
	if len(d.States) == 0 {
		v.fail(0, "no states")
		return
	}
	if len(d.Events) == 0 {
		v.fail(0, "no events")
		return
	}
	if _, ok := d.States[d.Initial]; !ok {
		v.fail(v.line("initial"), "initial state %q is not defined", d.Initial)
	}
	// An entry written with no body ("approve:") decodes as nil: report it
	// and go on with an empty one, so no check below meets a nil.
	for _, name := range d.stateOrder {
		if d.States[name] == nil {
			v.fail(v.line("states", name), "state %s: empty definition (write {} for a plain state)", name)
			d.States[name] = &State{}
		}
	}
	for _, name := range d.eventOrder {
		if d.Events[name] == nil {
			v.fail(v.line("events", name), "event %s: empty definition", name)
			d.Events[name] = &Event{}
		}
	}
	for _, name := range d.inputOrder {
		if d.Inputs[name] == nil {
			v.fail(v.line("inputs", name), "input %s: empty definition (give at least its type)", name)
			d.Inputs[name] = &InputSpec{Type: InputLine}
		}
	}
	hooks := v.known.Hooks[d.Service]
	v.checklist()
	v.inputs()
	v.unique(hooks)
	for _, name := range d.stateOrder {
		s := d.States[name]
		ln := v.line("states", name)
		if !nameRE.MatchString(name) {
			v.fail(ln, "state name %q: want lower_snake_case", name)
		}
		if _, clash := d.Events[name]; clash {
			v.fail(ln, "%q is both a state and an event", name)
		}
		v.roles(v.line("states", name, "editable_by"), "state "+name+" editable_by", s.EditableBy)
		v.roles(v.line("states", name, "materials_by"), "state "+name+" materials_by", s.MaterialsBy)
		if len(s.MaterialsBy) > 0 && len(d.Checklist) == 0 {
			v.fail(v.line("states", name, "materials_by"), "state %s: materials_by needs a checklist", name)
		}
		if s.DeadlineFrom != "" && (!s.Deadline.IsZero() || !nameRE.MatchString(s.DeadlineFrom)) {
			v.fail(v.line("states", name, "deadline_from"), "state %s: deadline_from is a result key, instead of a deadline", name)
		}
		if s.Final && (!s.Deadline.IsZero() || s.DeadlineFrom != "" || s.OnTimeout != "" || len(s.EditableBy) > 0 || len(s.MaterialsBy) > 0) {
			v.fail(ln, "state %s is final: it can have no deadline, timeout or editors", name)
		}
		if s.PausesClock && (s.Final || s.Private) {
			v.fail(v.line("states", name, "pauses_clock"), "state %s: only an open state can pause the clock", name)
		}
		switch {
		case s.Final && !slices.Contains(Outcomes(), s.Outcome):
			v.fail(ln, "final state %s needs an outcome: %s", name, strings.Join(Outcomes(), ", "))
		case !s.Final && s.Outcome != "":
			v.fail(v.line("states", name, "outcome"), "state %s is not final: it can have no outcome", name)
		}
		if s.OnTimeout != "" {
			e, ok := d.Events[s.OnTimeout]
			switch {
			case s.Deadline.IsZero() && s.DeadlineFrom == "":
				v.fail(v.line("states", name, "on_timeout"), "state %s: on_timeout needs a deadline", name)
			case !ok:
				v.fail(v.line("states", name, "on_timeout"), "state %s: on_timeout event %q is not defined", name, s.OnTimeout)
			case !slices.Contains(e.From, name):
				v.fail(v.line("states", name, "on_timeout"), "state %s: on_timeout event %q cannot fire from %s", name, s.OnTimeout, name)
			case len(e.Inputs) > 0 && slices.ContainsFunc(e.Inputs, func(in EventInput) bool { return in.Required }):
				v.fail(v.line("states", name, "on_timeout"), "state %s: on_timeout event %q requires inputs the scheduler cannot give", name, s.OnTimeout)
			}
		}
		for _, a := range s.OnEnter {
			if hooks.Actions[a] == nil {
				v.fail(v.line("states", name, "on_enter"), "state %s: action %q is not registered by service %s", name, a, d.Service)
			}
		}
	}
	for _, name := range d.eventOrder {
		v.event(name, hooks)
	}
	if r := d.Retention; r != nil && (r.Days < 180 || r.WithdrawnDays < 30 || r.WithdrawnDays > r.Days) {
		v.fail(v.line("retention"), "retention: days ≥ 180 and 30 ≤ withdrawn_days ≤ days (the audit's own 180 days are the floor)")
	}
	for i, in := range d.Indicators {
		switch {
		case in == nil || !indicatorRE.MatchString(in.ID):
			v.fail(v.line("indicators"), "indicator %d: id: want lower-case letters, digits and _", i+1)
		case d.States[in.State] == nil || !d.States[in.State].Final:
			v.fail(v.line("indicators"), "indicator %s: state %q is not a final state", in.ID, in.State)
		case in.By != "" && !indicatorRE.MatchString(in.By):
			v.fail(v.line("indicators"), "indicator %s: by: want a form key", in.ID)
		}
	}
	if len(v.errs) > 0 {
		return // the graph checks below would only repeat the errors above
	}
	for _, name := range d.eventOrder {
		v.bulk(name)
	}
	v.graph()
}

// bulk refuses bulk: true where firing the event on many cases at once
// would be a decision nobody took case by case. A refusal or any ending
// the applicant did not want (Negative) owes each applicant their own
// reason; a required input (a reason, the items of a correction, a
// reference) is about one case, and one value sent to a hundred cases
// would be wrong for most of them; a cohort event already moves many cases
// through its own operation; and an applicant's event is about their own
// case only. Checked once the states are known (Negative reads them).
func (v *validator) bulk(name string) {
	d := v.d
	e := d.Events[name]
	if !e.Bulk {
		return
	}
	ln := v.line("events", name, "bulk")
	switch {
	case d.Negative(name):
		v.fail(ln, "event %s: bulk: a refusal or a withdrawal is decided case by case, with its own reason", name)
	case e.Cohort:
		v.fail(ln, "event %s: bulk: a cohort event moves its cases through its own operation", name)
	case slices.ContainsFunc(e.Inputs, func(in EventInput) bool { return in.Required }):
		v.fail(ln, "event %s: bulk: it requires inputs, which are about one case and cannot be sent to many at once", name)
	case slices.Contains(e.By.All(), portal.RoleApplicant):
		v.fail(ln, "event %s: bulk: an applicant acts on their own case, one at a time", name)
	}
}

func (v *validator) event(name string, hooks Hooks) {
	d := v.d
	e := d.Events[name]
	ln := v.line("events", name)
	if !nameRE.MatchString(name) || name == portal.EventCreate || name == portal.EventEdit || name == portal.EventAmend || portal.DeskEvent(name) {
		v.fail(ln, "event name %q: want lower_snake_case, not create, edit, amend, claim, release or assign (the portal's own steps)", name)
	}
	// With by: {role: [states]}, from may be left out: it is every state
	// some role may fire the event from.
	if len(e.From) == 0 && e.By.mapping {
		for _, role := range e.By.order {
			for _, st := range e.By.byRole[role] {
				if !slices.Contains(e.From, st) {
					e.From = append(e.From, st)
				}
			}
		}
	}
	if len(e.From) == 0 {
		v.fail(ln, "event %s: no from states", name)
	}
	from := v.line("events", name, "from")
	if from == 0 {
		from = ln
	}
	for _, s := range e.From {
		if _, ok := d.States[s]; !ok {
			v.fail(from, "event %s: unknown from state %q", name, s)
		} else if d.States[s].Final {
			v.fail(from, "event %s: cannot leave final state %s", name, s)
		}
		if slices.Contains(e.To.States(), s) && e.Transfer == "" {
			v.fail(from, "event %s: from and to are both %s (a transition must change the state; only a transfer keeps it)", name, s)
		}
	}
	toLine := v.line("events", name, "to")
	if len(e.To.Branches) == 0 {
		v.fail(toLine, "event %s: no to state", name)
	}
	for i, b := range e.To.Branches {
		last := i == len(e.To.Branches)-1
		switch {
		case last && b.If != "":
			v.fail(toLine, "event %s: the last branch is taken otherwise: it can have no if (%q)", name, b.If)
		case !last && b.If == "":
			v.fail(toLine, "event %s: branch %d has no if: only the last branch is unconditional", name, i+1)
		case b.If != "" && hooks.Conditions[b.If] == nil:
			v.fail(toLine, "event %s: condition %q is not registered by service %s", name, b.If, d.Service)
		}
		to, ok := d.States[b.To]
		if !ok {
			v.fail(toLine, "event %s: unknown to state %q", name, b.To)
			continue
		}
		if to.Private {
			// Staff would lose sight of a case they have seen.
			for _, s := range e.From {
				if fs, ok := d.States[s]; ok && !fs.Private {
					v.fail(from, "event %s: leads from %s, which staff see, into private state %s", name, s, b.To)
				}
			}
		}
	}
	byLine := v.line("events", name, "by")
	if len(e.By.All()) == 0 {
		v.fail(byLine, "event %s: no role may fire it (by)", name)
	}
	v.roles(byLine, "event "+name+" by", e.By.All())
	if e.By.mapping {
		for _, role := range e.By.order {
			for _, st := range e.By.byRole[role] {
				if !slices.Contains(e.From, st) {
					v.fail(byLine, "event %s: by %s from %s, which is not one of its from states", name, role, st)
				}
			}
		}
		for _, st := range e.From {
			if len(e.By.From(st)) == 0 {
				v.fail(byLine, "event %s: no role may fire it from %s", name, st)
			}
		}
	}
	seen := map[string]bool{}
	for _, in := range e.Inputs {
		if _, ok := d.Inputs[in.Name]; !ok {
			v.fail(v.line("events", name, "inputs"), "event %s: input %q is not declared under inputs", name, in.Name)
		}
		if seen[in.Name] {
			v.fail(v.line("events", name, "inputs"), "event %s: input %q is listed twice", name, in.Name)
		}
		seen[in.Name] = true
	}
	for _, g := range e.Guards {
		if hooks.Guards[g] == nil {
			v.fail(v.line("events", name, "guards"), "event %s: guard %q is not registered by service %s", name, g, d.Service)
		}
	}
	for _, a := range e.Actions {
		if hooks.Actions[a] == nil {
			v.fail(v.line("events", name, "actions"), "event %s: action %q is not registered by service %s", name, a, d.Service)
		}
	}
	for _, o := range e.NotByActorOf {
		if _, ok := d.Events[o]; !ok {
			v.fail(v.line("events", name, "not_by_actor_of"), "event %s: not_by_actor_of names unknown event %q", name, o)
		}
	}
	if e.Idempotent && len(e.Inputs) == 0 {
		v.fail(v.line("events", name, "idempotent"), "event %s: idempotent needs inputs to recognise a repeat by", name)
	}
	v.transfer(name, e)
}

// transfer checks a transfer event: it keeps the case in its state (only
// the office changes), never from a private or final state, and a
// transfer to an office takes the office as a required division input.
func (v *validator) transfer(name string, e *Event) {
	d := v.d
	ln := v.line("events", name, "transfer")
	if e.Transfer == "" {
		if e.RestartClock {
			v.fail(v.line("events", name, "restart_clock"), "event %s: restart_clock is for transfers", name)
		}
		return
	}
	if e.Transfer != TransferOffice && e.Transfer != TransferBack {
		v.fail(ln, "event %s: transfer %q (known: office, back)", name, e.Transfer)
		return
	}
	for _, st := range e.From {
		if s := d.States[st]; s != nil && (s.Private || s.Final) || len(e.To.Branches) != 1 || e.To.Branches[0].To != st {
			v.fail(ln, "event %s: a transfer keeps an open case in its state (from %s to %s)", name, st, strings.Join(e.To.States(), ", "))
		}
	}
	office := false
	for _, in := range e.Inputs {
		if in.Name == "division" {
			office = in.Required && d.Inputs[in.Name].Type == InputDivision
		}
	}
	if (e.Transfer == TransferOffice) != office {
		v.fail(ln, "event %s: a transfer to an office needs the required input division (type division); a transfer back takes none", name)
	}
	if e.Cohort {
		v.fail(ln, "event %s: a transfer moves one case", name)
	}
}

// inputs checks the declared inputs: a known type, and limits that are
// positive numbers or settings holding one.
func (v *validator) inputs() {
	d := v.d
	limit := func(name, key string, l Limit) {
		ln := v.line("inputs", name, key)
		switch n := d.Limit(l); {
		case l.Setting != "" && n <= 0:
			v.fail(ln, "input %s: %s names setting %q, which must be a positive whole number", name, key, l.Setting)
		case l.Setting == "" && n <= 0:
			v.fail(ln, "input %s: %s must be a positive number", name, key)
		}
	}
	for _, name := range d.inputOrder {
		in := d.Inputs[name]
		ln := v.line("inputs", name)
		if !nameRE.MatchString(name) || name == "version" {
			v.fail(ln, "input name %q: want lower_snake_case, not version", name)
		}
		switch in.Type {
		case InputLine, InputText:
			limit(name, "max", in.Max)
		case InputDate, InputDivision:
		case InputList:
			limit(name, "max", in.Max)
			limit(name, "item_max", in.ItemMax)
		case InputChoice:
			if len(in.Options) == 0 || slices.ContainsFunc(in.Options, func(o string) bool { return !nameRE.MatchString(o) }) {
				v.fail(v.line("inputs", name, "options"), "input %s: a choice needs options (lower_snake_case values)", name)
			}
		default:
			v.fail(v.line("inputs", name, "type"), "input %s: type %q (known: line, text, date, list, choice, division)", name, in.Type)
		}
		if len(in.Options) > 0 && in.Type != InputChoice {
			v.fail(v.line("inputs", name, "options"), "input %s: options are for a choice", name)
		}
		if in.Choices != "" && (in.Type != InputList || in.Choices != "materials") {
			v.fail(v.line("inputs", name, "choices"), "input %s: choices can only be materials, on a list", name)
		}
		if in.NotFuture && in.Type != InputDate {
			v.fail(v.line("inputs", name, "not_future"), "input %s: not_future is for dates", name)
		}
		if in.Type == InputDate && (in.Max != Limit{} || in.ItemMax != Limit{}) {
			v.fail(ln, "input %s: a date has no max", name)
		}
	}
}

// checklist checks the checklist and the certificate, and derives the
// items a correction request may point at.
func (v *validator) checklist() {
	d := v.d
	for i, it := range d.Checklist {
		ln := v.line("checklist")
		if n := v.node("checklist"); n != nil && i < len(n.Content) {
			ln = n.Content[i].Line
		}
		switch {
		case it == nil:
			v.fail(ln, "checklist entry %d: empty", i+1)
			continue
		case !nameRE.MatchString(it.Item):
			v.fail(ln, "checklist item %q: want lower_snake_case", it.Item)
		case slices.Contains(d.Material, it.Item):
			v.fail(ln, "checklist item %s is listed twice", it.Item)
		}
		for field, values := range it.When {
			if !nameRE.MatchString(field) || len(values) == 0 {
				v.fail(ln, "checklist item %s: when: want form field: [values]", it.Item)
			}
		}
		if it.Per != "" && !nameRE.MatchString(it.Per) {
			v.fail(ln, "checklist item %s: per: want a list field of the form", it.Item)
		}
		d.Material = append(d.Material, it.Item)
	}
	if c := d.Certificate; c != nil {
		if !svcRE.MatchString(c.Kind) || !nameRE.MatchString(c.Number) || (c.ValidUntil != "" && !nameRE.MatchString(c.ValidUntil)) {
			v.fail(v.line("certificate"), "certificate: want kind (a-z and dashes), number and optionally valid_until (result keys)")
		}
		if c.Lapse != "" && c.Lapse != portal.CertExpired && c.Lapse != portal.CertSuspended {
			v.fail(v.line("certificate", "lapse"), "certificate: lapse is expired or suspended")
		}
		if r := c.Remind; r != nil {
			if _, _, err := r.Clock(); err != nil || r.MonthsBefore <= 0 || !nameRE.MatchString(r.Notice) || c.ValidUntil == "" {
				v.fail(v.line("certificate", "remind"), "certificate: remind wants months_before (>0), at (HH:MM) and notice (a name), and the certificate a valid_until")
			}
		}
		if c.LapseNotice != "" && (c.Lapse != portal.CertSuspended || !nameRE.MatchString(c.LapseNotice)) {
			v.fail(v.line("certificate", "lapse_notice"), "certificate: lapse_notice (a name) goes with lapse: suspended")
		}
		v.roles(v.line("certificate", "cancel_by"), "certificate cancel_by", c.CancelBy)
	}
}

func (v *validator) unique(hooks Hooks) {
	for _, c := range v.d.Unique.Open {
		if c != ClaimApplicant && hooks.Claims[c] == nil {
			v.fail(v.line("unique", "open"), "unique: claim %q is neither applicant nor registered by service %s", c, v.d.Service)
		}
	}
}

func (v *validator) roles(line int, what string, roles []string) {
	for _, r := range roles {
		if !v.known.Roles[r] {
			v.fail(line, "%s: unknown role %q", what, r)
		}
	}
}

// graph refuses unreachable states and dead ends: every state must be
// reachable from the initial one, and every non-final state must have a way
// out; final states have none.
func (v *validator) graph() {
	d := v.d
	reached := map[string]bool{d.Initial: true}
	queue := []string{d.Initial}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, ev := range d.EventsFrom(s) {
			for _, to := range d.Events[ev].To.States() {
				if !reached[to] {
					reached[to] = true
					queue = append(queue, to)
				}
			}
		}
	}
	var finals int
	for _, name := range d.stateOrder {
		s := d.States[name]
		ln := v.line("states", name)
		if !reached[name] {
			v.fail(ln, "state %s is unreachable from %s", name, d.Initial)
		}
		if s.Final {
			finals++
		} else if len(d.EventsFrom(name)) == 0 {
			v.fail(ln, "state %s is a dead end: no event leaves it and it is not final", name)
		}
	}
	if finals == 0 {
		v.fail(v.line("states"), "no final state: a case could never end")
	}
}
