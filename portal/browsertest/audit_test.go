package browsertest

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/testkit"
)

// TestAuditJourney walks the supervisors' audit view in a real browser,
// with JavaScript and without: the city's supervisor on a desktop reads
// the trail (people by name, role and office; actions in Chinese), filters
// it by case and action, meets an error beside a field with what they
// typed kept, pages to older entries, checks the chain and reads the
// result with its time; a district's supervisor on a phone sees their
// district only and is offered no check; the page reads in English too.
// With JavaScript on, every page is audited with axe-core; screenshots of
// each step at phone and desktop size.
func TestAuditJourney(t *testing.T) { withAndWithoutJS(t, auditJourney) }

func auditJourney(t *testing.T, js bool) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	p.MustStaff(t, "clerk1", "street_clerk", "321202001")
	p.MustStaff(t, "gaogangclerk", "street_clerk", "321203001")
	p.MustStaff(t, "sup", "supervisor", "321200")
	p.MustStaff(t, "hailingsup", "supervisor", "321202")

	// A case in 城东街道 (海陵区) accepted by its clerk, one in 高港区
	// accepted by its own; then 60 reads of files in 城东街道, so the
	// trail has more than a page.
	mk := func(applicant testkit.Applicant, clerk string, form map[string]string) string {
		t.Helper()
		p.MustApplicant(t, applicant)
		app := p.NewClient(t)
		app.Login(applicant.Mobile)
		r := app.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": form})
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		no := r.JSON(t)["case_no"].(string)
		app.AttachAll(no)
		for _, step := range []struct {
			c     *testkit.Client
			event string
		}{{app, "submit"}, {nil, "accept"}} {
			c := step.c
			if c == nil {
				c = p.NewClient(t)
				c.Login(clerk)
			}
			if r := c.Do("POST", "/api/v1/cases/"+no+"/events/"+step.event, map[string]any{}); r.Status != http.StatusOK {
				t.Fatalf("%s %s: %d %s", no, step.event, r.Status, r.Body)
			}
		}
		return no
	}
	no := mk(testkit.Applicants[0], "clerk1", testkit.ResidenceForm())
	other := mk(testkit.Applicants[1], "gaogangclerk", testkit.ResidenceForm("division", "321203001", "address", "高港区口岸街道某路1号"))
	clerk1 := "user:" + strconv.FormatInt(p.MustUserID(t, "clerk1"), 10)
	for range 60 {
		e := portal.AuditEntry{Actor: clerk1, Role: "street_clerk", Division: "321202001", Action: "material.read",
			Object: "case:" + no, Result: audit.ResultOK}
		if err := p.Audit.Record(context.Background(), p.DB, e); err != nil {
			t.Fatal(err)
		}
	}
	accepted := p.Catalog.L("zh-CN").T("residence-permit.event.accept")

	b := newBrowser(t, js)
	t.Logf("screenshots: %s", b.shots)

	// The city's supervisor, on a desktop: the trail, newest first.
	sup := b.person("supervisor", desktop)
	sup.login(p, "sup")
	sup.submit("open the audit trail", `.site-nav a[href="/audit"]`)
	sup.sees("main h1", "审计日志")
	sup.sees("table.audit-view", "测试 clerk1 · 街道（乡镇）窗口 · 城东街道", "查看材料")
	sup.sees("#verify", "尚未校验")
	sup.look("audit-view")

	// Filter by the case and an action: its acceptance only.
	sup.typeInto("#field-case_no", no)
	sup.do("choose the action", setSelect("#field-action", "case.accept"))
	sup.submit("filter", `form.filters button[type=submit]`)
	sup.sees("table.audit-view tbody", accepted, no)
	if rows := sup.text("table.audit-view tbody"); strings.Count(rows, no) != 1 || strings.Contains(rows, other) {
		t.Errorf("the filter by case and action shows:\n%s", rows)
	}
	sup.look("audit-filtered")

	// Dates the wrong way round: the error beside the field, kept as typed.
	sup.visit(p.URL + "/audit")
	sup.do("from", setDate("#field-from", "2026-12-02"))
	sup.do("to", setDate("#field-to", "2026-12-01"))
	sup.typeInto("#field-person", "clerk1")
	sup.submit("filter", `form.filters button[type=submit]`)
	sup.sees("#error-to", "截止日期不能早于起始日期")
	sup.sees(".error-summary", "截止日期不能早于起始日期")
	if got := sup.value("#field-person"); got != "clerk1" {
		t.Errorf("the person typed was not kept: %q", got)
	}
	if got := sup.attr("#field-to", "aria-describedby"); !strings.Contains(got, "error-to") {
		t.Errorf("the error is not tied to the field: aria-describedby=%q", got)
	}
	sup.look("audit-filter-error")

	// Older entries: the next page, by its cursor.
	sup.visit(p.URL + "/audit?person=clerk1")
	sup.submit("older entries", `a[rel=next]`)
	if loc := sup.location(); !strings.Contains(loc, "before=") {
		t.Errorf("the older page's address has no cursor: %s", loc)
	}
	sup.sees("table.audit-view", "测试 clerk1")
	sup.look("audit-older")

	// Check the chain: the result with the time it ran.
	sup.visit(p.URL + "/audit")
	sup.submit("check the chain", `#verify button[type=submit]`)
	sup.sees(".notice", "已校验审计链")
	sup.sees("#verify", "审计链完整", p.Clock.Now().In(p.Engine.Calendar.Zone).Format("2006-01-02"), "条记录")
	sup.look("audit-verified")

	// The district's supervisor, on a phone: their district only, the
	// check's result but no button.
	dist := b.person("district-supervisor", phone)
	dist.login(p, "hailingsup")
	dist.visit(p.URL + "/audit")
	dist.sees("main", "审计链完整", no)
	if main := dist.text("main"); strings.Contains(main, other) || strings.Contains(main, "立即校验") {
		t.Errorf("the 海陵 supervisor sees another district's case or the check button:\n%s", main)
	}
	dist.look("audit-district")

	// In English.
	dist.submit("switch to English", `.site-nav a[lang="en"]`)
	dist.sees("main h1", "Audit trail")
	dist.sees("table.audit-view", "Street or town counter", "Opened a file")
	dist.look("audit-english")
}
