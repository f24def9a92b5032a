package browsertest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"tzportal/portal/testkit"
)

// TestDeskJourney: a clerk's day at the desk, with JavaScript and without.
// At a desktop, clerk1 finds a case by the last four digits of the
// applicant's mobile number, saves a filter, claims the case from its page,
// reaches its actions from the skip link by keyboard (with JavaScript: the
// next Tab lands in the actions) and accepts it "and opens the next one".
// On a phone, clerk2 sees the first case is clerk1's (no decisions
// offered), and transfers the next one to the right street. Every page is
// audited with axe-core and walked by keyboard (inspect).
func TestDeskJourney(t *testing.T) { withAndWithoutJS(t, deskJourney) }

func deskJourney(t *testing.T, js bool) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	p.MustStaff(t, "clerk1", "street_clerk", "321202001")
	p.MustStaff(t, "clerk2", "street_clerk", "321202001")
	nos, mobiles := submittedPermits(t, p, 2)

	b := newBrowser(t, js)
	t.Logf("screenshots: %s", b.shots)
	clerk := b.person("clerk1", desktop)
	clerk.login(p, "clerk1")
	clerk.sees("main h1", "待办工作台")
	clerk.sees("table.cases", "经办人", "未认领", nos[0], nos[1])
	clerk.inspect("desk-worklist")

	// Find a case by the last four digits of the applicant's mobile.
	tail := mobiles[0][len(mobiles[0])-4:]
	clerk.typeInto("#field-q", tail)
	clerk.submit("search", `form.filters button[type=submit]`)
	clerk.sees("table.cases", nos[0])
	if strings.Contains(clerk.text("main"), nos[1]) {
		t.Errorf("searching %s also found %s", tail, nos[1])
	}
	clerk.look("desk-search")

	// Save "unclaimed" as a filter of one's own.
	clerk.visit(p.URL + "/cases?unclaimed=1")
	clerk.typeInto("#field-filter_name", "未认领的")
	clerk.submit("save the filter", `.saved-filters form[action="/cases/filters"] button`)
	clerk.sees(".saved-filters", "未认领的")
	clerk.look("desk-saved-filter")

	// Claim the first case; the desk panel says it is theirs.
	clerk.visit(p.URL + "/cases/" + nos[0])
	clerk.submit("claim", `form[action$="/claim"] button`)
	clerk.sees("#desk", "测试 clerk1", "（我）")
	clerk.inspect("desk-case-claimed")
	if js {
		// Keyboard: the skip link, then Tab: the first of the case's actions.
		clerk.do("skip to the actions", chromedp.Focus(chromedp.CSS(".skip-actions a")), chromedp.KeyEvent("\r"), chromedp.KeyEvent("\t"))
		in := read(clerk, "focus", chromedp.Evaluate[bool](`document.activeElement.closest('.actions-section') !== null`))
		if !in {
			t.Errorf("after the skip link, Tab does not reach the case's actions")
		}
	}
	// Accept, and open the next case.
	clerk.submit("accept and open the next one", `form[action$="/events/accept"] button[name="_next"]`)
	if loc := clerk.location(); !strings.HasSuffix(loc, "/cases/"+nos[1]+"?prev="+nos[0]) {
		t.Errorf("accept and open the next one: at %s", loc)
	}
	clerk.sees("main", "办件 "+nos[0]+" 已办理")
	clerk.look("desk-next-case")

	// On a phone, another clerk of the street.
	other := b.person("clerk2", phone)
	other.login(p, "clerk2")
	other.visit(p.URL + "/cases/" + nos[0])
	other.sees("#desk", "此办件由测试 clerk1办理")
	if strings.Contains(other.text("main"), "审核通过") {
		t.Errorf("clerk2 is offered clerk1's decisions")
	}
	other.inspect("desk-held-phone")
	other.visit(p.URL + "/cases/" + nos[1])
	other.do("choose the street", setSelect("#transfer-division", "321202002"))
	other.typeInto("#transfer-reason", "申请人居住在城西街道辖区")
	other.submit("transfer", `form[action$="/events/transfer"] button[type=submit]:not([name])`)
	other.sees("main", "已移送", nos[1])
	if !strings.Contains(other.location(), "/cases?done=transfer") {
		t.Errorf("after a transfer: at %s", other.location())
	}
	other.look("desk-transferred-phone")
}

// submittedPermits hands in n residence-permit applications of new
// applicants at 321202001 and returns their case numbers and the
// applicants' mobile numbers.
func submittedPermits(t *testing.T, p *testkit.Portal, n int) (nos, mobiles []string) {
	t.Helper()
	for i := range n {
		u, app := p.NewApplicant(t, "申请人")
		form := testkit.ResidenceForm("address", fmt.Sprintf("海陵区东进东路%d号", i+1))
		r := app.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": form})
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		no := r.JSON(t)["case_no"].(string)
		app.AttachAll(no)
		if r := app.Do("POST", "/api/v1/cases/"+no+"/events/submit", map[string]any{}); r.Status != http.StatusOK {
			t.Fatalf("submit %s: %d %s", no, r.Status, r.Body)
		}
		nos, mobiles = append(nos, no), append(mobiles, u.Mobile)
	}
	return nos, mobiles
}
