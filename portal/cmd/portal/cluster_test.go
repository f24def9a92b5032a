package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tzportal/portal/sqlstore"
	"tzportal/portal/testkit"
)

// needTool finds a program the test runs (nginx, redis-sentinel,
// pgbouncer, from Debian's packages). Without it the test skips, except in
// CI, where .ci/run installs it and its absence is a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	if !testkit.External() {
		t.Skipf("PORTAL_TEST_EXTERNAL=off: skipping a test that runs %s", name)
	}
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (apt-get install %s): .ci/run installs it", name, debianPackage(name))
	}
	t.Skipf("%s is not installed (apt-get install %s)", name, debianPackage(name))
	return ""
}

func debianPackage(tool string) string {
	switch tool {
	case "nginx":
		return "nginx-light"
	default:
		return tool
	}
}

// freeAddr returns a loopback address with a port free at the moment.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startNodes starts n `portal serve` processes at once on the same
// environment and waits until each answers.
func startNodes(t *testing.T, bin string, e env, n int) []*child {
	t.Helper()
	nodes := make([]*child, n)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i] = startPortal(t, bin, e)
		}()
	}
	wg.Wait()
	for _, c := range nodes {
		if c == nil {
			t.FailNow() // startPortal said why
		}
	}
	return nodes
}

