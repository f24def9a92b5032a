package server_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"tzportal/portal/testkit"
)

func wantStatus(t *testing.T, r *testkit.Response, status int, what string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d, want %d\n%.3000s", what, r.Status, status, r.Body)
	}
}

func wantRedirect(t *testing.T, r *testkit.Response, prefix, what string) string {
	t.Helper()
	loc := r.Header.Get("Location")
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, prefix) {
		t.Fatalf("%s: %d to %q, want 303 to %s…\n%.3000s", what, r.Status, loc, prefix, r.Body)
	}
	return loc
}

func wantText(t *testing.T, r *testkit.Response, what string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if !strings.Contains(r.Text(), s) {
			t.Errorf("%s: the page does not show %q", what, s)
		}
	}
}

var caseNoRE = regexp.MustCompile(`/cases/(TZRP\d{14})`)

// TestHTMLJourney walks the residence permit through the HTML forms only,
// as a browser without JavaScript does.
func TestHTMLJourney(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	p.MustStaff(t, "clerk1", "street_clerk", "321202001")
	p.MustStaff(t, "sup", "supervisor", "321200")
	a := testkit.Applicants[1]
	web := p.NewClient(t)

	// Registration with a wrong checksum: the error is next to the field, in
	// Chinese, and what was typed is still there.
	badID := testkit.BadIDNumber(a.IDNumber)
	r := web.Submit("/register", "/register", "name", a.Name, "id_number", badID, "mobile", a.Mobile,
		"password", testkit.Password, "password_confirm", testkit.Password)
	wantStatus(t, r, 422, "register with a wrong checksum")
	wantText(t, r, "register error", `id="error-id_number"`, "公民身份号码不正确", `value="`+badID+`"`, `value="`+a.Name+`"`,
		`aria-describedby="hint-id_number error-id_number" aria-invalid="true"`, `href="#field-id_number"`)
	if strings.Contains(r.Text(), testkit.Password) {
		t.Error("the password is echoed back into the page")
	}
	r = web.Submit("/register", "/register", "name", a.Name, "id_number", a.IDNumber, "mobile", a.Mobile,
		"password", testkit.Password, "password_confirm", testkit.Password)
	wantRedirect(t, r, "/login?registered=1", "register")

	r = web.Submit("/login", "/login", "login", a.Mobile, "password", testkit.Password, "next", "//evil.example/")
	wantRedirect(t, r, "/cases", "login (an off-site next is ignored)")

	// The form, saved as a draft; a second post of the same form (double
	// click, resend) makes no second case.
	form := web.Get("/cases/new?service=residence-permit")
	wantStatus(t, form, 200, "new form")
	wantText(t, form, "new form", "第1步，共2步", `<optgroup label="海陵区">`, `value="321202001"`)
	idem := testkit.FormField(form.Text(), "_idem")
	if idem == "" {
		t.Fatal("the new form has no _idem field: a resent form would make a second case")
	}
	fields := []string{"_csrf", testkit.FormToken(t, form.Text()), "_idem", idem, "service", "residence-permit"}
	for k, v := range testkit.ResidenceForm("phone", "1391234") {
		fields = append(fields, k, v)
	}
	r = web.Post("/cases", fields...)
	wantStatus(t, r, 422, "form with a bad phone")
	wantText(t, r, "bad phone", `id="error-phone"`, "联系电话不正确", `value="1391234"`, `value="海陵区东进东路18号3幢201室"`)
	fields = fixField(fields, "phone", "13912345678")
	loc := wantRedirect(t, web.Post("/cases", fields...), "/cases/TZRP", "create")
	loc2 := wantRedirect(t, web.Post("/cases", fields...), "/cases/TZRP", "create again")
	if loc != loc2 {
		t.Errorf("a resent form made a second case: %s, %s", loc, loc2)
	}
	no := caseNoRE.FindStringSubmatch(loc)[1]
	web.AttachAll(no) // the checklist's materials, through the materials page's form token
	page := web.Get(loc)
	wantText(t, page, "draft", "核对您的申请信息", "海陵区 城东街道", "有合法稳定就业", "提交申请",
		// Discarding the draft is never the primary button and asks to confirm first.
		`<details class="confirm">`, "放弃这份草稿", "确认放弃")
	if strings.Contains(page.Text(), `class="button">放弃这份草稿`) || strings.Contains(page.Text(), "撤回申请") {
		t.Error("discard is drawn as the primary button, or a draft offers to withdraw")
	}
	r = web.Post("/cases/"+no+"/events/submit", "_csrf", testkit.FormToken(t, page.Text()), "version", "1")
	wantRedirect(t, r, "/cases/"+no+"?done=submit", "submit")
	page = web.Get("/cases/" + no + "?done=submit")
	wantText(t, page, "submitted", "申请已提交", no, "剩余 3 个工作日（截至 2026-12-02）", "已提交")

	// The clerk works the case from the worklist and asks for two items at once.
	clerk := p.NewClient(t)
	wantRedirect(t, clerk.LoginHTML("clerk1"), "/cases", "clerk login (password, then one-time code)")
	list := clerk.Get("/cases")
	wantText(t, list, "worklist", "待办工作台", no, a.Name, "已提交")
	cp := clerk.Get("/cases/" + no)
	wantText(t, cp, "clerk case page", "321283********0027", "受理", "退回申请人补正")
	if strings.Contains(cp.Text(), a.IDNumber) {
		t.Error("the clerk's page shows the full ID number before they ask")
	}
	tok := testkit.FormToken(t, cp.Text())
	r = clerk.Post("/cases/"+no+"/events/request_correction", "_csrf", tok, "version", "2", "reason", "请补正材料")
	wantStatus(t, r, 422, "correction without items")
	wantText(t, r, "correction without items", "请补正材料", "请填写需要补正的材料")
	r = clerk.Post("/cases/"+no+"/events/request_correction", "_csrf", tok, "version", "2", "reason", "请补正材料",
		"items", "address_proof", "items", "photo", "items_other", "房东身份证复印件\n")
	wantRedirect(t, r, "/cases/"+no, "request correction")

	// The applicant sees the whole checklist, corrects and resubmits.
	page = web.Get("/cases/" + no + "?done=submit")
	if strings.Contains(page.Text(), "申请已提交") {
		t.Error("an old ?done=submit link still says the application was just submitted")
	}
	wantText(t, page, "correction", "需要补正的内容（一次性告知）", "居住证明（租赁合同、房产证明或住宿证明）", "近期免冠照片", "房东身份证复印件", "剩余 31 天")
	edit := web.Get("/cases/" + no + "/edit")
	wantText(t, edit, "edit form", `value="海陵区东进东路18号3幢201室"`)
	ef := []string{"_csrf", testkit.FormToken(t, edit.Text()), "service", "residence-permit", "version", "3"}
	for k, v := range testkit.ResidenceForm("address", "海陵区东进东路18号3幢201室（附房东身份证）") {
		ef = append(ef, k, v)
	}
	wantRedirect(t, web.Post("/cases/"+no+"/edit", ef...), "/cases/"+no, "edit")
	page = web.Get("/cases/" + no)
	wantRedirect(t, web.Post("/cases/"+no+"/events/submit", "_csrf", testkit.FormToken(t, page.Text()), "version", "4"), "/cases/"+no, "resubmit")

	// A stale version (the clerk's old page) is a conflict, shown on the page.
	r = clerk.Post("/cases/"+no+"/events/accept", "_csrf", tok, "version", "2")
	wantStatus(t, r, 409, "accept with a stale version")
	wantText(t, r, "stale", "这个办件刚刚被其他人处理过")
	cp = clerk.Get("/cases/" + no)
	wantRedirect(t, clerk.Post("/cases/"+no+"/events/accept", "_csrf", tok, "version", "5"), "/cases/"+no, "accept")
	wantRedirect(t, clerk.Post("/cases/"+no+"/events/approve", "_csrf", tok, "version", "6"), "/cases/"+no, "approve")

	// Revealing the full ID number is possible for the clerk, and audited.
	r = clerk.Post("/cases/"+no+"/reveal", "_csrf", tok)
	wantStatus(t, r, 200, "reveal")
	wantText(t, r, "reveal", a.IDNumber)
	if got := p.Count(t, "SELECT count(*) FROM audit_log WHERE action = 'idnumber.reveal' AND object = $1 AND result = 'ok'", "case:"+no); got != 1 {
		t.Errorf("reveal audit entries: %d", got)
	}

	page = web.Get("/cases/" + no)
	wantText(t, page, "approved", "居住证已签发", "JZ3212022026000001", "2026-11-30 — 2027-11-29", "已办结")

	// The supervisor sees every step in the audit view.
	sup := p.NewClient(t)
	wantRedirect(t, sup.LoginHTML("sup"), "/cases", "supervisor login")
	au := sup.Get("/cases/" + no + "/audit")
	wantStatus(t, au, 200, "audit view")
	for _, action := range []string{"case.create", "case.submit", "case.request_correction", "case.edit", "case.accept", "case.approve", "idnumber.reveal"} {
		wantText(t, au, "audit view", ">"+action+"<")
	}
	if r := web.Get("/cases/" + no + "/audit"); r.Status != 404 {
		t.Errorf("the applicant opens the audit view: %d", r.Status)
	}

	// The language switch turns pages to English and the choice persists.
	wantRedirect(t, web.Get("/lang?to=en&next=/cases/"+no), "/cases/"+no, "switch to English")
	page = web.Get("/cases/" + no)
	wantText(t, page, "English case page", `<html lang="en">`, "Your residence permit is issued", "Approved")
	wantText(t, web.Get("/cases"), "English list", "My applications")
	// Every service is online: none is announced as coming soon.
	home := web.Get("/")
	wantText(t, home, "English home", "Residence permit", "Housing security")
	if strings.Contains(home.Text(), "Coming soon") {
		t.Error("English home: a service is still coming soon")
	}
	wantRedirect(t, web.Get("/lang?to=zh-CN&next=/"), "/", "back to Chinese")
	wantText(t, web.Get("/"), "Chinese home", `<html lang="zh-CN">`, "住房保障", `href="/cases/new?service=housing-security"`)
}

