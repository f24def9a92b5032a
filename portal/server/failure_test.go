package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"tzportal/portal/testkit"
)

// A case returned for correction and not corrected within 30 days is
// withdrawn by the scheduler; the timer fires once, and a timer whose case
// moved on does nothing.
func TestCorrectionTimeoutWithdraws(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		ctx := context.Background()
		late := j.create(t, j.alice, testkit.ResidenceForm())
		quick := j.create(t, j.bob, testkit.ResidenceForm())
		for no, c := range map[string]*testkit.Client{late: j.alice, quick: j.bob} {
			fire(t, c, no, "submit", nil, 200)
			fire(t, j.clerk, no, "request_correction", map[string]any{"reason": "缺材料", "items": []string{"photo"}}, 200)
		}
		fire(t, j.bob, quick, "submit", nil, 200) // corrected in time: its timer is obsolete

		j.p.Clock.Advance(30 * 24 * time.Hour)
		// The corrected case waits on the clerk past its 2 working days:
		// its step escalates (README, Deadlines and escalation), once.
		if n, err := j.p.Engine.RunDueTimers(ctx); err != nil || n != 1 {
			t.Fatalf("before the deadline: fired %d, %v (want the corrected case's escalation only)", n, err)
		}
		if n := j.p.Count(t, "SELECT count(*) FROM escalations e JOIN cases c ON c.id = e.case_id WHERE c.case_no = $1", quick); n != 1 {
			t.Fatalf("the corrected case escalated %d times", n)
		}
		j.p.Clock.Advance(24 * time.Hour)
		if n, err := j.p.Engine.RunDueTimers(ctx); err != nil || n != 1 {
			t.Fatalf("after the deadline: fired %d, %v", n, err)
		}
		if n, err := j.p.Engine.RunDueTimers(ctx); err != nil || n != 0 {
			t.Fatalf("a second run fired %d, %v", n, err)
		}
		j.alice.Login(testkit.Applicants[0].Mobile) // the clock jump ended the sessions
		j.bob.Login(testkit.Applicants[1].Mobile)
		m := j.alice.Do("GET", "/api/v1/cases/"+late, nil).JSON(t)
		tl := m["timeline"].([]any)
		last := tl[len(tl)-1].(map[string]any)
		if m["state"] != "withdrawn" || last["actor_role"] != "scheduler" || last["event"] != "withdraw" {
			t.Errorf("late case: %v, last step %v", m["state"], last)
		}
		if m := j.bob.Do("GET", "/api/v1/cases/"+quick, nil).JSON(t); m["state"] != "submitted" {
			t.Errorf("corrected case: %v", m["state"])
		}
		if got := j.p.Count(t, "SELECT count(*) FROM audit_log WHERE actor = 'scheduler' AND action = 'case.withdraw'"); got != 1 {
			t.Errorf("scheduler audit entries: %d", got)
		}
		if n, err := j.p.Audit.Verify(ctx, j.p.DB); err != nil {
			t.Errorf("audit chain after timers (%d): %v", n, err)
		}
	})
}

// When Redis stops answering, pages that need a login answer 503 (never an
// anonymous session), public pages still work, and /readyz says so.
func TestRedisDownGives503(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{Postgres: true, Redis: true}, nil)
	p.MustApplicant(t, testkit.Applicants[0])
	c := p.NewClient(t)
	c.Login(testkit.Applicants[0].Mobile)
	if r := c.Do("GET", "/api/v1/cases", nil); r.Status != 200 {
		t.Fatalf("before: %d", r.Status)
	}
	p.Redis.Close()
	r := c.Do("GET", "/api/v1/cases", nil)
	if r.Status != 503 || r.Header.Get("Retry-After") == "" || r.JSON(t)["code"] != "unavailable" {
		t.Errorf("authenticated API with Redis down: %d %s", r.Status, r.Body)
	}
	if r := c.Get("/cases"); r.Status != 503 || !strings.Contains(r.Text(), "服务暂时不可用") {
		t.Errorf("authenticated page with Redis down: %d", r.Status)
	}
	if r := c.Get("/"); r.Status != 200 {
		t.Errorf("home page with Redis down: %d", r.Status)
	}
	if r := c.Get("/readyz"); r.Status != 503 {
		t.Errorf("/readyz with Redis down: %d", r.Status)
	}
	if r := c.Get("/healthz"); r.Status != 200 {
		t.Errorf("/healthz: %d", r.Status)
	}
	login := p.NewClient(t).Do("POST", "/api/v1/session", map[string]string{"login": testkit.Applicants[0].Mobile, "password": testkit.Password})
	if login.Status != 503 {
		t.Errorf("login with Redis down: %d %s", login.Status, login.Body)
	}
}

// When the database is gone, requests answer 503 and the process lives on.
func TestDatabaseDownGives503(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{Postgres: true}, nil)
	p.MustApplicant(t, testkit.Applicants[0])
	c := p.NewClient(t)
	c.Login(testkit.Applicants[0].Mobile)
	p.DB.Close()
	r := c.Do("GET", "/api/v1/cases", nil)
	if r.Status != 503 || strings.Contains(r.Text(), "sql") {
		t.Errorf("with the database closed: %d %s", r.Status, r.Body)
	}
	if r := c.Get("/readyz"); r.Status != 503 {
		t.Errorf("/readyz: %d", r.Status)
	}
	if r := c.Get("/"); r.Status != 200 {
		t.Errorf("home page: %d", r.Status)
	}
}

// A system account (another government system) calls the API with its
// bearer token: no cookie, no CSRF token, and it sees only the cases that
// wait on it (the hukou tests follow one through a confirmation).
func TestSystemAccountToken(t *testing.T) {
	j := newJourney(t, testkit.Backend{})
	no := j.create(t, j.alice, testkit.ResidenceForm())
	fire(t, j.alice, no, "submit", nil, 200)
	_, token, err := j.p.Accounts.AddSystem(context.Background(), portalActor(), "registry", "迁出地户籍系统", "origin_registry", "321200")
	if err != nil {
		t.Fatal(err)
	}
	sys := j.p.NewClient(t)
	if r := sys.Do("GET", "/api/v1/cases/"+no, nil, "Authorization", "Bearer "+token); r.Status != 404 {
		t.Fatalf("system reads a case that does not wait on it: %d %s", r.Status, r.Body)
	}
	if r := sys.Do("GET", "/api/v1/cases", nil, "Authorization", "Bearer "+token); r.Status != 200 || len(r.JSON(t)["items"].([]any)) != 0 {
		t.Errorf("system lists: %d %s", r.Status, r.Body)
	}
	// Nor fire a clerk's event (403: it fires its own events only), and
	// needs no CSRF token to be told so.
	if r := sys.Do("POST", "/api/v1/cases/"+no+"/events/accept", nil, "Authorization", "Bearer "+token); r.Status != 403 {
		t.Errorf("system fires accept: %d %s", r.Status, r.Body)
	}
	if n := j.p.Count(t, "SELECT count(*) FROM audit_log WHERE actor = 'system:registry' AND action LIKE 'api.%'"); n != 3 {
		t.Errorf("the system's calls in the audit trail under its name: %d, want 3", n)
	}
	if r := sys.Do("GET", "/api/v1/cases", nil, "Authorization", "Bearer tzs_not-a-token"); r.Status != 401 {
		t.Errorf("bad token: %d", r.Status)
	}
	// A system account cannot log in with a password form.
	if r := sys.Do("POST", "/api/v1/session", map[string]string{"login": "registry", "password": token}); r.Status != 401 {
		t.Errorf("system password login: %d", r.Status)
	}
}
