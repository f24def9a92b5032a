package server_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"tzportal/portal"
	"tzportal/portal/testkit"
)

// secRaw sends a request written by hand on a fresh connection and reads the
// answer: for requests net/http will not send (a body the server refuses
// before reading it, a request line longer than the server's buffer).
func secRaw(t *testing.T, p *testkit.Portal, req string) *testkit.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("raw %.60q: %v", req, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &testkit.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Requests no browser or client library sends in this shape.
func tooLargeBody(path string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: portal\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{"
}

func tooLongURL(path, cookie string) string {
	h := ""
	if cookie != "" {
		h = "Cookie: tz_session=" + cookie + "\r\n"
	}
	return "GET " + path + strings.Repeat("A", 8000) + " HTTP/1.1\r\nHost: portal\r\n" + h + "\r\n"
}

// cspDirectives parses a Content-Security-Policy into directive → sources.
func cspDirectives(csp string) map[string][]string {
	out := map[string][]string{}
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			out[strings.ToLower(f[0])] = f[1:]
		}
	}
	return out
}

// headerProblems lists what is wrong with a response's security headers.
func headerProblems(r *testkit.Response, noStore bool) []string {
	var out []string
	csp := r.Header.Get("Content-Security-Policy")
	d := cspDirectives(csp)
	switch {
	case csp == "":
		out = append(out, "no Content-Security-Policy")
	default:
		for dir, want := range map[string]string{"object-src": "'none'", "base-uri": "'none'", "frame-ancestors": "'none'"} {
			if !slices.Equal(d[dir], []string{want}) {
				out = append(out, fmt.Sprintf("CSP %s is %v, want %s", dir, d[dir], want))
			}
		}
		script, ok := d["script-src"]
		if !ok {
			script = d["default-src"]
		}
		if len(script) == 0 || slices.Contains(script, "'unsafe-inline'") || slices.Contains(script, "'unsafe-eval'") || slices.Contains(script, "*") {
			out = append(out, fmt.Sprintf("CSP script-src is %v", script))
		}
	}
	if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		out = append(out, fmt.Sprintf("X-Content-Type-Options %q", got))
	}
	if r.Header.Get("Referrer-Policy") == "" {
		out = append(out, "no Referrer-Policy")
	}
	if noStore && !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
		out = append(out, fmt.Sprintf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control")))
	}
	for k := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-allow-") {
			out = append(out, fmt.Sprintf("%s: %s", k, r.Header.Get(k)))
		}
	}
	return out
}

// TestSecurityHeadersOnEveryResponse checks the headers on each kind of
// response the portal gives, with and without a foreign Origin.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	p.MustApplicant(t, testkit.Applicants[0])
	user := p.NewClient(t)
	user.Login(testkit.Applicants[0].Mobile)
	anon := p.NewClient(t)
	type probe struct {
		name    string
		send    func(origin ...string) *testkit.Response
		status  int // 0: any 4xx; -1: checked by TestErrorsAreClear4xx
		noStore bool
		raw     bool // sent by hand, once
	}
	get := func(c *testkit.Client, path string) func(...string) *testkit.Response {
		return func(o ...string) *testkit.Response { return c.Do("GET", path, nil, o...) }
	}
	probes := []probe{
		{"HTML page", get(anon, "/"), 200, false, false},
		{"authenticated HTML page", get(user, "/cases"), 200, true, false},
		{"API JSON", get(anon, "/api/v1/services"), 200, true, false},
		{"authenticated API JSON", get(user, "/api/v1/cases"), 200, true, false},
		{"API problem 401", get(anon, "/api/v1/cases"), 401, true, false},
		{"API problem 404", get(user, "/api/v1/cases/TZRP20261130999999"), 404, true, false},
		{"API problem 422", func(o ...string) *testkit.Response {
			return user.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm("phone", "1")}, o...)
		}, 422, true, false},
		{"static file", get(anon, "/static/app.css"), 200, false, false},
		{"HTML error page 404", get(anon, "/no/such/page"), 404, false, false},
		{"authenticated HTML error page 404", get(user, "/cases/TZRP20261130999999"), 404, true, false},
		{"/healthz", get(anon, "/healthz"), 200, false, false},
		{"API preflight OPTIONS", func(o ...string) *testkit.Response {
			return anon.Do("OPTIONS", "/api/v1/cases", nil, append(o, "Access-Control-Request-Method", "POST",
				"Access-Control-Request-Headers", "content-type,x-csrf-token")...)
		}, 0, false, false},
		{"API body over 1 MB", func(...string) *testkit.Response { return secRaw(t, p, tooLargeBody("/api/v1/accounts")) }, -1, true, true},
		{"URL longer than the read buffer", func(...string) *testkit.Response {
			return secRaw(t, p, tooLongURL("/cases/", user.Cookie("tz_session")))
		}, -1, true, true},
	}
	for _, pr := range probes {
		for _, origin := range []string{"", "https://evil.example"} {
			if pr.raw && origin != "" {
				continue
			}
			var hdr []string
			if origin != "" {
				hdr = []string{"Origin", origin}
			}
			r := pr.send(hdr...)
			if (pr.status > 0 && r.Status != pr.status) || (pr.status == 0 && (r.Status < 400 || r.Status > 499)) {
				t.Errorf("%s (Origin %q): status %d, want %d (0: a 4xx)", pr.name, origin, r.Status, pr.status)
			}
			if probs := headerProblems(r, pr.noStore); len(probs) > 0 {
				t.Errorf("%s (Origin %q, %d): %s", pr.name, origin, r.Status, strings.Join(probs, "; "))
			}
			if r.Header.Get("Strict-Transport-Security") != "" {
				t.Errorf("%s: HSTS sent with PORTAL_COOKIE_SECURE=off on plain http", pr.name)
			}
		}
	}
}

