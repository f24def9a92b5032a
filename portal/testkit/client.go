package testkit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"tzportal/portal"
)

func encodeStd(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Client is one browser or API client with its own cookies.
type Client struct {
	tb   testing.TB
	p    *Portal
	base string
	http *http.Client
	CSRF string // the API's CSRF token, set by Login
	Lang string // Accept-Language for API calls
}

// NewClient returns a client of p with an empty cookie jar. It does not
// follow redirects, so tests see them.
func (p *Portal) NewClient(tb testing.TB) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{tb: tb, p: p, base: p.URL, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Response is a finished response with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r *Response) JSON(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		tb.Fatalf("response is not JSON (%d): %s", r.Status, r.Body)
	}
	return m
}

// Text returns the body as a string.
func (r *Response) Text() string { return string(r.Body) }

// Do sends a request with an optional JSON body and headers (k, v pairs).
func (c *Client) Do(method, path string, body any, headers ...string) *Response {
	c.tb.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			j, err := json.Marshal(b)
			if err != nil {
				c.tb.Fatal(err)
			}
			rd = bytes.NewReader(j)
		}
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.CSRF != "" && method != http.MethodGet {
		req.Header.Set("X-CSRF-Token", c.CSRF)
	}
	if c.Lang != "" {
		req.Header.Set("Accept-Language", c.Lang)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	return c.send(req)
}

func (c *Client) send(req *http.Request) *Response {
	c.tb.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatal(err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Login logs in through the API and keeps the CSRF token; staff made with
// MustStaff also give a one-time code. It fails the test unless the login
// succeeds.
func (c *Client) Login(login string) map[string]any {
	c.tb.Helper()
	body := map[string]string{"login": login, "password": Password}
	if c.p.TOTPSecret(login) != "" {
		body["otp"] = c.p.OTP(c.tb, login)
	}
	r := c.Do("POST", "/api/v1/session", body)
	if r.Status != http.StatusOK {
		c.tb.Fatalf("login %s: %d %s", login, r.Status, r.Body)
	}
	m := r.JSON(c.tb)
	c.CSRF, _ = m["csrf_token"].(string)
	return m
}

var ticketRE = regexp.MustCompile(`name="ticket" value="([^"]*)"`)

// LoginHTML logs in through the login form, and for staff made with
// MustStaff the one-time-code form after it; it returns the last response
// (a redirect when all went well).
func (c *Client) LoginHTML(login string) *Response {
	c.tb.Helper()
	r := c.Submit("/login", "/login", "login", login, "password", Password)
	m := ticketRE.FindStringSubmatch(r.Text())
	if r.Status != http.StatusOK || m == nil {
		return r
	}
	return c.Post("/login/otp", "_csrf", FormToken(c.tb, r.Text()), "ticket", html.UnescapeString(m[1]), "otp", c.p.OTP(c.tb, login))
}

// Get fetches a page.
func (c *Client) Get(path string) *Response {
	c.tb.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		c.tb.Fatal(err)
	}
	return c.send(req)
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

// FormToken returns the _csrf token of the first form in an HTML page.
func FormToken(tb testing.TB, page string) string {
	tb.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		tb.Fatalf("no _csrf field in the page:\n%.2000s", page)
	}
	return html.UnescapeString(m[1])
}

var inputRE = regexp.MustCompile(`<input\b[^>]*>`)
var valueRE = regexp.MustCompile(`\bvalue="([^"]*)"`)

// FormField returns the value of the first input field called name in an
// HTML page (a hidden _idem or version, a text field as filled in), ""
// when the page has none.
func FormField(page, name string) string {
	want := `name="` + html.EscapeString(name) + `"`
	for _, tag := range inputRE.FindAllString(page, -1) {
		if !strings.Contains(tag, want) {
			continue
		}
		if m := valueRE.FindStringSubmatch(tag); m != nil {
			return html.UnescapeString(m[1])
		}
		return ""
	}
	return ""
}

// Post submits an HTML form (application/x-www-form-urlencoded). Values
// are k, v pairs; a key may repeat.
func (c *Client) Post(path string, kv ...string) *Response {
	c.tb.Helper()
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(v.Encode()))
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.send(req)
}

// Submit gets the page at formPage, takes its CSRF token, and posts the
// values to action.
func (c *Client) Submit(formPage, action string, kv ...string) *Response {
	c.tb.Helper()
	page := c.Get(formPage)
	if page.Status != http.StatusOK {
		c.tb.Fatalf("GET %s: %d", formPage, page.Status)
	}
	return c.Post(action, append([]string{"_csrf", FormToken(c.tb, page.Text())}, kv...)...)
}

// Cookie returns the value of a cookie the client holds for the portal.
func (c *Client) Cookie(name string) string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// SetCookie puts a cookie into the client's jar (to replay an old session).
func (c *Client) SetCookie(name, value string) {
	u, _ := url.Parse(c.base)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// LoginAs gives the client a session of u without going through the login
// form (no password check, no one-time code, no login throttling): for
// tests that need many people logged in. It keeps the CSRF token.
func (c *Client) LoginAs(u *portal.User) {
	c.tb.Helper()
	sess, err := c.p.Sessions.Create(context.Background(), u.ID)
	if err != nil {
		c.tb.Fatalf("LoginAs(%d): %v", u.ID, err)
	}
	c.SetCookie("tz_session", sess.ID)
	r := c.Do("GET", "/api/v1/session", nil)
	if r.Status != http.StatusOK {
		c.tb.Fatalf("LoginAs(%d): session: %d %s", u.ID, r.Status, r.Body)
	}
	c.CSRF, _ = r.JSON(c.tb)["csrf_token"].(string)
}
