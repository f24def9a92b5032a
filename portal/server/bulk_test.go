package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"tzportal/portal/testkit"
)

// bulkCases hands in n residence-permit applications in 城东街道, each by
// an applicant of its own (one open application each), and returns them
// with their applicants' clients.
func bulkCases(t *testing.T, j *journey, n int) ([]string, []*testkit.Client) {
	t.Helper()
	var nos []string
	var apps []*testkit.Client
	for i := 0; i < n; i++ {
		_, app := j.p.NewApplicant(t, "申请人")
		no := j.create(t, app, testkit.ResidenceForm("address", fmt.Sprintf("海陵区东进东路%d号", i+1)))
		fire(t, app, no, "submit", nil, http.StatusOK)
		nos, apps = append(nos, no), append(apps, app)
	}
	return nos, apps
}

// acceptTrail counts what a case's accept left behind: its history row and its
// audit entry.
func acceptTrail(t *testing.T, j *journey, no string) (history, audit int) {
	t.Helper()
	history = j.p.Count(t, `SELECT count(*) FROM case_history h JOIN cases c ON c.id = h.case_id WHERE c.case_no = $1 AND h.event = 'accept'`, no)
	audit = j.p.Count(t, `SELECT count(*) FROM audit_log WHERE object = $1 AND action = 'case.accept' AND result = 'ok'`, "case:"+no)
	return history, audit
}

func bulkResults(t *testing.T, r *testkit.Response) []map[string]any {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("bulk: %d %s", r.Status, r.Body)
	}
	var out []map[string]any
	for _, it := range r.JSON(t)["results"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// TestBulkAccept: ten cases ticked, two no longer waiting for acceptance,
// one of another street among them: eight accepted, each with its history
// row and audit entry; the two refused 409 with nothing written; the other
// street's answers 404 as a case that does not exist, and stays as it
// was. A retry with the same Idempotency-Key answers each case as the
// first request did and writes nothing more.
func TestBulkAccept(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		nos, apps := bulkCases(t, j, 10)
		// Two no longer wait for acceptance: one returned for correction,
		// one withdrawn by its applicant.
		fire(t, j.clerk, nos[3], "request_correction", map[string]any{"reason": "请补充材料", "items": []string{"photo"}}, http.StatusOK)
		withdrawn := nos[6]
		fire(t, apps[6], withdrawn, "withdraw", nil, http.StatusOK)
		_, west := j.p.NewApplicant(t, "西城申请人")
		other := j.create(t, west, testkit.ResidenceForm("division", "321202002"))
		fire(t, west, other, "submit", nil, http.StatusOK)
		send := append([]string{}, nos[:5]...)
		send = append(send, other)
		send = append(send, nos[5:]...)
		send = append(send, nos[0]) // named twice: counts once

		body := map[string]any{"case_nos": send}
		res := bulkResults(t, j.clerk.Do("POST", "/api/v1/cases/events/accept", body, "Idempotency-Key", "bulk-2026-11-30-1"))
		if len(res) != 11 {
			t.Fatalf("%d results, want 11 (the repeated number once): %v", len(res), res)
		}
		for i, no := range send[:11] {
			if res[i]["case_no"] != no {
				t.Errorf("result %d is %v, want %s: results in the order sent", i, res[i]["case_no"], no)
			}
		}
		check := func(res []map[string]any) {
			t.Helper()
			for _, it := range res {
				no := it["case_no"].(string)
				h, a := acceptTrail(t, j, no)
				switch {
				case no == other:
					e, _ := it["error"].(map[string]any)
					if it["status"] != float64(404) || e == nil || e["code"] != "not_found" {
						t.Errorf("another street's case: %v, want 404 not_found", it)
					}
					if h != 0 || a != 0 {
						t.Errorf("another street's case: %d history, %d audit entries of accept", h, a)
					}
				case no == nos[3] || no == withdrawn:
					e, _ := it["error"].(map[string]any)
					if it["status"] != float64(409) || e == nil || e["code"] != "conflict" || e["detail"] == "" {
						t.Errorf("%s, not waiting for acceptance: %v, want 409 with a message", no, it)
					}
					if _, has := it["state"]; has {
						t.Errorf("%s: a refused case has no new state: %v", no, it)
					}
					if h != 0 || a != 0 {
						t.Errorf("%s, refused: %d history, %d audit entries of accept", no, h, a)
					}
				default:
					if it["status"] != float64(200) || it["state"] != "reviewing" || it["error"] != nil {
						t.Errorf("%s: %v, want 200 reviewing", no, it)
					}
					if h != 1 || a != 1 {
						t.Errorf("%s, accepted: %d history rows, %d audit entries of accept, want 1 and 1", no, h, a)
					}
				}
			}
		}
		check(res)
		if st := j.otherClerk.Do("GET", "/api/v1/cases/"+other, nil).JSON(t)["state"]; st != "submitted" {
			t.Errorf("another street's case: %v, want submitted (untouched)", st)
		}
		// The retry answers as the first did, and writes nothing more.
		again := bulkResults(t, j.clerk.Do("POST", "/api/v1/cases/events/accept", body, "Idempotency-Key", "bulk-2026-11-30-1"))
		for i := range res {
			if again[i]["case_no"] != res[i]["case_no"] || again[i]["status"] != res[i]["status"] || again[i]["state"] != res[i]["state"] {
				t.Errorf("retry, %v: %v, the first answered %v", res[i]["case_no"], again[i], res[i])
			}
		}
		check(again)
		// The longest key a client may send still makes per-case keys
		// within the limit: the case answers as Fire does (already
		// accepted: 409), not 422 for the key.
		for _, it := range bulkResults(t, j.clerk.Do("POST", "/api/v1/cases/events/accept", map[string]any{"case_nos": nos[:1]},
			"Idempotency-Key", strings.Repeat("k", 200))) {
			if it["status"] != float64(409) {
				t.Errorf("the longest key: %v", it)
			}
		}
		if r := j.clerk.Do("POST", "/api/v1/cases/events/accept", map[string]any{"case_nos": nos[:1]},
			"Idempotency-Key", strings.Repeat("k", 201)); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("a key over the limit: %d %s", r.Status, r.Body)
		}
	})
}