// TestHSTSWhenCookiesAreSecure: with Secure cookies the portal is meant to be
// reached over HTTPS only, and says so on every response.
func TestHSTSWhenCookiesAreSecure(t *testing.T) {
	p := testkit.StartWith(t, testkit.Options{Env: map[string]string{"PORTAL_COOKIE_SECURE": "on"}})
	c := p.NewClient(t)
	for _, path := range []string{"/", "/static/app.css", "/healthz", "/no/such/page", "/api/v1/services", "/api/v1/cases"} {
		r := c.Get(path)
		hsts := r.Header.Get("Strict-Transport-Security")
		var maxAge int
		fmt.Sscanf(hsts, "max-age=%d", &maxAge)
		if maxAge < 365*24*3600 {
			t.Errorf("%s: Strict-Transport-Security %q, want max-age of at least a year", path, hsts)
		}
		if probs := headerProblems(r, false); len(probs) > 0 {
			t.Errorf("%s: %s", path, strings.Join(probs, "; "))
		}
	}
}

// sessionSetCookie returns the session cookie a response sets, parsed from
// the raw Set-Cookie header, and the raw header.
func sessionSetCookie(t *testing.T, r *testkit.Response, name string) (*http.Cookie, string) {
	t.Helper()
	for _, raw := range r.Header.Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(raw)
		if err == nil && ck.Name == name && ck.Value != "" {
			return ck, raw
		}
	}
	t.Fatalf("no %s cookie set (%d): %v", name, r.Status, r.Header.Values("Set-Cookie"))
	return nil, ""
}

func loginBody(login string) map[string]string {
	return map[string]string{"login": login, "password": testkit.Password}
}

// TestSessionCookie checks the session cookie's attributes, its entropy, and
// that the portal never adopts an id it did not make.
func TestSessionCookie(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.Start(t, b, nil)
		a := testkit.Applicants[0]
		p.MustApplicant(t, a)

		r := p.NewClient(t).Do("POST", "/api/v1/session", loginBody(a.Mobile))
		ck, raw := sessionSetCookie(t, r, "tz_session")
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
			t.Errorf("session cookie %q: want HttpOnly; SameSite=Lax; Path=/; no Domain", raw)
		}
		id, err := base64.RawURLEncoding.DecodeString(ck.Value)
		if err != nil || len(id)*8 < 128 {
			t.Errorf("session id %q: %d bits (%v), want at least 128", ck.Value, len(id)*8, err)
		}

		// An id the client made up, or one another portal issued, is unknown
		// here: the request is anonymous, and a login issues a new id.
		other := testkit.Start(t, testkit.Backend{}, nil)
		other.MustApplicant(t, a)
		oc := other.NewClient(t)
		oc.Login(a.Mobile)
		chosen := make([]byte, 32)
		rand.Read(chosen)
		for name, fixed := range map[string]string{
			"made up":           base64.RawURLEncoding.EncodeToString(chosen),
			"from another node": oc.Cookie("tz_session"),
		} {
			c := p.NewClient(t)
			c.SetCookie("tz_session", fixed)
			if r := c.Do("GET", "/api/v1/session", nil); r.Status != http.StatusUnauthorized {
				t.Errorf("%s session id: GET /api/v1/session %d, want 401", name, r.Status)
			}
			c.SetCookie("tz_session", fixed) // the portal may have cleared it
			r := c.Do("POST", "/api/v1/session", loginBody(a.Mobile))
			got, _ := sessionSetCookie(t, r, "tz_session")
			if got.Value == fixed {
				t.Errorf("%s session id was adopted at login", name)
			}
			probe := p.NewClient(t)
			probe.SetCookie("tz_session", fixed)
			if r := probe.Do("GET", "/api/v1/session", nil); r.Status != http.StatusUnauthorized {
				t.Errorf("%s session id works after a login that carried it: %d", name, r.Status)
			}
		}
	})
}

// TestSecureCookies: with PORTAL_COOKIE_SECURE=on every cookie is Secure and
// the session cookie is __Host- prefixed (no Domain, Path=/).
func TestSecureCookies(t *testing.T) {
	p := testkit.StartWith(t, testkit.Options{Env: map[string]string{"PORTAL_COOKIE_SECURE": "on"}})
	a := testkit.Applicants[0]
	p.MustApplicant(t, a)
	c := p.NewClient(t)
	r := c.Do("POST", "/api/v1/session", loginBody(a.Mobile))
	ck, raw := sessionSetCookie(t, r, "__Host-tz_session")
	if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
		t.Errorf("session cookie %q: want Secure; HttpOnly; SameSite=Lax; Path=/; no Domain", raw)
	}
	if !strings.Contains(strings.ToLower(raw), "; secure") {
		t.Errorf("raw Set-Cookie %q has no Secure attribute", raw)
	}
	for _, path := range []string{"/login", "/register", "/lang?to=en&next=/"} {
		for _, raw := range c.Get(path).Header.Values("Set-Cookie") {
			ck, err := http.ParseSetCookie(raw)
			if err != nil || !ck.Secure || !ck.HttpOnly {
				t.Errorf("%s sets %q: want Secure and HttpOnly", path, raw)
			}
		}
	}
}

// secrets records what must never appear in a URL or a log line, and every
// redirect the journey followed.
type secrets struct {
	values    map[string]string // value → what it is
	locations []string
}

func (s *secrets) add(what, v string) {
	if len(v) >= 8 {
		s.values[v] = what
	}
}

// see records a response's redirect and returns the response.
func (s *secrets) see(r *testkit.Response) *testkit.Response {
	if loc := r.Header.Get("Location"); loc != "" {
		s.locations = append(s.locations, loc)
	}
	return r
}

// session records a client's current session id and CSRF token.
func (s *secrets) session(who string, c *testkit.Client) {
	s.add(who+"'s session id", c.Cookie("tz_session"))
	s.add(who+"'s CSRF token", c.CSRF)
	s.add(who+"'s pre-session cookie", c.Cookie("tz_pre"))
}

