package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"tzportal/portal"
)

// q holds the queries shared by the pool (DB) and a transaction (Tx).
type q struct {
	ex querier
	d  dialect
}

const userColumns = `id, kind, name, COALESCE(login, ''), COALESCE(mobile, ''), COALESCE(id_index, ''), id_cipher,
	password_hash, COALESCE(token_hash, ''), locale, disabled_at, created_at, totp_secret, totp_confirmed_at, email,
	(SELECT count(*) FROM notifications n WHERE n.user_id = users.id AND n.read_at IS NULL), saved_filters`

// userBy loads a user and its grants in one round trip: every request
// reads its user, so this is on every page's path.
func (q q) userBy(ctx context.Context, op, where string, arg any) (*portal.User, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT `+userColumns+`, g.role, g.division FROM users
		LEFT JOIN grants g ON g.user_id = users.id WHERE `+where+` ORDER BY g.role, g.division`, arg)
	if err != nil {
		return nil, dbError(op, err)
	}
	defer rows.Close()
	users, err := scanUsers(rows, op)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, portal.NotFound(fmt.Errorf("%s: no user", op))
	}
	return &users[0], nil
}

// scanUsers reads rows of userColumns with a grant's role and division,
// ordered by user: one user per run of rows, with the run's grants.
func scanUsers(rows *sql.Rows, op string) ([]portal.User, error) {
	var out []portal.User
	for rows.Next() {
		var row portal.User
		var kind string
		var role, division sql.NullString
		var filters []byte
		if err := rows.Scan(&row.ID, &kind, &row.Name, &row.Login, &row.Mobile, &row.IDIndex, &row.IDCipher,
			&row.PasswordHash, &row.TokenHash, &row.Locale, scanNullTime{&row.DisabledAt}, scanTime{&row.CreatedAt},
			&row.TOTPSecret, scanNullTime{&row.TOTPConfirmedAt}, &row.Email, &row.Unread, &filters, &role, &division); err != nil {
			return nil, dbError(op, err)
		}
		if len(out) == 0 || out[len(out)-1].ID != row.ID {
			row.Kind = portal.UserKind(kind)
			if string(filters) != "[]" { // most users keep none
				row.SavedFilters = filters
			}
			out = append(out, row)
		}
		if role.Valid {
			u := &out[len(out)-1]
			u.Grants = append(u.Grants, portal.Grant{Role: role.String, Division: division.String})
		}
	}
	return out, dbError(op, rows.Err())
}

// UserByID returns the user with id, with its grants.
func (q q) UserByID(ctx context.Context, id int64) (*portal.User, error) {
	return q.userBy(ctx, "sqlstore.UserByID", "users.id = $1", id)
}

// UserByLogin returns the staff or system account with login.
func (q q) UserByLogin(ctx context.Context, login string) (*portal.User, error) {
	return q.userBy(ctx, "sqlstore.UserByLogin", "users.login = $1", login)
}

// UserByMobile returns the applicant with the (normalized) mobile number.
func (q q) UserByMobile(ctx context.Context, mobile string) (*portal.User, error) {
	return q.userBy(ctx, "sqlstore.UserByMobile", "users.mobile = $1", mobile)
}

// UserByIDIndex returns the applicant whose ID number has the blind index.
func (q q) UserByIDIndex(ctx context.Context, index string) (*portal.User, error) {
	return q.userBy(ctx, "sqlstore.UserByIDIndex", "users.id_index = $1", index)
}

// UserByTokenHash returns the system account whose API token hashes to hash.
func (q q) UserByTokenHash(ctx context.Context, hash string) (*portal.User, error) {
	return q.userBy(ctx, "sqlstore.UserByTokenHash", "users.token_hash = $1", hash)
}

// Divisions returns the division tree in code order.
func (q q) Divisions(ctx context.Context) ([]portal.Division, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT code, name, parent, level FROM divisions ORDER BY code`)
	if err != nil {
		return nil, dbError("sqlstore.Divisions", err)
	}
	defer rows.Close()
	var out []portal.Division
	for rows.Next() {
		var d portal.Division
		if err := rows.Scan(&d.Code, &d.Name, &d.Parent, &d.Level); err != nil {
			return nil, dbError("sqlstore.Divisions", err)
		}
		out = append(out, d)
	}
	return out, dbError("sqlstore.Divisions", rows.Err())
}

// Counties returns China's county-level divisions in code order.
func (q q) Counties(ctx context.Context) ([]portal.County, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT code, name, city_code, city_name, province_code, province_name FROM counties ORDER BY code`)
	if err != nil {
		return nil, dbError("sqlstore.Counties", err)
	}
	defer rows.Close()
	var out []portal.County
	for rows.Next() {
		var c portal.County
		if err := rows.Scan(&c.Code, &c.Name, &c.CityCode, &c.CityName, &c.ProvinceCode, &c.ProvinceName); err != nil {
			return nil, dbError("sqlstore.Counties", err)
		}
		out = append(out, c)
	}
	return out, dbError("sqlstore.Counties", rows.Err())
}

// Tx is a read-write transaction.
type Tx struct {
	q
	head  *auditHead // the audit chain's head, once this transaction locked it
	held  *held      // appends not yet written (HoldAppends)
	stats *stats     // rollup changes not yet written (AddStats)
	after []func()   // run once committed (AfterCommit)
}

var _ portal.Tx = (*Tx)(nil)

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// InsertUser inserts u and sets u.ID. A taken login, mobile or ID number is
// an EINVALID error naming the field.
func (t *Tx) InsertUser(ctx context.Context, u *portal.User) error {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	var cipher any
	if len(u.IDCipher) > 0 {
		cipher = u.IDCipher
	}
	err := t.ex.QueryRowContext(ctx, `INSERT INTO users
		(kind, name, login, mobile, id_index, id_cipher, password_hash, token_hash, locale, disabled_at, created_at,
		 totp_secret, totp_confirmed_at, email, mobile_tail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
		string(u.Kind), u.Name, nullString(u.Login), nullString(u.Mobile), nullString(u.IDIndex), cipher,
		u.PasswordHash, nullString(u.TokenHash), u.Locale, nullTime(t.d, u.DisabledAt), t.d.time(u.CreatedAt),
		nullBytes(u.TOTPSecret), nullTime(t.d, u.TOTPConfirmedAt), u.Email, nullString(mobileTail(u.Mobile)),
	).Scan(&u.ID)
	if t.d.isUnique(err) {
		return whichTaken(err)
	}
	return dbError("sqlstore.InsertUser", err)
}

