package workflow_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"tzportal/policies"
	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/authz"
	"tzportal/portal/sqlstore"
	"tzportal/portal/testkit"
	"tzportal/portal/workflow"
	"tzportal/workflows"
)

// twoLevel is a workflow the portal does not ship: it exercises what the
// hukou, school and housing services will need — a street decision then a
// district one by someone else, a system account confirming, and a timer.
const twoLevel = `service: two-level
code: TL
initial: draft
states:
  draft:
    editable_by: [applicant]
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
    to: district_approved
    by: [district_officer]
    not_by_actor_of: [approve_street]
  confirm_move_out:
    from: [district_approved]
    to: settled
    by: [origin_registry]
  reject:
    from: [submitted, street_approved]
    to: rejected
    by: [street_clerk, district_officer]
    requires: [reason]
  expire:
    from: [district_approved]
    to: expired
    by: [district_officer]
`

type twoLevelService struct{}

func (twoLevelService) ID() string                           { return "two-level" }
func (twoLevelService) Configure(*workflow.Definition) error { return nil }
func (twoLevelService) Guards() map[string]workflow.Guard    { return nil }
func (twoLevelService) Actions() map[string]workflow.Action  { return nil }
func (twoLevelService) Form(_ context.Context, raw json.RawMessage) (json.RawMessage, string, error) {
	var f struct {
		Division string `json:"division"`
	}
	if err := json.Unmarshal(raw, &f); err != nil || f.Division == "" {
		return nil, "", portal.Invalid(portal.FieldError{Field: "division", Rule: "required"})
	}
	return raw, f.Division, nil
}

type rig struct {
	e     *workflow.Engine
	db    *sqlstore.DB
	clock *testkit.Clock
	users map[string]*portal.User
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	db := testkit.OpenSQLite(t)
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
	defs, err := workflow.LoadAll(fstest.MapFS{"two-level.yaml": {Data: []byte(twoLevel)}}, workflow.RegistryFor(roles, svc))
	if err != nil {
		t.Fatal(err)
	}
	if err := az.AddPolicies(defs["two-level"].Policies()); err != nil {
		t.Fatal(err)
	}
	cal, err := workflow.LoadCalendar(workflows.FS)
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC))
	e, err := workflow.NewEngine(defs, svc)
	if err != nil {
		t.Fatal(err)
	}
	e.Store, e.Authz, e.Audit, e.Calendar, e.Now = db, az, audit.New(make([]byte, 32), clock.Now), cal, clock.Now
	r := &rig{e: e, db: db, clock: clock, users: map[string]*portal.User{}}
	add := func(name string, kind portal.UserKind, grants ...portal.Grant) {
		u := &portal.User{Kind: kind, Name: name, Login: name, CreatedAt: clock.Now(), Grants: grants}
		if kind == portal.KindApplicant {
			u.Login, u.Mobile = "", "1380000000"+name[len(name)-1:]
		}
		err := db.Tx(ctx, func(tx portal.Tx) error {
			if err := tx.InsertUser(ctx, u); err != nil {
				return err
			}
			return tx.SetGrants(ctx, u.ID, grants)
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := az.Sync(u); err != nil {
			t.Fatal(err)
		}
		r.users[name] = u
	}
	add("applicant1", portal.KindApplicant)
	add("clerk", portal.KindStaff, portal.Grant{Role: "street_clerk", Division: "321202001"})
	add("officer_a", portal.KindStaff, portal.Grant{Role: "district_officer", Division: "321202"})
	add("officer_b", portal.KindStaff, portal.Grant{Role: "district_officer", Division: "321202"})
	add("officer_other", portal.KindStaff, portal.Grant{Role: "district_officer", Division: "321203"})
	add("registry", portal.KindSystem, portal.Grant{Role: "origin_registry", Division: "321200"})
	return r
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
	step("registry", "confirm_move_out", "")
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
