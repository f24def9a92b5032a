package fsck_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tzportal/portal/fsck"
	"tzportal/portal/materials"
	"tzportal/portal/testkit"
)

// TestMaterialsAndTheirFiles: a row without its bytes and a file without
// its row are both found, in the directory store (embedded defaults) and
// the database store (PostgreSQL).
func TestMaterialsAndTheirFiles(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.Start(t, b, nil)
		_, c := p.NewApplicant(t, "申请人")
		r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
		no := r.JSON(t)["case_no"].(string)
		c.AttachAll(no)
		ctx := context.Background()
		dir := materials.Dir{Root: filepath.Join(p.Config.DataDir, "materials")}
		check := func() []string {
			t.Helper()
			var files fsck.FileLister
			if b.Name == "sqlite" {
				files = dir
			}
			vs, err := fsck.CheckMaterials(ctx, p.DB, files)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, v := range vs {
				out = append(out, v.String())
			}
			return out
		}
		if vs := check(); len(vs) != 0 {
			t.Fatalf("a clean portal: %v", vs)
		}
		var id string
		if err := p.DB.SQL().QueryRow(`SELECT id FROM materials ORDER BY id LIMIT 1`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if b.Name == "sqlite" {
			// The directory store: lose a file, leave an orphan.
			keys, err := dir.Keys(ctx)
			if err != nil || len(keys) != 4 {
				t.Fatalf("files: %v %v", keys, err)
			}
			if err := dir.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := dir.Put(ctx, "orphan0000000000000000000a", []byte("x")); err != nil {
				t.Fatal(err)
			}
			vs := check()
			if len(vs) != 2 || !strings.Contains(strings.Join(vs, "\n"), id+" has no file") ||
				!strings.Contains(strings.Join(vs, "\n"), "orphan0000000000000000000a has no row") {
				t.Errorf("violations: %v", vs)
			}
			return
		}
		// The database store: a row without its bytes.
		if _, err := p.DB.SQL().Exec(`DELETE FROM material_blobs WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		if vs := check(); len(vs) != 1 || !strings.Contains(vs[0], id+" has no bytes") {
			t.Errorf("violations: %v", vs)
		}
		if _, err := os.Stat(dir.Root); err == nil {
			t.Error("the database store wrote files to the directory")
		}
	})
}
