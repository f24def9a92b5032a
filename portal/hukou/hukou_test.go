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

	"tzportal/i18n"
	"tzportal/policies"
	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/hukou"
	"tzportal/portal/locale"
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
	// The engine's own guards and actions (materials, certificates), as
	// workflow.NewRegistry adds them.
	hooks, err := workflow.WithBuiltins(svc.ID(), svc.Hooks())
	if err != nil {
		t.Fatal(err)
	}
	def, err := workflow.Parse("workflows/hukou-transfer.yaml", []byte(text), workflow.Known{Roles: names, Hooks: map[string]workflow.Hooks{svc.ID(): hooks}})
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
	bad := testkit.BadIDNumber(child)
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

// eligibleAt runs the eligible guard on a stored form on the day at.
func (r *rig) eligibleAt(t *testing.T, raw json.RawMessage, at time.Time) error {
	t.Helper()
	stored, err := r.form(raw, workflow.Complete)
	if err != nil {
		t.Fatalf("form: %v", err)
	}
	f := &workflow.Firing{Def: r.def, Case: &portal.Case{No: "TZHK20261130000001", Form: stored}, Now: at, Cal: r.cal}
	return r.svc.Hooks().Guards["eligible"](context.Background(), f)
}

// TestMonthsCountAsTheResidencePermitDoes: living at the address since 31
// August, six months are reached on 28 February (民法典 art. 202), the day
// the residence permit's rule is met too.
func TestMonthsCountAsTheResidencePermitDoes(t *testing.T) {
	r := mustRig(t, func(s string) string {
		return strings.Replace(s, "    min_residence_months:     # any basis: months at the address, Yangtze-Delta months counted\n      months: 0",
			"    min_residence_months:\n      months: 6", 1)
	})
	raw := r.example("resided_since", "2025-08-31")
	if err := r.eligibleAt(t, raw, time.Date(2026, 2, 28, 10, 0, 0, 0, cst)); err != nil {
		t.Errorf("on 28 February: %v", err)
	}
	e := portal.AsError(r.eligibleAt(t, raw, time.Date(2026, 2, 27, 23, 0, 0, 0, cst)))
	if e == nil || e.Rule != "min_residence_months" || e.Data["Have"] != 5 {
		t.Errorf("on 27 February: %+v, want 5 months of 6", e)
	}
}

func TestInsuranceMonthsAreBounded(t *testing.T) {
	r := mustRig(t, nil)
	for _, n := range []int{-1, 1201} {
		e := portal.AsError(func() error { _, err := r.form(r.example("insurance_months", n), workflow.Draft); return err }())
		if e == nil || len(e.Fields) != 1 || e.Fields[0] != (portal.FieldError{Field: "insurance_months", Rule: "months", Param: "1200"}) {
			t.Errorf("%d months: %+v", n, e)
		}
	}
	if _, err := r.form(r.example("insurance_months", 1200), workflow.Complete); err != nil {
		t.Errorf("1200 months: %v", err)
	}
}

