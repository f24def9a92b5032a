package sqlstore

import (
	"context"
	"strings"

	"tzportal/portal"
)

// maxAccounts bounds an administrator's list (a city has hundreds of staff:
// a search narrows it).
const maxAccounts = 500

// Accounts returns staff and system accounts with their grants, by login.
func (q q) Accounts(ctx context.Context, f portal.AccountFilter) ([]portal.User, error) {
	const op = "sqlstore.Accounts"
	limit := f.Limit
	if limit <= 0 || limit > maxAccounts {
		limit = maxAccounts
	}
	where := []string{"users.kind IN ('staff', 'system')"}
	var args []any
	if f.Kind != "" {
		args = append(args, string(f.Kind))
		where = append(where, "users.kind = "+dollar(len(args)))
	}
	if q := strings.TrimSpace(f.Q); q != "" {
		// A LIKE pattern of the words typed: %, _ and \ are taken literally.
		pat := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(q)) + "%"
		args = append(args, pat)
		where = append(where, "(lower(users.login) LIKE "+dollar(len(args))+` ESCAPE '\' OR lower(users.name) LIKE `+dollar(len(args))+` ESCAPE '\')`)
	}
	args = append(args, limit)
	rows, err := q.ex.QueryContext(ctx, `SELECT `+userColumns+`, g.role, g.division FROM
		(SELECT * FROM users WHERE `+strings.Join(where, " AND ")+` ORDER BY login LIMIT `+dollar(len(args))+`) users
		LEFT JOIN grants g ON g.user_id = users.id ORDER BY users.login, g.role, g.division`, args...)
	if err != nil {
		return nil, dbError(op, err)
	}
	defer rows.Close()
	return scanUsers(rows, op)
}

// DivisionChanges returns the division tree's history, newest first: one
// division's (code), or every division's ("").
func (q q) DivisionChanges(ctx context.Context, code string, limit int) ([]portal.DivisionChange, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT id, at, actor, actor_name, code, change, old_value, new_value
		FROM division_changes WHERE $1 = '' OR code = $1 ORDER BY id DESC LIMIT $2`, code, limit)
	if err != nil {
		return nil, dbError("sqlstore.DivisionChanges", err)
	}
	defer rows.Close()
	var out []portal.DivisionChange
	for rows.Next() {
		var c portal.DivisionChange
		if err := rows.Scan(&c.ID, scanTime{&c.At}, &c.Actor, &c.ActorName, &c.Code, &c.Change, &c.Old, &c.New); err != nil {
			return nil, dbError("sqlstore.DivisionChanges", err)
		}
		out = append(out, c)
	}
	return out, dbError("sqlstore.DivisionChanges", rows.Err())
}

// DivisionVersion is the id of the newest change of the tree, 0 if none.
func (q q) DivisionVersion(ctx context.Context) (int64, error) {
	var v int64
	err := q.ex.QueryRowContext(ctx, `SELECT COALESCE(max(id), 0) FROM division_changes`).Scan(&v)
	return v, dbError("sqlstore.DivisionVersion", err)
}

// CasesIn counts the cases filed in a division.
func (q q) CasesIn(ctx context.Context, code string) (int, error) {
	var n int
	err := q.ex.QueryRowContext(ctx, `SELECT count(*) FROM cases WHERE division = $1 OR district = $1`, code).Scan(&n)
	return n, dbError("sqlstore.CasesIn", err)
}

// InsertDivision adds a division; a code in use is EINVALID on "code".
func (t *Tx) InsertDivision(ctx context.Context, d portal.Division) error {
	_, err := t.ex.ExecContext(ctx, `INSERT INTO divisions (code, name, parent, level) VALUES ($1, $2, $3, $4)`,
		d.Code, d.Name, d.Parent, d.Level)
	if t.d.isUnique(err) {
		e := portal.Invalid(portal.FieldError{Field: "code", Rule: "taken"})
		e.Labels, e.Err = "admin.field", err
		return e
	}
	return dbError("sqlstore.InsertDivision", err)
}

// UpdateDivision writes a division's name, parent and level.
func (t *Tx) UpdateDivision(ctx context.Context, d portal.Division) error {
	res, err := t.ex.ExecContext(ctx, `UPDATE divisions SET name = $1, parent = $2, level = $3 WHERE code = $4`,
		d.Name, d.Parent, d.Level, d.Code)
	if err != nil {
		return dbError("sqlstore.UpdateDivision", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return portal.NotFound(err)
	}
	return nil
}

// InsertDivisionChange records a change of the tree and sets c.ID.
func (t *Tx) InsertDivisionChange(ctx context.Context, c *portal.DivisionChange) error {
	err := t.ex.QueryRowContext(ctx, `INSERT INTO division_changes (at, actor, actor_name, code, change, old_value, new_value)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		t.d.time(c.At), c.Actor, c.ActorName, c.Code, c.Change, c.Old, c.New).Scan(&c.ID)
	return dbError("sqlstore.InsertDivisionChange", err)
}

