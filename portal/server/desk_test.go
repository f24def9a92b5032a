package server_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/testkit"
)

// submittedCase is a residence permit application of c, handed in.
func (j *journey) submittedCase(t *testing.T, c *testkit.Client) string {
	t.Helper()
	no := j.create(t, c, testkit.ResidenceForm())
	fire(t, c, no, "submit", nil, http.StatusOK)
	return no
}

// holderOf is the case's holder as staff client c reads it ("" nobody).
func holderOf(t *testing.T, c *testkit.Client, no string) string {
	t.Helper()
	r := c.Get("/api/v1/cases/" + no)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", no, r.Status, r.Body)
	}
	h, _ := r.JSON(t)["holder"].(map[string]any)
	name, _ := h["name"].(string)
	return name
}

// listed returns the case numbers and holders of a worklist query.
func listed(t *testing.T, c *testkit.Client, query string) map[string]string {
	t.Helper()
	r := c.Get("/api/v1/cases?" + query)
	if r.Status != http.StatusOK {
		t.Fatalf("list %s: %d %s", query, r.Status, r.Body)
	}
	out := map[string]string{}
	for _, it := range r.JSON(t)["items"].([]any) {
		m := it.(map[string]any)
		h, _ := m["holder"].(string)
		out[m["case_no"].(string)] = h
	}
	return out
}

func TestClaimRace(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := j.submittedCase(t, j.alice)
		// Two clerks of the street claim the same case at the same moment.
		var wg sync.WaitGroup
		got := make([]*testkit.Response, 2)
		for i, c := range []*testkit.Client{j.clerk, j.clerk2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i] = c.Do("POST", "/api/v1/cases/"+no+"/claim", nil)
			}()
		}
		wg.Wait()
		ok, conflict := 0, 0
		var loser *testkit.Client
		var winner string
		for i, r := range got {
			switch r.Status {
			case http.StatusOK:
				ok++
				winner = []string{"测试 clerk1", "测试 clerk2"}[i]
			case http.StatusConflict:
				conflict++
				loser = []*testkit.Client{j.clerk, j.clerk2}[i]
				p := r.JSON(t)
				if p["rule"] != "held" || p["holder"] == "" || !strings.Contains(p["office"].(string), "城东") ||
					!strings.Contains(p["detail"].(string), p["holder"].(string)) {
					t.Errorf("the refusal names the holder and their office: %s", r.Body)
				}
			default:
				t.Fatalf("claim: %d %s", r.Status, r.Body)
			}
		}
		if ok != 1 || conflict != 1 {
			t.Fatalf("two claims at once: %d × 200, %d × 409; want exactly one of each", ok, conflict)
		}
		if n := j.p.Count(t, `SELECT count(*) FROM case_history h JOIN cases c ON c.id = h.case_id WHERE c.case_no = $1 AND h.event = 'claim'`, no); n != 1 {
			t.Errorf("claim steps in the timeline: %d, want 1", n)
		}
		if n := j.p.Count(t, `SELECT count(*) FROM audit_log WHERE object = $1 AND action = 'case.hold'`, "case:"+no); n != 1 {
			t.Errorf("claim audit entries: %d, want 1", n)
		}
		// The other clerk's decision is refused while the case is held.
		r := loser.Do("POST", "/api/v1/cases/"+no+"/events/accept", nil)
		if r.Status != http.StatusConflict || r.JSON(t)["holder"] != winner {
			t.Fatalf("a decision on a case another holds: %d %s; want 409 naming %s", r.Status, r.Body, winner)
		}
		if holderOf(t, j.clerk, no) != winner {
			t.Errorf("the case's holder is not %s", winner)
		}
	})
}

