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

// deadlineWhere is the condition of f's cases: open (in_queue), with a due
// date, in one of f's steps and its scope; "" when f reaches no case.
func (q q) deadlineWhere(f portal.DeadlineFilter, arg func(any) string) string {
	var scope []string
	switch {
	case f.AllScope:
	case len(f.Scope) > 0:
		for _, s := range f.Scope {
			if s.Division != "" {
				scope = append(scope, "division = "+arg(s.Division))
			} else {
				scope = append(scope, "district = "+arg(s.District))
			}
		}
	default:
		return ""
	}
	var steps []string
	for _, svc := range slices.Sorted(maps.Keys(f.Steps)) {
		if f.Service != "" && svc != f.Service || len(f.Steps[svc]) == 0 {
			continue
		}
		marks := make([]string, len(f.Steps[svc]))
		for i, st := range f.Steps[svc] {
			marks[i] = arg(st)
		}
		steps = append(steps, "(service = "+arg(svc)+" AND state IN ("+strings.Join(marks, ", ")+"))")
	}
	if len(steps) == 0 {
		return ""
	}
	where := []string{"in_queue", "due_at IS NOT NULL", "(" + strings.Join(steps, " OR ") + ")"}
	if len(scope) > 0 {
		where = append(where, "("+strings.Join(scope, " OR ")+")")
	}
	if !f.DueAfter.IsZero() {
		where = append(where, "due_at > "+arg(q.d.time(f.DueAfter)))
	}
	if !f.DueUntil.IsZero() {
		where = append(where, "due_at <= "+arg(q.d.time(f.DueUntil)))
	}
	return strings.Join(where, " AND ")
}

// DeadlineCases lists the open cases of f by due date: a street's or a
// district's open cases are read along the partial queue indexes
// (division|district, id) WHERE in_queue, and sorted.
func (q q) DeadlineCases(ctx context.Context, f portal.DeadlineFilter) ([]portal.Case, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where := q.deadlineWhere(f, arg)
	if where == "" {
		return nil, nil
	}
	if !f.AfterDue.IsZero() {
		at := arg(q.d.time(f.AfterDue))
		where += " AND (c.due_at > " + at + " OR (c.due_at = " + at + " AND c.id > " + arg(f.AfterID) + "))"
	}
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rows, err := q.ex.QueryContext(ctx, `SELECT `+listColumns+`, u.name FROM cases c JOIN users u ON u.id = c.applicant_id
		WHERE `+where+` ORDER BY c.due_at, c.id LIMIT `+arg(limit), args...)
	if err != nil {
		return nil, dbError("sqlstore.DeadlineCases", err)
	}
	defer rows.Close()
	var out []portal.Case
	for rows.Next() {
		var name string
		c, err := scanCase(rows, &name)
		if err != nil {
			return nil, dbError("sqlstore.DeadlineCases", err)
		}
		c.ApplicantName = name
		out = append(out, *c)
	}
	return out, dbError("sqlstore.DeadlineCases", rows.Err())
}

// Aging counts f's cases per division by band.
func (q q) Aging(ctx context.Context, f portal.DeadlineFilter, now, lateCut time.Time) ([]portal.AgingRow, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	where := q.deadlineWhere(f, arg)
	if where == "" {
		return nil, nil
	}
	n, l := arg(q.d.time(now)), arg(q.d.time(lateCut))
	rows, err := q.ex.QueryContext(ctx, `SELECT division,
			SUM(CASE WHEN due_at > `+n+` THEN 1 ELSE 0 END),
			SUM(CASE WHEN due_at <= `+n+` AND due_at > `+l+` THEN 1 ELSE 0 END),
			SUM(CASE WHEN due_at <= `+l+` THEN 1 ELSE 0 END)
		FROM cases WHERE `+where+` GROUP BY division ORDER BY division`, args...)
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