// CalendarDays returns the days set over the calendar file, day → kind.
func (q q) CalendarDays(ctx context.Context) (map[string]string, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT day, kind FROM calendar_days`)
	if err != nil {
		return nil, dbError("sqlstore.CalendarDays", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var day, kind string
		if err := rows.Scan(&day, &kind); err != nil {
			return nil, dbError("sqlstore.CalendarDays", err)
		}
		out[day] = kind
	}
	return out, dbError("sqlstore.CalendarDays", rows.Err())
}

// CalendarChanges returns the changes of the days starting with prefix,
// newest first.
func (q q) CalendarChanges(ctx context.Context, prefix string, limit int) ([]portal.CalendarChange, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT id, at, actor, actor_name, day, old_kind, new_kind, note
		FROM calendar_changes WHERE day LIKE $1 ORDER BY id DESC LIMIT $2`, strings.ReplaceAll(prefix, "%", "")+"%", limit)
	if err != nil {
		return nil, dbError("sqlstore.CalendarChanges", err)
	}
	defer rows.Close()
	var out []portal.CalendarChange
	for rows.Next() {
		var c portal.CalendarChange
		if err := rows.Scan(&c.ID, scanTime{&c.At}, &c.Actor, &c.ActorName, &c.Day, &c.Old, &c.New, &c.Note); err != nil {
			return nil, dbError("sqlstore.CalendarChanges", err)
		}
		out = append(out, c)
	}
	return out, dbError("sqlstore.CalendarChanges", rows.Err())
}

// CalendarVersion is the id of the calendar's newest change, 0 if none.
func (q q) CalendarVersion(ctx context.Context) (int64, error) {
	var v int64
	err := q.ex.QueryRowContext(ctx, `SELECT COALESCE(max(id), 0) FROM calendar_changes`).Scan(&v)
	return v, dbError("sqlstore.CalendarVersion", err)
}

// SetCalendarDay sets a day's kind over the calendar file.
func (t *Tx) SetCalendarDay(ctx context.Context, day, kind string) error {
	_, err := t.ex.ExecContext(ctx, `INSERT INTO calendar_days (day, kind) VALUES ($1, $2)
		ON CONFLICT (day) DO UPDATE SET kind = excluded.kind`, day, kind)
	return dbError("sqlstore.SetCalendarDay", err)
}

// InsertCalendarChange records a change of a day and sets c.ID.
func (t *Tx) InsertCalendarChange(ctx context.Context, c *portal.CalendarChange) error {
	err := t.ex.QueryRowContext(ctx, `INSERT INTO calendar_changes (at, actor, actor_name, day, old_kind, new_kind, note)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		t.d.time(c.At), c.Actor, c.ActorName, c.Day, c.Old, c.New, c.Note).Scan(&c.ID)
	return dbError("sqlstore.InsertCalendarChange", err)
}
