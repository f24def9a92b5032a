package workflow_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"tzportal/portal"
	"tzportal/portal/workflow"
	"tzportal/workflows"
)

// good is a valid definition the table below breaks one way at a time.
const good = `service: demo-service
code: DS
initial: draft
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
    requires: [reason, items]
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

func registry() workflow.Registry {
	return workflow.Registry{
		Roles:   map[string]bool{"applicant": true, "street_clerk": true},
		Guards:  map[string]map[string]bool{"demo-service": {"complete": true}},
		Actions: map[string]map[string]bool{"demo-service": {"issue": true}},
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
	for _, want := range []string{"applicant,*,demo-service,submit", "street_clerk,*,demo-service,approve",
		"applicant,*,demo-service,create", "applicant,*,demo-service,edit.correction"} {
		if !pol[want] {
			t.Errorf("policy %q missing from %v", want, pol)
		}
	}
	if pol["street_clerk,*,demo-service,submit"] {
		t.Error("a role not in by: got a permission")
	}
}

func TestParseRefusesBadDefinitions(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(string) string
		line    int // 0: any
		message string
	}{
		{"unknown to state", r("to: approved", "to: aproved"), 32, `unknown to state "aproved"`},
		{"unknown from state", r("from: [submitted]\n    to: approved", "from: [sent]\n    to: approved"), 31, `unknown from state "sent"`},
		{"unknown initial state", r("initial: draft", "initial: start"), 3, `initial state "start" is not defined`},
		{"unknown role", r("by: [street_clerk]\n    actions", "by: [street_cleck]\n    actions"), 33, `unknown role "street_cleck"`},
		{"unknown editor role", r("editable_by: [applicant]\n  submitted", "editable_by: [citizen]\n  submitted"), 6, `unknown role "citizen"`},
		{"unregistered guard", r("guards: [complete]", "guards: [complet]"), 0, `guard "complet" is not registered by service demo-service`},
		{"unregistered action", r("actions: [issue]", "actions: [issue_permit]"), 0, `action "issue_permit" is not registered`},
		{"unknown requirement", r("requires: [reason, items]", "requires: [reason, photo]"), 0, `unknown requirement "photo"`},
		{"unknown separation event", r("not_by_actor_of: [correct]", "not_by_actor_of: [review]"), 0, `not_by_actor_of names unknown event "review"`},
		{"unreachable state", r("    outcome: withdrawn\n", "    outcome: withdrawn\n  archived:\n    final: true\n    outcome: granted\n"), 19, "state archived is unreachable"},
		{"dead end", r("  approved:\n    final: true\n    outcome: granted", "  approved: {}"), 13, "state approved is a dead end"},
		{"no final state", func(s string) string {
			s = strings.Replace(s, "  approved:\n    final: true\n    outcome: granted", "  approved: {}", 1)
			s = strings.Replace(s, "  withdrawn:\n    final: true\n    outcome: withdrawn", "  withdrawn: {}", 1)
			return s + "  reopen:\n    from: [approved, withdrawn]\n    to: draft\n    by: [applicant]\n"
		}, 0, "no final state"},
		{"leaves a final state", func(s string) string {
			return s + "  reopen:\n    from: [approved]\n    to: draft\n    by: [applicant]\n"
		}, 0, "cannot leave final state approved"},
		{"timeout without deadline", r("    deadline: 30 days\n    on_timeout: withdraw", "    on_timeout: withdraw"), 11, "on_timeout needs a deadline"},
		{"timeout event not from state", r("on_timeout: withdraw", "on_timeout: approve"), 12, `on_timeout event "approve" cannot fire from correction`},
		{"bad deadline", r("deadline: 2 working days", "deadline: two weeks"), 0, `deadline "two weeks"`},
		{"unknown key", r("    requires: [reason, items]", "    require: [reason, items]"), 0, "field require not found"},
		{"no roles", r("    by: [street_clerk]\n    requires", "    by: []\n    requires"), 28, "no role may fire it"},
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
		{"final state without outcome", r("    outcome: granted\n", ""), 13, "final state approved needs an outcome"},
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
	reg.Guards["other-service"] = map[string]bool{}
	reg.Actions["other-service"] = map[string]bool{"issue": true}
	_, err := workflow.LoadAll(fsys, reg)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"workflows/demo-service.yaml:32", "workflows/other-service.yaml", `guard "complete" is not registered by service other-service`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %v", want, err)
		}
	}
}

func TestShippedWorkflowsLoad(t *testing.T) {
	reg := workflow.Registry{
		Roles:   map[string]bool{"applicant": true, "street_clerk": true, "district_officer": true, "supervisor": true},
		Guards:  map[string]map[string]bool{"residence-permit": {"form_complete": true, "min_residence": true}},
		Actions: map[string]map[string]bool{"residence-permit": {"issue_permit": true}},
	}
	defs, err := workflow.LoadAll(workflows.FS, reg)
	if err != nil {
		t.Fatal(err)
	}
	d := defs["residence-permit"]
	if d == nil || d.Initial != "draft" || len(d.StateNames()) != 8 || len(d.EventNames()) != 7 || !d.States["draft"].Private {
		t.Fatalf("residence-permit: %+v", d)
	}
}
