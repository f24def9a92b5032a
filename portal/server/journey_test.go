package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"tzportal/portal/audit"
	"tzportal/portal/testkit"
)

// journey sets up a portal with staff in two streets of 海陵区, a district
// officer, a city supervisor and two applicants.
type journey struct {
	p                 *testkit.Portal
	alice, bob        *testkit.Client // applicants
	clerk, clerk2     *testkit.Client // street clerks of 城东街道
	otherClerk        *testkit.Client // street clerk of 城西街道
	officer, sup      *testkit.Client
	aliceID, clerk1ID int64
}

func newJourney(t *testing.T, b testkit.Backend) *journey {
	t.Helper()
	p := testkit.Start(t, b, nil)
	j := &journey{p: p}
	j.aliceID = p.MustApplicant(t, testkit.Applicants[0]).ID
	p.MustApplicant(t, testkit.Applicants[1])
	j.clerk1ID = p.MustStaff(t, "clerk1", "street_clerk", "321202001").ID
	p.MustStaff(t, "clerk2", "street_clerk", "321202001")
	p.MustStaff(t, "westclerk", "street_clerk", "321202002")
	p.MustStaff(t, "officer", "district_officer", "321202")
	p.MustStaff(t, "sup", "supervisor", "321200")
	login := func(l string) *testkit.Client { c := p.NewClient(t); c.Login(l); return c }
	j.alice, j.bob = login(testkit.Applicants[0].Mobile), login(testkit.Applicants[1].IDNumber)
	j.clerk, j.clerk2, j.otherClerk = login("clerk1"), login("clerk2"), login("westclerk")
	j.officer, j.sup = login("officer"), login("sup")
	return j
}

// create drafts a residence permit application with form, and uploads
// every file its checklist needs; it returns the case number.
func (j *journey) create(t *testing.T, c *testkit.Client, form map[string]string) string {
	t.Helper()
	r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": form})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if m["state"] != "draft" || m["version"] != float64(1) {
		t.Fatalf("new case: %v", m)
	}
	no := m["case_no"].(string)
	// The checklist's materials, as an applicant uploads them before
	// handing the case in (submit needs the key items, accept and approve
	// all of them).
	c.AttachAll(no)
	return no
}

func fire(t *testing.T, c *testkit.Client, no, event string, body any, want int) map[string]any {
	t.Helper()
	r := c.Do("POST", "/api/v1/cases/"+no+"/events/"+event, body)
	if r.Status != want {
		t.Fatalf("%s %s: got %d, want %d: %s", no, event, r.Status, want, r.Body)
	}
	return r.JSON(t)
}

