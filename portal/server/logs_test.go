package server_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"tzportal/portal/testkit"
)

// TestRequestLogLines: one JSON line per request, with the request id, method,
// route (the pattern, not the path), status, duration and the user's id —
// and never a name, an ID number, a password, a token or a session id.
func TestRequestLogLines(t *testing.T) {
	var out syncBuffer
	p := testkit.StartWith(t, testkit.Options{Logger: slog.New(slog.NewJSONHandler(&out, nil))})
	a := testkit.Applicants[0]
	u := p.MustApplicant(t, a)
	c := p.NewClient(t)
	c.Login(a.Mobile)
	session := c.Cookie("tz_session")
	if r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()}); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	p.NewClient(t).Get("/verify/a-certificate-token-in-the-path")
	p.NewClient(t).Get("/cases?q=" + a.IDNumber)

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	requests := 0
	for _, line := range lines {
		for _, secret := range []string{a.Name, a.IDNumber, a.Mobile, testkit.Password, session, "a-certificate-token-in-the-path", c.CSRF} {
			if secret != "" && strings.Contains(line, secret) {
				t.Errorf("a log line holds %q: %s", secret, line)
			}
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("a log line is not JSON: %s", line)
			continue
		}
		if m["msg"] != "request" {
			continue
		}
		requests++
		for _, k := range []string{"rid", "method", "route", "status", "duration_ms", "time", "level"} {
			if _, ok := m[k]; !ok {
				t.Errorf("an access line without %s: %s", k, line)
			}
		}
		if m["route"] == "/api/v1/cases" && m["method"] == "POST" && m["user"] != float64(u.ID) {
			t.Errorf("the create's line names user %v, want id %d", m["user"], u.ID)
		}
		if m["route"] == "/verify/:token" && m["status"] != float64(404) {
			t.Errorf("the verify line: %s", line)
		}
	}
	if requests < 4 {
		t.Errorf("%d access lines for at least 4 requests:\n%s", requests, out.String())
	}
}
