package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tzportal/portal/testkit"
	"tzportal/portal/workflow"
)

// TestReviewSampling, on both databases with a fake clock: the day's
// decided cases are drawn once however many nodes draw at once; the draw
// is reproducible from the seed its audit entry logs and the day's
// decisions; a supervisor of the district reviews what was drawn there and
// one of another district sees nothing of it; a disagreement needs its
// reason (the page keeps what was typed), a finding is recorded once, and
// the findings are counted per clerk.
func TestReviewSampling(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		p := j.p
		ctx := context.Background()
		p.MustStaff(t, "hailingsup", "supervisor", "321202")
		p.MustStaff(t, "gaogangsup", "supervisor", "321203")
		login := func(l string) *testkit.Client { c := p.NewClient(t); c.Login(l); return c }
		// Half the decisions drawn, so that a handful of cases draw some.
		pol := *p.Engine.Sampling
		pol.Share = 0.5
		p.Engine.Sampling = &pol

		var decided []string
		for i := range 8 {
			_, a := p.NewApplicant(t, "申请人")
			no := j.create(t, a, testkit.ResidenceForm())
			fire(t, a, no, "submit", nil, 200)
			fire(t, j.clerk, no, "accept", nil, 200)
			if i%3 == 0 {
				fire(t, j.clerk, no, "reject", map[string]any{"reason": "居住证明材料与实际居住地址不符"}, 200)
			} else {
				fire(t, j.clerk, no, "approve", nil, 200)
			}
			decided = append(decided, no)
		}
		// An open case is no decision.
		open := j.create(t, j.alice, testkit.ResidenceForm())
		fire(t, j.alice, open, "submit", nil, 200)

		// The next day two nodes draw at once: one draw of the day.
		p.Clock.Advance(24 * time.Hour)
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i := range counts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := p.Engine.DrawSamples(ctx)
				if err != nil {
					t.Error(err)
				}
				counts[i] = n
			}()
		}
		wg.Wait()
		day := p.Clock.Now().In(p.Engine.Calendar.Zone).AddDate(0, 0, -1).Format(time.DateOnly)
		if n := p.Count(t, `SELECT count(*) FROM samples WHERE service = 'residence-permit' AND day = $1`, day); n != 1 {
			t.Fatalf("%d draws of %s", n, day)
		}
		if n, _ := p.Engine.DrawSamples(ctx); n != 0 {
			t.Errorf("drawn again: %d", n)
		}
		// Reproducible: the seed in the audit entry and the day's decided
		// cases select exactly the cases drawn.
		entries, err := p.DB.AuditOf(ctx, []string{"sample:residence-permit:" + day})
		if err != nil || len(entries["sample:residence-permit:"+day]) != 1 {
			t.Fatalf("the draw's audit entry: %v %v", entries, err)
		}
		var detail struct {
			Seed    string   `json:"seed"`
			Share   float64  `json:"share"`
			Decided int      `json:"decided"`
			Drawn   []string `json:"drawn"`
		}
		if err := json.Unmarshal(entries["sample:residence-permit:"+day][0].Detail, &detail); err != nil {
			t.Fatal(err)
		}
		slices.Sort(decided)
		again := workflow.SampleSelect(detail.Seed, detail.Share, decided)
		if detail.Decided != len(decided) || detail.Share != 0.5 || !slices.Equal(again, detail.Drawn) || len(detail.Seed) != 32 {
			t.Fatalf("redrawn from the seed: %v, logged %+v (decided %v)", again, detail, decided)
		}
		if len(again) == 0 {
			t.Fatalf("nothing drawn of %d (seed %s): the test needs a draw", len(decided), detail.Seed)
		}

		// A day later: everyone logs in again.
		hailing, gaogang := login("hailingsup"), login("gaogangsup")
		clerk, alice := login("clerk1"), login(testkit.Applicants[0].Mobile)
		// The district's supervisor sees the drawn cases; another
		// district's sees none, and cannot record a finding on one.
		var list struct {
			Items []struct {
				Sample    int64  `json:"sample"`
				CaseNo    string `json:"case_no"`
				Decision  string `json:"decision"`
				DecidedBy string `json:"decided_by"`
				Finding   string `json:"finding"`
			} `json:"items"`
			Clerks []struct {
				Clerk    string `json:"clerk"`
				Drawn    int    `json:"drawn"`
				Agree    int    `json:"agree"`
				Disagree int    `json:"disagree"`
			} `json:"clerks"`
		}
		r := hailing.Get("/api/v1/reviews")
		if r.Status != 200 || json.Unmarshal(r.Body, &list) != nil || len(list.Items) != len(again) {
			t.Fatalf("the district's supervisor: %d %s", r.Status, r.Body)
		}
		first := list.Items[0]
		if !slices.Contains(again, first.CaseNo) || first.DecidedBy == "" || (first.Decision != "approve" && first.Decision != "reject") {
			t.Errorf("a drawn case: %+v", first)
		}
		if r := gaogang.Get("/api/v1/reviews"); r.Status != 200 || strings.Contains(r.Text(), first.CaseNo) ||
			!strings.Contains(r.Text(), `"items":[]`) {
			t.Errorf("another district's supervisor: %d %s", r.Status, r.Body)
		}
		path := "/api/v1/reviews/" + jsonInt(first.Sample) + "/" + first.CaseNo
		if r := gaogang.Do("POST", path, map[string]string{"finding": "agree"}); r.Status != http.StatusNotFound {
			t.Errorf("another district's finding: %d %s", r.Status, r.Body)
		}
		if n := p.Count(t, `SELECT count(*) FROM audit_log WHERE action = 'review.finding' AND result <> 'ok'`); n != 1 {
			t.Errorf("the refused finding audited %d times", n)
		}
		for _, c := range []*testkit.Client{clerk, alice} {
			if r := c.Get("/api/v1/reviews"); r.Status != http.StatusNotFound {
				t.Errorf("not a supervisor: %d", r.Status)
			}
			if r := c.Get("/oversight/reviews"); r.Status != http.StatusNotFound {
				t.Errorf("not a supervisor, the page: %d", r.Status)
			}
		}

		// A disagreement needs its reason; on the page, the error is next
		// to the field and what was typed stays.
		if r := hailing.Do("POST", path, map[string]string{"finding": "disagree", "reason": "否"}); r.Status != http.StatusUnprocessableEntity ||
			!strings.Contains(r.Text(), `"reason"`) {
			t.Errorf("a disagreement without its reason: %d %s", r.Status, r.Body)
		}
		if r := hailing.Do("POST", path, map[string]string{"finding": "maybe"}); r.Status != http.StatusUnprocessableEntity ||
			!strings.Contains(r.Text(), "请选择是否同意原决定") {
			t.Errorf("no finding: %d %s", r.Status, r.Body)
		}
		page := hailing.Submit("/oversight/reviews", "/oversight/reviews/"+jsonInt(first.Sample)+"/"+first.CaseNo,
			"finding", "disagree", "reason", "短")
		text := page.Text()
		if page.Status != http.StatusUnprocessableEntity || !strings.Contains(text, "理由") || !strings.Contains(text, `class="field-error"`) ||
			!strings.Contains(text, `value="disagree" checked`) || !strings.Contains(text, ">短</textarea>") {
			t.Errorf("the page after a short reason: %d", page.Status)
		}
		reason := "材料中的居住证明与申请地址不一致，应不予办理"
		ok := hailing.Submit("/oversight/reviews", "/oversight/reviews/"+jsonInt(first.Sample)+"/"+first.CaseNo,
			"finding", "disagree", "reason", reason)
		if loc := ok.Header.Get("Location"); ok.Status != http.StatusSeeOther || !strings.Contains(loc, first.CaseNo) {
			t.Errorf("the finding through the page: %d %s", ok.Status, loc)
		} else if done := hailing.Get(loc); !strings.Contains(done.Text(), first.CaseNo) || !strings.Contains(done.Text(), `role="status"`) {
			t.Errorf("the page after the finding does not confirm it")
		}
		if r := hailing.Do("POST", path, map[string]string{"finding": "agree"}); r.Status != http.StatusConflict {
			t.Errorf("a second finding: %d %s", r.Status, r.Body)
		}
		for _, it := range list.Items[1:] {
			if r := hailing.Do("POST", "/api/v1/reviews/"+jsonInt(it.Sample)+"/"+it.CaseNo, map[string]string{"finding": "agree"}); r.Status != http.StatusCreated {
				t.Errorf("agree on %s: %d %s", it.CaseNo, r.Status, r.Body)
			}
		}
		// Counted per clerk: every decision was clerk1's.
		r = hailing.Get("/api/v1/reviews?all=1")
		list.Clerks = nil
		if err := json.Unmarshal(r.Body, &list); err != nil || len(list.Clerks) != 1 {
			t.Fatalf("per clerk: %s", r.Body)
		}
		if k := list.Clerks[0]; k.Drawn != len(again) || k.Disagree != 1 || k.Agree != len(again)-1 || k.Clerk == "" {
			t.Errorf("clerk1's findings: %+v", k)
		}
		if r := hailing.Get("/api/v1/reviews"); !strings.Contains(r.Text(), `"items":[]`) {
			t.Errorf("nothing waits after the findings: %s", r.Body)
		}
		if n := p.Count(t, `SELECT count(*) FROM audit_log WHERE action = 'review.finding' AND result = 'ok'`); n != len(again) {
			t.Errorf("%d findings audited, want %d", n, len(again))
		}
		if n, err := p.Audit.Verify(ctx, p.DB); err != nil || n == 0 {
			t.Errorf("the audit chain: %d %v", n, err)
		}
	})
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }
