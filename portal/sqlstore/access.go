package sqlstore

import (
	"context"

	"tzportal/portal"
)

// recordAccess is the one statement of an access: the day's row of (case,
// person, kind) is created or counted up. The last time only moves forward
// (two nodes' clocks may disagree by a little).
func recordAccess(ctx context.Context, ex querier, d dialect, a portal.Access) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO case_access (case_id, user_id, kind, day, role, division, n, first_at, last_at)
		VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)
		ON CONFLICT (case_id, user_id, kind, day) DO UPDATE SET n = case_access.n + 1, role = excluded.role, division = excluded.division,
			last_at = CASE WHEN excluded.last_at > case_access.last_at THEN excluded.last_at ELSE case_access.last_at END`,
		a.CaseID, a.UserID, a.Kind, a.Day, a.Role, a.Division, d.time(a.LastAt))
	return dbError("sqlstore.RecordAccess", err)
}

// RecordAccess records an access in a transaction of its own (one
// statement, on the write pool: SQLite's readers are read-only).
func (db *DB) RecordAccess(ctx context.Context, a portal.Access) error {
	return recordAccess(ctx, db.counted(db.write), db.dialect, a)
}

// RecordAccess records an access in the transaction.
func (t *Tx) RecordAccess(ctx context.Context, a portal.Access) error {
	return recordAccess(ctx, t.ex, t.d, a)
}

// AccessLog returns a case's access rows, the latest first. The person is
// not read: nothing downstream can show them by mistake.
func (q q) AccessLog(ctx context.Context, caseID int64, limit int) ([]portal.Access, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT kind, day, role, division, n, first_at, last_at
		FROM case_access WHERE case_id = $1 ORDER BY last_at DESC, kind LIMIT $2`, caseID, limit)
	if err != nil {
		return nil, dbError("sqlstore.AccessLog", err)
	}
	defer rows.Close()
	var out []portal.Access
	for rows.Next() {
		a := portal.Access{CaseID: caseID}
		if err := rows.Scan(&a.Kind, &a.Day, &a.Role, &a.Division, &a.Count, scanTime{&a.FirstAt}, scanTime{&a.LastAt}); err != nil {
			return nil, dbError("sqlstore.AccessLog", err)
		}
		out = append(out, a)
	}
	return out, dbError("sqlstore.AccessLog", rows.Err())
}
