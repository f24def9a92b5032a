package server_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"tzportal/portal"
	"tzportal/portal/testkit"
	"tzportal/portal/workflow"
)

// matrixRow is one line of testdata/authz_matrix.csv.
type matrixRow struct {
	Line   int
	Method string
	Path   string // template: {no} is the case under test
	Actor  string
	Want   int
}

func (r matrixRow) route() string { return r.Method + " " + r.Path }

// loadMatrix reads the table; a malformed line fails the test.
func loadMatrix(t *testing.T, file string) []matrixRow {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comment = '#'
	cr.FieldsPerRecord = 3
	cr.TrimLeadingSpace = true
	var rows []matrixRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		line, _ := cr.FieldPos(0)
		method, path, ok := strings.Cut(strings.TrimSpace(rec[0]), " ")
		want, err := strconv.Atoi(strings.TrimSpace(rec[2]))
		if !ok || err != nil || !strings.HasPrefix(path, "/") {
			t.Fatalf("%s:%d: want \"METHOD /path,actor,status\", got %q", file, line, rec)
		}
		rows = append(rows, matrixRow{Line: line, Method: method, Path: path, Actor: strings.TrimSpace(rec[1]), Want: want})
	}
	return rows
}

// matrixActors are the actors of the table, in its order.
var matrixActors = []string{"anonymous", "owner", "other_applicant", "clerk", "clerk_same_district", "clerk_other_district",
	"officer", "officer_other_district", "city_supervisor", "district_supervisor", "admin", "system"}

// matrixStaff are the staff actors: login, role and division of their one grant.
var matrixStaff = map[string][3]string{
	"clerk":                  {"clerk", "street_clerk", "321202001"},
	"clerk_same_district":    {"westclerk", "street_clerk", "321202002"},
	"clerk_other_district":   {"gaogangclerk", "street_clerk", "321203001"},
	"officer":                {"officer", "district_officer", "321202"},
	"officer_other_district": {"gaogangofficer", "district_officer", "321203"},
	"city_supervisor":        {"citysup", "supervisor", "321200"},
	"district_supervisor":    {"hailingsup", "supervisor", "321202"},
	"admin":                  {"admin", "admin", "321200"},
}

// matrix is one portal with every actor logged in, and the cases made for
// the rows.
type matrix struct {
	t       *testing.T
	p       *testkit.Portal
	def     *workflow.Definition
	clients map[string]*testkit.Client
	logins  map[string]string // actor → login
	preTok  string            // the anonymous browser's pre-session form token
	token   string            // the system account's bearer token
	ids     *idGen
	shared  map[string]string // state → a case for rows that only read
}

func newMatrix(t *testing.T) *matrix {
	t.Helper()
	p := testkit.Start(t, testkit.Backend{}, nil)
	def, ok := p.Engine.Definition("residence-permit")
	if !ok {
		t.Fatal("no residence-permit workflow")
	}
	m := &matrix{t: t, p: p, def: def, clients: map[string]*testkit.Client{}, logins: map[string]string{},
		ids: newIDGen(), shared: map[string]string{}}
	p.MustApplicant(t, testkit.Applicants[0])
	p.MustApplicant(t, testkit.Applicants[1])
	p.MustApplicant(t, testkit.Applicants[2])
	m.logins["owner"] = testkit.Applicants[0].Mobile
	m.logins["other_applicant"] = testkit.Applicants[1].Mobile
	m.logins["anonymous"] = testkit.Applicants[2].Mobile // whom the anonymous login row logs in
	for actor, s := range matrixStaff {
		p.MustStaff(t, s[0], s[1], s[2])
		m.logins[actor] = s[0]
	}
	_, token, err := p.Accounts.AddSystem(context.Background(), portal.Actor{System: "test"}, "registry", "迁出地户籍系统", "origin_registry", "321200")
	if err != nil {
		t.Fatal(err)
	}
	m.token = token
	for _, a := range matrixActors {
		c := p.NewClient(t)
		switch a {
		case "anonymous":
			m.preTok = testkit.FormToken(t, c.Get("/login").Text())
		case "system":
		default:
			c.Login(m.logins[a])
		}
		m.clients[a] = c
	}
	return m
}

