package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"tzportal/portal/testkit"
)

// TestJourneyThroughPgBouncer runs the residence-permit journey against a
// node that reaches PostgreSQL through PgBouncer (Debian's package) in
// transaction mode, with fewer server connections than the node has
// clients, so that every transaction may land on another server
// connection: register, log in, apply, attach, submit, accept, approve,
// the certificate — with eight applicants writing at once — and then
// portal fsck, through PgBouncer too.
func TestJourneyThroughPgBouncer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the PgBouncer test builds the binary and runs pgbouncer")
	}
	bouncer := needTool(t, "pgbouncer")
	bin := buildPortal(t)
	direct, dbname := postgresDatabase(t)
	e := env{"DATABASE_URL": direct, "PORTAL_SECRET": testkit.NewSecret(), "PORTAL_COOKIE_SECURE": "off", "PORTAL_STAFF_MFA": "off", "PORTAL_FILES": "db"}
	// Migrations hold a session's advisory lock: they run against
	// PostgreSQL itself, as the README says.
	if code, out, err := runCmd(t, e, "", "migrate"); code != 0 {
		t.Fatalf("migrate: %d %s %v", code, out, err)
	}
	pooled := startPgBouncer(t, bouncer, direct, dbname)
	e["DATABASE_URL"], e["PORTAL_PGBOUNCER"] = pooled, "on"

	if code, _, err := runCmd(t, e, "", "migrate"); code != 2 || err == nil || !strings.Contains(err.Error(), "not through PgBouncer") {
		t.Errorf("migrate through PgBouncer: %d %v, want a refusal", code, err)
	}
	// Without a statement timeout of the role or the database, a node
	// behind PgBouncer refuses to start, saying what to set.
	code, _, err := runCmd(t, e, "", "fsck")
	if code == 0 || err == nil || !strings.Contains(err.Error(), "statement_timeout") {
		t.Fatalf("through PgBouncer without a statement timeout: %d %v, want a refusal naming statement_timeout", code, err)
	}
	admin := openDirect(t, direct)
	if _, err := admin.Exec(fmt.Sprintf(`ALTER DATABASE %s SET statement_timeout = '5s'`, dbname)); err != nil {
		t.Fatal(err)
	}
	// PgBouncer keeps its server connections: the setting reaches new
	// ones (RECONNECT in its console, as the README says).
	reconnectPgBouncer(t, pooled, dbname)

	for _, login := range []string{"clerk1", "clerk2"} {
		if code, out, err := runCmd(t, e, testkit.Password+"\n", "staff", "add", "--login", login, "--password", "-", "--name", "窗口",
			"--role", "street_clerk", "--division", "321202001"); code != 0 {
			t.Fatalf("staff add through PgBouncer: %d %s %v", code, out, err)
		}
	}
	e["PORTAL_DB_POOL"] = "12" // more clients than PgBouncer's 3 server connections
	node := startPortal(t, bin, e)

	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			journey(t, node, w)
		}()
	}
	wg.Wait()
	if code, out, err := runCmd(t, e, "", "fsck"); code != 0 {
		t.Errorf("portal fsck through PgBouncer: %d %v\n%s", code, err, out)
	}
	if code, out, err := runCmd(t, e, "", "audit", "verify"); code != 0 {
		t.Errorf("portal audit verify through PgBouncer: %d %v\n%s", code, err, out)
	}
}

