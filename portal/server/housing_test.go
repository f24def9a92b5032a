package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/fsck"
	"tzportal/portal/housing"
	"tzportal/portal/testkit"
	"tzportal/portal/workflow"
)

// housingRig is a portal with the people of the housing journeys: a street
// clerk and a district officer of 海陵区, another district's officer, and
// applicants made as the test goes.
type housingRig struct {
	p                       *testkit.Portal
	clerk, officer, gaogang *testkit.Client
	people                  map[*testkit.Client]*portal.User
}

func newHousingRig(t *testing.T, b testkit.Backend) *housingRig {
	t.Helper()
	p := testkit.Start(t, b, nil) // Monday 2026-11-30, 10:00 in China
	p.MustStaff(t, "clerk1", "street_clerk", "321202001")
	p.MustStaff(t, "officer", "district_officer", "321202")
	p.MustStaff(t, "gaogang", "district_officer", "321203")
	h := &housingRig{p: p, clerk: p.NewClient(t), officer: p.NewClient(t), gaogang: p.NewClient(t), people: map[*testkit.Client]*portal.User{}}
	h.relogin()
	return h
}

// applicant registers someone and logs them in.
func (h *housingRig) applicant(t *testing.T, name string) *testkit.Client {
	t.Helper()
	u, c := h.p.NewApplicant(t, name)
	h.people[c] = u
	return c
}

// relogin logs everyone in again: after the clock moved, sessions are idle.
func (h *housingRig) relogin() {
	h.clerk.Login("clerk1")
	h.officer.Login("officer")
	h.gaogang.Login("gaogang")
	for c, u := range h.people {
		c.LoginAs(u)
	}
}

// apply creates a case of form, uploads every material and submits it.
func (h *housingRig) apply(t *testing.T, c *testkit.Client, form map[string]any) string {
	t.Helper()
	r := c.Do("POST", "/api/v1/cases", map[string]any{"service": housing.ServiceID, "form": form})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	no := r.JSON(t)["case_no"].(string)
	c.AttachAll(no)
	return no
}

func (h *housingRig) state(t *testing.T, c *testkit.Client, no string) (string, map[string]any) {
	t.Helper()
	r := c.Get("/api/v1/cases/" + no)
	if r.Status != 200 {
		t.Fatalf("read %s: %d %s", no, r.Status, r.Body)
	}
	m := r.JSON(t)
	res, _ := m["result"].(map[string]any)
	return m["state"].(string), res
}

// events counts the steps of event in a case's timeline.
func events(t *testing.T, c *testkit.Client, no, event string) int {
	t.Helper()
	n := 0
	for _, s := range c.Get("/api/v1/cases/" + no).JSON(t)["timeline"].([]any) {
		if s.(map[string]any)["event"] == event {
			n++
		}
	}
	return n
}

// housingForm is the example with changes (nil deletes).
func housingForm(p *testkit.Portal, t *testing.T, kv ...any) map[string]any {
	f := p.Example(t, housing.ServiceID)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(f, kv[i].(string))
		} else {
			f[kv[i].(string)] = kv[i+1]
		}
	}
	return f
}

// noticeKeys are the only keys a public notice's item has.
var noticeKeys = []string{"applicant", "division_name", "household_size", "kind", "notice_ends", "ref"}

// public checks that a public response shows none of the secrets.
func public(t *testing.T, what string, r *testkit.Response, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.Text(), s) {
			t.Errorf("%s shows %q", what, s)
		}
	}
}

func TestHousingSecurity(t *testing.T) {
	testkit.EachBackend(t, testHousingSecurity)
}

