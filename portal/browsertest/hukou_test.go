package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tzportal/portal/pii"
	"tzportal/portal/testkit"
)

// TestHukouJourneys walks the household-registration transfer (户口迁移)
// in a real browser, once with JavaScript (on PostgreSQL and Redis) and
// once without (on SQLite and in-process sessions): an applicant
// on a phone fills the pages in (where to, the family as a task list with a
// mistake shown beside its field, a change of mind removed, the basis with
// its follow-up fields, the origin, no Yangtze-Delta time), checks the
// answers and submits; the street clerk accepts, the district officer
// approves and records a paper move-out certificate; the applicant sees the
// family settled. With JavaScript on, every page looked at is audited with
// axe-core and the design checks (reflow, tap targets, focus).
func TestHukouJourneys(t *testing.T) { withAndWithoutJS(t, hukouJourney) }

var hukouNoRE = regexp.MustCompile(`TZHK\d{14}`)

func hukouJourney(t *testing.T, js bool) {
	// Both databases at no extra cost: with JavaScript on PostgreSQL and
	// Redis, without it on the embedded defaults.
	p := testkit.Start(t, testkit.Backend{Postgres: js, Redis: js}, nil)
	p.MustStaff(t, "clerk1", "street_clerk", "321202001")
	p.MustStaff(t, "officer", "district_officer", "321202")
	a := testkit.Applicants[0]
	p.MustApplicant(t, a)
	b := newBrowser(t, js)
	t.Logf("screenshots: %s", b.shots)

	child := testkit.IDNumber("32032120150610003")
	badChild := testkit.BadIDNumber(child)
	spouse := testkit.IDNumber("32032119900215004")
	const childName, spouseName = "张小明", "李梅"

	// The applicant, on a phone, logs in and starts from the home page.
	app := b.person("hukou-applicant", phone)
	app.visit(p.URL + "/login")
	app.sees("main h1", "登录")
	app.inspect("login")
	app.typeInto("#field-login", a.Mobile)
	app.typeInto("#field-password", testkit.Password)
	app.submit("log in", `main form button[type=submit]`)
	app.sees("main h1", "我的办件")
	app.visit(p.URL + "/")
	app.sees("main", "户口迁移（落户）")
	app.inspect("home")
	app.submit("start the transfer", `main a.button[href="/cases/new?service=hukou-transfer"]`)

	// Page 1: where to.
	app.sees(".step", "第1步，共6步", "迁到哪里")
	app.sees("main h1", "户口迁移（落户）")
	app.inspect("where")
	app.do("choose the street", setSelect("#field-division", "321202001"))
	app.typeInto("#field-address", "海陵区东进东路18号3幢201室")
	app.submit("save where", `main form button[type=submit]`)
	caseURL := app.location()
	no := hukouNoRE.FindString(caseURL)
	if no == "" {
		t.Fatalf("no case number in %s", caseURL)
	}
	caseURL = p.URL + "/cases/" + no

	// Page 2: the family, a task list. Nobody yet.
	app.sees(".step", "第2步，共6步", "谁一起迁")
	app.sees("main .empty", "只迁您本人")
	app.inspect("family-empty")
	app.submit("add a member", `main a.button[href*="item=new"]`)
	app.inspect("family-add")
	app.do("a child", chromedp.Click(chromedp.CSS("#relation-child")))
	app.typeInto("#field-name", childName)
	app.typeInto("#field-id_number", badChild)
	app.submit("add the child with a typo", `main form button[type=submit]`)
	app.sees("#error-id_number", "公民身份号码不正确")
	app.sees(".error-summary", "公民身份号码不正确")
	if got := app.attr(`.error-summary a[href="#field-id_number"]`, "href"); got != "#field-id_number" {
		t.Errorf("the error summary does not link to the field: %q", got)
	}
	if got := app.value("#field-id_number"); got != badChild {
		t.Errorf("the ID number typed was not kept: %q, want %q", got, badChild)
	}
	if got := app.value("#field-name"); got != childName {
		t.Errorf("the name typed was not kept: %q", got)
	}
	if got := app.attr("#field-id_number", "aria-describedby"); !strings.Contains(got, "error-id_number") {
		t.Errorf("the error is not tied to the field: aria-describedby=%q", got)
	}
	if !app.checked("#relation-child") {
		t.Error("the relation chosen was not kept")
	}
	app.inspect("family-error")
	app.typeInto("#field-id_number", child)
	app.submit("add the child", `main form button[type=submit]`)
	app.sees("main .entries", "家庭成员 1", childName, "子女", child)

	// A spouse, added, then removed: the remove button is behind a question.
	app.submit("add another member", `main a.button[href*="item=new"]`)
	app.do("a spouse", chromedp.Click(chromedp.CSS("#relation-spouse")))
	app.typeInto("#field-name", spouseName)
	app.typeInto("#field-id_number", spouse)
	app.submit("add the spouse", `main form button[type=submit]`)
	app.sees("main .entries", "家庭成员 1", childName, "家庭成员 2", spouseName, "配偶")
	app.inspect("family-two")
	const second = `main .entries > li:nth-child(2)`
	if app.shown(second + ` details.confirm button[type=submit]`) {
		t.Error("the confirm button of a removal shows before the person asks to remove")
	}
	app.do("ask to remove the spouse", chromedp.Click(chromedp.CSS(second+` details.confirm > summary`)))
	if !app.shown(second + ` details.confirm button[type=submit]`) {
		t.Fatal("opening the removal does not show its confirm button")
	}
	app.inspect("family-remove-confirm")
	app.submit("remove the spouse", second+` details.confirm button[type=submit]`)
	app.sees("main .entries", childName)
	if got := app.text("main"); strings.Contains(got, spouseName) {
		t.Errorf("the spouse is still listed after the removal:\n%s", got)
	}
	app.inspect("family-one")
	app.submit("continue", `main a.button[href*="step=basis"]`)

	// Page 3: the basis; the chosen basis's follow-up fields show under it.
	app.sees(".step", "第3步，共6步", "落户依据")
	if app.shown("#field-employer") {
		t.Error("the employer field shows before employment is chosen")
	}
	app.inspect("basis")
	app.do("choose employment", chromedp.Click(chromedp.CSS("#basis-employment")))
	for _, f := range []string{"#field-employer", "#field-contract_start", "#field-insurance_months"} {
		if !app.shown(f) {
			t.Errorf("%s does not show once employment is chosen", f)
		}
	}
	for _, f := range []string{"#field-property_cert_no", "#field-lease_no"} {
		if app.shown(f) {
			t.Errorf("%s of another basis shows", f)
		}
	}
	app.typeInto("#field-employer", "泰州市某机械有限公司")
	app.do("contract start", setDate("#field-contract_start", "2024-03-01"))
	app.typeInto("#field-insurance_months", "12")
	app.inspect("basis-employment")
	app.submit("save the basis", `main form button[type=submit]`)

	// Page 4: where from.
	app.sees(".step", "第4步，共6步", "从哪里迁出")
	app.inspect("origin")
	app.typeInto("#field-origin_county", "320321")
	app.typeInto("#field-origin_address", "江苏省徐州市丰县凤城街道中阳里128号")
	app.typeInto("#field-origin_booklet_no", "320321004512")
	app.submit("save the origin", `main form button[type=submit]`)

	// Page 5: no time in other Yangtze-Delta cities.
	app.sees(".step", "第5步，共6步")
	app.sees("main .empty", "没有填写在长三角其他城市居住的时间")
	app.inspect("delta")
	app.submit("continue without a period", `main a.button[href="/cases/`+no+`"]`)

	// Check the answers, then submit.
	app.sees("main", "核对您的申请信息", "海陵区 城东街道", "海陵区东进东路18号3幢201室", childName, child,
		"在泰州稳定就业", "泰州市某机械有限公司", "2024-03-01", "江苏省徐州市丰县（320321）", "320321004512")
	if got := app.text("main"); strings.Contains(got, spouseName) {
		t.Errorf("the removed spouse is among the answers:\n%s", got)
	}
	app.inspect("check-answers")
	// The key documents now; the child's birth certificate may follow.
	app.submit("open the documents", `main a[href$="/materials"]`)
	app.sees("#item-kinship_proof", "可后补", "共需 1 份")
	for _, item := range []string{"id_card", "household_booklet", "employment_proof"} {
		app.do("choose a photo of "+item, chromedp.SetUploadFiles(chromedp.CSS("#file-"+item), []string{photo(t)}))
		app.submit("upload "+item, `#item-`+item+` form.upload-form button[type=submit]`)
	}
	app.inspect("documents")
	app.submit("back to the case", `main a.button[href^="/cases/"]`)
	app.submit("submit", `form[action$="/events/submit"] button[type=submit]`)
	app.sees(".panel-done", "申请已提交", no)
	app.sees(".now", "剩余", "个工作日")
	app.sees(".tag", "已提交")
	app.inspect("submitted")

	// The street clerk, on a desktop: the child's ID number masked; accepts.
	clerk := b.person("hukou-clerk", desktop)
	clerk.login(p, "clerk1")
	clerk.sees("main h1", "待办工作台")
	clerk.sees("table.cases", no, a.Name, "已提交")
	clerk.inspect("worklist")
	clerk.submit("open the case", `table.cases a[href="/cases/`+no+`"]`)
	clerk.sees("main", childName, pii.MaskID(child), "受理，转区级审核")
	if got := clerk.text("main"); strings.Contains(got, child) {
		t.Errorf("the clerk sees the child's full ID number before asking:\n%s", got)
	}
	clerk.inspect("case-submitted")
	// Accepted with a gap (容缺受理): the kinship proof is to follow.
	clerk.do("tick the missing proof", clickAll(`#accept_with_gaps-items-kinship_proof`)...)
	clerk.submit("accept with gaps", `form[action$="/events/accept_with_gaps"] button[type=submit]`)
	clerk.sees(".tag", "待补交材料")
	clerk.inspect("accepted-with-gaps")

	// The applicant sends the missing proof; the case goes to the district.
	app.visit(p.URL + "/cases/" + no + "/materials")
	app.do("choose the birth certificate", chromedp.SetUploadFiles(chromedp.CSS("#file-kinship_proof"), []string{photo(t)}))
	app.submit("upload the birth certificate", `#item-kinship_proof form.upload-form button[type=submit]`)
	app.submit("back to the case", `main a.button[href^="/cases/"]`)
	app.submit("send the supplement", `form[action$="/events/supplement"] button[type=submit]`)
	app.sees(".tag", "区级审核中")
	app.inspect("supplement-sent")

	// The district officer, on a desktop: approves, then records the paper
	// move-out certificate.
	officer := b.person("hukou-officer", desktop)
	officer.login(p, "officer")
	officer.sees("table.cases", no, "区级审核中")
	officer.inspect("worklist")
	officer.submit("open the case", `table.cases a[href="/cases/`+no+`"]`)
	officer.sees("main", "批准迁入", "不予办理")
	officer.inspect("case-review")
	officer.submit("approve", `form[action$="/events/approve"] button[type=submit]`)
	officer.sees(".tag", "等待迁出地确认")
	officer.sees(".permit-no", "ZQ321202")
	officer.inspect("approved")
	officer.typeInto("#record_move_out-reference", "丰公迁字2026第0451号")
	officer.do("move-out date", setDate("#record_move_out-confirmed_on", "2026-11-27"))
	officer.typeInto("#record_move_out-reason", "迁出地户籍系统维护，申请人递交了纸质迁出证明")
	officer.submit("record the paper certificate", `form[action$="/events/record_move_out"] button[type=submit]`)
	officer.sees(".tag", "已落户")
	officer.sees("main", "丰公迁字2026第0451号")
	officer.inspect("settled")

	// The applicant sees the family settled, on the case and in the account.
	app.visit(caseURL)
	app.sees(".tag", "已落户")
	app.sees("main", "已落户泰州", "ZQ321202", "丰公迁字2026第0451号")
	app.inspect("settled")
	app.visit(p.URL + "/account")
	app.sees("main", "已落户泰州", "ZQ321202", no)
	app.inspect("account")
}

