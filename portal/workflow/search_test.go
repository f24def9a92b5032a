package workflow_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

func TestParseSearch(t *testing.T) {
	for _, tc := range []struct {
		q, kind, value, rule string
	}{
		{"", "", "", ""},
		{" TZRP20261130000001 ", portal.SearchCaseNo, "TZRP20261130000001", ""},
		{"tzrp20261130000001", portal.SearchCaseNo, "TZRP20261130000001", ""},
		{"13800001234", portal.SearchMobile, "13800001234", ""},
		{"+86 138-0000-1234", portal.SearchMobile, "13800001234", ""},
		{"1234", portal.SearchMobileTail, "1234", ""},
		{"王小明", portal.SearchName, "王小明", ""},
		{"阿依古丽·买买提", portal.SearchName, "阿依古丽·买买提", ""},
		{"Anna Li", portal.SearchName, "Anna Li", ""},
		{"123", "", "", "search"},
		{"12345", "", "", "search"},
		{"23800001234", "", "", "search"},
		{"abc123", "", "", "search"},
		{"TZRP2026", "", "", "search"},
		{"王'; DROP", "", "", "search"},
		{"··", "", "", "search"},
		{strings.Repeat("王", 41), "", "", "max"},
	} {
		t.Run(tc.q, func(t *testing.T) {
			s, err := workflow.ParseSearch(tc.q)
			if tc.rule != "" {
				if f := fieldsOf(err); len(f) != 1 || f[0].Field != "q" || f[0].Rule != tc.rule {
					t.Errorf("ParseSearch(%q) = %+v, %v; want a %s error on q", tc.q, s, err, tc.rule)
				}
				return
			}
			if err != nil || s.Kind != tc.kind || s.Value != tc.value {
				t.Errorf("ParseSearch(%q) = %+v, %v; want %s %q", tc.q, s, err, tc.kind, tc.value)
			}
		})
	}
}

// searchEntries returns the audit entries of searches, oldest first.
func searchEntries(t *testing.T, r *rig) []portal.AuditEntry {
	t.Helper()
	ents, err := r.db.AuditEntries(context.Background(), portal.AuditFilter{AllScope: true, Action: workflow.SearchAction, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(ents)
	return ents
}

type searchDetail struct {
	Kind  string   `json:"kind"`
	Q     string   `json:"q"`
	Found []string `json:"found"`
}

// TestSearchWithinReach: a clerk finds a case by the applicant's last four
// digits, full number, name or the case number, only in their street and
// never in a private state; a district officer of another district finds
// nothing; an applicant searches their own cases only; every search leaves
// one audit entry naming the reader, the kind, what was looked for (a full
// number masked) and the cases found.
func TestSearchWithinReach(t *testing.T) {
	eachDB(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		r.add(t, "王小明", portal.KindApplicant)
		no := r.submitted(t, "王小明", `{"division":"321202001"}`)
		other := r.submitted(t, "applicant1", `{"division":"321202001"}`)
		draft, err := r.e.Create(ctx, r.as("applicant2"), "two-level", json.RawMessage(`{"division":"321202001"}`), "")
		if err != nil {
			t.Fatal(err)
		}
		mobile := r.users["王小明"].Mobile
		search := func(who, q string) ([]string, error) {
			t.Helper()
			cases, _, err := r.e.List(ctx, r.as(who), workflow.ListFilter{Q: q})
			var nos []string
			for _, c := range cases {
				nos = append(nos, c.No)
			}
			return nos, err
		}
		for _, tc := range []struct {
			who, q string
			want   []string
			kind   string
			logged string
		}{
			{"clerk", mobile[7:], []string{no}, portal.SearchMobileTail, mobile[7:]},
			{"officer_other", mobile[7:], nil, portal.SearchMobileTail, mobile[7:]},
			{"clerk", mobile, []string{no}, portal.SearchMobile, mobile[:3] + "****" + mobile[7:]},
			{"officer_a", "王小明", []string{no}, portal.SearchName, "王小明"},
			{"clerk", other, []string{other}, portal.SearchCaseNo, other},
			{"officer_other", other, nil, portal.SearchCaseNo, other},
			{"clerk", draft.No, nil, portal.SearchCaseNo, draft.No},
			{"clerk", r.users["applicant2"].Mobile, nil, portal.SearchMobile, ""},
			{"applicant2", draft.No, []string{draft.No}, portal.SearchCaseNo, draft.No},
			{"applicant2", no, nil, portal.SearchCaseNo, no},
		} {
			before := len(searchEntries(t, r))
			got, err := search(tc.who, tc.q)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("%s searches %q: %v, %v; want %v", tc.who, tc.q, got, err, tc.want)
			}
			ents := searchEntries(t, r)
			if len(ents) != before+1 {
				t.Fatalf("%s searches %q: %d audit entries, want one more than %d", tc.who, tc.q, len(ents), before)
			}
			ent := ents[len(ents)-1]
			var d searchDetail
			if err := json.Unmarshal(ent.Detail, &d); err != nil {
				t.Fatal(err)
			}
			if ent.Actor != r.as(tc.who).ID() || ent.Result != "ok" || d.Kind != tc.kind || !slices.Equal(d.Found, tc.want) ||
				tc.logged != "" && d.Q != tc.logged {
				t.Errorf("%s searches %q: entry %s %s %s, detail %+v", tc.who, tc.q, ent.Actor, ent.Action, ent.Result, d)
			}
			if tc.kind == portal.SearchMobile && strings.Contains(string(ent.Detail), tc.q) {
				t.Errorf("the entry keeps the full number: %s", ent.Detail)
			}
		}
		// A bad q is refused before any query, and leaves no entry.
		before := len(searchEntries(t, r))
		if _, err := search("clerk", "123"); portal.ErrorCode(err) != portal.EINVALID || len(fieldsOf(err)) != 1 || fieldsOf(err)[0].Field != "q" {
			t.Errorf("q=123: %v, want a 422 on q", err)
		}
		if n := len(searchEntries(t, r)); n != before {
			t.Errorf("a refused search left %d entries", n-before)
		}
	})
}

