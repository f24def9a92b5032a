package server_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"tzportal/portal/pii"
	"tzportal/portal/testkit"
)

var locationNoRE = regexp.MustCompile(`/cases/(TZHK\d{14})`)

// draftPoster returns a function that posts one page of the form of case
// no, as the page would: the session's CSRF token and the version the case
// page shows now.
func draftPoster(t *testing.T, web *testkit.Client, no string) func(kv ...string) *testkit.Response {
	return func(kv ...string) *testkit.Response {
		t.Helper()
		page := web.Get("/cases/" + no)
		v := testkit.FormField(page.Text(), "version")
		if v == "" {
			t.Fatalf("the page of %s shows no version: %d\n%.2000s", no, page.Status, page.Body)
		}
		return web.Post("/cases/"+no+"/edit", append([]string{"_csrf", testkit.FormToken(t, page.Text()), "version", v}, kv...)...)
	}
}

// TestHukouHTMLJourney fills the transfer in as a phone user would, page by
// page with plain HTML forms: where to, the family (a task list: add, a
// mistake shown beside its field, change, remove), the basis, the origin,
// the Yangtze-Delta time, then checks the answers and submits; the clerk
// accepts and the district officer approves on their pages.
func TestHukouHTMLJourney(t *testing.T) {
	testkit.EachBackend(t, testHukouHTMLJourney)
}

