package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"tzportal/portal"
	"tzportal/portal/testkit"
	"tzportal/portal/workflow"
)

// searchEntries returns the audit entries of searches, oldest first.
func searchEntries(t *testing.T, p *testkit.Portal) []portal.AuditEntry {
	t.Helper()
	ents, err := p.DB.AuditEntries(context.Background(), portal.AuditFilter{AllScope: true, Action: workflow.SearchAction, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(ents)-1; i < j; i, j = i+1, j-1 {
		ents[i], ents[j] = ents[j], ents[i]
	}
	return ents
}

// TestSearchCases: GET /api/v1/cases?q= finds a case by the last four
// digits of the applicant's mobile number, the full number, the name or
// the case number, in the list's own shape; a clerk of another street finds
// nothing; each search leaves one audit entry naming the reader and the
// kind; a q that is none of these is 422 on q.
func TestSearchCases(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		alice := testkit.Applicants[0]
		no := j.create(t, j.alice, testkit.ResidenceForm())
		fire(t, j.alice, no, "submit", nil, http.StatusOK)
		listed := j.clerk.Do("GET", "/api/v1/cases?state=all", nil).JSON(t)["items"].([]any)
		search := func(c *testkit.Client, q string) []any {
			t.Helper()
			r := c.Do("GET", "/api/v1/cases?q="+url.QueryEscape(q), nil)
			if r.Status != http.StatusOK {
				t.Fatalf("q=%s: %d %s", q, r.Status, r.Body)
			}
			return r.JSON(t)["items"].([]any)
		}
		for _, tc := range []struct {
			who  *testkit.Client
			id   int64
			q    string
			kind string
			find bool
		}{
			{j.clerk, j.clerk1ID, alice.Mobile[7:], portal.SearchMobileTail, true},
			{j.otherClerk, j.p.MustUserID(t, "westclerk"), alice.Mobile[7:], portal.SearchMobileTail, false},
			{j.clerk, j.clerk1ID, alice.Mobile, portal.SearchMobile, true},
			{j.officer, j.p.MustUserID(t, "officer"), alice.Name, portal.SearchName, true},
			{j.sup, j.p.MustUserID(t, "sup"), no, portal.SearchCaseNo, true},
			{j.otherClerk, j.p.MustUserID(t, "westclerk"), no, portal.SearchCaseNo, false},
			{j.bob, 0, no, portal.SearchCaseNo, false}, // an applicant searches their own cases only
			{j.alice, j.aliceID, no, portal.SearchCaseNo, true},
		} {
			before := len(searchEntries(t, j.p))
			items := search(tc.who, tc.q)
			if !tc.find && len(items) != 0 || tc.find && (len(items) != 1 || items[0].(map[string]any)["case_no"] != no) {
				t.Errorf("q=%s (%s): %v", tc.q, tc.kind, items)
			}
			// Nothing more revealed than the list shows: the same item.
			if tc.find && tc.who != j.alice && !reflect.DeepEqual(items[0], listed[0]) {
				t.Errorf("q=%s: the item differs from the list's:\n%v\n%v", tc.q, items[0], listed[0])
			}
			ents := searchEntries(t, j.p)
			if len(ents) != before+1 {
				t.Fatalf("q=%s: %d entries, want one more than %d", tc.q, len(ents), before)
			}
			ent := ents[len(ents)-1]
			var d struct {
				Kind  string   `json:"kind"`
				Q     string   `json:"q"`
				Found []string `json:"found"`
			}
			if err := json.Unmarshal(ent.Detail, &d); err != nil {
				t.Fatal(err)
			}
			if tc.id != 0 && ent.Actor != "user:"+strconv.FormatInt(tc.id, 10) || d.Kind != tc.kind || tc.find != (len(d.Found) == 1) {
				t.Errorf("q=%s: entry by %s, detail %+v", tc.q, ent.Actor, d)
			}
			if tc.kind == portal.SearchMobile && (strings.Contains(string(ent.Detail), tc.q) || d.Q != "138****0001") {
				t.Errorf("the entry keeps the full number: %s", ent.Detail)
			}
		}
		for _, q := range []string{"123", "abc1", strings.Repeat("张", 41)} {
			r := j.clerk.Do("GET", "/api/v1/cases?q="+url.QueryEscape(q), nil)
			var p struct {
				Errors []struct{ Field, Rule, Message string }
			}
			if r.Status != http.StatusUnprocessableEntity || json.Unmarshal(r.Body, &p) != nil || len(p.Errors) != 1 ||
				p.Errors[0].Field != "q" || p.Errors[0].Message == "" || strings.Contains(p.Errors[0].Message, "validation.") {
				t.Errorf("q=%s: %d %s", q, r.Status, r.Body)
			}
		}
	})
}

