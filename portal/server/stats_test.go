package server_test

import (
	"net/http"
	"strings"
	"testing"

	"tzportal/portal/testkit"
)

// The dashboard as a supervisor uses it, on both backends: the page with
// its charts and tables, the JSON, every table as CSV (each export an
// audit entry), the reveals of ID numbers by staff who did nothing on the
// case; a supervisor of another district sees none of these numbers and
// cannot ask for them; a clerk finds no such page; a bad month is named
// next to its field and kept.
func TestStatsDashboard(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		p := j.p
		p.MustStaff(t, "gaogangsup", "supervisor", "321203")
		login := func(l string) *testkit.Client { c := p.NewClient(t); c.Login(l); return c }
		gaogang := login("gaogangsup")

		a := j.create(t, j.alice, testkit.ResidenceForm())
		fire(t, j.alice, a, "submit", nil, 200)
		fire(t, j.clerk, a, "accept", nil, 200)
		bb := j.create(t, j.bob, testkit.ResidenceForm())
		fire(t, j.bob, bb, "submit", nil, 200)
		fire(t, j.clerk, bb, "reject", map[string]any{"reason": "居住时间不满六个月"}, 200)
		// clerk2 works the same street and took no step on A: a reveal to
		// report; clerk1 accepted A: theirs is not.
		for _, c := range []*testkit.Client{j.clerk2, j.clerk} {
			if r := c.Do("POST", "/api/v1/cases/"+a+"/reveal", nil); r.Status != http.StatusOK {
				t.Fatalf("reveal: %d %s", r.Status, r.Body)
			}
		}

		r := j.sup.Get("/api/v1/stats/overview")
		if r.Status != http.StatusOK {
			t.Fatalf("overview: %d %s", r.Status, r.Body)
		}
		m := r.JSON(t)
		tot := m["totals"].(map[string]any)
		if tot["handed_in"] != float64(2) || tot["open"] != float64(1) || tot["completed"] != float64(1) || tot["refused"] != float64(1) ||
			tot["completion_rate"] != 0.5 || tot["digital_take_up"] != nil {
			t.Errorf("totals: %v", tot)
		}
		var steps []string
		for _, s := range m["steps"].([]any) {
			s := s.(map[string]any)
			steps = append(steps, s["step"].(string)+":"+s["step_label"].(string))
			if s["step"] == "submitted" && (s["decisions"] != float64(2) || s["approval_rate"] != 0.5) {
				t.Errorf("step submitted: %v", s)
			}
		}
		if len(steps) != 1 || steps[0] != "submitted:已提交" {
			t.Errorf("steps: %v (want the precheck)", steps)
		}
		// The refusal ended B the day it came: 0 working days.
		if tot["decided"] != float64(1) || tot["median_days"] != float64(0) {
			t.Errorf("whole cases: %v", tot)
		}

		r = j.sup.Get("/api/v1/stats/reveals")
		items := r.JSON(t)["items"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["case_no"] != a || !strings.Contains(items[0].(map[string]any)["name"].(string), "clerk2") {
			t.Errorf("reveals: %s", r.Body)
		}

		page := j.sup.Get("/oversight/stats")
		if page.Status != http.StatusOK {
			t.Fatalf("page: %d", page.Status)
		}
		body := page.Text()
		for _, want := range []string{"统计分析", "<svg", "各月提交的办件", "50.0%", "/api/v1/stats/steps.csv", "指标说明"} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		staff := j.sup.Get("/oversight/stats/staff")
		for _, want := range []string{"clerk1", "clerk2", "/api/v1/stats/clerks.csv", "/api/v1/stats/reveals.csv", a} {
			if !strings.Contains(staff.Text(), want) {
				t.Errorf("staff page (%d) lacks %q", staff.Status, want)
			}
		}
		before := p.Count(t, `SELECT count(*) FROM audit_log WHERE action = 'stats.export'`)
		for _, report := range []string{"services", "months", "states", "divisions", "steps", "clerks", "reveals"} {
			r := j.sup.Get("/api/v1/stats/" + report + ".csv")
			if r.Status != http.StatusOK || !strings.HasPrefix(r.Text(), "\uFEFF") || !strings.Contains(r.Text(), "\n") {
				t.Errorf("%s.csv: %d %.200s", report, r.Status, r.Body)
			}
		}
		if got := p.Count(t, `SELECT count(*) FROM audit_log WHERE action = 'stats.export'`) - before; got != 7 {
			t.Errorf("%d exports audited, want 7", got)
		}
		if r := j.sup.Get("/api/v1/stats/nope.csv"); r.Status != http.StatusNotFound {
			t.Errorf("an unknown report: %d", r.Status)
		}

		// Another district's supervisor: none of these numbers.
		m = gaogang.Get("/api/v1/stats/overview").JSON(t)
		if m["totals"].(map[string]any)["handed_in"] != float64(0) || len(m["divisions"].([]any)) != 0 {
			t.Errorf("高港区's supervisor sees: %v", m)
		}
		if r := gaogang.Get("/api/v1/stats/reveals"); len(r.JSON(t)["items"].([]any)) != 0 {
			t.Errorf("高港区's supervisor sees reveals: %s", r.Body)
		}
		for _, div := range []string{"321202", "321202001"} {
			if r := gaogang.Get("/api/v1/stats/overview?division=" + div); r.Status != http.StatusNotFound {
				t.Errorf("高港区's supervisor asking for %s: %d", div, r.Status)
			}
		}
		// A clerk: no page, no figures, no menu entry.
		if r := j.clerk.Get("/oversight/stats"); r.Status != http.StatusNotFound {
			t.Errorf("a clerk's dashboard: %d", r.Status)
		}
		if r := j.clerk.Get("/api/v1/stats/overview"); r.Status != http.StatusNotFound {
			t.Errorf("a clerk's overview: %d", r.Status)
		}
		// Bad input: the field named, the value kept.
		r = j.sup.Get("/oversight/stats?from=2026-13&to=2026-11")
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Text(), `value="2026-13"`) ||
			!strings.Contains(r.Text(), `id="error-from"`) {
			t.Errorf("a bad month: %d %s", r.Status, r.Body)
		}
		r = j.sup.Get("/api/v1/stats/overview?from=2026-12&to=2026-11")
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Text(), `"field":"from"`) {
			t.Errorf("months out of order: %d %s", r.Status, r.Body)
		}
	})
}