// mobileTail is the last four digits of a mobile number (users.mobile_tail,
// which a clerk's search by the digits a caller reads out finds along an
// index); "" without a number. The mobile number never changes after
// registration (UpdateUser leaves it), so neither does its tail.
func mobileTail(mobile string) string {
	if len(mobile) < 4 {
		return ""
	}
	return mobile[len(mobile)-4:]
}

// whichTaken names the field whose unique column refused the insert, so the
// person is told which field to change. Both drivers name the column or
// constraint in the error.
func whichTaken(cause error) error {
	msg := cause.Error()
	var pe *pgconn.PgError
	if errors.As(cause, &pe) {
		msg = pe.ConstraintName
	}
	var fields []portal.FieldError
	for _, c := range []struct{ field, col string }{{"id_number", "id_index"}, {"mobile", "mobile"}, {"login", "login"}} {
		if strings.Contains(msg, c.col) {
			fields = append(fields, portal.FieldError{Field: c.field, Rule: "taken"})
		}
	}
	if len(fields) == 0 {
		return fmt.Errorf("sqlstore.InsertUser: %w", cause)
	}
	e := portal.Invalid(fields...)
	e.Err = cause
	return e
}

// UpdateUser writes the mutable columns of u.
func (t *Tx) UpdateUser(ctx context.Context, u *portal.User) error {
	_, err := t.ex.ExecContext(ctx, `UPDATE users SET name = $1, password_hash = $2, token_hash = $3, locale = $4, disabled_at = $5,
		totp_secret = $6, totp_confirmed_at = $7, email = $8 WHERE id = $9`, u.Name, u.PasswordHash, nullString(u.TokenHash), u.Locale,
		nullTime(t.d, u.DisabledAt), nullBytes(u.TOTPSecret), nullTime(t.d, u.TOTPConfirmedAt), u.Email, u.ID)
	return dbError("sqlstore.UpdateUser", err)
}

// UseTOTPStep moves the user's last used TOTP step forward to step, if it
// is behind it: the compare-and-set that accepts each code once, even when
// two requests carry it at the same moment.
func (t *Tx) UseTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	res, err := t.ex.ExecContext(ctx, `UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, userID)
	if err != nil {
		return false, dbError("sqlstore.UseTOTPStep", err)
	}
	n, err := res.RowsAffected()
	return n == 1, dbError("sqlstore.UseTOTPStep", err)
}

func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// SetGrants replaces the user's grants.
func (t *Tx) SetGrants(ctx context.Context, userID int64, grants []portal.Grant) error {
	if _, err := t.ex.ExecContext(ctx, `DELETE FROM grants WHERE user_id = $1`, userID); err != nil {
		return dbError("sqlstore.SetGrants", err)
	}
	for _, g := range grants {
		if _, err := t.ex.ExecContext(ctx, `INSERT INTO grants (user_id, role, division) VALUES ($1, $2, $3)`,
			userID, g.Role, g.Division); err != nil {
			return dbError("sqlstore.SetGrants", err)
		}
	}
	return nil
}

// NextSeq increments the counter (name, period) and returns its new value.
func (t *Tx) NextSeq(ctx context.Context, name, period string) (int64, error) {
	var v int64
	err := t.ex.QueryRowContext(ctx, `INSERT INTO counters (name, period, value) VALUES ($1, $2, 1)
		ON CONFLICT (name, period) DO UPDATE SET value = counters.value + 1 RETURNING value`, name, period).Scan(&v)
	return v, dbError("sqlstore.NextSeq", err)
}

// SavedFiltersForUpdate returns the user's saved worklist filters and
// locks their row until the transaction ends.
func (t *Tx) SavedFiltersForUpdate(ctx context.Context, userID int64) (json.RawMessage, error) {
	var b []byte
	err := t.ex.QueryRowContext(ctx, `SELECT saved_filters FROM users WHERE id = $1`+t.d.forUpdate(), userID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, portal.NotFound(fmt.Errorf("sqlstore.SavedFiltersForUpdate: no user %d", userID))
	}
	return b, dbError("sqlstore.SavedFiltersForUpdate", err)
}

// SetSavedFilters replaces the user's saved worklist filters.
func (t *Tx) SetSavedFilters(ctx context.Context, userID int64, filters json.RawMessage) error {
	_, err := t.ex.ExecContext(ctx, `UPDATE users SET saved_filters = $1 WHERE id = $2`, string(filters), userID)
	return dbError("sqlstore.SetSavedFilters", err)
}