// TestNoSecretsInURLsOrLogs walks a whole journey with the logs captured as
// JSON, then looks for passwords, session ids, CSRF tokens, full ID numbers
// and API tokens in every redirect and every log line.
func TestNoSecretsInURLsOrLogs(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		var logs syncBuffer
		p := testkit.StartWith(t, testkit.Options{Backend: b, Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		s := &secrets{values: map[string]string{}}
		s.add("the password", testkit.Password)
		const wrong = "Wrong-Pass-7731"
		s.add("a mistyped password", wrong)
		api, web := testkit.Applicants[0], testkit.Applicants[1]
		s.add("an ID number", api.IDNumber)
		s.add("an ID number", web.IDNumber)
		p.MustStaff(t, "clerk1", "street_clerk", "321202001")
		p.MustStaff(t, "sup", "supervisor", "321200")
		s.add("a one-time-code secret", p.TOTPSecret("clerk1"))
		s.add("a one-time-code secret", p.TOTPSecret("sup"))

		// Register through the API and through the form.
		anon := p.NewClient(t)
		if r := anon.Do("POST", "/api/v1/accounts", map[string]string{"name": api.Name, "id_number": api.IDNumber, "mobile": api.Mobile, "password": testkit.Password}); r.Status != 201 {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		browser := p.NewClient(t)
		s.see(browser.Submit("/register", "/register", "name", web.Name, "id_number", web.IDNumber, "mobile", web.Mobile,
			"password", testkit.Password, "password_confirm", testkit.Password))
		s.session("the browser", browser)

		// Log in: once wrong, then by ID number (API) and through the form.
		if r := anon.Do("POST", "/api/v1/session", map[string]string{"login": api.IDNumber, "password": wrong}); r.Status != 401 {
			t.Fatalf("wrong password: %d", r.Status)
		}
		s.see(browser.Submit("/login", "/login", "login", web.IDNumber, "password", wrong))
		app := p.NewClient(t)
		app.Login(api.IDNumber)
		s.session("the API applicant", app)
		if r := s.see(browser.LoginHTML(web.IDNumber)); r.Status != http.StatusSeeOther {
			t.Fatalf("form login: %d", r.Status)
		}
		s.session("the browser", browser)

		// Apply through the form, submit, and through the API.
		form := browser.Get("/cases/new?service=residence-permit")
		fields := []string{"_csrf", testkit.FormToken(t, form.Text()), "service", "residence-permit"}
		for k, v := range testkit.ResidenceForm() {
			fields = append(fields, k, v)
		}
		loc := s.see(browser.Post("/cases", fields...)).Header.Get("Location")
		m := regexp.MustCompile(`/cases/(TZRP\d{14})`).FindStringSubmatch(loc)
		if m == nil {
			t.Fatalf("create through the form: redirect %q", loc)
		}
		webNo := m[1]
		browser.AttachAll(webNo)
		s.see(browser.Post("/cases/"+webNo+"/events/submit", "_csrf", testkit.FormToken(t, browser.Get("/cases/"+webNo).Text())))
		r := app.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		apiNo := r.JSON(t)["case_no"].(string)
		app.AttachAll(apiNo)
		app.Do("POST", "/api/v1/cases/"+apiNo+"/events/submit", nil)

		// The clerk works both: a correction through the form, the rest
		// through the API; reveals the ID number both ways.
		clerkWeb := p.NewClient(t)
		s.see(clerkWeb.LoginHTML("clerk1"))
		s.session("the clerk's browser", clerkWeb)
		page := clerkWeb.Get("/cases/" + webNo)
		tok := testkit.FormToken(t, page.Text())
		s.add("the clerk's form token", tok)
		s.see(clerkWeb.Post("/cases/"+webNo+"/events/request_correction", "_csrf", tok, "reason", "请补正", "items", "photo"))
		s.see(clerkWeb.Post("/cases/"+webNo+"/reveal", "_csrf", tok))
		clerkAPI := p.NewClient(t)
		clerkAPI.Login("clerk1")
		s.session("the clerk's API client", clerkAPI)
		for _, ev := range []string{"accept", "approve"} {
			if r := clerkAPI.Do("POST", "/api/v1/cases/"+apiNo+"/events/"+ev, nil); r.Status != 200 {
				t.Fatalf("%s: %d %s", ev, r.Status, r.Body)
			}
		}
		if r := clerkAPI.Do("POST", "/api/v1/cases/"+apiNo+"/reveal", nil); r.Status != 200 {
			t.Fatalf("reveal: %d %s", r.Status, r.Body)
		}
		edit := browser.Get("/cases/" + webNo + "/edit")
		version := testkit.FormField(edit.Text(), "version")
		if version == "" {
			t.Fatalf("the edit form shows no version: %d", edit.Status)
		}
		ef := []string{"_csrf", testkit.FormToken(t, edit.Text()), "service", "residence-permit", "version", version}
		for k, v := range testkit.ResidenceForm("address", "海陵区东进东路18号3幢202室") {
			ef = append(ef, k, v)
		}
		s.see(browser.Post("/cases/"+webNo+"/edit", ef...))

		// A system account reads through the API with its token.
		_, token, err := p.Accounts.AddSystem(context.Background(), portal.Actor{System: "test"}, "registry", "迁出地户籍系统", "origin_registry", "321200")
		if err != nil {
			t.Fatal(err)
		}
		s.add("the system account's API token", token)
		sys := p.NewClient(t)
		if r := sys.Do("GET", "/api/v1/cases", nil, "Authorization", "Bearer "+token); r.Status != 200 {
			t.Fatalf("system read: %d %s", r.Status, r.Body)
		}
		bad := "tzs_" + strings.Repeat("Q", 43)
		s.add("a wrong API token", bad)
		sys.Do("GET", "/api/v1/cases", nil, "Authorization", "Bearer "+bad)
		sup := p.NewClient(t)
		sup.Login("sup")
		s.session("the supervisor", sup)
		sup.Do("GET", "/api/v1/audit?case_no="+apiNo, nil)

		// Log out both ways.
		s.see(browser.Post("/logout", "_csrf", testkit.FormToken(t, browser.Get("/cases").Text())))
		app.Do("DELETE", "/api/v1/session", nil)

		out := logs.String()
		if !strings.Contains(out, `"route":"/api/v1/session"`) || !strings.Contains(out, `"route":"/login"`) {
			t.Fatalf("the logs were not captured:\n%.2000s", out)
		}
		for v, what := range s.values {
			if strings.Contains(out, v) {
				i := strings.Index(out, v)
				t.Errorf("the logs hold %s: …%s…", what, out[max(0, i-200):min(len(out), i+len(v)+50)])
			}
			for _, loc := range s.locations {
				if strings.Contains(loc, v) {
					t.Errorf("a redirect carries %s: %s", what, loc)
				}
			}
		}
		if len(s.locations) < 8 {
			t.Errorf("only %d redirects seen: %v", len(s.locations), s.locations)
		}
	})
}

// massKeys are what an applicant must not set, with values that would be
// worth setting.
func massKeys(other int64) map[string]any {
	return map[string]any{
		"state": "approved", "version": 99, "result": map[string]string{"permit_no": "JZ3212022026999999"},
		"applicant_id": other, "assignee": 1, "division": "321203001", "district": "321203",
		"case_no": "TZRP20261130999999", "service": "hukou-transfer",
	}
}

// TestMassAssignment sends fields the form does not offer at every level of
// every way to write a case; each request is refused or the field ignored,
// and the stored case holds only what the form allows.
func TestMassAssignment(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	alice := p.MustApplicant(t, testkit.Applicants[0])
	bob := p.MustApplicant(t, testkit.Applicants[1])
	c := p.NewClient(t)
	c.Login(testkit.Applicants[0].Mobile)

	// check reads the case through the API and the database and compares it
	// with what the form allows.
	check := func(what, no string, version int, division string) {
		t.Helper()
		m := c.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)
		var form map[string]any
		raw, _ := json.Marshal(m["form"])
		json.Unmarshal(raw, &form)
		var keys []string
		for k := range form {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if m["state"] != "draft" || m["version"] != float64(version) || m["division"] != division ||
			fmt.Sprint(m["result"]) != "map[]" || m["service"] != "residence-permit" || m["case_no"] != no ||
			strings.Join(keys, ",") != "address,basis,basis_detail,division,phone,resided_since" || form["division"] != division {
			t.Errorf("%s: the API shows state %v, version %v (want %d), division %v (want %s), result %v, form keys %v",
				what, m["state"], m["version"], version, m["division"], division, m["result"], keys)
		}
		var state, div, district, result, storedForm string
		var v int
		var applicant int64
		err := p.DB.SQL().QueryRow("SELECT state, version, applicant_id, division, district, result, form FROM cases WHERE case_no = $1", no).
			Scan(&state, &v, &applicant, &div, &district, &result, &storedForm)
		if err != nil {
			t.Fatal(err)
		}
		var stored map[string]any
		json.Unmarshal([]byte(storedForm), &stored)
		if state != "draft" || v != version || applicant != alice.ID || div != division || district != division[:6] ||
			strings.ReplaceAll(result, " ", "") != "{}" || len(stored) != 6 {
			t.Errorf("%s: the database holds state %s, version %d, applicant %d (want %d), division %s, district %s, result %s, form %s",
				what, state, v, applicant, alice.ID, div, district, result, storedForm)
		}
	}
	// refusedOrIgnored accepts a refusal (422, or 409 for a stale version)
	// or success; anything else is a failure.
	refusedOrIgnored := func(what string, r *testkit.Response, okStatus int) bool {
		t.Helper()
		switch r.Status {
		case okStatus:
			return true
		case http.StatusUnprocessableEntity, http.StatusConflict:
			return false
		}
		t.Errorf("%s: %d %s", what, r.Status, r.Body)
		return false
	}

	base := testkit.ResidenceForm()
	made := 0
	for key, val := range massKeys(bob.ID) {
		if key != "service" { // at the top, service is the request's own field
			r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": base, key: val})
			if refusedOrIgnored("POST /api/v1/cases with "+key+" at the top", r, http.StatusCreated) {
				made++
				no := r.JSON(t)["case_no"].(string)
				check("POST with "+key+" at the top", no, 1, "321202001")
				discard(t, c, no)
			}
		}
		if key != "division" { // division is a field of the form
			r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": withKey(base, key, val)})
			if refusedOrIgnored("POST /api/v1/cases with "+key+" in the form", r, http.StatusCreated) {
				made++
				no := r.JSON(t)["case_no"].(string)
				check("POST with "+key+" in the form", no, 1, "321202001")
				discard(t, c, no)
			}
		}
	}

	// Editing: the same keys in a PUT, at the top and in the form.
	r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": base})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	made++
	no := r.JSON(t)["case_no"].(string)
	version := 1
	for key, val := range massKeys(bob.ID) {
		for what, body := range map[string]map[string]any{
			"at the top":  {"form": base, key: val},
			"in the form": {"form": withKey(base, key, val)},
		} {
			if key == "division" && what == "in the form" {
				continue
			}
			if refusedOrIgnored("PUT form with "+key+" "+what, c.Do("PUT", "/api/v1/cases/"+no+"/form", body), http.StatusOK) {
				version++
			}
			check("PUT with "+key+" "+what, no, version, "321202001")
		}
	}
	// The form's own division field moves the case: that is the one way.
	if r := c.Do("PUT", "/api/v1/cases/"+no+"/form", map[string]any{"form": testkit.ResidenceForm("division", "321202002")}); r.Status != 200 {
		t.Fatalf("moving the case through the form's division: %d %s", r.Status, r.Body)
	}
	version++
	check("PUT with the form's division", no, version, "321202002")

	discard(t, c, no)

	// HTML forms: extra fields are ignored.
	extras := []string{"state", "approved", "version", "99", "result", `{"permit_no":"JZ3212022026999999"}`,
		"applicant_id", fmt.Sprint(bob.ID), "assignee", "1", "district", "321203", "case_no", "TZRP20261130999999"}
	page := c.Get("/cases/new?service=residence-permit")
	fields := []string{"_csrf", testkit.FormToken(t, page.Text()), "service", "residence-permit"}
	for k, v := range base {
		fields = append(fields, k, v)
	}
	r = c.Post("/cases", append(fields, extras...)...)
	m := regexp.MustCompile(`^/cases/(TZRP\d{14})`).FindStringSubmatch(r.Header.Get("Location"))
	if r.Status != http.StatusSeeOther || m == nil {
		t.Fatalf("HTML create with extra fields: %d %q", r.Status, r.Header.Get("Location"))
	}
	made++
	check("HTML create with extra fields", m[1], 1, "321202001")
	ef := []string{"_csrf", c.CSRF, "service", "residence-permit", "version", "1"}
	for k, v := range base {
		ef = append(ef, k, v)
	}
	extras = slices.Delete(extras, 2, 4) // version is the edit form's own field
	r = c.Post("/cases/"+m[1]+"/edit", append(ef, extras...)...)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("HTML edit with extra fields: %d %s", r.Status, r.Body)
	}
	check("HTML edit with extra fields", m[1], 2, "321202001")

	if n := p.Count(t, "SELECT count(*) FROM cases"); n != made {
		t.Errorf("cases in the database: %d, want %d", n, made)
	}
	if n := p.Count(t, "SELECT count(*) FROM cases WHERE applicant_id <> $1 OR state NOT IN ('draft', 'discarded')", alice.ID); n != 0 {
		t.Errorf("%d cases belong to someone else or were handed in", n)
	}
}