func testHukouHTMLJourney(t *testing.T, b testkit.Backend) {
	r := newHukouRig(t, testkit.Options{Backend: b})
	_, app := r.p.NewApplicant(t, "陈静")
	web := app // a browser: cookies, forms with the CSRF token

	form := web.Get("/cases/new?service=hukou-transfer")
	wantStatus(t, form, http.StatusOK, "new form")
	wantText(t, form, "new form", "第1步，共6步", "迁到哪里", `name="division"`, `name="address"`, `name="resided_since"`)
	idem := testkit.FormField(form.Text(), "_idem")
	if idem == "" {
		t.Fatal("the new form has no _idem field")
	}
	tok := testkit.FormToken(t, form.Text())
	r1 := web.Post("/cases", "_csrf", tok, "_idem", idem, "service", "hukou-transfer", "step", "where",
		"division", "321202001", "address", "x")
	wantStatus(t, r1, http.StatusUnprocessableEntity, "a too short address")
	wantText(t, r1, "too short", `id="error-address"`, `value="x"`, "在泰州的详细住址至少需要5个字")
	loc := wantRedirect(t, web.Post("/cases", "_csrf", tok, "_idem", idem, "service", "hukou-transfer", "step", "where",
		"division", "321202001", "address", "海陵区东进东路18号3幢201室"), "/cases/TZHK", "the first page makes the draft")
	no := locationNoRE.FindStringSubmatch(loc)[1]
	if !strings.Contains(loc, "step=members") || !strings.Contains(loc, "flow=1") {
		t.Fatalf("after the first page: %s, want the family page", loc)
	}

	// The family: an empty task list, then one member with a typo.
	list := web.Get(loc)
	wantText(t, list, "family list", "第2步，共6步", "只迁您本人", "添加一位家庭成员", "继续")
	add := web.Get("/cases/" + no + "/edit?step=members&item=new&flow=1")
	wantText(t, add, "add a member", `name="relation"`, `name="name"`, `name="id_number"`)
	child := testkit.IDNumber("32032120150610003")
	bad := testkit.BadIDNumber(child)
	post := draftPoster(t, web, no)
	res := post("step", "members", "item", "new", "flow", "1", "relation", "child", "name", "陈小静", "id_number", bad)
	wantStatus(t, res, http.StatusUnprocessableEntity, "a member with a bad ID number")
	wantText(t, res, "bad member", `id="error-id_number"`, "公民身份号码不正确", `value="`+bad+`"`, `value="陈小静"`)
	wantRedirect(t, post("step", "members", "item", "new", "flow", "1", "relation", "child", "name", "陈小静", "id_number", child),
		"/cases/"+no+"/edit?", "add the child")
	wantRedirect(t, post("step", "members", "item", "new", "flow", "1", "relation", "parent", "name", "陈父", "id_number", testkit.IDNumber("32032119600101003")),
		"/cases/"+no+"/edit?", "add a parent")
	list = web.Get("/cases/" + no + "/edit?step=members&flow=1")
	wantText(t, list, "family of two", "家庭成员 1", "陈小静", "子女", "家庭成员 2", "陈父", child)
	// Change the parent's name, then remove the parent.
	wantRedirect(t, post("step", "members", "item", "1", "flow", "1", "relation", "parent", "name", "陈大山", "id_number", testkit.IDNumber("32032119600101003")),
		"/cases/"+no+"/edit?", "change the parent")
	wantText(t, web.Get("/cases/"+no+"/edit?step=members&flow=1"), "changed", "陈大山")
	wantRedirect(t, post("step", "members", "item", "1", "flow", "1", "_remove", "1"), "/cases/"+no+"/edit?", "remove the parent")
	list = web.Get("/cases/" + no + "/edit?step=members&flow=1")
	if strings.Contains(list.Text(), "陈大山") || !strings.Contains(list.Text(), "陈小静") {
		t.Errorf("after removing the parent the list is wrong")
	}

	// The basis: its own details only; the origin; no Yangtze-Delta time.
	basis := web.Get("/cases/" + no + "/edit?step=basis&flow=1")
	wantText(t, basis, "basis page", "第3步，共6步", `name="basis" value="own_home"`, `name="property_cert_no"`, `name="lease_no"`, `name="employer"`)
	res = post("step", "basis", "flow", "1", "basis", "employment", "employer", "泰州市某机械有限公司", "contract_start", "2024-03-01", "insurance_months", "十二")
	wantStatus(t, res, http.StatusUnprocessableEntity, "months in words")
	wantText(t, res, "months", `id="error-insurance_months"`, `value="十二"`)
	loc = wantRedirect(t, post("step", "basis", "flow", "1", "basis", "employment", "employer", "泰州市某机械有限公司",
		"contract_start", "2024-03-01", "insurance_months", "12", "property_cert_no", "不该留下"), "/cases/"+no+"/edit?", "basis")
	if !strings.Contains(loc, "step=origin") {
		t.Errorf("after the basis: %s", loc)
	}
	res = post("step", "origin", "flow", "1", "origin_county", "999999", "origin_address", "江苏省徐州市丰县凤城街道中阳里128号", "origin_booklet_no", "320321004512")
	wantText(t, res, "an unknown county", `id="error-origin_county"`, "6位县级行政区划代码")
	loc = wantRedirect(t, post("step", "origin", "flow", "1", "origin_county", "320321", "origin_address", "江苏省徐州市丰县凤城街道中阳里128号",
		"origin_booklet_no", "320321004512"), "/cases/"+no+"/edit?", "origin")
	prior := web.Get(loc)
	wantText(t, prior, "the Yangtze-Delta page", "第5步，共6步", "添加一段居住时间")
	addPeriod := web.Get("/cases/" + no + "/edit?step=prior&item=new&flow=1")
	wantText(t, addPeriod, "period form", `<option value="310100">上海市</option>`, `<option value="320100">江苏省南京市</option>`)
	if strings.Contains(addPeriod.Text(), `value="321200"`) {
		t.Error("Taizhou itself is offered as another Yangtze-Delta city")
	}

	// The materials (a kinship proof for the child), then check the
	// answers and submit.
	web.AttachAll(no)
	check := web.Get("/cases/" + no)
	wantText(t, check, "check your answers", "核对您的申请信息", "海陵区 城东街道", "陈小静", child, "在泰州稳定就业",
		"江苏省徐州市丰县（320321）", `href="/cases/`+no+`/edit?step=basis"`)
	if strings.Contains(check.Text(), "不该留下") {
		t.Error("a detail of another basis was kept")
	}
	wantRedirect(t, web.Post("/cases/"+no+"/events/submit", "_csrf", testkit.FormToken(t, check.Text())), "/cases/"+no+"?done=submit", "submit")
	wantText(t, web.Get("/cases/"+no+"?done=submit"), "submitted", "申请已提交", "剩余 6 个工作日")

	// The clerk sees the family masked, accepts; the officer approves.
	clerk := r.p.NewClient(t)
	wantRedirect(t, clerk.LoginHTML("clerk1"), "/cases", "clerk login")
	cp := clerk.Get("/cases/" + no)
	wantText(t, cp, "clerk's page", "陈小静", pii.MaskID(child), "查看完整身份证号码")
	if strings.Contains(cp.Text(), child) {
		t.Error("the clerk's page shows the child's full ID number before they ask")
	}
	rv := clerk.Post("/cases/"+no+"/reveal", "_csrf", testkit.FormToken(t, cp.Text()), "field", "members[0].id_number")
	wantText(t, rv, "revealed", child)
	wantRedirect(t, clerk.Post("/cases/"+no+"/events/accept", "_csrf", testkit.FormToken(t, cp.Text())), "/cases/"+no, "accept")
	officer := r.p.NewClient(t)
	wantRedirect(t, officer.LoginHTML("officer"), "/cases", "officer login")
	op := officer.Get("/cases/" + no)
	wantText(t, op, "officer's page", "区级审核中", "批准迁入", "不予办理")
	wantRedirect(t, officer.Post("/cases/"+no+"/events/approve", "_csrf", testkit.FormToken(t, op.Text())), "/cases/"+no, "approve")
	done := web.Get("/cases/" + no)
	wantText(t, done, "approved", "准予迁入", "ZQ321202", "等待迁出地确认", "迁出地户籍机关确认迁出后即可落户")
	// The record of a paper confirmation needs its reason, kept on the page.
	op = officer.Get("/cases/" + no)
	res = officer.Post("/cases/"+no+"/events/record_move_out", "_csrf", testkit.FormToken(t, op.Text()), "reference", "纸质001", "confirmed_on", "2026-11-30")
	wantStatus(t, res, http.StatusUnprocessableEntity, "paper confirmation without a reason")
	wantText(t, res, "no reason", "请填写说明", `value="纸质001"`)
}

