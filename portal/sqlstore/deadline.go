package sqlstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"tzportal/portal"
)

// deadlineBranches are the conditions of f's cases, one branch per scope
// term, each read along its own index (the partial queue index of its
// street or district; city-wide, the state's) and disjoint from the ones
// before it (a street within a district also asked for comes once): open
// (in_queue), with a due date, in one of f's steps. None when f reaches no
// case.
func (q q) deadlineBranches(f portal.DeadlineFilter, arg func(any) string) []string {
	var terms []string
	switch {
	case f.AllScope:
		terms = []string{""}
	case len(f.Scope) > 0:
		for _, s := range f.Scope {
			if s.Division != "" {
				terms = append(terms, "division = "+arg(s.Division))
			} else {
				terms = append(terms, "district = "+arg(s.District))
			}
		}
		terms = compact(terms)
	default:
		return nil
	}
	// The steps as one key per case, which no index serves, so that the
	// scope's index bounds the read.
	var steps, states []string
	for _, svc := range slices.Sorted(maps.Keys(f.Steps)) {
		if f.Service != "" && svc != f.Service {
			continue
		}
		for _, st := range f.Steps[svc] {
			steps = append(steps, arg(svc+":"+st))
			if !slices.Contains(states, st) {
				states = append(states, st)
			}
		}
	}
	if len(steps) == 0 {
		return nil
	}
	common := []string{"in_queue", "due_at IS NOT NULL", "service || ':' || state IN (" + strings.Join(steps, ", ") + ")"}
	if f.AllScope {
		marks := make([]string, len(states))
		for i, st := range states {
			marks[i] = arg(st)
		}
		common = append(common, "state IN ("+strings.Join(marks, ", ")+")")
	}
	if !f.DueAfter.IsZero() {
		common = append(common, "due_at > "+arg(q.d.time(f.DueAfter)))
	}
	if !f.DueUntil.IsZero() {
		common = append(common, "due_at <= "+arg(q.d.time(f.DueUntil)))
	}
	branches := make([]string, len(terms))
	for i, term := range terms {
		w := slices.Clone(common)
		if term != "" {
			w = append([]string{term}, w...)
		}
		for _, before := range terms[:i] {
			w = append(w, "NOT ("+before+")")
		}
		branches[i] = strings.Join(w, " AND ")
	}
	return branches
}

// deadlineQuery is the query of DeadlineCases; "" when f reaches no case.
// Each branch gives its first page of ids by due date; the page is cut
// from their merge, then read.
func (q q) deadlineQuery(f portal.DeadlineFilter) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	branches := q.deadlineBranches(f, arg)
	if len(branches) == 0 {
		return "", nil
	}
	after := ""
	if !f.AfterDue.IsZero() {
		at := arg(q.d.time(f.AfterDue))
		after = " AND (due_at > " + at + " OR (due_at = " + at + " AND id > " + arg(f.AfterID) + "))"
	}
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	n := arg(limit)
	for i, b := range branches {
		branches[i] = fmt.Sprintf("SELECT id, due_at FROM (SELECT id, due_at FROM cases WHERE %s%s ORDER BY due_at, id LIMIT %s) AS b%d", b, after, n, i)
	}
	keys := strings.Join(branches, " UNION ALL ") + " ORDER BY due_at, id LIMIT " + n
	return `SELECT ` + listColumns + `, u.name, ` + holderName + ` FROM (` + keys + `) AS k
		JOIN cases c ON c.id = k.id JOIN users u ON u.id = c.applicant_id` + holderJoin + ` ORDER BY c.due_at, c.id`, args
}

// DeadlineCases lists the open cases of f by due date.
func (q q) DeadlineCases(ctx context.Context, f portal.DeadlineFilter) ([]portal.Case, error) {
	query, args := q.deadlineQuery(f)
	if query == "" {
		return nil, nil
	}
	return q.casesNamed(ctx, "sqlstore.DeadlineCases", query, args)
}

// agingQuery is the query of Aging; "" when f reaches no case. The bands
// are counted per branch and division, then summed (the branches are
// disjoint).
func (q q) agingQuery(f portal.DeadlineFilter, now, lateCut time.Time) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	branches := q.deadlineBranches(f, arg)
	if len(branches) == 0 {
		return "", nil
	}
	n, l := arg(q.d.time(now)), arg(q.d.time(lateCut))
	for i, b := range branches {
		branches[i] = `SELECT division,
			SUM(CASE WHEN due_at > ` + n + ` THEN 1 ELSE 0 END) AS on_time,
			SUM(CASE WHEN due_at <= ` + n + ` AND due_at > ` + l + ` THEN 1 ELSE 0 END) AS late,
			SUM(CASE WHEN due_at <= ` + l + ` THEN 1 ELSE 0 END) AS delayed
		FROM cases WHERE ` + b + ` GROUP BY division`
	}
	if len(branches) == 1 {
		return branches[0] + " ORDER BY division", args
	}
	return `SELECT division, CAST(SUM(on_time) AS integer), CAST(SUM(late) AS integer), CAST(SUM(delayed) AS integer) FROM (` + strings.Join(branches, " UNION ALL ") + `) AS a
		GROUP BY division ORDER BY division`, args
}