// withKey returns a copy of form with one more key.
func withKey(form map[string]string, key string, val any) map[string]any {
	out := map[string]any{key: val}
	for k, v := range form {
		out[k] = v
	}
	return out
}

// removeDotSegments is RFC 3986 §5.2.4: what a browser makes of a path.
func removeDotSegments(in string) string {
	var out []string
	for len(in) > 0 {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "/..":
			in = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "." || in == "..":
			in = ""
		default:
			i := strings.IndexByte(in[1:], '/')
			if i < 0 {
				out, in = append(out, in), ""
			} else {
				out, in = append(out, in[:i+1]), in[i+1:]
			}
		}
	}
	return strings.Join(out, "")
}

// localRedirect says why a Location is not a path on this site, or "".
func localRedirect(loc string) string {
	if loc == "" {
		return "no Location"
	}
	for _, r := range loc {
		if r < 0x21 || r == 0x7f || r == '\\' {
			return "control character, space or backslash"
		}
	}
	if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
		return "does not start with a single /"
	}
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "not a relative path"
	}
	// Browsers take %2e for a dot in a path segment (WHATWG URL), nothing else.
	p := regexp.MustCompile(`(?i)%2e`).ReplaceAllString(u.EscapedPath(), ".")
	if eff := removeDotSegments(p); strings.HasPrefix(eff, "//") {
		return fmt.Sprintf("the browser resolves it to the path %q: a scheme-relative URL as soon as anything echoes it", eff)
	}
	return ""
}

