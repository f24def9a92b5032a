package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tzportal/portal/testkit"
)

// TestCrashKeepsWhatWasAcknowledged runs the real binary, drives a write
// load of creates, submits and withdrawals by eight applicants (one open
// application each at a time), and kills it with SIGKILL in the middle,
// three times per backend at different moments. After each restart on the
// same database, every case the portal answered 201 for exists, every
// submit it answered 200 for left the case submitted, no case appeared that
// was not asked for, and `portal fsck` finds every invariant intact.
func TestCrashKeepsWhatWasAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the crash test builds and kills the binary")
	}
	bin := buildPortal(t)
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := testkit.SQLite(t)
			if backend == "postgres" {
				db = testkit.Postgres(t)
			}
			// Sessions stay in the process (no REDIS_URL): they die with it,
			// and the load logs in again after each restart.
			e := env{"DATABASE_URL": db, "PORTAL_SECRET": testkit.NewSecret(), "PORTAL_COOKIE_SECURE": "off"}
			srv := startPortal(t, bin, e)
			var logins []string
			for w := 0; w < workers; w++ {
				mobile := fmt.Sprintf("1390000%04d", w)
				if st, m, err := newAPIClient(srv.url).do("POST", "/api/v1/accounts", map[string]string{"name": "申请人",
					"id_number": testkit.IDNumber(fmt.Sprintf("32120219910101%03d", w)), "mobile": mobile, "password": testkit.Password}); st != http.StatusCreated {
					t.Fatalf("register through the API: %d %v %v", st, m, err)
				}
				logins = append(logins, mobile)
			}
			ack := &acknowledged{created: map[string]bool{}, submitted: map[string]bool{}}
			inFlight := 0
			for round, at := range []time.Duration{300 * time.Millisecond, 900 * time.Millisecond, 1500 * time.Millisecond} {
				at += rand.N(200 * time.Millisecond)
				before := ack.count()
				inFlight += writeLoad(t, srv, logins, ack, at)
				if ack.count() == before {
					t.Fatalf("round %d: nothing was acknowledged before the kill at %s: the test proves nothing", round, at)
				}
				srv = startPortal(t, bin, e)
				checkAcknowledged(t, srv, logins, ack, inFlight)
				var out, errOut bytes.Buffer
				code, err := run(context.Background(), []string{"fsck"}, strings.NewReader(""), &out, &errOut, e.get)
				if code != 0 || err != nil || !strings.Contains(out.String(), "fsck: ok") {
					t.Fatalf("round %d (killed at %s): fsck exit %d, %v:\n%s", round, at, code, err, out.String())
				}
				t.Logf("round %d: killed at %s; %d created, %d submitted acknowledged so far; %s", round, at.Round(time.Millisecond),
					len(ack.created), len(ack.submitted), strings.TrimSpace(out.String()))
			}
			if code := srv.stop(); code != 0 {
				t.Errorf("portal serve after SIGTERM: exit %d\n%s", code, srv.logTail())
			}
		})
	}
}

// buildPortal builds the binary of this package into a temp dir.
func buildPortal(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "portal")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// child is a running `portal serve`.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	log    string
	exited chan struct{}
}

// startPortal runs `portal serve` on a free port with the environment e
// (nothing else of the test's environment that configures the portal) and
// waits until it answers /healthz.
func startPortal(t *testing.T, bin string, e env) *child {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "PORTAL_") && k != "DATABASE_URL" && k != "REDIS_URL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PORTAL_ADDR="+addr, "PORTAL_DATA_DIR="+dir)
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logFile, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, url: "http://" + addr, log: logFile.Name(), exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		logFile.Close()
		close(c.exited)
	}()
	t.Cleanup(func() { c.kill() })
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-c.exited:
			t.Fatalf("portal serve exited at start: %v\n%s", cmd.ProcessState, c.logTail())
		default:
		}
		if resp, err := hc.Get(c.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("portal serve did not answer /healthz within 30 s\n%s", c.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process at once (SIGKILL: no shutdown, no deferred close).
func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// stop asks the process to shut down (SIGTERM) and returns its exit status.
func (c *child) stop() int {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.t.Errorf("portal serve did not stop within 30 s of SIGTERM")
		c.kill()
	}
	return c.cmd.ProcessState.ExitCode()
}

func (c *child) logTail() string {
	b, _ := os.ReadFile(c.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// acknowledged is what the portal told the load it had saved.
type acknowledged struct {
	mu        sync.Mutex
	created   map[string]bool // answered 201
	submitted map[string]bool // answered 200 to submit
}

func (a *acknowledged) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.created) + len(a.submitted)
}

// writeLoad logs in and runs workers that create and submit cases until the
// portal is killed, at killAt; it returns the most requests that can have
// been cut off by the kill (one per worker).
func writeLoad(t *testing.T, srv *child, logins []string, ack *acknowledged, killAt time.Duration) int {
	t.Helper()
	clients := make([]*apiClient, len(logins))
	for w, login := range logins {
		clients[w] = login1(t, srv, login)
	}
	var killed atomic.Bool
	time.AfterFunc(killAt, func() {
		killed.Store(true)
		srv.kill()
	})
	var wg sync.WaitGroup
	for w, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !killed.Load(); i++ {
				ack.round(c, w, i)
			}
		}()
	}
	wg.Wait()
	<-srv.exited
	return len(clients)
}