// shown tells whether an element is rendered (not display:none, inside no
// closed <details>).
func (pr *person) shown(css string) bool {
	pr.t.Helper()
	return read(pr, "is "+css+" shown", chromedp.Evaluate[bool](`(() => { const el = document.querySelector(`+jsString(css)+`);
		return !!el && el.checkVisibility(); })()`))
}

// checked tells whether a radio button or check box is ticked.
func (pr *person) checked(css string) bool {
	pr.t.Helper()
	return read(pr, "is "+css+" checked", chromedp.JavascriptAttribute[bool](chromedp.CSS(css), "checked"))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

// inspect looks at a step (screenshots; with JavaScript on, the audit and
// the design checks) and, with JavaScript on, walks the keyboard focus
// through the whole page: design checks only the first Tab stop.
func (pr *person) inspect(step string) {
	pr.t.Helper()
	pr.look(step)
	if pr.b.js {
		for _, problem := range pr.focusProblems() {
			pr.t.Errorf("%s: %s: %s", pr.name, step, problem)
		}
	}
}

// focusProblems presses Tab through every stop of the page and reports a
// control whose focus cannot be seen (no outline, and neither its
// background nor its shadow changes when it has the focus: a transparent
// outline does not count) and a link standing alone in its paragraph that
// is lower than 44 pixels (a link inside a sentence is exempt).
func (pr *person) focusProblems() []string {
	pr.t.Helper()
	const start = `(() => {
		window.__focusPrev = null; window.__focusSeen = new WeakSet();
		const s = document.createElement('span'); s.tabIndex = -1; document.body.prepend(s); s.focus();
		return true; })()`
	const step = `(() => {
		const snap = el => { const s = getComputedStyle(el);
			const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 &&
				!/^rgba\(.*,\s*0\)$/.test(s.outlineColor) && s.outlineColor !== 'transparent';
			return {outline, bg: s.backgroundColor, shadow: s.boxShadow}; };
		const out = {problems: []};
		const prev = window.__focusPrev;
		if (prev) {
			const now = snap(prev.el);
			if (!prev.f.outline && prev.f.bg === now.bg && prev.f.shadow === now.shadow)
				out.problems.push('the keyboard focus on ' + prev.el.outerHTML.slice(0, 80) + ' is not visible');
		}
		const el = document.activeElement;
		if (!el || el === document.body || window.__focusSeen.has(el)) { out.done = true; window.__focusPrev = null; return JSON.stringify(out); }
		window.__focusSeen.add(el);
		window.__focusPrev = {el, f: snap(el)};
		const r = el.getBoundingClientRect();
		const alone = el.tagName === 'A' && el.parentElement && el.parentElement.textContent.trim() === el.textContent.trim();
		if (alone && r.width > 0 && r.height < 44)
			out.problems.push('tap target ' + el.outerHTML.slice(0, 80) + ' is ' + Math.round(r.height) + 'px high');
		return JSON.stringify(out);
	})()`
	ctx, cancel := context.WithTimeout(pr.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](start)); err != nil {
		pr.t.Fatalf("%s: focus walk: %v", pr.name, err)
	}
	var problems []string
	for range 200 {
		if err := chromedp.Do(ctx, chromedp.KeyEvent("\t")); err != nil {
			pr.t.Fatalf("%s: Tab: %v", pr.name, err)
		}
		out, err := chromedp.Run(ctx, chromedp.Evaluate[string](step))
		if err != nil {
			pr.t.Fatalf("%s: focus walk: %v", pr.name, err)
		}
		var r struct {
			Problems []string
			Done     bool
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			pr.t.Fatal(err)
		}
		problems = append(problems, r.Problems...)
		if r.Done {
			return problems
		}
	}
	return append(problems, "the focus walk did not end after 200 Tabs")
}