func TestClaimReleaseAssign(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		ctx := context.Background()
		no := j.submittedCase(t, j.alice)
		other := j.submittedCase(t, j.bob)

		// The worklist shows who holds each case and filters by it.
		if r := j.clerk.Do("POST", "/api/v1/cases/"+no+"/claim", nil); r.Status != http.StatusOK {
			t.Fatalf("claim: %d %s", r.Status, r.Body)
		}
		if r := j.clerk.Do("POST", "/api/v1/cases/"+no+"/claim", nil); r.Status != http.StatusOK {
			t.Fatalf("claiming one's own case again: %d %s", r.Status, r.Body)
		}
		if all := listed(t, j.clerk2, ""); all[no] != "测试 clerk1" || all[other] != "" {
			t.Errorf("worklist holders: %v", all)
		}
		if mine := listed(t, j.clerk, "mine=1"); len(mine) != 1 || mine[no] == "" {
			t.Errorf("mine=1: %v, want only %s", mine, no)
		}
		if free := listed(t, j.clerk, "unclaimed=1"); len(free) != 1 || !strings.Contains(strings.Join(keys(free), ","), other) {
			t.Errorf("unclaimed=1: %v, want only %s", free, other)
		}
		if mine := listed(t, j.clerk2, "mine=1"); len(mine) != 0 {
			t.Errorf("clerk2 holds nothing: %v", mine)
		}

		// Release: only the holder; nobody's case is released as a no-op.
		if r := j.clerk2.Do("DELETE", "/api/v1/cases/"+no+"/claim", nil); r.Status != http.StatusConflict {
			t.Errorf("releasing another's claim: %d %s", r.Status, r.Body)
		}
		if r := j.clerk.Do("DELETE", "/api/v1/cases/"+no+"/claim", nil); r.Status != http.StatusNoContent {
			t.Fatalf("release: %d %s", r.Status, r.Body)
		}
		if r := j.clerk.Do("DELETE", "/api/v1/cases/"+no+"/claim", nil); r.Status != http.StatusNoContent {
			t.Errorf("releasing a case nobody holds: %d %s", r.Status, r.Body)
		}
		if h := holderOf(t, j.clerk, no); h != "" {
			t.Errorf("released, still held by %q", h)
		}

		// Assign: the district officer, to someone who can act on it.
		assign := func(c *testkit.Client, login string, want int) map[string]any {
			t.Helper()
			r := c.Do("POST", "/api/v1/cases/"+no+"/assign", map[string]any{"login": login})
			if r.Status != want {
				t.Fatalf("assign to %s: %d %s, want %d", login, r.Status, r.Body, want)
			}
			return r.JSON(t)
		}
		assign(j.officer, "clerk2", http.StatusOK)
		if h := holderOf(t, j.clerk, no); h != "测试 clerk2" {
			t.Errorf("assigned to clerk2, held by %q", h)
		}
		p := assign(j.officer, "westclerk", http.StatusUnprocessableEntity) // another street's clerk cannot act on it
		if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["field"] != "login" {
			t.Errorf("assigning to someone who cannot act: %v", p)
		}
		assign(j.officer, "nobody-here", http.StatusUnprocessableEntity)
		assign(j.officer, "sup", http.StatusUnprocessableEntity) // a supervisor decides nothing
		assign(j.clerk, "clerk1", http.StatusForbidden)          // a clerk who is not the street's lead
		// Across districts the case does not exist.
		j.p.MustStaff(t, "gjofficer", "district_officer", "321203")
		gj := j.p.NewClient(t)
		gj.Login("gjofficer")
		assign(gj, "clerk1", http.StatusNotFound)

		// A street's lead (street_lead, besides their clerk grant) reassigns.
		lead := j.p.MustStaff(t, "lead", "street_clerk", "321202001")
		if err := j.p.DB.Tx(ctx, func(tx portal.Tx) error {
			return tx.SetGrants(ctx, lead.ID, []portal.Grant{{Role: "street_clerk", Division: "321202001"}, {Role: "street_lead", Division: "321202001"}})
		}); err != nil {
			t.Fatal(err)
		}
		lc := j.p.NewClient(t)
		lc.Login("lead")
		assign(lc, "clerk1", http.StatusOK)

		// The staff timeline has every desk step; the applicant's has none.
		var steps []string
		for _, s := range fire(t, j.clerk, no, "accept", nil, http.StatusOK)["timeline"].([]any) {
			steps = append(steps, s.(map[string]any)["event"].(string))
		}
		if got := strings.Join(steps, ","); got != "create,submit,claim,release,assign,assign,accept" {
			t.Errorf("staff timeline: %s", got)
		}
		r := j.alice.Get("/api/v1/cases/" + no)
		if body := r.Text(); strings.Contains(body, `"claim"`) || strings.Contains(body, `"assign"`) || strings.Contains(body, "测试") {
			t.Errorf("the applicant sees the desk's steps: %s", body)
		}
		for action, want := range map[string]int{"case.hold": 1, "case.release": 1, "case.assign": 2} {
			if n := j.p.Count(t, `SELECT count(*) FROM audit_log WHERE object = $1 AND action = $2 AND result = 'ok'`, "case:"+no, action); n != want {
				t.Errorf("%s audit entries: %d, want %d", action, n, want)
			}
		}
		// Accepted, the case stays with clerk1 (they review it); approved,
		// it is nobody's.
		if h := holderOf(t, j.clerk, no); h != "测试 clerk1" {
			t.Errorf("after accept held by %q", h)
		}
		if r := j.clerk2.Do("POST", "/api/v1/cases/"+no+"/events/approve", nil); r.Status != http.StatusConflict {
			t.Errorf("clerk2 approves clerk1's case: %d", r.Status)
		}
		fire(t, j.clerk, no, "approve", nil, http.StatusOK)
		if h := holderOf(t, j.clerk, no); h != "" {
			t.Errorf("an ended case is still held by %q", h)
		}
		if r := j.clerk.Do("POST", "/api/v1/cases/"+no+"/claim", nil); r.Status != http.StatusConflict {
			t.Errorf("claiming an ended case: %d", r.Status)
		}
		// Neither a supervisor nor the applicant claims.
		if r := j.sup.Do("POST", "/api/v1/cases/"+other+"/claim", nil); r.Status != http.StatusForbidden {
			t.Errorf("a supervisor claims: %d", r.Status)
		}
		if r := j.bob.Do("POST", "/api/v1/cases/"+other+"/claim", nil); r.Status != http.StatusForbidden {
			t.Errorf("the applicant claims: %d", r.Status)
		}
		if r := j.otherClerk.Do("POST", "/api/v1/cases/"+other+"/claim", nil); r.Status != http.StatusNotFound {
			t.Errorf("another street's clerk claims: %d", r.Status)
		}
	})
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// noticeOf returns the applicant's newest notice of kind about the case.
func noticeOf(t *testing.T, c *testkit.Client, no, kind string) map[string]any {
	t.Helper()
	for _, it := range c.Get("/api/v1/notifications").JSON(t)["items"].([]any) {
		n := it.(map[string]any)
		if n["case_no"] == no && n["kind"] == kind {
			return n
		}
	}
	t.Fatalf("no notice %s about %s", kind, no)
	return nil
}