// redirectPayloads are next= values that try to leave the site.
var redirectPayloads = []string{
	"https://evil.example", "//evil.example", "/\\evil.example", "\\\\evil.example", "%2F%2Fevil.example",
	"javascript:alert(1)", "http:/evil.example", "https:evil.example", "/..//evil.example", "/.//evil.example",
	"/%2e%2e//evil.example", "///evil.example", "/\t/evil.example", " //evil.example", "/%5Cevil.example",
	"/\r\nLocation: https://evil.example", "/x\r\nSet-Cookie: tz_session=attacker", "/%0d%0aSet-Cookie:%20a=b",
	"/cases\nLocation://evil.example", "data:text/html,<script>alert(1)</script>",
}

// TestOpenRedirect tries each payload on every redirect that takes a next=:
// the language switch, the login page when logged in, and the login form.
func TestOpenRedirect(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	a := testkit.Applicants[0]
	p.MustApplicant(t, a)
	anon := p.NewClient(t)
	user := p.NewClient(t)
	user.Login(a.Mobile)
	nextRE := regexp.MustCompile(`name="next" value="([^"]*)"`)
	// One line per payload and reason, naming every way it got through.
	bad := map[string][]string{}
	var order []string
	report := func(payload, loc, why, where string) {
		k := fmt.Sprintf("next=%q → %q: %s", payload, loc, why)
		if _, ok := bad[k]; !ok {
			order = append(order, k)
		}
		bad[k] = append(bad[k], where)
	}
	for _, payload := range redirectPayloads {
		// Each payload is sent percent-encoded (the server sees it exactly)
		// and, where a URL can carry it, as typed.
		queries := []string{url.QueryEscape(payload)}
		if !strings.ContainsAny(payload, " \t\r\n") {
			queries = append(queries, strings.ReplaceAll(payload, "#", "%23"))
		}
		for i, q := range queries {
			how := [...]string{"encoded", "as typed"}[i]
			for what, r := range map[string]*testkit.Response{
				"GET /lang":              anon.Get("/lang?to=en&next=" + q),
				"GET /login (logged in)": user.Get("/login?next=" + q),
			} {
				if r.Status != http.StatusSeeOther {
					report(payload, "", fmt.Sprintf("status %d, want 303", r.Status), what+" "+how)
				} else if why := localRedirect(r.Header.Get("Location")); why != "" {
					report(payload, r.Header.Get("Location"), why, what+" "+how)
				}
			}
			page := anon.Get("/login?next=" + q)
			if m := nextRE.FindStringSubmatch(page.Text()); m != nil && m[1] != "" {
				if why := localRedirect(html.UnescapeString(m[1])); why != "" {
					report(payload, html.UnescapeString(m[1]), why, "the login form's hidden next ("+how+")")
				}
			}
		}
		// The login form posts next back: the server must check it again.
		browser := p.NewClient(t)
		r := browser.Submit("/login", "/login", "login", a.Mobile, "password", testkit.Password, "next", payload)
		if r.Status != http.StatusSeeOther {
			report(payload, "", fmt.Sprintf("status %d, want 303", r.Status), "POST /login")
		} else if why := localRedirect(r.Header.Get("Location")); why != "" {
			report(payload, r.Header.Get("Location"), why, "POST /login")
		}
	}
	for _, k := range order {
		t.Errorf("%s (%s)", k, strings.Join(bad[k], ", "))
	}
	// A local next is honoured (so that the test can tell "refused" from "ignored").
	if loc := anon.Get("/lang?to=zh-CN&next=" + url.QueryEscape("/cases?state=submitted")).Header.Get("Location"); loc != "/cases?state=submitted" {
		t.Errorf("a local next: Location %q", loc)
	}
}

// hostile are the payloads of TestHostileInput.
var hostile = []struct{ name, v string }{
	{"script", "<script>alert(1)</script>"},
	{"attribute", `"><img src=x onerror=alert(1)>`},
	{"sql", "'; DROP TABLE cases; --"},
	{"template", "{{.}} {{template \"x\"}}"},
	{"percent-00", "%00 in text"},
	{"nul", "before\x00after"},
	{"10KB", strings.Repeat("A", 10*1024)},
	{"rtl-override", "invoice\u202Efdp.exe"},
	{"emoji", "👨‍👩‍👧 家庭"},
	{"invalid-utf8", "ab\xff\xfecd"},
}