// TestFocusWalkFindsProblems proves the focus walk can fail: a button whose
// focus is a transparent outline, and a link alone on its line that is too
// low to tap; a button that turns yellow and a link inside a sentence pass.
func TestFocusWalkFindsProblems(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="zh-CN"><head><title>focus</title><style>
			button { min-height: 44px; outline: none; }
			#bad:focus-visible { outline: 3px solid transparent; }
			#good:focus-visible { background: #ffdd00; }
			a:focus-visible { outline: 3px solid #0b0c0c; }
			</style></head><body><main>
			<button id="bad">看不见</button><button id="good">看得见</button>
			<p><a href="#x" id="short">修改</a></p><p>还没有账户？<a href="#y" id="inline">注册</a></p>
			</main></body></html>`)
	}))
	defer srv.Close()
	b := newBrowser(t, true)
	p := b.person("walker", desktop)
	p.visit(srv.URL)
	got := strings.Join(p.focusProblems(), "\n")
	for _, want := range []string{`focus on <button id="bad">`, `tap target <a href="#x" id="short">`} {
		if !strings.Contains(got, want) {
			t.Errorf("the focus walk did not report %q; it reported:\n%s", want, got)
		}
	}
	for _, not := range []string{`id="good"`, `id="inline"`} {
		if strings.Contains(got, not) {
			t.Errorf("the focus walk reported %s, which is fine:\n%s", not, got)
		}
	}
}
