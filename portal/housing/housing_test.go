package housing_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"tzportal/i18n"
	"tzportal/policies"
	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/housing"
	"tzportal/portal/locale"
	"tzportal/portal/lottery"
	"tzportal/portal/pii"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
	"tzportal/workflows"
)

var cst = time.FixedZone("CST", 8*3600)

// now is Monday 2026-11-30 in China.
var now = time.Date(2026, 11, 30, 10, 0, 0, 0, cst)

// self is the applicant's own ID number.
const self = "321202199001010017"

// streets are the streets and towns the rig's validator knows.
var streets = []string{"321202001", "321202002", "321203001"}

type rig struct {
	svc    *housing.Service
	def    *workflow.Definition
	sealer *pii.Sealer
}

// newRig configures the service from the shipped workflow file; edit
// changes the file's text first.
func newRig(t *testing.T, edit func(string) string) (*rig, error) {
	t.Helper()
	v := validate.New(validate.Options{Now: func() time.Time { return now },
		IsLeafDivision: func(c string) bool { return slices.Contains(streets, c) }})
	sealer, err := pii.NewSealer(bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc := housing.New(v, sealer)
	names, err := account.RoleNames(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	src, err := fs.ReadFile(workflows.FS, "housing-security.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	if edit != nil {
		text = edit(text)
	}
	hooks, err := workflow.WithBuiltins(svc.ID(), svc.Hooks())
	if err != nil {
		t.Fatal(err)
	}
	def, err := workflow.Parse("workflows/housing-security.yaml", []byte(text), workflow.Known{Roles: names, Hooks: map[string]workflow.Hooks{svc.ID(): hooks}})
	if err != nil {
		return nil, err
	}
	if err := svc.Configure(def); err != nil {
		return nil, err
	}
	return &rig{svc: svc, def: def, sealer: sealer}, nil
}

func mustRig(t *testing.T, edit func(string) string) *rig {
	t.Helper()
	r, err := newRig(t, edit)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// replace is an edit of the workflow file that must find what it replaces.
func replace(t *testing.T, old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			t.Fatalf("%q is not in the workflow file", old)
		}
		return strings.Replace(s, old, new, 1)
	}
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

// familyKV makes the example a migrant family of three who came together:
// 3,200 and 2,000 yuan a month between them (1,733.33 a head).
var familyKV = []any{"income_monthly", 3200, "family_migrated", true, "members", []any{
	map[string]any{"relation": "spouse", "name": "李梅", "id_number": "321283198803080029", "income_monthly": 2000},
	map[string]any{"relation": "child", "name": "王小明", "id_number": "321202201506120035", "income_monthly": 0}}}

// family is the family's form with changes.
func (r *rig) family(kv ...any) json.RawMessage {
	return r.example(append(slices.Clone(familyKV), kv...)...)
}

// form runs the service's Form as the engine does for the applicant self.
func (r *rig) form(raw json.RawMessage, mode workflow.FormMode, store portal.Reader) (json.RawMessage, error) {
	in := workflow.FormInput{Raw: raw, Mode: mode, Now: now, Applicant: &portal.User{ID: 7, IDIndex: r.sealer.Index(self)}, Store: store}
	out, _, err := r.svc.Form(context.Background(), in)
	return out, err
}

func fields(err error) map[string]string {
	out := map[string]string{}
	if e := portal.AsError(err); e != nil {
		for _, f := range e.Fields {
			out[f.Field] = f.Rule
		}
	}
	return out
}

func TestHousingExampleIsComplete(t *testing.T) {
	r := mustRig(t, nil)
	if _, err := r.form(r.svc.Example(), workflow.Complete, nil); err != nil {
		t.Fatalf("the example: %v", err)
	}
	a, err := r.svc.Assess(r.svc.Example(), "")
	if err != nil || !a.Eligible || a.Refusal() != nil {
		t.Fatalf("the example is not eligible: %+v %v", a, err)
	}
}

// TestHousingFormNamesEachMistake: every mistake named by its field, a
// member's as members[i].field; a draft may leave later pages out, never
// the first page's answers.
func TestHousingFormNamesEachMistake(t *testing.T) {
	r := mustRig(t, nil)
	members := func(ms ...map[string]any) []any {
		out := []any{}
		for _, m := range ms {
			out = append(out, m)
		}
		return out
	}
	spouse := map[string]any{"relation": "spouse", "name": "李梅", "id_number": "321283198803080029", "income_monthly": 2000}
	cases := map[string]struct {
		kv          []any
		field, rule string
	}{
		"no such kind":         {[]any{"kind", "villa"}, "kind", "oneof"},
		"a bad checksum":       {[]any{"members", members(spouse, map[string]any{"relation": "child", "name": "王小明", "id_number": "321202201506120036", "income_monthly": 0})}, "members[1].id_number", "idnumber"},
		"the applicant listed": {[]any{"members", members(spouse, map[string]any{"relation": "parent", "name": "张三", "id_number": self, "income_monthly": 0})}, "members[1].id_number", "self"},
		"someone twice":        {[]any{"members", members(spouse, map[string]any{"relation": "child", "name": "李梅", "id_number": "321283198803080029", "income_monthly": 0})}, "members[1].id_number", "twice"},
		"two spouses":          {[]any{"members", members(spouse, map[string]any{"relation": "spouse", "name": "赵丽", "id_number": "321202199302020227", "income_monthly": 0})}, "members[1].relation", "one_spouse"},
		"a member's income":    {[]any{"members", members(map[string]any{"relation": "spouse", "name": "李梅", "id_number": "321283198803080029"})}, "members[0].income_monthly", "required"},
		"a negative income":    {[]any{"income_monthly", -5}, "income_monthly", "income"},
		"no permit":            {[]any{"residence_permit_no", nil}, "residence_permit_no", "required"},
		"a permit with spaces": {[]any{"residence_permit_no", "JZ 3212 0220"}, "residence_permit_no", "document_no"},
		"no insurance months":  {[]any{"insurance_months", nil}, "insurance_months", "required"},
		"an area not a number": {[]any{"owns_home_in_city", true, "home_area_m2", "大约六十"}, "home_area_m2", "area"},
		"a home without area":  {[]any{"owns_home_in_city", true}, "home_area_m2", "required"},
		"an unknown field":     {[]any{"salary", 5}, "salary", "unknown_field"},
		"a sealed number sent": {[]any{"members", members(map[string]any{"relation": "spouse", "name": "李梅", "id_sealed": "x", "income_monthly": 1})}, "members[0].id_sealed", "unknown_field"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := r.form(r.example(tc.kv...), workflow.Complete, nil)
			if got := fields(err); got[tc.field] != tc.rule {
				t.Errorf("%s: got %v, want %s=%s", name, got, tc.field, tc.rule)
			}
		})
	}
	// The area as an HTML form sends it (text) is stored as a number.
	out, err := r.form(r.example("kind", "public_rental", "owns_home_in_city", true, "home_area_m2", "40.5"), workflow.Complete, nil)
	if err != nil || !strings.Contains(string(out), `"home_area_m2":40.5`) {
		t.Errorf("an area typed: %s %v", out, err)
	}
	// A registered resident gives neither a permit nor insurance months:
	// what was sent of them is not kept.
	out, err = r.form(r.example("hukou_local", true), workflow.Complete, nil)
	if err != nil || strings.Contains(string(out), "residence_permit_no") || strings.Contains(string(out), "insurance_months") {
		t.Errorf("a resident's form: %s %v", out, err)
	}
	// A draft: the first page is enough; its answers are not forgiven.
	first := json.RawMessage(`{"kind":"affordable_rental","division":"321202001","address":"海陵区东进东路18号","hukou_local":true}`)
	if _, err := r.form(first, workflow.Draft, nil); err != nil {
		t.Errorf("the first page as a draft: %v", err)
	}
	if got := fields(func() error {
		_, err := r.form(json.RawMessage(`{"kind":"affordable_rental","division":"321202001","address":"海陵区东进东路18号","hukou_local":false}`), workflow.Draft, nil)
		return err
	}()); got["residence_permit_no"] != "required" || got["income_monthly"] != "" {
		t.Errorf("a draft without the permit its first page asks: %v", got)
	}
}

// TestHousingIDNumbersAreSealed: the stored form holds no member's ID number in
// clear; the applicant sees them, staff see them masked and may reveal one.
func TestHousingIDNumbersAreSealed(t *testing.T) {
	r := mustRig(t, nil)
	out, err := r.form(r.family(), workflow.Complete, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "321283198803080029") || !strings.Contains(string(out), "id_sealed") {
		t.Fatalf("stored: %s", out)
	}
	own, _ := r.svc.Show(out, true)
	staff, _ := r.svc.Show(out, false)
	if !strings.Contains(string(own), "321283198803080029") || strings.Contains(string(staff), "321283198803080029") || !strings.Contains(string(staff), pii.MaskID("321283198803080029")) {
		t.Errorf("shown: %s / %s", own, staff)
	}
	if id, err := r.svc.Reveal(out, "members[1].id_number"); err != nil || id != "321202201506120035" {
		t.Errorf("reveal: %q %v", id, err)
	}
	if _, err := r.svc.Reveal(out, "members[5].id_number"); portal.ErrorCode(err) != portal.ENOTFOUND {
		t.Errorf("reveal a member that is not: %v", err)
	}
}

// TestHousingResidentsAndMigrantsAlike applies each kind's rules to the same
// households twice, once with a Taizhou hukou and once without (with the
// permit and the insurance months the migrant-only rules ask): the outcome
// is the same but for those two rules.
func TestHousingResidentsAndMigrantsAlike(t *testing.T) {
	r := mustRig(t, nil)
	households := []struct {
		name string
		kv   []any
	}{
		{"the family", nil},
		{"a rich family", []any{"income_monthly", 9000}},
		{"at the limit (2,800 a head)", []any{"income_monthly", 6400}},
		{"own home, 40 m² for 3", []any{"owns_home_in_city", true, "home_area_m2", 40}},
		{"own home, 60 m² for 3", []any{"owns_home_in_city", true, "home_area_m2", 60}},
		{"alone, poor", []any{"members", nil, "income_monthly", 1500}},
	}
	for _, kind := range []string{"public_rental", "affordable_rental", "shared_ownership"} {
		for _, h := range households {
			kv := append([]any{"kind", kind}, h.kv...)
			res, err := r.svc.Assess(r.family(append(kv, "hukou_local", true)...), "")
			if err != nil {
				t.Fatal(err)
			}
			mig, err := r.svc.Assess(r.family(append(kv, "hukou_local", false)...), "")
			if err != nil {
				t.Fatal(err)
			}
			if res.Eligible != mig.Eligible || len(res.Checks) != len(mig.Checks) {
				t.Errorf("%s, %s: resident %v, migrant %v", kind, h.name, res.Eligible, mig.Eligible)
				continue
			}
			for i := range res.Checks {
				a, b := res.Checks[i], mig.Checks[i]
				switch a.Rule {
				case "insurance_months", "residence_permit":
					if a.Applies || !b.Applies || !a.OK {
						t.Errorf("%s, %s: %s applies to a resident (%v) or not to a migrant (%v)", kind, h.name, a.Rule, a.Applies, b.Applies)
					}
				default:
					if a != b {
						t.Errorf("%s, %s: %s differs: resident %+v, migrant %+v", kind, h.name, a.Rule, a, b)
					}
				}
			}
		}
	}
	// The migrant-only conditions: too few months, a permit other than the
	// one held. A resident with the same household is eligible.
	for _, tc := range []struct {
		kv   []any
		held string
		rule string
	}{
		{[]any{"insurance_months", 20}, "", "insurance_months"},
		{nil, "JZ3212022025000099", "residence_permit"},
	} {
		mig, _ := r.svc.Assess(r.example(tc.kv...), tc.held)
		res, _ := r.svc.Assess(r.example(append(tc.kv, "hukou_local", true)...), tc.held)
		if e := mig.Refusal(); e == nil || e.Rule != tc.rule || !res.Eligible {
			t.Errorf("%s: migrant %v, resident eligible %v", tc.rule, e, res.Eligible)
		}
	}
	// The same held permit: met.
	if a, _ := r.svc.Assess(r.svc.Example(), "JZ3212022025000077"); !a.Eligible {
		t.Errorf("the permit held: %+v", a.Checks)
	}
}

// TestHousingEachKindItsRules: public rental looks at income, the two others do
// not; affordable rental and shared ownership are for households without a
// home, public rental also for those below the area standard.
func TestHousingEachKindItsRules(t *testing.T) {
	r := mustRig(t, nil)
	for _, tc := range []struct {
		kind string
		kv   []any
		rule string // "" eligible
	}{
		{"public_rental", []any{"income_monthly", 9000}, "income_per_head"},
		{"affordable_rental", []any{"income_monthly", 9000}, ""},
		{"shared_ownership", []any{"income_monthly", 9000}, ""},
		{"public_rental", []any{"owns_home_in_city", true, "home_area_m2", 40}, ""},
		{"public_rental", []any{"owns_home_in_city", true, "home_area_m2", 45}, "home"},
		{"affordable_rental", []any{"owns_home_in_city", true, "home_area_m2", 20}, "home"},
		{"shared_ownership", []any{"owns_home_in_city", true, "home_area_m2", 20}, "home"},
		{"affordable_rental", []any{"insurance_months", 6}, ""},
		{"affordable_rental", []any{"insurance_months", 5}, "insurance_months"},
		{"shared_ownership", []any{"insurance_months", 23}, "insurance_months"},
	} {
		a, err := r.svc.Assess(r.family(append([]any{"kind", tc.kind}, tc.kv...)...), "")
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if e := a.Refusal(); e != nil {
			got = e.Rule
			if e.Code != portal.ERULE || e.Data["Clause"] == "" {
				t.Errorf("%s %v: refusal without its clause: %+v", tc.kind, tc.kv, e)
			}
		}
		if got != tc.rule {
			t.Errorf("%s %v: refused by %q, want %q", tc.kind, tc.kv, got, tc.rule)
		}
	}
}

func catalog(t *testing.T) (zh, en *locale.L) {
	t.Helper()
	files := fstest.MapFS{}
	for _, lang := range []string{"zh-CN", "en"} {
		name := "housing-security." + lang + ".yaml"
		b, err := fs.ReadFile(i18n.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = &fstest.MapFile{Data: b}
	}
	cat, err := locale.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	return cat.L(locale.Chinese), cat.L(locale.English)
}

// TestHousingIncomeRefusalSaysWhy: income per head = (applicant + members) ÷
// household; the refusal gives both figures, in the reader's language.
func TestHousingIncomeRefusalSaysWhy(t *testing.T) {
	r := mustRig(t, nil)
	// 5,000 + 1,300 for two people: 3,150 a head.
	form := r.example("income_monthly", 5000, "members", []any{map[string]any{"relation": "spouse", "name": "李梅", "id_number": "321283198803080029", "income_monthly": 1300}})
	a, err := r.svc.Assess(form, "")
	if err != nil {
		t.Fatal(err)
	}
	if a.HouseholdSize != 2 || a.IncomeTotal != 6300 || a.IncomePerHead != 3150 {
		t.Fatalf("figures: %+v", a)
	}
	e := a.Refusal()
	if e == nil || e.Rule != "income_per_head" || e.Data["Have"] != "3,150" || e.Data["Limit"] != "2,800" || e.Fields[0].Field != "income_monthly" {
		t.Fatalf("refusal: %+v", e)
	}
	zh, en := catalog(t)
	if msg := en.Error(e); !strings.Contains(msg, "income per person is 3,150 yuan a month") || !strings.Contains(msg, "above the 2,800 yuan limit") ||
		!strings.Contains(msg, "《公共租赁住房管理办法》") {
		t.Errorf("en: %s", msg)
	}
	if msg := zh.Error(e); !strings.Contains(msg, "人均月收入为3,150元") || !strings.Contains(msg, "高于公共租赁住房2,800元") {
		t.Errorf("zh: %s", msg)
	}
	// The case page's line for it, met and not.
	for _, c := range a.Checks {
		if c.Rule == "income_per_head" {
			if got := en.T("housing-security.check.income_per_head", map[string]any{"OK": c.OK, "Have": c.Have, "Limit": c.Limit, "Applies": true}); got != "Income per person 3,150 yuan a month, not below the 2,800 yuan limit" {
				t.Errorf("check: %q", got)
			}
		}
	}
	// At the limit exactly: refused, and said so.
	at, _ := r.svc.Assess(r.example("income_monthly", 3600, "members", []any{map[string]any{"relation": "spouse", "name": "李梅", "id_number": "321283198803080029", "income_monthly": 2000}}), "")
	if e := at.Refusal(); e == nil || e.Data["Equal"] != true || !strings.Contains(en.Error(e), "which reaches the 2,800") {
		t.Errorf("at the limit: %+v", e)
	}
}

func TestHousingNumbers(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 3150: "3,150", 3150.5: "3,150.5", 1733.333: "1,733.33", 1234567: "1,234,567", 999.999: "1,000", 12.05: "12.05"} {
		if got := housing.Number(v); got != want {
			t.Errorf("%v: %q, want %q", v, got, want)
		}
	}
}

// TestHousingWaitingListOrder: priority classes in the settings' order, a
// household's class its first flag; within a class the draw's order, those
// it did not rank after, then the day they joined, then the case.
func TestHousingWaitingListOrder(t *testing.T) {
	r := mustRig(t, nil)
	day := func(d int) string { return time.Date(2027, 1, d, 9, 0, 0, 0, cst).Format(time.RFC3339Nano) }
	var cases []portal.Case
	add := func(no string, flags map[string]bool, res map[string]any) {
		f := map[string]any{"kind": "public_rental", "division": "321202001", "family_migrated": flags["family_migrated"],
			"elderly": flags["elderly"], "disabled": flags["disabled"]}
		fb, _ := json.Marshal(f)
		rb, _ := json.Marshal(res)
		cases = append(cases, portal.Case{ID: int64(len(cases) + 1), No: no, Service: housing.ServiceID, State: "waitlisted",
			District: "321202", Division: "321202001", Form: fb, Result: rb})
	}
	add("G-late", nil, map[string]any{"waitlisted_at": day(9)})
	add("G-early", nil, map[string]any{"waitlisted_at": day(2)})
	add("D", map[string]bool{"disabled": true}, map[string]any{"waitlisted_at": day(20)})
	add("E+D", map[string]bool{"elderly": true, "disabled": true}, map[string]any{"waitlisted_at": day(21)})
	add("F+E", map[string]bool{"family_migrated": true, "elderly": true}, map[string]any{"waitlisted_at": day(22)})
	add("G-drawn2", nil, map[string]any{"waitlisted_at": day(15), "draw_rank": 2})
	add("G-drawn1", nil, map[string]any{"waitlisted_at": day(16), "draw_rank": 1})
	add("G-same-day", nil, map[string]any{"waitlisted_at": day(2)})
	other := portal.Case{ID: 99, No: "other-kind", Service: housing.ServiceID, State: "waitlisted", District: "321202",
		Form: json.RawMessage(`{"kind":"affordable_rental"}`), Result: json.RawMessage(`{"waitlisted_at":"` + day(1) + `"}`)}
	cases = append(cases, other)
	list, err := r.svc.Waitlist(context.Background(), &fakeReader{svc: r.svc, cases: cases}, "321202", "public_rental")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range list {
		got = append(got, p.CaseNo+"/"+p.Class)
	}
	want := []string{"F+E/family_migrated", "E+D/elderly", "D/disabled", "G-drawn1/general", "G-drawn2/general", "G-early/general",
		"G-same-day/general", "G-late/general"}
	if !slices.Equal(got, want) {
		t.Errorf("order:\n got %v\nwant %v", got, want)
	}
	// Another order of the classes is data.
	r2 := mustRig(t, replace(t, "priority: [family_migrated, elderly, disabled]", "priority: [disabled, family_migrated]"))
	list, _ = r2.svc.Waitlist(context.Background(), &fakeReader{svc: r2.svc, cases: cases}, "321202", "public_rental")
	if list[0].CaseNo != "D" || list[1].CaseNo != "E+D" || list[1].Class != "disabled" || list[2].CaseNo != "F+E" {
		t.Errorf("disabled first: %v", list[:3])
	}
	// The applicant's view: position, of, class.
	extra, err := r.svc.Annotate(context.Background(), &fakeReader{svc: r.svc, cases: cases}, &cases[2])
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := json.Marshal(extra["waitlist"]); string(w) != `{"class":"disabled","of":8,"position":3}` {
		t.Errorf("annotation: %s", w)
	}
}

// fakeReader answers the reads the waiting list and the annotation make.
type fakeReader struct {
	portal.Reader
	svc   *housing.Service
	cases []portal.Case
}

func (f *fakeReader) CasesInState(_ context.Context, service, district, state string, after int64, limit int) ([]portal.Case, error) {
	var out []portal.Case
	for _, c := range f.cases {
		if c.Service == service && c.District == district && c.State == state && c.ID > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

// ListMembers keeps the lists as the engine does (the service's entry of
// each waiting case) and orders them as the stores do (sqlstore's
// TestListOrder holds the stores to this order).
func (f *fakeReader) ListMembers(_ context.Context, list string) ([]portal.ListMember, error) {
	es, err := f.entries(list)
	if err != nil {
		return nil, err
	}
	out := make([]portal.ListMember, len(es))
	for i, e := range es {
		out[i] = portal.ListMember{CaseID: e.CaseID, CaseNo: e.CaseNo, ApplicantID: e.ApplicantID, Class: e.Class, Label: e.Label}
	}
	return out, nil
}

// entries is a list's entries in order.
func (f *fakeReader) entries(list string) ([]portal.ListEntry, error) {
	var out []portal.ListEntry
	for _, c := range f.cases {
		if c.State != "waitlisted" {
			continue
		}
		e, err := f.svc.ListEntry(&c)
		if err != nil {
			return nil, err
		}
		if e.List == list {
			e.CaseID, e.CaseNo, e.ApplicantID = c.ID, c.No, c.ApplicantID
			out = append(out, e)
		}
	}
	prior := func(e portal.ListEntry) int {
		if e.PriorRank == 0 {
			return math.MaxInt32
		}
		return e.PriorRank
	}
	slices.SortFunc(out, func(a, b portal.ListEntry) int {
		return cmp.Or(cmp.Compare(a.ClassRank, b.ClassRank), cmp.Compare(prior(a), prior(b)), a.JoinedAt.Compare(b.JoinedAt),
			cmp.Compare(a.CaseID, b.CaseID))
	})
	return out, nil
}

// ListPlace finds a case on its list.
func (f *fakeReader) ListPlace(ctx context.Context, caseID int64) (*portal.ListEntry, int, int, error) {
	for _, c := range f.cases {
		if c.ID != caseID || c.State != "waitlisted" {
			continue
		}
		e, err := f.svc.ListEntry(&c)
		if err != nil {
			return nil, 0, 0, err
		}
		list, _ := f.entries(e.List)
		i := slices.IndexFunc(list, func(e portal.ListEntry) bool { return e.CaseID == caseID })
		return &list[i], i + 1, len(list), nil
	}
	return nil, 0, 0, portal.NotFound(nil)
}

// CohortIDs: no draws in these tests.
func (f *fakeReader) CohortIDs(context.Context, string, string, string) ([]int64, error) {
	return nil, nil
}

func (f *fakeReader) ObjectionsOf(context.Context, int64) ([]portal.Objection, error) {
	return nil, nil
}

func (f *fakeReader) ListCases(context.Context, portal.CaseFilter) ([]portal.Case, error) {
	return nil, nil
}

// TestHousingSettingsAreChecked: what the service could not apply stops start-up,
// naming it.
func TestHousingSettingsAreChecked(t *testing.T) {
	for name, tc := range map[string]struct {
		old, new, want string
	}{
		"a rule without its clause": {`        below: 2800
        clause: "《公共租赁住房管理办法》`, `        below: 2800
        clause: ""
        x: "`, "field x not found"},
		"an empty clause": {`      residence_permit:       # without a Taizhou hukou: a Taizhou residence permit
        clause: "《居住证暂行条例》`, `      residence_permit:
        clause: ""
        #`, "rules.public_rental.residence_permit needs the clause"},
		"a kind the form lacks":     {"    shared_ownership:\n", "    villa:\n", "rules.villa: not a kind of the form"},
		"an unknown priority":       {"priority: [family_migrated, elderly, disabled]", "priority: [family_migrated, veteran]", `priority: "veteran"`},
		"no removal":                {"removal_at: 2", "removal_at: 0", "declines.removal_at"},
		"a share above one":         {"target: 0.29", "target: 29", "indicator: baseline and target"},
		"a district not a code":     {`"321202": 210000`, `"海陵区": 210000`, `indicator.households: "海陵区"`},
		"a negative income limit":   {"below: 2800", "below: -1", "income_per_head.below"},
		"an unknown setting":        {"notice_days: 7", "notice_days: 7\n  notice_weeks: 1", "field notice_weeks not found"},
		"objection bounds reversed": {"reason_min_chars: 10", "reason_min_chars: 2000", "reason_min_chars <= reason_max_chars"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newRig(t, replace(t, tc.old, tc.new))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestHousingTextsAreComplete: every rule and class has its texts in both
// languages, and an SMS never says more than the surname, the case, the
// service and a date.
func TestHousingTextsAreComplete(t *testing.T) {
	r := mustRig(t, nil)
	zh, en := catalog(t)
	var ids []string
	for _, rule := range []string{"income_per_head", "home", "insurance_months", "residence_permit"} {
		ids = append(ids, "rule."+rule, "check."+rule)
	}
	for _, c := range []string{"family_migrated", "elderly", "disabled", "general"} {
		ids = append(ids, "class."+c)
	}
	for _, l := range []*locale.L{zh, en} {
		for _, id := range ids {
			if !l.Has("housing-security." + id) {
				t.Errorf("%s: no housing-security.%s", l.Lang, id)
			}
		}
		for _, ev := range r.def.EventNames() {
			id := "housing-security.notify." + ev + ".sms"
			if !r.def.Events[ev].Notify {
				continue
			}
			sms := l.T(id, map[string]any{"Surname": "王", "CaseNo": "TZHS20261130000001", "Service": "住房保障", "Due": "2026-12-10",
				"Reason": "REASON", "Items": "ITEMS"})
			if sms == id || strings.Contains(sms, "REASON") || strings.Contains(sms, "ITEMS") || strings.Contains(sms, "<no value>") {
				t.Errorf("%s %s: %q", l.Lang, id, sms)
			}
		}
	}
	// The guide's conditions read the settings.
	for _, l := range []*locale.L{zh, en} {
		g := l.T("housing-security.guide.conditions", r.def.Settings)
		if !strings.Contains(g, "2800") || !strings.Contains(g, "36") || strings.Contains(g, "<no value>") {
			t.Errorf("%s guide: %s", l.Lang, g)
		}
	}
}

func TestHousingMaskedName(t *testing.T) {
	for in, want := range map[string]string{"张三": "张*", "欧阳娜娜": "欧*", " 李 ": "李*", "": "*"} {
		if got := housing.MaskedName(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestHousingPrefillFromThePermit(t *testing.T) {
	r := mustRig(t, nil)
	permit := &portal.Case{No: "TZRP20250101000001", Form: json.RawMessage(`{"division":"321202002","address":"海陵区鼓楼路5号","phone":"13912345678"}`),
		Result: json.RawMessage(`{"permit_no":"JZ3212022025000001","valid_until":"2026-12-31"}`)}
	out, err := r.svc.Prefill(context.Background(), func(_ context.Context, service string) (*portal.Case, error) {
		if service != "residence-permit" {
			t.Errorf("prefilled from %s", service)
		}
		return permit, nil
	})
	if err != nil || string(out) != `{"division":"321202002","address":"海陵区鼓楼路5号","hukou_local":false,"residence_permit_no":"JZ3212022025000001"}` {
		t.Errorf("prefill: %s %v", out, err)
	}
	out, err = r.svc.Prefill(context.Background(), func(context.Context, string) (*portal.Case, error) { return nil, portal.NotFound(nil) })
	if err != nil || string(out) != "{}" {
		t.Errorf("no permit: %s %v", out, err)
	}
}

// TestHousingSettlementFixesTheHukou: an applicant settled through the portal
// has a Taizhou hukou whatever the form says.
func TestHousingSettlementFixesTheHukou(t *testing.T) {
	r := mustRig(t, nil)
	settled := &settledReader{fakeReader: fakeReader{}, no: "TZHK20260101000001"}
	out, err := r.form(r.example("hukou_local", false), workflow.Complete, settled)
	if err != nil || !strings.Contains(string(out), `"hukou_local":true`) || strings.Contains(string(out), "residence_permit_no") {
		t.Errorf("settled: %s %v", out, err)
	}
	if settled.asked.Service != "hukou-transfer" || !slices.Equal(settled.asked.States, []string{"settled"}) || settled.asked.ApplicantID != 7 {
		t.Errorf("asked: %+v", settled.asked)
	}
}

type settledReader struct {
	fakeReader
	no    string
	asked portal.CaseFilter
}

func (s *settledReader) ListCases(_ context.Context, f portal.CaseFilter) ([]portal.Case, error) {
	s.asked = f
	return []portal.Case{{No: s.no}}, nil
}

// TestHousingDrawStored: a draw's frozen participants go into its record
// column by column and come back as they were; a class the draw does not
// name is refused.
func TestHousingDrawStored(t *testing.T) {
	d := lottery.Draw{District: "321202", Kind: "public_rental", Classes: []string{"family_migrated", "elderly", "general"},
		ParticipantsSHA256: strings.Repeat("a", 64), Units: []lottery.Unit{{Code: "A-1"}}}
	var cases []string
	for i, c := range []string{"general", "family_migrated", "general", "elderly"} {
		d.Participants = append(d.Participants, lottery.PublicParticipant{Ticket: i + 1, Class: c, Applicant: string([]rune("张李王赵")[i:i+1]) + "*"})
		cases = append(cases, fmt.Sprintf("TZHS20261130%06d", i+1))
	}
	back, backCases, raw, err := housing.StoreDraw(d, cases)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Participants, d.Participants) || !slices.Equal(backCases, cases) || back.ParticipantsSHA256 != d.ParticipantsSHA256 ||
		back.Units[0].Code != "A-1" {
		t.Errorf("stored and read back:\n%+v\n%+v", back, d)
	}
	if strings.Contains(string(raw), `"ticket"`) {
		t.Errorf("participants stored as objects: %.200s", raw)
	}
	d.Participants[2].Class = "veteran"
	if _, _, _, err := housing.StoreDraw(d, cases); err == nil {
		t.Error("a class the draw does not name was stored")
	}
}