// TestHukouHTMLWithinTaizhou: a family moving from 兴化市, a county of
// Taizhou, hands in on the check-your-answers page; the street clerk
// accepts and the district officer approves on their pages, and the case
// is settled at once — nothing to wait for from an origin registry — with
// the move-in permit number on the applicant's page and account page.
func TestHukouHTMLWithinTaizhou(t *testing.T) {
	testkit.EachBackend(t, testHukouHTMLWithinTaizhou)
}

func testHukouHTMLWithinTaizhou(t *testing.T, b testkit.Backend) {
	r := newHukouRig(t, testkit.Options{Backend: b})
	_, web := r.p.NewApplicant(t, "蒋华")
	res := web.Do("POST", "/api/v1/cases", map[string]any{"service": "hukou-transfer", "form": r.hukouForm(t,
		"origin_county", "321281", "origin_address", "兴化市昭阳街道英武路1号", "origin_booklet_no", "321281000123")})
	if res.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	no := res.JSON(t)["case_no"].(string)
	web.AttachAll(no) // the checklist's materials
	check := web.Get("/cases/" + no)
	wantText(t, check, "check your answers", "核对您的申请信息", "兴化市", "提交申请")
	wantRedirect(t, web.Post("/cases/"+no+"/events/submit", "_csrf", testkit.FormToken(t, check.Text()),
		"version", testkit.FormField(check.Text(), "version")), "/cases/"+no+"?done=submit", "submit")

	clerk := r.p.NewClient(t)
	wantRedirect(t, clerk.LoginHTML("clerk1"), "/cases", "clerk login")
	cp := clerk.Get("/cases/" + no)
	wantText(t, cp, "clerk's page", "受理，转区级审核")
	wantRedirect(t, clerk.Post("/cases/"+no+"/events/accept", "_csrf", testkit.FormToken(t, cp.Text()),
		"version", testkit.FormField(cp.Text(), "version")), "/cases/"+no, "accept")

	officer := r.p.NewClient(t)
	wantRedirect(t, officer.LoginHTML("officer"), "/cases", "officer login")
	op := officer.Get("/cases/" + no)
	wantText(t, op, "officer's page", "区级审核中", "批准迁入")
	wantRedirect(t, officer.Post("/cases/"+no+"/events/approve", "_csrf", testkit.FormToken(t, op.Text()),
		"version", testkit.FormField(op.Text(), "version")), "/cases/"+no, "approve")

	doc := web.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)
	permitNo, _ := doc["result"].(map[string]any)["transfer_permit_no"].(string)
	if doc["state"] != "settled" || !regexp.MustCompile(`^ZQ3212022026\d{6}$`).MatchString(permitNo) {
		t.Fatalf("approved within Taizhou: %v, result %v", doc["state"], doc["result"])
	}
	done := web.Get("/cases/" + no)
	wantText(t, done, "the applicant's page", "已落户泰州", `<dd class="permit-no">`+permitNo+`</dd>`, `<dd class="settled-on">2026-11-30</dd>`,
		"已落户", "已落户泰州。请凭办件编号到派出所领取新的户口簿。", "请凭办件编号到新住址所在的派出所领取户口簿。")
	for _, stale := range []string{"等待迁出地确认", "迁出地户籍机关确认迁出后即可落户", "撤回申请"} {
		if strings.Contains(done.Text(), stale) {
			t.Errorf("a case settled within Taizhou still says %q", stale)
		}
	}
	wantText(t, officer.Get("/cases/"+no), "the officer's page after", "已办结：已落户", permitNo)
	wantText(t, web.Get("/account"), "the account page", "已落户泰州", permitNo)
}