func TestResidencePermitJourney(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := j.create(t, j.alice, testkit.ResidenceForm())
		if !strings.HasPrefix(no, "TZRP20261130") || len(no) != 18 {
			t.Errorf("case number %q: want TZRP + yyyymmdd (China time) + 6 digits", no)
		}
		m := fire(t, j.alice, no, "submit", nil, 200)
		if m["state"] != "submitted" {
			t.Fatalf("after submit: %v", m["state"])
		}
		due := m["due"].(map[string]any)
		if due["working_days"] != true || due["remaining"] != float64(3) || due["last_day"] != "2026-12-02" {
			t.Errorf("submitted countdown: %v (want 2 working days after Monday: until Wednesday 2026-12-02, 3 counting today)", due)
		}

		// The clerk finds it in the worklist of their street.
		list := j.clerk.Do("GET", "/api/v1/cases", nil).JSON(t)
		if items := list["items"].([]any); len(items) != 1 || items[0].(map[string]any)["case_no"] != no {
			t.Fatalf("worklist of 城东街道: %v", list)
		}

		// Correction round trip: all missing items told at once.
		fire(t, j.clerk, no, "request_correction", map[string]any{"reason": "缺少材料"}, 422)
		m = fire(t, j.clerk, no, "request_correction", map[string]any{
			"reason": "请补充材料", "items": []string{"address_proof", "房东身份证复印件"}}, 200)
		if m["state"] != "correction" {
			t.Fatalf("after request_correction: %v", m["state"])
		}
		am := j.alice.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)
		corr, _ := am["correction"].(map[string]any)
		if corr == nil || fmt.Sprint(corr["items"]) != "[address_proof 房东身份证复印件]" || am["editable"] != true {
			t.Fatalf("applicant's view of the correction: %v", am)
		}
		r := j.alice.Do("PUT", "/api/v1/cases/"+no+"/form", map[string]any{
			"form": testkit.ResidenceForm("address", "海陵区东进东路18号3幢201室（已补正）"), "version": am["version"]})
		if r.Status != 200 {
			t.Fatalf("edit in correction: %d %s", r.Status, r.Body)
		}
		fire(t, j.alice, no, "submit", nil, 200)

		fire(t, j.clerk, no, "accept", nil, 200)
		m = fire(t, j.clerk, no, "approve", nil, 200)
		res := m["result"].(map[string]any)
		if m["state"] != "approved" || !strings.HasPrefix(fmt.Sprint(res["permit_no"]), "JZ3212022026") ||
			res["valid_from"] != "2026-11-30" || res["valid_until"] != "2027-11-29" {
			t.Fatalf("approved case: %v", m)
		}
		am = j.alice.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)
		if am["result"].(map[string]any)["permit_no"] != res["permit_no"] {
			t.Errorf("the applicant does not see the permit number: %v", am["result"])
		}
		var events []string
		for _, e := range am["timeline"].([]any) {
			events = append(events, e.(map[string]any)["event"].(string))
		}
		if got := strings.Join(events, ","); got != "create,submit,request_correction,edit,submit,accept,approve" {
			t.Errorf("timeline: %s", got)
		}

		// Every transition is in the supervisor's audit view, and the chain holds.
		au := j.sup.Do("GET", "/api/v1/audit?case_no="+no, nil)
		if au.Status != 200 {
			t.Fatalf("supervisor audit: %d %s", au.Status, au.Body)
		}
		var actions []string
		for _, e := range au.JSON(t)["items"].([]any) {
			actions = append(actions, e.(map[string]any)["action"].(string))
		}
		// The four files of the checklist (id_card, photo, address_proof,
		// and basis_proof for employment), uploaded by create, are entries
		// of the case too.
		uploads := strings.Repeat("material.upload,", 4)
		if got := strings.Join(actions, ","); got != "case.create,"+uploads+"case.submit,case.request_correction,case.edit,case.submit,case.accept,case.approve" {
			t.Errorf("audit of the case: %s", got)
		}
		if n, err := j.p.Audit.Verify(context.Background(), j.p.DB); err != nil || n == 0 {
			t.Errorf("audit verify: %d entries, %v", n, err)
		}
		if got := j.p.Count(t, "SELECT count(*) FROM case_history h JOIN cases c ON c.id = h.case_id WHERE c.case_no = $1", no); got != 7 {
			t.Errorf("history rows: %d, want 7 (= version)", got)
		}
	})
}

