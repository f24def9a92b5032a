package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"tzportal/portal"
)

const materialColumns = `id, case_id, item, filename, content_type, size, sha256, storage, uploaded_by, uploaded_at`

func scanMaterial(row interface{ Scan(...any) error }) (portal.Material, error) {
	var m portal.Material
	err := row.Scan(&m.ID, &m.CaseID, &m.Item, &m.Filename, &m.ContentType, &m.Size, &m.SHA256, &m.Storage,
		&m.UploadedBy, scanTime{&m.UploadedAt})
	return m, err
}

// Materials returns a case's materials in upload order.
func (q q) Materials(ctx context.Context, caseID int64) ([]portal.Material, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT `+materialColumns+` FROM materials
		WHERE case_id = $1 ORDER BY uploaded_at, id`, caseID)
	if err != nil {
		return nil, dbError("sqlstore.Materials", err)
	}
	defer rows.Close()
	out := []portal.Material{}
	for rows.Next() {
		m, err := scanMaterial(rows)
		if err != nil {
			return nil, dbError("sqlstore.Materials", err)
		}
		out = append(out, m)
	}
	return out, dbError("sqlstore.Materials", rows.Err())
}

// Material returns one material of a case; ENOTFOUND if the case has no
// such material (an id of another case is not found either).
func (q q) Material(ctx context.Context, caseID int64, id string) (*portal.Material, error) {
	m, err := scanMaterial(q.ex.QueryRowContext(ctx, `SELECT `+materialColumns+` FROM materials
		WHERE case_id = $1 AND id = $2`, caseID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, portal.NotFound(fmt.Errorf("sqlstore.Material(%s): no such material", id))
	}
	if err != nil {
		return nil, dbError("sqlstore.Material", err)
	}
	return &m, nil
}

// MaterialIDs returns the id and storage of every material.
func (q q) MaterialIDs(ctx context.Context) (map[string]string, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT m.id, m.storage, b.id IS NOT NULL FROM materials m
		LEFT JOIN material_blobs b ON b.id = m.id`)
	if err != nil {
		return nil, dbError("sqlstore.MaterialIDs", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, storage string
		var blob bool
		if err := rows.Scan(&id, &storage, &blob); err != nil {
			return nil, dbError("sqlstore.MaterialIDs", err)
		}
		if storage == "db" && !blob {
			storage = "db-missing" // a row without its bytes: fsck reports it
		}
		out[id] = storage
	}
	return out, dbError("sqlstore.MaterialIDs", rows.Err())
}

// MaterialBlob returns the bytes kept in the database for a material.
func (q q) MaterialBlob(ctx context.Context, id string) ([]byte, error) {
	var data []byte
	err := q.ex.QueryRowContext(ctx, `SELECT data FROM material_blobs WHERE id = $1`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, portal.NotFound(fmt.Errorf("sqlstore.MaterialBlob(%s): no bytes", id))
	}
	return data, dbError("sqlstore.MaterialBlob", err)
}

// InsertMaterial inserts a material's row.
func (t *Tx) InsertMaterial(ctx context.Context, m *portal.Material) error {
	_, err := t.ex.ExecContext(ctx, `INSERT INTO materials (`+materialColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		m.ID, m.CaseID, m.Item, m.Filename, m.ContentType, m.Size, m.SHA256, m.Storage, m.UploadedBy, t.d.time(m.UploadedAt))
	return dbError("sqlstore.InsertMaterial", err)
}

// PutMaterialBlob stores a material's bytes in the database.
func (t *Tx) PutMaterialBlob(ctx context.Context, id string, data []byte) error {
	_, err := t.ex.ExecContext(ctx, `INSERT INTO material_blobs (id, data) VALUES ($1, $2)`, id, data)
	return dbError("sqlstore.PutMaterialBlob", err)
}

// DeleteMaterial deletes a material of a case with its bytes kept in the
// database; ENOTFOUND if the case has no such material.
func (t *Tx) DeleteMaterial(ctx context.Context, caseID int64, id string) error {
	if _, err := t.ex.ExecContext(ctx, `DELETE FROM material_blobs WHERE id = $1
		AND id IN (SELECT id FROM materials WHERE case_id = $2)`, id, caseID); err != nil {
		return dbError("sqlstore.DeleteMaterial", err)
	}
	res, err := t.ex.ExecContext(ctx, `DELETE FROM materials WHERE case_id = $1 AND id = $2`, caseID, id)
	if err != nil {
		return dbError("sqlstore.DeleteMaterial", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return portal.NotFound(fmt.Errorf("sqlstore.DeleteMaterial(%s): no such material", id))
	}
	return nil
}
