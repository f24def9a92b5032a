package fsck

import (
	"context"
	"sort"

	"tzportal/portal"
)

// FileLister lists the files of a materials directory (materials.Dir).
type FileLister interface {
	Keys(ctx context.Context) ([]string, error)
	Temporary(ctx context.Context) ([]string, error)
}

// CheckMaterials checks that every material's row has its bytes — in the
// database for storage "db", in dir for "dir" — and that dir holds no
// file without a row (an upload whose transaction failed, or a deletion
// interrupted after its commit) and no half-written temporary file. dir
// may be nil when no directory is configured.
func CheckMaterials(ctx context.Context, r portal.Reader, dir FileLister) ([]Violation, error) {
	rows, err := r.MaterialIDs(ctx)
	if err != nil {
		return nil, err
	}
	var out []Violation
	files := map[string]bool{}
	if dir != nil {
		keys, err := dir.Keys(ctx)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			files[k] = true
			if _, ok := rows[k]; !ok {
				out = append(out, Violation{Reason: "materials: file " + k + " has no row (an orphan: safe to remove)"})
			}
		}
		tmp, err := dir.Temporary(ctx)
		if err != nil {
			return nil, err
		}
		for _, name := range tmp {
			out = append(out, Violation{Reason: "materials: temporary file " + name + " is an upload in progress or one that never completed (safe to remove when old)"})
		}
	}
	for id, storage := range rows {
		switch {
		case storage == "db-missing":
			out = append(out, Violation{Reason: "materials: " + id + " has no bytes in the database"})
		case storage == "dir" && !files[id]:
			out = append(out, Violation{Reason: "materials: " + id + " has no file in the materials directory"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Reason < out[j].Reason })
	return out, nil
}
