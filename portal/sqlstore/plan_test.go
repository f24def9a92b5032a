package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/sqlstore"
)

// The lists stay fast with millions of cases only if every read of the
// cases table is bounded by an index on the reader's scope: no full scan,
// no walk of a whole index. These tests ask each database for its plan of
// every list the portal shows, over a spread of cases like the city's
// (the load tool measures the speed).

type listCase struct {
	f     portal.CaseFilter
	bound string // the column whose index must bound every read of cases ("a|b": either)
}

// boundBy reports whether the plan's condition cond contains format
// (e.g. "(%s=?") for one of the columns of bound.
func boundBy(cond, format, bound string) bool {
	for _, col := range strings.Split(bound, "|") {
		if strings.Contains(cond, fmt.Sprintf(format, col)) {
			return true
		}
	}
	return false
}

// listFilters are the lists the portal shows: a clerk's, an officer's and
// a supervisor's queue (Queue: the partial indexes of open cases), their
// next pages, a state filter, the overdue filter, everything but drafts
// ("all"), and an applicant's own cases.
func listFilters(applicant int64) map[string]listCase {
	street := []portal.ScopeTerm{{Division: "321202001"}}
	district := []portal.ScopeTerm{{District: "321202"}}
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, shanghai)
	return map[string]listCase{
		"clerk queue":     {portal.CaseFilter{Scope: street, Queue: true, Limit: 51, NoForm: true}, "division"},
		"clerk next page": {portal.CaseFilter{Scope: street, Queue: true, After: 1000, Limit: 51, NoForm: true}, "division"},
		"clerk one state": {portal.CaseFilter{Scope: street, States: []string{"reviewing"}, Limit: 51, NoForm: true}, "division"},
		"clerk overdue":   {portal.CaseFilter{Scope: street, Queue: true, OverdueAt: &now, Limit: 51, NoForm: true}, "division"},
		"clerk all": {portal.CaseFilter{Scope: street, States: []string{"submitted", "correction", "reviewing", "approved", "rejected", "withdrawn"},
			Limit: 51, NoForm: true}, "division"},
		"officer queue": {portal.CaseFilter{Scope: district, Queue: true, Limit: 51, NoForm: true}, "district"},
		"clerk of two streets": {portal.CaseFilter{Scope: []portal.ScopeTerm{{Division: "321202001"}, {Division: "321202002"}},
			Queue: true, Limit: 51, NoForm: true}, "division"},
		"street and district": {portal.CaseFilter{Scope: []portal.ScopeTerm{{Division: "321203001"}, {District: "321202"}},
			Queue: true, Limit: 51, NoForm: true}, "division|district"},
		"supervisor queue":    {portal.CaseFilter{AllScope: true, States: []string{"submitted", "correction", "reviewing"}, Queue: true, Limit: 51, NoForm: true}, "state"},
		"supervisor a state":  {portal.CaseFilter{AllScope: true, States: []string{"correction"}, Limit: 51, NoForm: true}, "state"},
		"applicant own":       {portal.CaseFilter{ApplicantID: applicant, Desc: true, Limit: 51, NoForm: true}, "applicant_id"},
		"applicant next page": {portal.CaseFilter{ApplicantID: applicant, Desc: true, After: 1000, Limit: 51, NoForm: true}, "applicant_id"},
	}
}

// seedSpread writes 6,000 cases of 600 applicants over 40 streets, as a
// year of work looks: 94 % finished, the open ones the newest (so a walk of
// the primary key in id order meets every finished case first). It returns
// an applicant.
// planQuery is a query under test and the column whose index must bound
// every read of cases.
type planQuery struct {
	query string
	args  []any
	bound string
}

// planQueries are the lists' queries (listFilters) and the deadline views'
// (the overdue and due-soon lists, the aging bands): a street's or a
// district's open cases along the partial queue indexes, the city's a
// state at a time.
func planQueries(db *sqlstore.DB, applicant int64) map[string]planQuery {
	out := map[string]planQuery{}
	for name, lc := range listFilters(applicant) {
		q, args := sqlstore.ListQuery(db, lc.f)
		out[name] = planQuery{q, args, lc.bound}
	}
	for name, lc := range searchFilters(applicant) {
		q, args := sqlstore.ListQuery(db, lc.f)
		out[name] = planQuery{q, args, lc.bound}
	}
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, shanghai)
	steps := map[string][]string{"residence-permit": {"reviewing", "submitted"}, "hukou-transfer": {"district_review", "submitted"}}
	street := []portal.ScopeTerm{{Division: "321202001"}}
	district := []portal.ScopeTerm{{District: "321202"}}
	for name, f := range map[string]struct {
		f     portal.DeadlineFilter
		bound string
	}{
		"deadlines clerk overdue": {portal.DeadlineFilter{Scope: street, Steps: steps, DueUntil: now, Limit: 51}, "division"},
		"deadlines officer soon": {portal.DeadlineFilter{Scope: district, Steps: steps, DueAfter: now, DueUntil: now.AddDate(0, 0, 3),
			Limit: 51}, "district"},
		"deadlines next page": {portal.DeadlineFilter{Scope: district, Steps: steps, DueUntil: now, AfterDue: now.AddDate(0, 0, -9),
			AfterID: 1000, Limit: 51}, "district"},
	} {
		q, args := sqlstore.DeadlineQuery(db, f.f)
		out[name] = planQuery{q, args, f.bound}
	}
	for name, f := range map[string]struct {
		f     portal.DeadlineFilter
		bound string
	}{
		"aging street":              {portal.DeadlineFilter{Scope: street, Steps: steps}, "division"},
		"aging district":            {portal.DeadlineFilter{Scope: district, Steps: steps}, "district"},
		"aging street and district": {portal.DeadlineFilter{Scope: []portal.ScopeTerm{{Division: "321203001"}, district[0]}, Steps: steps}, "division|district"},
		"aging city":                {portal.DeadlineFilter{AllScope: true, Steps: steps}, "state"},
	} {
		q, args := sqlstore.AgingQuery(db, f.f, now, now.AddDate(0, 0, -7))
		out[name] = planQuery{q, args, f.bound}
	}
	return out
}