// startNginx runs nginx on a loopback port in front of nodes, with the
// proxy settings the README ships (portal/deploy/nginx/tzportal-proxy.conf),
// and returns its URL.
func startNginx(t *testing.T, bin string, nodes []*child) string {
	t.Helper()
	dir := t.TempDir()
	// Workers may run as nobody: they write request bodies under dir.
	os.Chmod(dir, 0o777)
	shipped, err := filepath.Abs("../../deploy/nginx/tzportal-proxy.conf")
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	var upstream strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&upstream, "        server %s max_fails=1 fail_timeout=10s;\n", strings.TrimPrefix(n.url, "http://"))
	}
	conf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream tzportal {
%[2]s        keepalive 16;
        keepalive_timeout 50s;
    }
    server {
        listen %[3]s;
        client_max_body_size 12m;
        location / {
            include %[4]s;
        }
    }
}
`, dir, upstream.String(), addr, shipped)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	out, err := os.Create(filepath.Join(dir, "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// nginx's workers are its children: a group of their own, so that the
	// end of the test stops them with their master (a master killed alone
	// leaves its workers holding the port).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		out.Close()
	})
	url := "http://" + addr
	waitHTTP(t, url+"/healthz", func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		o, _ := os.ReadFile(out.Name())
		return string(o) + string(b)
	})
	return url
}

// waitHTTP waits up to 30 s for url to answer 200.
func waitHTTP(t *testing.T, url string, why func() string) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within 30 s\n%s", url, why())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// on is the client c, sending to another base URL with the same cookies
// (a cookie jar ignores ports: the nodes all run on 127.0.0.1).
func (c *apiClient) on(base string) *apiClient {
	d := *c
	d.base = base
	return &d
}

// from makes c's connections come from a given loopback address (the
// client's "real" address, which nginx sees and the nodes must believe).
func (c *apiClient) from(ip string) *apiClient {
	d := *c
	hc := *c.hc
	hc.Transport = &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
	d.hc = &hc
	return &d
}

// logLine finds the access-log line of request rid in the nodes' logs.
func logLine(t *testing.T, nodes []*child, rid string) map[string]any {
	t.Helper()
	for _, n := range nodes {
		f, err := os.Open(n.log)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if !strings.Contains(sc.Text(), rid) {
				continue
			}
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "request" {
				f.Close()
				return m
			}
		}
		f.Close()
	}
	t.Fatalf("no access-log line for request %s on any node", rid)
	return nil
}

// get sends a GET with extra headers and returns the status and the
// request id the portal gave it.
func (c *apiClient) get(t *testing.T, path string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Request-Id")
}

// TestClusterBehindNginx runs three `portal serve` nodes against one
// PostgreSQL and one Redis behind a real nginx, configured with the proxy
// settings the README ships:
//   - a session made through node A works through B and C;
//   - a grant an administrator revokes on node A while a clerk works is
//     refused on every node at the clerk's next request;
//   - 1,000 timers due at once fire exactly once across the three;
//   - behind the proxy the portal sees the client's real address, and a
//     forged X-Forwarded-For, from the client or sent straight to a node,
//     changes nothing;
//   - a node killed with SIGKILL under a write load loses no acknowledged
//     write (portal fsck is clean) and nginx routes around it.
func TestClusterBehindNginx(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the cluster test builds the binary and runs nginx")
	}
	nginx := needTool(t, "nginx")
	bin := buildPortal(t)
	db := testkit.Postgres(t)
	redisURL, _ := testkit.Redis(t)
	e := env{"DATABASE_URL": db, "REDIS_URL": redisURL, "PORTAL_SECRET": testkit.NewSecret(), "PORTAL_COOKIE_SECURE": "off",
		"PORTAL_STAFF_MFA": "off", "PORTAL_FILES": "db", "PORTAL_TRUSTED_PROXIES": "127.0.0.1"}
	if code, out, err := runCmd(t, e, "", "migrate"); code != 0 {
		t.Fatalf("migrate: %d %s %v", code, out, err)
	}
	for _, s := range [][]string{{"clerk1", "street_clerk", "321202001"}, {"clerk2", "street_clerk", "321202001"}, {"admin1", "admin", "321200"}} {
		if code, out, err := runCmd(t, e, testkit.Password+"\n", "staff", "add", "--login", s[0], "--password", "-", "--name", "窗口 "+s[0],
			"--role", s[1], "--division", s[2]); code != 0 {
			t.Fatalf("staff add %s: %d %s %v", s[0], code, out, err)
		}
	}
	const timers = 1000
	seedDueTimers(t, e, timers)

	nodes := startNodes(t, bin, e, 3)
	lb := startNginx(t, nginx, nodes)
	a, b, c := nodes[0], nodes[1], nodes[2]

	t.Run("timers fire exactly once", func(t *testing.T) {
		sqldb := openSQL(t, db)
		deadline := time.Now().Add(90 * time.Second)
		for {
			var left int
			if err := sqldb.QueryRow(`SELECT count(*) FROM jobs WHERE done_at IS NULL AND event = 'withdraw'`).Scan(&left); err != nil {
				t.Fatal(err)
			}
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d due timers still not fired after 90 s", left, timers)
			}
			time.Sleep(200 * time.Millisecond)
		}
		var fired, steps, cases, audits int
		sqldb.QueryRow(`SELECT count(*) FROM jobs WHERE event = 'withdraw' AND outcome = 'fired'`).Scan(&fired)
		sqldb.QueryRow(`SELECT count(*), count(DISTINCT case_id) FROM case_history WHERE event = 'withdraw'`).Scan(&steps, &cases)
		sqldb.QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'case.withdraw'`).Scan(&audits)
		if fired != timers || steps != timers || cases != timers || audits != timers {
			t.Errorf("%d timers due: %d fired, %d withdraw steps on %d cases, %d audit entries; want %d of each", timers, fired, steps, cases, audits, timers)
		}
		var withdrawn int
		sqldb.QueryRow(`SELECT count(*) FROM cases WHERE state = 'withdrawn'`).Scan(&withdrawn)
		if withdrawn != timers {
			t.Errorf("%d cases withdrawn, want %d", withdrawn, timers)
		}
		for i, n := range nodes {
			t.Logf("node %c fired %d timers", 'A'+i, firedBy(n))
		}
	})

	t.Run("a session made on one node works on the others", func(t *testing.T) {
		applicant := newAPIClient(a.url)
		if st, m, err := applicant.do("POST", "/api/v1/accounts", map[string]string{"name": "申请人", "id_number": testkit.IDNumber("32120219910101900"),
			"mobile": "13900009000", "password": testkit.Password}); st != http.StatusCreated {
			t.Fatalf("register on A: %d %v %v", st, m, err)
		}
		applicant = login1(t, a, "13900009000")
		for i, n := range []*child{b, c} {
			st, m, err := applicant.on(n.url).do("GET", "/api/v1/session", nil)
			if st != http.StatusOK {
				t.Errorf("the session made on A, on node %c: %d %v %v", 'B'+i, st, m, err)
			}
		}
		// A write on B with the session and CSRF token made on A, then
		// logging out on C ends it everywhere.
		st, m, _ := applicant.on(b.url).do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit",
			"form": testkit.ResidenceForm()})
		if st != http.StatusCreated {
			t.Errorf("create on B with A's session: %d %v", st, m)
		}
		if st, _, _ := applicant.on(c.url).do("DELETE", "/api/v1/session", nil); st != http.StatusNoContent && st != http.StatusOK {
			t.Errorf("log out on C: %d", st)
		}
		if st, _, _ := applicant.on(a.url).do("GET", "/api/v1/session", nil); st != http.StatusUnauthorized {
			t.Errorf("after logging out on C, the session on A: %d, want 401", st)
		}
	})

	t.Run("a revoked grant is refused on another node at once", func(t *testing.T) {
		clerk := login1(t, a, "clerk2")
		if st, m, err := clerk.on(c.url).do("GET", "/api/v1/cases", nil); st != http.StatusOK {
			t.Fatalf("the clerk's list on C before: %d %v %v", st, m, err)
		}
		// The administrator revokes the grant through node A.
		admin := login1(t, a, "admin1")
		if st, m, err := admin.do("POST", "/api/v1/admin/accounts/clerk2/revoke", map[string]string{"role": "street_clerk", "division": "321202001"}); st != http.StatusOK {
			t.Fatalf("revoke on A: %d %v %v", st, m, err)
		}
		for i, n := range nodes {
			if st, _, _ := clerk.on(n.url).do("GET", "/api/v1/cases", nil); st != http.StatusUnauthorized {
				t.Errorf("the clerk's list on node %c after the revocation: %d, want 401", 'A'+i, st)
			}
		}
	})

	t.Run("the client's real address behind the proxy", func(t *testing.T) {
		// Through nginx, from 127.0.0.2, claiming to be 203.0.113.9: the
		// node logs 127.0.0.2, the address nginx saw.
		st, rid := newAPIClient(lb).from("127.0.0.2").get(t, "/api/v1/services", "X-Forwarded-For", "203.0.113.9")
		if st != http.StatusOK || rid == "" {
			t.Fatalf("through nginx: %d, request id %q", st, rid)
		}
		if ip := logLine(t, nodes, rid)["ip"]; ip != "127.0.0.2" {
			t.Errorf("through nginx the node logged the client as %v, want 127.0.0.2", ip)
		}
		// Straight to a node from 127.0.0.3 (not a trusted proxy), with the
		// same forged header: the node believes the connection.
		st, rid = newAPIClient(a.url).from("127.0.0.3").get(t, "/api/v1/services", "X-Forwarded-For", "203.0.113.9")
		if st != http.StatusOK {
			t.Fatalf("straight to A: %d", st)
		}
		if ip := logLine(t, nodes, rid)["ip"]; ip != "127.0.0.3" {
			t.Errorf("a forged X-Forwarded-For sent straight to a node made it log %v, want 127.0.0.3", ip)
		}
	})

	t.Run("a node killed under load loses nothing", func(t *testing.T) {
		var logins []string
		for w := 0; w < workers; w++ {
			mobile := fmt.Sprintf("1391000%04d", w)
			if st, m, err := newAPIClient(lb).do("POST", "/api/v1/accounts", map[string]string{"name": "申请人",
				"id_number": testkit.IDNumber(fmt.Sprintf("32120219920202%03d", w)), "mobile": mobile, "password": testkit.Password}); st != http.StatusCreated {
				t.Fatalf("register through nginx: %d %v %v", st, m, err)
			}
			logins = append(logins, mobile)
		}
		lbNode := &child{t: t, url: lb}
		ack := &acknowledged{created: map[string]bool{}, submitted: map[string]bool{}}
		var killedAt atomic.Int64 // unix nanoseconds
		var afterOK, afterFailed atomic.Int64
		stop := make(chan struct{})
		// Everyone logs in first: the kill falls in the middle of the
		// writes, never of a login.
		clients := make([]*apiClient, len(logins))
		for w, login := range logins {
			clients[w] = login1(t, lbNode, login)
		}
		time.AfterFunc(time.Second, func() {
			b.kill()
			killedAt.Store(time.Now().UnixNano())
		})
		time.AfterFunc(4*time.Second, func() { close(stop) })
		var wg sync.WaitGroup
		for w, cl := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now().UnixNano()
					st := ack.round(cl, w, i)
					// Requests sent well after the kill: nginx must have
					// taken B out and answer them from A and C.
					if killedAt.Load() != 0 && start > killedAt.Load()+int64(300*time.Millisecond) {
						if st == http.StatusCreated {
							afterOK.Add(1)
						} else if st != http.StatusConflict {
							afterFailed.Add(1)
						}
					}
				}
			}()
		}
		wg.Wait()
		if killedAt.Load() == 0 {
			t.Fatal("node B was never killed")
		}
		if afterOK.Load() == 0 || afterFailed.Load() > 0 {
			t.Errorf("after the kill, nginx answered %d creates and failed %d: want every later request answered by A or C", afterOK.Load(), afterFailed.Load())
		}
		if ack.count() == 0 {
			t.Fatal("the load wrote nothing")
		}
		checkAcknowledged(t, lbNode, logins, ack, workers)
		if code, out, err := runCmd(t, e, "", "fsck"); code != 0 {
			t.Errorf("portal fsck after the kill: %d %v\n%s", code, err, out)
		}
		t.Logf("%d writes acknowledged; after the kill %d creates answered by the other nodes", ack.count(), afterOK.Load())
	})
}

