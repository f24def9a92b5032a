package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"tzportal/portal/testkit"
)

// TestJourneys walks the residence permit from registration to the issued
// permit and the supervisor's audit view, in a real browser, once with
// JavaScript and once without (the pages are plain HTML forms). With
// JavaScript on, every page visited is audited with axe-core.
func TestJourneys(t *testing.T) { withAndWithoutJS(t, journey) }

var caseNoRE = regexp.MustCompile(`TZRP\d{14}`)

func journey(t *testing.T, js bool) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	p.MustStaff(t, "clerk1", "street_clerk", "321202001")
	p.MustStaff(t, "sup", "supervisor", "321200")
	b := newBrowser(t, js)
	t.Logf("screenshots: %s", b.shots)
	a := testkit.Applicants[1]

	// The applicant, on a phone, registers: first with a wrong checksum.
	app := b.person("applicant", phone)
	app.visit(p.URL + "/")
	app.sees("main h1", "网上办事大厅")
	app.look("home")
	app.submit("open register", `.site-nav a[href="/register"]`)
	app.typeInto("#field-name", a.Name)
	badID := testkit.BadIDNumber(a.IDNumber)
	app.typeInto("#field-id_number", badID)
	app.typeInto("#field-mobile", a.Mobile)
	app.typeInto("#field-password", testkit.Password)
	app.typeInto("#field-password_confirm", testkit.Password)
	app.look("register-filled")
	app.submit("register", `main form button[type=submit]`)
	app.sees("#error-id_number", "公民身份号码不正确")
	app.sees(".error-summary", "公民身份号码不正确")
	if got := app.value("#field-id_number"); got != badID {
		t.Errorf("the ID number typed was not kept: %q", got)
	}
	if got := app.attr("#field-id_number", "aria-describedby"); !strings.Contains(got, "error-id_number") {
		t.Errorf("the error is not tied to the field: aria-describedby=%q", got)
	}
	app.look("register-error")
	app.typeInto("#field-id_number", a.IDNumber)
	app.typeInto("#field-password", testkit.Password)
	app.typeInto("#field-password_confirm", testkit.Password)
	app.submit("register again", `main form button[type=submit]`)
	app.sees(".notice", "注册成功")
	app.look("login")
	app.typeInto("#field-login", a.Mobile)
	app.typeInto("#field-password", testkit.Password)
	app.submit("log in", `main form button[type=submit]`)
	app.sees("main h1", "我的办件")
	app.look("my-cases-empty")

	// The form, on the phone.
	app.submit("start an application", `main a.button[href^="/cases/new"]`)
	app.sees(".step", "第1步，共2步")
	app.look("form")
	app.do("choose the street", setSelect("#field-division", "321202001"))
	app.typeInto("#field-address", "海陵区东进东路18号3幢201室")
	app.do("residence date", setDate("#field-resided_since", "2025-01-01"))
	app.do("choose the basis", chromedp.Click(chromedp.CSS("#basis-employment")))
	app.typeInto("#field-basis_detail", "泰州市某机械有限公司")
	app.typeInto("#field-phone", a.Mobile)
	app.submit("save", `main form button[type=submit]`)
	app.sees("main", "核对您的申请信息", "海陵区 城东街道", "有合法稳定就业")
	app.look("check-answers")
	// Handing in without the documents names each one and links to it.
	app.submit("submit without documents", `form[action$="/events/submit"] button[type=submit]`)
	app.sees(".error-summary", "居民身份证", "近期免冠照片")
	app.look("documents-missing")
	// The documents: a task list, one upload form per item (a phone opens
	// its camera on the file input); works without JavaScript.
	app.submit("open the documents", `main a[href$="/materials"]`)
	app.sees("main h1", "申请材料")
	app.look("documents")
	for _, item := range []string{"id_card", "photo", "address_proof", "basis_proof"} {
		app.do("choose a photo of "+item, chromedp.SetUploadFiles(chromedp.CSS("#file-"+item), []string{photo(t)}))
		app.submit("upload "+item, `#item-`+item+` form.upload-form button[type=submit]`)
		app.sees("#item-"+item+" .tag", "已上传")
	}
	app.look("documents-uploaded")
	app.submit("back to the case", `main a.button[href^="/cases/"]`)
	app.submit("submit", `form[action$="/events/submit"] button[type=submit]`)
	app.sees(".panel-done", "申请已提交")
	app.sees(".now", "剩余", "个工作日")
	app.sees(".timeline", "填写申请", "提交申请")
	caseURL := app.location()
	no := caseNoRE.FindString(caseURL)
	if no == "" {
		t.Fatalf("no case number in %s", caseURL)
	}
	app.look("submitted")

	// The clerk, on a desktop: password, one-time code, worklist, correction.
	clerk := b.person("clerk", desktop)
	clerk.login(p, "clerk1")
	clerk.sees("main h1", "待办工作台")
	clerk.sees("table.cases", no, a.Name, "已提交")
	clerk.look("worklist")
	clerk.submit("open the case", `table.cases a[href="/cases/`+no+`"]`)
	clerk.sees("main", "321283********0027", "受理")
	clerk.sees("main", "申请材料", "已上传")
	clerk.look("case-submitted")
	clerk.typeInto("#request_correction-reason", "请补正以下材料")
	clerk.do("tick two items", clickAll(`#request_correction-items-address_proof`, `#request_correction-items-photo`)...)
	clerk.submit("request correction", `form[action$="/events/request_correction"] button[type=submit]`)
	clerk.sees(".tag", "需补正")
	clerk.look("correction-requested")

	// The applicant sees the whole checklist at once, corrects and resubmits.
	app.visit(caseURL)
	app.sees(".panel-warn", "需要补正的内容", "居住证明（租赁合同、房产证明或住宿证明）", "近期免冠照片", "请补正以下材料")
	app.look("correction-checklist")
	app.submit("edit", `main a[href*="/edit?step="]`)
	app.typeInto("#field-address", "海陵区东进东路18号3幢201室（附租赁合同）")
	app.submit("save the correction", `main form button[type=submit]`)
	app.submit("resubmit", `form[action$="/events/submit"] button[type=submit]`)
	app.sees(".tag", "已提交")
	app.look("resubmitted")

	// The clerk accepts and approves.
	clerk.visit(p.URL + "/cases/" + no)
	clerk.submit("accept", `form[action$="/events/accept"] button[type=submit]`)
	clerk.sees(".tag", "审核中")
	clerk.submit("approve", `form[action$="/events/approve"] button[type=submit]`)
	clerk.sees(".tag", "已办结")
	clerk.look("approved")

	// The applicant sees the permit number, and was told of each step.
	app.visit(caseURL)
	app.sees(".permit-no", "JZ3212022026")
	app.look("permit")

	// The applicant sees who read the file, by office and role (never by
	// name), and rates the service (好差评): without a score first — the
	// error is by the field, the comment kept — then 非常不满意.
	app.sees("table.access-log", "街道（乡镇）窗口", "查看办件")
	app.typeInto("#rating-comment", "等了很久才受理")
	app.submit("rate without a score", `form.rating-form button[type=submit]`)
	app.sees("#rating-score-error", "请选择")
	if got := app.value("#rating-comment"); got != "等了很久才受理" {
		t.Errorf("the comment after a refused rating: %q", got)
	}
	app.look("rating-error")
	app.do("very dissatisfied", chromedp.Click(chromedp.CSS("#rating-score-1")))
	app.submit("rate", `form.rating-form button[type=submit]`)
	app.sees("#rating", "非常不满意")
	app.look("rated")
	app.visit(p.URL + "/inbox")
	app.sees("main", "居住证已签发", "需要补正")
	app.look("inbox")

	// The e-certificate: printable, with a QR code anyone can check.
	app.visit(p.URL + "/cases/" + no + "/certificate")
	app.sees(".certificate", "JZ3212022026", "有效")
	app.look("certificate")
	verifyURL := app.text(".verify-url")
	anyone := b.person("landlord", phone)
	anyone.visit(strings.Replace(verifyURL, p.Config.PublicURL, p.URL, 1))
	anyone.sees("main", "证照有效", "3212**********")
	anyone.look("verify")
	app.visit(caseURL)

	// The supervisor sees every step in the audit view.
	sup := b.person("supervisor", desktop)
	sup.login(p, "sup")
	sup.visit(p.URL + "/cases/" + no + "/audit")
	sup.sees("table.audit", "case.create", "case.submit", "case.request_correction", "case.edit", "case.accept", "case.approve")
	sup.look("audit")

	// The bad rating is the supervisor's to follow up: the call back.
	sup.visit(p.URL + "/oversight/ratings")
	sup.sees("main", "好评率", no, "待回访")
	sup.look("ratings")
	sup.typeInto("#note-"+no, "已电话回访申请人，说明受理时限")
	sup.submit("record the call back", `#fu-`+no+` form button[type=submit]`)
	sup.sees("main", "已登记回访", "整改中")
	sup.look("ratings-visited")

	// The language switch turns pages to English, and the choice persists.
	app.submit("switch to English", `.site-nav a[lang="en"]`)
	app.sees("main", "Your residence permit is issued")
	if got := app.attr("html", "lang"); got != "en" {
		t.Errorf("html lang after the switch: %q", got)
	}
	app.look("english-case")
	app.visit(p.URL + "/cases")
	app.sees("main h1", "My applications")
	app.visit(p.URL + "/")
	// Every service is online: housing security is offered like the
	// others (its name, a link to apply and to its guide), and none is
	// announced as coming soon.
	app.sees("main", "Residence permit", "Housing security", "Apply online")
	apply := `main .card a[href="/cases/new?service=housing-security"]`
	app.sees(apply, "Apply online", "Housing security")
	app.sees(`main .card a[href="/services/housing-security"]`, "Service guide")
	if home := app.text("main"); strings.Contains(home, "Coming soon") {
		t.Errorf("the English home page still announces a service as coming soon:\n%s", home)
	}
	app.look("english-home")
}