// freshClient is a new browser of actor, logged in (for rows that end or
// replace a session, so the shared one lives on).
func (m *matrix) freshClient(actor string) *testkit.Client {
	c := m.p.NewClient(m.t)
	if actor != "anonymous" && actor != "system" {
		c.Login(m.logins[actor])
	}
	return c
}

// caseIn makes a case of the owner in state, moving it there along the
// workflow's own events (applicant events by the owner, clerk events by the
// case's street clerk).
func (m *matrix) caseIn(state string) string {
	m.t.Helper()
	path, ok := m.pathTo(state)
	if !ok {
		m.t.Fatalf("state %q cannot be reached from %s", state, m.def.Initial)
	}
	r := m.clients["owner"].Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
	if r.Status != http.StatusCreated {
		m.t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	no := r.JSON(m.t)["case_no"].(string)
	for _, ev := range path {
		by := "owner"
		if !slices.Contains(m.def.Events[ev].By, portal.RoleApplicant) {
			by = "clerk"
		}
		if r := m.clients[by].Do("POST", "/api/v1/cases/"+no+"/events/"+ev, m.eventBody(ev)); r.Status != http.StatusOK {
			m.t.Fatalf("setting up %s in %s: %s by %s: %d %s", no, state, ev, by, r.Status, r.Body)
		}
	}
	return no
}

// pathTo finds the shortest sequence of events from the initial state to
// state that the owner and the street clerk can fire.
func (m *matrix) pathTo(state string) ([]string, bool) {
	type node struct {
		state string
		path  []string
	}
	seen := map[string]bool{m.def.Initial: true}
	queue := []node{{state: m.def.Initial}}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n.state == state {
			return n.path, true
		}
		for _, ev := range m.def.EventsFrom(n.state) {
			e := m.def.Events[ev]
			if !slices.Contains(e.By, portal.RoleApplicant) && !slices.Contains(e.By, "street_clerk") {
				continue
			}
			if !seen[e.To] {
				seen[e.To] = true
				queue = append(queue, node{e.To, append(slices.Clone(n.path), ev)})
			}
		}
	}
	return nil, false
}

// eventBody is a valid body for an event: its required inputs filled in.
func (m *matrix) eventBody(event string) map[string]any {
	b := map[string]any{}
	for _, req := range m.def.Events[event].Requires {
		switch req {
		case workflow.RequireReason:
			b["reason"] = "材料不全，请补充"
		case workflow.RequireItems:
			b["items"] = []string{"photo"}
		}
	}
	return b
}

var eventPathRE = regexp.MustCompile(`/events/([a-z_]+)$`)

// stateFor is the state the case of a row must be in: the first state its
// event fires from, a draft for editing, else submitted.
func (m *matrix) stateFor(r matrixRow) string {
	if ev := eventPathRE.FindStringSubmatch(r.Path); ev != nil {
		if e, ok := m.def.Events[ev[1]]; ok && len(e.From) > 0 {
			return e.From[0]
		}
	}
	if strings.Contains(r.Path, "/edit") || strings.HasSuffix(r.Path, "/form") {
		return m.def.Initial
	}
	return "submitted"
}

// pattern turns a table path into the fiber route it should match.
func (m *matrix) pattern(path string) (string, error) {
	path, _, _ = strings.Cut(path, "?")
	path = strings.ReplaceAll(path, "{no}", ":no")
	if ev := eventPathRE.FindStringSubmatch(path); ev != nil {
		if _, ok := m.def.Events[ev[1]]; !ok {
			return "", fmt.Errorf("event %q is not in workflows/residence-permit.yaml", ev[1])
		}
		path = strings.TrimSuffix(path, ev[1]) + ":event"
	}
	return path, nil
}