// TestHukouHTMLPriorResidence adds, changes and removes a period in
// another Yangtze-Delta city through the task-list pages, each change on
// the list and in the stored form.
func TestHukouHTMLPriorResidence(t *testing.T) {
	testkit.EachBackend(t, testHukouHTMLPriorResidence)
}

func testHukouHTMLPriorResidence(t *testing.T, b testkit.Backend) {
	r := newHukouRig(t, testkit.Options{Backend: b})
	_, web := r.p.NewApplicant(t, "韩梅")
	res := web.Do("POST", "/api/v1/cases", map[string]any{"service": "hukou-transfer", "form": r.hukouForm(t)})
	if res.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	no := res.JSON(t)["case_no"].(string)
	post := draftPoster(t, web, no)
	listPath := "/cases/" + no + "/edit?step=prior&flow=1"
	periods := func() []any {
		t.Helper()
		list, _ := web.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)["form"].(map[string]any)["prior_residence"].([]any)
		return list
	}

	wantText(t, web.Get(listPath), "no periods yet", "没有填写在长三角其他城市居住的时间。", "添加一段居住时间")
	wantRedirect(t, post("step", "prior", "item", "new", "flow", "1", "city", "320100", "from", "2018-03-01", "to", "2021-02-28"),
		"/cases/"+no+"/edit?", "add a period")
	wantRedirect(t, post("step", "prior", "item", "new", "flow", "1", "city", "330100", "from", "2021-03-01", "to", "2023-12-31"),
		"/cases/"+no+"/edit?", "add a second period")
	list := web.Get(listPath)
	wantText(t, list, "two periods", "居住时间 1", "江苏省南京市", "2018-03-01", "居住时间 2", "浙江省杭州市", "2023-12-31")

	// Change the first: the page shows what is stored, a mistake is kept
	// beside its field, then the change is saved.
	edit := web.Get("/cases/" + no + "/edit?step=prior&item=0&flow=1")
	wantText(t, edit, "the first period's page", `<option value="320100" selected>`, `value="2018-03-01"`)
	res = post("step", "prior", "item", "0", "flow", "1", "city", "310100", "from", "2019-01-01", "to", "2018-01-01")
	wantStatus(t, res, http.StatusUnprocessableEntity, "a period that ends before it starts")
	wantText(t, res, "ends before it starts", `id="error-to"`, "不能早于开始日期", `value="2018-01-01"`)
	wantRedirect(t, post("step", "prior", "item", "0", "flow", "1", "city", "310100", "from", "2019-01-01", "to", "2021-02-28"),
		"/cases/"+no+"/edit?", "change the first period")
	list = web.Get(listPath)
	wantText(t, list, "changed", "上海市", "2019-01-01", "浙江省杭州市")
	if strings.Contains(list.Text(), "江苏省南京市") || strings.Contains(list.Text(), "2018-03-01") {
		t.Error("the changed period still shows its old city or start")
	}
	if got := periods(); len(got) != 2 || got[0].(map[string]any)["city"] != "310100" || got[0].(map[string]any)["from"] != "2019-01-01" ||
		got[1].(map[string]any)["city"] != "330100" {
		t.Errorf("stored periods after the change: %v", got)
	}

	// Remove the first: the second moves up; remove it too: none is left.
	wantRedirect(t, post("step", "prior", "item", "0", "flow", "1", "_remove", "1"), "/cases/"+no+"/edit?", "remove the first period")
	list = web.Get(listPath)
	wantText(t, list, "one left", "居住时间 1", "浙江省杭州市")
	if strings.Contains(list.Text(), "上海市") || strings.Contains(list.Text(), "居住时间 2") {
		t.Error("the removed period is still listed")
	}
	if got := periods(); len(got) != 1 || got[0].(map[string]any)["city"] != "330100" {
		t.Errorf("stored periods after removing one: %v", got)
	}
	wantRedirect(t, post("step", "prior", "item", "0", "flow", "1", "_remove", "1"), "/cases/"+no+"/edit?", "remove the last period")
	wantText(t, web.Get(listPath), "none left", "没有填写在长三角其他城市居住的时间。")
	if got := periods(); len(got) != 0 {
		t.Errorf("stored periods after removing all: %v", got)
	}
	// An entry that is not there is not found, not silently added.
	if res := post("step", "prior", "item", "3", "flow", "1", "city", "310100", "from", "2019-01-01", "to", "2021-02-28"); res.Status != http.StatusNotFound {
		t.Errorf("changing a period that does not exist: %d", res.Status)
	}
}

