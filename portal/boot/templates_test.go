package boot_test

import (
	"context"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"tzportal/portal/boot"
	"tzportal/portal/config"
	"tzportal/portal/testkit"
	"tzportal/portal/workflow"
)

// TestAServiceWithoutItsResultPanelDoesNotStart: a service shipped without
// one of its templates stops start-up with a message naming it, rather
// than failing on its first case page.
func TestAServiceWithoutItsResultPanelDoesNotStart(t *testing.T) {
	files := fstest.MapFS{}
	src := os.DirFS("testdata/address-proof")
	err := fs.WalkDir(src, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "/result.html") {
			return err
		}
		b, err := fs.ReadFile(src, path)
		files[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PORTAL_SECRET": testkit.NewSecret(), "DATABASE_URL": testkit.SQLite(t)}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.Needs{Secret: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := boot.Open(context.Background(), cfg, boot.Options{Migrate: true, Plugins: []boot.Plugin{{
		New:   func(d boot.Deps) workflow.Service { return addressProof{v: d.Validator} },
		Files: files,
	}}})
	if err == nil {
		p.Close()
		t.Fatal("the portal started with a service that has no result panel")
	}
	if !strings.Contains(err.Error(), `"address-proof/result"`) {
		t.Errorf("the error does not name the template: %v", err)
	}
}