// coverage checks the table against the app's routes: every row names a
// route that exists, every API route and every page of a case has a row for
// each actor, and no pair is listed twice.
func (m *matrix) coverage(rows []matrixRow) (problems []string, bad map[int]bool) {
	bad = map[int]bool{}
	exists := map[string]bool{}
	var want []string
	for _, rt := range m.p.Server.App().GetRoutes(true) {
		if rt.Method == http.MethodHead || rt.Method == http.MethodConnect || rt.Method == http.MethodTrace {
			continue
		}
		exists[rt.Method+" "+rt.Path] = true
		if !strings.HasPrefix(rt.Path, "/api/v1/") && !strings.Contains(rt.Path, ":no") {
			continue
		}
		path := strings.ReplaceAll(rt.Path, ":no", "{no}")
		if rt.Path == "/api/v1/audit" {
			path += "?case_no={no}"
		}
		if strings.HasSuffix(path, "/:event") {
			for _, ev := range m.def.EventNames() {
				want = append(want, rt.Method+" "+strings.TrimSuffix(path, ":event")+ev)
			}
			continue
		}
		want = append(want, rt.Method+" "+path)
	}
	have := map[string]int{}
	for _, r := range rows {
		have[r.route()+"\x00"+r.Actor]++
		if !slices.Contains(matrixActors, r.Actor) {
			problems = append(problems, fmt.Sprintf("line %d: unknown actor %q", r.Line, r.Actor))
			bad[r.Line] = true
		}
		pat, err := m.pattern(r.Path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("line %d: %s: %v", r.Line, r.route(), err))
			bad[r.Line] = true
		} else if !exists[r.Method+" "+pat] {
			problems = append(problems, fmt.Sprintf("line %d: %s: no such route in server.go", r.Line, r.route()))
			bad[r.Line] = true
		}
	}
	slices.Sort(want)
	for _, route := range slices.Compact(want) {
		for _, a := range matrixActors {
			switch have[route+"\x00"+a] {
			case 0:
				problems = append(problems, fmt.Sprintf("missing row: %s,%s", route, a))
			case 1:
			default:
				problems = append(problems, fmt.Sprintf("duplicate rows: %s,%s", route, a))
			}
		}
	}
	return problems, bad
}

// request sends a row's request as actor: JSON bodies for the API, forms
// with the CSRF token for pages, the bearer token for the system account.
func (m *matrix) request(c *testkit.Client, r matrixRow, actor, no string) *testkit.Response {
	path := strings.ReplaceAll(r.Path, "{no}", no)
	var headers []string
	if actor == "system" {
		headers = append(headers, "Authorization", "Bearer "+m.token)
	}
	api := strings.HasPrefix(path, "/api/")
	if r.Method == http.MethodGet || r.Method == http.MethodDelete {
		return c.Do(r.Method, path, nil, headers...)
	}
	if !api {
		f := url.Values{}
		switch {
		case actor == "anonymous":
			f.Set("_csrf", m.preTok)
		case c.CSRF != "":
			f.Set("_csrf", c.CSRF)
		}
		switch {
		case strings.HasSuffix(path, "/edit"):
			f.Set("service", "residence-permit")
			for k, v := range testkit.ResidenceForm("address", "海陵区东进东路20号") {
				f.Set(k, v)
			}
		case eventPathRE.MatchString(path):
			for k, v := range m.eventBody(eventPathRE.FindStringSubmatch(path)[1]) {
				switch v := v.(type) {
				case string:
					f.Set(k, v)
				case []string:
					f[k] = v
				}
			}
		}
		return c.Do(r.Method, path, f.Encode(), append(headers, "Content-Type", "application/x-www-form-urlencoded")...)
	}
	var body any = map[string]any{}
	switch {
	case path == "/api/v1/accounts":
		id, mobile := m.ids.next()
		body = map[string]string{"name": "新用户", "id_number": id, "mobile": mobile, "password": testkit.Password}
	case path == "/api/v1/session":
		if actor == "system" {
			body = map[string]string{"login": "registry", "password": m.token}
		} else {
			login := m.logins[actor]
			b := map[string]string{"login": login, "password": testkit.Password}
			if m.p.TOTPSecret(login) != "" {
				b["otp"] = m.p.OTP(m.t, login)
			}
			body = b
		}
	case path == "/api/v1/cases":
		body = map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()}
	case strings.HasSuffix(path, "/form"):
		body = map[string]any{"form": testkit.ResidenceForm("address", "海陵区东进东路20号")}
	case eventPathRE.MatchString(path):
		body = m.eventBody(eventPathRE.FindStringSubmatch(path)[1])
	}
	return c.Do(r.Method, path, body, headers...)
}

// deniedRows counts the denied entries of a case in the audit trail.
func (m *matrix) deniedRows(no string) int {
	return m.p.Count(m.t, "SELECT count(*) FROM audit_log WHERE object = $1 AND result = 'denied'", "case:"+no)
}

