package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"tzportal/policies"
	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/authz"
	"tzportal/portal/sqlstore"
	"tzportal/portal/testkit"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
	"tzportal/workflows"
)

// twoLevel is a workflow the portal does not ship: a street decision then a
// district one by someone else, branching on where the applicant comes
// from, a system account confirming with typed inputs, roles that depend on
// the state, one open case per applicant, and a timer.
const twoLevel = `service: two-level
code: TL
initial: draft
inputs:
  reason: {type: text, max: 500}
  reference: {type: line, max: 40}
  confirmed_on: {type: date, not_future: true}
unique:
  open: [applicant]
states:
  draft:
    editable_by: [applicant]
    private: true
  submitted:
    deadline: 2 working days
  street_approved:
    deadline: 5 working days
  district_approved:
    deadline: 10 days
    on_timeout: expire
  settled:
    final: true
    outcome: granted
    on_enter: [stamp]
  rejected:
    final: true
    outcome: refused
  expired:
    final: true
    outcome: withdrawn
events:
  submit:
    from: [draft]
    to: submitted
    by: [applicant]
  approve_street:
    from: [submitted]
    to: street_approved
    by: [street_clerk, district_officer]
  approve_district:
    from: [street_approved]
    to:
      - {if: local, to: settled}
      - {to: district_approved}
    by: [district_officer]
    not_by_actor_of: [approve_street]
  confirm_move_out:
    from: [district_approved]
    to: settled
    by: [origin_registry]
    inputs: {reference: required, confirmed_on: required}
    idempotent: true
  reject:
    to: rejected
    by: {street_clerk: [submitted], district_officer: [street_approved]}
    inputs: {reason: required}
  expire:
    from: [district_approved]
    to: expired
    by: [district_officer]
`

// twoLevelService decodes {"division": …, "local": bool}; "local" chooses
// the branch, and entering settled stamps the result.
type twoLevelService struct{ workflow.Plain }

type twoLevelForm struct {
	Division string `json:"division"`
	Local    bool   `json:"local"`
}

func (twoLevelService) ID() string                           { return "two-level" }
func (twoLevelService) Configure(*workflow.Definition) error { return nil }
func (twoLevelService) Pages() []workflow.Page               { return nil }
func (twoLevelService) Example() json.RawMessage             { return json.RawMessage(`{"division":"321202001"}`) }
func (twoLevelService) Hooks() workflow.Hooks {
	return workflow.Hooks{
		Conditions: map[string]workflow.Condition{"local": func(_ context.Context, f *workflow.Firing) (bool, error) {
			var form twoLevelForm
			err := json.Unmarshal(f.Case.Form, &form)
			return form.Local, err
		}},
		Actions: map[string]workflow.Action{"stamp": func(_ context.Context, f *workflow.Firing) error {
			f.Case.Result = json.RawMessage(`{"stamped_by":"` + f.Event + `"}`)
			return nil
		}},
	}
}
func (twoLevelService) Form(_ context.Context, in workflow.FormInput) (json.RawMessage, string, error) {
	var f twoLevelForm
	if err := json.Unmarshal(in.Raw, &f); err != nil || f.Division == "" {
		return nil, "", portal.Invalid(portal.FieldError{Field: "division", Rule: "required"})
	}
	return in.Raw, f.Division, nil
}

type rig struct {
	e     *workflow.Engine
	db    *sqlstore.DB
	az    *authz.Authz
	clock *testkit.Clock
	users map[string]*portal.User
}

func newRig(t *testing.T) *rig {
	t.Helper()
	return newRigOn(t, testkit.OpenSQLite(t))
}

