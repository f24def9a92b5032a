package browsertest

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tzportal/portal"
	"tzportal/portal/matching"
	"tzportal/portal/pii"
	"tzportal/portal/schooling"
	"tzportal/portal/testkit"
)

// TestSchoolJourneys walks the school enrollment of a migrant child
// (随迁子女入学) in a real browser, once with JavaScript (on PostgreSQL and
// Redis) and once without (on SQLite): while 海陵区's window is open a
// parent on a phone reads the dates on the guide, fills the four pages in
// (a mistyped child's ID number shown beside its field, as typed), picks
// two schools, checks the answers (the schools by name), uploads the
// materials and submits; the district officer verifies (the score and its
// parts); once the window has closed the officer publishes the list with
// the seed's commitment on the office page, and after the appeal days
// allocates with the seed (a wrong one refused first). Another family with
// more points, applying through the API, takes the parent's first choice:
// the parent sees the second school with the reason, and finds their case
// number, without any child's name, on the public list. With JavaScript
// on, every page looked at is audited with axe-core and the design checks
// (reflow, tap targets, the focus walk), and the pages with tables are
// read at phone width, where each cell must name its column.
func TestSchoolJourneys(t *testing.T) { withAndWithoutJS(t, schoolJourney) }

var schoolNoRE = regexp.MustCompile(`TZSE\d{14}`)

// browserSchoolsCSV are 海陵区's primary schools for 2027, one grade-1 seat
// each: 城东小学 and 城东第二小学 serve 城东街道 (offered first to a family
// living there), 凤凰小学 城南.
const browserSchoolsCSV = `code,name,district,catchment,year,grade,seats,public
HL-CD-01,城东小学,321202,321202001,2027,1,1,yes
HL-CD-02,城东第二小学,321202,321202001;321202002,2027,1,1,yes
HL-FX-01,凤凰小学,321202,321202003,2027,1,1,yes
`

