package hukou_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"tzportal/policies"
	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/hukou"
	"tzportal/portal/pii"
	"tzportal/portal/testkit"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
	"tzportal/workflows"
)

var cst = time.FixedZone("CST", 8*3600)

// now is Monday 2026-11-30 in China.
var now = time.Date(2026, 11, 30, 10, 0, 0, 0, cst)

type rig struct {
	svc    *hukou.Service
	def    *workflow.Definition
	cal    *workflow.Calendar
	sealer *pii.Sealer
}

// newRig configures the service from the shipped workflow file, with the
// counties of a migrated database; edit changes the file's text first.
func newRig(t *testing.T, edit func(string) string) (*rig, error) {
	t.Helper()
	db := testkit.OpenSQLite(t)
	list, err := db.Counties(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	divs, err := db.Divisions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tree := portal.NewDivisions(divs)
	counties := portal.NewCounties(list)
	v := validate.New(validate.Options{Now: func() time.Time { return now },
		IsLeafDivision: func(c string) bool { d, ok := tree.Get(c); return ok && d.Leaf() },
		IsCounty:       func(c string) bool { _, ok := counties.Get(c); return ok }})
	sealer, err := pii.NewSealer(bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc := hukou.New(v, sealer, counties)
	names, err := account.RoleNames(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	src, err := fs.ReadFile(workflows.FS, "hukou-transfer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	if edit != nil {
		text = edit(text)
	}
	def, err := workflow.Parse("workflows/hukou-transfer.yaml", []byte(text), workflow.Known{Roles: names, Hooks: map[string]workflow.Hooks{svc.ID(): svc.Hooks()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Configure(def); err != nil {
		return nil, err
	}
	cal, err := workflow.LoadCalendar(workflows.FS)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{svc: svc, def: def, cal: cal, sealer: sealer}, nil
}

func mustRig(t *testing.T, edit func(string) string) *rig {
	t.Helper()
	r, err := newRig(t, edit)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// example is the service's example form with changes (nil deletes).
func (r *rig) example(kv ...any) json.RawMessage {
	var m map[string]any
	json.Unmarshal(r.svc.Example(), &m)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	b, _ := json.Marshal(m)
	return b
}

func (r *rig) form(raw json.RawMessage, mode workflow.FormMode) (json.RawMessage, error) {
	out, _, err := r.svc.Form(context.Background(), workflow.FormInput{Raw: raw, Mode: mode, Now: now, Applicant: &portal.User{IDIndex: r.sealer.Index(self)}})
	return out, err
}

// self is the applicant's own ID number.
const self = "321202199001010017"

func fields(err error) map[string]string {
	out := map[string]string{}
	if e := portal.AsError(err); e != nil {
		for _, f := range e.Fields {
			out[f.Field] = f.Rule
		}
	}
	return out
}

func TestDraftsMayWaitCompleteFormsMayNot(t *testing.T) {
	r := mustRig(t, nil)
	first := json.RawMessage(`{"division":"321202001","address":"海陵区东进东路18号"}`)
	if _, err := r.form(first, workflow.Draft); err != nil {
		t.Errorf("the first page as a draft: %v", err)
	}
	got := fields(func() error { _, err := r.form(first, workflow.Complete); return err }())
	for _, f := range []string{"basis", "origin_county", "origin_address", "origin_booklet_no"} {
		if got[f] != "required" {
			t.Errorf("complete without %s: %v", f, got)
		}
	}
	// What is filled in must be right, even in a draft; and a draft needs its street.
	got = fields(func() error {
		_, err := r.form(json.RawMessage(`{"address":"海陵区东进东路18号","origin_county":"999999","origin_booklet_no":"12 34*"}`), workflow.Draft)
		return err
	}())
	if got["division"] != "required" || got["origin_county"] != "county" || got["origin_booklet_no"] != "booklet" {
		t.Errorf("draft errors: %v", got)
	}
	// Only the basis's own details are kept.
	out, err := r.form(r.example("property_cert_no", "苏（2023）泰州市不动产权第1号", "lease_no", "x1"), workflow.Complete)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "不动产权") || strings.Contains(string(out), "lease_no") {
		t.Errorf("details of another basis were kept: %s", out)
	}
}

func TestMembersAreCheckedAndSealed(t *testing.T) {
	r := mustRig(t, nil)
	child := testkit.IDNumber("32032120150610003")
	spouse := testkit.IDNumber("32032119900215004")
	bad := child[:17] + "0"
	if bad == child {
		bad = child[:17] + "1"
	}
	for name, tc := range map[string]struct {
		members []any
		field   string
		rule    string
	}{
		"bad checksum":   {[]any{member("spouse", spouse), member("child", bad)}, "members[1].id_number", "idnumber"},
		"twice":          {[]any{member("child", child), member("child", child)}, "members[1].id_number", "twice"},
		"the applicant":  {[]any{member("spouse", self)}, "members[0].id_number", "self"},
		"no relation":    {[]any{member("cousin", child)}, "members[0].relation", "oneof"},
		"a child of 18+": {[]any{member("child", testkit.IDNumber("32032120081130001"))}, "members[0].id_number", "child_age"},
	} {
		_, err := r.form(r.example("members", tc.members), workflow.Draft)
		if got := fields(err); got[tc.field] != tc.rule {
			t.Errorf("%s: %v, want %s %s", name, got, tc.field, tc.rule)
		}
	}
	// 18 tomorrow: still a child today.
	if _, err := r.form(r.example("members", []any{member("child", testkit.IDNumber("32032120081201001"))}), workflow.Complete); err != nil {
		t.Errorf("a child of 17: %v", err)
	}
	e := portal.AsError(func() error {
		_, err := r.form(r.example("members", []any{member("child", testkit.IDNumber("32032120081130001"))}), workflow.Complete)
		return err
	}())
	if e == nil || e.Code != portal.ERULE || e.Rule != "child_age" || !strings.Contains(e.Data["Clause"].(string), "国发〔2014〕25号") {
		t.Errorf("18 today: %+v, want the child_age rule with its clause", e)
	}

	out, err := r.form(r.example("members", []any{member("spouse", spouse), member("child", child)}), workflow.Complete)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), spouse) || strings.Contains(string(out), child) || !strings.Contains(string(out), "id_sealed") {
		t.Fatalf("stored: %s", out)
	}
	owner, err := r.svc.Show(out, true)
	if err != nil || !strings.Contains(string(owner), child) || strings.Contains(string(owner), "id_sealed") {
		t.Errorf("the applicant's view: %s %v", owner, err)
	}
	staff, _ := r.svc.Show(out, false)
	if strings.Contains(string(staff), child) || !strings.Contains(string(staff), pii.MaskID(child)) {
		t.Errorf("staff's view: %s", staff)
	}
	if id, err := r.svc.Reveal(out, "members[1].id_number"); err != nil || id != child {
		t.Errorf("reveal: %q %v", id, err)
	}
	for _, f := range []string{"members[2].id_number", "members[0].name", "origin_county"} {
		if _, err := r.svc.Reveal(out, f); portal.ErrorCode(err) != portal.ENOTFOUND {
			t.Errorf("reveal %s: %v", f, err)
		}
	}
	// A client may not send a sealed value of its own.
	var m map[string]any
	json.Unmarshal(out, &m)
	raw, _ := json.Marshal(m)
	if _, err := r.form(raw, workflow.Draft); fields(err)["members[0].id_sealed"] != "unknown_field" {
		t.Errorf("a sealed value from a client: %v", err)
	}
	// A tampered ciphertext is an integrity error, never a wrong number.
	var stored struct {
		Members []map[string]any `json:"members"`
	}
	json.Unmarshal(out, &stored)
	sealed := []byte(stored.Members[1]["id_sealed"].(string))
	sealed[10] ^= 'A' ^ 'B' // another base64 character
	tampered := strings.Replace(string(out), stored.Members[1]["id_sealed"].(string), string(sealed), 1)
	if tampered == string(out) {
		t.Fatal("the test did not tamper")
	}
	if _, err := r.svc.Show(json.RawMessage(tampered), true); portal.ErrorCode(err) != portal.EINTERNAL || portal.AsError(err).Message != "error.integrity" {
		t.Errorf("a tampered member's number: %v, want an integrity error", err)
	}
}

func member(relation, id string) map[string]any {
	return map[string]any{"relation": relation, "name": "家人", "id_number": id}
}

func TestPeriodsInTheYangtzeDelta(t *testing.T) {
	r := mustRig(t, nil)
	for name, tc := range map[string]struct {
		p     map[string]any
		field string
		rule  string
	}{
		"Taizhou itself":   {map[string]any{"city": "321200", "from": "2018-01-01", "to": "2019-01-01"}, "prior_residence[0].city", "delta_city"},
		"Beijing":          {map[string]any{"city": "110100", "from": "2018-01-01", "to": "2019-01-01"}, "prior_residence[0].city", "delta_city"},
		"ends before":      {map[string]any{"city": "320100", "from": "2019-01-01", "to": "2018-01-01"}, "prior_residence[0].to", "after_from"},
		"in the future":    {map[string]any{"city": "320100", "from": "2026-01-01", "to": "2027-01-01"}, "prior_residence[0].to", "notfuture"},
		"not a date":       {map[string]any{"city": "310100", "from": "2018-02-30", "to": "2019-01-01"}, "prior_residence[0].from", "date"},
		"Shanghai is fine": {map[string]any{"city": "310100", "from": "2018-02-01", "to": "2019-01-01"}, "", ""},
	} {
		_, err := r.form(r.example("prior_residence", []any{tc.p}), workflow.Complete)
		got := fields(err)
		if tc.field == "" && err != nil || tc.field != "" && got[tc.field] != tc.rule {
			t.Errorf("%s: %v (%v), want %s %s", name, got, err, tc.field, tc.rule)
		}
	}
}

// eligible runs the eligible guard on a stored form.
func (r *rig) eligible(t *testing.T, raw json.RawMessage) error {
	t.Helper()
	stored, err := r.form(raw, workflow.Complete)
	if err != nil {
		t.Fatalf("form: %v", err)
	}
	f := &workflow.Firing{Def: r.def, Case: &portal.Case{No: "TZHK20261130000001", Form: stored}, Now: now, Cal: r.cal}
	return r.svc.Hooks().Guards["eligible"](context.Background(), f)
}

func TestSettlementRulesAreData(t *testing.T) {
	open := mustRig(t, nil)
	if err := open.eligible(t, open.example("insurance_months", 0)); err != nil {
		t.Errorf("Taizhou settlement is open: %v", err)
	}
	// Twelve months of insurance asked: Nanjing's months count with Taizhou's.
	strict := mustRig(t, func(s string) string {
		return strings.Replace(s, "    min_insurance_months:     # employment: months of social insurance, Yangtze-Delta months counted\n      months: 0",
			"    min_insurance_months:\n      months: 12", 1)
	})
	e := portal.AsError(strict.eligible(t, strict.example("insurance_months", 5)))
	if e == nil || e.Code != portal.ERULE || e.Rule != "min_insurance_months" || e.Data["Have"] != 5 {
		t.Fatalf("5 months of 12: %+v", e)
	}
	if err := strict.eligible(t, strict.example("insurance_months", 5, "prior_residence",
		[]any{map[string]any{"city": "320100", "from": "2020-01-01", "to": "2020-07-31"}})); err != nil {
		t.Errorf("5 months here and 7 in Nanjing: %v", err)
	}
	// A move within Taizhou is free whatever the months.
	if err := strict.eligible(t, strict.example("insurance_months", 0, "origin_county", "321281")); err != nil {
		t.Errorf("from 兴化市: %v", err)
	}
	// A basis the rules do not open is refused by name.
	closed := mustRig(t, func(s string) string {
		return strings.Replace(s, "allowed: [own_home, rental, employment]", "allowed: [own_home, employment]", 1)
	})
	e = portal.AsError(closed.eligible(t, closed.example("basis", "rental", "lease_no", "泰房租备001", "employer", nil, "contract_start", nil, "insurance_months", nil)))
	if e == nil || e.Rule != "bases" {
		t.Errorf("rental closed: %+v", e)
	}
}

func TestResidenceMonthsCountOnce(t *testing.T) {
	r := mustRig(t, func(s string) string {
		return strings.Replace(s, "    min_residence_months:     # any basis: months at the address, Yangtze-Delta months counted\n      months: 0",
			"    min_residence_months:\n      months: 12", 1)
	})
	// Since 2026-05-30 here (six months to 2026-11-30), six before in Nanjing.
	nanjing := func(from, to string) []any { return []any{map[string]any{"city": "320100", "from": from, "to": to}} }
	if err := r.eligible(t, r.example("resided_since", "2026-05-30", "prior_residence", nanjing("2025-11-30", "2026-05-29"))); err != nil {
		t.Errorf("six months here and six in Nanjing: %v", err)
	}
	// Nanjing written over the same six months here adds nothing.
	e := portal.AsError(r.eligible(t, r.example("resided_since", "2026-05-30", "prior_residence", nanjing("2026-05-30", "2026-11-29"))))
	if e == nil || e.Rule != "min_residence_months" || e.Data["Have"] != 6 {
		t.Errorf("the same months twice: %+v", e)
	}
}

func TestSettingsAreChecked(t *testing.T) {
	for name, edit := range map[string]func(string) string{
		"a rule without its clause": func(s string) string {
			return strings.Replace(s, `      clause: "《国务院关于进一步推进户籍制度改革的意见》（国发〔2014〕25号）：共同居住生活的配偶、未成年子女、父母可以随迁"`, "", 1)
		},
		"a relation the form does not have": func(s string) string {
			return strings.Replace(s, "allowed: [spouse, child, parent]", "allowed: [spouse, child, parent, cousin]", 1)
		},
		"an unknown setting": func(s string) string { return strings.Replace(s, "  max_members: 10", "  max_member: 10", 1) },
	} {
		if _, err := newRig(t, edit); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAChildIsJudgedWhenHandedIn: a child who was 17 when the family handed
// the application in still follows when the district decides after their
// birthday; handed in again after it, they do not.
func TestAChildIsJudgedWhenHandedIn(t *testing.T) {
	r := mustRig(t, nil)
	child := testkit.IDNumber("32032120081201001") // 18 on 2026-12-01
	stored, err := r.form(r.example("members", []any{member("child", child)}), workflow.Complete)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Date(2026, 12, 10, 10, 0, 0, 0, cst)
	guard := r.svc.Hooks().Guards["eligible"]
	hist := []portal.History{{Event: "create", At: now}, {Event: "submit", At: now}, {Event: "accept", At: now}}
	approve := &workflow.Firing{Def: r.def, Event: "approve", Case: &portal.Case{Form: stored}, History: hist, Now: later, Cal: r.cal}
	if err := guard(context.Background(), approve); err != nil {
		t.Errorf("approved after the child's birthday: %v", err)
	}
	resubmit := &workflow.Firing{Def: r.def, Event: "submit", Case: &portal.Case{Form: stored}, History: hist, Now: later, Cal: r.cal}
	if e := portal.AsError(guard(context.Background(), resubmit)); e == nil || e.Rule != "child_age" {
		t.Errorf("handed in again after the birthday: %v", e)
	}
}

// TestTheYangtzeDelta: the other Yangtze-Delta cities offered are the 41 of
// Shanghai, Jiangsu, Zhejiang and Anhui, Taizhou itself excepted.
func TestTheYangtzeDelta(t *testing.T) {
	r := mustRig(t, nil)
	var cities []string
	for _, p := range r.svc.Pages() {
		if p.List == "prior_residence" {
			cities = p.Fields[0].Options
		}
	}
	if len(cities) != 40 || slices.Contains(cities, "321200") || !slices.Contains(cities, "310100") || !slices.Contains(cities, "341800") {
		t.Errorf("%d cities: %v", len(cities), cities)
	}
}