// jsonCarries is what a string becomes in JSON: every byte that is not
// UTF-8 replaced by U+FFFD, as encoding/json does.
func jsonCarries(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// rawJSON encodes v as JSON with every occurrence of the string payload
// written byte for byte (quotes, backslashes and control characters escaped,
// everything else raw): encoding/json would replace bytes that are not
// UTF-8, and the point is to send them.
func rawJSON(tb testing.TB, v any, payload string) string {
	tb.Helper()
	const mark = "\"PAYLOAD-5c1e8f\""
	var swap func(any) any
	swap = func(x any) any {
		switch x := x.(type) {
		case string:
			if x == payload {
				return "PAYLOAD-5c1e8f"
			}
		case map[string]string:
			out := map[string]any{}
			for k, e := range x {
				out[k] = swap(e)
			}
			return out
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				out[k] = swap(e)
			}
			return out
		case []string:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = swap(e)
			}
			return out
		}
		return x
	}
	b, err := json.Marshal(swap(v))
	if err != nil {
		tb.Fatal(err)
	}
	var lit strings.Builder
	lit.WriteByte('"')
	for i := 0; i < len(payload); i++ {
		switch c := payload[i]; {
		case c == '"' || c == '\\':
			lit.WriteByte('\\')
			lit.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&lit, "\\u%04x", c)
		default:
			lit.WriteByte(c)
		}
	}
	lit.WriteByte('"')
	return strings.ReplaceAll(string(b), mark, lit.String())
}

// rawMarkup are the parts of the payloads that must never reach a page
// unescaped. The attribute break-out is looked for with the payload's own
// src=x: pages show uploaded images as <a href="…"><img class=…>.
var rawMarkup = []string{"<script>", "<img src=x", `"><img src=x`}

// hostileRig runs TestHostileInput on one portal.
type hostileRig struct {
	t        *testing.T
	p        *testkit.Portal
	owners   map[string]*testkit.Client // case → its applicant (one open application each)
	clerk    *testkit.Client
	ids      *idGen
	problems []string
	shownN   int // escaped renderings checked, so a change that skips them all is noticed
}

func (h *hostileRig) fail(format string, args ...any) {
	h.problems = append(h.problems, fmt.Sprintf(format, args...))
}

// saw checks any response: never a 5xx, never raw markup in a page.
func (h *hostileRig) saw(what string, r *testkit.Response) *testkit.Response {
	if r.Status >= 500 {
		h.fail("%s: %d %.200s", what, r.Status, gist(r))
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		for _, raw := range rawMarkup {
			if strings.Contains(r.Text(), raw) {
				h.fail("%s: the page holds raw %q", what, raw)
			}
		}
	}
	return r
}

// stored compares what was read back with what was sent: exactly, or, for
// bytes that are not UTF-8, as JSON carries them.
func (h *hostileRig) stored(what, sent, got string) {
	if got != sent && (utf8.ValidString(sent) || got != jsonCarries(sent)) {
		h.fail("%s: stored %.80q, sent %.80q", what, got, sent)
	}
	if !utf8.ValidString(got) {
		h.fail("%s: stored text that is not UTF-8: %.80q", what, got)
	}
}

// shown checks that a page shows an accepted value escaped.
func (h *hostileRig) shown(what string, page *testkit.Response, v string) {
	if strings.ContainsAny(v, "<>\"'&") && !strings.ContainsRune(v, 0) && utf8.ValidString(v) {
		h.shownN++
		if !strings.Contains(page.Text(), html.EscapeString(v)) {
			h.fail("%s: the page does not show %.60q escaped", what, v)
		}
	}
}

// applicant is a new applicant: each has one open application at a time.
func (h *hostileRig) applicant() *testkit.Client {
	_, c := h.p.NewApplicant(h.t, "申请人")
	return c
}

