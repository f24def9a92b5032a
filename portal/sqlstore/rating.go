package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"tzportal/portal"
)

// scopeSQL is a jurisdiction (scope terms, or the whole city) as a
// condition on a table's division and district columns ("1 = 1" for the
// whole city, "1 = 0" for no reach at all), its arguments numbered from
// len(args)+1 and written by mark.
func scopeSQL(alias string, scope []portal.ScopeTerm, all bool, args *[]any, mark func(int) string) string {
	if all {
		return "1 = 1"
	}
	var terms []string
	for _, s := range scope {
		if s.Division != "" {
			*args = append(*args, s.Division)
			terms = append(terms, alias+"division = "+mark(len(*args)))
		} else {
			*args = append(*args, s.District)
			terms = append(terms, alias+"district = "+mark(len(*args)))
		}
	}
	if len(terms) == 0 {
		return "1 = 0"
	}
	return "(" + strings.Join(terms, " OR ") + ")"
}

// InsertRating records a rating and, if it has one, its follow-up.
func (t *Tx) InsertRating(ctx context.Context, r *portal.Rating) error {
	_, err := t.ex.ExecContext(ctx, `INSERT INTO ratings (case_id, service, division, district, clerk_id, score, comment, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		r.CaseID, r.Service, r.Division, r.District, r.ClerkID, r.Score, r.Comment, t.d.time(r.CreatedAt))
	if t.d.isUnique(err) {
		return &portal.Error{Code: portal.ECONFLICT, Message: "rating.error.rated", Err: fmt.Errorf("sqlstore.InsertRating(%d): %w", r.CaseID, err)}
	}
	if err != nil {
		return dbError("sqlstore.InsertRating", err)
	}
	if f := r.FollowUp; f != nil {
		_, err = t.ex.ExecContext(ctx, `INSERT INTO rating_follow_ups (case_id, division, district, state, opened_at, visit_due, rectify_due)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			r.CaseID, f.Division, f.District, f.State, t.d.time(f.OpenedAt), t.d.time(f.VisitDue), t.d.time(f.RectifyDue))
		return dbError("sqlstore.InsertRating follow-up", err)
	}
	return nil
}

// UpdateFollowUp writes a follow-up's step, if it is still in state from.
func (t *Tx) UpdateFollowUp(ctx context.Context, f *portal.FollowUp, from string) error {
	res, err := t.ex.ExecContext(ctx, `UPDATE rating_follow_ups SET state = $1, visited_at = $2, visited_by = $3, visit_note = $4,
		closed_at = $5, closed_by = $6, closing_note = $7 WHERE case_id = $8 AND state = $9`,
		f.State, nullTime(t.d, f.VisitedAt), f.VisitedBy, f.VisitNote, nullTime(t.d, f.ClosedAt), f.ClosedBy, f.ClosingNote, f.CaseID, from)
	if err != nil {
		return dbError("sqlstore.UpdateFollowUp", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &portal.Error{Code: portal.ECONFLICT, Message: "error.case_conflict", Err: fmt.Errorf("sqlstore.UpdateFollowUp(%d): not in %s", f.CaseID, from)}
	}
	return nil
}

const followUpColumns = `f.case_id, c.case_no, f.division, f.district, f.state, f.opened_at, f.visit_due, f.rectify_due,
	f.visited_at, f.visited_by, f.visit_note, f.closed_at, f.closed_by, f.closing_note, r.score, r.comment, r.service`

func scanFollowUp(s rowScanner) (*portal.FollowUp, error) {
	f := &portal.FollowUp{}
	err := s.Scan(&f.CaseID, &f.CaseNo, &f.Division, &f.District, &f.State, scanTime{&f.OpenedAt}, scanTime{&f.VisitDue}, scanTime{&f.RectifyDue},
		scanNullTime{&f.VisitedAt}, &f.VisitedBy, &f.VisitNote, scanNullTime{&f.ClosedAt}, &f.ClosedBy, &f.ClosingNote, &f.Score, &f.Comment, &f.Service)
	return f, err
}

// RatingOf returns a case's rating and its follow-up, in one query.
func (q q) RatingOf(ctx context.Context, caseID int64) (*portal.Rating, error) {
	r := &portal.Rating{CaseID: caseID}
	var fState sql.NullString
	f := &portal.FollowUp{CaseID: caseID}
	var opened, visitDue, rectifyDue *time.Time // NULL without a follow-up (LEFT JOIN)
	var fDivision, fDistrict, visitNote, closingNote sql.NullString
	err := q.ex.QueryRowContext(ctx, `SELECT c.case_no, r.service, r.division, r.district, r.clerk_id, r.score, r.comment, r.created_at,
		f.state, f.division, f.district, f.opened_at, f.visit_due, f.rectify_due, f.visited_at, f.visited_by, f.visit_note,
		f.closed_at, f.closed_by, f.closing_note
		FROM ratings r JOIN cases c ON c.id = r.case_id LEFT JOIN rating_follow_ups f ON f.case_id = r.case_id
		WHERE r.case_id = $1`, caseID).Scan(&r.CaseNo, &r.Service, &r.Division, &r.District, &r.ClerkID, &r.Score, &r.Comment, scanTime{&r.CreatedAt},
		&fState, &fDivision, &fDistrict, scanNullTime{&opened}, scanNullTime{&visitDue}, scanNullTime{&rectifyDue}, scanNullTime{&f.VisitedAt}, &f.VisitedBy, &visitNote,
		scanNullTime{&f.ClosedAt}, &f.ClosedBy, &closingNote)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, portal.NotFound(fmt.Errorf("sqlstore.RatingOf(%d): no rating", caseID))
	}
	if err != nil {
		return nil, dbError("sqlstore.RatingOf", err)
	}
	if fState.Valid && opened != nil && visitDue != nil && rectifyDue != nil {
		f.CaseNo, f.State, f.Division, f.District = r.CaseNo, fState.String, fDivision.String, fDistrict.String
		f.OpenedAt, f.VisitDue, f.RectifyDue = *opened, *visitDue, *rectifyDue
		f.VisitNote, f.ClosingNote, f.Score, f.Comment, f.Service = visitNote.String, closingNote.String, r.Score, r.Comment, r.Service
		r.FollowUp = f
	}
	return r, nil
}

