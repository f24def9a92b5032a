package server_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"tzportal/portal/pii"
	"tzportal/portal/testkit"
)

var locationNoRE = regexp.MustCompile(`/cases/(TZHK\d{14})`)

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
	idem := regexp.MustCompile(`name="_idem" value="([^"]+)"`).FindStringSubmatch(form.Text())[1]
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
	bad := child[:17] + map[bool]string{true: "0", false: "1"}[child[17] != '0']
	post := func(kv ...string) *testkit.Response {
		page := web.Get("/cases/" + no)
		version := regexp.MustCompile(`name="version" value="(\d+)"`).FindStringSubmatch(page.Text())
		v := "0"
		if version != nil {
			v = version[1]
		}
		return web.Post("/cases/"+no+"/edit", append([]string{"_csrf", app.CSRF, "version", v}, kv...)...)
	}
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

	// Check the answers, then submit.
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