// TestQueueCounts: the worklist's counts, read from the rollups, follow
// the cases through transitions, within each reader's jurisdiction.
func TestQueueCounts(t *testing.T) {
	eachDB(t, func(t *testing.T, r *rig) {
		ctx := context.Background()
		r.add(t, "applicant3", portal.KindApplicant)
		r.add(t, "applicant4", portal.KindApplicant)
		r.add(t, "clerk_g", portal.KindStaff, portal.Grant{Role: "street_clerk", Division: "321203001"})
		a := r.submitted(t, "applicant1", `{"division":"321202001"}`)
		b := r.submitted(t, "applicant2", `{"division":"321202001"}`)
		r.submitted(t, "applicant3", `{"division":"321203001"}`)
		if _, err := r.e.Create(ctx, r.as("applicant4"), "two-level", json.RawMessage(`{"division":"321202001"}`), ""); err != nil {
			t.Fatal(err) // a draft: counts nowhere
		}
		fire := func(who, no, event string, in portal.Inputs) {
			t.Helper()
			if _, err := r.e.Fire(ctx, r.as(who), no, event, workflow.Input{Values: in}); err != nil {
				t.Fatalf("%s %s by %s: %v", no, event, who, err)
			}
		}
		fire("clerk", a, "approve_street", nil)
		fire("clerk", b, "reject", portal.Inputs{"reason": "材料不符合要求"})
		counts := func(who string) map[string]int64 {
			t.Helper()
			cs, err := r.e.QueueCounts(ctx, r.as(who))
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]int64{}
			for _, c := range cs {
				if c.Service != "two-level" {
					t.Errorf("count of service %s", c.Service)
				}
				m[c.State] = c.Cases
			}
			return m
		}
		// Every open state is listed, zeros included; no final, no private state.
		for who, want := range map[string]map[string]int64{
			"clerk":         {"submitted": 0, "street_approved": 1, "district_approved": 0},
			"officer_a":     {"submitted": 0, "street_approved": 1, "district_approved": 0},
			"officer_other": {"submitted": 1, "street_approved": 0, "district_approved": 0},
			"clerk_g":       {"submitted": 1, "street_approved": 0, "district_approved": 0},
		} {
			if got := counts(who); !maps.Equal(got, want) {
				t.Errorf("%s's counts: %v, want %v", who, got, want)
			}
		}
		fire("officer_b", a, "approve_district", nil) // not local: district_approved
		if got, want := counts("officer_a"), map[string]int64{"submitted": 0, "street_approved": 0, "district_approved": 1}; !maps.Equal(got, want) {
			t.Errorf("after approve_district: %v, want %v", got, want)
		}
		// The counts are those of the cases: the queue's list, state by state.
		for st, n := range counts("clerk") {
			cases, _, err := r.e.List(ctx, r.as("clerk"), workflow.ListFilter{States: []string{st}})
			if err != nil || int64(len(cases)) != n {
				t.Errorf("%s: %d cases listed (%v), counted %d", st, len(cases), err, n)
			}
		}
		if _, err := r.e.QueueCounts(ctx, r.as("applicant1")); portal.ErrorCode(err) != portal.ENOTFOUND {
			t.Errorf("an applicant's counts: %v, want 404", err)
		}
	})
}
