// Package workflow turns the service definitions in workflows/ into validated
// state machines and fires their events (Engine.Fire): one transaction per
// transition, authorized through casbin, run by looplab/fsm, written with a
// compare-and-set on the case version, a history row and an audit entry.
// It knows nothing of any particular service: services register their form,
// guards and actions by name (Service).
package workflow

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"tzportal/portal"
)

// Definition is one service's workflow, validated.
type Definition struct {
	Service  string            `yaml:"service"`
	Code     string            `yaml:"code"`      // two letters in the case number: TZ<code>yyyymmddNNNNNN
	ItemCode string            `yaml:"item_code"` // GB/T 39554.1 service-item code
	Initial  string            `yaml:"initial"`
	Settings map[string]any    `yaml:"settings"` // read by the service's guards and actions
	Material []string          `yaml:"materials"`
	States   map[string]*State `yaml:"states"`
	Events   map[string]*Event `yaml:"events"`

	File       string   `yaml:"-"`
	stateOrder []string // file order, for stable output
	eventOrder []string
}

// State is one state of a workflow.
type State struct {
	Final      bool     `yaml:"final"`
	EditableBy []string `yaml:"editable_by"` // roles that may edit the form in this state
	Deadline   Deadline `yaml:"deadline"`
	OnTimeout  string   `yaml:"on_timeout"` // event fired by the scheduler when the deadline passes
	// Outcome says how a final state ends the case: granted, refused or
	// withdrawn (for people's pages and the plan's indicators).
	Outcome string `yaml:"outcome"`
	// Private: a case in this state was never handed in; only its
	// applicant sees it (a draft, a discarded draft).
	Private bool `yaml:"private"`
}

// Outcomes of final states.
const (
	OutcomeGranted   = "granted"
	OutcomeRefused   = "refused"
	OutcomeWithdrawn = "withdrawn"
)

// Negative reports whether firing event ends the case refused or withdrawn:
// such an action is never the page's primary button.
func (d *Definition) Negative(event string) bool {
	e, ok := d.Events[event]
	if !ok {
		return false
	}
	o := d.States[e.To].Outcome
	return o == OutcomeRefused || o == OutcomeWithdrawn
}

// Event is one event (a possible transition) of a workflow.
type Event struct {
	From     []string `yaml:"from"`
	To       string   `yaml:"to"`
	By       []string `yaml:"by"`       // roles that may fire it
	Requires []string `yaml:"requires"` // inputs it needs: reason, items
	Guards   []string `yaml:"guards"`   // registered guards, all must pass
	Actions  []string `yaml:"actions"`  // registered actions, run in order after the guards
	// NotByActorOf names earlier events whose actor may not fire this one
	// (separation of duties: the first-level approver cannot approve the second).
	NotByActorOf []string `yaml:"not_by_actor_of"`
}

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

// Requirement names the inputs an event may require.
const (
	RequireReason = "reason"
	RequireItems  = "items"
)

// StateNames returns the states in file order.
func (d *Definition) StateNames() []string { return d.stateOrder }

// EventNames returns the events in file order.
func (d *Definition) EventNames() []string { return d.eventOrder }

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

// Allows reports whether a history edge (event from → to) is legal in this
// workflow, including the pseudo-events create and edit.
func (d *Definition) Allows(event, from, to string) bool {
	switch event {
	case portal.EventCreate:
		return from == "" && to == d.Initial
	case portal.EventEdit:
		s, ok := d.States[from]
		return ok && from == to && len(s.EditableBy) > 0
	}
	e, ok := d.Events[event]
	return ok && e.To == to && slices.Contains(e.From, from)
}

