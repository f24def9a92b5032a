package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tzportal/portal/housing"
	"tzportal/portal/lottery"
	"tzportal/portal/testkit"
)

// TestHousingJourneys walks housing security (住房保障) in a real browser.
// With JavaScript (on PostgreSQL and Redis): an applicant on a phone fills
// the short pages in (the kind and the home address, a spouse added to the
// household's task list with a mistyped ID number first, shown beside its
// field as typed, income, home, priority), checks the answers against the
// rules' preview and submits (the materials sent through the API); the
// street accepts and the district approves (API). Anyone, without an account, finds the
// household on the public notice as 张* with no name, ID number, income or
// address, and objects on its page (a reason too short first, kept and
// shown beside its field). The district officer reads the objection with
// its contact and dismisses it on the objections page. The notice ends:
// the applicant sees the household's place on the waiting list and, once
// the officer has made a draw (API), its ticket and Merkle inclusion
// proof; the draw's public page reads on a phone without a login before
// and after the reveal, and the household is offered a unit. Every page
// looked at is audited with axe-core and the design checks (reflow at 320
// pixels without scrolling sideways, tap targets, the focus walk), and the
// draw's tables are read at phone width.
//
// Without JavaScript (on SQLite) the same forms must work as plain HTML:
// the household's page sends the mistyped ID number back beside its field
// with everything kept, and the public notice takes an objection the same
// way (the rest of the application goes through the API).
func TestHousingJourneys(t *testing.T) { withAndWithoutJS(t, housingJourney) }

var housingCaseNoRE = regexp.MustCompile(`TZHS\d{14}`)