func TestReachAndPermissions(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := j.create(t, j.alice, testkit.ResidenceForm())
		fire(t, j.alice, no, "submit", nil, 200)
		missing := j.bob.Do("GET", "/api/v1/cases/TZRP20260101999999", nil)

		auditsBefore := j.p.Count(t, "SELECT count(*) FROM audit_log WHERE object = $1 AND result = 'denied'", "case:"+no)
		for name, c := range map[string]*testkit.Client{"another applicant": j.bob, "clerk of another street": j.otherClerk} {
			r := c.Do("GET", "/api/v1/cases/"+no, nil)
			if r.Status != 404 {
				t.Errorf("%s reads the case: %d", name, r.Status)
			}
			if strip(r.Text()) != strip(missing.Text()) {
				t.Errorf("%s: out-of-reach body differs from not-found body:\n%s\n%s", name, r.Body, missing.Body)
			}
			if r := c.Do("POST", "/api/v1/cases/"+no+"/events/accept", nil); r.Status != 404 {
				t.Errorf("%s fires accept: %d", name, r.Status)
			}
		}
		if got := j.p.Count(t, "SELECT count(*) FROM audit_log WHERE object = $1 AND result = 'denied'", "case:"+no); got != auditsBefore+4 {
			t.Errorf("denied accesses audited: %d, want %d", got-auditsBefore, 4)
		}
		if got := j.p.Count(t, "SELECT count(*) FROM audit_log WHERE object = $1 AND result = 'denied' AND actor = $2", "case:"+no,
			fmt.Sprintf("user:%d", j.p.MustUserID(t, "westclerk"))); got != 2 {
			t.Errorf("the other street's clerk's attempts in the audit: %d, want 2", got)
		}

		// The district officer and the city supervisor reach it; the
		// supervisor reads but cannot act; applicants cannot read audits.
		if r := j.officer.Do("GET", "/api/v1/cases/"+no, nil); r.Status != 200 {
			t.Errorf("district officer reads: %d", r.Status)
		}
		sr := j.sup.Do("GET", "/api/v1/cases/"+no, nil)
		if sr.Status != 200 || fmt.Sprint(sr.JSON(t)["allowed_events"]) != "[]" {
			t.Errorf("supervisor reads: %d %v", sr.Status, sr.JSON(t)["allowed_events"])
		}
		fire(t, j.sup, no, "accept", nil, 403)
		fire(t, j.officer, no, "accept", nil, 403)
		if r := j.alice.Do("GET", "/api/v1/audit?case_no="+no, nil); r.Status != 404 {
			t.Errorf("applicant reads the audit: %d", r.Status)
		}
		if r := j.clerk.Do("GET", "/api/v1/audit?case_no="+no, nil); r.Status != 404 {
			t.Errorf("clerk reads the audit: %d", r.Status)
		}
		// An applicant cannot fire a clerk's event on their own case.
		fire(t, j.alice, no, "accept", nil, 403)
		// Lists are filtered the same way.
		if items := j.otherClerk.Do("GET", "/api/v1/cases", nil).JSON(t)["items"].([]any); len(items) != 0 {
			t.Errorf("other street's worklist shows %d cases", len(items))
		}
		if items := j.bob.Do("GET", "/api/v1/cases", nil).JSON(t)["items"].([]any); len(items) != 0 {
			t.Errorf("another applicant's list shows %d cases", len(items))
		}
		if items := j.sup.Do("GET", "/api/v1/cases", nil).JSON(t)["items"].([]any); len(items) != 1 {
			t.Errorf("city supervisor's list shows %d cases", len(items))
		}
	})
}

// A draft is the applicant's own until they submit it: staff neither list
// it (in any filter) nor open it (404, as a case out of reach, audited),
// nor a draft the applicant discarded; once submitted it is in the clerk's
// queue.
func TestDraftsAreTheApplicantsOwn(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := j.create(t, j.alice, testkit.ResidenceForm())
		missing := j.clerk.Do("GET", "/api/v1/cases/TZRP20260101999999", nil)
		for name, c := range map[string]*testkit.Client{"clerk": j.clerk, "officer": j.officer, "supervisor": j.sup} {
			for _, q := range []string{"", "?state=draft", "?state=all", "?state=draft,submitted"} {
				if items := c.Do("GET", "/api/v1/cases"+q, nil).JSON(t)["items"].([]any); len(items) != 0 {
					t.Errorf("%s's list %q shows %d drafts", name, q, len(items))
				}
			}
			if page := c.Get("/cases?state=all"); strings.Contains(page.Text(), no) {
				t.Errorf("%s's worklist page shows the draft", name)
			}
			r := c.Do("GET", "/api/v1/cases/"+no, nil)
			if r.Status != 404 || strip(r.Text()) != strip(missing.Text()) {
				t.Errorf("%s opens the draft: %d %s", name, r.Status, r.Body)
			}
		}
		fire(t, j.clerk, no, "accept", nil, 404)
		if got := j.p.Count(t, "SELECT count(*) FROM audit_log WHERE object = $1 AND result = 'denied'", "case:"+no); got != 4 {
			t.Errorf("denied reads of the draft audited: %d, want 4", got)
		}
		if r := j.alice.Do("GET", "/api/v1/cases/"+no, nil); r.Status != 200 {
			t.Errorf("the applicant opens her draft: %d", r.Status)
		}
		if page := j.clerk.Get("/cases"); strings.Contains(page.Text(), `value="draft"`) {
			t.Error("the clerk's state filter offers drafts")
		}

		// A draft given up before submitting stays the applicant's own.
		gone := j.create(t, j.bob, testkit.ResidenceForm())
		fire(t, j.bob, gone, "withdraw", nil, 409) // withdrawing is for what was handed in
		fire(t, j.bob, gone, "discard", nil, 200)
		for _, q := range []string{"?state=discarded", "?state=withdrawn", "?state=all"} {
			if items := j.sup.Do("GET", "/api/v1/cases"+q, nil).JSON(t)["items"].([]any); len(items) != 0 {
				t.Errorf("supervisor's list %q shows %d never-submitted cases", q, len(items))
			}
		}
		if r := j.clerk.Do("GET", "/api/v1/cases/"+gone, nil); r.Status != 404 {
			t.Errorf("the clerk opens a discarded draft: %d %s", r.Status, r.Body)
		}
		if m := j.bob.Do("GET", "/api/v1/cases/"+gone, nil).JSON(t); m["state"] != "discarded" {
			t.Errorf("the applicant's discarded draft: %v", m["state"])
		}

		fire(t, j.alice, no, "submit", nil, 200)
		items := j.clerk.Do("GET", "/api/v1/cases", nil).JSON(t)["items"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["case_no"] != no {
			t.Errorf("after submitting, the clerk's queue: %v", items)
		}
		if r := j.clerk.Do("GET", "/api/v1/cases/"+no, nil); r.Status != 200 {
			t.Errorf("after submitting, the clerk opens the case: %d", r.Status)
		}
	})
}