func (h *hostileRig) create(form map[string]string) string {
	app := h.applicant()
	r := app.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": form})
	if r.Status != 201 {
		h.t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	no := r.JSON(h.t)["case_no"].(string)
	h.owners[no] = app
	return no
}

func (h *hostileRig) submitted() string {
	no := h.create(testkit.ResidenceForm())
	h.owners[no].AttachAll(no)
	if r := h.owners[no].Do("POST", "/api/v1/cases/"+no+"/events/submit", nil); r.Status != 200 {
		h.t.Fatalf("submit: %d %s", r.Status, r.Body)
	}
	return no
}

func (h *hostileRig) registration(field, v string, html bool) {
	id, mobile := h.ids.next()
	reg := map[string]string{"name": "赵六", "id_number": id, "mobile": mobile, "password": testkit.Password}
	reg[field] = v
	what := fmt.Sprintf("register %s=%s", field, v[:min(len(v), 20)])
	var r *testkit.Response
	if html {
		what += " (form)"
		c := h.p.NewClient(h.t)
		r = h.saw(what, c.Submit("/register", "/register", "name", reg["name"], "id_number", reg["id_number"], "mobile", reg["mobile"],
			"password", reg["password"], "password_confirm", reg["password"]))
		if r.Status == http.StatusUnprocessableEntity && field == "name" {
			h.shown(what+": the form shown again", r, v)
		}
	} else {
		r = h.saw(what, h.p.NewClient(h.t).Do("POST", "/api/v1/accounts", rawJSON(h.t, reg, v)))
	}
	if r.Status != http.StatusCreated && r.Status != http.StatusSeeOther {
		return
	}
	// Read back through the API: log in with what was registered.
	login := h.p.NewClient(h.t).Do("POST", "/api/v1/session", map[string]string{"login": mobile, "password": reg["password"]})
	if login.Status != http.StatusOK {
		h.fail("%s: accepted (%d), but logging in with it gives %d", what, r.Status, login.Status)
		return
	}
	if field == "name" {
		name, _ := login.JSON(h.t)["user"].(map[string]any)["name"].(string)
		h.stored(what, v, name)
	}
}

// TestHostileInput sends each payload in each field people type into, through
// the API and the HTML forms: never a 5xx; what is accepted is stored as sent
// and shown escaped; the database keeps its tables.
func TestHostileInput(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.Start(t, b, nil)
		p.MustApplicant(t, testkit.Applicants[0])
		p.MustStaff(t, "clerk1", "street_clerk", "321202001")
		h := &hostileRig{t: t, p: p, clerk: p.NewClient(t), ids: newIDGen(), owners: map[string]*testkit.Client{}}
		h.clerk.Login("clerk1")

		for _, pl := range hostile {
			v := pl.v
			// Registration and login, both ways.
			for _, field := range []string{"name", "id_number", "mobile", "password"} {
				h.registration(field, v, false)
				h.registration(field, v, true)
			}
			r := h.saw("API login "+pl.name, h.p.NewClient(t).Do("POST", "/api/v1/session", rawJSON(t, map[string]string{"login": v, "password": v}, v)))
			if r.Status != http.StatusUnauthorized && r.Status != http.StatusUnprocessableEntity && r.Status < 500 {
				h.fail("API login %s: %d", pl.name, r.Status)
			}
			r = h.saw("form login "+pl.name, h.p.NewClient(t).Submit("/login", "/login", "login", v, "password", v))
			if r.Status == http.StatusUnauthorized {
				h.shown("form login "+pl.name, r, v)
			}

			// The residence form, both ways.
			for _, field := range []string{"division", "address", "resided_since", "basis", "basis_detail", "phone"} {
				form := testkit.ResidenceForm(field, v)
				what := fmt.Sprintf("form %s=%s", field, pl.name)
				app := h.applicant()
				r := h.saw(what, app.Do("POST", "/api/v1/cases", rawJSON(t, map[string]any{"service": "residence-permit", "form": form}, v)))
				if r.Status == http.StatusCreated {
					no := r.JSON(t)["case_no"].(string)
					got, _ := app.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)["form"].(map[string]any)[field].(string)
					h.stored(what, v, got)
					h.shown(what+": applicant's page", h.saw(what, app.Get("/cases/"+no)), v)
					// Staff see a case once it is submitted (a draft is the applicant's own).
					app.AttachAll(no)
					if sr := h.saw(what+" (submit)", app.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil)); sr.Status != http.StatusOK {
						h.fail("%s: submit: %d %s", what, sr.Status, sr.Body)
					}
					h.shown(what+": clerk's case page", h.saw(what, h.clerk.Get("/cases/"+no)), v)
				} else if r.Status != http.StatusUnprocessableEntity && r.Status < 500 {
					h.fail("%s: %d", what, r.Status)
				}
				app = h.applicant()
				fields := []string{"_csrf", app.CSRF, "service", "residence-permit"}
				for k, x := range form {
					fields = append(fields, k, x)
				}
				r = h.saw(what+" (form)", app.Post("/cases", fields...))
				switch {
				case r.Status == http.StatusSeeOther:
					no := strings.TrimPrefix(strings.Split(r.Header.Get("Location"), "?")[0], "/cases/")
					got, _ := app.Do("GET", "/api/v1/cases/"+no, nil).JSON(t)["form"].(map[string]any)[field].(string)
					h.stored(what+" (form)", v, got)
				case r.Status == http.StatusUnprocessableEntity:
					if field != "division" && field != "basis" { // choices: a value not offered is not shown
						h.shown(what+" (form shown again)", r, v)
					}
				case r.Status < 500:
					h.fail("%s (form): %d", what, r.Status)
				}
			}

			// A clerk's reasons and items, both ways.
			for _, in := range []struct {
				event, field string
				body         map[string]any
				form         []string
			}{
				{"request_correction", "reason", map[string]any{"reason": v, "items": []string{"photo"}}, []string{"reason", v, "items", "photo"}},
				{"request_correction", "items", map[string]any{"reason": "请补正", "items": []string{"photo", v}}, []string{"reason", "请补正", "items", "photo", "items_other", v}},
				{"reject", "reason", map[string]any{"reason": v}, []string{"reason", v}},
			} {
				what := fmt.Sprintf("%s %s=%s", in.event, in.field, pl.name)
				for _, viaForm := range []bool{false, true} {
					no := h.submitted()
					var r *testkit.Response
					what := what
					if viaForm {
						what += " (form)"
						r = h.saw(what, h.clerk.Post("/cases/"+no+"/events/"+in.event, append([]string{"_csrf", h.clerk.CSRF}, in.form...)...))
						if r.Status == http.StatusUnprocessableEntity {
							h.shown(what+" shown again", r, v)
						}
					} else {
						r = h.saw(what, h.clerk.Do("POST", "/api/v1/cases/"+no+"/events/"+in.event, rawJSON(t, in.body, v)))
					}
					if r.Status != http.StatusOK && r.Status != http.StatusSeeOther {
						if r.Status != http.StatusUnprocessableEntity && r.Status < 500 {
							h.fail("%s: %d", what, r.Status)
						}
						continue
					}
					m := h.owners[no].Do("GET", "/api/v1/cases/"+no, nil).JSON(t)
					tl := m["timeline"].([]any)
					last := tl[len(tl)-1].(map[string]any)
					var got string
					if in.field == "reason" {
						got, _ = last["reason"].(string)
					} else if items, _ := last["items"].([]any); len(items) == 2 {
						got, _ = items[1].(string)
					}
					h.stored(what, v, got)
					h.shown(what+": applicant's page", h.saw(what, h.owners[no].Get("/cases/"+no)), v)
				}
			}
		}

		for _, table := range []string{"cases", "users", "audit_log", "case_history", "divisions", "grants"} {
			var n int
			if err := p.DB.SQL().QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil || n == 0 {
				h.fail("table %s after the payloads: %d rows, %v", table, n, err)
			}
		}
		// What was stored is text: the API hides bytes that are not UTF-8
		// (JSON replaces them), so look at the rows themselves.
		for _, q := range []string{"SELECT name FROM users", "SELECT form FROM cases", "SELECT inputs FROM case_history"} {
			rows, err := p.DB.SQL().Query(q)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var v string
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				if !utf8.ValidString(v) {
					h.fail("%s: a row holds text that is not UTF-8: %.80q", q, v)
				}
			}
			rows.Close()
		}
		if n, err := p.Audit.Verify(context.Background(), p.DB); err != nil {
			h.fail("audit chain after the payloads (%d entries): %v", n, err)
		}
		if h.shownN < 40 {
			h.fail("only %d escaped renderings were checked", h.shownN)
		}
		if len(h.problems) > 0 {
			slices.Sort(h.problems)
			h.problems = slices.Compact(h.problems)
			t.Errorf("%d problems with hostile input:\n%s", len(h.problems), strings.Join(h.problems, "\n"))
		}
	})
}

// leaks are what an error answer must never show a person.
var leaks = []string{"SELECT ", "INSERT ", "sqlite", "SQLSTATE", "pgx", "pq:", "sql:", "no rows", "goroutine ", ".go:",
	"runtime.", "panic", "*portal.", "portal.Error", "*fiber.", "fasthttp", "%!", "<nil>", "map[", "workflow.", "sqlstore."}

// csrfValueRE is a page's form token, left out of the search for leaks.
var csrfValueRE = regexp.MustCompile(`name="_csrf" value="[^"]*"`)

// TestErrorsAreClear4xx: bad case numbers, events, bodies and sizes give a
// clear 4xx problem document or page, never a 5xx or an internal detail.
func TestErrorsAreClear4xx(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	p.MustApplicant(t, testkit.Applicants[0])
	c := p.NewClient(t)
	c.Login(testkit.Applicants[0].Mobile)
	r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	no := r.JSON(t)["case_no"].(string)
	long := strings.Repeat("9", 2000)
	type errCase struct {
		name   string
		r      *testkit.Response
		status int // 0: any 4xx
	}
	call := func(method, path string, body any, h ...string) *testkit.Response {
		return c.Do(method, path, body, h...)
	}
	api := []errCase{
		{"unknown case", call("GET", "/api/v1/cases/TZRP20261130999999", nil), 404},
		{"traversal in the case number", call("GET", "/api/v1/cases/..%2F..%2Fetc%2Fpasswd", nil), 404},
		{"traversal in the path", call("GET", "/api/v1/cases/../../etc/passwd", nil), 404},
		{"NUL in the case number", call("GET", "/api/v1/cases/TZRP%00", nil), 404},
		{"2000-character case number", call("GET", "/api/v1/cases/"+long, nil), 404},
		{"8000-character case number", secRaw(t, p, tooLongURL("/api/v1/cases/", c.Cookie("tz_session"))), 0},
		{"unknown event", call("POST", "/api/v1/cases/"+no+"/events/frobnicate", nil), 404},
		{"event of an unknown case", call("POST", "/api/v1/cases/TZRP20261130999999/events/submit", nil), 404},
		{"body that is not JSON", call("POST", "/api/v1/cases", "service=residence-permit"), 422},
		{"truncated JSON", call("POST", "/api/v1/cases", `{"service": "residence-permit", "form": {`), 422},
		{"JSON of the wrong shape", call("POST", "/api/v1/cases", `["residence-permit"]`), 422},
		{"form of the wrong type", call("POST", "/api/v1/cases", `{"service": "residence-permit", "form": "x"}`), 422},
		{"not JSON content type", call("POST", "/api/v1/cases", `{"service": "residence-permit"}`, "Content-Type", "text/plain"), 422},
		{"event body that is not JSON", call("POST", "/api/v1/cases/"+no+"/events/submit", "<xml/>"), 422},
		{"body over 1 MB", secRaw(t, p, tooLargeBody("/api/v1/cases")), 0},
	}
	for _, e := range api {
		if (e.status != 0 && e.r.Status != e.status) || e.r.Status < 400 || e.r.Status > 499 {
			t.Errorf("API %s: %d, want %d (0: a 4xx): %s", e.name, e.r.Status, e.status, gist(e.r))
		}
		if strings.HasPrefix(e.name, "traversal in the path") {
			continue // the router answers before the API: any 4xx will do
		}
		if ct := e.r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("API %s: Content-Type %q, want application/problem+json: %s", e.name, ct, gist(e.r))
			continue
		}
		var doc struct {
			Status              int
			Code, Title, Detail string
			RequestID           string `json:"request_id"`
		}
		if err := json.Unmarshal(e.r.Body, &doc); err != nil || doc.Status != e.r.Status || doc.Code == "" || doc.Title == "" ||
			doc.Detail == "" || doc.RequestID == "" {
			t.Errorf("API %s: problem document %s (want status, code, title, detail and request_id)", e.name, e.r.Body)
		}
		for _, l := range leaks {
			if strings.Contains(e.r.Text(), l) {
				t.Errorf("API %s: the answer shows %q: %s", e.name, l, e.r.Body)
			}
		}
	}

	pages := []errCase{
		{"unknown case", c.Get("/cases/TZRP20261130999999"), 404},
		{"traversal in the case number", c.Get("/cases/..%2F..%2Fetc%2Fpasswd"), 404},
		{"2000-character case number", c.Get("/cases/" + long), 404},
		{"8000-character case number", secRaw(t, p, tooLongURL("/cases/", c.Cookie("tz_session"))), 0},
		{"unknown event", c.Post("/cases/"+no+"/events/frobnicate", "_csrf", c.CSRF), 404},
		{"unknown case's audit", c.Get("/cases/TZRP20261130999999/audit"), 404},
		{"unknown page", c.Get("/cases/" + no + "/frobnicate"), 404},
	}
	for _, e := range pages {
		if (e.status != 0 && e.r.Status != e.status) || e.r.Status < 400 || e.r.Status > 499 {
			t.Errorf("page %s: %d, want %d (0: a 4xx): %s", e.name, e.r.Status, e.status, gist(e.r))
		}
		if !strings.HasPrefix(e.r.Header.Get("Content-Type"), "text/html") || !strings.Contains(e.r.Text(), `href="/"`) {
			t.Errorf("page %s: not an error page with a way home: %s", e.name, gist(e.r))
		}
		// The form token is random base64: it may spell "pgx" by chance.
		page := csrfValueRE.ReplaceAllString(e.r.Text(), `name="_csrf"`)
		for _, l := range leaks {
			if strings.Contains(page, l) {
				t.Errorf("page %s: the page shows %q", e.name, l)
			}
		}
	}
}
