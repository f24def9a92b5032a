package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"tzportal/portal"
)

// DecidedCases reads a service's cases that reached a decision in [from,
// to) along cases (service, state, state_since), with their last step.
func (q q) DecidedCases(ctx context.Context, service string, states []string, from, to time.Time) ([]portal.DecidedCase, error) {
	if len(states) == 0 {
		return nil, nil
	}
	args := []any{service, q.d.time(from), q.d.time(to)}
	marks := make([]string, len(states))
	for i, s := range states {
		args = append(args, s)
		marks[i] = fmt.Sprintf("$%d", len(args))
	}
	rows, err := q.ex.QueryContext(ctx, `SELECT c.id, c.case_no, c.division, c.district, h.event, h.actor_id, h.at
		FROM cases c JOIN case_history h ON h.case_id = c.id AND h.seq = c.version
		WHERE c.service = $1 AND c.state IN (`+strings.Join(marks, ", ")+`) AND c.state_since >= $2 AND c.state_since < $3
		ORDER BY c.case_no`, args...)
	if err != nil {
		return nil, dbError("sqlstore.DecidedCases", err)
	}
	defer rows.Close()
	var out []portal.DecidedCase
	for rows.Next() {
		var d portal.DecidedCase
		var by sql.NullInt64
		if err := rows.Scan(&d.CaseID, &d.CaseNo, &d.Division, &d.District, &d.Event, &by, scanTime{&d.DecidedAt}); err != nil {
			return nil, dbError("sqlstore.DecidedCases", err)
		}
		if by.Valid {
			d.DecidedBy = &by.Int64
		}
		out = append(out, d)
	}
	return out, dbError("sqlstore.DecidedCases", rows.Err())
}

const sampleColumns = `id, service, day, seed, share, decided, drawn, drawn_at`