// login logs a staff member in through the two forms: password, then the
// one-time code from their app.
func (pr *person) login(p *testkit.Portal, login string) {
	pr.t.Helper()
	pr.visit(p.URL + "/login")
	pr.typeInto("#field-login", login)
	pr.typeInto("#field-password", testkit.Password)
	pr.submit("password", `main form button[type=submit]`)
	pr.sees("main h1", "输入动态验证码")
	pr.look("otp")
	pr.typeInto("#field-otp", p.OTP(pr.t, login))
	pr.submit("one-time code", `main form button[type=submit]`)
}

func (pr *person) location() string {
	pr.t.Helper()
	return read(pr, "location", chromedp.Location())
}

// TestAuditFindsViolations proves the audit can fail: a page with an
// unlabelled field, an image without text and unreadable contrast.
func TestAuditFindsViolations(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><head><title>bad</title></head><body><main>
			<h1>坏页面</h1><img src="/x.png"><form><input type="text"></form>
			<p style="color:#ddd;background:#fff">看不清的字</p><div style="width:900px">宽</div>
			<style>*:focus{outline:none}</style></main></body></html>`)
	}))
	defer srv.Close()
	b := newBrowser(t, true)
	p := b.person("auditor", desktop)
	p.visit(srv.URL)
	got := p.violations()
	for _, want := range []string{"image-alt", "label", "color-contrast"} {
		if !slices.ContainsFunc(got, func(v violation) bool { return v.ID == want }) {
			t.Errorf("the audit did not report %s; it reported %v", want, got)
		}
	}
	design := strings.Join(p.designProblems(), "\n")
	for _, want := range []string{"scrolls sideways", "tap target <input", "keyboard focus on <input"} {
		if !strings.Contains(design, want) {
			t.Errorf("the design check did not report %q; it reported:\n%s", want, design)
		}
	}
}
