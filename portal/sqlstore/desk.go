package sqlstore

import (
	"context"

	"tzportal/portal"
)

// SavedFilters returns the user's saved worklist filters by name.
func (q q) SavedFilters(ctx context.Context, userID int64) ([]portal.SavedFilter, error) {
	const op = "sqlstore.SavedFilters"
	rows, err := q.ex.QueryContext(ctx, `SELECT id, name, query, created_at FROM saved_filters WHERE user_id = $1 ORDER BY name`, userID)
	if err != nil {
		return nil, dbError(op, err)
	}
	defer rows.Close()
	var out []portal.SavedFilter
	for rows.Next() {
		var f portal.SavedFilter
		if err := rows.Scan(&f.ID, &f.Name, &f.Query, scanTime{&f.CreatedAt}); err != nil {
			return nil, dbError(op, err)
		}
		out = append(out, f)
	}
	return out, dbError(op, rows.Err())
}

// SaveFilter adds a filter, or replaces the query of the user's filter of
// the same name.
func (t *Tx) SaveFilter(ctx context.Context, userID int64, f portal.SavedFilter) error {
	_, err := t.ex.ExecContext(ctx, `INSERT INTO saved_filters (user_id, name, query, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, name) DO UPDATE SET query = excluded.query`, userID, f.Name, f.Query, t.d.time(f.CreatedAt))
	return dbError("sqlstore.SaveFilter", err)
}

// DeleteFilter removes the user's filter id.
func (t *Tx) DeleteFilter(ctx context.Context, userID, id int64) error {
	_, err := t.ex.ExecContext(ctx, `DELETE FROM saved_filters WHERE id = $1 AND user_id = $2`, id, userID)
	return dbError("sqlstore.DeleteFilter", err)
}