func TestTransferToTheRightOffice(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := j.submittedCase(t, j.alice)
		before := fire(t, j.clerk, no, "transfer", map[string]any{"division": "321202001", "reason": "x"}, http.StatusUnprocessableEntity)
		if errs := before["errors"].([]any); errs[0].(map[string]any)["rule"] != "same_division" {
			t.Errorf("a transfer to its own office: %v", before)
		}
		// Out of the city: refused, with a clear message on the field.
		p := fire(t, j.clerk, no, "transfer", map[string]any{"division": "320102001", "reason": "住在南京"}, http.StatusUnprocessableEntity)
		if e := p["errors"].([]any)[0].(map[string]any); e["field"] != "division" || e["rule"] != "out_of_city" || !strings.Contains(e["message"].(string), "泰州") {
			t.Errorf("an out-of-city transfer: %v", p)
		}
		if j.clerk.Get("/api/v1/cases/" + no).JSON(t)["division"] != "321202001" {
			t.Fatal("a refused transfer moved the case")
		}
		j.clerk.Do("POST", "/api/v1/cases/"+no+"/claim", nil)
		// A working day later (sessions end meanwhile: everyone logs in again).
		j.p.Clock.Advance(24 * time.Hour)
		j.clerk.Login("clerk1")
		j.otherClerk.Login("westclerk")
		j.alice.Login(testkit.Applicants[0].Mobile)

		doc := fire(t, j.clerk, no, "transfer", map[string]any{"division": "321202002", "reason": "申请人居住在城西街道辖区"}, http.StatusOK)
		if doc["state"] != "submitted" || doc["division"] != "321202002" {
			t.Fatalf("transferred: %v", doc)
		}
		// It left this street's queue and is in the other's, nobody's yet.
		if _, ok := listed(t, j.clerk, "")[no]; ok {
			t.Error("the transferred case is still in the first street's worklist")
		}
		if r := j.clerk.Get("/api/v1/cases/" + no); r.Status != http.StatusNotFound {
			t.Errorf("the first street still opens it: %d", r.Status)
		}
		if h, ok := listed(t, j.otherClerk, "")[no]; !ok || h != "" {
			t.Errorf("the receiving street's worklist: in=%v holder=%q", ok, h)
		}
		got := j.otherClerk.Get("/api/v1/cases/" + no).JSON(t)
		if form := got["form"].(map[string]any); form["division"] != "321202002" {
			t.Errorf("the form still names the first street: %v", form)
		}
		// Handed in on Monday 30 November (2 working days: Wednesday), received
		// on Tuesday: Thursday.
		if due := got["due"].(map[string]any); due["last_day"] != "2026-12-03" {
			t.Errorf("the time limit runs from the receiving office's receipt: %v", due)
		}
		// The applicant is told why and where.
		n := noticeOf(t, j.alice, no, "residence-permit.transfer")
		if body := n["body"].(string); !strings.Contains(body, "城西街道") || !strings.Contains(body, "申请人居住在城西街道辖区") {
			t.Errorf("the notice: %s", body)
		}
		if n := j.p.Count(t, `SELECT count(*) FROM audit_log WHERE object = $1 AND action = 'case.transfer' AND result = 'ok'`, "case:"+no); n != 1 {
			t.Errorf("transfer audit entries: %d", n)
		}

		// The receiving street sends it back; the first street cannot.
		fire(t, j.otherClerk, no, "send_back", map[string]any{"reason": "该地址属城东街道"}, http.StatusOK)
		if d := j.clerk.Get("/api/v1/cases/" + no).JSON(t)["division"]; d != "321202001" {
			t.Errorf("sent back to %v", d)
		}
		noticeOf(t, j.alice, no, "residence-permit.send_back")
		fire(t, j.clerk, no, "send_back", map[string]any{"reason": "x"}, http.StatusConflict)

		// Only before acceptance.
		fire(t, j.clerk, no, "accept", nil, http.StatusOK)
		fire(t, j.clerk, no, "transfer", map[string]any{"division": "321202002", "reason": "x"}, http.StatusConflict)
		checkFsck(t, j.p)
	})
}