// TestHukouHTMLListLimits: the family list and the Yangtze-Delta list
// stop at the workflow's max_members and max_periods (10): the list page
// offers no more "add", and an 11th entry is refused — on the page, with
// what was typed kept, and on the API, naming the list and max_items.
func TestHukouHTMLListLimits(t *testing.T) {
	testkit.EachBackend(t, testHukouHTMLListLimits)
}

func testHukouHTMLListLimits(t *testing.T, b testkit.Backend) {
	r := newHukouRig(t, testkit.Options{Backend: b})
	def, _ := r.p.Engine.Definition("hukou-transfer")
	if def.Settings["max_members"] != 10 || def.Settings["max_periods"] != 10 {
		t.Fatalf("the workflow's limits are %v members, %v periods: this test is written for 10", def.Settings["max_members"], def.Settings["max_periods"])
	}
	_, web := r.p.NewApplicant(t, "魏家")
	var members, periods []any
	for i := 0; i < 11; i++ {
		members = append(members, member("child", fmt.Sprintf("魏%d", i), testkit.IDNumber(fmt.Sprintf("320321201%d0101%03d", i%10, i))))
		periods = append(periods, map[string]any{"city": "320100", "from": fmt.Sprintf("%d-01-01", 2005+i), "to": fmt.Sprintf("%d-06-30", 2005+i)})
	}
	res := web.Do("POST", "/api/v1/cases", map[string]any{"service": "hukou-transfer", "form": r.hukouForm(t, "members", members[:10], "prior_residence", periods[:10])})
	if res.Status != http.StatusCreated {
		t.Fatalf("ten members and ten periods: %d %s", res.Status, res.Body)
	}
	no := res.JSON(t)["case_no"].(string)
	for what, form := range map[string]map[string]any{
		`"field":"members","rule":"max_items"`:         r.hukouForm(t, "members", members, "prior_residence", periods[:10]),
		`"field":"prior_residence","rule":"max_items"`: r.hukouForm(t, "members", members[:10], "prior_residence", periods),
	} {
		res := web.Do("PUT", "/api/v1/cases/"+no+"/form", map[string]any{"form": form})
		if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Text(), what) || !strings.Contains(res.Text(), "最多10项") {
			t.Errorf("an 11th entry over the API: %d %s, want %s", res.Status, res.Body, what)
		}
	}
	post := draftPoster(t, web, no)
	for _, l := range []struct {
		step, add, message string
		entry              []string
	}{
		{"members", "添加一位家庭成员", "随迁家庭成员最多10项", []string{"relation", "child", "name", "魏十", "id_number", testkit.IDNumber("32032120200202011")}},
		{"prior", "添加一段居住时间", "长三角居住时间最多10项", []string{"city", "330100", "from", "2016-01-01", "to", "2016-06-30"}},
	} {
		list := web.Get("/cases/" + no + "/edit?step=" + l.step + "&flow=1")
		wantText(t, list, l.step+" list of ten", "最多可以添加10项。")
		if strings.Contains(list.Text(), l.add) || strings.Contains(list.Text(), "item=new") {
			t.Errorf("the full %s list still offers to add one", l.step)
		}
		res := post(append([]string{"step", l.step, "item", "new", "flow", "1"}, l.entry...)...)
		wantStatus(t, res, http.StatusUnprocessableEntity, "an 11th entry of "+l.step)
		wantText(t, res, "11th "+l.step, l.message, `value="`+l.entry[3]+`"`)
		checkErrorLinks(t, res, "11th "+l.step)
	}
	doc := web.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)
	form := doc["form"].(map[string]any)
	if len(form["members"].([]any)) != 10 || len(form["prior_residence"].([]any)) != 10 || doc["version"] != float64(1) {
		t.Errorf("after the refusals: %d members, %d periods, version %v", len(form["members"].([]any)), len(form["prior_residence"].([]any)), doc["version"])
	}
}

