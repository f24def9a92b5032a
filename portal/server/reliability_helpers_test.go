package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"tzportal/portal/fsck"
	"tzportal/portal/testkit"
)

// pgRig is a portal whose PostgreSQL connections go through a FaultProxy
// (sessions stay in the process, so only the database fails), with a direct
// connection to the same schema to see what was really written.
type pgRig struct {
	p      *testkit.Portal
	px     *testkit.FaultProxy
	direct *sql.DB
}

func newPGRig(t *testing.T) *pgRig {
	t.Helper()
	url := testkit.Postgres(t)
	px := testkit.NewFaultProxy(t, testkit.HostPort(url))
	p := testkit.StartWith(t, testkit.Options{Backend: testkit.Backend{Postgres: true}, DatabaseURL: px.URL(url)})
	direct, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	p.MustApplicant(t, testkit.Applicants[0])
	return &pgRig{p: p, px: px, direct: direct}
}

// client returns the applicant, logged in.
func (g *pgRig) client(t *testing.T) *testkit.Client {
	t.Helper()
	c := g.p.NewClient(t)
	c.Login(testkit.Applicants[0].Mobile)
	return c
}

// count runs a count query on the direct connection.
func (g *pgRig) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int
	if err := g.direct.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		t.Fatalf("count(%q): %v", query, err)
	}
	return n
}

// written sums up what the portal has written: cases, history, audit.
func (g *pgRig) written(t *testing.T) string {
	t.Helper()
	return fmt.Sprint(g.count(t, "SELECT count(*) FROM cases"), g.count(t, "SELECT count(*) FROM case_history"),
		g.count(t, "SELECT count(*) FROM audit_log"))
}

func (g *pgRig) fsck(t *testing.T) {
	t.Helper()
	checkFsck(t, g.p)
}