// TestInsuranceRuleBasesAreData: the bases the insurance rule applies to
// are the workflow file's, checked against the form when loading.
func TestInsuranceRuleBasesAreData(t *testing.T) {
	const rule = "    min_insurance_months:     # employment: months of social insurance, Yangtze-Delta months counted\n      months: 0"
	const bases = "      bases: [employment]"
	strict := mustRig(t, func(s string) string {
		return strings.Replace(s, rule, "    min_insurance_months:\n      months: 12", 1)
	})
	rental := strict.example("basis", "rental", "lease_no", "泰房租备001", "employer", nil, "contract_start", nil, "insurance_months", nil)
	if err := strict.eligible(t, rental); err != nil {
		t.Errorf("a renter is not held to the insurance months: %v", err)
	}
	for name, edit := range map[string][2]string{
		"no bases":                     {bases, ""},
		"a basis not asked for months": {bases, "      bases: [employment, own_home]"},
		"not a basis":                  {bases, "      bases: [lottery]"},
		"bases on another rule":        {"      child_max_age: 18", "      child_max_age: 18\n      bases: [employment]"},
	} {
		_, err := newRig(t, func(s string) string {
			if !strings.Contains(s, edit[0]) {
				t.Fatalf("%s: %q is not in the workflow file", name, edit[0])
			}
			return strings.Replace(s, edit[0], edit[1], 1)
		})
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestOriginCountyByName: an applicant may write the county as it stands
// in the booklet; the form keeps its code.
func TestOriginCountyByName(t *testing.T) {
	r := mustRig(t, nil)
	for _, name := range []string{"兴化市", "江苏省泰州市兴化市", "泰州市兴化市", "江苏省兴化市", " 江苏省 泰州市　兴化市 ", "321281"} {
		out, err := r.form(r.example("origin_county", name), workflow.Complete)
		if err != nil {
			t.Errorf("%q: %v", name, err)
			continue
		}
		var f map[string]any
		json.Unmarshal(out, &f)
		if f["origin_county"] != "321281" {
			t.Errorf("%q stored as %v, want 321281", name, f["origin_county"])
		}
	}
	out, err := r.form(r.example("origin_county", "北京市朝阳区"), workflow.Draft)
	if err != nil || !strings.Contains(string(out), `"origin_county":"110105"`) {
		t.Errorf("北京市朝阳区: %s %v", out, err)
	}
	e := portal.AsError(func() error { _, err := r.form(r.example("origin_county", "朝阳区"), workflow.Draft); return err }())
	if e == nil || len(e.Fields) != 1 || e.Fields[0].Rule != "county_ambiguous" ||
		!strings.Contains(e.Fields[0].Param, "北京市朝阳区") || !strings.Contains(e.Fields[0].Param, "吉林省长春市朝阳区") {
		t.Errorf("朝阳区: %+v, want both candidates", e)
	}
	for _, bad := range []string{"泰州市丰县", "不存在县", "999999"} {
		if got := fields(func() error { _, err := r.form(r.example("origin_county", bad), workflow.Draft); return err }()); got["origin_county"] != "county" {
			t.Errorf("%q: %v", bad, got)
		}
	}
}

// TestRefusalsSpeakPlainly: a refusal says what is wrong in a short
// sentence first, with the clause after it; the figures it names come from
// the rules and the form.
func TestRefusalsSpeakPlainly(t *testing.T) {
	cat, err := locale.Load(i18n.FS)
	if err != nil {
		t.Fatal(err)
	}
	zh, en := cat.L(locale.Chinese), cat.L(locale.English)
	strict := mustRig(t, func(s string) string {
		s = strings.Replace(s, "    min_insurance_months:     # employment: months of social insurance, Yangtze-Delta months counted\n      months: 0",
			"    min_insurance_months:\n      months: 12", 1)
		s = strings.Replace(s, "allowed: [own_home, rental, employment]", "allowed: [own_home, employment]", 1)
		return strings.Replace(s, "allowed: [spouse, child, parent]", "allowed: [spouse, child]", 1)
	})
	insurance := portal.AsError(strict.eligible(t, strict.example("insurance_months", 5, "prior_residence",
		[]any{map[string]any{"city": "320100", "from": "2020-01-01", "to": "2020-03-31"}})))
	basis := portal.AsError(strict.eligible(t, strict.example("basis", "rental", "lease_no", "泰房租备001", "employer", nil, "contract_start", nil, "insurance_months", nil)))
	relation := portal.AsError(func() error {
		_, err := strict.form(strict.example("members", []any{member("parent", testkit.IDNumber("32032119600101003"))}), workflow.Complete)
		return err
	}())
	for _, tc := range []struct {
		name   string
		e      *portal.Error
		zh, en string
	}{
		{"insurance", insurance, "社会保险缴费月数还不够：需要满12个月，您现在是8个月（已算上在长三角其他城市的3个月）。",
			"Not enough months of social insurance yet: 12 are needed and you have 8 (counting 3 in other Yangtze Delta cities)."},
		{"basis", basis, "您选择的落户依据“租住登记备案的房屋”现在不能办理落户。", "The basis you chose (“I rent a registered home”) cannot be used"},
		{"relation", relation, "第1位家庭成员（父母）不能和您一起迁户口。可以一起迁的是：配偶、未满18周岁的子女。",
			"Family member 1 (parent) cannot move with you. Who can: your spouse, children under 18."},
	} {
		if tc.e == nil || tc.e.Code != portal.ERULE {
			t.Errorf("%s: %+v, want a refusal", tc.name, tc.e)
			continue
		}
		clause := tc.e.Data["Clause"].(string)
		for _, got := range []struct{ text, want, tail string }{
			{zh.Error(tc.e), tc.zh, "依据：" + clause}, {en.Error(tc.e), tc.en, "Rule: " + clause},
		} {
			if !strings.HasPrefix(got.text, got.want) || !strings.HasSuffix(got.text, got.tail) {
				t.Errorf("%s: %q, want it to start %q and end with the clause", tc.name, got.text, got.want)
			}
		}
	}
	if basis != nil && len(basis.Fields) == 1 {
		if got := zh.Field(basis.Fields[0], basis.Labels); got != "落户依据“租住登记备案的房屋”现在不能办理落户，请换一个依据" {
			t.Errorf("the basis field: %q", got)
		}
	}
	if got := zh.Field(portal.FieldError{Field: "insurance_months", Rule: "months", Param: "1200"}, "hukou-transfer.field"); !strings.Contains(got, "0到1200") {
		t.Errorf("months: %q", got)
	}
}