func housingJourney(t *testing.T, js bool) {
	p := testkit.Start(t, testkit.Backend{Postgres: js, Redis: js}, nil) // Monday 2026-11-30
	p.MustStaff(t, "clerk1", "street_clerk", "321202001")
	p.MustStaff(t, "officer", "district_officer", "321202")
	a := testkit.Applicants[0] // 张三: 张* on the public lists
	u := p.MustApplicant(t, a)
	ctx := context.Background()
	clerk, office := p.NewClient(t), p.NewClient(t)
	clerk.Login("clerk1")
	office.Login("officer")

	// Two households went on notice before: 王芳's family moved to Taizhou
	// together (the first class, like the applicant's, and ahead of it on
	// the list), 李强 lives alone (the general class).
	fangID := testkit.IDNumber("32128319880308002")
	others := []struct {
		name string
		form map[string]any
	}{
		{"王芳", map[string]any{"family_migrated": true, "address": "海陵区春晖路66号", "income_monthly": 3100, "members": []any{
			map[string]any{"relation": "spouse", "name": "刘洋", "id_number": fangID, "income_monthly": 1500}}}},
		{"李强", map[string]any{"hukou_local": true, "residence_permit_no": nil, "income_monthly": 2100, "address": "海陵区鼓楼南路9号"}},
	}
	for _, o := range others {
		_, c := p.NewApplicant(t, o.name)
		r := c.Do("POST", "/api/v1/cases", map[string]any{"service": housing.ServiceID, "form": housingForm(t, p, o.form)})
		if r.Status != http.StatusCreated {
			t.Fatalf("%s's application: %d %s", o.name, r.Status, r.Body)
		}
		no := r.JSON(t)["case_no"].(string)
		c.AttachAll(no)
		housingFire(t, c, no, "submit", nil)
		housingFire(t, clerk, no, "accept", nil)
		housingFire(t, office, no, "approve_review", nil)
	}

	b := newBrowser(t, js)
	t.Logf("screenshots: %s", b.shots)
	spouseID := testkit.IDNumber("32120219910506002")
	badSpouseID := testkit.BadIDNumber(spouseID)
	const spouseName, address = "李梅", "海陵区东进东路18号3幢201室"

	// 1. The applicant, on a phone, logs in and starts from the home page.
	app := b.person("housing-applicant", phone)
	app.housingLogin(p, a)
	app.visit(p.URL + "/")
	app.submit("start housing security", `main .card a[href="/cases/new?service=housing-security"]`)

	// Page 1: the kind and where the household lives; a Taizhou hukou.
	app.sees(".step", "第1步，共6步", "申请什么、住在哪里")
	app.sees("main h1", "住房保障")
	app.inspect("application")
	app.do("public rental", chromedp.Click(chromedp.CSS("#kind-public_rental")))
	app.do("choose the street", setSelect("#field-division", "321202001"))
	app.typeInto("#field-address", address)
	app.do("a Taizhou hukou", chromedp.Click(chromedp.CSS("#hukou_local-true")))
	app.submit("save the application page", `main form button[type=submit]`)
	no := housingCaseNoRE.FindString(app.location())
	if no == "" {
		t.Fatalf("no case number in %s", app.location())
	}
	caseURL := p.URL + "/cases/" + no

	// Page 2: the household, a task list; the spouse with a mistyped ID
	// number first.
	app.sees(".step", "第2步，共6步", "共同生活的家庭成员")
	app.sees("main .empty", "只有您一个人申请")
	app.submit("add a member", `main a.button[href*="item=new"]`)
	app.sees("main h2", "添加一位家庭成员")
	app.housingMember(spouseName, badSpouseID, "1800")
	app.submit("add the spouse with a typo", `main form button[type=submit]`)
	app.housingIDError(badSpouseID, spouseName, "1800")
	app.inspect("household-error")
	app.typeInto("#field-id_number", spouseID)
	app.submit("add the spouse", `main form button[type=submit]`)
	app.sees("main .entries", "家庭成员 1", spouseName, "配偶", spouseID)
	app.inspect("household")

	mine := p.NewClient(t) // the applicant's own API client, for what is not walked here
	mine.LoginAs(u)
	if js {
		app.submit("continue", `main p.actions a.button:not(.secondary)`)

		// Page 3: income and insurance.
		app.sees(".step", "第3步，共6步", "收入和社保")
		app.inspect("income")
		app.typeInto("#field-income_monthly", "2400")
		app.typeInto("#field-insurance_months", "60")
		app.submit("save the income", `main form button[type=submit]`)

		// Page 4: no home in the city.
		app.sees(".step", "第4步，共6步", "在泰州的住房")
		app.inspect("home")
		app.do("no home", chromedp.Click(chromedp.CSS("#owns_home_in_city-false")))
		app.submit("save the home", `main form button[type=submit]`)

		// Page 5: the family moved together.
		app.sees(".step", "第5步，共6步", "优先轮候")
		app.inspect("priority")
		app.do("the family moved, no elderly, no disability", clickAll("#family_migrated-true", "#elderly-false", "#disabled-false")...)
		app.submit("save the priority", `main form button[type=submit]`)

		// Check the answers, and the rules applied to them before submitting.
		app.sees("main", "核对您的申请信息", "公共租赁住房（公租房）", "海陵区 城东街道", address, spouseName, spouseID, "配偶",
			"按您填写的信息预先核对的条件", "家庭人均月收入2,100元，低于2,800元的标准", "在泰州无住房")
		app.inspect("check-answers")

		// The materials (sent as the API does: the materials page is every
		// service's, walked in the other journeys); then submit on the case.
		mine.AttachAll(no)
		app.visit(caseURL)
		app.sees("#materials-title + .task-list", "已上传")
		app.submit("submit", `form[action$="/events/submit"] button[type=submit]`)
		app.sees(".panel-done", "申请已提交", no)
		app.sees(".tag", "已提交")
		app.inspect("submitted")
	} else {
		// The pages after it are the same plain forms: the rest of the
		// application as the API sends it.
		form := housingForm(t, p, map[string]any{"hukou_local": true, "residence_permit_no": nil, "address": address,
			"income_monthly": 2400, "insurance_months": 60, "family_migrated": true,
			"members": []any{map[string]any{"relation": "spouse", "name": spouseName, "id_number": spouseID, "income_monthly": 1800}}})
		if r := mine.Do("PUT", "/api/v1/cases/"+no+"/form", map[string]any{"form": form}); r.Status != http.StatusOK {
			t.Fatalf("the rest of the application: %d %s", r.Status, r.Body)
		}
		mine.AttachAll(no)
		housingFire(t, mine, no, "submit", nil)
	}

	// The street accepts, the district approves: on notice until 7 December.
	housingFire(t, clerk, no, "accept", nil)
	res := housingFire(t, office, no, "approve_review", nil)["result"].(map[string]any)
	ref, _ := res["notice_ref"].(string)
	if ref == "" || res["notice_last_day"] != "2026-12-07" {
		t.Fatalf("on notice: %v", res)
	}

	// 2. Anyone, without an account: the notice lists the household as 张*,
	// with no name, ID number, income or address of anyone.
	secrets := []string{a.Name, a.IDNumber, spouseName, spouseID, "2400", "2,400", "1800", "1,800", "东进东路", "王芳", "刘洋", fangID,
		"春晖路", "3100", "李强", "鼓楼南路", "2100", no}
	anyone := b.person("housing-public", phone)
	anyone.visit(p.URL + "/notices")
	anyone.sees("main h1", "住房保障公示")
	anyone.sees("#notice-"+ref, "张*", "公共租赁住房（公租房）", "海陵区 城东街道", "2人", "2026-12-07", ref)
	anyone.sees("main", "王*", "李*")
	anyone.housingPublic("the public notice", secrets)
	anyone.inspect("notices")
	anyone.submit("open the household's notice", `#notice-`+ref+` a[href="/notices/`+ref+`"]`)
	anyone.sees("main h1", "公示详情和异议")
	anyone.sees("main dl.summary", "张*", "公共租赁住房（公租房）", "2人", ref)
	anyone.housingPublic("the household's notice", secrets)
	anyone.inspect("notice")

	// A reason too short: shown beside its field, what was typed kept.
	const contact, short = "13912345678", "收入不实"
	reason := "该户在海陵区有一套住房，申报时没有如实填写。"
	anyone.typeInto("#field-contact", contact)
	anyone.typeInto("#field-reason", short)
	anyone.submit("object with a short reason", `main form button[type=submit]`)
	anyone.sees("#error-reason", "异议内容至少需要10个字")
	anyone.sees(".error-summary", "异议内容")
	if got := anyone.attr(`.error-summary a[href="#field-reason"]`, "href"); got != "#field-reason" {
		t.Errorf("the error summary does not link to the reason: %q", got)
	}
	if got := anyone.value("#field-reason"); got != short {
		t.Errorf("the reason typed was not kept: %q, want %q", got, short)
	}
	if got := anyone.value("#field-contact"); got != contact {
		t.Errorf("the contact typed was not kept: %q, want %q", got, contact)
	}
	if got := anyone.attr("#field-reason", "aria-describedby"); !strings.Contains(got, "error-reason") {
		t.Errorf("the error is not tied to the reason: aria-describedby=%q", got)
	}
	anyone.inspect("notice-error")
	anyone.typeInto("#field-reason", reason)
	anyone.submit("object", `main form button[type=submit]`)
	anyone.sees(".panel-done", "异议已收到")
	if anyone.shown("#field-reason") {
		t.Error("the objection form still shows after the objection was received")
	}
	anyone.housingPublic("the objection's confirmation", append(secrets, contact, reason))
	anyone.inspect("objected")
	if !js {
		if st := office.Get("/api/v1/cases/" + no).JSON(t)["state"]; st != "objection_review" {
			t.Errorf("after the objection on the page: %v", st)
		}
		return
	}

	// 3. The district officer, on a desktop: the case is held; the
	// objections page shows the contact and the reason; dismissed there.
	officer := b.person("housing-officer", desktop)
	officer.login(p, "officer")
	officer.visit(caseURL)
	officer.sees(".tag", "公示异议核查中")
	officer.sees("main", "1件，其中1件待核查")
	officer.submit("open the objections", `main a[href="/housing/cases/`+no+`/objections"]`)
	officer.sees("main h1", "公示异议")
	officer.sees("main .objection-open", "异议 1", "待核查")
	officer.sees(".objection-contact", contact)
	officer.sees(".objection-reason", reason)
	officer.inspect("objections")
	const decision = "经核查，该户名下在泰州无住房，收入属实。"
	officer.do("not upheld", chromedp.Click(chromedp.CSS("#resolve_objection-upheld-no")))
	officer.typeInto("#resolve_objection-reason", decision)
	officer.submit("decide", `form[action="/cases/`+no+`/events/resolve_objection"] button[type=submit]`)
	if got := officer.location(); !strings.HasSuffix(strings.SplitN(got, "?", 2)[0], "/cases/"+no) {
		t.Errorf("after the decision the officer is at %s, not the case", got)
	}
	officer.sees(".tag", "公示中")
	officer.sees("main", "异议不成立")
	officer.inspect("objection-dismissed")
	officer.visit(p.URL + "/housing/cases/" + no + "/objections")
	officer.sees("main .objection", "不成立", decision)
	if officer.shown(`form[action$="/events/resolve_objection"]`) {
		t.Error("the decision form still shows with no objection open")
	}
	officer.inspect("objections-decided")

	// 4. The notice ends (Tuesday 8 December): the households join the
	// waiting list, 王芳's (of the same class) first. The officer makes a
	// draw of two units (API): the list frozen, its Merkle root published
	// with the commitment to the seed.
	p.Clock.Advance(8 * 24 * time.Hour)
	if _, err := p.Engine.RunDueTimers(ctx); err != nil {
		t.Fatal(err)
	}
	office = p.NewClient(t)
	office.Login("officer")
	seed := strings.Repeat("d1ce", 12)
	commitment := lottery.Commitment(seed)
	r := office.Do("POST", "/api/v1/draws", map[string]any{"district": "321202", "kind": "public_rental",
		"units":      []map[string]string{{"code": "HL-GZF-3-201"}, {"code": "HL-GZF-3-202"}},
		"commitment": commitment, "beacon": "中国福利彩票双色球2026141期开奖号码"})
	if r.Status != http.StatusCreated {
		t.Fatalf("create the draw: %d %s", r.Status, r.Body)
	}
	var d lottery.Draw
	if err := json.Unmarshal(r.Body, &d); err != nil || len(d.Participants) != 3 {
		t.Fatalf("the draw: %v %s", err, r.Body)
	}
	drawURL := p.URL + "/draws/" + strconv.FormatInt(d.ID, 10)

	// The household's case holds its ticket and inclusion proof.
	res, _ = office.Get("/api/v1/cases/" + no).JSON(t)["result"].(map[string]any)
	dr, _ := res["draw"].(map[string]any)
	if dr == nil || dr["merkle_root"] != d.MerkleRoot {
		t.Fatalf("the case holds no proof of the draw: %v", dr)
	}
	var proof []lottery.ProofStep
	pb, _ := json.Marshal(dr["proof"])
	if err := json.Unmarshal(pb, &proof); err != nil || len(proof) == 0 {
		t.Fatalf("the case's proof: %v %s", err, pb)
	}
	ticket, _ := dr["ticket"].(float64)
	if class, _ := dr["class"].(string); !lottery.VerifyProof(lottery.Participant{Ticket: int(ticket), Class: class}, proof, d.MerkleRoot) {
		t.Fatalf("the case's proof does not verify against the root %s", d.MerkleRoot)
	}

	// The applicant logs in again: the place on the list, and the ticket
	// and its proof to check against the published root.
	app.housingLogin(p, a)
	app.visit(caseURL)
	app.sees(".tag", "轮候中")
	app.sees(".waitlist-position", "排第2位，共3户")
	app.sees("main", "举家迁入泰州的家庭（优先）", "2026-12-08")
	// The proof is folded away (a <details>): the household opens it.
	app.sees("details.proof summary", "默克尔包含证明")
	app.do("open the proof", chromedp.Click(chromedp.CSS("details.proof summary")))
	page := app.text("main")
	var missing []string
	if !strings.Contains(page, d.MerkleRoot) {
		missing = append(missing, "the Merkle root "+d.MerkleRoot)
	}
	for i, s := range proof {
		if !strings.Contains(page, s.Hash) {
			missing = append(missing, fmt.Sprintf("proof step %d (%s) %s", i+1, s.Side, s.Hash))
		}
	}
	if len(missing) > 0 {
		t.Errorf("the waiting household's page does not show its draw (ticket %d): missing %s", int(ticket), strings.Join(missing, "; "))
	}
	app.inspect("waitlisted")

	// The draw's public page, on a phone, without a login: frozen, waiting
	// for the reveal; the participants by ticket and class, masked.
	visitor := b.person("housing-draw-visitor", phone)
	visitor.visit(drawURL)
	visitor.sees("main h1", "保障房摇号")
	visitor.sees("main dl.summary", "已冻结名单，等待揭晓", commitment, d.MerkleRoot, d.ParticipantsSHA256)
	visitor.sees("main table:last-of-type", "张*", "王*", "李*", "举家迁入泰州的家庭")
	visitor.housingPublic("the open draw", secrets)
	visitor.inspect("draw-open")
	visitor.phoneTables("draw-open")

	// Revealed (API): the seed matches the commitment; the two households
	// of the first class are offered the two units.
	const beacon = "03 07 12 19 25 31 + 09"
	r = office.Do("POST", "/api/v1/draws/"+strconv.FormatInt(d.ID, 10)+"/reveal", map[string]any{"seed": seed, "beacon_value": beacon})
	if r.Status != http.StatusOK {
		t.Fatalf("reveal: %d %s", r.Status, r.Body)
	}
	var rev lottery.Draw
	if err := json.Unmarshal(r.Body, &rev); err != nil || rev.Final == "" || len(rev.Offers) != 2 {
		t.Fatalf("the revealed draw: %v %s", err, r.Body)
	}
	visitor.visit(drawURL)
	visitor.sees("main dl.summary", "已揭晓", seed, beacon, rev.Final, commitment)
	visitor.sees("main", "配租结果", "HL-GZF-3-201", "HL-GZF-3-202")
	visitor.housingPublic("the revealed draw", secrets)
	visitor.inspect("draw-revealed")
	visitor.phoneTables("draw-revealed")

	app.visit(caseURL)
	app.sees(".tag", "已分配房源，待确认")
	app.sees("main .unit", "HL-GZF-3-20")
	app.inspect("offered")
}

