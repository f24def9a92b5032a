package workflow_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// good is a valid definition the table below breaks one way at a time.
const good = `service: demo-service
code: DS
initial: draft
inputs:
  reason: {type: text, max: 500}
  items: {type: list, max: 30, item_max: 200, choices: materials}
states:
  draft:
    editable_by: [applicant]
  submitted:
    deadline: 2 working days
  correction:
    editable_by: [applicant]
    deadline: 30 days
    on_timeout: withdraw
  approved:
    final: true
    outcome: granted
  withdrawn:
    final: true
    outcome: withdrawn
events:
  submit:
    from: [draft, correction]
    to: submitted
    by: [applicant]
    guards: [complete]
  correct:
    from: [submitted]
    to: correction
    by: [street_clerk]
    inputs: {reason: required, items: required}
  approve:
    from: [submitted]
    to: approved
    by: [street_clerk]
    actions: [issue]
    not_by_actor_of: [correct]
  withdraw:
    from: [draft, submitted, correction]
    to: withdrawn
    by: [applicant]
`

func registry() workflow.Known {
	return workflow.Known{
		Roles: map[string]bool{"applicant": true, "street_clerk": true, "district_officer": true},
		Hooks: map[string]workflow.Hooks{"demo-service": demoHooks()},
	}
}

func demoHooks() workflow.Hooks {
	return workflow.Hooks{
		Guards:     map[string]workflow.Guard{"complete": func(context.Context, *workflow.Firing) error { return nil }},
		Actions:    map[string]workflow.Action{"issue": func(context.Context, *workflow.Firing) error { return nil }},
		Conditions: map[string]workflow.Condition{"local": func(context.Context, *workflow.Firing) (bool, error) { return true, nil }},
		Claims:     map[string]workflow.Claim{"persons": func(*portal.Case, *portal.User) ([]workflow.ClaimKey, error) { return nil, nil }},
	}
}

func TestParseGood(t *testing.T) {
	d, err := workflow.Parse("workflows/demo-service.yaml", []byte(good), registry())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.StateNames(), ","); got != "draft,submitted,correction,approved,withdrawn" {
		t.Errorf("states in file order: %s", got)
	}
	if got := strings.Join(d.EventsFrom("submitted"), ","); got != "correct,approve,withdraw" {
		t.Errorf("events from submitted: %s", got)
	}
	if s := d.States["submitted"].Deadline; s.N != 2 || !s.Working {
		t.Errorf("deadline: %+v", s)
	}
	checks := []struct {
		event, from, to string
		ok              bool
	}{
		{portal.EventCreate, "", "draft", true},
		{portal.EventEdit, "correction", "correction", true},
		{portal.EventEdit, "submitted", "submitted", false},
		{"approve", "submitted", "approved", true},
		{"approve", "draft", "approved", false},
		{"nonsense", "draft", "submitted", false},
	}
	for _, c := range checks {
		if got := d.Allows(c.event, c.from, c.to); got != c.ok {
			t.Errorf("Allows(%s, %s → %s) = %v", c.event, c.from, c.to, got)
		}
	}
	pol := map[string]bool{}
	for _, p := range d.Policies() {
		pol[strings.Join(p, ",")] = true
	}
	for _, want := range []string{"applicant,*,demo-service,submit.draft", "applicant,*,demo-service,submit.correction",
		"street_clerk,*,demo-service,approve.submitted", "applicant,*,demo-service,create", "applicant,*,demo-service,edit.correction"} {
		if !pol[want] {
			t.Errorf("policy %q missing from %v", want, pol)
		}
	}
	if pol["street_clerk,*,demo-service,submit.draft"] || pol["applicant,*,demo-service,approve.draft"] {
		t.Error("a role not in by: got a permission")
	}
}

