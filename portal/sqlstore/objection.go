package sqlstore

import (
	"context"

	"tzportal/portal"
)

// ObjectionsOf returns a case's objections, oldest first.
func (q q) ObjectionsOf(ctx context.Context, caseID int64) ([]portal.Objection, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT id, case_id, contact, reason, created_at, resolved_at, upheld, resolution, resolved_by
		FROM objections WHERE case_id = $1 ORDER BY id`, caseID)
	if err != nil {
		return nil, dbError("sqlstore.ObjectionsOf", err)
	}
	defer rows.Close()
	var out []portal.Objection
	for rows.Next() {
		var o portal.Objection
		if err := rows.Scan(&o.ID, &o.CaseID, &o.Contact, &o.Reason, scanTime{&o.CreatedAt}, scanNullTime{&o.ResolvedAt},
			&o.Upheld, &o.Resolution, &o.ResolvedBy); err != nil {
			return nil, dbError("sqlstore.ObjectionsOf", err)
		}
		out = append(out, o)
	}
	return out, dbError("sqlstore.ObjectionsOf", rows.Err())
}

// InsertObjection records a new objection.
func (t *Tx) InsertObjection(ctx context.Context, o *portal.Objection) error {
	err := t.ex.QueryRowContext(ctx, `INSERT INTO objections (case_id, contact, reason, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		o.CaseID, o.Contact, o.Reason, t.d.time(o.CreatedAt)).Scan(&o.ID)
	return dbError("sqlstore.InsertObjection", err)
}

// ResolveObjection records the decision on an open objection.
func (t *Tx) ResolveObjection(ctx context.Context, o *portal.Objection) error {
	_, err := t.ex.ExecContext(ctx, `UPDATE objections SET resolved_at = $1, upheld = $2, resolution = $3, resolved_by = $4
		WHERE id = $5 AND resolved_at IS NULL`, nullTime(t.d, o.ResolvedAt), o.Upheld, o.Resolution, o.ResolvedBy, o.ID)
	return dbError("sqlstore.ResolveObjection", err)
}