// run runs one row and returns what differs from the table, if anything.
func (m *matrix) run(r matrixRow) []string {
	c := m.clients[r.Actor]
	if strings.HasSuffix(r.Path, "/session") && r.Method != http.MethodGet && r.Actor != "system" {
		c = m.freshClient(r.Actor) // logging in or out ends the browser's session
	}
	no := ""
	if strings.Contains(r.Path, "{no}") {
		st := m.stateFor(r)
		if r.Method == http.MethodGet || strings.HasSuffix(r.Path, "/reveal") {
			if m.shared[st] == "" {
				m.shared[st] = m.caseIn(st)
			}
			no = m.shared[st]
		} else {
			no = m.caseIn(st) // a request that may change the case gets its own
		}
	}
	before := 0
	if no != "" {
		before = m.deniedRows(no)
	}
	got := m.request(c, r, r.Actor, no)
	where := fmt.Sprintf("line %d: %s as %s", r.Line, r.route(), r.Actor)
	if got.Status != r.Want {
		return []string{fmt.Sprintf("%s: got %d, want %d: %s", where, got.Status, r.Want, gist(got))}
	}
	if no == "" || r.Actor == "anonymous" || (got.Status != http.StatusNotFound && got.Status != http.StatusForbidden) {
		return nil
	}
	var out []string
	if after := m.deniedRows(no); after <= before {
		out = append(out, fmt.Sprintf("%s: refused with %d but not audited as denied", where, got.Status))
	}
	if got.Status == http.StatusNotFound {
		missing := no[:len(no)-6] + "999999"
		ref := m.request(c, r, r.Actor, missing)
		a, b := sameBody(got, no), sameBody(ref, missing)
		if ref.Status != http.StatusNotFound || a != b {
			out = append(out, fmt.Sprintf("%s: out of reach is told apart from a case that does not exist (%d):\n  out of reach: %.300s\n  no such case: %.300s",
				where, ref.Status, a, b))
		}
	}
	return out
}

var titleRE = regexp.MustCompile(`<title>([^<]*)</title>`)

// gist is the part of a response that says what happened: a page's title,
// or the start of a JSON body.
func gist(r *testkit.Response) string {
	if m := titleRE.FindStringSubmatch(r.Text()); m != nil {
		return "page " + strings.TrimSpace(m[1])
	}
	if len(r.Body) > 200 {
		return string(r.Body[:200]) + "…"
	}
	return r.Text()
}

// sameBody is a response body with the parts that must differ between two
// requests (request id, case number) replaced by placeholders.
func sameBody(r *testkit.Response, no string) string {
	s := r.Text()
	if rid := r.Header.Get("X-Request-Id"); rid != "" {
		s = strings.ReplaceAll(s, rid, "{request_id}")
	}
	return strings.ReplaceAll(s, no, "{case_no}")
}

// TestAuthzMatrix runs testdata/authz_matrix.csv: every route of the API and
// every page of a case, as each of twelve actors, against one portal.
func TestAuthzMatrix(t *testing.T) {
	rows := loadMatrix(t, "testdata/authz_matrix.csv")
	m := newMatrix(t)
	problems, bad := m.coverage(rows)
	if len(problems) > 0 {
		t.Errorf("testdata/authz_matrix.csv does not match the routes of server.go (%d problems):\n%s",
			len(problems), strings.Join(problems, "\n"))
	}
	var mismatches []string
	for _, r := range rows {
		if bad[r.Line] {
			continue // reported above; there is nothing to send
		}
		mismatches = append(mismatches, m.run(r)...)
	}
	if len(mismatches) > 0 {
		t.Errorf("%d of %d rows of testdata/authz_matrix.csv do not hold:\n%s", len(mismatches), len(rows), strings.Join(mismatches, "\n"))
	}
}

// idGen makes valid, unused resident ID numbers (GB 11643 check digit) and
// mobile numbers for registrations.
type idGen struct{ n int }

func newIDGen() *idGen { return &idGen{} }

func (g *idGen) next() (id, mobile string) {
	g.n++
	return validIDNumber(fmt.Sprintf("32120219920304%03d", g.n%1000)), fmt.Sprintf("1370000%04d", g.n)
}

// validIDNumber appends the check character to 17 digits.
func validIDNumber(first17 string) string {
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * weights[i]
	}
	return first17 + string("10X98765432"[sum%11])
}
