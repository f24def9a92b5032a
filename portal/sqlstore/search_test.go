package sqlstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/sqlstore"
)

// searchFilters are the searches of the worklist (GET /cases?q=): each must
// read cases along the index of what it looks for — the case number's, or
// cases_applicant for the applicants found — whatever the reader's scope.
func searchFilters(applicant int64) map[string]listCase {
	street := []portal.ScopeTerm{{Division: "321202001"}}
	two := []portal.ScopeTerm{{Division: "321203001"}, {District: "321202"}}
	all := []string{"submitted", "correction", "reviewing", "approved", "rejected", "withdrawn"}
	return map[string]listCase{
		"search clerk mobile tail": {portal.CaseFilter{Scope: street, States: all, Limit: 51, NoForm: true,
			Search: portal.CaseSearch{Kind: portal.SearchMobileTail, Value: "0007"}}, "applicant_id"},
		"search clerk mobile": {portal.CaseFilter{Scope: street, States: all, Limit: 51, NoForm: true,
			Search: portal.CaseSearch{Kind: portal.SearchMobile, Value: "13900000007"}}, "applicant_id"},
		"search clerk name": {portal.CaseFilter{Scope: street, States: all, Limit: 51, NoForm: true,
			Search: portal.CaseSearch{Kind: portal.SearchName, Value: "张三"}}, "applicant_id"},
		"search street and district": {portal.CaseFilter{Scope: two, States: all, Service: "residence-permit", Limit: 51, NoForm: true,
			Search: portal.CaseSearch{Kind: portal.SearchMobileTail, Value: "0007"}}, "applicant_id"},
		"search city case number": {portal.CaseFilter{AllScope: true, States: all, Limit: 51, NoForm: true,
			Search: portal.CaseSearch{Kind: portal.SearchCaseNo, Value: "TZRP20260105000007"}}, "case_no"},
		"search clerk next page": {portal.CaseFilter{Scope: street, States: all, After: 1000, Limit: 51, NoForm: true,
			Search: portal.CaseSearch{Kind: portal.SearchMobileTail, Value: "0007"}}, "applicant_id"},
		"search applicant own": {portal.CaseFilter{ApplicantID: applicant, Desc: true, Limit: 51, NoForm: true,
			Search: portal.CaseSearch{Kind: portal.SearchCaseNo, Value: "TZRP20260105000007"}}, "case_no|applicant_id"},
	}
}