func testHousingSecurity(t *testing.T, b testkit.Backend) {
	h := newHousingRig(t, b)
	p := h.p
	ctx := context.Background()
	alice := h.applicant(t, "王芳") // a migrant family of three, public rental
	bob := h.applicant(t, "李强")   // a resident living alone
	carol := h.applicant(t, "赵敏") // too rich for public rental
	anon := p.NewClient(t)

	// Texts of every state, event, field and notice, in both languages.
	for _, m := range p.MissingTexts() {
		if strings.Contains(m, housing.ServiceID) {
			t.Errorf("text missing: %s", m)
		}
	}

	// 王芳 applies; the street accepts; the district approves the review.
	a := h.apply(t, alice, housingForm(p, t, "income_monthly", 3200, "family_migrated", true, "members", []any{
		map[string]any{"relation": "spouse", "name": "李梅", "id_number": "321283198803080029", "income_monthly": 2000},
		map[string]any{"relation": "child", "name": "王小明", "id_number": "321202201506120035", "income_monthly": 0}}))
	if !strings.HasPrefix(a, "TZHS20261130") {
		t.Errorf("case number %s", a)
	}
	m := fire(t, alice, a, "submit", nil, 200)
	elig := m["result"].(map[string]any)["eligibility"].(map[string]any)
	if m["state"] != "submitted" || elig["eligible"] != true || elig["household_size"] != float64(3) || elig["income_per_head"] != 1733.33 {
		t.Fatalf("submitted: %v %v", m["state"], elig)
	}
	if r := h.gaogang.Get("/api/v1/cases/" + a); r.Status != 404 {
		t.Errorf("another district's officer reads the case: %d", r.Status)
	}
	fire(t, h.clerk, a, "accept", nil, 200)
	if r := h.gaogang.Do("POST", "/api/v1/cases/"+a+"/events/approve_review", nil); r.Status != 404 {
		t.Errorf("another district's officer approves: %d %s", r.Status, r.Body)
	}
	m = fire(t, h.officer, a, "approve_review", nil, 200)
	res := m["result"].(map[string]any)
	ref, _ := res["notice_ref"].(string)
	ends, _ := res["notice_ends"].(string)
	if m["state"] != "public_notice" || len(ref) != 24 || strings.Contains(a, ref) || ends != "2026-12-08T00:00:00+08:00" ||
		res["notice_last_day"] != "2026-12-07" || res["notice_applicant"] != "王*" {
		t.Fatalf("on notice: %v %v", m["state"], res)
	}
	due := m["due"].(map[string]any)["at"]

	// 李强, a resident alone: the same rules; on notice too.
	bobForm := housingForm(p, t, "hukou_local", true, "income_monthly", 2100, "family_migrated", false,
		"address", "海陵区鼓楼南路9号")
	bn := h.apply(t, bob, bobForm)
	fire(t, bob, bn, "submit", nil, 200)
	fire(t, h.clerk, bn, "accept", nil, 200)
	fire(t, h.officer, bn, "approve_review", nil, 200)

	// The public notice, without a login: both households, nothing but
	// what the notice says — no ID number, income, address, name or case.
	secrets := []string{"321283198803080029", "321202201506120035", "东进东路", "鼓楼南路", "王芳", "李强", "李梅", a, bn,
		"income", "3200", "JZ3212022025000077"}
	r := anon.Get("/api/v1/public-notices")
	if r.Status != 200 {
		t.Fatalf("public notices: %d %s", r.Status, r.Body)
	}
	public(t, "the public notices (API)", r, secrets...)
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(r.Body, &list); err != nil || len(list.Items) != 2 {
		t.Fatalf("public notices: %s", r.Body)
	}
	for _, it := range list.Items {
		var keys []string
		for k := range it {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, noticeKeys) {
			t.Errorf("a notice's keys: %v", keys)
		}
	}
	mine := list.Items[slices.IndexFunc(list.Items, func(it map[string]any) bool { return it["ref"] == ref })]
	if mine["applicant"] != "王*" || mine["kind"] != "public_rental" || mine["household_size"] != float64(3) ||
		mine["division_name"] != "海陵区 城东街道" || mine["notice_ends"] != ends {
		t.Errorf("王芳's notice: %v", mine)
	}
	page := anon.Get("/notices")
	wantStatus(t, page, 200, "the public notice page")
	wantText(t, page, "the public notice page", "住房保障公示", "王*", "公共租赁住房", "2026-12-07", `href="/notices/`+ref+`"`)
	public(t, "the public notice page", page, secrets...)

	// Someone objects (no login): 201, and the case is held.
	objection := map[string]any{"contact": "13912345678", "reason": "该户在海陵区有一套住房，没有如实申报。"}
	if r := anon.Do("POST", "/api/v1/public-notices/"+ref+"/objections", map[string]any{"contact": "x", "reason": "太短"}); r.Status != 422 ||
		!strings.Contains(r.Text(), `"field":"reason"`) {
		t.Errorf("a reason too short: %d %s", r.Status, r.Body)
	}
	if r := anon.Do("POST", "/api/v1/public-notices/"+strings.Repeat("0", 24)+"/objections", objection); r.Status != 404 {
		t.Errorf("an unknown notice: %d %s", r.Status, r.Body)
	}
	r = anon.Do("POST", "/api/v1/public-notices/"+ref+"/objections", objection)
	if r.Status != 201 {
		t.Fatalf("objection: %d %s", r.Status, r.Body)
	}
	public(t, "the objection's answer", r, a)
	st, res := h.state(t, alice, a)
	if st != "objection_review" {
		t.Fatalf("after an objection: %s", st)
	}
	// The applicant learns that there is one, never who raised it or why.
	if o, _ := json.Marshal(res["objections"]); string(o) != `{"open":1,"total":1}` {
		t.Errorf("the applicant's count: %s", o)
	}
	own := alice.Get("/api/v1/cases/" + a)
	public(t, "the applicant's case", own, "13912345678", "一套住房")
	if n := notice(t, alice, "housing-security.object"); n == nil || strings.Contains(n["body"].(string), "13912345678") {
		t.Errorf("the applicant's notice of the objection: %v", n)
	}
	ownPage := alice.Get("/cases/" + a)
	wantText(t, ownPage, "the applicant's case page", "公示期间有人提出了异议", "1件，其中1件待核查")
	public(t, "the applicant's case page", ownPage, "13912345678", "一套住房", "/housing/cases/")
	// More objections while it is held; then the address is throttled
	// (five a minute: the refused ones count too).
	for i := 0; i < 2; i++ {
		if r := anon.Do("POST", "/api/v1/public-notices/"+ref+"/objections", map[string]any{"contact": "泰州市海陵区某小区", "reason": "申请人的收入填得太低了，请核实。"}); r.Status != 201 {
			t.Fatalf("objection %d: %d %s", i+2, r.Status, r.Body)
		}
	}
	if r := anon.Do("POST", "/api/v1/public-notices/"+ref+"/objections", objection); r.Status != 429 {
		t.Errorf("the sixth objection from one address in a minute: %d %s", r.Status, r.Body)
	}
	if _, res := h.state(t, alice, a); res["objections"].(map[string]any)["open"] != float64(3) {
		t.Errorf("objections: %v", res["objections"])
	}
	// The audit trail holds the objections, never the contact.
	if n := p.Count(t, "SELECT count(*) FROM audit_log WHERE object = $1 AND action = 'case.object'", "case:"+a); n != 3 {
		t.Errorf("objections audited: %d", n)
	}
	if n := p.Count(t, "SELECT count(*) FROM audit_log WHERE detail LIKE '%13912345678%'"); n != 0 {
		t.Errorf("a contact in the audit trail: %d", n)
	}

	// The officer reads them with the contacts (audited); nobody else.
	r = h.officer.Get("/api/v1/housing/cases/" + a + "/objections")
	if r.Status != 200 || !strings.Contains(r.Text(), "13912345678") || len(r.JSON(t)["items"].([]any)) != 3 {
		t.Fatalf("the officer's objections: %d %s", r.Status, r.Body)
	}
	for who, c := range map[string]*testkit.Client{"the applicant": alice, "another district's officer": h.gaogang, "the public": anon} {
		if r := c.Get("/api/v1/housing/cases/" + a + "/objections"); r.Status != 404 && !(c == anon && r.Status == 401) {
			t.Errorf("%s reads the objections: %d", who, r.Status)
		}
	}
	staffPage := h.officer.Get("/cases/" + a)
	wantText(t, staffPage, "the officer's case page", `href="/housing/cases/`+a+`/objections"`, "作出异议核查决定")
	objPage := h.officer.Get("/housing/cases/" + a + "/objections")
	wantStatus(t, objPage, 200, "the objections page")
	wantText(t, objPage, "the objections page", "13912345678", "一套住房", "待核查", `action="/cases/`+a+`/events/resolve_objection"`)
	if r := h.gaogang.Get("/housing/cases/" + a + "/objections"); r.Status != 404 {
		t.Errorf("another district's officer opens the objections page: %d", r.Status)
	}
	if n := p.Count(t, "SELECT count(*) FROM audit_log WHERE object = $1 AND action = 'objections.read' AND result = 'ok'", "case:"+a); n != 2 {
		t.Errorf("readings of the objections audited: %d", n)
	}
	if n := p.Count(t, "SELECT count(*) FROM audit_log WHERE object = $1 AND action = 'objections.read' AND result = 'denied'", "case:"+a); n != 1 {
		t.Errorf("the applicant's refused reading audited: %d", n)
	}

	// Dismissed: back on notice, keeping its end.
	if r := h.gaogang.Do("POST", "/api/v1/cases/"+a+"/events/resolve_objection", map[string]any{"upheld": "no", "reason": "x"}); r.Status != 404 {
		t.Errorf("another district's officer decides: %d", r.Status)
	}
	m = fire(t, h.officer, a, "resolve_objection", map[string]any{"upheld": "no", "reason": "经核查，该户名下无住房，收入属实。"}, 200)
	if m["state"] != "public_notice" || m["due"].(map[string]any)["at"] != due {
		t.Fatalf("dismissed: %v due %v, want %v", m["state"], m["due"], due)
	}

	// An objection through the page, without JavaScript or a login.
	web := p.NewClient(t)
	form := web.Get("/notices/" + ref)
	wantStatus(t, form, 200, "a notice's page")
	wantText(t, form, "a notice's page", `action="/notices/`+ref+`/objections"`, `name="contact"`, `name="reason"`)
	public(t, "a notice's page", form, secrets...)
	tok := testkit.FormToken(t, form.Text())
	if r := web.Post("/notices/"+ref+"/objections", "contact", "13700000000", "reason", "该户实际住在单位宿舍，不困难。"); r.Status != 403 {
		t.Errorf("an objection without the form's token: %d", r.Status)
	}
	r = web.Post("/notices/"+ref+"/objections", "_csrf", tok, "contact", "13700000000", "reason", "短")
	wantStatus(t, r, 422, "a short objection on the page")
	wantText(t, r, "a short objection", `id="error-reason"`, `value="13700000000"`)
	wantRedirect(t, web.Post("/notices/"+ref+"/objections", "_csrf", tok, "contact", "13700000000", "reason", "该户实际住在单位宿舍，不困难。"),
		"/notices/"+ref+"?objected=1", "an objection on the page")
	wantText(t, web.Get("/notices/"+ref+"?objected=1"), "after objecting", "异议已收到")
	if st, _ := h.state(t, alice, a); st != "objection_review" {
		t.Fatalf("after the page's objection: %s", st)
	}
	// Decided on the objections page's form: dismissed again.
	objPage = h.officer.Get("/housing/cases/" + a + "/objections")
	wantRedirect(t, h.officer.Post("/cases/"+a+"/events/resolve_objection", "_csrf", testkit.FormToken(t, objPage.Text()),
		"version", testkit.FormField(objPage.Text(), "version"), "upheld", "no", "reason", "经核查，宿舍为临时住所。"), "/cases/"+a, "decided on the page")
	if st, _ := h.state(t, alice, a); st != "public_notice" {
		t.Fatalf("dismissed on the page: %s", st)
	}

	// 李强: an objection upheld refuses him; his recheck overturns it.
	bref := h.officer.Get("/api/v1/cases/" + bn).JSON(t)["result"].(map[string]any)["notice_ref"].(string)
	// (This address is throttled for the minute: the service's own call,
	// as the API's handler makes it, for another address.)
	obj := housing.Objection{Contact: "13912345678", Reason: "该户申报的收入明显偏低，实际经营一家店铺。"}
	svc := housingService(t, p)
	if err := svc.Object(ctx, p.Engine, housing.PublicActor("10.0.0.9"), bref, obj); err != nil {
		t.Fatal(err)
	}
	m = fire(t, h.officer, bn, "resolve_objection", map[string]any{"upheld": "yes", "reason": "经核查，申请人另有经营收入。"}, 200)
	res = m["result"].(map[string]any)
	if m["state"] != "rejected" || res["refusal_reason"] != "经核查，申请人另有经营收入。" || res["recheck_last_day"] != "2026-12-21" || res["recheck_allowed"] != true {
		t.Fatalf("upheld: %v %v", m["state"], res)
	}
	wantText(t, bob.Get("/cases/"+bn), "the refused applicant's page", "经核查，申请人另有经营收入。", "2026-12-21", "申请复核")
	fire(t, bob, bn, "request_recheck", map[string]any{"reason": "店铺已于去年注销，附注销证明。"}, 200)
	m = fire(t, h.officer, bn, "decide_recheck", map[string]any{"upheld": "no", "reason": "店铺确已注销，撤销原决定。"}, 200)
	if m["state"] != "waitlisted" {
		t.Fatalf("the refusal overturned: %v", m["state"])
	}
	// A second recheck: nothing to recheck any more.
	if r := bob.Do("POST", "/api/v1/cases/"+bn+"/events/request_recheck", map[string]any{"reason": "再次申请复核"}); r.Status != 409 {
		t.Errorf("a second recheck on the waiting list: %d %s", r.Status, r.Body)
	}

	// 赵敏: 3,150 a head is above public rental's limit — refused naming the
	// rule, and the case page says why.
	carolForm := housingForm(p, t, "hukou_local", true, "income_monthly", 5000, "address", "海陵区凤凰路1号", "family_migrated", false,
		"members", []any{map[string]any{"relation": "spouse", "name": "孙伟", "id_number": "321202199302020227", "income_monthly": 1300}})
	cn := h.apply(t, carol, carolForm)
	r = carol.Do("POST", "/api/v1/cases/"+cn+"/events/submit", nil)
	if r.Status != 422 || r.JSON(t)["rule"] != "income_per_head" || !strings.Contains(r.Text(), "3,150") || !strings.Contains(r.Text(), "2,800") {
		t.Fatalf("too rich: %d %s", r.Status, r.Body)
	}
	cpage := carol.Get("/cases/" + cn)
	wantText(t, cpage, "the draft's page", "按您填写的信息预先核对的条件", "家庭人均月收入3,150元，不低于2,800元的标准")
	r = carol.Post("/cases/"+cn+"/events/submit", "_csrf", testkit.FormToken(t, cpage.Text()), "version", testkit.FormField(cpage.Text(), "version"))
	wantStatus(t, r, 422, "submitting on the page")
	wantText(t, r, "the refusal on the page", "您家的人均月收入为3,150元（2人合计6,300元），高于公共租赁住房2,800元的收入标准")
	// Affordable rental has no income test; the street refuses it anyway,
	// the recheck upholds it, and no second recheck is allowed.
	carolForm["kind"] = "affordable_rental"
	if r := carol.Do("PUT", "/api/v1/cases/"+cn+"/form", map[string]any{"form": carolForm}); r.Status != 200 {
		t.Fatalf("edit: %d %s", r.Status, r.Body)
	}
	fire(t, carol, cn, "submit", nil, 200)
	fire(t, h.clerk, cn, "reject", map[string]any{"reason": "申请人户籍所在地有住房。"}, 200)
	fire(t, carol, cn, "request_recheck", map[string]any{"reason": "那套住房已经出售。"}, 200)
	m = fire(t, h.officer, cn, "decide_recheck", map[string]any{"upheld": "yes", "reason": "出售未办理过户，维持原决定。"}, 200)
	if m["state"] != "rejected" || m["result"].(map[string]any)["recheck_allowed"] != false {
		t.Fatalf("the refusal upheld: %v %v", m["state"], m["result"])
	}
	if r := carol.Do("POST", "/api/v1/cases/"+cn+"/events/request_recheck", map[string]any{"reason": "再次申请复核"}); r.Status != 422 ||
		r.JSON(t)["rule"] != "recheck_once" {
		t.Errorf("a second recheck: %d %s", r.Status, r.Body)
	}

	// The notice ends (Tuesday 8 December): two nodes run the timers at
	// once, and 王芳's household joins the list exactly once.
	p.Clock.Advance(8 * 24 * time.Hour)
	h.relogin()
	// Over, though no timer has run yet: objections are refused.
	if err := svc.Object(ctx, p.Engine, housing.PublicActor("10.0.0.9"), ref, obj); portal.AsError(err) == nil || portal.AsError(err).Rule != "notice_ended" {
		t.Errorf("an objection after the notice's end: %v", err)
	}
	var wg sync.WaitGroup
	fired := make([]int, 2)
	errs := make([]error, 2)
	for i := range fired {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fired[i], errs[i] = p.Engine.RunDueTimers(ctx)
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || fired[0]+fired[1] != 1 {
		t.Fatalf("timers: fired %v, errors %v", fired, errs)
	}
	if n, _ := p.Engine.RunDueTimers(ctx); n != 0 {
		t.Errorf("the timer fired again: %d", n)
	}
	st, res = h.state(t, alice, a)
	if st != "waitlisted" || events(t, alice, a, "end_notice") != 1 {
		t.Fatalf("after the notice: %s, %d end_notice steps", st, events(t, alice, a, "end_notice"))
	}
	if w, _ := json.Marshal(res["waitlist"]); string(w) != `{"class":"family_migrated","of":2,"position":1}` || res["waitlisted_at"] == nil {
		t.Errorf("王芳's place: %s (waitlisted at %v)", w, res["waitlisted_at"])
	}
	if _, res := h.state(t, bob, bn); res["waitlist"].(map[string]any)["position"] != float64(2) {
		t.Errorf("李强's place: %v", res["waitlist"])
	}
	wantText(t, alice.Get("/cases/"+a), "the waiting household's page", "排第1位，共2户", "举家迁入泰州的家庭（优先）")
	if r := anon.Get("/api/v1/public-notices"); strings.Contains(r.Text(), ref) {
		t.Errorf("the notice is still listed: %s", r.Body)
	}
	if r := anon.Do("POST", "/api/v1/public-notices/"+ref+"/objections", objection); r.Status != 404 && r.Status != 429 {
		t.Errorf("an objection after the notice: %d", r.Status)
	}

	// A draw (someone else's code: here the engine's own call) offers
	// units; 王芳 leases, 李强 declines twice and leaves the list.
	cli := portal.Actor{System: "cli:test"}
	draw := func(no string, unit any) {
		t.Helper()
		if _, err := p.Engine.FireCohort(ctx, cli, housing.ServiceID, "draw", []workflow.CohortStep{{CaseNo: no, Result: map[string]any{"unit": unit}}}, 1,
			func(context.Context, portal.Tx, int) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	draw(a, map[string]any{"code": "HL-GZF-3-201"}) // a unit as the draws list them
	wantText(t, alice.Get("/cases/"+a), "the offer", "已分配房源", "HL-GZF-3-201", "确认签约")
	fire(t, alice, a, "accept_offer", nil, 200)
	draw(bn, "海陵公租房 5-102")
	m = fire(t, bob, bn, "decline_offer", map[string]any{"reason": "离工作地点太远"}, 200)
	if m["state"] != "waitlisted" || m["result"].(map[string]any)["declines"] != float64(1) || m["result"].(map[string]any)["unit"] != nil {
		t.Errorf("declined once: %v %v", m["state"], m["result"])
	}
	draw(bn, "海陵公租房 5-103") // 李强 lets this one lapse (below)

	// The plan's indicator counts 王芳's household.
	r = anon.Get("/api/v1/indicators/housing-coverage?district=321202&year=2026")
	items, _ := r.JSON(t)["items"].([]any)
	if r.Status != 200 || len(items) != 1 {
		t.Fatalf("indicator: %d %s", r.Status, r.Body)
	}
	row := items[0].(map[string]any)
	if row["covered"] != float64(1) || row["new"] != float64(1) || row["by_kind"].(map[string]any)["public_rental"] != float64(1) ||
		row["households"] != float64(210000) || row["target"] != 0.29 || row["baseline"] != 0.283 {
		t.Errorf("indicator: %v", row)
	}
	if r := anon.Get("/api/v1/indicators/housing-coverage?year=2026"); r.Status != 200 || len(r.JSON(t)["items"].([]any)) != 7 {
		t.Errorf("indicator of every district and the city: %d %s", r.Status, r.Body)
	}
	if r := anon.Get("/api/v1/indicators/housing-coverage?district=32&year=2026"); r.Status != 422 {
		t.Errorf("a bad district: %d", r.Status)
	}

	// 赵敏's recheck days pass: the timer closes her case, refused. 李强's
	// second offer goes unanswered past its 10 working days: it lapses as
	// his second decline, and takes his household off the list.
	p.Clock.Advance(16 * 24 * time.Hour) // Thursday 24 December
	h.relogin()
	if _, err := p.Engine.RunDueTimers(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := h.state(t, carol, cn); st != "refused" {
		t.Errorf("after the recheck days: %s", st)
	}
	if st, res := h.state(t, bob, bn); st != "removed" || res["declines"] != float64(2) || events(t, bob, bn, "lapse_offer") != 1 {
		t.Errorf("the unanswered offer: %s %v, %d lapse_offer steps", st, res, events(t, bob, bn, "lapse_offer"))
	}
	wantText(t, bob.Get("/inbox"), "the lapse told", "逾期未确认，视为放弃分配的房源")

	// 陈晨 settled in Taizhou through the portal: her hukou is local,
	// whatever the form says, and no permit is asked of her.
	erin := h.applicant(t, "陈晨")
	now := p.Clock.Now()
	settled := &portal.Case{No: "TZHK20260601000001", Service: "hukou-transfer", State: "settled", Version: 1, ApplicantID: h.people[erin].ID,
		Division: "321202001", District: "321202", Form: json.RawMessage(`{}`), Result: json.RawMessage(`{"settled_on":"2026-06-01"}`),
		StateSince: now, CreatedAt: now, UpdatedAt: now}
	if err := p.DB.Tx(ctx, func(tx portal.Tx) error { return tx.InsertCase(ctx, settled) }); err != nil {
		t.Fatal(err)
	}
	r = erin.Do("POST", "/api/v1/cases", map[string]any{"service": housing.ServiceID,
		"form": housingForm(p, t, "hukou_local", false, "residence_permit_no", nil, "address", "海陵区春晖路3号")})
	if r.Status != http.StatusCreated || r.JSON(t)["form"].(map[string]any)["hukou_local"] != true {
		t.Errorf("a settled applicant's form: %d %s", r.Status, r.Body)
	}

	// Every case's history, audit trail and claims hold together (but the
	// settlement written above as a bare row).
	check, err := fsck.Check(ctx, p.DB, p.Engine.Definitions(), p.Audit)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range check.Violations {
		if v.Case != settled.No {
			t.Errorf("fsck: %s: %s", v.Case, v.Reason)
		}
	}
}

// housingService is the portal's housing service (its settings).
func housingService(t *testing.T, p *testkit.Portal) *housing.Service {
	t.Helper()
	ent, ok := p.Registry.Get(housing.ServiceID)
	if !ok {
		t.Fatal("no housing service")
	}
	return ent.Service.(*housing.Service)
}

var housingNoRE = regexp.MustCompile(`/cases/(TZHS\d{14})`)

// TestHousingHTMLJourney applies through the pages only, as a phone
// without JavaScript does: the kind and the address, the household as a
// task list, income, home, priority; the answers are checked against the
// rules before submitting.
func TestHousingHTMLJourney(t *testing.T) {
	testkit.EachBackend(t, testHousingHTMLJourney)
}

func testHousingHTMLJourney(t *testing.T, b testkit.Backend) {
	h := newHousingRig(t, b)
	web := h.applicant(t, "周杰")

	form := web.Get("/cases/new?service=housing-security")
	wantStatus(t, form, http.StatusOK, "new form")
	wantText(t, form, "new form", "第1步，共6步", `name="kind"`, `value="public_rental"`, `name="hukou_local"`, `name="residence_permit_no"`)
	idem := testkit.FormField(form.Text(), "_idem")
	tok := testkit.FormToken(t, form.Text())
	first := []string{"_csrf", tok, "_idem", idem, "service", housing.ServiceID, "step", "application",
		"kind", "public_rental", "division", "321202001", "address", "海陵区东进东路20号", "hukou_local", "false"}
	r := web.Post("/cases", first...)
	wantStatus(t, r, http.StatusUnprocessableEntity, "no permit without a Taizhou hukou")
	wantText(t, r, "no permit", `id="error-residence_permit_no"`, `value="海陵区东进东路20号"`)
	loc := wantRedirect(t, web.Post("/cases", append(first, "residence_permit_no", "jz3212022025000123")...), "/cases/TZHS", "the first page")
	no := housingNoRE.FindStringSubmatch(loc)[1]
	if !strings.Contains(loc, "step=household") {
		t.Fatalf("after the first page: %s", loc)
	}
	wantText(t, web.Get(loc), "the household", "第2步，共6步", "只有您一个人申请", "添加一位家庭成员")
	post := draftPoster(t, web, no)
	spouse := testkit.IDNumber("32120219930202022")
	res := post("step", "household", "item", "new", "flow", "1", "relation", "spouse", "name", "吴敏", "id_number", testkit.BadIDNumber(spouse), "income_monthly", "1800")
	wantStatus(t, res, http.StatusUnprocessableEntity, "a bad ID number")
	wantText(t, res, "a bad ID number", `id="error-id_number"`, `value="吴敏"`)
	wantRedirect(t, post("step", "household", "item", "new", "flow", "1", "relation", "spouse", "name", "吴敏", "id_number", spouse, "income_monthly", "1800"),
		"/cases/"+no+"/edit?", "add the spouse")
	wantText(t, web.Get("/cases/"+no+"/edit?step=household&flow=1"), "one member", "家庭成员 1", "吴敏", spouse)
	wantRedirect(t, post("step", "income", "flow", "1", "income_monthly", "3000", "insurance_months", "48"), "/cases/"+no+"/edit?", "income")
	wantRedirect(t, post("step", "home", "flow", "1", "owns_home_in_city", "true", "home_area_m2", "38.5"), "/cases/"+no+"/edit?", "home")
	wantRedirect(t, post("step", "priority", "flow", "1", "family_migrated", "true", "elderly", "false", "disabled", "false"), "/cases/"+no, "priority")

	// Check your answers: every page, and the rules applied to them.
	page := web.Get("/cases/" + no)
	wantText(t, page, "check your answers", "核对", "公共租赁住房（公租房）", "JZ3212022025000123", "吴敏", "38.5",
		"按您填写的信息预先核对的条件", "家庭人均月收入2,400元，低于2,800元的标准", "人均住房建筑面积19.25平方米，不低于15平方米的标准",
		"在泰州缴纳社会保险48个月，满36个月")
	// A smaller home: the preview says yes.
	wantRedirect(t, post("step", "home", "owns_home_in_city", "true", "home_area_m2", "28"), "/cases/"+no, "a smaller home")
	wantText(t, web.Get("/cases/"+no), "the preview", "人均住房建筑面积14平方米，低于15平方米的标准")
	// English too.
	web.Get("/lang?to=en&next=/")
	wantText(t, web.Get("/cases/"+no), "in English", "Income per person 2,400 yuan a month, below the 2,800 yuan limit", "Public rental housing")
	wantText(t, web.Get("/notices"), "the notice in English", "Housing security: public notice", "No household is on public notice now.")
}