// Policies returns the casbin permissions the definition grants: one
// (role, "*", service, event) per event and role; (role, "*", service,
// "edit.<state>") for the roles that may edit the form in a state; and
// "create" for the roles that may edit the initial state.
func (d *Definition) Policies() [][]string {
	var out [][]string
	for _, name := range d.eventOrder {
		for _, role := range d.Events[name].By {
			out = append(out, []string{role, "*", d.Service, name})
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

// EditAction is the permission to edit a case's form in state.
func EditAction(state string) string { return portal.EventEdit + "." + state }

// Registry tells the loader what exists outside the files: the roles (from
// policies/roles.yaml) and, per service, the guards and actions its package
// registered.
type Registry struct {
	Roles   map[string]bool
	Guards  map[string]map[string]bool // service → guard names
	Actions map[string]map[string]bool // service → action names
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

// LoadAll reads every *.yaml in fsys except calendar.yaml and returns the
// definitions by service id, or every refusal joined.
func LoadAll(fsys fs.FS, reg Registry) (map[string]*Definition, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	defs := map[string]*Definition{}
	var errs []error
	for _, name := range names {
		if name == CalendarFile {
			continue
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d, err := Parse("workflows/"+name, b, reg)
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
func Parse(file string, src []byte, reg Registry) (*Definition, error) {
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
	v := &validator{d: d, file: file, root: &root, reg: reg}
	d.stateOrder = v.keys("states")
	d.eventOrder = v.keys("events")
	v.check()
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return d, nil
}

type validator struct {
	d    *Definition
	file string
	root *yaml.Node
	reg  Registry
	errs []error
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
		if s.Final && (!s.Deadline.IsZero() || s.OnTimeout != "" || len(s.EditableBy) > 0) {
			v.fail(ln, "state %s is final: it can have no deadline, timeout or editors", name)
		}
		switch {
		case s.Final && s.Outcome != OutcomeGranted && s.Outcome != OutcomeRefused && s.Outcome != OutcomeWithdrawn:
			v.fail(ln, "final state %s needs an outcome: granted, refused or withdrawn", name)
		case !s.Final && s.Outcome != "":
			v.fail(v.line("states", name, "outcome"), "state %s is not final: it can have no outcome", name)
		}
		if s.OnTimeout != "" {
			e, ok := d.Events[s.OnTimeout]
			switch {
			case s.Deadline.IsZero():
				v.fail(v.line("states", name, "on_timeout"), "state %s: on_timeout needs a deadline", name)
			case !ok:
				v.fail(v.line("states", name, "on_timeout"), "state %s: on_timeout event %q is not defined", name, s.OnTimeout)
			case !slices.Contains(e.From, name):
				v.fail(v.line("states", name, "on_timeout"), "state %s: on_timeout event %q cannot fire from %s", name, s.OnTimeout, name)
			}
		}
	}
	for _, name := range d.eventOrder {
		e := d.Events[name]
		ln := v.line("events", name)
		if !nameRE.MatchString(name) || name == portal.EventCreate || name == portal.EventEdit {
			v.fail(ln, "event name %q: want lower_snake_case, not create or edit", name)
		}
		if len(e.From) == 0 {
			v.fail(ln, "event %s: no from states", name)
		}
		for _, s := range e.From {
			from := v.line("events", name, "from")
			if _, ok := d.States[s]; !ok {
				v.fail(from, "event %s: unknown from state %q", name, s)
			} else if d.States[s].Final {
				v.fail(from, "event %s: cannot leave final state %s", name, s)
			}
			if s == e.To {
				v.fail(from, "event %s: from and to are both %s (a transition must change the state)", name, s)
			}
		}
		if to, ok := d.States[e.To]; !ok {
			v.fail(v.line("events", name, "to"), "event %s: unknown to state %q", name, e.To)
		} else if to.Private {
			// Staff would lose sight of a case they have seen.
			for _, s := range e.From {
				if from, ok := d.States[s]; ok && !from.Private {
					v.fail(v.line("events", name, "from"), "event %s: leads from %s, which staff see, into private state %s", name, s, e.To)
				}
			}
		}
		if len(e.By) == 0 {
			v.fail(v.line("events", name, "by"), "event %s: no role may fire it (by)", name)
		}
		v.roles(v.line("events", name, "by"), "event "+name+" by", e.By)
		for _, r := range e.Requires {
			if r != RequireReason && r != RequireItems {
				v.fail(v.line("events", name, "requires"), "event %s: unknown requirement %q (known: reason, items)", name, r)
			}
		}
		for _, g := range e.Guards {
			if !v.reg.Guards[d.Service][g] {
				v.fail(v.line("events", name, "guards"), "event %s: guard %q is not registered by service %s", name, g, d.Service)
			}
		}
		for _, a := range e.Actions {
			if !v.reg.Actions[d.Service][a] {
				v.fail(v.line("events", name, "actions"), "event %s: action %q is not registered by service %s", name, a, d.Service)
			}
		}
		for _, o := range e.NotByActorOf {
			if _, ok := d.Events[o]; !ok {
				v.fail(v.line("events", name, "not_by_actor_of"), "event %s: not_by_actor_of names unknown event %q", name, o)
			}
		}
	}
	if len(v.errs) > 0 {
		return // the graph checks below would only repeat the errors above
	}
	v.graph()
}

func (v *validator) roles(line int, what string, roles []string) {
	for _, r := range roles {
		if !v.reg.Roles[r] {
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
			if to := d.Events[ev].To; !reached[to] {
				reached[to] = true
				queue = append(queue, to)
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

// SortedServices returns the service ids of defs in order.
func SortedServices(defs map[string]*Definition) []string {
	out := make([]string, 0, len(defs))
	for k := range defs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
