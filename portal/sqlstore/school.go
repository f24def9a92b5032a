package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"tzportal/portal"
)

// Schools returns a district's schools for a year (every district when
// district is ""), by code and grade.
func (q q) Schools(ctx context.Context, district string, year int) ([]portal.School, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT code, year, grade, name, district, catchment, seats, public
		FROM schools WHERE year = $1 AND ($2 = '' OR district = $2) ORDER BY code, grade`, year, district)
	if err != nil {
		return nil, dbError("sqlstore.Schools", err)
	}
	defer rows.Close()
	var out []portal.School
	for rows.Next() {
		var s portal.School
		var catchment string
		if err := rows.Scan(&s.Code, &s.Year, &s.Grade, &s.Name, &s.District, &catchment, &s.Seats, &s.Public); err != nil {
			return nil, dbError("sqlstore.Schools", err)
		}
		if catchment != "" {
			s.Catchment = strings.Split(catchment, ";")
		}
		out = append(out, s)
	}
	return out, dbError("sqlstore.Schools", rows.Err())
}

// PutSchools inserts or replaces rows by (code, year, grade).
func (t *Tx) PutSchools(ctx context.Context, rows []portal.School) error {
	for _, s := range rows {
		_, err := t.ex.ExecContext(ctx, `INSERT INTO schools (code, year, grade, name, district, catchment, seats, public)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (code, year, grade) DO UPDATE SET name = excluded.name, district = excluded.district,
				catchment = excluded.catchment, seats = excluded.seats, public = excluded.public`,
			s.Code, s.Year, s.Grade, s.Name, s.District, strings.Join(s.Catchment, ";"), s.Seats, s.Public)
		if err != nil {
			return dbError("sqlstore.PutSchools", err)
		}
	}
	return nil
}

const windowColumns = `district, year, opens, closes, publication_days, appeal_days, updated_by, updated_at`

func scanWindow(r rowScanner) (portal.EnrollmentWindow, error) {
	var w portal.EnrollmentWindow
	err := r.Scan(&w.District, &w.Year, &w.Opens, &w.Closes, &w.PublicationDays, &w.AppealDays, &w.UpdatedBy, scanTime{&w.UpdatedAt})
	return w, err
}

// EnrollmentWindow returns a district's window for a year.
func (q q) EnrollmentWindow(ctx context.Context, district string, year int) (*portal.EnrollmentWindow, error) {
	w, err := scanWindow(q.ex.QueryRowContext(ctx, `SELECT `+windowColumns+` FROM enrollment_windows
		WHERE district = $1 AND year = $2`, district, year))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, portal.NotFound(fmt.Errorf("sqlstore.EnrollmentWindow(%s, %d): none", district, year))
	}
	if err != nil {
		return nil, dbError("sqlstore.EnrollmentWindow", err)
	}
	return &w, nil
}

// EnrollmentWindows returns the windows set, filtered by district and year
// when given (0 for every year).
func (q q) EnrollmentWindows(ctx context.Context, district string, year int) ([]portal.EnrollmentWindow, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT `+windowColumns+` FROM enrollment_windows
		WHERE ($1 = '' OR district = $1) AND ($2 = 0 OR year = $2) ORDER BY year DESC, district`, district, year)
	if err != nil {
		return nil, dbError("sqlstore.EnrollmentWindows", err)
	}
	defer rows.Close()
	var out []portal.EnrollmentWindow
	for rows.Next() {
		w, err := scanWindow(rows)
		if err != nil {
			return nil, dbError("sqlstore.EnrollmentWindows", err)
		}
		out = append(out, w)
	}
	return out, dbError("sqlstore.EnrollmentWindows", rows.Err())
}

// PutEnrollmentWindow inserts or replaces a window.
func (t *Tx) PutEnrollmentWindow(ctx context.Context, w *portal.EnrollmentWindow) error {
	_, err := t.ex.ExecContext(ctx, `INSERT INTO enrollment_windows (`+windowColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (district, year) DO UPDATE SET opens = excluded.opens, closes = excluded.closes,
			publication_days = excluded.publication_days, appeal_days = excluded.appeal_days,
			updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		w.District, w.Year, w.Opens, w.Closes, w.PublicationDays, w.AppealDays, w.UpdatedBy, t.d.time(w.UpdatedAt))
	return dbError("sqlstore.PutEnrollmentWindow", err)
}
