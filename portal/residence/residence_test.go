package residence_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"reflect"
	"runtime/debug"
	"testing"
	"time"

	"tzportal/policies"
	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/residence"
	"tzportal/portal/testkit"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
	"tzportal/workflows"
)

// cst is China Standard Time, the zone of workflows/calendar.yaml.
var cst = time.FixedZone("CST", 8*3600)

// leaves are the street codes the tests' validator accepts.
var leaves = map[string]bool{"321202001": true, "321202002": true, "321203001": true}

// rig is the residence service configured from the shipped workflow file,
// with the shipped calendar.
type rig struct {
	svc *residence.Service
	def *workflow.Definition
	cal *workflow.Calendar
}

func newRig(tb testing.TB, now func() time.Time) *rig {
	tb.Helper()
	v := validate.New(validate.Options{Now: now, IsLeafDivision: func(c string) bool { return leaves[c] }})
	svc := residence.New(v)
	names, err := account.RoleNames(policies.FS)
	if err != nil {
		tb.Fatal(err)
	}
	src, err := fs.ReadFile(workflows.FS, "residence-permit.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	// The engine's own guards and actions (materials, certificates), as
	// workflow.NewRegistry adds them.
	hooks, err := workflow.WithBuiltins(svc.ID(), svc.Hooks())
	if err != nil {
		tb.Fatal(err)
	}
	def, err := workflow.Parse("workflows/residence-permit.yaml", src, workflow.Known{Roles: names, Hooks: map[string]workflow.Hooks{svc.ID(): hooks}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := svc.Configure(def); err != nil {
		tb.Fatal(err)
	}
	cal, err := workflow.LoadCalendar(workflows.FS)
	if err != nil {
		tb.Fatal(err)
	}
	return &rig{svc: svc, def: def, cal: cal}
}

func fixedNow() time.Time { return time.Date(2026, 11, 30, 10, 0, 0, 0, cst) }

func formJSON(tb testing.TB, kv ...string) json.RawMessage {
	tb.Helper()
	b, err := json.Marshal(testkit.ResidenceForm(kv...))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestMinResidenceBoundaries checks the six-month rule (居住证暂行条例 art. 2)
// at its edges. A period of months ends on the same day number of the last
// month, or on that month's last day when it has no such day (民法典 art. 202):
// six months from 31 August end on 28 (or 29) February, not in March.
func TestMinResidenceBoundaries(t *testing.T) {
	r := newRig(t, fixedNow)
	guard := r.svc.Hooks().Guards["min_residence"]
	if guard == nil {
		t.Fatal("no min_residence guard")
	}
	for _, tc := range []struct {
		name     string
		since    string
		now      time.Time
		eligible string // "" when the guard must let the event through
	}{
		{"exactly six months", "2026-05-30", time.Date(2026, 11, 30, 0, 0, 0, 0, cst), ""},
		{"five months and 30 days", "2026-05-30", time.Date(2026, 11, 29, 23, 59, 59, 0, cst), "2026-11-30"},
		{"six months, at 00:00 China time (16:00 UTC the day before)", "2026-05-30", time.Date(2026, 11, 29, 16, 0, 0, 0, time.UTC), ""},
		{"a second before midnight China time", "2026-05-30", time.Date(2026, 11, 29, 15, 59, 59, 0, time.UTC), "2026-11-30"},
		{"long ago", "2020-01-01", fixedNow(), ""},
		{"registered today", "2026-11-30", fixedNow(), "2027-05-30"},
		{"31 May: November has no 31st, so 30 November", "2026-05-31", time.Date(2026, 11, 30, 9, 0, 0, 0, cst), ""},
		{"31 August: February has no 31st, so 28 February", "2025-08-31", time.Date(2026, 2, 28, 9, 0, 0, 0, cst), ""},
		{"31 August: the day before 28 February", "2025-08-31", time.Date(2026, 2, 27, 9, 0, 0, 0, cst), "2026-02-28"},
		{"31 August before a leap year: 29 February", "2027-08-31", time.Date(2028, 2, 29, 9, 0, 0, 0, cst), ""},
		{"31 August before a leap year: 28 February is a day short", "2027-08-31", time.Date(2028, 2, 28, 9, 0, 0, 0, cst), "2028-02-29"},
		{"29 February to 29 August", "2028-02-29", time.Date(2028, 8, 29, 0, 0, 0, 0, cst), ""},
		{"29 February: 28 August is a day short", "2028-02-29", time.Date(2028, 8, 28, 23, 0, 0, 0, cst), "2028-08-29"},
		{"31 December: 30 June", "2025-12-31", time.Date(2026, 6, 30, 9, 0, 0, 0, cst), ""},
		{"31 March: 30 September", "2026-03-31", time.Date(2026, 9, 30, 9, 0, 0, 0, cst), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &workflow.Firing{Def: r.def, Case: &portal.Case{No: "TZRP20261130000001", Form: formJSON(t, "resided_since", tc.since)},
				Event: "submit", Now: tc.now, Cal: r.cal}
			err := guard(context.Background(), f)
			if tc.eligible == "" {
				if err != nil {
					t.Errorf("resided since %s, on %s: refused: %v (%v)", tc.since, tc.now.In(cst).Format(time.DateTime), err, dataOf(err))
				}
				return
			}
			var e *portal.Error
			if !errors.As(err, &e) || e.Code != portal.ERULE || e.Rule != "min_residence" {
				t.Fatalf("resided since %s, on %s: %v, want the min_residence rule", tc.since, tc.now.In(cst).Format(time.DateTime), err)
			}
			if e.Data["Eligible"] != tc.eligible || e.Data["Since"] != tc.since || e.Data["Months"] != 6 {
				t.Errorf("resided since %s: refusal data %v, want eligible on %s", tc.since, e.Data, tc.eligible)
			}
		})
	}
	// A stored form whose date cannot be read is named, not a crash.
	f := &workflow.Firing{Def: r.def, Case: &portal.Case{No: "TZRP20261130000001", Form: formJSON(t, "resided_since", "2026-02-30")}, Now: fixedNow(), Cal: r.cal}
	if err := guard(context.Background(), f); !hasField(err, "resided_since", "date") {
		t.Errorf("an impossible stored date: %v", err)
	}
}

func dataOf(err error) any {
	var e *portal.Error
	if errors.As(err, &e) {
		return e.Data
	}
	return nil
}

func hasField(err error, field, rule string) bool {
	var e *portal.Error
	if !errors.As(err, &e) || e.Code != portal.EINVALID {
		return false
	}
	for _, f := range e.Fields {
		if f.Field == field && f.Rule == rule {
			return true
		}
	}
	return false
}

// TestIssuePermit numbers permits per district and year in a real SQLite
// database, and dates them from the day of approval (China time) for the
// configured twelve months.
func TestIssuePermit(t *testing.T) {
	ctx := context.Background()
	db := testkit.OpenSQLite(t)
	r := newRig(t, fixedNow)
	issue := r.svc.Hooks().Actions["issue_permit"]
	if issue == nil {
		t.Fatal("no issue_permit action")
	}
	for _, tc := range []struct {
		name                string
		division, district  string
		now                 time.Time
		permit, from, until string
	}{
		{"first of 海陵区 in 2026", "321202001", "321202", time.Date(2026, 11, 30, 10, 0, 0, 0, cst), "JZ3212022026000001", "2026-11-30", "2027-11-29"},
		{"second of 海陵区, another street", "321202002", "321202", time.Date(2026, 11, 30, 11, 0, 0, 0, cst), "JZ3212022026000002", "2026-11-30", "2027-11-29"},
		{"first of 高港区: its own sequence", "321203001", "321203", time.Date(2026, 12, 1, 9, 0, 0, 0, cst), "JZ3212032026000001", "2026-12-01", "2027-11-30"},
		{"the evening of 31 December in UTC is already 2027 in China", "321202001", "321202", time.Date(2026, 12, 31, 16, 30, 0, 0, time.UTC), "JZ3212022027000001", "2027-01-01", "2027-12-31"},
		{"approved on a leap day", "321202001", "321202", time.Date(2028, 2, 29, 10, 0, 0, 0, cst), "JZ3212022028000001", "2028-02-29", "2029-02-28"},
		{"approved on 31 January", "321202001", "321202", time.Date(2028, 1, 31, 10, 0, 0, 0, cst), "JZ3212022028000002", "2028-01-31", "2029-01-30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &portal.Case{No: "TZRP20261130000001", Division: tc.division, District: tc.district, Form: formJSON(t, "division", tc.division)}
			err := db.Tx(ctx, func(tx portal.Tx) error {
				return issue(ctx, &workflow.Firing{Def: r.def, Case: c, Event: "approve", Tx: tx, Now: tc.now, Cal: r.cal})
			})
			if err != nil {
				t.Fatal(err)
			}
			var got residence.Result
			if err := json.Unmarshal(c.Result, &got); err != nil {
				t.Fatalf("result %s: %v", c.Result, err)
			}
			want := residence.Result{PermitNo: tc.permit, ValidFrom: tc.from, ValidUntil: tc.until, IssuedBy: tc.division}
			if got != want {
				t.Errorf("permit %+v, want %+v", got, want)
			}
		})
	}
	// The counters are in the database: one row per district and year.
	var n int
	if err := db.SQL().QueryRow("SELECT count(*) FROM counters WHERE name LIKE 'permit:%'").Scan(&n); err != nil || n != 4 {
		t.Errorf("permit counters: %d (%v), want 4", n, err)
	}
}

// TestDecodeErrorsNameTheField: a form of the wrong shape is refused with the
// field named, so the page can show the message beside it.
func TestDecodeErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name, raw   string
		field, rule string
	}{
		{"number for a string", `{"address": 5}`, "address", "type"},
		{"array for a string", `{"division": ["321202001"]}`, "division", "type"},
		{"object for a string", `{"resided_since": {"year": 2025}}`, "resided_since", "type"},
		{"bool for a string", `{"phone": true}`, "phone", "type"},
		{"huge number", `{"basis_detail": 1e400}`, "basis_detail", "type"},
		{"wrong type after good fields", `{"division": "321202001", "basis": 1}`, "basis", "type"},
		{"unknown field", `{"state": "approved"}`, "state", "unknown_field"},
		{"unknown field after good ones", `{"division": "321202001", "applicant_id": 7}`, "applicant_id", "unknown_field"},
		{"unknown field with a quote in its name", `{"a\"b": 1}`, `a"b`, "unknown_field"},
		{"unknown field with an escaped name", `{"\u0073tate": "approved", "x\\y": 1}`, "state", "unknown_field"},
		{"not an object", `["321202001"]`, "form", "json"},
		{"a string", `"321202001"`, "form", "json"},
		{"syntax error", `{"address": "x",}`, "form", "json"},
		{"two objects", `{"address": "x"} {"address": "y"}`, "form", "json"},
		{"truncated", `{"address": `, "form", "json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := residence.Decode(json.RawMessage(tc.raw))
			if f != nil || !hasField(err, tc.field, tc.rule) {
				t.Errorf("Decode(%s) = %v, %#v; want EINVALID naming %q (%s)", tc.raw, f, err, tc.field, tc.rule)
			}
		})
	}
	// What decodes is trimmed, and nothing else is changed.
	f, err := residence.Decode(json.RawMessage(`{"division": " 321202001 ", "address": "\t海陵区 东进东路18号\n", "phone": "139 1234 5678"}`))
	want := &residence.Form{Division: "321202001", Address: "海陵区 东进东路18号", Phone: "139 1234 5678"}
	if err != nil || !reflect.DeepEqual(f, want) {
		t.Errorf("Decode: %+v, %v; want %+v", f, err, want)
	}
	for _, empty := range []string{"", "  ", "{}", "null"} {
		if f, err := residence.Decode(json.RawMessage(empty)); err != nil || *f != (residence.Form{}) {
			t.Errorf("Decode(%q) = %+v, %v; want an empty form (validation refuses it later)", empty, f, err)
		}
	}
}

