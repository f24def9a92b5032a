package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"tzportal/portal"
)

// maxHousingUnits bounds a list of the stock (a district's draw takes a
// few hundred units at a time).
const maxHousingUnits = 10000

const housingUnitColumns = `code, district, kind, address, area, rooms, status, created_at, updated_at`

func scanHousingUnit(row interface{ Scan(...any) error }) (portal.HousingUnit, error) {
	var u portal.HousingUnit
	err := row.Scan(&u.Code, &u.District, &u.Kind, &u.Address, &u.Area, &u.Rooms, &u.Status,
		scanTime{&u.CreatedAt}, scanTime{&u.UpdatedAt})
	return u, err
}

// HousingUnits returns the units f selects, by district, kind and code.
func (q q) HousingUnits(ctx context.Context, f portal.HousingUnitFilter) ([]portal.HousingUnit, error) {
	const op = "sqlstore.HousingUnits"
	limit := f.Limit
	if limit <= 0 || limit > maxHousingUnits {
		limit = maxHousingUnits
	}
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"district", f.District}, {"kind", f.Kind}, {"status", f.Status}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, c.col+" = "+dollar(len(args)))
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	rows, err := q.ex.QueryContext(ctx, `SELECT `+housingUnitColumns+` FROM housing_units`+cond+
		` ORDER BY district, kind, code LIMIT `+dollar(len(args)), args...)
	if err != nil {
		return nil, dbError(op, err)
	}
	defer rows.Close()
	var out []portal.HousingUnit
	for rows.Next() {
		u, err := scanHousingUnit(rows)
		if err != nil {
			return nil, dbError(op, err)
		}
		out = append(out, u)
	}
	return out, dbError(op, rows.Err())
}

// HousingUnit returns one unit; ENOTFOUND when there is none.
func (q q) HousingUnit(ctx context.Context, code string) (*portal.HousingUnit, error) {
	u, err := scanHousingUnit(q.ex.QueryRowContext(ctx, `SELECT `+housingUnitColumns+` FROM housing_units WHERE code = $1`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, portal.NotFound(err)
	}
	if err != nil {
		return nil, dbError("sqlstore.HousingUnit", err)
	}
	return &u, nil
}

// HousingUnitChanges returns the stock's newest changes first (of one unit
// when code is not "").
func (q q) HousingUnitChanges(ctx context.Context, code string, limit int) ([]portal.HousingUnitChange, error) {
	const op = "sqlstore.HousingUnitChanges"
	query := `SELECT id, at, actor, actor_name, code, change, old_value, new_value FROM housing_unit_changes`
	args := []any{limit}
	if code != "" {
		query += ` WHERE code = $2`
		args = append(args, code)
	}
	rows, err := q.ex.QueryContext(ctx, query+` ORDER BY id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, dbError(op, err)
	}
	defer rows.Close()
	var out []portal.HousingUnitChange
	for rows.Next() {
		var c portal.HousingUnitChange
		if err := rows.Scan(&c.ID, scanTime{&c.At}, &c.Actor, &c.ActorName, &c.Code, &c.Change, &c.Old, &c.New); err != nil {
			return nil, dbError(op, err)
		}
		out = append(out, c)
	}
	return out, dbError(op, rows.Err())
}

// InsertHousingUnit adds a unit; a code in use is EINVALID on "code".
func (t *Tx) InsertHousingUnit(ctx context.Context, u portal.HousingUnit) error {
	_, err := t.ex.ExecContext(ctx, `INSERT INTO housing_units (`+housingUnitColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		u.Code, u.District, u.Kind, u.Address, u.Area, u.Rooms, u.Status, t.d.time(u.CreatedAt), t.d.time(u.UpdatedAt))
	if t.d.isUnique(err) {
		e := portal.Invalid(portal.FieldError{Field: "code", Rule: "taken"})
		e.Labels, e.Err = "admin.field", err
		return e
	}
	return dbError("sqlstore.InsertHousingUnit", err)
}

// SetHousingUnitStatus sets a unit's status from old (compare and set).
func (t *Tx) SetHousingUnitStatus(ctx context.Context, code, old, status string, at time.Time) error {
	res, err := t.ex.ExecContext(ctx, `UPDATE housing_units SET status = $1, updated_at = $2 WHERE code = $3 AND status = $4`,
		status, t.d.time(at), code, old)
	if err != nil {
		return dbError("sqlstore.SetHousingUnitStatus", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return &portal.Error{Code: portal.ECONFLICT, Message: "admin.error.unit_changed", Err: err}
	}
	return nil
}

// InsertHousingUnitChange records a change of a unit and sets c.ID.
func (t *Tx) InsertHousingUnitChange(ctx context.Context, c *portal.HousingUnitChange) error {
	err := t.ex.QueryRowContext(ctx, `INSERT INTO housing_unit_changes (at, actor, actor_name, code, change, old_value, new_value)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		t.d.time(c.At), c.Actor, c.ActorName, c.Code, c.Change, c.Old, c.New).Scan(&c.ID)
	return dbError("sqlstore.InsertHousingUnitChange", err)
}