// journey is one applicant's residence permit, from registration to the
// certificate, decided by two clerks.
func journey(t *testing.T, node *child, w int) {
	mobile := fmt.Sprintf("1392000%04d", w)
	if st, m, err := newAPIClient(node.url).do("POST", "/api/v1/accounts", map[string]string{"name": "申请人",
		"id_number": testkit.IDNumber(fmt.Sprintf("32120219940404%03d", w)), "mobile": mobile, "password": testkit.Password}); st != http.StatusCreated {
		t.Errorf("register: %d %v %v", st, m, err)
		return
	}
	a := login1(t, node, mobile)
	st, m, err := a.do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
	if st != http.StatusCreated {
		t.Errorf("create: %d %v %v", st, m, err)
		return
	}
	no := m["case_no"].(string)
	st, m, _ = a.do("GET", "/api/v1/cases/"+no+"/materials", nil)
	if st != http.StatusOK {
		t.Errorf("materials: %d %v", st, m)
		return
	}
	items, _ := m["checklist"].([]any)
	for _, x := range items {
		it := x.(map[string]any)
		if it["required"] != true {
			continue
		}
		needed := 1
		if n, ok := it["needed"].(float64); ok {
			needed = int(n)
		}
		for range needed {
			if st := a.upload(t, no, it["item"].(string)); st != http.StatusCreated {
				t.Errorf("upload %v: %d", it["item"], st)
				return
			}
		}
	}
	steps := []struct {
		who   *apiClient
		event string
	}{{a, "submit"}, {login1(t, node, "clerk1"), "accept"}, {login1(t, node, "clerk2"), "approve"}}
	for _, s := range steps {
		if st, m, err := s.who.do("POST", "/api/v1/cases/"+no+"/events/"+s.event, map[string]any{}); st != http.StatusOK {
			t.Errorf("%s %s: %d %v %v", no, s.event, st, m, err)
			return
		}
	}
	if st, m, _ := a.do("GET", "/api/v1/cases/"+no, nil); st != http.StatusOK || m["state"] != "approved" {
		t.Errorf("%s after approval: %d %v", no, st, m["state"])
	}
	if st, m, _ := a.do("GET", "/api/v1/cases/"+no+"/certificate", nil); st != http.StatusOK {
		t.Errorf("%s certificate: %d %v", no, st, m)
	}
}

// upload attaches a small image to a checklist item.
func (c *apiClient) upload(t *testing.T, no, item string) int {
	body, ctype := testkit.Multipart(t, map[string]string{"item": item}, "file", item+".png", testkit.PNG(t, 8, 8))
	req, err := http.NewRequest("POST", c.base+"/api/v1/cases/"+no+"/materials", bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// postgresDatabase makes a database of the test's own (PgBouncer cannot
// pass the search_path that gives other tests a schema each) and drops it
// at the end; it returns its URL and name.
func postgresDatabase(t *testing.T) (string, string) {
	t.Helper()
	base := os.Getenv("PORTAL_TEST_DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	admin := openDirect(t, base)
	name := fmt.Sprintf("tzportal_pgb_%d", os.Getpid())
	admin.Exec(`DROP DATABASE IF EXISTS ` + name)
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`) })
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String(), name
}

func openDirect(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	d, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Ping(); err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	return d
}

// startPgBouncer runs PgBouncer in transaction mode in front of database
// dbname of the server in direct, with three server connections, and
// returns the URL to reach the database through it.
func startPgBouncer(t *testing.T, bin, direct, dbname string) string {
	t.Helper()
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	user := u.User.Username()
	// PgBouncer will not run as root: it runs as postgres, which must
	// read its files (a test's TempDir is private to root).
	dir, err := os.MkdirTemp("", "tzportal-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	addr := freeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	conf := fmt.Sprintf(`[databases]
%[1]s = host=%[2]s port=%[3]s dbname=%[1]s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %[4]s
unix_socket_dir =
auth_type = trust
auth_file = %[5]s/users.txt
pool_mode = transaction
default_pool_size = 3
max_client_conn = 200
admin_users = %[6]s
`, dbname, u.Hostname(), u.Port(), port, dir, user)
	if err := os.WriteFile(filepath.Join(dir, "pgbouncer.ini"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.txt"), []byte(fmt.Sprintf("%q \"\"\n", user)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "postgres"}, args...)
	}
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pooled := *u
	pooled.Host = addr
	waitFor(t, 15*time.Second, "PgBouncer to answer", func() bool {
		d, err := sql.Open("pgx", pooled.String()+"&default_query_exec_mode=simple_protocol")
		if err != nil {
			return false
		}
		defer d.Close()
		return d.Ping() == nil
	})
	return pooled.String()
}

// reconnectPgBouncer asks PgBouncer (its admin console) to replace its
// server connections to dbname as they come free: new ones get the
// database's new settings.
func reconnectPgBouncer(t *testing.T, pooled, dbname string) {
	t.Helper()
	u, _ := url.Parse(pooled)
	u.Path = "/pgbouncer"
	console, err := sql.Open("pgx", u.String()+"&default_query_exec_mode=simple_protocol")
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	if _, err := console.Exec("RECONNECT " + dbname); err != nil {
		t.Fatalf("RECONNECT in PgBouncer's console: %v", err)
	}
}