// TestDeskPages works the desk through its pages, as a browser without
// JavaScript does: claiming, the holder shown, another clerk's page
// without decisions, "accept and open the next one", an assignment, a
// transfer with a wrong office, saved filters.
func TestDeskPages(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		first := j.submittedCase(t, j.alice)
		second := j.submittedCase(t, j.bob)
		page := func(c *testkit.Client, path string) string {
			t.Helper()
			r := c.Get(path)
			if r.Status != http.StatusOK {
				t.Fatalf("GET %s: %d", path, r.Status)
			}
			return r.Text()
		}
		post := func(c *testkit.Client, from, action string, want int, kv ...string) *testkit.Response {
			t.Helper()
			r := c.Submit(from, action, kv...)
			if r.Status != want {
				t.Fatalf("POST %s: %d, want %d: %.600s", action, r.Status, want, r.Body)
			}
			return r
		}

		// Claimed from its page: the holder shown, to them and to others.
		if p := page(j.clerk, "/cases/"+first); !strings.Contains(p, `action="/cases/`+first+`/claim"`) || !strings.Contains(p, "跳到办理操作") {
			t.Fatalf("the case page offers no claim or skip link")
		}
		post(j.clerk, "/cases/"+first, "/cases/"+first+"/claim", http.StatusSeeOther)
		if p := page(j.clerk, "/cases/"+first); !strings.Contains(p, "测试 clerk1</strong> （我）") || !strings.Contains(p, `/release"`) {
			t.Errorf("the holder's own page does not say it is theirs")
		}
		other := page(j.clerk2, "/cases/"+first)
		if !strings.Contains(other, "此办件由测试 clerk1办理") || strings.Contains(other, "/events/accept") {
			t.Errorf("another clerk's page: the holder not named, or decisions offered")
		}
		if w := page(j.clerk2, "/cases"); !strings.Contains(w, "经办人") || !strings.Contains(w, "测试 clerk1") || !strings.Contains(w, "未认领") {
			t.Errorf("the worklist does not show who holds each case")
		}

		// Accept and open the next one; the last one leads back to the list.
		r := post(j.clerk, "/cases/"+first, "/cases/"+first+"/events/accept", http.StatusSeeOther,
			"version", testkit.FormField(page(j.clerk, "/cases/"+first), "version"), "_next", "1")
		if loc := r.Header.Get("Location"); loc != "/cases/"+second+"?prev="+first {
			t.Fatalf("accept and open the next one went to %q", loc)
		}
		if p := page(j.clerk, "/cases/"+second+"?prev="+first); !strings.Contains(p, "办件 "+first+" 已办理") {
			t.Errorf("the next case does not confirm the one just done")
		}
		// A transfer to an office out of the city: the error by the field, the reason kept.
		r = post(j.clerk, "/cases/"+second, "/cases/"+second+"/events/transfer", http.StatusUnprocessableEntity,
			"version", testkit.FormField(page(j.clerk, "/cases/"+second), "version"), "division", "320102001", "reason", "申请人住在南京")
		if p := r.Text(); !strings.Contains(p, `id="transfer-division-error"`) || !strings.Contains(p, "申请人住在南京") {
			t.Errorf("a refused transfer's page: %.400s", p)
		}
		r = post(j.clerk, "/cases/"+second, "/cases/"+second+"/events/accept", http.StatusSeeOther,
			"version", testkit.FormField(page(j.clerk, "/cases/"+second), "version"), "_next", "1")
		if loc := r.Header.Get("Location"); loc != "/cases?done=queue_empty" {
			t.Errorf("after the last case: %q", loc)
		}

		// The district officer assigns from the page, to clerk2.
		p := page(j.officer, "/cases/"+second)
		if !strings.Contains(p, `<option value="clerk2">`) || strings.Contains(p, `<option value="westclerk">`) {
			t.Errorf("the assignment offers the wrong people")
		}
		post(j.officer, "/cases/"+second, "/cases/"+second+"/assign", http.StatusSeeOther, "login", "clerk2")
		if h := holderOf(t, j.clerk, second); h != "测试 clerk2" {
			t.Errorf("assigned from the page: held by %q", h)
		}
		r = post(j.officer, "/cases/"+second, "/cases/"+second+"/assign", http.StatusUnprocessableEntity, "login", "westclerk")
		if !strings.Contains(r.Text(), `id="assign-login-error"`) {
			t.Errorf("a refused assignment has no error by its field")
		}

		// Saved filters: named, listed, refused without a name, deleted.
		r = post(j.clerk2, "/cases?mine=1", "/cases/filters", http.StatusSeeOther, "mine", "1", "filter_name", "我的在办")
		if loc := r.Header.Get("Location"); loc != "/cases?mine=1" {
			t.Errorf("saved, back to %q", loc)
		}
		w := page(j.clerk2, "/cases?mine=1")
		if !strings.Contains(w, `<a href="/cases?mine=1" aria-current="page">我的在办</a>`) {
			t.Errorf("the saved filter is not listed as the current one")
		}
		if !strings.Contains(w, second) || strings.Contains(w, first+`"`) {
			t.Errorf("mine=1 lists the wrong cases")
		}
		r = post(j.clerk2, "/cases?mine=1", "/cases/filters", http.StatusUnprocessableEntity, "mine", "1", "filter_name", " ")
		if !strings.Contains(r.Text(), `id="error-filter_name"`) {
			t.Errorf("a filter without a name: no error by the field")
		}
		if page(j.clerk, "/cases"); strings.Contains(page(j.clerk, "/cases"), "我的在办") {
			t.Errorf("one clerk sees another's saved filter")
		}
		post(j.clerk2, "/cases", "/cases/filters/delete", http.StatusSeeOther, "name", "我的在办")
		if strings.Contains(page(j.clerk2, "/cases"), "我的在办") {
			t.Errorf("a deleted filter is still listed")
		}
	})
}