// housingForm is the service's example form with changes (nil deletes).
func housingForm(t *testing.T, p *testkit.Portal, changes map[string]any) map[string]any {
	t.Helper()
	f := p.Example(t, housing.ServiceID)
	for k, v := range changes {
		if v == nil {
			delete(f, k)
		} else {
			f[k] = v
		}
	}
	return f
}

// housingFire fires an event through the API and returns the case.
func housingFire(t *testing.T, c *testkit.Client, no, event string, body any) map[string]any {
	t.Helper()
	r := c.Do("POST", "/api/v1/cases/"+no+"/events/"+event, body)
	if r.Status != http.StatusOK {
		t.Fatalf("%s %s: %d %s", no, event, r.Status, r.Body)
	}
	return r.JSON(t)
}

// housingLogin logs an applicant in through the login form.
func (pr *person) housingLogin(p *testkit.Portal, a testkit.Applicant) {
	pr.t.Helper()
	pr.visit(p.URL + "/login")
	pr.typeInto("#field-login", a.Mobile)
	pr.typeInto("#field-password", testkit.Password)
	pr.submit("log in", `main form button[type=submit]`)
	pr.sees("main h1", "我的办件")
}

// housingMember fills a household member's page in: a spouse.
func (pr *person) housingMember(name, id, income string) {
	pr.t.Helper()
	pr.do("a spouse", chromedp.Click(chromedp.CSS("#relation-spouse")))
	pr.typeInto("#field-name", name)
	pr.typeInto("#field-id_number", id)
	pr.typeInto("#field-income_monthly", income)
}