// strip removes the request id, the one part of an error body that differs.
func strip(s string) string {
	if i := strings.Index(s, `"request_id"`); i >= 0 {
		return s[:i]
	}
	return s
}

func TestConcurrentApprovalsOneWins(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := j.create(t, j.alice, testkit.ResidenceForm())
		fire(t, j.alice, no, "submit", nil, 200)
		m := fire(t, j.clerk, no, "accept", nil, 200)
		version := m["version"]
		historyBefore := j.p.Count(t, "SELECT count(*) FROM case_history")
		auditBefore := j.p.Count(t, "SELECT count(*) FROM audit_log WHERE action = 'case.approve'")

		var wg sync.WaitGroup
		codes := make([]int, 8)
		for i := range codes {
			c := j.clerk
			if i%2 == 1 {
				c = j.clerk2
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = c.Do("POST", "/api/v1/cases/"+no+"/events/approve", map[string]any{"version": version}).Status
			}()
		}
		wg.Wait()
		ok, conflict := 0, 0
		for _, c := range codes {
			switch c {
			case 200:
				ok++
			case 409:
				conflict++
			}
		}
		if ok != 1 || conflict != len(codes)-1 {
			t.Fatalf("8 concurrent approvals of version %v: %v, want one 200 and the rest 409", version, codes)
		}
		if got := j.p.Count(t, "SELECT count(*) FROM case_history") - historyBefore; got != 1 {
			t.Errorf("history rows added: %d, want 1", got)
		}
		if got := j.p.Count(t, "SELECT count(*) FROM audit_log WHERE action = 'case.approve'") - auditBefore; got != 1 {
			t.Errorf("approve audit entries: %d, want 1", got)
		}
		if got := j.p.Count(t, "SELECT count(*) FROM counters WHERE name LIKE 'permit:%'"); got != 1 {
			t.Errorf("permit counters: %d", got)
		}
	})
}

func TestSubmitUnderSixMonthsWritesNothing(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		// Residence registered 2026-06-01: six months end on 2026-12-01, a day after "today".
		no := j.create(t, j.alice, testkit.ResidenceForm("resided_since", "2026-06-01"))
		rows := func() string {
			return fmt.Sprint(j.p.Count(t, "SELECT count(*) FROM case_history"), j.p.Count(t, "SELECT count(*) FROM audit_log"),
				j.p.Count(t, "SELECT version FROM cases WHERE case_no = $1", no), j.p.Count(t, "SELECT count(*) FROM jobs"))
		}
		before := rows()
		for _, lang := range []string{"zh-CN", "en"} {
			j.alice.Lang = lang
			r := j.alice.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil)
			m := r.JSON(t)
			if r.Status != 422 || m["rule"] != "min_residence" || !strings.Contains(fmt.Sprint(m["detail"]), "2026-12-01") {
				t.Errorf("%s: %d %v", lang, r.Status, m)
			}
		}
		if after := rows(); after != before {
			t.Errorf("a refused submit wrote something: history, audit, version, jobs %s → %s", before, after)
		}
		j.p.Clock.Advance(24 * time.Hour)
		if r := j.alice.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil); r.Status != 401 {
			t.Errorf("a day later the 12-hour session is over: %d %s", r.Status, r.Body)
		}
		j.alice.Login(testkit.Applicants[0].Mobile)
		fire(t, j.alice, no, "submit", nil, 200)
	})
}