// TestBranchesAndRolesByState covers an event whose target a condition
// chooses and whose roles depend on the state it fires from.
func TestBranchesAndRolesByState(t *testing.T) {
	src := strings.Replace(good, "    from: [submitted]\n    to: approved\n    by: [street_clerk]\n", `    to:
      - {if: local, to: approved}
      - {to: withdrawn}
    by: {street_clerk: [submitted], district_officer: [correction]}
`, 1)
	d, err := workflow.Parse("workflows/demo-service.yaml", []byte(src), registry())
	if err != nil {
		t.Fatal(err)
	}
	ev := d.Events["approve"]
	if got := strings.Join(ev.From, ","); got != "submitted,correction" {
		t.Errorf("from derived from by: %s", got)
	}
	if got := strings.Join(ev.To.States(), ","); got != "approved,withdrawn" {
		t.Errorf("targets: %s", got)
	}
	for _, c := range []struct {
		event, from, to string
		ok              bool
	}{
		{"approve", "submitted", "approved", true},
		{"approve", "correction", "withdrawn", true},
		{"approve", "draft", "approved", false},
		{portal.EventAmend, "approved", "approved", true},
		{portal.EventAmend, "withdrawn", "withdrawn", false}, // only a granted result is amended
		{portal.EventAmend, "submitted", "submitted", false},
	} {
		if got := d.Allows(c.event, c.from, c.to); got != c.ok {
			t.Errorf("Allows(%s, %s → %s) = %v", c.event, c.from, c.to, got)
		}
	}
	pol := map[string]bool{}
	for _, p := range d.Policies() {
		pol[strings.Join(p, ",")] = true
	}
	if !pol["street_clerk,*,demo-service,approve.submitted"] || !pol["district_officer,*,demo-service,approve.correction"] ||
		pol["street_clerk,*,demo-service,approve.correction"] || pol["district_officer,*,demo-service,approve.submitted"] {
		t.Errorf("permissions by state: %v", pol)
	}
	if d.Negative("approve") {
		t.Error("approve can grant: it is not a negative action")
	}
	if !d.HandsIn("submit") || d.HandsIn("withdraw") {
		t.Error("submit hands the case in; withdraw does not")
	}
}