// TestFormNormalizes: the service stores the normalized form and names the
// division the case belongs to; an invalid form names every wrong field.
func TestFormNormalizes(t *testing.T) {
	r := newRig(t, fixedNow)
	out, div, err := r.svc.Form(context.Background(), workflow.FormInput{Raw: formJSON(t, "phone", "+86 139-1234-5678", "address", "  海陵区东进东路18号  ")})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	json.Unmarshal(out, &got)
	want := testkit.ResidenceForm("phone", "13912345678", "address", "海陵区东进东路18号")
	if div != "321202001" || !reflect.DeepEqual(got, want) {
		t.Errorf("Form: %s, division %s; want %v", out, div, want)
	}
	_, _, err = r.svc.Form(context.Background(), workflow.FormInput{Raw: formJSON(t, "division", "321202", "resided_since", "2026-12-01", "basis", "lottery", "phone", "12345")})
	for _, f := range []struct{ field, rule string }{{"division", "division"}, {"resided_since", "notfuture"}, {"basis", "oneof"}, {"phone", "mobile"}} {
		if !hasField(err, f.field, f.rule) {
			t.Errorf("Form with a bad %s: %v, want it named with rule %s", f.field, err, f.rule)
		}
	}
}

// FuzzDecodeForm: any bytes as a form never panic, errors are always
// EINVALID (never internal), and a form the service accepts is a fixed
// point: its normalized JSON decodes to the same form and normalizes to the
// same bytes.
func FuzzDecodeForm(f *testing.F) {
	for _, seed := range []string{
		`{"division":"321202001","address":"海陵区东进东路18号3幢201室","resided_since":"2025-01-01","basis":"employment","basis_detail":"泰州市某机械有限公司","phone":"13912345678"}`,
		`{"division":"321202001","address":"  x  ","resided_since":"2025-02-29","basis":"study","basis_detail":"ab","phone":"+86 139 1234 5678"}`,
		`{}`, `null`, `[]`, `""`, `{"state":"approved"}`, `{"address":1}`, `{"a\"b":1}`,
	} {
		f.Add([]byte(seed))
	}
	r := newRig(f, fixedNow)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw []byte) {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("panic on %q: %v\n%s", raw, p, debug.Stack())
			}
		}()
		form, err := residence.Decode(raw)
		if err != nil {
			if portal.ErrorCode(err) != portal.EINVALID || form != nil {
				t.Fatalf("Decode(%q): %v (%T), form %v", raw, err, err, form)
			}
		}
		out, div, err := r.svc.Form(ctx, workflow.FormInput{Raw: raw})
		if err != nil {
			if portal.ErrorCode(err) != portal.EINVALID {
				t.Fatalf("Form(%q): %v, want EINVALID", raw, err)
			}
			return
		}
		if form == nil {
			t.Fatalf("Form accepted %q that Decode refused", raw)
		}
		again, err := residence.Decode(out)
		if err != nil {
			t.Fatalf("the normalized form %s does not decode: %v", out, err)
		}
		want := *form
		want.Phone, _ = validate.Mobile(form.Phone)
		if *again != want || div != again.Division {
			t.Fatalf("Form(%q) = %s (division %s), which decodes to %+v, want %+v", raw, out, div, *again, want)
		}
		out2, div2, err := r.svc.Form(ctx, workflow.FormInput{Raw: out})
		if err != nil || string(out2) != string(out) || div2 != div {
			t.Fatalf("normalizing twice: %s, %v; first %s", out2, err, out)
		}
	})
}