// round is one of applicant w's rounds of the write load: apply, hand in,
// withdraw (one open application at a time), noting what the portal
// acknowledged. It returns the status of the create.
func (a *acknowledged) round(c *apiClient, w, i int) int {
	st, m, _ := c.do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit",
		"form": testkit.ResidenceForm("address", fmt.Sprintf("海陵区东进东路%d号%d室", w+1, i+1))})
	if st == http.StatusConflict {
		// A case of an earlier round, cut off before its answer, is
		// still open: give it up and go on.
		if no, _ := m["case_no"].(string); no != "" {
			c.do("POST", "/api/v1/cases/"+no+"/events/discard", nil)
			c.do("POST", "/api/v1/cases/"+no+"/events/withdraw", nil)
		}
		return st
	}
	if st != http.StatusCreated {
		return st
	}
	no, _ := m["case_no"].(string)
	a.mu.Lock()
	a.created[no] = true
	a.mu.Unlock()
	if st, _, _ := c.do("POST", "/api/v1/cases/"+no+"/events/submit", nil); st == http.StatusOK {
		a.mu.Lock()
		a.submitted[no] = true
		a.mu.Unlock()
	}
	c.do("POST", "/api/v1/cases/"+no+"/events/withdraw", nil)
	return http.StatusCreated
}

// workers is how many applicants write at once, each with its own session.
const workers = 8

// checkAcknowledged reads the applicant's cases through the API of the
// restarted portal and compares them with what was acknowledged.
func checkAcknowledged(t *testing.T, srv *child, logins []string, ack *acknowledged, inFlight int) {
	t.Helper()
	states := map[string]string{}
	for _, login := range logins {
		c := login1(t, srv, login)
		path := "/api/v1/cases?limit=100"
		for page := 0; path != ""; page++ {
			if page > 1000 {
				t.Fatal("the case list does not end")
			}
			st, m, err := c.do("GET", path, nil)
			if st != http.StatusOK {
				t.Fatalf("list after restart: %d %v %v", st, m, err)
			}
			items, _ := m["items"].([]any)
			for _, it := range items {
				item := it.(map[string]any)
				states[item["case_no"].(string)] = item["state"].(string)
			}
			path = ""
			if next, ok := m["next"].(string); ok && next != "" {
				path = "/api/v1/cases?limit=100&after=" + next
			}
		}
	}
	ack.mu.Lock()
	defer ack.mu.Unlock()
	for no := range ack.created {
		if _, ok := states[no]; !ok {
			t.Errorf("case %s was answered 201 but is gone after the crash", no)
		}
	}
	for no := range ack.submitted {
		if st := states[no]; st == "" || st == "draft" {
			t.Errorf("case %s: submit was answered 200, but after the crash it is %q", no, st)
		}
	}
	// A case whose create was cut off by a kill may exist without an
	// answer; nothing else may.
	if extra := len(states) - len(ack.created); extra < 0 || extra > inFlight {
		t.Errorf("%d cases after the crash, %d acknowledged: at most %d creates were in flight", len(states), len(ack.created), inFlight)
	}
}

// apiClient is one API client of the child (its own cookie jar).
type apiClient struct {
	base string
	csrf string
	hc   *http.Client
}

func newAPIClient(base string) *apiClient {
	jar, _ := cookiejar.New(nil)
	return &apiClient{base: base, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// login1 logs the applicant in on srv.
func login1(t *testing.T, srv *child, login string) *apiClient {
	t.Helper()
	c := newAPIClient(srv.url)
	st, m, err := c.do("POST", "/api/v1/session", map[string]string{"login": login, "password": testkit.Password})
	if st != http.StatusOK {
		t.Fatalf("login %s: %d %v %v", login, st, m, err)
	}
	c.csrf, _ = m["csrf_token"].(string)
	return c
}

// do sends a JSON request; status 0 means no answer.
func (c *apiClient) do(method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" && method != http.MethodGet {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err // the answer was cut off: not acknowledged
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m, nil
}