// samplePoolConns counts, until stop, this portal's connections as
// PostgreSQL sees them (pg_stat_activity, application_name tzportal, from
// the proxy's ports: other tests share the server) and returns the most.
func (g *pgRig) samplePoolConns(stop <-chan struct{}) int {
	most := 0
	for {
		if ports := g.px.UpstreamPorts(); len(ports) > 0 {
			list := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(ports)), ","), "[]")
			var n int
			err := g.direct.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tzportal'
				AND datname = current_database() AND client_port IN (` + list + `)`).Scan(&n)
			if err == nil {
				most = max(most, n)
			}
		}
		select {
		case <-stop:
			return most
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// samplePoolStats returns, at stop, the most connections the portal's pool
// had open (database/sql's own count).
func samplePoolStats(p *testkit.Portal, stop <-chan struct{}) int {
	most := 0
	for {
		most = max(most, p.DB.SQL().Stats().OpenConnections)
		select {
		case <-stop:
			return most
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// checkFsck fails the test if fsck finds a broken invariant.
func checkFsck(t *testing.T, p *testkit.Portal) {
	t.Helper()
	res, err := fsck.Check(context.Background(), p.DB, p.Engine.Definitions(), p.Audit)
	if err != nil {
		t.Fatalf("fsck: %v", err)
	}
	for _, v := range res.Violations {
		t.Errorf("fsck: %s", v)
	}
	if res.Cases == 0 {
		t.Errorf("fsck checked no case")
	}
}

func createReq(c *testkit.Client, key string) *testkit.Response {
	return c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()},
		"Idempotency-Key", key)
}

func mustCreate(t *testing.T, c *testkit.Client, key string) string {
	t.Helper()
	r := createReq(c, key)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)["case_no"].(string)
}

// discard gives a draft up: an applicant has one open application at a
// time, and the tests that create again and again give each one up first.
func discard(t *testing.T, c *testkit.Client, no string) {
	t.Helper()
	if r := c.Do("POST", "/api/v1/cases/"+no+"/events/discard", nil); r.Status != http.StatusOK {
		t.Fatalf("discard %s: %d %s", no, r.Status, r.Body)
	}
}

func mustGet(t *testing.T, c *testkit.Client, path string) *testkit.Response {
	t.Helper()
	r := c.Get(path)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d", path, r.Status)
	}
	return r
}

func timed(f func() *testkit.Response) (*testkit.Response, time.Duration) {
	start := time.Now()
	r := f()
	return r, time.Since(start)
}

// sessionRequest is a request only a logged-in person may make.
type sessionRequest struct {
	name string
	api  bool
	do   func() *testkit.Response
}

// sessionRequests are the requests of a logged-in applicant on case no:
// reads and writes, API and pages; token is the pages' CSRF token. The
// HTML form post is last.
func sessionRequests(c *testkit.Client, no, token string) []sessionRequest {
	api := func(method, path string) func() *testkit.Response {
		return func() *testkit.Response { return c.Do(method, path, nil) }
	}
	return []sessionRequest{
		{"GET /api/v1/session", true, api("GET", "/api/v1/session")},
		{"GET /api/v1/cases", true, api("GET", "/api/v1/cases")},
		{"GET /api/v1/cases/{no}", true, api("GET", "/api/v1/cases/"+no)},
		{"POST /api/v1/cases", true, func() *testkit.Response { return createReq(c, "") }},
		{"POST /api/v1/cases/{no}/events/submit", true, api("POST", "/api/v1/cases/"+no+"/events/submit")},
		{"page /cases", false, func() *testkit.Response { return c.Get("/cases") }},
		{"page /cases/{no}", false, func() *testkit.Response { return c.Get("/cases/" + no) }},
		{"form POST /cases/{no}/events/submit", false, func() *testkit.Response {
			return c.Post("/cases/"+no+"/events/submit", "_csrf", token)
		}},
	}
}

// wantUnavailable checks that r is the portal's answer to a dependency that
// is down: 503 with Retry-After; for the API the problem code, for a page
// the localized message. Not a login redirect, not an anonymous page.
func wantUnavailable(t *testing.T, what string, r *testkit.Response, api bool) {
	t.Helper()
	if r.Status != http.StatusServiceUnavailable {
		if loc := r.Header.Get("Location"); loc != "" {
			t.Errorf("%s: %d to %s, want 503 (a dependency is down, the person is still logged in)", what, r.Status, loc)
		} else {
			t.Errorf("%s: %d, want 503: %.300s", what, r.Status, r.Body)
		}
		return
	}
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("%s: 503 without Retry-After", what)
	}
	if api {
		var m map[string]any
		if json.Unmarshal(r.Body, &m) != nil || m["code"] != "unavailable" {
			t.Errorf("%s: problem %s, want code unavailable", what, r.Body)
		}
	} else if !strings.Contains(r.Text(), "服务暂时不可用") {
		t.Errorf("%s: the 503 page does not say 服务暂时不可用:\n%.500s", what, r.Body)
	}
}

// statusCounts counts responses by status.
type statusCounts map[int]int

// not is how many responses had another status than code.
func (s statusCounts) not(code int) int {
	n := 0
	for c, k := range s {
		if c != code {
			n += k
		}
	}
	return n
}

// burst runs n requests at once and counts their statuses.
func burst(n int, f func(i int) *testkit.Response) statusCounts {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := statusCounts{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f(i)
			mu.Lock()
			out[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// settledGoroutines is the number of goroutines once idle HTTP client
// connections are closed and the count has stopped falling.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		time.Sleep(50 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n && i > 2 {
			return n
		}
		n = min(n, m)
	}
	return n
}

// waitGoroutines waits up to within for the goroutines to be at most limit
// and returns the last count.
func waitGoroutines(limit int, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// postOnce sends one JSON POST as c (its session cookie and CSRF token) on a
// connection of its own, and returns the transport's error: nil means an
// answer arrived.
func postOnce(t *testing.T, c *testkit.Client, url string, body any, headers ...string) error {
	t.Helper()
	j, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", url, bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", c.CSRF)
	req.AddCookie(&http.Cookie{Name: "tz_session", Value: c.Cookie("tz_session")})
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	t.Logf("the first attempt was answered: %d %s", resp.StatusCode, b)
	return nil
}
