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

// The audit view reads a page of the trail along an index, whatever the
// filter, and never the whole log: every read of audit_log is bounded by
// the index of its key (a case, a person, each of the reader's divisions,
// an action city-wide), and the city's unfiltered page walks the chain
// newest first without sorting it. These tests ask each database for its
// plan of every shape of audit page over a trail of 30,000 entries in 40
// streets of 4 districts, by 300 people, of 20 actions.

// auditPlanStreets are ten streets in each of four districts.
var auditPlanStreets = func() []string {
	var out []string
	for d := range 4 {
		for s := range 10 {
			out = append(out, fmt.Sprintf("3212%02d%03d", 2+d, s+1))
		}
	}
	return out
}()

func auditPlanFilters() map[string]struct {
	f     portal.AuditFilter
	bound string // the column whose index bounds the read ("seq": the chain's own key, newest first)
} {
	district := append([]string{"321202"}, auditPlanStreets[:10]...)
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, shanghai)
	return map[string]struct {
		f     portal.AuditFilter
		bound string
	}{
		"city newest":           {portal.AuditFilter{AllScope: true, Limit: 51}, "seq"},
		"city next page":        {portal.AuditFilter{AllScope: true, Before: 20000, Limit: 51}, "seq"},
		"city result and dates": {portal.AuditFilter{AllScope: true, Result: "denied", From: from, To: from.AddDate(0, 1, 0), Limit: 51}, "seq"},
		"city action":           {portal.AuditFilter{AllScope: true, Action: "case.accept", Limit: 51}, "action"},
		"city person":           {portal.AuditFilter{AllScope: true, Actors: []string{"user:17", "user:18"}, Limit: 51}, "actor"},
		"district":              {portal.AuditFilter{Divisions: district, Limit: 51}, "division"},
		"district next page":    {portal.AuditFilter{Divisions: district, Before: 20000, Limit: 51}, "division"},
		"district action":       {portal.AuditFilter{Divisions: district, Action: "case.accept", Result: "ok", Limit: 51}, "division"},
		"district person":       {portal.AuditFilter{Divisions: district, Actors: []string{"user:17"}, Limit: 51}, "actor|division"},
		"a case":                {portal.AuditFilter{Object: "case:TZRP20260105000017", Limit: 51}, "object"},
	}
}

// seedAudit writes the trail straight into audit_log (the plan does not
// care for the chain).
func seedAudit(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	ctx := context.Background()
	actions := []string{"login", "case.read", "case.submit", "case.accept", "case.approve", "case.reject", "material.read",
		"material.upload", "idnumber.reveal", "case.request_correction", "case.create", "case.edit", "audit.read",
		"case.escalate", "certificate.valid", "api.get", "api.post", "staff.grant", "case.withdraw", "draw.read"}
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, shanghai)
	const n, batch = 30000, 500
	for start := 0; start < n; start += batch {
		var b strings.Builder
		var args []any
		b.WriteString(`INSERT INTO audit_log (seq, at, actor, role, division, action, object, result, ip, detail, prev_hash, hash) VALUES `)
		for i := start; i < start+batch; i++ {
			if i > start {
				b.WriteString(", ")
			}
			k := len(args)
			fmt.Fprintf(&b, "($%d, $%d, $%d, 'street_clerk', $%d, $%d, $%d, $%d, '', '{}', '', '')", k+1, k+2, k+3, k+4, k+5, k+6, k+7)
			result := "ok"
			if i%37 == 0 {
				result = "denied"
			}
			when := at.Add(time.Duration(i) * 10 * time.Minute).UTC()
			var ts any = when
			if db.Dialect() == "sqlite" {
				ts = when.Format("2006-01-02T15:04:05.000000Z")
			}
			args = append(args, i+1, ts, fmt.Sprintf("user:%d", i%300), auditPlanStreets[i%len(auditPlanStreets)],
				actions[i%len(actions)], fmt.Sprintf("case:TZRP%014d", 20260105000000+i%6000), result)
		}
		if _, err := db.SQL().ExecContext(ctx, b.String(), args...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.SQL().ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
}

// sqliteAuditRead matches the SQLite plan lines that read audit_log.
var sqliteAuditRead = regexp.MustCompile(`^(SCAN|SEARCH) audit_log\b(.*)$`)

func TestAuditPlansSQLite(t *testing.T) {
	db := MustOpen(t, backends[0].url(t))
	seedAudit(t, db)
	for name, af := range auditPlanFilters() {
		t.Run(name, func(t *testing.T) {
			query, args := sqlstore.AuditQuery(db, af.f)
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
				m := sqliteAuditRead.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				reads++
				switch {
				case af.bound == "seq":
					// The chain newest first: a walk of the primary key
					// backwards (a plain SCAN of the rowid table), which the
					// LIMIT stops after a page; never sorted afterwards.
					if m[1] == "SCAN" && strings.Contains(m[2], "INDEX") || m[1] == "SEARCH" && !strings.Contains(m[2], "INTEGER PRIMARY KEY (rowid<?)") {
						t.Errorf("%q: the city's page does not walk the chain by seq:\n%s", line, strings.Join(plan, "\n"))
					}
				case m[1] != "SEARCH" || !boundBy(m[2], "(%s>? AND ", af.bound) && !boundBy(m[2], "(%s=?", af.bound):
					t.Errorf("%q reads audit_log without bounding it by %s:\n%s", line, af.bound, strings.Join(plan, "\n"))
				}
			}
			if reads == 0 {
				t.Errorf("no read of audit_log in the plan:\n%s", strings.Join(plan, "\n"))
			}
			// The city's page is the chain read newest first, never sorted.
			for _, line := range plan {
				if af.bound == "seq" && strings.Contains(line, "TEMP B-TREE FOR ORDER BY") {
					t.Errorf("%q: the city's page is sorted, not read in seq order:\n%s", line, strings.Join(plan, "\n"))
				}
			}
		})
	}
}

func TestAuditPlansPostgres(t *testing.T) {
	db := MustOpen(t, backends[1].url(t))
	seedAudit(t, db)
	for name, af := range auditPlanFilters() {
		t.Run(name, func(t *testing.T) {
			query, args := sqlstore.AuditQuery(db, af.f)
			ctx := context.Background()
			tx, err := db.SQL().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
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
				if n.Relation == "audit_log" || strings.HasPrefix(n.Index, "audit_") {
					reads++
					switch {
					case n.Type == "Seq Scan" || n.Type == "Bitmap Heap Scan" && af.bound == "seq":
						t.Errorf("%s of audit_log:\n%s", n.Type, out)
					case af.bound == "seq":
						if n.Index != "audit_log_pkey" {
							t.Errorf("the city's page reads %s, not the chain by seq:\n%s", n.Index, out)
						}
					case n.Index != "" && !boundBy(n.IndexCond, "((%s >= ", af.bound) && !boundBy(n.IndexCond, "((%s = ", af.bound):
						t.Errorf("%s using %s (%s) does not bound audit_log by %s:\n%s", n.Type, n.Index, n.IndexCond, af.bound, out)
					}
				}
				// A case's or a person's few entries may be sorted (the planner
				// knows how many each has); any other page is read in order.
				if n.Type == "Sort" && af.bound == "seq" {
					t.Errorf("the city's page is sorted, not read in seq order:\n%s", out)
				}
				for _, c := range n.Plans {
					check(c)
				}
			}
			check(plan[0].Plan)
			if reads == 0 {
				t.Errorf("no read of audit_log in the plan:\n%s", out)
			}
		})
	}
}