// openPostgres opens and migrates a fresh PostgreSQL schema for the test.
func openPostgres(t *testing.T) *sqlstore.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, testkit.Postgres(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// newRigOn is newRig on db.
func newRigOn(t *testing.T, db *sqlstore.DB) *rig {
	t.Helper()
	ctx := context.Background()
	divs, err := db.Divisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	model, _ := fs.ReadFile(policies.FS, "model.conf")
	csv, _ := fs.ReadFile(policies.FS, "policy.csv")
	az, err := authz.New(string(model), csv, portal.NewDivisions(divs))
	if err != nil {
		t.Fatal(err)
	}
	svc := []workflow.Service{twoLevelService{}}
	roles := map[string]bool{"applicant": true, "street_clerk": true, "district_officer": true, "supervisor": true, "origin_registry": true}
	reg, err := workflow.NewRegistry(roles, svc, fstest.MapFS{"two-level.yaml": {Data: []byte(twoLevel)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := az.AddPolicies(reg.Policies()); err != nil {
		t.Fatal(err)
	}
	cal, err := workflow.LoadCalendar(workflows.FS)
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC))
	e, err := workflow.NewEngine(workflow.Config{Registry: reg, Store: db, Authz: az, Audit: audit.New(make([]byte, 32), clock.Now),
		Calendar: cal, Validator: validate.New(validate.Options{Now: clock.Now}), Now: clock.Now,
		Files: noFiles{}, Notifier: noNotices{}, Certifier: noCertificates{},
		Deadline: workflow.DeadlinePolicy{SoonWorkingDays: 3, LateWorkingDays: 5, NotifyRole: "supervisor"},
		Stats: &workflow.StatsPolicy{RevealsLimit: 200,
			Outliers:   workflow.OutlierPolicy{MinDecisions: 20, MinPeers: 5, Threshold: 3.5},
			StaffRoles: map[string]bool{"street_clerk": true, "district_officer": true, "supervisor": true}}})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{e: e, db: db, az: az, clock: clock, users: map[string]*portal.User{}}
	add := func(name string, kind portal.UserKind, grants ...portal.Grant) { r.add(t, name, kind, grants...) }
	add("applicant1", portal.KindApplicant)
	add("applicant2", portal.KindApplicant)
	add("clerk", portal.KindStaff, portal.Grant{Role: "street_clerk", Division: "321202001"})
	add("officer_a", portal.KindStaff, portal.Grant{Role: "district_officer", Division: "321202"})
	add("officer_b", portal.KindStaff, portal.Grant{Role: "district_officer", Division: "321202"})
	add("officer_other", portal.KindStaff, portal.Grant{Role: "district_officer", Division: "321203"})
	add("registry", portal.KindSystem, portal.Grant{Role: "origin_registry", Division: "321200"})
	return r
}

// add makes an account with grants.
func (r *rig) add(t *testing.T, name string, kind portal.UserKind, grants ...portal.Grant) {
	t.Helper()
	ctx := context.Background()
	u := &portal.User{Kind: kind, Name: name, Login: name, CreatedAt: r.clock.Now(), Grants: grants}
	if kind == portal.KindApplicant {
		u.Login, u.Mobile = "", fmt.Sprintf("138%08d", len(r.users))
	}
	err := r.db.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.InsertUser(ctx, u); err != nil {
			return err
		}
		return tx.SetGrants(ctx, u.ID, grants)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.az.Sync(u); err != nil {
		t.Fatal(err)
	}
	r.users[name] = u
}

func (r *rig) as(name string) portal.Actor { return portal.Actor{User: r.users[name], IP: "127.0.0.1"} }

func TestTwoLevelDecisionWithSeparationOfDuties(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	c, err := r.e.Create(ctx, r.as("applicant1"), "two-level", json.RawMessage(`{"division":"321202001"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	no := c.No
	step := func(who, event string, wantCode string) {
		t.Helper()
		_, err := r.e.Fire(ctx, r.as(who), no, event, workflow.Input{})
		if got := portal.ErrorCode(err); got != wantCode {
			t.Fatalf("%s fires %s: %q (%v), want %q", who, event, got, err, wantCode)
		}
	}
	step("applicant1", "submit", "")
	step("officer_other", "approve_street", portal.ENOTFOUND) // another district: out of reach
	step("officer_a", "approve_street", "")                   // a district officer may decide the first level too
	step("clerk", "approve_district", portal.EFORBIDDEN)      // the second level is the district's
	step("officer_a", "approve_district", portal.EFORBIDDEN)  // …but not by who decided the first
	e := portal.AsError(func() error {
		_, err := r.e.Fire(ctx, r.as("officer_a"), no, "approve_district", workflow.Input{})
		return err
	}())
	if e == nil || e.Rule != "separation_of_duties" {
		t.Errorf("refusal names no rule: %+v", e)
	}
	v, err := r.e.Get(ctx, r.as("officer_a"), no)
	if err != nil || slices.Contains(v.Allowed, "approve_district") || !slices.Contains(v.Allowed, "reject") {
		t.Errorf("officer_a is offered %v (separation of duties hides approve_district, not reject)", v.Allowed)
	}
	step("officer_b", "approve_district", "")
	step("applicant1", "confirm_move_out", portal.EFORBIDDEN)
	// A one-line input keeps to one line: a reference with a line break is
	// refused, not stored to be shown (and matched on a retry) broken.
	broken := workflow.Input{Values: portal.Inputs{"reference": "QC-2026-001\n伪造", "confirmed_on": "2026-11-30"}}
	if _, err := r.e.Fire(ctx, r.as("registry"), no, "confirm_move_out", broken); !slices.ContainsFunc(fieldsOf(err), func(f portal.FieldError) bool {
		return f.Field == "reference" && f.Rule == "line"
	}) {
		t.Errorf("a reference on two lines: %v", err)
	}
	confirm := workflow.Input{Values: portal.Inputs{"reference": "QC-2026-001", "confirmed_on": "2026-11-30"}}
	if _, err := r.e.Fire(ctx, r.as("registry"), no, "confirm_move_out", confirm); err != nil {
		t.Fatal(err)
	}
	v, err = r.e.Get(ctx, r.as("registry"), no)
	if err != nil || v.Case.State != "settled" {
		t.Fatalf("after the registry's confirmation: %v %v", v, err)
	}
	roles := ""
	for _, h := range v.History {
		roles += h.Event + ":" + h.ActorRole + " "
	}
	if roles != "create:applicant submit:applicant approve_street:district_officer approve_district:district_officer confirm_move_out:origin_registry " {
		t.Errorf("timeline roles: %s", roles)
	}
	if last := v.History[len(v.History)-1]; last.Inputs.Text("reference") != "QC-2026-001" || last.Inputs.Text("confirmed_on") != "2026-11-30" {
		t.Errorf("the step's inputs are not stored with it: %v", last.Inputs)
	}
	if string(v.Case.Result) != `{"stamped_by":"confirm_move_out"}` {
		t.Errorf("entering settled did not run its on_enter action: %s", v.Case.Result)
	}
	// The registry retries: the same inputs answer as the first time and
	// change nothing; other inputs are a conflict.
	again, err := r.e.Fire(ctx, r.as("registry"), no, "confirm_move_out", confirm)
	if err != nil || again.Case.State != "settled" || again.Case.Version != v.Case.Version {
		t.Errorf("repeat: %v (version %d, was %d)", err, again.Case.Version, v.Case.Version)
	}
	other := workflow.Input{Values: portal.Inputs{"reference": "QC-2026-999", "confirmed_on": "2026-11-30"}}
	if _, err := r.e.Fire(ctx, r.as("registry"), no, "confirm_move_out", other); portal.ErrorCode(err) != portal.ECONFLICT {
		t.Errorf("a confirmation with another reference after the first: %v, want a conflict", err)
	}
}

// create makes and submits a case of applicant with form.
func (r *rig) submitted(t *testing.T, applicant, form string) string {
	t.Helper()
	ctx := context.Background()
	c, err := r.e.Create(ctx, r.as(applicant), "two-level", json.RawMessage(form), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.e.Fire(ctx, r.as(applicant), c.No, "submit", workflow.Input{}); err != nil {
		t.Fatal(err)
	}
	return c.No
}

func TestBranchChosenByCondition(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	no := r.submitted(t, "applicant1", `{"division":"321202001","local":true}`)
	if _, err := r.e.Fire(ctx, r.as("clerk"), no, "approve_street", workflow.Input{}); err != nil {
		t.Fatal(err)
	}
	v, err := r.e.Fire(ctx, r.as("officer_a"), no, "approve_district", workflow.Input{})
	if err != nil || v.Case.State != "settled" {
		t.Fatalf("a local case goes straight to settled: %v %v", v, err)
	}
	if string(v.Case.Result) != `{"stamped_by":"approve_district"}` {
		t.Errorf("settled's on_enter action runs whichever event enters it: %s", v.Case.Result)
	}
}

func TestInputsAreDeclaredTypedAndChecked(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	no := r.submitted(t, "applicant1", `{"division":"321202001"}`)
	fire := func(values portal.Inputs) *portal.Error {
		_, err := r.e.Fire(ctx, r.as("clerk"), no, "reject", workflow.Input{Values: values})
		return portal.AsError(err)
	}
	for _, tc := range []struct {
		name   string
		values portal.Inputs
		field  string
		rule   string
	}{
		{"missing", portal.Inputs{}, "reason", "required"},
		{"blank", portal.Inputs{"reason": "   "}, "reason", "required"},
		{"too long", portal.Inputs{"reason": strings.Repeat("长", 501)}, "reason", "max"},
		{"not declared for the event", portal.Inputs{"reason": "x", "reference": "y"}, "reference", "unknown_field"},
		{"wrong type", portal.Inputs{"reason": []string{"x"}}, "reason", "type"},
		{"control characters", portal.Inputs{"reason": "a\x00b"}, "reason", "text"},
	} {
		e := fire(tc.values)
		if e == nil || e.Code != portal.EINVALID || !slices.ContainsFunc(e.Fields, func(f portal.FieldError) bool { return f.Field == tc.field && f.Rule == tc.rule }) {
			t.Errorf("%s: %+v, want %s %s", tc.name, e, tc.field, tc.rule)
		}
		if e != nil && e.Labels != "two-level.input" {
			t.Errorf("%s: labels %q: the fields are the service's inputs", tc.name, e.Labels)
		}
	}
	v, err := r.e.Fire(ctx, r.as("clerk"), no, "reject", workflow.Input{Values: portal.Inputs{"reason": "  材料不符  "}})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.History[len(v.History)-1].Inputs; len(got) != 1 || got.Text("reason") != "材料不符" {
		t.Errorf("stored inputs: %v (trimmed, nothing else)", got)
	}
}

func TestRolesDependOnTheState(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	reason := workflow.Input{Values: portal.Inputs{"reason": "不符合条件"}}
	no := r.submitted(t, "applicant1", `{"division":"321202001"}`)
	if _, err := r.e.Fire(ctx, r.as("officer_a"), no, "reject", reason); portal.ErrorCode(err) != portal.EFORBIDDEN {
		t.Errorf("a district officer rejects at the street's step: %v", err)
	}
	if _, err := r.e.Fire(ctx, r.as("clerk"), no, "approve_street", workflow.Input{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.e.Fire(ctx, r.as("clerk"), no, "reject", reason); portal.ErrorCode(err) != portal.EFORBIDDEN {
		t.Errorf("the street clerk rejects at the district's step: %v", err)
	}
	if _, err := r.e.Fire(ctx, r.as("clerk"), no, "approve_district", workflow.Input{}); portal.ErrorCode(err) != portal.EFORBIDDEN {
		t.Errorf("the street clerk decides for the district: %v", err)
	}
	if _, err := r.e.Fire(ctx, r.as("officer_a"), no, "reject", reason); err != nil {
		t.Errorf("the district officer rejects at review: %v", err)
	}
}

func TestOneOpenCasePerApplicant(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	first, err := r.e.Create(ctx, r.as("applicant1"), "two-level", json.RawMessage(`{"division":"321202001"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.e.Create(ctx, r.as("applicant1"), "two-level", json.RawMessage(`{"division":"321202002"}`), "")
	e := portal.AsError(err)
	if e == nil || e.Code != portal.ECONFLICT || e.Rule != "unique_open" || e.Data["CaseNo"] != first.No {
		t.Fatalf("a second open case: %+v, want 409 naming %s", e, first.No)
	}
	if _, err := r.e.Create(ctx, r.as("applicant2"), "two-level", json.RawMessage(`{"division":"321202001"}`), ""); err != nil {
		t.Errorf("another applicant: %v", err)
	}
	if _, err := r.e.Fire(ctx, r.as("applicant1"), first.No, "submit", workflow.Input{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.e.Fire(ctx, r.as("clerk"), first.No, "reject", workflow.Input{Values: portal.Inputs{"reason": "不符合条件"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.e.Create(ctx, r.as("applicant1"), "two-level", json.RawMessage(`{"division":"321202001"}`), ""); err != nil {
		t.Errorf("after the first case ended, a new one: %v", err)
	}
}

func TestSystemSeesOnlyWhatWaitsOnIt(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	no := r.submitted(t, "applicant1", `{"division":"321202001"}`)
	if _, err := r.e.Get(ctx, r.as("registry"), no); portal.ErrorCode(err) != portal.ENOTFOUND {
		t.Errorf("the registry reads a case that does not wait on it: %v", err)
	}
	if cases, _, err := r.e.List(ctx, r.as("registry"), workflow.ListFilter{}); err != nil || len(cases) != 0 {
		t.Errorf("the registry's list: %d cases, %v", len(cases), err)
	}
	for _, s := range []struct{ who, ev string }{{"clerk", "approve_street"}, {"officer_a", "approve_district"}} {
		if _, err := r.e.Fire(ctx, r.as(s.who), no, s.ev, workflow.Input{}); err != nil {
			t.Fatal(err)
		}
	}
	cases, _, err := r.e.List(ctx, r.as("registry"), workflow.ListFilter{})
	if err != nil || len(cases) != 1 || cases[0].No != no {
		t.Fatalf("the registry's list once the case waits on it: %v %v", cases, err)
	}
	if _, err := r.e.Fire(ctx, r.as("registry"), no, "expire", workflow.Input{}); portal.ErrorCode(err) != portal.EFORBIDDEN {
		t.Errorf("the registry fires another event: %v", err)
	}
}

func TestTimerFiresOnTimeoutOnce(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	c, _ := r.e.Create(ctx, r.as("applicant1"), "two-level", json.RawMessage(`{"division":"321202001"}`), "")
	for _, s := range []struct{ who, ev string }{{"applicant1", "submit"}, {"clerk", "approve_street"}, {"officer_b", "approve_district"}} {
		if _, err := r.e.Fire(ctx, r.as(s.who), c.No, s.ev, workflow.Input{}); err != nil {
			t.Fatal(err)
		}
	}
	r.clock.Advance(11 * 24 * time.Hour)
	fired := make(chan int, 4)
	for range 4 { // several nodes running their timers at once
		go func() {
			n, err := r.e.RunDueTimers(ctx)
			if err != nil {
				slog.Error("timers", "err", err)
			}
			fired <- n
		}()
	}
	total := 0
	for range 4 {
		total += <-fired
	}
	if total != 1 {
		t.Fatalf("the timeout fired %d times", total)
	}
	v, _ := r.e.Get(ctx, r.as("officer_b"), c.No)
	if v.Case.State != "expired" || v.History[len(v.History)-1].ActorRole != workflow.Scheduler {
		t.Errorf("after the timeout: %s by %s", v.Case.State, v.History[len(v.History)-1].ActorRole)
	}
}

// fieldsOf is the field errors of a refusal (none for another error).
func fieldsOf(err error) []portal.FieldError {
	if e := portal.AsError(err); e != nil {
		return e.Fields
	}
	return nil
}

// secondService is twoLevelService under another id.
type secondService struct{ twoLevelService }

func (secondService) ID() string { return "second" }

// TestCaseNumbersNameTheirService: a case number's two letters find its
// service without a read; two services may not share them.
func TestCaseNumbersNameTheirService(t *testing.T) {
	roles := map[string]bool{"applicant": true, "street_clerk": true, "district_officer": true, "supervisor": true, "origin_registry": true}
	reg, err := workflow.NewRegistry(roles, []workflow.Service{twoLevelService{}}, fstest.MapFS{"two-level.yaml": {Data: []byte(twoLevel)}})
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := reg.ByCaseNo("TZTL20261130000001"); !ok || e.ID != "two-level" {
		t.Errorf("TZTL…: %v %v", e, ok)
	}
	if _, ok := reg.ByCaseNo("TZXX20261130000001"); ok {
		t.Error("TZXX… found a service")
	}
	second := strings.Replace(twoLevel, "service: two-level", "service: second", 1)
	_, err = workflow.NewRegistry(roles, []workflow.Service{twoLevelService{}, secondService{}},
		fstest.MapFS{"two-level.yaml": {Data: []byte(twoLevel)}, "second.yaml": {Data: []byte(second)}})
	if err == nil || !strings.Contains(err.Error(), "TZTL") {
		t.Errorf("two services numbering their cases TZTL: %v", err)
	}
}

// TestAnswersKeepTheStoredTimes: the case a transition answers with carries
// its times as the database keeps them (microseconds), so a retry answered
// from what was stored is the same answer.
func TestAnswersKeepTheStoredTimes(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.clock.Advance(123456789 * time.Nanosecond)
	no := r.submitted(t, "applicant1", `{"division":"321202001"}`)
	v, err := r.e.Fire(ctx, r.as("clerk"), no, "approve_street", workflow.Input{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.e.Get(ctx, r.as("clerk"), no)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Case.UpdatedAt.Equal(again.Case.UpdatedAt) || !v.Case.StateSince.Equal(again.Case.StateSince) {
		t.Errorf("answered %v / %v, stored %v / %v", v.Case.UpdatedAt, v.Case.StateSince, again.Case.UpdatedAt, again.Case.StateSince)
	}
}

// The test workflows upload no files, notify nobody and issue no
// certificates: doing so is a failure of the test.
type noFiles struct{}

func (noFiles) Name() string { return "none" }
func (noFiles) Stage(context.Context, string, []byte) error {
	return errors.New("test workflow stored a file")
}
func (noFiles) Store(context.Context, portal.Tx, string, []byte) error {
	return errors.New("test workflow stored a file")
}
func (noFiles) Get(context.Context, portal.Reader, string) ([]byte, error) {
	return nil, errors.New("test workflow read a file")
}
func (noFiles) Remove(context.Context, string) error { return nil }

type noNotices struct{}

func (noNotices) Escalated(context.Context, *workflow.Firing, []portal.User) error { return nil }

func (noNotices) Notify(context.Context, *workflow.Firing) error {
	return errors.New("test workflow notified")
}

type noCertificates struct{}

func (noCertificates) Token(*portal.Case, *portal.Certificate) (string, error) {
	return "", errors.New("test workflow issued a certificate")
}