// TestCorrectionToAnotherStreet: an applicant who, asked to correct the
// application, names another street moves the case there as a transfer
// does: the dashboards' counts with it (fsck). The clerk's release while
// it waits on the applicant does not make the applicant's page stale.
func TestCorrectionToAnotherStreet(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := j.submittedCase(t, j.alice)
		j.clerk.Do("POST", "/api/v1/cases/"+no+"/claim", nil)
		fire(t, j.clerk, no, "request_correction", map[string]any{"reason": "地址属城西街道", "items": []string{"address_proof"}}, http.StatusOK)
		v := j.alice.Get("/api/v1/cases/" + no).JSON(t)["version"]
		// The clerk gives the case back meanwhile: a step the applicant does
		// not see, which leaves the page they opened current.
		if r := j.clerk.Do("DELETE", "/api/v1/cases/"+no+"/claim", nil); r.Status != http.StatusNoContent {
			t.Fatalf("release in correction: %d %s", r.Status, r.Body)
		}
		r := j.alice.Do("PUT", "/api/v1/cases/"+no+"/form", map[string]any{"form": testkit.ResidenceForm("division", "321202002"), "version": v})
		if r.Status != http.StatusOK {
			t.Fatalf("edit: %d %s", r.Status, r.Body)
		}
		fire(t, j.alice, no, "submit", nil, http.StatusOK)
		if h, ok := listed(t, j.otherClerk, "")[no]; !ok || h != "" {
			t.Errorf("the other street's worklist: in=%v holder=%q", ok, h)
		}
		checkFsck(t, j.p)
	})
}

