package main

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tzportal/portal/testkit"
)

// TestBackupRestoreDrill runs the backup and restore-drill scripts the
// README ships (portal/deploy/) on a database with cases, materials,
// history and audit entries: the dump restores into a fresh database
// where `portal fsck` and `portal audit verify` pass. With another
// installation's secret the drill fails: the audit chain cannot be
// verified without the secret, which must be kept with the backups.
func TestBackupRestoreDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary and runs pg_dump")
	}
	for _, tool := range []string{"pg_dump", "pg_restore", "psql"} {
		needTool(t, tool)
	}
	bin := buildPortal(t)
	direct, _ := postgresDatabase(t)
	secret := testkit.NewSecret()
	p := testkit.StartWith(t, testkit.Options{Backend: testkit.Backend{Postgres: true}, DatabaseURL: direct,
		Env: map[string]string{"PORTAL_SECRET": secret}})
	p.MustStaff(t, "clerk1", "street_clerk", "321202001")
	clerk := p.NewClient(t)
	clerk.Login("clerk1")
	for i := range 5 {
		_, c := p.NewApplicant(t, "申请人")
		r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		no := r.JSON(t)["case_no"].(string)
		c.AttachAll(no)
		if r := c.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil); r.Status != http.StatusOK {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
		if i%2 == 0 {
			if r := clerk.Do("POST", "/api/v1/cases/"+no+"/events/accept", map[string]any{}); r.Status != http.StatusOK {
				t.Fatalf("accept: %d %s", r.Status, r.Body)
			}
		}
	}

	backups := t.TempDir()
	script := func(name string, env []string, args ...string) (string, error) {
		path, err := filepath.Abs("../../deploy/" + name)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(path, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := script("backup.sh", []string{"DATABASE_URL=" + direct, "BACKUP_DIR=" + backups})
	if err != nil {
		t.Fatalf("backup.sh: %v\n%s", err, out)
	}
	dump := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if _, err := os.Stat(dump); err != nil {
		t.Fatalf("backup.sh printed %q: %v", dump, err)
	}

	u, _ := url.Parse(direct)
	params := u.RawQuery
	u.Path, u.RawQuery = "", ""
	drill := []string{"DRILL_SERVER=" + u.String(), "DRILL_PARAMS=" + params, "PORTAL_BIN=" + bin, "PORTAL_FILES=db"}
	out, err = script("restore-drill.sh", append(drill, "PORTAL_SECRET="+secret), dump)
	if err != nil || !strings.Contains(out, "restore drill passed") || !strings.Contains(out, "fsck") {
		t.Fatalf("restore-drill.sh: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	out, err = script("restore-drill.sh", append(drill, "PORTAL_SECRET="+testkit.NewSecret()), dump)
	if err == nil || strings.Contains(out, "restore drill passed") {
		t.Errorf("the drill with another installation's secret passed:\n%s", out)
	}
}
