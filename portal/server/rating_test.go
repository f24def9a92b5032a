package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"tzportal/portal/fsck"
	"tzportal/portal/testkit"
)

// 好差评: an ended case is rated once by its applicant (201; 409 after); a
// rating of 1–2 opens a follow-up, 3–5 do not; before the case ends the
// rating is refused with a rule (422), by staff who see the case with 403,
// by anyone else with 404. The supervisors of the division record the call
// back and the fix (in that order, each note required), and see the rates
// of their jurisdiction only; the form keeps what was typed; retention
// clears the comment and the notes but keeps the score.
func TestRating(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		p := j.p
		p.MustStaff(t, "gaosup", "supervisor", "321203")
		gaoSup := p.NewClient(t)
		gaoSup.Login("gaosup")
		rate := func(c *testkit.Client, no string, body map[string]any, want int) map[string]any {
			t.Helper()
			r := c.Do("POST", "/api/v1/cases/"+no+"/rating", body)
			if r.Status != want {
				t.Fatalf("rate %s %v: %d, want %d: %s", no, body, r.Status, want, r.Body)
			}
			return r.JSON(t)
		}
		approved := func(c *testkit.Client) string {
			t.Helper()
			no := j.create(t, c, testkit.ResidenceForm())
			fire(t, c, no, "submit", nil, 200)
			fire(t, j.clerk, no, "accept", nil, 200)
			fire(t, j.clerk, no, "approve", nil, 200)
			return no
		}

		// Alice's case, while it is open: refused with its rule.
		a := j.create(t, j.alice, testkit.ResidenceForm())
		fire(t, j.alice, a, "submit", nil, 200)
		if m := rate(j.alice, a, map[string]any{"score": 5}, http.StatusUnprocessableEntity); m["rule"] != "case_not_ended" {
			t.Errorf("rating an open case: %v", m)
		}
		fire(t, j.clerk, a, "accept", nil, 200)
		fire(t, j.clerk, a, "approve", nil, 200)
		// Another applicant: no such case; staff who see it: forbidden.
		rate(j.bob, a, map[string]any{"score": 1}, http.StatusNotFound)
		rate(j.clerk, a, map[string]any{"score": 1}, http.StatusForbidden)
		// Bad input, named by field.
		for _, body := range []map[string]any{{"score": 6}, {"comment": "没有分数"}, {"score": 5, "comment": strings.Repeat("好", 501)}} {
			m := rate(j.alice, a, body, http.StatusUnprocessableEntity)
			if errs, _ := m["errors"].([]any); len(errs) != 1 {
				t.Errorf("%v: errors %v", body, m["errors"])
			}
		}
		rate(j.alice, a, map[string]any{"score": "5"}, http.StatusUnprocessableEntity) // a number, not text
		got := rate(j.alice, a, map[string]any{"score": 5, "comment": "办得很快"}, http.StatusCreated)
		if got["score"] != float64(5) || got["comment"] != "办得很快" || got["follow_up"] != nil || got["case_no"] != a {
			t.Errorf("a 5: %v", got)
		}
		if m := rate(j.alice, a, map[string]any{"score": 4}, http.StatusConflict); m["code"] != "conflict" {
			t.Errorf("a second rating: %v", m)
		}

		// The rating reads back for its applicant, for no one else.
		if r := j.alice.Get("/api/v1/cases/" + a + "/rating"); r.Status != http.StatusOK || r.JSON(t)["score"] != float64(5) {
			t.Errorf("the applicant reads the rating: %d %s", r.Status, r.Body)
		}
		for _, c := range []*testkit.Client{j.bob, j.clerk} {
			if r := c.Get("/api/v1/cases/" + a + "/rating"); r.Status != http.StatusNotFound {
				t.Errorf("someone else reads the rating: %d", r.Status)
			}
		}

		// Bob rates 1: a follow-up, due the next working day.
		bNo := approved(j.bob)
		got = rate(j.bob, bNo, map[string]any{"score": 1, "comment": "态度差"}, http.StatusCreated)
		fu, _ := got["follow_up"].(map[string]any)
		if fu == nil || fu["state"] != "visit" {
			t.Fatalf("a 1 opens no follow-up: %v", got)
		}
		if due, _ := time.Parse(time.RFC3339, fu["visit_due"].(string)); !due.Equal(time.Date(2026, 12, 2, 0, 0, 0, 0, p.Engine.Calendar.Zone)) {
			t.Errorf("return visit due %v, want the end of the next working day (Tue 1 Dec)", fu["visit_due"])
		}

		// The supervisors over the case's street are told, in their inbox;
		// another district's and the clerk are not. Their menu has the page.
		inbox := func(c *testkit.Client) string { t.Helper(); return c.Get("/api/v1/notifications").Text() }
		if !strings.Contains(inbox(j.sup), "差评待回访："+bNo) {
			t.Errorf("the city's supervisor was not told: %s", inbox(j.sup))
		}
		if strings.Contains(inbox(gaoSup), bNo) || strings.Contains(inbox(j.clerk), "差评") {
			t.Errorf("someone else was told of the follow-up")
		}
		if !strings.Contains(j.sup.Get("/").Text(), `href="/oversight/ratings"`) || strings.Contains(j.clerk.Get("/").Text(), `href="/oversight/ratings"`) {
			t.Errorf("the ratings page is not (only) in supervisors' menu")
		}

		// Carol is refused and rates 2 through the page: a missing score is
		// shown next to its field, with her comment kept.
		_, carol := p.NewApplicant(t, "陈芳")
		cNo := j.create(t, carol, testkit.ResidenceForm())
		fire(t, carol, cNo, "submit", nil, 200)
		fire(t, j.clerk, cNo, "reject", map[string]any{"reason": "居住时间不足"}, 200)
		page := carol.Get("/cases/" + cNo).Text()
		if !strings.Contains(page, `action="/cases/`+cNo+`/rating"`) || !strings.Contains(page, "非常不满意") {
			t.Fatalf("the ended case's page has no rating form")
		}
		r := carol.Submit("/cases/"+cNo, "/cases/"+cNo+"/rating", "comment", "等了很久")
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Text(), `id="rating-score-error"`) ||
			!strings.Contains(r.Text(), ">等了很久</textarea>") || !strings.Contains(r.Text(), `href="#rating-score"`) {
			t.Errorf("a rating without a score: %d\n%s", r.Status, r.Text())
		}
		if r := carol.Submit("/cases/"+cNo, "/cases/"+cNo+"/rating", "score", "2", "comment", "等了很久"); r.Status != http.StatusSeeOther {
			t.Fatalf("rating by the form: %d %s", r.Status, r.Body)
		}
		if page := carol.Get("/cases/" + cNo).Text(); !strings.Contains(page, "感谢您的评价：不满意") || strings.Contains(page, `action="/cases/`+cNo+`/rating"`) {
			t.Errorf("the rated case's page does not show the rating")
		}
		// Dave rates 3: no follow-up.
		_, dave := p.NewApplicant(t, "丁伟")
		draft := j.create(t, dave, testkit.ResidenceForm())
		fire(t, dave, draft, "discard", nil, 200)
		if m := rate(dave, draft, map[string]any{"score": 1}, http.StatusUnprocessableEntity); m["rule"] != "case_not_handed_in" {
			t.Errorf("rating a discarded draft: %v", m)
		}
		dNo := approved(dave)
		if got := rate(dave, dNo, map[string]any{"score": 3}, http.StatusCreated); got["follow_up"] != nil {
			t.Errorf("a 3 opened a follow-up: %v", got)
		}
		followUps := func(no string) int {
			return p.Count(t, `SELECT count(*) FROM rating_follow_ups f JOIN cases c ON c.id = f.case_id WHERE c.case_no = $1`, no)
		}
		for no, want := range map[string]int{a: 0, bNo: 1, cNo: 1, dNo: 0} {
			if n := followUps(no); n != want {
				t.Errorf("%s: %d follow-ups, want %d", no, n, want)
			}
		}

		// The follow-up: the call back first, a note each time.
		step := func(c *testkit.Client, no, st string, body map[string]any, want int) map[string]any {
			t.Helper()
			r := c.Do("POST", "/api/v1/cases/"+no+"/rating/follow-up/"+st, body)
			if r.Status != want {
				t.Fatalf("%s %s: %d, want %d: %s", no, st, r.Status, want, r.Body)
			}
			return r.JSON(t)
		}
		if r := j.sup.Get("/api/v1/cases/" + bNo + "/rating"); r.Status != http.StatusOK || r.JSON(t)["follow_up"] == nil {
			t.Errorf("the supervisor reads the rating and its follow-up: %d %s", r.Status, r.Body)
		}
		if r := dave.Get("/api/v1/cases/" + dNo + "/rating"); r.Status != http.StatusOK {
			t.Errorf("dave's rating: %d", r.Status)
		}
		step(j.sup, bNo, "close", map[string]any{"note": "已整改"}, http.StatusConflict)
		step(j.sup, bNo, "visit", map[string]any{"note": ""}, http.StatusUnprocessableEntity)
		step(j.clerk, bNo, "visit", map[string]any{"note": "回访"}, http.StatusNotFound)
		step(gaoSup, bNo, "visit", map[string]any{"note": "回访"}, http.StatusNotFound)
		step(j.sup, a, "visit", map[string]any{"note": "回访"}, http.StatusNotFound) // a 5 has none
		if m := step(j.sup, bNo, "visit", map[string]any{"note": "已电话回访，申请人反映窗口态度不好"}, http.StatusOK); m["state"] != "rectify" {
			t.Errorf("after the call back: %v", m)
		}
		if m := step(j.sup, bNo, "close", map[string]any{"note": "已约谈窗口人员并培训"}, http.StatusOK); m["state"] != "closed" || m["on_time"] != true {
			t.Errorf("closed in time: %v", m)
		}
		// Carol's is called back late, through the page: a note too long is
		// refused next to its field, with what was typed.
		p.Clock.Advance(72 * time.Hour)
		j.sup.Login("sup")
		long := strings.Repeat("长", 1001)
		r = j.sup.Submit("/oversight/ratings", "/oversight/ratings/"+cNo+"/visit", "note", long)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Text(), `id="note-`+cNo+`-error"`) || !strings.Contains(r.Text(), long+"</textarea>") {
			t.Errorf("a note too long: %d", r.Status)
		}
		if r := j.sup.Submit("/oversight/ratings", "/oversight/ratings/"+cNo+"/visit", "note", "已回访"); r.Status != http.StatusSeeOther {
			t.Fatalf("the call back by the form: %d %s", r.Status, r.Body)
		}
		step(j.sup, cNo, "close", map[string]any{"note": "已重新告知办理条件"}, http.StatusOK)

		// The rates: the city's supervisor sees the four, Gaogang's none,
		// a clerk nothing at all.
		ov := j.sup.Get("/api/v1/ratings")
		if ov.Status != http.StatusOK {
			t.Fatalf("rates: %d %s", ov.Status, ov.Body)
		}
		m := ov.JSON(t)
		total := m["total"].(map[string]any)
		if total["rated"] != float64(4) || total["good"] != float64(1) || total["ended"] != float64(4) || total["rated_rate"] != float64(1) ||
			total["follow_ups_closed"] != float64(2) || total["follow_ups_on_time"] != float64(1) || total["good_rate"] != 0.25 {
			t.Errorf("total: %v", total)
		}
		clerks := m["clerks"].([]any)
		if len(clerks) != 1 || clerks[0].(map[string]any)["name"] != "测试 clerk1" || clerks[0].(map[string]any)["rated"] != float64(4) {
			t.Errorf("per clerk: %v", clerks)
		}
		if fus := m["follow_ups"].([]any); len(fus) != 2 {
			t.Errorf("follow-ups: %v", fus)
		}
		gaoSup.Login("gaosup")
		other := gaoSup.Get("/api/v1/ratings").JSON(t)
		if other["total"].(map[string]any)["rated"] != float64(0) || len(other["follow_ups"].([]any)) != 0 || len(other["divisions"].([]any)) != 0 {
			t.Errorf("another district's supervisor sees: %v", other)
		}
		j.clerk.Login("clerk1")
		if r := j.clerk.Get("/api/v1/ratings"); r.Status != http.StatusNotFound {
			t.Errorf("a clerk reads the rates: %d", r.Status)
		}
		if page := j.sup.Get("/oversight/ratings").Text(); !strings.Contains(page, "好评率") || !strings.Contains(page, "25.0%") || !strings.Contains(page, cNo) {
			t.Errorf("the supervisors' page lacks the rates or the follow-ups")
		}

		// Retention: the refused case's comment and notes go, its score stays.
		p.Clock.Advance(1100 * 24 * time.Hour)
		if _, err := p.Engine.Anonymise(t.Context(), 500); err != nil {
			t.Fatal(err)
		}
		if n := p.Count(t, `SELECT count(*) FROM ratings r JOIN cases c ON c.id = r.case_id WHERE c.case_no = $1 AND r.comment = '' AND r.score = 2`, cNo); n != 1 {
			t.Errorf("the anonymised case's rating keeps its comment, or lost its score")
		}
		if n := p.Count(t, `SELECT count(*) FROM rating_follow_ups f JOIN cases c ON c.id = f.case_id
			WHERE c.case_no = $1 AND f.visit_note = '' AND f.closing_note = '' AND f.state = 'closed'`, cNo); n != 1 {
			t.Errorf("the anonymised case's follow-up keeps its notes")
		}
		// The audit chain and every invariant hold.
		if _, err := p.Audit.Verify(t.Context(), p.DB); err != nil {
			t.Errorf("audit verify: %v", err)
		}
		check, err := fsck.Check(t.Context(), p.DB, p.Engine.Definitions(), p.Audit)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range check.Violations {
			t.Errorf("fsck: %s: %s", v.Case, v.Reason)
		}
	})
}