func TestParseRefusesBadDefinitions(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(string) string
		line    int // 0: any
		message string
	}{
		{"unknown to state", r("to: approved", "to: aproved"), 35, `unknown to state "aproved"`},
		{"unknown from state", r("from: [submitted]\n    to: approved", "from: [sent]\n    to: approved"), 34, `unknown from state "sent"`},
		{"unknown initial state", r("initial: draft", "initial: start"), 3, `initial state "start" is not defined`},
		{"unknown role", r("by: [street_clerk]\n    actions", "by: [street_cleck]\n    actions"), 36, `unknown role "street_cleck"`},
		{"unknown editor role", r("editable_by: [applicant]\n  submitted", "editable_by: [citizen]\n  submitted"), 9, `unknown role "citizen"`},
		{"unregistered guard", r("guards: [complete]", "guards: [complet]"), 0, `guard "complet" is not registered by service demo-service`},
		{"unregistered action", r("actions: [issue]", "actions: [issue_permit]"), 0, `action "issue_permit" is not registered`},
		{"undeclared input", r("inputs: {reason: required, items: required}", "inputs: {reason: required, photo: required}"), 0, `input "photo" is not declared`},
		{"unknown separation event", r("not_by_actor_of: [correct]", "not_by_actor_of: [review]"), 0, `not_by_actor_of names unknown event "review"`},
		{"unreachable state", r("    outcome: withdrawn\n", "    outcome: withdrawn\n  archived:\n    final: true\n    outcome: granted\n"), 22, "state archived is unreachable"},
		{"dead end", r("  approved:\n    final: true\n    outcome: granted", "  approved: {}"), 16, "state approved is a dead end"},
		{"no final state", func(s string) string {
			s = strings.Replace(s, "  approved:\n    final: true\n    outcome: granted", "  approved: {}", 1)
			s = strings.Replace(s, "  withdrawn:\n    final: true\n    outcome: withdrawn", "  withdrawn: {}", 1)
			return s + "  reopen:\n    from: [approved, withdrawn]\n    to: draft\n    by: [applicant]\n"
		}, 0, "no final state"},
		{"leaves a final state", func(s string) string {
			return s + "  reopen:\n    from: [approved]\n    to: draft\n    by: [applicant]\n"
		}, 0, "cannot leave final state approved"},
		{"timeout without deadline", r("    deadline: 30 days\n    on_timeout: withdraw", "    on_timeout: withdraw"), 14, "on_timeout needs a deadline"},
		{"timeout event not from state", r("on_timeout: withdraw", "on_timeout: approve"), 15, `on_timeout event "approve" cannot fire from correction`},
		{"timeout event needing inputs", func(s string) string {
			s = strings.Replace(s, "on_timeout: withdraw", "on_timeout: lapse", 1)
			return s + "  lapse:\n    from: [correction]\n    to: withdrawn\n    by: [street_clerk]\n    inputs: {reason: required}\n"
		}, 0, "requires inputs the scheduler cannot give"},
		{"bad deadline", r("deadline: 2 working days", "deadline: two weeks"), 0, `deadline "two weeks"`},
		{"unknown key", r("    inputs: {reason: required, items: required}", "    requires: [reason, items]"), 0, "field requires not found"},
		{"no roles", r("    by: [street_clerk]\n    inputs", "    by: []\n    inputs"), 31, "no role may fire it"},
		{"input neither required nor optional", r("{reason: required, items: required}", "{reason: needed, items: required}"), 0, `want required or optional, not "needed"`},
		{"unknown input type", r("reason: {type: text, max: 500}", "reason: {type: essay, max: 500}"), 5, `type "essay"`},
		{"limit naming no setting", r("reason: {type: text, max: 500}", "reason: {type: text, max: reason_max}"), 0, `names setting "reason_max"`},
		{"choices of a text", r("reason: {type: text, max: 500}", "reason: {type: text, max: 500, choices: materials}"), 0, "choices can only be materials, on a list"},
		{"branch with an unregistered condition", r("    to: approved\n", "    to:\n      - {if: locale, to: approved}\n      - {to: withdrawn}\n"), 0,
			`condition "locale" is not registered`},
		{"last branch with a condition", r("    to: approved\n", "    to:\n      - {if: local, to: approved}\n"), 0, "the last branch is taken otherwise"},
		{"first branch without a condition", r("    to: approved\n", "    to:\n      - {to: approved}\n      - {to: withdrawn}\n"), 0, "branch 1 has no if"},
		{"branch to an unknown state", r("    to: approved\n", "    to:\n      - {if: local, to: settled}\n      - {to: approved}\n"), 0, `unknown to state "settled"`},
		{"role by state outside from", r("    from: [submitted]\n    to: approved\n    by: [street_clerk]", "    from: [submitted]\n    to: approved\n    by: {street_clerk: [draft]}"), 0,
			"by street_clerk from draft, which is not one of its from states"},
		{"from state nobody may fire from", r("    from: [submitted]\n    to: approved\n    by: [street_clerk]", "    from: [submitted, correction]\n    to: approved\n    by: {street_clerk: [submitted]}"), 0,
			"no role may fire it from correction"},
		{"unregistered entry action", r("    outcome: granted\n", "    outcome: granted\n    on_enter: [celebrate]\n"), 0, `action "celebrate" is not registered`},
		{"unregistered claim", r("initial: draft\n", "initial: draft\nunique:\n  open: [applicant, households]\n"), 0, `claim "households"`},
		{"idempotent without inputs", r("    actions: [issue]\n", "    actions: [issue]\n    idempotent: true\n"), 0, "idempotent needs inputs"},
		{"bulk refusal", func(s string) string {
			return s + "  refuse:\n    from: [submitted]\n    to: withdrawn\n    by: [street_clerk]\n    bulk: true\n"
		}, 0, "bulk: a refusal or a withdrawal is decided case by case"},
		{"bulk with required inputs", r("    inputs: {reason: required, items: required}\n", "    inputs: {reason: required, items: required}\n    bulk: true\n"), 0,
			"bulk: it requires inputs"},
		{"bulk by the applicant", r("    guards: [complete]\n", "    guards: [complete]\n    bulk: true\n"), 0, "bulk: an applicant acts on their own case"},
		{"self loop", r("from: [submitted]\n    to: correction", "from: [correction]\n    to: correction"), 0, "from and to are both correction"},
		{"bad code", r("code: DS", "code: ds1"), 2, `code "ds1"`},
		{"wrong file name", r("service: demo-service", "service: other-service"), 1, `must be defined in other-service.yaml`},
		{"name clash", func(s string) string {
			return strings.Replace(s, "  withdrawn:\n    final: true\n", "  withdrawn:\n    final: true\n  submit:\n    final: true\n", 1) +
				"  finish:\n    from: [submitted]\n    to: submit\n    by: [applicant]\n"
		}, 0, `"submit" is both a state and an event`},
		{"reserved event name", func(s string) string {
			return s + "  edit:\n    from: [draft]\n    to: submitted\n    by: [applicant]\n"
		}, 0, `event name "edit"`},
		{"into a private state from a seen one", r("    outcome: withdrawn\n", "    outcome: withdrawn\n    private: true\n"), 0,
			"leads from draft, which staff see, into private state withdrawn"},
		{"final state with deadline", r("  approved:\n    final: true", "  approved:\n    final: true\n    deadline: 3 days"), 0, "state approved is final"},
		{"final state without outcome", r("    outcome: granted\n", ""), 16, "final state approved needs an outcome"},
		{"outcome on an open state", r("    deadline: 2 working days", "    deadline: 2 working days\n    outcome: granted"), 0, "state submitted is not final"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.edit(good)
			if src == good {
				t.Fatal("the edit changed nothing: fix the test")
			}
			_, err := workflow.Parse("workflows/demo-service.yaml", []byte(src), registry())
			if err == nil {
				t.Fatalf("accepted:\n%s", src)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %q does not say %q", err, tc.message)
			}
			if !strings.Contains(err.Error(), "workflows/demo-service.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
			if tc.line > 0 {
				var le *workflow.LoadError
				found := false
				for _, e := range unwrapAll(err) {
					if errors.As(e, &le) && strings.Contains(le.Reason, tc.message) {
						found = true
						if le.Line != tc.line {
							t.Errorf("line %d, want %d: %v", le.Line, tc.line, le)
						}
					}
				}
				if !found {
					t.Errorf("no *LoadError says %q: %v", tc.message, err)
				}
			}
		})
	}
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func r(old, new string) func(string) string {
	return func(s string) string { return strings.Replace(s, old, new, 1) }
}