// firedBy adds up the timers a node's log says it fired.
func firedBy(n *child) int {
	b, _ := os.ReadFile(n.log)
	total := 0
	for _, line := range strings.Split(string(b), "\n") {
		var m struct {
			Msg   string `json:"msg"`
			Count int    `json:"count"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "timers fired" {
			total += m.Count
		}
	}
	return total
}

// seedDueTimers puts n residence-permit cases into correction (each with
// its timer, which withdraws the case when it fires) through a portal in
// this process, then makes every timer due now.
func seedDueTimers(t *testing.T, e env, n int) {
	t.Helper()
	p := testkit.StartWith(t, testkit.Options{Backend: testkit.Backend{Postgres: true}, DatabaseURL: e["DATABASE_URL"],
		Env: map[string]string{"PORTAL_SECRET": e["PORTAL_SECRET"], "PORTAL_STAFF_MFA": "off"}})
	clerk := p.NewClient(t)
	clerk.Login("clerk1")
	var wg sync.WaitGroup
	var failed atomic.Int64
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				_, c := p.NewApplicant(t, "申请人")
				r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
				if r.Status != http.StatusCreated {
					failed.Add(1)
					t.Errorf("create: %d %s", r.Status, r.Body)
					continue
				}
				no, _ := r.JSON(t)["case_no"].(string)
				c.AttachKey(no)
				if r := c.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil); r.Status != http.StatusOK {
					failed.Add(1)
					t.Errorf("submit: %d %s", r.Status, r.Body)
					continue
				}
				if r := clerk.Do("POST", "/api/v1/cases/"+no+"/events/request_correction",
					map[string]any{"reason": "照片不清晰", "items": []string{"photo"}}); r.Status != http.StatusOK {
					failed.Add(1)
					t.Errorf("request_correction: %d %s", r.Status, r.Body)
				}
			}
		}()
	}
	for i := range n {
		if failed.Load() > 0 {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	res, err := p.DB.SQL().ExecContext(context.Background(),
		`UPDATE jobs SET due_at = now() - interval '1 minute' WHERE done_at IS NULL AND event = 'withdraw'`)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := res.RowsAffected(); k != int64(n) {
		t.Fatalf("%d timers made due, want %d", k, n)
	}
}

// openSQL opens the test's database (its own schema) for direct reads.
func openSQL(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	d, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d.SQL()
}