// TestSearchCases: each kind of search finds its cases within the scope
// and the states asked for, and nothing beyond them; the mobile number's
// last four digits are kept for users inserted after the migration.
func TestSearchCases(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		at := time.Date(2026, 3, 2, 9, 0, 0, 0, shanghai)
		wang := MustApplicant(t, db, "王小明", 1234) // 13800001234
		li := MustApplicant(t, db, "李四", 5678)
		other := &portal.User{Kind: portal.KindApplicant, Name: "赵六", Mobile: "13912341234", IDIndex: "idx-other",
			IDCipher: []byte{1}, PasswordHash: "hash", Locale: "zh-CN", CreatedAt: at} // another number ending in 1234
		MustTx(t, db, func(tx portal.Tx) error { return tx.InsertUser(ctx, other) })
		MustStaff(t, db, "clerk")
		c1 := MustCase(t, db, newCase("TZRP20260302000001", wang.ID, "321202001", "321202", "submitted", at))
		c2 := MustCase(t, db, newCase("TZRP20260302000002", wang.ID, "321202001", "321202", "approved", at))
		c3 := MustCase(t, db, newCase("TZRP20260302000003", wang.ID, "321202001", "321202", "draft", at))
		c4 := MustCase(t, db, newCase("TZRP20260302000004", li.ID, "321202001", "321202", "reviewing", at))
		c5 := MustCase(t, db, newCase("TZRP20260302000005", other.ID, "321203001", "321203", "submitted", at))
		street := []portal.ScopeTerm{{Division: "321202001"}}
		staff := []string{"submitted", "correction", "reviewing", "approved", "rejected", "withdrawn"}
		for _, tc := range []struct {
			name string
			f    portal.CaseFilter
			want []int64
		}{
			{"tail in the street", portal.CaseFilter{Scope: street, States: staff,
				Search: portal.CaseSearch{Kind: portal.SearchMobileTail, Value: "1234"}}, []int64{c1.ID, c2.ID}},
			{"tail city-wide", portal.CaseFilter{AllScope: true, States: staff,
				Search: portal.CaseSearch{Kind: portal.SearchMobileTail, Value: "1234"}}, []int64{c1.ID, c2.ID, c5.ID}},
			{"tail of another street", portal.CaseFilter{Scope: []portal.ScopeTerm{{Division: "321203001"}}, States: staff,
				Search: portal.CaseSearch{Kind: portal.SearchMobileTail, Value: "5678"}}, nil},
			{"full mobile", portal.CaseFilter{Scope: street, States: staff,
				Search: portal.CaseSearch{Kind: portal.SearchMobile, Value: li.Mobile}}, []int64{c4.ID}},
			{"name", portal.CaseFilter{Scope: []portal.ScopeTerm{{District: "321202"}}, States: staff,
				Search: portal.CaseSearch{Kind: portal.SearchName, Value: "王小明"}}, []int64{c1.ID, c2.ID}},
			{"name and state", portal.CaseFilter{Scope: street, States: []string{"approved"},
				Search: portal.CaseSearch{Kind: portal.SearchName, Value: "王小明"}}, []int64{c2.ID}},
			{"staff name is no applicant", portal.CaseFilter{AllScope: true, States: staff,
				Search: portal.CaseSearch{Kind: portal.SearchName, Value: "职员 clerk"}}, nil},
			{"case number", portal.CaseFilter{Scope: street, States: staff,
				Search: portal.CaseSearch{Kind: portal.SearchCaseNo, Value: "TZRP20260302000004"}}, []int64{c4.ID}},
			{"case number out of scope", portal.CaseFilter{Scope: street, States: staff,
				Search: portal.CaseSearch{Kind: portal.SearchCaseNo, Value: "TZRP20260302000005"}}, nil},
			{"applicant's own, draft too", portal.CaseFilter{ApplicantID: wang.ID, Desc: true,
				Search: portal.CaseSearch{Kind: portal.SearchCaseNo, Value: "TZRP20260302000003"}}, []int64{c3.ID}},
			{"another applicant's case", portal.CaseFilter{ApplicantID: li.ID, Desc: true,
				Search: portal.CaseSearch{Kind: portal.SearchCaseNo, Value: "TZRP20260302000001"}}, nil},
			{"unknown kind", portal.CaseFilter{AllScope: true, Search: portal.CaseSearch{Kind: "id_number", Value: "x"}}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cases, err := db.ListCases(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				var got []int64
				for _, c := range cases {
					got = append(got, c.ID)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("found %v, want %v", got, tc.want)
				}
			})
		}
	})
}

// TestMobileTailBackfill: migration 00030 gives the accounts that were
// there before it their number's last four digits, so a search finds the
// applicants of years past, not only those registered since.
func TestMobileTailBackfill(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustOpenBare(t, b.url(t))
			if err := sqlstore.MigrateTo(ctx, db, 28); err != nil {
				t.Fatal(err)
			}
			at := sqlstore.Time(db, time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC))
			if _, err := db.SQL().ExecContext(ctx, `INSERT INTO users (kind, name, mobile, created_at) VALUES
				('applicant', '王小明', '13800001234', $1), ('staff', '职员', NULL, $1)`, at); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			rows, err := db.SQL().QueryContext(ctx, `SELECT name, COALESCE(mobile_tail, '-') FROM users ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var name, tail string
				if err := rows.Scan(&name, &tail); err != nil {
					t.Fatal(err)
				}
				got = append(got, name+":"+tail)
			}
			if want := []string{"王小明:1234", "职员:-"}; !slices.Equal(got, want) {
				t.Errorf("after 00030: %v, want %v", got, want)
			}
		})
	}
}