var summaryLinkRE = regexp.MustCompile(`<div class="error-summary"[\s\S]*?</div>`)
var hrefRE = regexp.MustCompile(`href="#([^"]+)"`)

// checkErrorLinks checks that each link of a page's error summary goes to
// an element of the page: a link to nowhere leaves a screen-reader or
// keyboard user at the top of the page.
func checkErrorLinks(t *testing.T, r *testkit.Response, what string) {
	t.Helper()
	summary := summaryLinkRE.FindString(r.Text())
	if summary == "" {
		t.Errorf("%s: the page has no error summary", what)
		return
	}
	for _, m := range hrefRE.FindAllStringSubmatch(summary, -1) {
		if !strings.Contains(r.Text(), `id="`+m[1]+`"`) {
			t.Errorf("%s: the error summary links to #%s, which is not on the page", what, m[1])
		}
	}
}

// TestHukouGuide: the guide (办事指南) in zh-CN shows the conditions, the
// materials and every time limit of the workflow file — the district's 20
// working days and the 30 days for the move-out among them.
func TestHukouGuide(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	def, _ := p.Engine.Definition("hukou-transfer")
	g := p.NewClient(t).Get("/services/hukou-transfer")
	wantStatus(t, g, http.StatusOK, "the guide")
	wantText(t, g, "the guide", `<html lang="zh-CN">`, "户口迁移（落户）", "办事指南",
		// Conditions, with the workflow's settings filled in.
		"有合法稳定住所：自有住房；或登记备案的租赁住房（落户到所在社区的公共户）", "（不设最低缴纳月数）", "不设居住年限",
		"在泰州市内各县（市、区）之间迁移不设条件", "配偶、未满18周岁的子女、父母",
		// The time limits of the steps the applicant waits on.
		"<dt>区级审核中</dt><dd>20个工作日</dd>", "<dt>等待迁出地确认</dt><dd>30天</dd>", "<dt>已提交</dt><dd>5个工作日</dd>", "<dt>需补正</dt><dd>30天</dd>",
		`href="/cases/new?service=hukou-transfer"`)
	if strings.Contains(g.Text(), "{{") || strings.Contains(g.Text(), "<no value>") {
		t.Error("the guide shows an unfilled template")
	}
	// Every material the clerk may ask for, and every deadline of the
	// workflow file, is on the page: the guide cannot drift from the rules.
	for _, m := range def.Material {
		wantText(t, g, "material "+m, "<li>"+p.Catalog.L("zh-CN").T("hukou-transfer.material."+m)+"</li>")
	}
	for _, st := range def.StateNames() {
		s := def.States[st]
		if s.Deadline.IsZero() || s.Private {
			continue
		}
		unit := "%d天"
		if s.Deadline.Working {
			unit = "%d个工作日"
		}
		wantText(t, g, "deadline of "+st, "<dt>"+p.Catalog.L("zh-CN").T("hukou-transfer.state."+st)+"</dt><dd>"+fmt.Sprintf(unit, s.Deadline.N)+"</dd>")
	}
}