// TestWorklistSearchBox: the worklist's search is a plain GET form (no
// JavaScript): it finds the case, keeps what was typed, and shows a bad
// search's message beside the field, still keeping it.
func TestWorklistSearchBox(t *testing.T) {
	j := newJourney(t, testkit.Backend{})
	no := j.create(t, j.alice, testkit.ResidenceForm())
	fire(t, j.alice, no, "submit", nil, http.StatusOK)
	page := j.clerk.Get("/cases")
	wantStatus(t, page, http.StatusOK, "the worklist")
	wantText(t, page, "a labelled search field in the GET filter form", `<form method="get" action="/cases"`,
		`<label for="field-q">`, `<input id="field-q" name="q" type="search" value=""`)
	found := j.clerk.Get("/cases?q=0001")
	wantStatus(t, found, http.StatusOK, "a search")
	wantText(t, found, "the case found, the search kept", "/cases/"+no, `name="q" type="search" value="0001"`)
	none := j.otherClerk.Get("/cases?q=0001")
	wantStatus(t, none, http.StatusOK, "a search out of reach")
	if strings.Contains(none.Text(), no) {
		t.Error("another street's clerk finds the case")
	}
	bad := j.clerk.Get("/cases?q=" + url.QueryEscape("12x"))
	wantStatus(t, bad, http.StatusUnprocessableEntity, "a bad search")
	wantText(t, bad, "the error beside the field, the search kept", `id="error-q"`, `value="12x"`, `aria-invalid="true"`, `href="#field-q"`)
}

// TestWorklistCounts: the worklist shows the open cases of the reader's
// jurisdiction per state, as the API does, and they follow a transition.
func TestWorklistCounts(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := j.create(t, j.alice, testkit.ResidenceForm())
		fire(t, j.alice, no, "submit", nil, http.StatusOK)
		counts := func(c *testkit.Client) map[string]float64 {
			t.Helper()
			r := c.Do("GET", "/api/v1/cases/counts", nil)
			if r.Status != http.StatusOK {
				t.Fatalf("counts: %d %s", r.Status, r.Body)
			}
			m := map[string]float64{}
			for _, it := range r.JSON(t)["items"].([]any) {
				it := it.(map[string]any)
				m[it["service"].(string)+":"+it["state"].(string)] = it["cases"].(float64)
			}
			return m
		}
		if c := counts(j.clerk); c["residence-permit:submitted"] != 1 || c["residence-permit:reviewing"] != 0 {
			t.Errorf("clerk's counts: %v", c)
		}
		if c := counts(j.otherClerk); c["residence-permit:submitted"] != 0 {
			t.Errorf("another street's counts: %v", c)
		}
		page := j.clerk.Get("/cases")
		wantText(t, page, "the count beside the state, and as a link", "已提交（1）", `href="/cases?state=residence-permit%3asubmitted"`)
		fire(t, j.clerk, no, "accept", nil, http.StatusOK)
		if c := counts(j.officer); c["residence-permit:submitted"] != 0 || c["residence-permit:reviewing"] != 1 {
			t.Errorf("officer's counts after accept: %v", c)
		}
		if r := j.alice.Do("GET", "/api/v1/cases/counts", nil); r.Status != http.StatusNotFound {
			t.Errorf("an applicant's counts: %d", r.Status)
		}
	})
}