// housingIDError checks a member's page sent back for its ID number: the
// message beside the field and in the summary, linked and tied to it, and
// everything typed kept.
func (pr *person) housingIDError(id, name, income string) {
	pr.t.Helper()
	pr.sees("#error-id_number", "公民身份号码", "不正确")
	pr.sees(".error-summary", "公民身份号码")
	if got := pr.attr(`.error-summary a[href="#field-id_number"]`, "href"); got != "#field-id_number" {
		pr.t.Errorf("the error summary does not link to the field: %q", got)
	}
	if got := pr.attr("#field-id_number", "aria-describedby"); !strings.Contains(got, "error-id_number") {
		pr.t.Errorf("the error is not tied to the field: aria-describedby=%q", got)
	}
	for css, want := range map[string]string{"#field-id_number": id, "#field-name": name, "#field-income_monthly": income} {
		if got := pr.value(css); got != want {
			pr.t.Errorf("%s typed was not kept: %q, want %q", css, got, want)
		}
	}
	if !pr.checked("#relation-spouse") {
		pr.t.Error("the relation chosen was not kept")
	}
}

// hexRunRE matches the hashes and references of the public pages (hex
// digits may spell any number).
var hexRunRE = regexp.MustCompile(`[0-9a-f]{20,}`)

// housingPublic fails if the page's main text, its hashes and references
// left out, shows one of the secrets.
func (pr *person) housingPublic(what string, secrets []string) {
	pr.t.Helper()
	text := hexRunRE.ReplaceAllString(pr.text("main"), "")
	for _, s := range secrets {
		if strings.Contains(text, s) {
			pr.t.Errorf("%s: %s shows %q:\n%s", pr.name, what, s, text)
		}
	}
}