func schoolJourney(t *testing.T, js bool) {
	p := testkit.Start(t, testkit.Backend{Postgres: js, Redis: js}, nil)
	p.MustStaff(t, "officer", "district_officer", "321202")
	a := testkit.Applicants[1]
	p.MustApplicant(t, a)

	// The district's schools and its window, 10 to 31 December 2026 (the
	// clock starts on 30 November), as the admin sets them.
	rows, err := schooling.ParseSchools(strings.NewReader(browserSchoolsCSV), p.Authz.Divisions())
	if err != nil {
		t.Fatal(err)
	}
	admin := portal.Actor{System: "cli:test"}
	ctx := context.Background()
	if err := schooling.ImportSchools(ctx, p.Engine, admin, rows); err != nil {
		t.Fatal(err)
	}
	if err := schooling.SetWindow(ctx, p.Engine, admin, portal.EnrollmentWindow{District: "321202", Year: 2027,
		Opens: "2026-12-10", Closes: "2026-12-31"}); err != nil {
		t.Fatal(err)
	}
	p.Clock.Advance(12 * 24 * time.Hour) // 2026-12-12: the window is open

	// Another family of 城东 applies through the API with more points (48
	// months of insurance, the family moved together: 30), for the same
	// first choice.
	_, other := p.NewApplicant(t, "赵六")
	otherChild := testkit.IDNumber("32120220210601051")
	r := other.Do("POST", "/api/v1/cases", map[string]any{"service": "school-enrollment", "form": map[string]any{
		"year": 2027, "child_name": "赵小丙", "child_id_number": otherChild, "grade": "1",
		"guardian_basis": "insurance", "insurance_months": 48, "residence_permit_no": "JZ3212022025000078",
		"housing": "rented", "division": "321202001", "address": "海陵区东进东路20号", "family_migrated": true,
		"preferences": []string{"HL-CD-01", "HL-CD-02"}}})
	if r.Status != http.StatusCreated {
		t.Fatalf("the other family's application: %d %s", r.Status, r.Body)
	}
	otherNo := r.JSON(t)["case_no"].(string)
	other.AttachAll(otherNo)
	if r := other.Do("POST", "/api/v1/cases/"+otherNo+"/events/submit", nil); r.Status != http.StatusOK {
		t.Fatalf("the other family's submit: %d %s", r.Status, r.Body)
	}

	b := newBrowser(t, js)
	t.Logf("screenshots: %s", b.shots)
	child := testkit.IDNumber("32120220210315051") // born 2021-03-15: six on 31 August 2027
	badChild := testkit.BadIDNumber(child)
	const childName = "王小甲"

	// The parent, on a phone, logs in and reads the guide: when to apply.
	app := b.person("school-parent", phone)
	app.visit(p.URL + "/login")
	app.typeInto("#field-login", a.Mobile)
	app.typeInto("#field-password", testkit.Password)
	app.submit("log in", `main form button[type=submit]`)
	app.sees("main h1", "我的办件")
	app.visit(p.URL + "/")
	app.sees("main", "随迁子女入学")
	app.submit("open the guide", `main a[href="/services/school-enrollment"]`)
	app.sees("main h1", "随迁子女入学")
	app.sees("main", "各区报名时间", "海陵区", "2027年入学", "2026-12-10", "2026-12-31")
	app.inspect("guide")
	app.submit("start the application", `main a.button[href="/cases/new?service=school-enrollment"]`)

	// Page 1: the home.
	app.sees(".step", "第1步，共5步", "您家住在哪里")
	app.sees("main h1", "随迁子女入学")
	app.inspect("home")
	app.do("choose the street", setSelect("#field-division", "321202001"))
	app.typeInto("#field-address", "海陵区东进东路18号3幢201室")
	app.do("rented, the family moved", clickAll("#housing-rented", "#family_migrated-true")...)
	app.submit("save the home", `main form button[type=submit]`)
	no := schoolNoRE.FindString(app.location())
	if no == "" {
		t.Fatalf("no case number in %s", app.location())
	}
	caseURL := p.URL + "/cases/" + no

	// Page 2: the child, with a mistyped ID number first.
	app.sees(".step", "第2步，共5步", "孩子的信息")
	app.inspect("child")
	app.typeInto("#field-year", "2027")
	app.do("grade 1", chromedp.Click(chromedp.CSS("#grade-1")))
	app.typeInto("#field-child_name", childName)
	app.typeInto("#field-child_id_number", badChild)
	app.submit("save the child with a typo", `main form button[type=submit]`)
	app.sees("#error-child_id_number", "孩子的公民身份号码", "不正确")
	app.sees(".error-summary", "孩子的公民身份号码")
	if got := app.attr(`.error-summary a[href="#field-child_id_number"]`, "href"); got != "#field-child_id_number" {
		t.Errorf("the error summary does not link to the field: %q", got)
	}
	if got := app.value("#field-child_id_number"); got != badChild {
		t.Errorf("the ID number typed was not kept: %q, want %q", got, badChild)
	}
	if got := app.value("#field-child_name"); got != childName {
		t.Errorf("the name typed was not kept: %q", got)
	}
	if got := app.value("#field-year"); got != "2027" {
		t.Errorf("the year typed was not kept: %q", got)
	}
	if !app.checked("#grade-1") {
		t.Error("the grade chosen was not kept")
	}
	if got := app.attr("#field-child_id_number", "aria-describedby"); !strings.Contains(got, "error-child_id_number") {
		t.Errorf("the error is not tied to the field: aria-describedby=%q", got)
	}
	app.inspect("child-error")
	app.typeInto("#field-child_id_number", child)
	app.submit("save the child", `main form button[type=submit]`)

	// Page 3: the guardian; the months show under the insurance.
	app.sees(".step", "第3步，共5步", "家长的情况")
	app.inspect("guardian")
	app.do("insured in Taizhou", chromedp.Click(chromedp.CSS("#guardian_basis-insurance")))
	if !app.shown("#field-insurance_months") {
		t.Error("the months of insurance do not show once insurance is chosen")
	}
	if app.shown("#field-licence_no") {
		t.Error("the licence number shows when insurance is chosen")
	}
	app.typeInto("#field-insurance_months", "24")
	app.typeInto("#field-residence_permit_no", "JZ3212022025000077")
	app.submit("save the guardian", `main form button[type=submit]`)

	// Page 4: the schools, in order; the catchment's first.
	app.sees(".step", "第4步，共5步", "想上的学校")
	app.sees("#field-preferences", "第1志愿", "第2志愿", "第3志愿")
	if got := read(app, "the first group of schools", chromedp.Evaluate[string](
		`document.querySelector('#field-preferences-0 optgroup').label + ': ' + document.querySelector('#field-preferences-0 optgroup').textContent`)); got != "施教区包括您家住址的学校: 城东小学（HL-CD-01）城东第二小学（HL-CD-02）" {
		t.Errorf("the catchment's schools are not offered first, by name: %q", got)
	}
	app.inspect("schools")
	app.do("first choice", setSelect("#field-preferences-0", "HL-CD-01"))
	app.do("second choice", setSelect("#field-preferences-1", "HL-CD-02"))
	app.submit("save the schools", `main form button[type=submit]`)

	// Check the answers: the schools by name, in order.
	app.sees("main", "核对您的申请信息", "海陵区 城东街道", "海陵区东进东路18号3幢201室", "租房或借住",
		childName, child, "一年级（上小学）", "在泰州缴纳社会保险", "24", "JZ3212022025000077",
		"1. 城东小学（HL-CD-01）", "2. 城东第二小学（HL-CD-02）")
	app.inspect("check-answers")

	// The materials, each photographed on the phone; then submit.
	app.submit("open the materials", `main a[href$="/materials"]`)
	app.sees("main h1", "申请材料")
	items := []string{"guardian_id_card", "household_booklet", "residence_permit", "insurance_record", "housing_proof", "birth_proof"}
	for _, item := range items {
		app.do("choose a photo of "+item, chromedp.SetUploadFiles(chromedp.CSS("#file-"+item), []string{photo(t)}))
		app.submit("upload "+item, `#item-`+item+` form.upload-form button[type=submit]`)
		app.sees("#item-"+item+" .tag", "已上传")
	}
	app.sees("#item-business_licence .tag", "不需要") // insured: no licence
	app.inspect("materials")
	app.submit("back to the case", `main a.button[href^="/cases/"]`)
	app.submit("submit", `form[action$="/events/submit"] button[type=submit]`)
	app.sees(".panel-done", "申请已提交", no)
	app.sees(".tag", "已提交")
	app.inspect("submitted")

	// The district officer, on a desktop: the child's ID number masked;
	// verifies, and the score shows its parts.
	officer := b.person("school-officer", desktop)
	officer.login(p, "officer")
	officer.sees("table.cases", no, otherNo, "已提交")
	officer.inspect("worklist")
	officer.phoneTables("worklist")
	officer.submit("open the case", `table.cases a[href="/cases/`+no+`"]`)
	officer.sees("main", childName, pii.MaskID(child), "审核通过")
	if got := officer.text("main"); strings.Contains(got, child) {
		t.Errorf("the officer sees the child's full ID number before asking:\n%s", got)
	}
	officer.inspect("case-submitted")
	officer.submit("verify", `form[action$="/events/verify"] button[type=submit]`)
	officer.sees(".tag", "审核通过")
	officer.sees(".score-total", "20分")
	officer.sees("table.score-parts", "在泰州缴纳社会保险", "24个月", "持有泰州居住证", "施教区内自有住房", "全家一起迁来")
	officer.inspect("case-verified")
	officer.phoneTables("case-verified")
	officer.visit(p.URL + "/cases/" + otherNo)
	officer.submit("verify the other child", `form[action$="/events/verify"] button[type=submit]`)
	officer.sees(".score-total", "30分")

	// The window has closed: the officer publishes the list with the
	// commitment of the seed kept back for the allocation.
	seed := strings.Repeat("5eed", 10)
	commitment := matching.Commitment(seed)
	p.Clock.Advance(20 * 24 * time.Hour) // 2027-01-01
	officer.login(p, "officer")
	officer.visit(p.URL + "/schooling/office")
	officer.sees("main h1", "随迁子女入学：公示与派位")
	officer.sees("main", "2026-12-10至2026-12-31报名", "先公示名单")
	officer.sees("table.audit", "审核通过")
	if got := officer.value("#field-year"); got != "2027" {
		t.Errorf("the office page does not start on the window's year: %q", got)
	}
	officer.inspect("office")
	officer.phoneTables("office")
	officer.typeInto("#field-commitment", commitment)
	officer.submit("publish", `form[action="/schooling/office/publish"] button[type=submit]`)
	officer.sees("main", "已公示2人（共2人）", "查看公示名单", commitment)
	officer.inspect("office-published")

	// After the appeal days: a seed that does not match is refused, the
	// right one allocates.
	p.Clock.Advance(10 * 24 * time.Hour) // 2027-01-11
	officer.login(p, "officer")
	officer.visit(p.URL + "/schooling/office")
	officer.typeInto("#field-seed", strings.Repeat("ab", 20))
	officer.submit("allocate with the wrong seed", `form[action="/schooling/office/allocate"] button[type=submit]`)
	officer.sees(".error-summary", "承诺值", commitment)
	officer.inspect("office-wrong-seed")
	officer.typeInto("#field-seed", seed)
	officer.submit("allocate", `form[action="/schooling/office/allocate"] button[type=submit]`)
	officer.sees("main dl.summary", "孩子人数", "2", "已派位", "进第一志愿", "1")
	officer.sees("table.audit", "已派位")
	officer.inspect("office-allocated")
	officer.phoneTables("office-allocated")

	// The parent sees the school and why not the first choice; the public
	// list has the case number and no child's name.
	app.visit(p.URL + "/login")
	app.typeInto("#field-login", a.Mobile)
	app.typeInto("#field-password", testkit.Password)
	app.submit("log in again", `main form button[type=submit]`)
	app.visit(caseURL)
	app.sees(".tag", "已派位")
	app.sees("dd.school", "城东第二小学", "HL-CD-02")
	app.sees("main", "派位结果", "为什么没有进排在前面的志愿学校", "第1志愿", "城东小学", "30分", "20分")
	app.inspect("assigned")
	app.phoneTables("assigned")
	app.submit("open the public list", `main a[href^="/schooling/lists/"]`)
	app.sees("main h1", "随迁子女入学公示名单")
	app.sees("main", no, otherNo, seed, commitment, "城东小学", "城东第二小学")
	if got := app.text("main"); strings.Contains(got, childName) || strings.Contains(got, "赵小丙") || strings.Contains(got, child) {
		t.Errorf("the public list shows a child's name or ID number:\n%s", got)
	}
	app.inspect("public-list")
	app.phoneTables("public-list")
}