// FollowUps returns a jurisdiction's follow-ups: the open ones by their
// next due time, then the closed ones, the latest first.
func (q q) FollowUps(ctx context.Context, rq portal.RatingQuery, limit int) ([]portal.FollowUp, error) {
	var args []any
	where := scopeSQL("f.", rq.Scope, rq.AllScope, &args, dollar)
	args = append(args, limit)
	rows, err := q.ex.QueryContext(ctx, `SELECT `+followUpColumns+`
		FROM rating_follow_ups f JOIN ratings r ON r.case_id = f.case_id JOIN cases c ON c.id = f.case_id
		WHERE `+where+`
		ORDER BY CASE WHEN f.state = 'closed' THEN 1 ELSE 0 END, CASE WHEN f.state = 'visit' THEN f.visit_due ELSE f.rectify_due END,
			f.closed_at DESC, f.case_id
		LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, dbError("sqlstore.FollowUps", err)
	}
	defer rows.Close()
	var out []portal.FollowUp
	for rows.Next() {
		f, err := scanFollowUp(rows)
		if err != nil {
			return nil, dbError("sqlstore.FollowUps", err)
		}
		out = append(out, *f)
	}
	return out, dbError("sqlstore.FollowUps", rows.Err())
}

// RatingsByDivision counts a jurisdiction's ratings per division, with the
// follow-ups closed (in time).
func (q q) RatingsByDivision(ctx context.Context, rq portal.RatingQuery) ([]portal.RatingCount, error) {
	byKey := map[string]*portal.RatingCount{}
	get := func(k string) *portal.RatingCount {
		if byKey[k] == nil {
			byKey[k] = &portal.RatingCount{Key: k}
		}
		return byKey[k]
	}
	var args []any
	where := scopeSQL("r.", rq.Scope, rq.AllScope, &args, dollar)
	args = append(args, rq.GoodMin)
	rows, err := q.ex.QueryContext(ctx, `SELECT r.division, count(*), sum(CASE WHEN r.score >= $`+strconv.Itoa(len(args))+` THEN 1 ELSE 0 END),
		sum(CASE WHEN f.state = 'closed' THEN 1 ELSE 0 END),
		sum(CASE WHEN f.state = 'closed' AND f.visited_at <= f.visit_due AND f.closed_at <= f.rectify_due THEN 1 ELSE 0 END)
		FROM ratings r LEFT JOIN rating_follow_ups f ON f.case_id = r.case_id
		WHERE `+where+` GROUP BY r.division`, args...)
	if err != nil {
		return nil, dbError("sqlstore.RatingsByDivision", err)
	}
	for rows.Next() {
		var k string
		var n, good, closed, onTime sql.NullInt64
		if err := rows.Scan(&k, &n, &good, &closed, &onTime); err != nil {
			rows.Close()
			return nil, dbError("sqlstore.RatingsByDivision", err)
		}
		c := get(k)
		c.Rated, c.Good, c.FollowN, c.OnTime = int(n.Int64), int(good.Int64), int(closed.Int64), int(onTime.Int64)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbError("sqlstore.RatingsByDivision", err)
	}
	out := make([]portal.RatingCount, 0, len(byKey))
	for _, c := range byKey {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// RatingsByClerk counts a jurisdiction's ratings per clerk who took the
// case's last step, with their names (supervisors see who).
func (q q) RatingsByClerk(ctx context.Context, rq portal.RatingQuery) ([]portal.RatingCount, error) {
	var args []any
	where := scopeSQL("r.", rq.Scope, rq.AllScope, &args, dollar)
	args = append(args, rq.GoodMin)
	rows, err := q.ex.QueryContext(ctx, `SELECT r.clerk_id, u.name, count(*), sum(CASE WHEN r.score >= $`+strconv.Itoa(len(args))+` THEN 1 ELSE 0 END),
		sum(CASE WHEN f.state = 'closed' THEN 1 ELSE 0 END),
		sum(CASE WHEN f.state = 'closed' AND f.visited_at <= f.visit_due AND f.closed_at <= f.rectify_due THEN 1 ELSE 0 END)
		FROM ratings r JOIN users u ON u.id = r.clerk_id LEFT JOIN rating_follow_ups f ON f.case_id = r.case_id
		WHERE `+where+` GROUP BY r.clerk_id, u.name ORDER BY u.name, r.clerk_id`, args...)
	if err != nil {
		return nil, dbError("sqlstore.RatingsByClerk", err)
	}
	defer rows.Close()
	var out []portal.RatingCount
	for rows.Next() {
		var id int64
		var c portal.RatingCount
		var n, good, closed, onTime sql.NullInt64
		if err := rows.Scan(&id, &c.Name, &n, &good, &closed, &onTime); err != nil {
			return nil, dbError("sqlstore.RatingsByClerk", err)
		}
		c.Key = strconv.FormatInt(id, 10)
		c.Rated, c.Good, c.FollowN, c.OnTime = int(n.Int64), int(good.Int64), int(closed.Int64), int(onTime.Int64)
		out = append(out, c)
	}
	return out, dbError("sqlstore.RatingsByClerk", rows.Err())
}

// StaffIn returns the active staff with a grant on one of divisions, each
// with those grants and their login.
func (q q) StaffIn(ctx context.Context, divisions []string) ([]portal.User, error) {
	if len(divisions) == 0 {
		return nil, nil
	}
	args := make([]any, len(divisions))
	marks := make([]string, len(divisions))
	for i, d := range divisions {
		args[i], marks[i] = d, "$"+strconv.Itoa(i+1)
	}
	rows, err := q.ex.QueryContext(ctx, `SELECT u.id, u.name, COALESCE(u.login, ''), u.locale, g.role, g.division FROM users u JOIN grants g ON g.user_id = u.id
		WHERE u.kind = 'staff' AND u.disabled_at IS NULL AND g.division IN (`+strings.Join(marks, ", ")+`)
		ORDER BY u.id, g.role, g.division`, args...)
	if err != nil {
		return nil, dbError("sqlstore.StaffIn", err)
	}
	defer rows.Close()
	var out []portal.User
	for rows.Next() {
		var u portal.User
		var g portal.Grant
		if err := rows.Scan(&u.ID, &u.Name, &u.Login, &u.Locale, &g.Role, &g.Division); err != nil {
			return nil, dbError("sqlstore.StaffIn", err)
		}
		if n := len(out); n > 0 && out[n-1].ID == u.ID {
			out[n-1].Grants = append(out[n-1].Grants, g)
			continue
		}
		u.Kind, u.Grants = portal.KindStaff, []portal.Grant{g}
		out = append(out, u)
	}
	return out, dbError("sqlstore.StaffIn", rows.Err())
}