func TestBadFieldNamedInBothLanguages(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	p.MustApplicant(t, testkit.Applicants[0])
	c := p.NewClient(t)
	c.Login(testkit.Applicants[0].Mobile)
	for lang, label := range map[string]string{"zh-CN": "联系电话", "en": "Contact phone"} {
		c.Lang = lang
		r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm("phone", "12345")})
		if r.Status != 422 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("%s: %d %s %s", lang, r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		errs := r.JSON(t)["errors"].([]any)
		if len(errs) != 1 {
			t.Fatalf("%s: errors %v", lang, errs)
		}
		e := errs[0].(map[string]any)
		if e["field"] != "phone" || !strings.Contains(e["message"].(string), label) {
			t.Errorf("%s: %v does not name the field as %q", lang, e, label)
		}
	}
	if n := p.Count(t, "SELECT count(*) FROM cases"); n != 0 {
		t.Errorf("a refused form wrote %d cases", n)
	}
	// Fields the form does not have (state, version…) cannot be set.
	r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm("state", "approved")})
	if r.Status != 422 || !strings.Contains(r.Text(), `"field":"state"`) {
		t.Errorf("mass assignment: %d %s", r.Status, r.Body)
	}
	r = c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "state": "approved", "form": testkit.ResidenceForm()})
	if r.Status != 422 {
		t.Errorf("mass assignment at the top: %d %s", r.Status, r.Body)
	}
}

func TestCSRFRequired(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	p.MustApplicant(t, testkit.Applicants[0])
	c := p.NewClient(t)
	c.Login(testkit.Applicants[0].Mobile)
	good := c.CSRF
	// A wrong token: the real one with its first character changed (not
	// "x"+good[1:], which is the real one whenever that starts with x).
	wrong := []byte(good)
	wrong[0] = map[bool]byte{true: 'y', false: 'x'}[wrong[0] == 'x']
	for name, token := range map[string]string{"missing": "", "wrong": string(wrong)} {
		c.CSRF = token
		r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
		if r.Status != 403 || r.JSON(t)["code"] != "forbidden" {
			t.Errorf("%s CSRF token: %d %s", name, r.Status, r.Body)
		}
		// An HTML form without the token is refused too.
		if r := c.Post("/cases", "service", "residence-permit"); r.Status != 403 {
			t.Errorf("%s: HTML form without token: %d", name, r.Status)
		}
	}
	if n := p.Count(t, "SELECT count(*) FROM cases"); n != 0 {
		t.Errorf("cases written without CSRF token: %d", n)
	}
	c.CSRF = good
	if r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()}); r.Status != 201 {
		t.Errorf("with the token: %d %s", r.Status, r.Body)
	}
}

func TestLockoutAfterFiveFailures(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.Start(t, b, nil)
		a := testkit.Applicants[0]
		p.MustApplicant(t, a)
		c := p.NewClient(t)
		unknown := c.Do("POST", "/api/v1/session", map[string]string{"login": "13999999999", "password": "Wrong-pass1"})
		for i := 0; i < 5; i++ {
			r := c.Do("POST", "/api/v1/session", map[string]string{"login": a.Mobile, "password": "Wrong-pass1"})
			if r.Status != 401 || strip(r.Text()) != strip(unknown.Text()) {
				t.Fatalf("failure %d: %d %s (must equal the unknown-account answer %s)", i+1, r.Status, r.Body, unknown.Body)
			}
		}
		locked := c.Do("POST", "/api/v1/session", map[string]string{"login": a.IDNumber, "password": testkit.Password})
		if locked.Status != 401 || strip(locked.Text()) != strip(unknown.Text()) {
			t.Fatalf("locked account with the right password: %d %s", locked.Status, locked.Body)
		}
		if got := p.Count(t, "SELECT count(*) FROM audit_log WHERE action = 'login' AND result = 'failed'"); got != 7 {
			t.Errorf("failed logins audited: %d, want 7", got)
		}
		if got := p.Count(t, "SELECT count(*) FROM audit_log WHERE action = 'login' AND detail LIKE '%locked%'"); got != 1 {
			t.Errorf("locked attempt audited with its reason: %d", got)
		}
		if got := p.Count(t, "SELECT count(*) FROM audit_log WHERE detail LIKE $1 OR detail LIKE $2", "%"+a.IDNumber+"%", "%"+a.Mobile+"%"); got != 0 {
			t.Errorf("the audit trail holds %d unmasked ID or mobile numbers", got)
		}
		if b.Redis {
			return // the lock's end is Redis's TTL; the in-process store shows the clock logic
		}
		p.Clock.Advance(16 * time.Minute)
		if r := c.Do("POST", "/api/v1/session", map[string]string{"login": a.IDNumber, "password": testkit.Password}); r.Status != 200 {
			t.Errorf("after the lock ends: %d %s", r.Status, r.Body)
		}
	})
}