func seedSpread(t *testing.T, db *sqlstore.DB) int64 {
	t.Helper()
	ctx := context.Background()
	var streets [][2]string // division, district
	rows, err := db.SQL().QueryContext(ctx, `SELECT code, parent FROM divisions WHERE length(code) = 9 ORDER BY code LIMIT 40`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s [2]string
		if err := rows.Scan(&s[0], &s[1]); err != nil {
			t.Fatal(err)
		}
		streets = append(streets, s)
	}
	rows.Close()
	if len(streets) < 40 {
		t.Fatalf("%d streets in the division tree", len(streets))
	}
	const n = 6000
	finished := []string{"approved", "approved", "approved", "approved", "approved", "approved", "rejected", "withdrawn"}
	open := []string{"draft", "submitted", "submitted", "correction", "reviewing", "reviewing"}
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, shanghai)
	var apps []int64
	MustTx(t, db, func(tx portal.Tx) error {
		for i := range 600 {
			u := &portal.User{Kind: portal.KindApplicant, Name: "申请人", Mobile: fmt.Sprintf("139%08d", i),
				IDIndex: fmt.Sprintf("spread-%04d", i), IDCipher: []byte{1}, PasswordHash: "hash", Locale: "zh-CN", CreatedAt: at}
			if err := tx.InsertUser(ctx, u); err != nil {
				return err
			}
			apps = append(apps, u.ID)
		}
		for i := range n {
			s := streets[i%len(streets)]
			state := finished[i%len(finished)]
			if i >= n*94/100 {
				state = open[i%len(open)]
			}
			c := newCase(fmt.Sprintf("TZRP%014d", 20260105000000+i), apps[i%len(apps)], s[0], s[1], state, at)
			if err := tx.InsertCase(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	if _, err := db.SQL().ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	return apps[0]
}

// sqliteRead matches the SQLite plan lines that read cases.
var sqliteRead = regexp.MustCompile(`^(SCAN|SEARCH) (cases|c)\b(.*)$`)

func TestListPlansSQLite(t *testing.T) {
	db := MustOpen(t, backends[0].url(t))
	app := seedSpread(t, db)
	for name, lc := range planQueries(db, app) {
		t.Run(name, func(t *testing.T) {
			query, args := lc.query, lc.args
			rows, err := db.SQL().QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			reads := 0
			for _, line := range plan {
				m := sqliteRead.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				reads++
				// SEARCH … (division=? AND state=?) or a point lookup (rowid=?).
				if m[1] != "SEARCH" || !(boundBy(m[3], "(%s=?", lc.bound) || strings.Contains(m[3], "(rowid=?)")) {
					t.Errorf("%q reads cases without bounding them by %s:\n%s", line, lc.bound, strings.Join(plan, "\n"))
				}
			}
			if reads == 0 {
				t.Errorf("no read of cases in the plan:\n%s", strings.Join(plan, "\n"))
			}
		})
	}
}

func TestListPlansPostgres(t *testing.T) {
	db := MustOpen(t, backends[1].url(t))
	app := seedSpread(t, db)
	// A point lookup of the page's rows by id.
	lookup := regexp.MustCompile(`^\(id = \w+\.id\)$`)
	for name, lc := range planQueries(db, app) {
		t.Run(name, func(t *testing.T) {
			query, args := lc.query, lc.args
			ctx := context.Background()
			tx, err := db.SQL().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			// With sequential scans priced out, a plan that still reads the
			// whole table (or walks a whole index instead) has no index to use.
			if _, err := tx.ExecContext(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
				t.Fatal(err)
			}
			var out []byte
			if err := tx.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) "+query, args...).Scan(&out); err != nil {
				t.Fatal(err)
			}
			var plan []struct{ Plan pgNode }
			if err := json.Unmarshal(out, &plan); err != nil {
				t.Fatal(err)
			}
			reads := 0
			var check func(n pgNode)
			check = func(n pgNode) {
				if n.Relation == "cases" || strings.HasPrefix(n.Index, "cases") {
					reads++
					switch {
					case n.Type == "Seq Scan":
						t.Errorf("sequential scan of cases:\n%s", out)
					case n.Index != "" && !boundBy(n.IndexCond, "((%s = ", lc.bound) &&
						!boundBy(n.IndexCond, "(%s = ", lc.bound) && !lookup.MatchString(n.IndexCond):
						t.Errorf("%s using %s (%s) does not bound cases by %s:\n%s", n.Type, n.Index, n.IndexCond, lc.bound, out)
					}
				}
				for _, c := range n.Plans {
					check(c)
				}
			}
			check(plan[0].Plan)
			if reads == 0 {
				t.Errorf("no read of cases in the plan:\n%s", out)
			}
		})
	}
}

type pgNode struct {
	Type      string   `json:"Node Type"`
	Relation  string   `json:"Relation Name"`
	Index     string   `json:"Index Name"`
	IndexCond string   `json:"Index Cond"`
	Plans     []pgNode `json:"Plans"`
}