// Aging counts f's cases per division by band.
func (q q) Aging(ctx context.Context, f portal.DeadlineFilter, now, lateCut time.Time) ([]portal.AgingRow, error) {
	query, args := q.agingQuery(f, now, lateCut)
	if query == "" {
		return nil, nil
	}
	rows, err := q.ex.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError("sqlstore.Aging", err)
	}
	defer rows.Close()
	var out []portal.AgingRow
	for rows.Next() {
		var r portal.AgingRow
		if err := rows.Scan(&r.Division, &r.OnTime, &r.Late, &r.Delayed); err != nil {
			return nil, dbError("sqlstore.Aging", err)
		}
		out = append(out, r)
	}
	return out, dbError("sqlstore.Aging", rows.Err())
}

// Escalations returns a case's escalations, oldest first.
func (q q) Escalations(ctx context.Context, caseID int64) ([]portal.Escalation, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT case_id, step, state, division, due_at, escalated_at, notified
		FROM escalations WHERE case_id = $1 ORDER BY step`, caseID)
	if err != nil {
		return nil, dbError("sqlstore.Escalations", err)
	}
	defer rows.Close()
	var out []portal.Escalation
	for rows.Next() {
		var e portal.Escalation
		if err := rows.Scan(&e.CaseID, &e.Step, &e.State, &e.Division, scanTime{&e.DueAt}, scanTime{&e.EscalatedAt}, &e.Notified); err != nil {
			return nil, dbError("sqlstore.Escalations", err)
		}
		out = append(out, e)
	}
	return out, dbError("sqlstore.Escalations", rows.Err())
}

// PauseClock keeps the days a state's deadline had left.
func (t *Tx) PauseClock(ctx context.Context, caseID int64, state string, daysLeft int, at time.Time) error {
	_, err := t.ex.ExecContext(ctx, `INSERT INTO case_clocks (case_id, state, days_left, paused_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (case_id, state) DO UPDATE SET days_left = excluded.days_left, paused_at = excluded.paused_at`,
		caseID, state, daysLeft, t.d.time(at))
	return dbError("sqlstore.PauseClock", err)
}

// ResumeClock takes back the days kept for a state.
func (t *Tx) ResumeClock(ctx context.Context, caseID int64, state string) (int, bool, error) {
	rows, err := t.ex.QueryContext(ctx, `DELETE FROM case_clocks WHERE case_id = $1 AND state = $2 RETURNING days_left`, caseID, state)
	if err != nil {
		return 0, false, dbError("sqlstore.ResumeClock", err)
	}
	defer rows.Close()
	left, ok := 0, false
	for rows.Next() {
		if err := rows.Scan(&left); err != nil {
			return 0, false, dbError("sqlstore.ResumeClock", err)
		}
		ok = true
	}
	return left, ok, dbError("sqlstore.ResumeClock", rows.Err())
}

// InsertEscalation records an escalation once per (case, step).
func (t *Tx) InsertEscalation(ctx context.Context, e *portal.Escalation) (bool, error) {
	res, err := t.ex.ExecContext(ctx, `INSERT INTO escalations (case_id, step, state, division, due_at, escalated_at, notified)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id, step) DO NOTHING`,
		e.CaseID, e.Step, e.State, e.Division, t.d.time(e.DueAt), t.d.time(e.EscalatedAt), e.Notified)
	if err != nil {
		return false, dbError("sqlstore.InsertEscalation", err)
	}
	n, err := res.RowsAffected()
	return n == 1, dbError("sqlstore.InsertEscalation", err)
}

// UsersWithRole returns the enabled users holding role in one of divisions
// (without their grants: the callers write to them, no more).
func (t *Tx) UsersWithRole(ctx context.Context, role string, divisions []string) ([]portal.User, error) {
	if len(divisions) == 0 {
		return nil, nil
	}
	args := []any{role}
	marks := make([]string, len(divisions))
	for i, d := range divisions {
		args = append(args, d)
		marks[i] = fmt.Sprintf("$%d", len(args))
	}
	rows, err := t.ex.QueryContext(ctx, `SELECT DISTINCT u.id, u.name, u.locale FROM users u JOIN grants g ON g.user_id = u.id
		WHERE g.role = $1 AND g.division IN (`+strings.Join(marks, ", ")+`) AND u.disabled_at IS NULL ORDER BY u.id`, args...)
	if err != nil {
		return nil, dbError("sqlstore.UsersWithRole", err)
	}
	defer rows.Close()
	var out []portal.User
	for rows.Next() {
		u := portal.User{Kind: portal.KindStaff}
		if err := rows.Scan(&u.ID, &u.Name, &u.Locale); err != nil {
			return nil, dbError("sqlstore.UsersWithRole", err)
		}
		out = append(out, u)
	}
	return out, dbError("sqlstore.UsersWithRole", rows.Err())
}