func TestLogoutKillsTheSession(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.Start(t, b, nil)
		p.MustApplicant(t, testkit.Applicants[0])
		c := p.NewClient(t)
		c.Login(testkit.Applicants[0].Mobile)
		old := c.Cookie("tz_session")
		if r := c.Do("GET", "/api/v1/session", nil); r.Status != 200 || r.JSON(t)["csrf_token"] != c.CSRF {
			t.Fatalf("session: %d %s", r.Status, r.Body)
		}
		if r := c.Do("DELETE", "/api/v1/session", nil); r.Status != 204 {
			t.Fatalf("logout: %d %s", r.Status, r.Body)
		}
		c2 := p.NewClient(t)
		c2.SetCookie("tz_session", old)
		if r := c2.Do("GET", "/api/v1/session", nil); r.Status != 401 {
			t.Errorf("the old session cookie still works: %d", r.Status)
		}
		if r := c2.Get("/cases"); r.Status != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Errorf("HTML with the old cookie: %d %s", r.Status, r.Header.Get("Location"))
		}
	})
}

func TestLoginGivesANewSessionID(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	p.MustApplicant(t, testkit.Applicants[0])
	c := p.NewClient(t)
	c.Login(testkit.Applicants[0].Mobile)
	first := c.Cookie("tz_session")
	c.Login(testkit.Applicants[0].Mobile)
	if second := c.Cookie("tz_session"); second == first || len(second) < 43 {
		t.Errorf("second login kept the id or a short one: %q → %q", first, second)
	}
	c2 := p.NewClient(t)
	c2.SetCookie("tz_session", first)
	if r := c2.Do("GET", "/api/v1/session", nil); r.Status != 401 {
		t.Errorf("the session replaced at login still works: %d", r.Status)
	}
}

func TestIdempotentCreate(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	p.MustApplicant(t, testkit.Applicants[0])
	p.MustApplicant(t, testkit.Applicants[1])
	c := p.NewClient(t)
	c.Login(testkit.Applicants[0].Mobile)
	body := map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()}
	a := c.Do("POST", "/api/v1/cases", body, "Idempotency-Key", "k-1").JSON(t)
	b := c.Do("POST", "/api/v1/cases", body, "Idempotency-Key", "k-1").JSON(t)
	if a["case_no"] != b["case_no"] {
		t.Errorf("same key and body made two cases: %v %v", a["case_no"], b["case_no"])
	}
	if r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm("address", "另一个地址100号")},
		"Idempotency-Key", "k-1"); r.Status != 422 {
		t.Errorf("same key, other body: %d %s", r.Status, r.Body)
	}
	other := p.NewClient(t)
	other.Login(testkit.Applicants[1].Mobile)
	if o := other.Do("POST", "/api/v1/cases", body, "Idempotency-Key", "k-1").JSON(t); o["case_no"] == a["case_no"] {
		t.Errorf("another user's request with the same key got the first user's case")
	}
	if n := p.Count(t, "SELECT count(*) FROM cases"); n != 2 {
		t.Errorf("cases: %d, want 2", n)
	}
}