func fixField(kv []string, key, value string) []string {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == key {
			kv[i+1] = value
		}
	}
	return kv
}

func TestPagesNeedLoginAndNoOpenRedirect(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	c := p.NewClient(t)
	wantRedirect(t, c.Get("/cases"), "/login?next=%2Fcases", "anonymous worklist")
	if r := c.Do("GET", "/api/v1/cases", nil); r.Status != 401 {
		t.Errorf("anonymous API list: %d", r.Status)
	}
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"} {
		loc := c.Get("/lang?to=en&next=" + urlEscape(next)).Header.Get("Location")
		if loc != "/" {
			t.Errorf("next=%q redirects to %q", next, loc)
		}
	}
	for _, path := range []string{"/", "/services/residence-permit", "/services/hukou-transfer", "/services/school-enrollment", "/login", "/register"} {
		r := c.Get(path)
		wantStatus(t, r, 200, path)
		for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
			if r.Header.Get(h) == "" {
				t.Errorf("%s: no %s header", path, h)
			}
		}
	}
	c = p.NewClient(t) // the /lang calls above switched c to English
	r := c.Get("/no/such/page")
	wantStatus(t, r, 404, "unknown page")
	wantText(t, r, "404 page", "找不到页面")
	// Every service is online now: housing security shows its guide, with
	// its conditions read from the settings, and the way to apply.
	guide := c.Get("/services/housing-security")
	wantStatus(t, guide, 200, "housing security guide")
	wantText(t, guide, "guide", "住房保障", "办理条件", "2800", `href="/cases/new?service=housing-security"`, `href="/notices"`)
	if strings.Contains(guide.Text(), "即将开通") {
		t.Error("housing security is still announced as coming soon")
	}
}

func urlEscape(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "#", "%23", "?", "%3F", " ", "%20", "\\", "%5C").Replace(s)
}

func TestRegisterRefusesATakenIDNumber(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	a := testkit.Applicants[0]
	p.MustApplicant(t, a)
	c := p.NewClient(t)
	r := c.Do("POST", "/api/v1/accounts", map[string]string{"name": "别人", "id_number": a.IDNumber, "mobile": "13700000009", "password": testkit.Password})
	if r.Status != 422 || !strings.Contains(r.Text(), `"field":"id_number","rule":"taken"`) {
		t.Errorf("taken ID number: %d %s", r.Status, r.Body)
	}
	if got := p.Count(t, "SELECT count(*) FROM users WHERE kind = 'applicant'"); got != 1 {
		t.Errorf("applicants: %d", got)
	}
	// The database holds the ID number only as ciphertext.
	if got := p.Count(t, fmt.Sprintf("SELECT count(*) FROM users WHERE id_index LIKE '%%%s%%' OR name LIKE '%%%s%%'", a.IDNumber, a.IDNumber)); got != 0 {
		t.Errorf("plain ID number in users: %d", got)
	}
}