// TestBulkRefusals: what is wrong with the request as a whole refuses it
// whole; what is wrong with one case refuses that case.
func TestBulkRefusals(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		nos, _ := bulkCases(t, j, 1)
		many := make([]string, 101)
		for i := range many {
			many[i] = fmt.Sprintf("TZRP20261130%06d", i+500)
		}
		for _, tc := range []struct {
			name, event string
			body        any
			status      int
			rule, field string
		}{
			{"not bulk anywhere", "reject", map[string]any{"case_nos": nos, "reason": "不符合条件"}, 422, "not_bulk", ""},
			{"no such event", "approve_all", map[string]any{"case_nos": nos}, 404, "", ""},
			{"no cases", "accept", map[string]any{"case_nos": []string{}}, 422, "", "case_nos"},
			{"no case_nos", "accept", map[string]any{}, 422, "", "case_nos"},
			{"over the limit", "accept", map[string]any{"case_nos": many}, 422, "", "case_nos"},
			{"unknown key", "accept", map[string]any{"case_nos": nos, "reason": "批量"}, 422, "", "reason"},
			{"a version", "accept", map[string]any{"case_nos": nos, "version": 2}, 422, "", "version"},
			{"case_nos not a list", "accept", map[string]any{"case_nos": nos[0]}, 422, "", "case_nos"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := j.clerk.Do("POST", "/api/v1/cases/events/"+tc.event, tc.body)
				if r.Status != tc.status {
					t.Fatalf("%d, want %d: %s", r.Status, tc.status, r.Body)
				}
				m := r.JSON(t)
				if tc.rule != "" && m["rule"] != tc.rule {
					t.Errorf("rule %v, want %s: %v", m["rule"], tc.rule, m)
				}
				if tc.field != "" && !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
					t.Errorf("no error names %s: %s", tc.field, r.Body)
				}
			})
		}
		if h, a := acceptTrail(t, j, nos[0]); h+a != 0 {
			t.Errorf("a refused request changed the case: %d history, %d audit", h, a)
		}
		// Per case: a malformed number, a service whose accept is not bulk
		// (the endorsement has none), a number of no service.
		res := bulkResults(t, j.clerk.Do("POST", "/api/v1/cases/events/accept",
			map[string]any{"case_nos": []string{"not-a-case", "TZPE20261130000001", "TZXX20261130000001", nos[0]}}))
		want := []float64{404, 422, 404, 200}
		for i, it := range res {
			if it["status"] != want[i] {
				t.Errorf("%v: status %v, want %v: %v", it["case_no"], it["status"], want[i], it)
			}
		}
		if e, _ := res[1]["error"].(map[string]any); e == nil || e["rule"] != "not_bulk" || e["detail"] == "" {
			t.Errorf("not bulk in its service: %v", res[1])
		}
		// The applicant's own case: Fire's answer (403), never a step.
		_, app := j.p.NewApplicant(t, "申请人")
		own := j.create(t, app, testkit.ResidenceForm())
		fire(t, app, own, "submit", nil, http.StatusOK)
		if res := bulkResults(t, app.Do("POST", "/api/v1/cases/events/accept", map[string]any{"case_nos": []string{own, nos[0]}})); res[0]["status"] != float64(403) || res[1]["status"] != float64(404) {
			t.Errorf("an applicant: %v", res)
		}
	})
}