func TestAuditVerifyDetectsAnEditedRow(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := j.create(t, j.alice, testkit.ResidenceForm())
		fire(t, j.alice, no, "submit", nil, 200)
		ctx := context.Background()
		n, err := j.p.Audit.Verify(ctx, j.p.DB)
		if err != nil {
			t.Fatalf("intact chain: %v", err)
		}
		db := j.p.DB.SQL()
		// The portal itself cannot change the trail.
		if _, err := db.Exec("UPDATE audit_log SET result = 'ok' WHERE action = 'case.submit'"); err == nil {
			t.Fatal("UPDATE of audit_log was allowed")
		}
		if _, err := db.Exec("DELETE FROM audit_log"); err == nil {
			t.Fatal("DELETE from audit_log was allowed")
		}
		// Someone with direct access to the database removes the guard.
		if b.Postgres {
			_, err = db.Exec("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
		} else {
			_, err = db.Exec("DROP TRIGGER audit_log_no_update")
		}
		if err != nil {
			t.Fatal(err)
		}
		var seq int64
		if err := db.QueryRow("SELECT seq FROM audit_log WHERE action = 'case.submit'").Scan(&seq); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("UPDATE audit_log SET ip = '10.9.9.9' WHERE seq = $1", seq); err != nil {
			t.Fatal(err)
		}
		_, err = j.p.Audit.Verify(ctx, j.p.DB)
		var broken *audit.Broken
		if !errorsAs(err, &broken) || broken.Seq != seq {
			t.Fatalf("verify after editing entry %d of %d: %v", seq, n, err)
		}
	})
}

// A double click or a client retry sends the same request several times at
// once: all of them get the one case.
func TestConcurrentIdempotentCreates(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.Start(t, b, nil)
		p.MustApplicant(t, testkit.Applicants[0])
		c := p.NewClient(t)
		c.Login(testkit.Applicants[0].Mobile)
		body := map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()}
		var wg sync.WaitGroup
		nos := make([]string, 8)
		codes := make([]int, 8)
		for i := range nos {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := c.Do("POST", "/api/v1/cases", body, "Idempotency-Key", "double-click")
				codes[i] = r.Status
				if r.Status == 201 {
					nos[i], _ = r.JSON(t)["case_no"].(string)
				}
			}()
		}
		wg.Wait()
		for i := range nos {
			if codes[i] != 201 || nos[i] != nos[0] {
				t.Fatalf("8 concurrent creates with one key: %v %v", codes, nos)
			}
		}
		if n := p.Count(t, "SELECT count(*) FROM cases"); n != 1 {
			t.Errorf("cases: %d", n)
		}
	})
}

// The worklist pages with a cursor (no OFFSET): every case once, oldest first.
func TestWorklistPages(t *testing.T) {
	j := newJourney(t, testkit.Backend{})
	var want []string
	for i := 0; i < 7; i++ {
		_, app := j.p.NewApplicant(t, "申请人") // one open application each
		no := j.create(t, app, testkit.ResidenceForm("address", fmt.Sprintf("海陵区东进东路%d号", i+1)))
		fire(t, app, no, "submit", nil, 200)
		want = append(want, no)
	}
	var got []string
	path := "/api/v1/cases?limit=3"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		m := j.clerk.Do("GET", path, nil).JSON(t)
		for _, it := range m["items"].([]any) {
			got = append(got, it.(map[string]any)["case_no"].(string))
		}
		path = ""
		if next, ok := m["next"].(string); ok {
			path = "/api/v1/cases?limit=3&after=" + next
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pages: %v, want %v", got, want)
	}
	page := j.clerk.Get("/cases?limit=3")
	if !strings.Contains(page.Text(), "after=") {
		t.Error("the HTML worklist has no next-page link")
	}
	// Filters: a state, and overdue cases only.
	if items := j.clerk.Do("GET", "/api/v1/cases?state=reviewing", nil).JSON(t)["items"].([]any); len(items) != 0 {
		t.Errorf("state filter: %d reviewing cases", len(items))
	}
	if items := j.clerk.Do("GET", "/api/v1/cases?overdue=1", nil).JSON(t)["items"].([]any); len(items) != 0 {
		t.Errorf("nothing is overdue yet, got %d", len(items))
	}
	j.p.Clock.Advance(4 * 24 * time.Hour)
	j.clerk.Login("clerk1")
	if items := j.clerk.Do("GET", "/api/v1/cases?overdue=1", nil).JSON(t)["items"].([]any); len(items) != 7 {
		t.Errorf("after the 2-working-day limit, overdue: %d, want 7", len(items))
	}
}

// TestEveryServiceHasItsTexts: every message id the online services'
// workflows and forms need exists in both languages.
func TestEveryServiceHasItsTexts(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	if missing := p.MissingTexts(); len(missing) > 0 {
		t.Errorf("%d texts missing:\n%s", len(missing), strings.Join(missing, "\n"))
	}
	if missing := p.Catalog.Missing(); len(missing["zh-CN"])+len(missing["en"]) > 0 {
		t.Errorf("message ids in one language only: %v", missing)
	}
}
