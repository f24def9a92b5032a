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
	"tzportal/portal/workflow"
)

// Deadlines that escalate, on both databases with a fake clock: a case
// past the deadline of its step is escalated once, however many workers
// run at once (an escalations row, an audit entry, a notice in the inbox of
// each supervisor of its division and no one else's); the time a case
// spends with the applicant for a correction does not count against the
// staff's deadline; the views and the aging bands of a supervisor of one
// district show none of another's cases.
func TestDeadlineEscalation(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		p := j.p
		ctx := context.Background()
		cal := p.Engine.Calendar
		p.MustApplicant(t, testkit.Applicants[2])
		p.MustStaff(t, "hailingsup", "supervisor", "321202")
		p.MustStaff(t, "gaogangsup", "supervisor", "321203")
		p.MustStaff(t, "gaogangclerk", "street_clerk", "321203001")
		p.MustStaff(t, "admin0", "admin", "321200")
		// Two grants each: a street within a district also granted (its
		// cases must count once), and two districts.
		for login, grants := range map[string][2]string{"overlapsup": {"321202001", "321202"}, "twosup": {"321202", "321203"}} {
			p.MustStaff(t, login, "supervisor", grants[0])
			if err := p.Accounts.Grant(ctx, portal.Actor{System: "test"}, login, portal.Grant{Role: "supervisor", Division: grants[1]}); err != nil {
				t.Fatal(err)
			}
		}
		login := func(l string) *testkit.Client { c := p.NewClient(t); c.Login(l); return c }
		wang, gaogangClerk := login(testkit.Applicants[2].Mobile), login("gaogangclerk")

		// Monday 30 November, 10:00: A (海陵区 城东街道) and C (高港区)
		// accepted; their 15 working days of review run.
		t0 := p.Clock.Now()
		a := j.create(t, j.alice, testkit.ResidenceForm())
		fire(t, j.alice, a, "submit", nil, 200)
		fire(t, j.clerk, a, "accept", nil, 200)
		cc := j.create(t, wang, testkit.ResidenceForm("division", "321203001", "address", "高港区口岸街道某路1号"))
		fire(t, wang, cc, "submit", nil, 200)
		fire(t, gaogangClerk, cc, "accept", nil, 200)
		// B: accepted too, then sent back for a correction on Wednesday,
		// two working days into its review.
		bb := j.create(t, j.bob, testkit.ResidenceForm())
		fire(t, j.bob, bb, "submit", nil, 200)
		fire(t, j.clerk, bb, "accept", nil, 200)
		review := workflow.Deadline{N: 15, Working: true}
		dueA := cal.Due(t0, review)
		if got := dueOf(t, p, a); !got.Equal(dueA) {
			t.Fatalf("A due %v, want %v", got, dueA)
		}
		p.Clock.Advance(48 * time.Hour)
		clerk := login("clerk1")
		fire(t, clerk, bb, "request_correction", map[string]any{"reason": "照片不清晰", "items": []string{"photo"}}, 200)
		left := cal.DaysLeft(p.Clock.Now(), dueA, true)
		if left != 13 {
			t.Fatalf("B kept %d working days, want 13 (15 less Tuesday and Wednesday)", left)
		}
		run := func() int {
			t.Helper()
			n, err := p.Engine.RunDueTimers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		run()
		if n := p.Count(t, `SELECT count(*) FROM escalations`); n != 0 {
			t.Fatalf("%d escalations before any deadline passed", n)
		}

		// Twenty days with the applicant; B comes back on Tuesday 22
		// December, the day A's and C's deadline passed at midnight.
		p.Clock.Advance(20 * 24 * time.Hour)
		now := p.Clock.Now()
		bob := login(testkit.Applicants[1].IDNumber)
		fire(t, bob, bb, "submit", nil, 200)
		clerk = login("clerk1")
		fire(t, clerk, bb, "accept", nil, 200)
		dueB := dueOf(t, p, bb)
		if want := cal.Due(now, workflow.Deadline{N: left, Working: true}); !dueB.Equal(want) {
			t.Fatalf("B resumed with due %v, want %v (the 13 working days it had left)", dueB, want)
		}
		if !now.After(dueA) || !dueB.After(now) {
			t.Fatalf("now %v: A due %v should have passed, B due %v not", now, dueA, dueB)
		}

		// Two nodes at once: A and C once each, B not (its correction
		// time does not count, although its first review would be over).
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := p.Engine.RunDueTimers(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		run()
		escalated := func(no string) int {
			return p.Count(t, `SELECT count(*) FROM escalations e JOIN cases c ON c.id = e.case_id WHERE c.case_no = $1`, no)
		}
		if escalated(a) != 1 || escalated(cc) != 1 || escalated(bb) != 0 {
			t.Fatalf("escalations: A %d, C %d, B %d; want 1, 1, 0", escalated(a), escalated(cc), escalated(bb))
		}
		for _, no := range []string{a, cc, bb} {
			want := 1
			if no == bb {
				want = 0
			}
			if n := p.Count(t, `SELECT count(*) FROM audit_log WHERE action = $1 AND object = $2 AND actor = $3`,
				workflow.EscalateAction, "case:"+no, workflow.Scheduler); n != want {
				t.Errorf("%s: %d audit entries %s, want %d", no, n, workflow.EscalateAction, want)
			}
		}
		// The inboxes: the supervisors over 城东街道 have A, those over
		// 高港区 C, once each; nobody else has anything.
		inbox := func(login, no string) int {
			return p.Count(t, `SELECT count(*) FROM notifications n JOIN users u ON u.id = n.user_id JOIN cases c ON c.id = n.case_id
				WHERE u.login = $1 AND c.case_no = $2 AND n.kind = 'deadline.escalated'`, login, no)
		}
		for _, tc := range []struct {
			login string
			a, c  int
		}{{"sup", 1, 1}, {"hailingsup", 1, 0}, {"gaogangsup", 0, 1}, {"overlapsup", 1, 0}, {"twosup", 1, 1}, {"clerk1", 0, 0}, {"officer", 0, 0}} {
			if inbox(tc.login, a) != tc.a || inbox(tc.login, cc) != tc.c {
				t.Errorf("%s's inbox: A %d, C %d; want %d, %d", tc.login, inbox(tc.login, a), inbox(tc.login, cc), tc.a, tc.c)
			}
		}
		if n := p.Count(t, `SELECT count(*) FROM notifications WHERE kind = 'deadline.escalated'`); n != 7 {
			t.Errorf("%d escalation notices, want 7 (a supervisor with two grants over a case is told once)", n)
		}
		hailing, gaogang, city := login("hailingsup"), login("gaogangsup"), login("sup")
		r := hailing.Get("/api/v1/notifications")
		if r.Status != http.StatusOK || !strings.Contains(r.Text(), a) || !strings.Contains(r.Text(), "deadline.escalated") {
			t.Errorf("Hailing's supervisor's inbox: %d %s", r.Status, r.Body)
		}
		if r := hailing.Get("/inbox"); r.Status != http.StatusOK || !strings.Contains(r.Text(), a) || strings.Contains(r.Text(), cc) {
			t.Errorf("Hailing's supervisor's inbox page: %d; want A and not C", r.Status)
		}

		// The views. Hailing's supervisor: A overdue (late), B on time;
		// nothing of Gaogang. Gaogang's: C only. The city's: both.
		aging := func(c *testkit.Client) map[string][3]float64 {
			t.Helper()
			r := c.Get("/api/v1/stats/aging")
			if r.Status != http.StatusOK {
				t.Fatalf("aging: %d %s", r.Status, r.Body)
			}
			out := map[string][3]float64{}
			for _, it := range r.JSON(t)["items"].([]any) {
				m := it.(map[string]any)
				out[m["division"].(string)] = [3]float64{m["on_time"].(float64), m["late"].(float64), m["delayed"].(float64)}
			}
			return out
		}
		if got := aging(hailing); len(got) != 1 || got["321202001"] != [3]float64{1, 1, 0} {
			t.Errorf("Hailing's aging: %v, want 321202001: 1 on time (B), 1 late (A)", got)
		}
		if got := aging(gaogang); len(got) != 1 || got["321203001"] != [3]float64{0, 1, 0} {
			t.Errorf("Gaogang's aging: %v, want 321203001: 1 late (C)", got)
		}
		if got := aging(city); len(got) != 2 || got["321202001"] != [3]float64{1, 1, 0} || got["321203001"] != [3]float64{0, 1, 0} {
			t.Errorf("the city's aging: %v, want both streets", got)
		}
		if got := aging(login("overlapsup")); len(got) != 1 || got["321202001"] != [3]float64{1, 1, 0} {
			t.Errorf("aging of a street and its district: %v, want each case once", got)
		}
		if got := aging(login("twosup")); len(got) != 2 || got["321202001"] != [3]float64{1, 1, 0} || got["321203001"] != [3]float64{0, 1, 0} {
			t.Errorf("aging of two districts: %v", got)
		}

		page := func(c *testkit.Client, q string) string {
			t.Helper()
			r := c.Get("/oversight/deadlines" + q)
			if r.Status != http.StatusOK {
				t.Fatalf("deadlines page%s: %d %s", q, r.Status, r.Body)
			}
			return r.Text()
		}
		if s := page(login("overlapsup"), "?due=overdue"); strings.Count(s, "/cases/"+a+`"`) != 1 {
			t.Errorf("the overdue list of a street and its district links A %d times", strings.Count(s, "/cases/"+a+`"`))
		}
		if s := page(hailing, ""); !strings.Contains(s, a) || strings.Contains(s, bb) || strings.Contains(s, cc) || strings.Contains(s, "高港区") {
			t.Errorf("Hailing's overdue list: want A only and nothing of Gaogang")
		}
		for _, lang := range []string{"zh-CN", "en"} {
			hailing.SetCookie("tz_lang", lang)
			s := page(hailing, "?due=soon")
			want := map[string]string{"zh-CN": "逾期（≤ 5 个工作日）", "en": "Late (≤ 5 working days)"}[lang]
			if strings.Contains(s, "deadlines.") || strings.Contains(s, "cases.col_") || !strings.Contains(s, want) ||
				!strings.Contains(s, `href="/oversight/deadlines"`) {
				t.Errorf("the deadlines page in %s: a text is missing, or the navigation does not offer it", lang)
			}
		}
		hailing.SetCookie("tz_lang", "zh-CN")
		if r := clerk.Get("/cases"); !strings.Contains(r.Text(), `href="/oversight/deadlines"`) {
			t.Error("the clerk's navigation does not offer the deadlines page")
		}
		if s := page(gaogang, "?due=overdue"); !strings.Contains(s, cc) || strings.Contains(s, a) || strings.Contains(s, "海陵区") {
			t.Errorf("Gaogang's overdue list: want C only and nothing of Hailing")
		}
		if s := page(clerk, "?due=overdue"); !strings.Contains(s, a) || strings.Contains(s, cc) {
			t.Errorf("the clerk's overdue list: want A (their street) and not C")
		}
		if s := page(login("westclerk"), ""); strings.Contains(s, a) || strings.Contains(s, cc) {
			t.Errorf("another street's clerk sees A or C")
		}
		for _, c := range []*testkit.Client{login(testkit.Applicants[0].Mobile), login("admin0")} {
			if r := c.Get("/account"); strings.Contains(r.Text(), `href="/oversight/deadlines"`) {
				t.Error("the navigation offers the deadlines page to one without reach")
			}
			if r := c.Get("/oversight/deadlines"); r.Status != http.StatusNotFound {
				t.Errorf("the deadlines page for one without reach: %d", r.Status)
			}
			if r := c.Get("/api/v1/stats/aging"); r.Status != http.StatusNotFound {
				t.Errorf("the aging figures for one without reach: %d", r.Status)
			}
		}
		// The worklist's filter: the API twin of the lists.
		list := func(c *testkit.Client, due string) string {
			t.Helper()
			r := c.Get("/api/v1/cases?due=" + due)
			if r.Status != http.StatusOK {
				t.Fatalf("worklist ?due=%s: %d %s", due, r.Status, r.Body)
			}
			return r.Text()
		}
		if s := list(clerk, "overdue"); !strings.Contains(s, a) || strings.Contains(s, bb) {
			t.Errorf("the clerk's worklist ?due=overdue: want A and not B: %s", s)
		}
		if s := list(gaogang, "overdue"); strings.Contains(s, a) || !strings.Contains(s, cc) {
			t.Errorf("Gaogang's worklist ?due=overdue: want C and not A: %s", s)
		}
		if r := clerk.Get("/api/v1/cases?due=later"); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("?due=later: %d", r.Status)
		}

		// Six working days on, A is delayed; B falls due soon, then past
		// its own deadline it is escalated too, once.
		p.Clock.Set(cal.Due(dueA, workflow.Deadline{N: 5, Working: true}).Add(time.Hour))
		hailing = login("hailingsup")
		if got := aging(hailing); got["321202001"] != [3]float64{1, 0, 1} {
			t.Errorf("Hailing's aging six working days late: %v, want B on time, A delayed", got)
		}
		p.Clock.Set(cal.LastDay(dueB).Add(2 * time.Hour)) // its last day: one working day left
		hailing = login("hailingsup")
		if s := page(hailing, "?due=soon"); !strings.Contains(s, bb) || strings.Contains(s, a) {
			t.Errorf("Hailing's due-soon list on %v: want B (due %v) only", p.Clock.Now(), dueB)
		}
		p.Clock.Set(dueB.Add(time.Minute))
		run()
		run()
		if escalated(bb) != 1 || inbox("hailingsup", bb) != 1 {
			t.Errorf("B past its resumed deadline: %d escalations, %d notices to Hailing's supervisor", escalated(bb), inbox("hailingsup", bb))
		}
		if n := p.Count(t, `SELECT count(*) FROM jobs WHERE event = 'deadline.escalate' AND done_at IS NULL AND due_at <= $1`,
			timeArg(b, p.Clock.Now())); n != 0 {
			t.Errorf("%d escalation timers left due", n)
		}
		if _, err := p.Audit.Verify(ctx, p.DB); err != nil {
			t.Errorf("audit verify: %v", err)
		}
	})
}

// dueOf reads a case's due date.
func dueOf(t *testing.T, p *testkit.Portal, no string) time.Time {
	t.Helper()
	c, err := p.DB.CaseByNo(context.Background(), no)
	if err != nil {
		t.Fatal(err)
	}
	if c.DueAt == nil {
		t.Fatalf("%s (%s) has no due date", no, c.State)
	}
	return *c.DueAt
}

// timeArg is a time as each database's queries take it.
func timeArg(b testkit.Backend, t time.Time) any {
	if b.Postgres {
		return t.UTC()
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}