// SampleOf reads a service's draw of a day.
func (q q) SampleOf(ctx context.Context, service, day string) (*portal.Sample, error) {
	var s portal.Sample
	err := q.ex.QueryRowContext(ctx, `SELECT `+sampleColumns+` FROM samples WHERE service = $1 AND day = $2`, service, day).
		Scan(&s.ID, &s.Service, &s.Day, &s.Seed, &s.Share, &s.Decided, &s.Drawn, scanTime{&s.DrawnAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, portal.NotFound(fmt.Errorf("sqlstore.SampleOf(%s, %s): none", service, day))
	}
	if err != nil {
		return nil, dbError("sqlstore.SampleOf", err)
	}
	return &s, nil
}

// InsertSample writes a draw and its cases.
func (t *Tx) InsertSample(ctx context.Context, s *portal.Sample, cases []portal.DecidedCase) error {
	err := t.ex.QueryRowContext(ctx, `INSERT INTO samples (service, day, seed, share, decided, drawn, drawn_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, s.Service, s.Day, s.Seed, s.Share, s.Decided, s.Drawn,
		t.d.time(s.DrawnAt)).Scan(&s.ID)
	if t.d.isUnique(err) {
		return &portal.Error{Code: portal.ECONFLICT, Message: "error.conflict", Err: fmt.Errorf("sqlstore.InsertSample(%s, %s): drawn already", s.Service, s.Day)}
	}
	if err != nil {
		return dbError("sqlstore.InsertSample", err)
	}
	return insertRows(ctx, t, "sqlstore.InsertSample", `INSERT INTO sample_cases
		(sample_id, case_id, case_no, service, division, district, event, decided_by, decided_at) VALUES `, cases,
		func(d *portal.DecidedCase) []any {
			return []any{s.ID, d.CaseID, d.CaseNo, s.Service, d.Division, d.District, d.Event, d.DecidedBy, t.d.time(d.DecidedAt)}
		})
}

const sampleCaseColumns = `sc.sample_id, sc.case_id, sc.case_no, sc.service, sc.division, sc.district, sc.event, sc.decided_by,
	sc.decided_at, sc.finding, sc.reason, sc.reviewer_id, sc.reviewed_at, s.day, COALESCE(u.name, '')`

const sampleCaseFrom = ` FROM sample_cases sc JOIN samples s ON s.id = sc.sample_id LEFT JOIN users u ON u.id = sc.decided_by`

func scanSampleCase(r rowScanner) (portal.SampleCase, error) {
	var c portal.SampleCase
	var by, reviewer sql.NullInt64
	err := r.Scan(&c.SampleID, &c.CaseID, &c.CaseNo, &c.Service, &c.Division, &c.District, &c.Event, &by, scanTime{&c.DecidedAt},
		&c.Finding, &c.Reason, &reviewer, scanNullTime{&c.ReviewedAt}, &c.Day, &c.DeciderName)
	if by.Valid {
		c.DecidedBy = &by.Int64
	}
	if reviewer.Valid {
		c.ReviewerID = &reviewer.Int64
	}
	return c, err
}

// reviewScope is the WHERE terms of a reader's reach over sample_cases,
// from argument number len(args)+1.
func reviewScope(f portal.ReviewFilter, args []any) ([]string, []any, bool) {
	var terms []string
	if f.Service != "" {
		args = append(args, f.Service)
		terms = append(terms, fmt.Sprintf("sc.service = $%d", len(args)))
	}
	if f.AllScope {
		return terms, args, true
	}
	var reach []string
	for _, s := range f.Scope {
		if s.Division != "" {
			args = append(args, s.Division)
			reach = append(reach, fmt.Sprintf("sc.division = $%d", len(args)))
		} else {
			args = append(args, s.District)
			reach = append(reach, fmt.Sprintf("sc.district = $%d", len(args)))
		}
	}
	if len(reach) == 0 {
		return nil, nil, false
	}
	return append(terms, "("+strings.Join(reach, " OR ")+")"), args, true
}

// SampleCases reads drawn cases within a reach, newest draw first.
func (q q) SampleCases(ctx context.Context, f portal.ReviewFilter) ([]portal.SampleCase, error) {
	terms, args, ok := reviewScope(f, nil)
	if !ok {
		return nil, nil
	}
	if f.Pending {
		terms = append(terms, "sc.finding = ''")
	}
	if f.BeforeSample > 0 {
		args = append(args, f.BeforeSample, f.BeforeCase)
		terms = append(terms, fmt.Sprintf("(sc.sample_id, sc.case_id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	where := ""
	if len(terms) > 0 {
		where = " WHERE " + strings.Join(terms, " AND ")
	}
	args = append(args, max(1, f.Limit))
	rows, err := q.ex.QueryContext(ctx, `SELECT `+sampleCaseColumns+sampleCaseFrom+where+
		fmt.Sprintf(" ORDER BY sc.sample_id DESC, sc.case_id DESC LIMIT $%d", len(args)), args...)
	if err != nil {
		return nil, dbError("sqlstore.SampleCases", err)
	}
	defer rows.Close()
	var out []portal.SampleCase
	for rows.Next() {
		c, err := scanSampleCase(rows)
		if err != nil {
			return nil, dbError("sqlstore.SampleCases", err)
		}
		out = append(out, c)
	}
	return out, dbError("sqlstore.SampleCases", rows.Err())
}

// ClerkFindings counts drawn cases and findings per deciding clerk.
func (q q) ClerkFindings(ctx context.Context, f portal.ReviewFilter) ([]portal.ClerkFindings, error) {
	terms, args, ok := reviewScope(f, nil)
	if !ok {
		return nil, nil
	}
	terms = append(terms, "sc.decided_by IS NOT NULL")
	rows, err := q.ex.QueryContext(ctx, `SELECT sc.decided_by, COALESCE(u.name, ''), sc.service, COUNT(*),
		SUM(CASE WHEN sc.finding = 'agree' THEN 1 ELSE 0 END), SUM(CASE WHEN sc.finding = 'disagree' THEN 1 ELSE 0 END)
		FROM sample_cases sc LEFT JOIN users u ON u.id = sc.decided_by
		WHERE `+strings.Join(terms, " AND ")+`
		GROUP BY sc.decided_by, u.name, sc.service ORDER BY 6 DESC, 4 DESC, 1`, args...)
	if err != nil {
		return nil, dbError("sqlstore.ClerkFindings", err)
	}
	defer rows.Close()
	var out []portal.ClerkFindings
	for rows.Next() {
		var c portal.ClerkFindings
		if err := rows.Scan(&c.UserID, &c.Name, &c.Service, &c.Drawn, &c.Agree, &c.Disagree); err != nil {
			return nil, dbError("sqlstore.ClerkFindings", err)
		}
		out = append(out, c)
	}
	return out, dbError("sqlstore.ClerkFindings", rows.Err())
}

// SampleCaseForUpdate reads a drawn case by its sample and number, locked.
func (t *Tx) SampleCaseForUpdate(ctx context.Context, sampleID int64, caseNo string) (*portal.SampleCase, error) {
	lock := ""
	if t.d.name() == "postgres" {
		lock = " FOR UPDATE OF sc"
	}
	c, err := scanSampleCase(t.ex.QueryRowContext(ctx, `SELECT `+sampleCaseColumns+sampleCaseFrom+`
		WHERE sc.sample_id = $1 AND sc.case_no = $2`+lock, sampleID, caseNo))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, portal.NotFound(fmt.Errorf("sqlstore.SampleCaseForUpdate(%d, %s): not drawn", sampleID, caseNo))
	}
	if err != nil {
		return nil, dbError("sqlstore.SampleCaseForUpdate", err)
	}
	return &c, nil
}

// RecordFinding writes a finding on a drawn case that has none.
func (t *Tx) RecordFinding(ctx context.Context, sampleID, caseID int64, finding, reason string, reviewer int64, at time.Time) error {
	res, err := t.ex.ExecContext(ctx, `UPDATE sample_cases SET finding = $1, reason = $2, reviewer_id = $3, reviewed_at = $4
		WHERE sample_id = $5 AND case_id = $6 AND finding = ''`, finding, reason, reviewer, t.d.time(at), sampleID, caseID)
	if err != nil {
		return dbError("sqlstore.RecordFinding", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &portal.Error{Code: portal.ECONFLICT, Rule: "reviewed", Message: "review.error.reviewed",
			Err: fmt.Errorf("sqlstore.RecordFinding(%d, %d): reviewed already", sampleID, caseID)}
	}
	return nil
}
