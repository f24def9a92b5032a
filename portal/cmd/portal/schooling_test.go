package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tzportal/portal/testkit"
)

// The admin's commands for school places: a file with one bad row is
// refused whole, naming the line; a good one is imported; a window is set;
// an allocation without a published list is refused by its rule.
func TestSchoolingCommands(t *testing.T) {
	e := env{"DATABASE_URL": testkit.SQLite(t), "PORTAL_SECRET": testkit.NewSecret(), "PORTAL_DATA_DIR": t.TempDir()}
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const head = "code,name,district,catchment,year,grade,seats,public\n"
	bad := write("bad.csv", head+"HL-CD-01,城东小学,321202,321202001,2027,1,45,yes\nHL-CD-02,城东第二小学,321202,321203001,2027,1,45,yes\n")
	code, out, err := runCmd(t, e, "", "schools", "import", bad)
	if code != 1 || err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "catchment") {
		t.Fatalf("bad file: %d %q %v", code, out, err)
	}
	good := write("good.csv", head+"HL-CD-01,城东小学,321202,321202001,2027,1,45,yes\nHL-CD-01,城东小学,321202,321202001,2027,7,90,yes\n")
	if code, out, err := runCmd(t, e, "", "schools", "import", good); code != 0 || !strings.Contains(out, "imported 2 school rows") {
		t.Fatalf("good file: %d %q %v", code, out, err)
	}
	if code, out, err := runCmd(t, e, "", "schooling", "window", "--district", "321202", "--year", "2027", "--opens", "2027-03-01", "--closes", "2027-02-01"); code != 1 || err == nil || !strings.Contains(err.Error(), "closes") {
		t.Fatalf("window closing before it opens: %d %q %v", code, out, err)
	}
	if code, out, err := runCmd(t, e, "", "schooling", "window", "--district", "321202", "--year", "2027", "--opens", "2027-03-01", "--closes", "2027-03-31"); code != 0 || !strings.Contains(out, "2027-03-01 to 2027-03-31") {
		t.Fatalf("window: %d %q %v", code, out, err)
	}
	seed := strings.Repeat("ab", 16)
	if code, out, err := runCmd(t, e, "", "schooling", "allocate", "--district", "321202", "--year", "2027", "--grade", "1", "--seed", seed); code != 1 || err == nil || !strings.Contains(err.Error(), "list_published") || !strings.Contains(err.Error(), "not fully published yet") {
		t.Fatalf("allocate before a list: %d %q %v", code, out, err)
	}
	if code, out, err := runCmd(t, e, "", "fsck"); code != 0 {
		t.Fatalf("fsck: %d %q %v", code, out, err)
	}
}
