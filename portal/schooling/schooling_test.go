package schooling_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"go.yaml.in/yaml/v3"

	"tzportal/i18n"
	"tzportal/policies"
	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/locale"
	"tzportal/portal/pii"
	"tzportal/portal/schooling"
	"tzportal/portal/testkit"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
	"tzportal/workflows"
)

var cst = time.FixedZone("CST", 8*3600)

// now is Monday 2026-11-30 in China.
var now = time.Date(2026, 11, 30, 10, 0, 0, 0, cst)

const (
	// child is the example's girl, born on 15 May 2020 (an address code of
	// 丰县: she was born where the family comes from).
	child = "320321202005150023"
	// self is the applicant's own ID number.
	self = "321202199001010017"
)

// streets are the streets and towns the rigs' validator knows.
var streets = []string{"321202001", "321202002", "321202003", "321203001"}

type rig struct {
	svc    *schooling.Service
	def    *workflow.Definition
	cal    *workflow.Calendar
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
	svc := schooling.New(v, sealer)
	names, err := account.RoleNames(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	src, err := fs.ReadFile(workflows.FS, "school-enrollment.yaml")
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
	def, err := workflow.Parse("workflows/school-enrollment.yaml", []byte(text), workflow.Known{Roles: names, Hooks: map[string]workflow.Hooks{svc.ID(): hooks}})
	if err != nil {
		return nil, err
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

// form runs the service's Form as the engine does for the applicant self,
// with the reference data of ref (nil: none at hand).
func (r *rig) form(raw json.RawMessage, mode workflow.FormMode, ref *reference) (json.RawMessage, error) {
	in := workflow.FormInput{Raw: raw, Mode: mode, Now: now, Applicant: &portal.User{IDIndex: r.sealer.Index(self)}}
	if ref != nil {
		in.Store = ref
	}
	out, _, err := r.svc.Form(context.Background(), in)
	return out, err
}

func (r *rig) mustForm(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	out, err := r.form(raw, workflow.Complete, nil)
	if err != nil {
		t.Fatalf("form: %v", err)
	}
	return out
}

// firing is an event being fired on a case of district 321202 holding form.
func (r *rig) firing(event string, form json.RawMessage, ref *reference, at time.Time) *workflow.Firing {
	c := &portal.Case{No: "TZSE20261130000001", Service: schooling.ServiceID, Division: "321202001", District: "321202",
		Form: form, Result: json.RawMessage("{}")}
	f := &workflow.Firing{Def: r.def, Case: c, Event: event, Now: at, Cal: r.cal, Input: workflow.Input{Values: portal.Inputs{}}}
	if ref != nil {
		f.Tx = ref
	}
	return f
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

// reference is the reference data a test gives the service: schools, an
// enrollment window, cases by state and counters. Any other read is not
// expected and panics (the embedded Tx is nil).
type reference struct {
	portal.Tx
	schools []portal.School
	window  *portal.EnrollmentWindow
	cases   map[string][]portal.Case
	mu      sync.Mutex
	seqs    map[string]int64
}

func (r *reference) Schools(_ context.Context, district string, year int) ([]portal.School, error) {
	var out []portal.School
	for _, s := range r.schools {
		if (district == "" || s.District == district) && s.Year == year {
			out = append(out, s)
		}
	}
	return out, nil
}

func (r *reference) EnrollmentWindow(_ context.Context, district string, year int) (*portal.EnrollmentWindow, error) {
	if r.window == nil || r.window.District != district || r.window.Year != year {
		return nil, portal.NotFound(nil)
	}
	return r.window, nil
}

func (r *reference) CasesInState(_ context.Context, service, district, state string, after int64, limit int) ([]portal.Case, error) {
	var out []portal.Case
	for _, c := range r.cases[state] {
		if c.Service == service && c.District == district && c.ID > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (r *reference) NextSeq(_ context.Context, name, period string) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seqs == nil {
		r.seqs = map[string]int64{}
	}
	r.seqs[name+"/"+period]++
	return r.seqs[name+"/"+period], nil
}

// haiLing are schools of 海陵区 for 2027, and one of 高港区.
func haiLing() *reference {
	return &reference{schools: []portal.School{
		{Code: "HL-CD-01", Year: 2027, Grade: "1", Name: "城东小学", District: "321202", Catchment: []string{"321202001"}, Seats: 2, Public: true},
		{Code: "HL-CD-02", Year: 2027, Grade: "1", Name: "城东第二小学", District: "321202", Catchment: []string{"321202001", "321202002"}, Seats: 40, Public: true},
		{Code: "HL-FX-01", Year: 2027, Grade: "1", Name: "凤凰小学", District: "321202", Catchment: []string{"321202003"}, Seats: 1, Public: true},
		{Code: "HL-CD-01", Year: 2027, Grade: "7", Name: "城东小学", District: "321202", Catchment: []string{"321202001"}, Seats: 40, Public: true},
		{Code: "HL-ZX-01", Year: 2027, Grade: "7", Name: "海陵中学", District: "321202", Catchment: []string{"321202002"}, Seats: 200, Public: true},
		{Code: "HL-CD-01", Year: 2028, Grade: "1", Name: "城东小学", District: "321202", Catchment: []string{"321202001"}, Seats: 2, Public: true},
		{Code: "GG-KA-01", Year: 2027, Grade: "1", Name: "口岸小学", District: "321203", Catchment: []string{"321203001"}, Seats: 50, Public: true},
	}}
}

func TestDraftsMayWaitCompleteFormsMayNot(t *testing.T) {
	r := mustRig(t, nil)
	home := json.RawMessage(`{"division":"321202001","address":"海陵区东进东路18号","housing":"rented","family_migrated":false}`)
	if _, err := r.form(home, workflow.Draft, nil); err != nil {
		t.Errorf("the first page as a draft: %v", err)
	}
	got := fields(func() error { _, err := r.form(home, workflow.Complete, nil); return err }())
	for _, f := range []string{"year", "grade", "child_name", "child_id_number", "guardian_basis", "residence_permit_no", "preferences"} {
		if got[f] != "required" {
			t.Errorf("complete without %s: %v", f, got)
		}
	}
	// A draft needs its first page; what is filled in must be right.
	got = fields(func() error {
		_, err := r.form(json.RawMessage(`{"address":"海陵区东进东路18号","housing":"rented","child_id_number":"32032120200515002X","year":1999}`), workflow.Draft, nil)
		return err
	}())
	if got["division"] != "required" || got["family_migrated"] != "required" || got["child_id_number"] != "idnumber" || got["year"] != "school_year" {
		t.Errorf("draft errors: %v", got)
	}
	// Only what the answers ask for is kept: no record number for grade 1,
	// no licence number for an insured guardian.
	out, err := r.form(r.example("primary_record_no", "G320321202005150023", "licence_no", "91321202MA1X2Y3Z4Q"), workflow.Complete, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "primary_record_no") || strings.Contains(string(out), "licence_no") {
		t.Errorf("details that do not apply were kept: %s", out)
	}
	// Grade 7 needs its record number; a licence its number and no months.
	got = fields(func() error { _, err := r.form(r.example("grade", "7"), workflow.Complete, nil); return err }())
	if got["primary_record_no"] != "required" {
		t.Errorf("grade 7 without a record: %v", got)
	}
	if _, err := r.form(r.example("grade", "7"), workflow.Draft, nil); err != nil {
		t.Errorf("a grade-7 draft without its record yet: %v", err)
	}
	got = fields(func() error {
		_, err := r.form(r.example("guardian_basis", "business_licence"), workflow.Complete, nil)
		return err
	}())
	if got["licence_no"] != "required" {
		t.Errorf("a licence without its number: %v", got)
	}
	out, err = r.form(r.example("guardian_basis", "business_licence", "licence_no", "91321202ma1x2y3z4q"), workflow.Complete, nil)
	if err != nil || strings.Contains(string(out), "insurance_months") || !strings.Contains(string(out), `"licence_no":"91321202MA1X2Y3Z4Q"`) {
		t.Errorf("a licence: %s %v", out, err)
	}
	// A value of the wrong type is named; so is a field the form does not have.
	for name, tc := range map[string]struct {
		raw, field, rule string
	}{
		"year as text":        {`{"division":"321202001","year":"2027"}`, "year", "type"},
		"a bool as text":      {`{"division":"321202001","family_migrated":"yes"}`, "family_migrated", "type"},
		"schools as one text": {`{"division":"321202001","preferences":"HL-CD-01"}`, "preferences", "type"},
		"unknown field":       {`{"division":"321202001","school":"HL-CD-01"}`, "school", "unknown_field"},
	} {
		if got := fields(func() error { _, err := r.form(json.RawMessage(tc.raw), workflow.Draft, nil); return err }()); got[tc.field] != tc.rule {
			t.Errorf("%s: %v, want %s %s", name, got, tc.field, tc.rule)
		}
	}
}

func TestFieldsAreNamed(t *testing.T) {
	r := mustRig(t, nil)
	for name, tc := range map[string]struct {
		kv          []any
		field, rule string
	}{
		"bad checksum":            {[]any{"child_id_number", testkit.BadIDNumber(child)}, "child_id_number", "idnumber"},
		"the applicant":           {[]any{"child_id_number", self}, "child_id_number", "self"},
		"a past year":             {[]any{"year", 2025}, "year", "school_year"},
		"too far ahead":           {[]any{"year", 2029}, "year", "school_year"},
		"no such grade":           {[]any{"grade", "3"}, "grade", "oneof"},
		"negative months":         {[]any{"insurance_months", -1}, "insurance_months", "months"},
		"a century of insurance":  {[]any{"insurance_months", 1200}, "insurance_months", "months"},
		"months missing":          {[]any{"insurance_months", nil}, "insurance_months", "required"},
		"permit with a space":     {[]any{"residence_permit_no", "JZ 321202"}, "residence_permit_no", "document_no"},
		"no such housing":         {[]any{"housing", "hotel"}, "housing", "oneof"},
		"a town not in Taizhou":   {[]any{"division", "110105001"}, "division", "division"},
		"family not said":         {[]any{"family_migrated", nil}, "family_migrated", "required"},
		"no school":               {[]any{"preferences", []any{}}, "preferences", "required"},
		"four schools":            {[]any{"preferences", []any{"A1", "A2", "A3", "A4"}}, "preferences", "max_items"},
		"a school twice":          {[]any{"preferences", []any{"HL-CD-01", " HL-CD-01 "}}, "preferences[1]", "twice"},
		"an empty choice":         {[]any{"preferences", []any{"HL-CD-01", ""}}, "preferences[1]", "required"},
		"a choice on two lines":   {[]any{"preferences", []any{"HL-CD-01\nHL-CD-02"}}, "preferences[0]", "school"},
		"a name of one character": {[]any{"child_name", "李"}, "child_name", "min"},
	} {
		_, err := r.form(r.example(tc.kv...), workflow.Complete, nil)
		if got := fields(err); got[tc.field] != tc.rule {
			t.Errorf("%s: %v (%v), want %s %s", name, got, err, tc.field, tc.rule)
		}
	}
	if _, err := r.form(r.example("insurance_months", 0, "year", 2028), workflow.Complete, nil); err != nil {
		t.Errorf("0 months, for 2028: %v", err)
	}
}

func TestSchoolsAreTheDistricts(t *testing.T) {
	r := mustRig(t, nil)
	ref := haiLing()
	if _, err := r.form(r.example(), workflow.Complete, ref); err != nil {
		t.Fatalf("the example with 海陵区's schools: %v", err)
	}
	for name, tc := range map[string]struct {
		kv    []any
		field string
	}{
		"a school that does not exist": {[]any{"preferences", []any{"HL-CD-01", "HL-XX-99"}}, "preferences[1]"},
		"another district's school":    {[]any{"preferences", []any{"GG-KA-01"}}, "preferences[0]"},
		"a school without this grade":  {[]any{"preferences", []any{"HL-CD-01", "HL-ZX-01"}}, "preferences[1]"},
		"a school of another year":     {[]any{"year", 2028, "preferences", []any{"HL-CD-01", "HL-CD-02"}}, "preferences[1]"},
		"海陵区's school from 高港区":        {[]any{"division", "321203001", "preferences", []any{"HL-CD-01"}}, "preferences[0]"},
	} {
		_, err := r.form(r.example(tc.kv...), workflow.Complete, ref)
		if got := fields(err); got[tc.field] != "school" || len(got) != 1 {
			t.Errorf("%s: %v, want %s school", name, got, tc.field)
		}
	}
	if _, err := r.form(r.example("division", "321203001", "preferences", []any{"GG-KA-01"}), workflow.Complete, ref); err != nil {
		t.Errorf("高港区's own school: %v", err)
	}
	// A draft keeps them: its grade may have changed on another page, and
	// the page saving the grade is not stopped by the schools' page.
	changed := r.example("grade", "7", "primary_record_no", "G320321202005150023", "preferences", []any{"HL-CD-02", "HL-CD-01"})
	out, err := r.form(changed, workflow.Draft, ref)
	if err != nil || !strings.Contains(string(out), `"preferences":["HL-CD-02","HL-CD-01"]`) {
		t.Errorf("a draft whose grade changed: %s %v", out, err)
	}
	if got := fields(func() error { _, err := r.form(changed, workflow.Complete, ref); return err }()); got["preferences[0]"] != "school" || len(got) != 1 {
		t.Errorf("handed in so: %v, want preferences[0] school", got)
	}
}

func TestTheChildsIDNumberIsSealed(t *testing.T) {
	r := mustRig(t, nil)
	out := r.mustForm(t, r.example())
	if strings.Contains(string(out), child) || !strings.Contains(string(out), "child_id_sealed") || !strings.Contains(string(out), r.sealer.Index(child)) {
		t.Fatalf("stored: %s", out)
	}
	owner, err := r.svc.Show(out, true)
	if err != nil || !strings.Contains(string(owner), child) || strings.Contains(string(owner), "child_id_sealed") || strings.Contains(string(owner), "child_id_index") {
		t.Errorf("the applicant's view: %s %v", owner, err)
	}
	staff, err := r.svc.Show(out, false)
	if err != nil || strings.Contains(string(staff), child) || !strings.Contains(string(staff), pii.MaskID(child)) {
		t.Errorf("staff's view: %s %v", staff, err)
	}
	if id, err := r.svc.Reveal(out, "child_id_number"); err != nil || id != child {
		t.Errorf("reveal: %q %v", id, err)
	}
	for _, f := range []string{"child_name", "members[0].id_number", ""} {
		if _, err := r.svc.Reveal(out, f); portal.ErrorCode(err) != portal.ENOTFOUND {
			t.Errorf("reveal %q: %v", f, err)
		}
	}
	// The applicant's own view goes back through the form unchanged (an
	// edit), sealed again; a client may not send a sealed value.
	again, err := r.form(owner, workflow.Complete, nil)
	if err != nil || strings.Contains(string(again), child) {
		t.Errorf("the owner's view sent back: %s %v", again, err)
	}
	var m map[string]any
	json.Unmarshal(out, &m)
	delete(m, "child_id_number")
	raw, _ := json.Marshal(m)
	if got := fields(func() error { _, err := r.form(raw, workflow.Draft, nil); return err }()); got["child_id_sealed"] != "unknown_field" && got["child_id_index"] != "unknown_field" {
		t.Errorf("a sealed value from a client: %v", got)
	}
	// A tampered ciphertext is an integrity error, never a wrong number.
	sealed := m["child_id_sealed"].(string)
	b := []byte(sealed)
	b[10] ^= 'A' ^ 'B'
	tampered := strings.Replace(string(out), sealed, string(b), 1)
	if _, err := r.svc.Show(json.RawMessage(tampered), false); portal.ErrorCode(err) != portal.EINTERNAL || portal.AsError(err).Message != "error.integrity" {
		t.Errorf("a tampered number: %v, want an integrity error", err)
	}
}

// TestAChildsAgeOnTheLastDayOfAugust: grade 1 takes children 6 to 8 on 31
// August of the year they start, by the birth date in their ID number.
func TestAChildsAgeOnTheLastDayOfAugust(t *testing.T) {
	r := mustRig(t, nil)
	born := func(date string) string { return testkit.IDNumber("321202" + date + "002") }
	for _, tc := range []struct {
		birth string
		age   int
		ok    bool
	}{
		{"20210831", 6, true},  // six on the day
		{"20210901", 5, false}, // six a day too late
		{"20180901", 8, true},  // still eight
		{"20180831", 9, false}, // nine on the day
	} {
		_, err := r.form(r.example("child_id_number", born(tc.birth)), workflow.Draft, nil)
		e := portal.AsError(err)
		switch {
		case tc.ok && err != nil:
			t.Errorf("born %s: %v", tc.birth, err)
		case !tc.ok && (e == nil || e.Code != portal.ERULE || e.Rule != "child_age" || e.Data["Age"] != tc.age || e.Data["On"] != "2027-08-31"):
			t.Errorf("born %s: %+v, want child_age at %d", tc.birth, e, tc.age)
		case !tc.ok && fields(err)["child_id_number"] != "child_age":
			t.Errorf("born %s: the refusal does not name the field: %v", tc.birth, e.Fields)
		}
	}
	e := portal.AsError(func() error {
		_, err := r.form(r.example("child_id_number", born("20210901")), workflow.Draft, nil)
		return err
	}())
	if e == nil || e.Data["From"] != 2028 {
		t.Errorf("too young: %+v, want to be told 2028", e)
	}
	// Grade 7 has no age rule here; the settings decide grade 1's.
	if _, err := r.form(r.example("child_id_number", born("20140301"), "grade", "7", "primary_record_no", "G3212022014030100"), workflow.Complete, nil); err != nil {
		t.Errorf("grade 7 at 13: %v", err)
	}
	strict := mustRig(t, replace(t, "      min_age: 6\n", "      min_age: 7\n"))
	if _, err := strict.form(strict.example(), workflow.Draft, nil); err != nil {
		t.Errorf("seven on 31 August 2027, min_age 7: %v", err)
	}
	if _, err := strict.form(strict.example("child_id_number", born("20210831")), workflow.Draft, nil); portal.AsError(err) == nil || portal.AsError(err).Rule != "child_age" {
		t.Errorf("six, min_age 7: %v", err)
	}
}

// catalog is the service's texts alone (the portal's own are not needed).
func catalog(t *testing.T) (zh, en *locale.L) {
	t.Helper()
	files := fstest.MapFS{}
	for _, lang := range []string{"zh-CN", "en"} {
		name := "school-enrollment." + lang + ".yaml"
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

// TestRefusalsSpeakPlainly: a refusal says what is wrong and what to do
// first, the clause after; its figures come from the rules and the form.
func TestRefusalsSpeakPlainly(t *testing.T) {
	r := mustRig(t, nil)
	zh, en := catalog(t)
	young := portal.AsError(func() error {
		_, err := r.form(r.example("child_id_number", testkit.IDNumber("32120220210901002")), workflow.Draft, nil)
		return err
	}())
	early := portal.AsError(r.svc.Hooks().Guards["enrollment_window"](context.Background(),
		r.firing("submit", r.mustForm(t, r.example()), &reference{window: &portal.EnrollmentWindow{District: "321202", Year: 2027,
			Opens: "2027-05-10", Closes: "2027-05-31", AppealDays: 5}}, now)))
	for _, tc := range []struct {
		name   string
		e      *portal.Error
		zh, en string
		clause bool
	}{
		{"too young", young, "按孩子的身份证号，到2027-08-31孩子是5周岁。上一年级要在这一天满6周岁、不超过8周岁。孩子可以在2028年报名上一年级。",
			"By the child's ID number, the child is 5 on 2027-08-31. Grade 1 takes children aged 6 to 8 on that day. You can apply for grade 1 in 2028.", true},
		{"window not open", early, "2027年的报名还没有开始：报名时间是2027-05-10到2027-05-31，请到时再提交。",
			"Applications for 2027 have not opened yet: they run from 2027-05-10 to 2027-05-31.", false},
	} {
		if tc.e == nil || tc.e.Code != portal.ERULE {
			t.Errorf("%s: %+v, want a refusal", tc.name, tc.e)
			continue
		}
		for _, got := range []struct{ text, want, tail string }{{zh.Error(tc.e), tc.zh, "依据："}, {en.Error(tc.e), tc.en, "Rule: "}} {
			if !strings.HasPrefix(got.text, got.want) {
				t.Errorf("%s: %q, want it to start %q", tc.name, got.text, got.want)
			}
			if tc.clause && !strings.HasSuffix(got.text, got.tail+tc.e.Data["Clause"].(string)) {
				t.Errorf("%s: %q does not end with its clause", tc.name, got.text)
			}
		}
	}
	if got := zh.Field(portal.FieldError{Field: "preferences[1]", Rule: "twice", Param: "1"}, "school-enrollment.field"); got != "第2志愿学校和第1志愿是同一所学校，每所学校只选一次" {
		t.Errorf("a school twice: %q", got)
	}
}

// score is the points of a form given a permit held since from ("": none).
func (r *rig) score(t *testing.T, raw json.RawMessage, from string, ref *reference) schooling.Score {
	t.Helper()
	var permit *portal.Case
	if from != "" {
		permit = &portal.Case{No: "TZRP20230601000001", Result: json.RawMessage(`{"permit_no":"JZ3212022023000001","valid_from":"` + from + `","valid_until":"2027-05-31"}`)}
	}
	var schools []portal.School
	if ref != nil {
		schools, _ = ref.Schools(context.Background(), "321202", 2027)
	}
	sc, err := r.svc.Points(r.mustForm(t, raw), permit, schools, now)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// parts are a score's parts as item → points, and their sum.
func parts(sc schooling.Score) (map[string]int, int) {
	m, sum := map[string]int{}, 0
	for _, p := range sc.Parts {
		m[p.Item] = p.Points
		sum += p.Points
	}
	return m, sum
}

func TestPointsShowTheirParts(t *testing.T) {
	r := mustRig(t, nil)
	ref := haiLing()
	for _, tc := range []struct {
		name   string
		kv     []any
		permit string
		want   map[string]int
		basis  map[string]string
	}{
		{"the example: 3 years insured, no permit here, rented, family together", nil, "",
			map[string]int{"insurance_years": 15, "permit_years": 0, "own_home": 0, "family_migrated": 10},
			map[string]string{"insurance_years": "36", "permit_years": "0", "own_home": "rented", "family_migrated": "true"}},
		{"35 months count 2 years", []any{"insurance_months", 35}, "", map[string]int{"insurance_years": 10}, map[string]string{"insurance_years": "35"}},
		{"insurance is capped", []any{"insurance_months", 240}, "", map[string]int{"insurance_years": 30}, nil},
		{"a business licence counts no insurance", []any{"guardian_basis", "business_licence", "licence_no", "91321202MA1X2Y3Z4Q", "insurance_months", nil}, "",
			map[string]int{"insurance_years": 0}, map[string]string{"insurance_years": "0"}},
		{"a permit held 3 years and a half", nil, "2023-05-30", map[string]int{"permit_years": 15}, map[string]string{"permit_years": "3"}},
		{"a permit one day short of 3 years", nil, "2023-12-01", map[string]int{"permit_years": 10}, map[string]string{"permit_years": "2"}},
		{"a permit held 9 years is capped", nil, "2017-01-01", map[string]int{"permit_years": 25}, nil},
		{"own home in a catchment", []any{"housing", "own"}, "", map[string]int{"own_home": 20}, map[string]string{"own_home": "own_in_catchment"}},
		{"own home on 城西, in 城东二小's catchment", []any{"housing", "own", "division", "321202002", "preferences", []any{"HL-CD-02"}}, "",
			map[string]int{"own_home": 20}, map[string]string{"own_home": "own_in_catchment"}},
		{"family apart", []any{"family_migrated", false}, "", map[string]int{"family_migrated": 0}, map[string]string{"family_migrated": "false"}},
	} {
		sc := r.score(t, r.example(tc.kv...), tc.permit, ref)
		got, sum := parts(sc)
		if sum != sc.Total || len(sc.Parts) != 4 {
			t.Errorf("%s: %+v: the parts do not make the total", tc.name, sc)
		}
		for item, want := range tc.want {
			if got[item] != want {
				t.Errorf("%s: %s gave %d, want %d (%+v)", tc.name, item, got[item], want, sc)
			}
		}
		for _, p := range sc.Parts {
			if want, ok := tc.basis[p.Item]; ok && p.Basis != want {
				t.Errorf("%s: %s's basis %q, want %q", tc.name, p.Item, p.Basis, want)
			}
		}
	}
	// Own home on a street no grade-1 school serves: no points, and why.
	outside := r.score(t, r.example("housing", "own", "division", "321202003", "preferences", []any{"HL-FX-01"}),
		"", &reference{schools: haiLing().schools[:2]})
	if got, _ := parts(outside); got["own_home"] != 0 || outside.Parts[2].Basis != "own_outside_catchment" {
		t.Errorf("own home outside every catchment: %+v", outside)
	}
}

// TestPointsAreData: the formula is the settings'.
func TestPointsAreData(t *testing.T) {
	heavier := mustRig(t, replace(t, "      weight: 10\n", "      weight: 15\n"))
	if got, _ := parts(heavier.score(t, heavier.example(), "", nil)); got["family_migrated"] != 15 {
		t.Errorf("family together weighing 15: %v", got)
	}
	uncapped := mustRig(t, replace(t, "      weight: 5\n      cap: 30\n", "      weight: 5\n"))
	if got, _ := parts(uncapped.score(t, uncapped.example("insurance_months", 240), "", nil)); got["insurance_years"] != 100 {
		t.Errorf("20 years without a cap: %v", got)
	}
	fewer := mustRig(t, replace(t, "    - item: family_migrated   # the whole family moved to Taizhou together\n      source: family_migrated\n      when: \"true\"\n      weight: 10\n",
		"    - item: renting\n      source: housing\n      when: rented\n      weight: 3\n"))
	sc := fewer.score(t, fewer.example(), "", nil)
	if got, _ := parts(sc); got["renting"] != 3 || sc.Parts[3].Basis != "rented" {
		t.Errorf("an item for renters: %+v", sc)
	}
}

func TestSettingsAreChecked(t *testing.T) {
	for name, edit := range map[string][2]string{
		"a rule without its clause":     {"      min_insurance_months: 12\n      clause:", "      min_insurance_months: 12\n      note:"},
		"an unknown setting":            {"  preferences_max: 3", "  preference_max: 3"},
		"no schools to choose":          {"  preferences_max: 3", "  preferences_max: 0"},
		"min age over max age":          {"      max_age: 8", "      max_age: 5"},
		"a day that is not MM-DD":       {`age_on: "08-31"`, `age_on: "31.08"`},
		"a grade the form has not":      {"      grade: \"7\"\n", "      grade: \"9\"\n"},
		"an unknown source":             {"      source: insurance_months\n", "      source: salary\n"},
		"a number counted by answer":    {"      per: 12\n", "      per: 12\n      when: own\n"},
		"an answer without its when":    {"      when: own\n", ""},
		"an answer the form has not":    {"      when: own\n", "      when: castle\n"},
		"an item without its clause":    {"      cap: 25\n      clause:", "      cap: 25\n      note:"},
		"an item listed twice":          {"    - item: permit_years", "    - item: insurance_years"},
		"an item named as the appeal's": {"    - item: permit_years", "    - item: appeal"},
		"a negative weight":             {"      weight: 20\n", "      weight: -20\n"},
		"a prefix that is not letters":  {`placement_prefix: "RX"`, `placement_prefix: "R1"`},
	} {
		_, err := newRig(t, replace(t, edit[0], edit[1]))
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestTheWindowDecides: only within the district's window of the year, its
// last day included in China time; a correction may come back after it.
func TestTheWindowDecides(t *testing.T) {
	r := mustRig(t, nil)
	guard := r.svc.Hooks().Guards["enrollment_window"]
	form := r.mustForm(t, r.example())
	window := &portal.EnrollmentWindow{District: "321202", Year: 2027, Opens: "2026-12-01", Closes: "2026-12-31", AppealDays: 5}
	status := func(err error) string {
		if e := portal.AsError(err); e != nil && e.Rule == "enrollment_window" {
			return e.Data["Status"].(string)
		}
		if err != nil {
			t.Fatalf("not a window refusal: %v", err)
		}
		return "open"
	}
	for _, tc := range []struct {
		at   time.Time
		ref  *reference
		want string
	}{
		{now, &reference{}, "none"},
		{now, &reference{window: &portal.EnrollmentWindow{District: "321203", Year: 2027, Opens: "2026-11-01", Closes: "2026-12-31"}}, "none"},
		{time.Date(2026, 11, 30, 23, 59, 0, 0, cst), &reference{window: window}, "early"},
		{time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC), &reference{window: window}, "open"}, // 1 December in China already
		{time.Date(2026, 12, 31, 23, 59, 0, 0, cst), &reference{window: window}, "open"},
		{time.Date(2026, 12, 31, 16, 1, 0, 0, time.UTC), &reference{window: window}, "closed"}, // 1 January in China
	} {
		if got := status(guard(context.Background(), r.firing("submit", form, tc.ref, tc.at))); got != tc.want {
			t.Errorf("at %s: %s, want %s", tc.at, got, tc.want)
		}
	}
	late := r.firing("submit", form, &reference{window: window}, time.Date(2027, 1, 5, 10, 0, 0, 0, cst))
	late.History = []portal.History{{Event: "create"}, {Event: "submit"}, {Event: "request_correction"}}
	if err := guard(context.Background(), late); err != nil {
		t.Errorf("a correction after the window closed: %v", err)
	}
	e := portal.AsError(guard(context.Background(), r.firing("submit", form, &reference{window: window}, time.Date(2027, 1, 5, 10, 0, 0, 0, cst))))
	if e == nil || e.Data["Closes"] != "2026-12-31" {
		t.Errorf("closed: %+v, want the date it closed", e)
	}
}

// TestAppealsWithinTheAppealDays: five working days after the day the
// list published the child, counted on the calendar.
func TestAppealsWithinTheAppealDays(t *testing.T) {
	r := mustRig(t, nil)
	guard := r.svc.Hooks().Guards["appeal_window"]
	ref := &reference{window: &portal.EnrollmentWindow{District: "321202", Year: 2027, Opens: "2026-11-01", Closes: "2026-11-20", AppealDays: 5}}
	form := r.mustForm(t, r.example())
	hist := []portal.History{{Event: "submit", At: now.AddDate(0, 0, -20)}, {Event: "verify", At: now.AddDate(0, 0, -10)}, {Event: "publish", At: now}}
	at := func(t time.Time) *workflow.Firing {
		f := r.firing("appeal", form, ref, t)
		f.History = hist
		return f
	}
	// Published Monday 30 November: the five working days are 1–7 December.
	if err := guard(context.Background(), at(time.Date(2026, 12, 7, 23, 59, 0, 0, cst))); err != nil {
		t.Errorf("on the last day: %v", err)
	}
	e := portal.AsError(guard(context.Background(), at(time.Date(2026, 12, 8, 0, 0, 0, 0, cst))))
	if e == nil || e.Rule != "appeal_window" || e.Data["Until"] != "2026-12-07" || e.Data["Published"] != "2026-11-30" {
		t.Errorf("the day after: %+v", e)
	}
	// open_appeals tells the family the same last day.
	f := at(now)
	if err := r.svc.Hooks().Actions["open_appeals"](context.Background(), f); err != nil || !strings.Contains(string(f.Case.Result), `"appeal_until":"2026-12-07"`) {
		t.Errorf("open_appeals: %s %v", f.Case.Result, err)
	}
}

func TestAppealDecisions(t *testing.T) {
	r := mustRig(t, nil)
	guard, amend := r.svc.Hooks().Guards["appeal_decision"], r.svc.Hooks().Actions["amend_score"]
	scored := `{"score":{"total":25,"parts":[{"item":"insurance_years","points":15,"basis":"36"},{"item":"family_migrated","points":10,"basis":"true"}]}}`
	decide := func(in portal.Inputs) *workflow.Firing {
		f := r.firing("decide_appeal", r.mustForm(t, r.example()), nil, now)
		f.Case.Result = json.RawMessage(scored)
		f.Input.Values = in
		return f
	}
	for name, tc := range map[string]struct {
		in          portal.Inputs
		field, rule string
	}{
		"no outcome":             {portal.Inputs{"reason": "x"}, "outcome", "outcome"},
		"an outcome of its own":  {portal.Inputs{"outcome": "upheld", "reason": "x"}, "outcome", "outcome"},
		"amended without points": {portal.Inputs{"outcome": "amended", "reason": "x"}, "points", "required"},
		"negative points":        {portal.Inputs{"outcome": "amended", "points": "-5", "reason": "x"}, "points", "points"},
		"points in words":        {portal.Inputs{"outcome": "amended", "points": "三十", "reason": "x"}, "points", "points"},
		"the same total":         {portal.Inputs{"outcome": "amended", "points": "25", "reason": "x"}, "points", "points_same"},
		"dismissed with points":  {portal.Inputs{"outcome": "dismissed", "points": "30", "reason": "x"}, "points", "points_unused"},
	} {
		e := portal.AsError(guard(context.Background(), decide(tc.in)))
		if e == nil || e.Code != portal.EINVALID || e.Labels != "school-enrollment.input" || fields(e)[tc.field] != tc.rule {
			t.Errorf("%s: %+v, want %s %s", name, e, tc.field, tc.rule)
		}
	}
	// Amended: the total is the district's, an appeal part holds the
	// difference and the reason, and the parts add up.
	f := decide(portal.Inputs{"outcome": "amended", "points": "40", "reason": "社保应为72个月，核实属实"})
	if err := guard(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if err := amend(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	res, err := schooling.ReadResult(f.Case)
	if err != nil {
		t.Fatal(err)
	}
	got, sum := parts(*res.Score)
	if res.Score.Total != 40 || sum != 40 || got["appeal"] != 15 || res.Score.Parts[2].Basis != "社保应为72个月，核实属实" {
		t.Errorf("amended: %+v", res.Score)
	}
	// Lowered too.
	f = decide(portal.Inputs{"outcome": "amended", "points": "10", "reason": "未举家迁入"})
	amend(context.Background(), f)
	if res, _ := schooling.ReadResult(f.Case); res.Score.Total != 10 || res.Score.Parts[2].Points != -15 {
		t.Errorf("lowered: %+v", res.Score)
	}
	// Dismissed: the points stay.
	f = decide(portal.Inputs{"outcome": "dismissed", "reason": "缴费记录与系统一致"})
	if err := guard(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	amend(context.Background(), f)
	if res, _ := schooling.ReadResult(f.Case); res.Score.Total != 25 || len(res.Score.Parts) != 2 || !strings.Contains(string(f.Case.Result), `"appeal_outcome":"dismissed"`) {
		t.Errorf("dismissed: %s", f.Case.Result)
	}
}

// placed is a case of district 321202 in state with a school of a year and
// grade.
func placed(id int64, school string, year int, grade string) portal.Case {
	return portal.Case{ID: id, No: fmt.Sprintf("TZSE20270101%06d", id), Service: schooling.ServiceID, District: "321202",
		Form:   json.RawMessage(fmt.Sprintf(`{"year":%d,"grade":%q,"division":"321202001"}`, year, grade)),
		Result: json.RawMessage(fmt.Sprintf(`{"school":%q}`, school))}
}

func TestPlacingByHand(t *testing.T) {
	r := mustRig(t, nil)
	act := r.svc.Hooks().Actions["place_in_school"]
	form := r.mustForm(t, r.example())
	ref := haiLing() // 城东小学 has 2 grade-1 seats, 凤凰小学 1
	ref.cases = map[string][]portal.Case{
		"assigned": {placed(1, "HL-CD-01", 2027, "1"), placed(2, "HL-CD-01", 2027, "7"), placed(3, "HL-CD-01", 2028, "1"), placed(4, "HL-FX-01", 2027, "1")},
		"enrolled": {placed(5, "HL-CD-02", 2027, "1")},
	}
	place := func(school string) (*workflow.Firing, error) {
		f := r.firing("place", form, ref, now)
		f.Input.Values = portal.Inputs{"school": school}
		return f, act(context.Background(), f)
	}
	if _, err := place("HL-FX-01"); portal.AsError(err) == nil || portal.AsError(err).Rule != "seat_free" || fields(err)["school"] != "seat_free" {
		t.Errorf("a full school: %v", err)
	}
	for _, code := range []string{"HL-ZX-01", "GG-KA-01", "HL-XX-99"} { // grade 7 only; another district's; none
		if _, err := place(code); portal.AsError(err) == nil || portal.AsError(err).Rule != "school_unknown" {
			t.Errorf("%s: %v", code, err)
		}
	}
	f, err := place("HL-CD-01") // one grade-1 seat of 2027 left
	if err != nil {
		t.Fatal(err)
	}
	res, _ := schooling.ReadResult(f.Case)
	if res.School != "HL-CD-01" || res.SchoolName != "城东小学" || !res.PlacedByHand {
		t.Errorf("placed: %+v", res)
	}
	if ref.seqs["se-place:HL-CD-01/2027"] == 0 {
		t.Errorf("the school's counter was not locked first: %v", ref.seqs)
	}
	// Seats are counted over every page of cases.
	ref.cases["assigned"], ref.cases["enrolled"] = nil, nil
	for i := int64(1); i <= 600; i++ {
		ref.cases["assigned"] = append(ref.cases["assigned"], placed(i, "HL-CD-02", 2027, "1"))
	}
	ref.schools[1].Seats = 600
	if _, err := place("HL-CD-02"); portal.AsError(err) == nil || portal.AsError(err).Rule != "seat_free" {
		t.Errorf("600 of 600 seats over two pages: %v", err)
	}
	ref.schools[1].Seats = 601
	if _, err := place("HL-CD-02"); err != nil {
		t.Errorf("600 of 601 seats: %v", err)
	}
}

func TestThePlacementNotice(t *testing.T) {
	r := mustRig(t, nil)
	ref := &reference{}
	f := r.firing("confirm_enrollment", r.mustForm(t, r.example()), ref, now)
	if err := r.svc.Hooks().Actions["number_placement"](context.Background(), f); err != nil {
		t.Fatal(err)
	}
	res, _ := schooling.ReadResult(f.Case)
	if res.PlacementNo != "RX3212022027000001" || !strings.Contains(string(f.Case.Result), `"enrolled_on":"2026-11-30"`) {
		t.Errorf("placement: %s", f.Case.Result)
	}
	if r.def.Certificate == nil || r.def.Certificate.Number != "placement_no" || r.def.Certificate.ValidUntil != "" {
		t.Errorf("certificate: %+v", r.def.Certificate)
	}
}

func TestAllocationNamesTheSchool(t *testing.T) {
	r := mustRig(t, nil)
	cond := r.svc.Hooks().Conditions["school_assigned"]
	for result, want := range map[string]bool{`{"school":"HL-CD-01"}`: true, `{"school":null,"explanation":[]}`: false, `{}`: false, `{"school":""}`: false} {
		f := r.firing("allocate", r.mustForm(t, r.example()), nil, now)
		f.Case.Result = json.RawMessage(result)
		if got, err := cond(context.Background(), f); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", result, got, err, want)
		}
	}
}

// TestAChildIsInOneApplicationAYear: the claim is the child's, by the blind
// index of their ID number, for the year.
func TestAChildIsInOneApplicationAYear(t *testing.T) {
	r := mustRig(t, nil)
	claim := r.svc.Hooks().Claims["child"]
	keys := func(raw json.RawMessage) []workflow.ClaimKey {
		k, err := claim(&portal.Case{Form: r.mustForm(t, raw)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a, b, c := keys(r.example()), keys(r.example("address", "海陵区凤凰路1号")), keys(r.example("year", 2028))
	if len(a) != 1 || a[0] != b[0] || a[0] == c[0] || a[0].Field != "child_id_number" || strings.Contains(a[0].Key, child) {
		t.Errorf("claims: %v %v %v", a, b, c)
	}
}

func TestPrefillFromThePermit(t *testing.T) {
	r := mustRig(t, nil)
	permit := &portal.Case{No: "TZRP20250101000001", Form: json.RawMessage(`{"division":"321202002","address":"海陵区鼓楼路5号","phone":"13912345678"}`),
		Result: json.RawMessage(`{"permit_no":"JZ3212022025000001","valid_until":"2026-12-31"}`)}
	out, err := r.svc.Prefill(context.Background(), func(_ context.Context, service string) (*portal.Case, error) {
		if service != "residence-permit" {
			t.Errorf("prefilled from %s", service)
		}
		return permit, nil
	})
	if err != nil || string(out) != `{"residence_permit_no":"JZ3212022025000001","division":"321202002","address":"海陵区鼓楼路5号"}` {
		t.Errorf("prefill: %s %v", out, err)
	}
	out, err = r.svc.Prefill(context.Background(), func(context.Context, string) (*portal.Case, error) { return nil, portal.NotFound(nil) })
	if err != nil || string(out) != "{}" {
		t.Errorf("no permit: %s %v", out, err)
	}
}

// TestTheTextsAreComplete: every point item has its label and its basis in
// both languages (MissingTexts does not know the settings' items).
func TestTheTextsAreComplete(t *testing.T) {
	r := mustRig(t, nil)
	zh, en := catalog(t)
	src, err := fs.ReadFile(workflows.FS, "school-enrollment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Settings struct {
			Points []struct {
				Item string `yaml:"item"`
			} `yaml:"points"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(src, &file); err != nil || len(file.Settings.Points) == 0 {
		t.Fatalf("points: %v", err)
	}
	ids := []string{"points.appeal", "basis.appeal"}
	for _, p := range file.Settings.Points {
		ids = append(ids, "points."+p.Item, "basis."+p.Item)
	}
	for _, l := range []*locale.L{zh, en} {
		for _, id := range ids {
			if !l.Has("school-enrollment." + id) {
				t.Errorf("%s: no school-enrollment.%s", l.Lang, id)
			}
		}
	}
	// The SMS never says more than the surname, the case, the service and a date.
	for _, l := range []*locale.L{zh, en} {
		for _, ev := range r.def.EventNames() {
			id := "school-enrollment.notify." + ev + ".sms"
			if !l.Has(id) {
				continue
			}
			sms := l.T(id, map[string]any{"Surname": "李", "CaseNo": "TZSE20261130000001", "Service": "随迁子女入学", "Due": "2026-12-10",
				"Reason": "REASON", "Items": "ITEMS"})
			if strings.Contains(sms, "REASON") || strings.Contains(sms, "ITEMS") || strings.Contains(sms, "<no value>") {
				t.Errorf("%s %s: %q", l.Lang, id, sms)
			}
		}
	}
}

// TestThroughThePortal runs the service in a portal: its texts, its
// permissions, the permit the portal holds (checked and counted), the
// window's last day and a correction after it, the appeal, and two
// officers placing two children in the last seat at once.
func TestThroughThePortal(t *testing.T) {
	testkit.EachBackend(t, testThroughThePortal)
}

func testThroughThePortal(t *testing.T, b testkit.Backend) {
	p := testkit.Start(t, b, nil) // Monday 2026-11-30, 10:00 in China
	ctx := context.Background()
	var missing []string
	for _, m := range p.MissingTexts() {
		if strings.Contains(m, schooling.ServiceID) {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		t.Errorf("texts missing: %v", missing)
	}
	err := p.DB.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.PutSchools(ctx, []portal.School{
			{Code: "HL-CD-01", Year: 2027, Grade: "1", Name: "城东小学", District: "321202", Catchment: []string{"321202001"}, Seats: 30, Public: true},
			{Code: "HL-FX-01", Year: 2027, Grade: "1", Name: "凤凰小学", District: "321202", Catchment: []string{"321202003"}, Seats: 1, Public: true},
			{Code: "HL-FX-02", Year: 2027, Grade: "1", Name: "凤凰第二小学", District: "321202", Catchment: []string{"321202003"}, Seats: 5, Public: true},
		}); err != nil {
			return err
		}
		return tx.PutEnrollmentWindow(ctx, &portal.EnrollmentWindow{District: "321202", Year: 2027, Opens: "2026-11-30", Closes: "2026-12-04",
			PublicationDays: 5, AppealDays: 5, UpdatedBy: "test", UpdatedAt: p.Clock.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	p.MustStaff(t, "officer", "district_officer", "321202")
	p.MustStaff(t, "officer2", "district_officer", "321202")
	officer, officer2 := p.NewClient(t), p.NewClient(t)
	ua, alice := p.NewApplicant(t, "王芳")
	ub, bob := p.NewApplicant(t, "李强")
	relogin := func() {
		officer.Login("officer")
		officer2.Login("officer2")
		alice.LoginAs(ua)
		bob.LoginAs(ub)
	}
	relogin()
	fire := func(c *testkit.Client, no, event string, body any, want int) map[string]any {
		t.Helper()
		r := c.Do("POST", "/api/v1/cases/"+no+"/events/"+event, body)
		if r.Status != want {
			t.Fatalf("%s %s: %d, want %d: %s", no, event, r.Status, want, r.Body)
		}
		return r.JSON(t)
	}

	// 王芳 holds a residence permit in the portal since 1 June 2023.
	now := p.Clock.Now()
	permit := &portal.Case{No: "TZRP20230601000001", Service: "residence-permit", State: "approved", Version: 1, ApplicantID: ua.ID,
		Division: "321202001", District: "321202", Form: json.RawMessage(`{"division":"321202001","address":"海陵区东进东路18号3幢201室"}`),
		Result:     json.RawMessage(`{"permit_no":"JZ3212022023000009","valid_from":"2023-06-01","valid_until":"2027-05-31","years_since":"2023-06-01"}`),
		StateSince: now, CreatedAt: now, UpdatedAt: now}
	if err := p.DB.Tx(ctx, func(tx portal.Tx) error { return tx.InsertCase(ctx, permit) }); err != nil {
		t.Fatal(err)
	}
	pre, err := p.Engine.Prefill(ctx, portal.Actor{User: ua}, schooling.ServiceID)
	if err != nil || !strings.Contains(string(pre), "JZ3212022023000009") {
		t.Errorf("prefill: %s %v", pre, err)
	}
	form := p.Example(t, schooling.ServiceID)
	form["housing"], form["preferences"] = "own", []string{"HL-CD-01", "HL-FX-01"}
	r := alice.Do("POST", "/api/v1/cases", map[string]any{"service": schooling.ServiceID, "form": form})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	a := r.JSON(t)["case_no"].(string)
	alice.AttachAll(a)
	// The number stated is not the permit held: refused, saying which it is.
	if r := alice.Do("POST", "/api/v1/cases/"+a+"/events/submit", nil); r.Status != 422 || !strings.Contains(r.Text(), "residence_permit") || !strings.Contains(r.Text(), "JZ3212022023000009") {
		t.Fatalf("submit with another permit's number: %d %s", r.Status, r.Body)
	}
	form["residence_permit_no"] = "JZ3212022023000009"
	if r := alice.Do("PUT", "/api/v1/cases/"+a+"/form", map[string]any{"form": form}); r.Status != 200 {
		t.Fatalf("edit: %d %s", r.Status, r.Body)
	}
	fire(alice, a, "submit", nil, 200)
	m := fire(officer, a, "verify", nil, 200)
	// 36 months: 15; the permit's 3 whole years: 15; own home in 城东小学's
	// catchment: 20; family together: 10.
	sc := m["result"].(map[string]any)["score"].(map[string]any)
	if sc["total"] != float64(60) {
		t.Errorf("score: %v", sc)
	}
	// Staff see the child's number masked, the family in clear; a reveal is audited.
	staffView := officer.Get("/api/v1/cases/" + a).Text()
	if strings.Contains(staffView, child) || !strings.Contains(staffView, pii.MaskID(child)) || !strings.Contains(alice.Get("/api/v1/cases/"+a).Text(), child) {
		t.Error("the child's ID number is not masked for staff only")
	}
	if r := officer.Do("POST", "/api/v1/cases/"+a+"/reveal", map[string]any{"field": "child_id_number"}); r.Status != 200 || !strings.Contains(r.Text(), child) {
		t.Errorf("reveal: %d %s", r.Status, r.Body)
	}

	// 李强: too few months of insurance; then his business licence.
	formB := p.Example(t, schooling.ServiceID)
	formB["child_id_number"], formB["insurance_months"], formB["preferences"] = testkit.IDNumber("32128320200704001"), 6, []string{"HL-FX-01", "HL-FX-02"}
	formB["division"], formB["residence_permit_no"] = "321202003", "JZ3212022025000077"
	r = bob.Do("POST", "/api/v1/cases", map[string]any{"service": schooling.ServiceID, "form": formB})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	bn := r.JSON(t)["case_no"].(string)
	bob.AttachAll(bn)
	if r := bob.Do("POST", "/api/v1/cases/"+bn+"/events/submit", nil); r.Status != 422 || !strings.Contains(r.Text(), "guardian_basis") {
		t.Fatalf("6 months of insurance: %d %s", r.Status, r.Body)
	}
	formB["guardian_basis"], formB["licence_no"] = "business_licence", "92321202MA1X2Y3Z4Q"
	delete(formB, "insurance_months")
	if r := bob.Do("PUT", "/api/v1/cases/"+bn+"/form", map[string]any{"form": formB}); r.Status != 200 {
		t.Fatalf("edit: %d %s", r.Status, r.Body)
	}
	bob.AttachAll(bn) // the licence is a material of its own
	fire(bob, bn, "submit", nil, 200)
	fire(officer, bn, "request_correction", map[string]any{"reason": "营业执照照片不清楚", "items": []string{"business_licence"}}, 200)

	// The window closes on Friday 4 December; 李强's correction may still
	// come back, a new application may not.
	p.Clock.Advance(5 * 24 * time.Hour) // Saturday 5 December
	relogin()
	formC := p.Example(t, schooling.ServiceID)
	formC["child_id_number"], formC["preferences"] = testkit.IDNumber("32128320200704003"), []string{"HL-CD-01"}
	r = alice.Do("POST", "/api/v1/cases", map[string]any{"service": schooling.ServiceID, "form": formC})
	if r.Status != http.StatusCreated {
		t.Fatalf("a second child's application: %d %s", r.Status, r.Body)
	}
	late := r.JSON(t)["case_no"].(string)
	alice.AttachAll(late)
	if r := alice.Do("POST", "/api/v1/cases/"+late+"/events/submit", nil); r.Status != 422 || !strings.Contains(r.Text(), "2026-12-04") {
		t.Errorf("after the window: %d %s", r.Status, r.Body)
	}
	fire(bob, bn, "submit", nil, 200)
	fire(officer, bn, "verify", nil, 200)

	// The list publishes both (a cohort operation: here the engine's own
	// call, as portal/schooling's Publish makes it).
	cli := portal.Actor{System: "cli:test"}
	steps := []workflow.CohortStep{{CaseNo: a}, {CaseNo: bn}}
	if _, err := p.Engine.FireCohort(ctx, cli, schooling.ServiceID, "publish", steps, 0, func(context.Context, portal.Tx, int) error { return nil }); err != nil {
		t.Fatal(err)
	}
	res := alice.Get("/api/v1/cases/" + a).JSON(t)["result"].(map[string]any)
	if res["appeal_until"] != "2026-12-11" { // five working days after Saturday 5 December
		t.Errorf("appeal until: %v", res["appeal_until"])
	}
	fire(alice, a, "appeal", map[string]any{"reason": "居住证应从2022年算起"}, 200)
	if r := officer.Do("POST", "/api/v1/cases/"+a+"/events/decide_appeal", map[string]any{"outcome": "upheld", "reason": "x"}); r.Status != 422 || !strings.Contains(r.Text(), `"field":"outcome"`) {
		t.Errorf("an outcome of its own: %d %s", r.Status, r.Body)
	}
	m = fire(officer, a, "decide_appeal", map[string]any{"outcome": "amended", "points": "65", "reason": "居住证年限核实为4年"}, 200)
	if sc := m["result"].(map[string]any)["score"].(map[string]any); sc["total"] != float64(65) || len(sc["parts"].([]any)) != 5 {
		t.Errorf("after the appeal: %v", sc)
	}
	p.Clock.Advance(7 * 24 * time.Hour) // Saturday 12 December
	relogin()
	if r := bob.Do("POST", "/api/v1/cases/"+bn+"/events/appeal", map[string]any{"reason": "x"}); r.Status != 422 || !strings.Contains(r.Text(), "2026-12-11") {
		t.Errorf("an appeal after the appeal days: %d %s", r.Status, r.Body)
	}

	// Nobody got a school: both wait for a place by hand; two officers
	// place them in 凤凰小学's one seat at once, and one is refused.
	none := []workflow.CohortStep{{CaseNo: a, Result: map[string]any{"school": nil}}, {CaseNo: bn, Result: map[string]any{"school": nil}}}
	if _, err := p.Engine.FireCohort(ctx, cli, schooling.ServiceID, "allocate", none, 0, func(context.Context, portal.Tx, int) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]*testkit.Response, 2)
	for i, c := range []*testkit.Client{officer, officer2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = c.Do("POST", "/api/v1/cases/"+[]string{a, bn}[i]+"/events/place", map[string]any{"school": "HL-FX-01"})
		}()
	}
	wg.Wait()
	statuses := []int{got[0].Status, got[1].Status}
	slices.Sort(statuses)
	if statuses[0] != 200 || statuses[1] != 422 {
		t.Fatalf("two placements into the last seat: %d %s / %d %s", got[0].Status, got[0].Body, got[1].Status, got[1].Body)
	}
	refused := []string{a, bn}[slices.IndexFunc(got, func(r *testkit.Response) bool { return r.Status == 422 })]
	if r := got[slices.IndexFunc(got, func(r *testkit.Response) bool { return r.Status == 422 })]; !strings.Contains(r.Text(), "seat_free") {
		t.Errorf("the refusal: %s", r.Body)
	}
	fire(officer, refused, "place", map[string]any{"school": "HL-FX-02"}, 200)

	// The school confirms 王芳's daughter: the placement notice.
	m = fire(officer, a, "confirm_enrollment", nil, 200)
	if no := m["result"].(map[string]any)["placement_no"]; no != "RX3212022027000001" {
		t.Errorf("placement notice: %v", no)
	}
	if cert := alice.Get("/api/v1/cases/" + a + "/certificate").JSON(t); cert["kind"] != "school-placement" || cert["status"] != "valid" {
		t.Errorf("certificate: %v", cert)
	}
	// The case page shows the points in words, part by part.
	page := alice.Get("/cases/" + a).Text()
	for _, want := range []string{"在泰州缴纳社会保险", "36个月", "满3年", "自有住房，在所选年级学校的施教区内", "申诉更正", "RX3212022027000001"} {
		if !strings.Contains(page, want) {
			t.Errorf("the case page lacks %q", want)
		}
	}
}
