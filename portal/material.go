package portal

import (
	"context"
	"time"
)

// Material is a file an applicant attached to an item of their case's
// checklist (a photo of the ID card, the lease as a PDF). The file's bytes
// live in a Files store; the row says where.
type Material struct {
	ID          string    `json:"id"` // generated, never the file's name
	CaseID      int64     `json:"-"`
	Item        string    `json:"item"`
	Filename    string    `json:"filename"` // as the applicant named it: display text only
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Storage     string    `json:"-"` // "db" or "dir"
	UploadedBy  int64     `json:"-"`
	UploadedAt  time.Time `json:"uploaded_at"`
}

// Files keeps the bytes of materials. Stage runs before the transaction
// that inserts the material's row (the directory writes and fsyncs the file
// there, holding no lock), Store inside it (the database inserts the
// bytes with the row), so a committed row always has its file; Remove runs
// after a row's deletion committed, or after the insert failed.
type Files interface {
	Name() string // "db" or "dir", stored on each row
	Stage(ctx context.Context, id string, data []byte) error
	Store(ctx context.Context, tx Tx, id string, data []byte) error
	Get(ctx context.Context, r Reader, id string) ([]byte, error)
	Remove(ctx context.Context, id string) error
}

// MaterialStore is the part of a store that keeps materials' rows (and, for
// the database store, their bytes).
type MaterialStore interface {
	Materials(ctx context.Context, caseID int64) ([]Material, error)
	Material(ctx context.Context, caseID int64, id string) (*Material, error)
	// MaterialIDs returns the id and storage of every material (for fsck).
	MaterialIDs(ctx context.Context) (map[string]string, error)
	// MaterialBlob returns the bytes kept in the database for id.
	MaterialBlob(ctx context.Context, id string) ([]byte, error)
}

// MaterialTx changes materials inside a transaction.
type MaterialTx interface {
	InsertMaterial(ctx context.Context, m *Material) error
	PutMaterialBlob(ctx context.Context, id string, data []byte) error
	DeleteMaterial(ctx context.Context, caseID int64, id string) error
}
