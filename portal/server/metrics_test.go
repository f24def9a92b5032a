package server_test

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"tzportal/portal/testkit"
)

// metric is the value of the sample name{labels} in a Prometheus text
// scrape (labels as written there, sorted: `event="create",service="x"`);
// -1 when absent.
func metric(body, name, labels string) float64 {
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if sample, value, ok := strings.Cut(line, " "); ok && sample == want {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return -1
			}
			return v
		}
	}
	return -1
}

// TestMetricsScrape scrapes /metrics as Prometheus would, behind its token,
// and checks that the counters an operator watches move with what people
// do: requests by route and status, transitions by service and event,
// refused logins and the lockout they end in, the queues, the pools.
func TestMetricsScrape(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		const token = "metrics-token-0123456789abcdef0123456789"
		p := testkit.StartWith(t, testkit.Options{Backend: b, Env: map[string]string{"PORTAL_METRICS_TOKEN": token}})
		scrape := func() string {
			t.Helper()
			r := p.NewClient(t).Do("GET", "/metrics", nil, "Authorization", "Bearer "+token)
			if r.Status != http.StatusOK {
				t.Fatalf("scrape: %d %s", r.Status, r.Body)
			}
			return r.Text()
		}
		for _, h := range []string{"", "Bearer wrong-token", "Basic " + token} {
			args := []string{}
			if h != "" {
				args = []string{"Authorization", h}
			}
			if r := p.NewClient(t).Do("GET", "/metrics", nil, args...); r.Status != http.StatusUnauthorized || strings.Contains(r.Text(), "tzportal_") {
				t.Errorf("a scrape with Authorization %q: %d, want 401 and no metrics", h, r.Status)
			}
		}
		before := scrape()

		// Five wrong passwords lock the account; the sixth attempt is
		// refused as locked.
		p.MustApplicant(t, testkit.Applicants[0])
		for range 6 {
			p.NewClient(t).Do("POST", "/api/v1/session", map[string]string{"login": testkit.Applicants[0].Mobile, "password": "Wrong-password-1"})
		}
		_, c := p.NewApplicant(t, "王芳")
		if r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()}); r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		after := scrape()

		moved := func(name, labels string, by float64) {
			t.Helper()
			was := max(0, metric(before, name, labels))
			if now := metric(after, name, labels); now-was != by {
				t.Errorf("%s{%s}: %v → %v, want it %+v", name, labels, was, now, by)
			}
		}
		moved("tzportal_login_failures_total", `reason="wrong_password"`, 5)
		moved("tzportal_login_failures_total", `reason="locked"`, 1)
		moved("tzportal_lockouts_total", "", 1)
		moved("tzportal_transitions_total", `event="create",service="residence-permit"`, 1)
		moved("tzportal_http_request_duration_seconds_count", `method="POST",route="/api/v1/session",status="401"`, 6)
		moved("tzportal_http_request_duration_seconds_count", `method="POST",route="/api/v1/cases",status="201"`, 1)
		for _, m := range []string{"tzportal_outbox_pending", "tzportal_timers_due", "tzportal_timers_oldest_due_seconds"} {
			if metric(after, m, "") < 0 {
				t.Errorf("%s is not in the scrape", m)
			}
		}
		if metric(after, "tzportal_queues_up", "") != 1 {
			t.Errorf("the queues' depths could not be read")
		}
		if !strings.Contains(after, `go_sql_open_connections{db_name="`) {
			t.Errorf("the database pool's statistics are not in the scrape")
		}
		if b.Redis && metric(after, "tzportal_redis_pool_connections", "") < 1 {
			t.Errorf("the Redis pool's statistics are not in the scrape")
		}
		// A path is never a label: a certificate's token in /verify/… would
		// otherwise be in every scrape.
		p.NewClient(t).Get("/verify/secret-token-in-the-path")
		if s := scrape(); strings.Contains(s, "secret-token-in-the-path") || metric(s, "tzportal_http_request_duration_seconds_count", `method="GET",route="/verify/:token",status="404"`) < 1 {
			t.Errorf("the verify page's request is not counted under its route, or its path leaked into the metrics")
		}
	})
}