// phoneTables checks, with JavaScript on, that each table of the page can
// be read on a phone: there the stylesheet turns rows into cards and moves
// the column headings off the screen, so each cell must carry its heading
// in data-label (as the worklist and the audit view do), or its value is
// shown without saying what it is.
func (pr *person) phoneTables(step string) {
	pr.t.Helper()
	if !pr.b.js {
		return
	}
	const check = `(() => {
		const out = [];
		for (const table of document.querySelectorAll('main table')) {
			const head = table.tHead;
			if (!head || head.getBoundingClientRect().right > 0) continue; // the headings are on the screen
			const bare = [...table.querySelectorAll('tbody td')].filter(td => !(td.dataset.label || '').trim());
			if (bare.length > 0)
				out.push('on a phone, table.' + table.className + ' shows ' + bare.length + ' cells without their column heading (no data-label), e.g. ' + bare[0].outerHTML.slice(0, 80));
		}
		return JSON.stringify(out);
	})()`
	pr.do("phone width", chromedp.EmulateViewport(phone[0], phone[1]))
	out := read(pr, "table headings", chromedp.Evaluate[string](check))
	pr.do("restore the screen", chromedp.EmulateViewport(pr.screen[0], pr.screen[1]))
	var problems []string
	if err := json.Unmarshal([]byte(out), &problems); err != nil {
		pr.t.Fatal(err)
	}
	for _, problem := range problems {
		pr.t.Errorf("%s: %s: %s", pr.name, step, problem)
	}
}