// TestHoldAndSeparationOfDuties: whoever accepted at the street may not
// decide at the district, even holding both grants — so they do not keep
// the case they held, nobody may assign it to them, and the district's
// officers decide it.
func TestHoldAndSeparationOfDuties(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		r := newHukouRig(t, testkit.Options{Backend: b})
		_, alice := r.p.NewApplicant(t, "沈一")
		no := r.apply(t, alice, r.hukouForm(t, "members", []any{member("child", "沈小一", testkit.IDNumber("32032120160303003"))}))
		if res := r.both.Do("POST", "/api/v1/cases/"+no+"/claim", nil); res.Status != http.StatusOK {
			t.Fatalf("claim: %d %s", res.Status, res.Body)
		}
		fire(t, r.both, no, "accept", nil, http.StatusOK)
		if h := holderOf(t, r.officer, no); h != "" {
			t.Errorf("after accepting, the case is still held by %q, who may not decide it", h)
		}
		res := r.officer.Do("POST", "/api/v1/cases/"+no+"/assign", map[string]any{"login": "both"})
		if res.Status != http.StatusUnprocessableEntity {
			t.Errorf("assigned to the one who accepted it: %d %s", res.Status, res.Body)
		}
		if res := r.officer2.Do("POST", "/api/v1/cases/"+no+"/claim", nil); res.Status != http.StatusOK {
			t.Errorf("a district officer claims it: %d %s", res.Status, res.Body)
		}
		if res := r.officer.Do("POST", "/api/v1/cases/"+no+"/events/approve", nil); res.Status != http.StatusConflict {
			t.Errorf("another officer decides a case officer2 holds: %d", res.Status)
		}
	})
}