func TestLoadAllReportsEveryBadFile(t *testing.T) {
	fsys := fstest.MapFS{
		"demo-service.yaml":  {Data: []byte(strings.Replace(good, "to: approved", "to: nowhere", 1))},
		"other-service.yaml": {Data: []byte(strings.ReplaceAll(strings.Replace(good, "service: demo-service", "service: other-service", 1), "code: DS", "code: OS"))},
		"calendar.yaml":      {Data: []byte("not: a workflow")},
	}
	reg := registry()
	h := demoHooks()
	h.Guards = nil
	reg.Hooks["other-service"] = h
	_, err := workflow.LoadAll(reg, fsys)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"workflows/demo-service.yaml:35", "workflows/other-service.yaml", `guard "complete" is not registered by service other-service`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %v", want, err)
		}
	}
}

func TestShippedWorkflowsLoad(t *testing.T) {
	reg := shippedRegistry(t)
	d, ok := reg.Definition("residence-permit")
	if !ok {
		t.Fatal("no residence-permit")
	}
	if d == nil || d.Initial != "draft" || len(d.StateNames()) != 10 || len(d.EventNames()) != 12 || !d.States["draft"].Private {
		t.Fatalf("residence-permit: %+v", d)
	}
	// What the worklist may do to many cases at once: the acceptances only.
	for _, def := range reg.Definitions() {
		for _, name := range def.EventNames() {
			want := name == "accept" || name == "verify" && def.Service == "school-enrollment"
			if def.Events[name].Bulk != want {
				t.Errorf("%s %s: bulk %v, want %v", def.Service, name, def.Events[name].Bulk, want)
			}
		}
	}
}