// TestBulkAcceptForm: the worklist works without JavaScript: a checkbox
// per row with a label naming the case, one button per bulk event; the
// form's post accepts the ticked cases and lists each outcome in words,
// linking to each case; nothing ticked says so on the worklist.
func TestBulkAcceptForm(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		nos, _ := bulkCases(t, j, 3)
		fire(t, j.clerk, nos[2], "request_correction", map[string]any{"reason": "请补充材料", "items": []string{"photo"}}, http.StatusOK)
		list := j.clerk.Get("/cases?state=all")
		wantStatus(t, list, http.StatusOK, "the worklist")
		wantText(t, list, "a form of ticks and buttons",
			`<input type="checkbox" name="case_no" value="`+nos[0]+`" id="pick-`+nos[0]+`">`,
			`<label for="pick-`+nos[0]+`" class="visually-hidden">选择办件 `+nos[0]+`</label>`,
			`formaction="/cases/events/accept?state=all"`, "受理所选办件", `name="_csrf"`, `<caption`)
		if strings.Contains(list.Text(), "/cases/events/reject") {
			t.Error("the worklist offers a refusal in bulk")
		}
		// The supervisor reads the list: no ticks, no buttons.
		if sup := j.sup.Get("/cases?state=all"); strings.Contains(sup.Text(), `name="case_no"`) || strings.Contains(sup.Text(), "/cases/events/") {
			t.Error("a supervisor is offered bulk actions")
		}
		token := testkit.FormToken(t, list.Text())
		res := j.clerk.Post("/cases/events/accept?state=all", "_csrf", token, "_idem", testkit.FormField(list.Text(), "_idem"),
			"case_no", nos[0], "case_no", nos[1], "case_no", nos[2])
		wantStatus(t, res, http.StatusOK, "the results")
		wantText(t, res, "each case's outcome in words", "批量办理结果", "已办理 2 件，未能办理 1 件。",
			`<a href="/cases/`+nos[0]+`">`+nos[0]+`</a>`, `<a href="/cases/`+nos[2]+`">`,
			"已受理（现在：审核中）", "这个办件的状态已经变化")
		for _, no := range nos[:2] {
			if h, a := acceptTrail(t, j, no); h != 1 || a != 1 {
				t.Errorf("%s: %d history rows, %d audit entries", no, h, a)
			}
		}
		// The results in English.
		j.clerk.SetCookie("tz_lang", "en")
		list = j.clerk.Get("/cases?state=all")
		wantText(t, list, "English labels", "Accept the selected cases", `class="visually-hidden">Select case `+nos[0])
		none := j.clerk.Post("/cases/events/accept", "_csrf", testkit.FormToken(t, list.Text()))
		wantStatus(t, none, http.StatusUnprocessableEntity, "nothing ticked")
		wantText(t, none, "the worklist says to tick a case", "Please tick at least one case first.", `href="#bulk-cases"`, `id="bulk-cases"`)
	})
}
