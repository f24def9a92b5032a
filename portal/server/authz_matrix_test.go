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

// The authorization matrix has two parts. testdata/authz_matrix.csv holds
// the routes that are not workflow events, reviewed like code, and runs for
// every online service. The rows of the events are generated from every
// loaded workflow: each event × each state × each actor, through the API
// and the HTML forms, the status worked out from the workflow file by an
// oracle written here from the rules (DESIGN §5) — so a new service is
// covered the day its workflow file exists.

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

// matrixActors are the actors of the matrix, in its order. The owner is
// the applicant of the case under test (a new one for every case: an
// applicant has one open application of a service at a time).
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

// matrixSystem is the system account: the origin household registry.
var matrixSystem = [3]string{"registry", "origin_registry", "321200"}

// matrixBoth is one person holding a street grant and a district grant over
// the case's street: only such a person may fire both an event and one
// declared not_by_actor_of it, so the separation-of-duties rows need them.
// They are an actor of the generated event rows (the table's rows are for
// matrixActors).
var matrixBoth = struct {
	login  string
	grants [][2]string // role, division
}{"clerkofficer", [][2]string{{"street_clerk", "321202001"}, {"district_officer", "321202"}}}

// eventActors are the actors of the generated event rows.
var eventActors = append(slices.Clone(matrixActors), "both")

// caseDivision is where every case under test belongs: 海陵区 城东街道.
const caseDivision = "321202001"

// matrix is one portal with every actor logged in.
type matrix struct {
	t       *testing.T
	p       *testkit.Portal
	clients map[string]*testkit.Client
	logins  map[string]string // actor → login
	preTok  string            // the anonymous browser's pre-session form token
	token   string            // the system account's bearer token
	ids     *idGen
	shared  map[string]*testCase // service/state → a case for rows that change nothing
	taken   map[string]bool      // service/event/state edges an example's form does not take
	sod     map[string]int       // service/event → rows refused for separation of duties
	routes  map[string]string    // routes services mount beyond their cases → service (serviceRoutes)
	school  schoolingFixture     // the school enrollment's reference data and past cohort

	children int // child ID numbers made (childID)
	accounts int // accounts made for the administration's rows (adminRowParams)
	zones    int // zones added by them
}

// testCase is a case under test: its number, its owner, and who did what.
type testCase struct {
	no, service, state string
	owner              *testkit.Client
	did                map[string]string // event → actor who fired it
	last, lastBy       string            // the last event and who fired it
}

func newMatrix(t *testing.T, b testkit.Backend) *matrix {
	t.Helper()
	// The portal starts before matrixStart: the school enrollment's past
	// cohort is published then, and allocated once its appeal days are over.
	p := testkit.Start(t, b, testkit.NewClock(matrixStart.Add(-pastCohortLead)))
	m := &matrix{t: t, p: p, clients: map[string]*testkit.Client{}, logins: map[string]string{},
		ids: newIDGen(), shared: map[string]*testCase{}, taken: map[string]bool{}, sod: map[string]int{}}
	setupSchooling(m)
	m.routes = m.serviceRoutes()
	p.MustApplicant(t, testkit.Applicants[1])
	p.MustApplicant(t, testkit.Applicants[2])
	m.logins["other_applicant"] = testkit.Applicants[1].Mobile
	m.logins["anonymous"] = testkit.Applicants[2].Mobile // whom the anonymous login row logs in
	for actor, s := range matrixStaff {
		p.MustStaff(t, s[0], s[1], s[2])
		m.logins[actor] = s[0]
	}
	p.MustStaff(t, matrixBoth.login, matrixBoth.grants[0][0], matrixBoth.grants[0][1])
	for _, g := range matrixBoth.grants[1:] {
		if err := p.Accounts.Grant(context.Background(), portal.Actor{System: "test"}, matrixBoth.login, portal.Grant{Role: g[0], Division: g[1]}); err != nil {
			t.Fatal(err)
		}
	}
	m.logins["both"] = matrixBoth.login
	_, token, err := p.Accounts.AddSystem(context.Background(), portal.Actor{System: "test"}, matrixSystem[0], "迁出地户籍系统", matrixSystem[1], matrixSystem[2])
	if err != nil {
		t.Fatal(err)
	}
	m.token = token
	for _, a := range eventActors {
		c := p.NewClient(t)
		switch a {
		case "anonymous":
			m.preTok = testkit.FormToken(t, c.Get("/login").Text())
		case "system", "owner":
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
	if actor != "anonymous" && actor != "system" && actor != "owner" {
		c.Login(m.logins[actor])
	}
	return c
}

// roleActor is who fires events of a role while setting cases up.
var roleActor = map[string]string{portal.RoleApplicant: "owner", "street_clerk": "clerk", "district_officer": "officer", "origin_registry": "system"}

// setup says how a case under test is set up: by whom where they may (see
// newCase), for which event the row fires next, and whose steps to avoid
// where people may take another.
type setup struct {
	by    string // an actor who fires the setup's events wherever they may
	then  string // the event the row fires on the case, if it changes it
	avoid string // an actor whose events the path avoids where it can
	// owner applies instead of a new applicant (a case another one needs).
	owner *testkit.Client
}

// newCase makes a case of service in state: a new applicant applies with
// the service's example form, uploads the materials of its checklist, and
// the case is moved along the workflow's own events, each fired by an
// actor of a role that may — by o.by wherever they may (and separation of
// duties lets them), if set. A case bound for an acceptance with gaps (an
// event guarded by gaps_named on its way, or next) hands in its key items
// only, and its form needs a non-key item (gapForms); where the applicant
// may add files, they send what is missing before an event that needs
// every item (materials_all: the supplement).
func (m *matrix) newCase(service, state string, o setup) *testCase {
	m.t.Helper()
	def, _ := m.p.Engine.Definition(service)
	path, _ := m.pathTo(def, def.Initial, state, o.avoid)
	gaps := o.then != "" && gapEvent(def, o.then) || slices.ContainsFunc(path, func(e edge) bool { return gapEvent(def, e.event) })
	form := m.p.Example(m.t, service)
	if f := gapForms[service]; gaps && f != nil {
		f(m, form)
	}
	owner := o.owner
	if owner == nil {
		_, owner = m.p.NewApplicant(m.t, "申请人")
	}
	m.prerequisites(service, owner, form)
	tc := &testCase{service: service, owner: owner, did: map[string]string{}}
	r := owner.Do("POST", "/api/v1/cases", map[string]any{"service": service, "form": form})
	if r.Status != http.StatusCreated {
		m.t.Fatalf("create %s: %d %s", service, r.Status, r.Body)
	}
	doc := r.JSON(m.t)
	tc.no, tc.state = doc["case_no"].(string), doc["state"].(string)
	if len(def.Checklist) > 0 {
		if gaps {
			owner.AttachKey(tc.no)
		} else {
			owner.AttachAll(tc.no)
		}
	}
	misses := map[string]int{} // branches of later passes missed on this case (laterPasses)
	for tc.state != state {
		path, ok := m.pathTo(def, tc.state, state, o.avoid)
		if !ok {
			m.t.Fatalf("%s: state %s cannot be reached from %s with the example form", service, state, tc.state)
		}
		ev := path[0]
		if def.Events[ev.event].Cohort {
			// A cohort event moves a district's list, never one case over
			// HTTP: the setup moves the case as a cohort of one.
			got := m.fireCohort(def, tc, ev)
			tc.did[ev.event], tc.last, tc.lastBy = cohortActor.System, ev.event, cohortActor.System
			if got != ev.to {
				m.t.Fatalf("setting up %s in %s: cohort event %s led to %s, not %s", tc.no, state, ev.event, got, ev.to)
			}
			tc.state = got
			continue
		}
		by := ""
		for _, role := range def.Events[ev.event].By.From(tc.state) {
			if a, ok := roleActor[role]; ok {
				by = a
				break
			}
		}
		if o.by != "" && mayFire(def, o.by, ev.event, tc.state) && !separated(def, tc, o.by, ev.event) {
			by = o.by
		}
		m.supply(def, tc, ev.event)
		r := m.request(m.clientOf(tc, by), "POST", "/api/v1/cases/"+tc.no+"/events/"+ev.event, by, m.eventBody(def, ev.event), true)
		if r.Status != http.StatusOK {
			m.t.Fatalf("setting up %s in %s: %s by %s: %d %s", tc.no, state, ev.event, by, r.Status, r.Body)
		}
		tc.did[ev.event], tc.last, tc.lastBy = by, ev.event, by
		got := r.JSON(m.t)["state"].(string)
		if k := service + "/" + ev.event + "/" + tc.state + "/" + ev.to; got != ev.to {
			if misses[k] < laterPasses(def, k) {
				misses[k]++ // a branch taken on a later pass: go round again
			} else {
				m.taken[k] = true // the form chose another branch
			}
		}
		tc.state = got
	}
	if o.then != "" {
		m.supply(def, tc, o.then)
	}
	return tc
}

// gapEvent reports an event that accepts a case with items of its
// checklist missing (容缺受理): its guard gaps_named wants them named.
func gapEvent(def *workflow.Definition, event string) bool {
	return slices.Contains(def.Events[event].Guards, "gaps_named")
}

// gapForms change a service's example form so that its checklist needs a
// non-key item, which an acceptance with gaps leaves for later: a hukou
// transfer's kinship proof is one per family member (a fresh one each
// time: a person is in one open transfer at a time).
var gapForms = map[string]func(m *matrix, form map[string]any){
	"hukou-transfer": func(m *matrix, form map[string]any) {
		id, _ := m.ids.next()
		form["members"] = []any{member("spouse", "王芳", id)}
	},
}

// prerequisites give an applicant what a service's example form needs
// beyond itself: an endorsement or replacement needs the applicant's own
// residence permit (a replacement is due at any time; an endorsement only
// in the month before the anniversary); a school enrollment, a child of
// its own (one open application per child and year: the example's child
// is taken once handed in). Its schools and window are the fixture's
// (setupSchooling).
func (m *matrix) prerequisites(service string, owner *testkit.Client, form map[string]any) {
	m.t.Helper()
	switch service {
	case "school-enrollment":
		form["child_id_number"] = m.childID()
	case "permit-endorsement":
		rp := m.newCase("residence-permit", "approved", setup{owner: owner})
		res := owner.Get("/api/v1/cases/" + rp.no).JSON(m.t)["result"].(map[string]any)
		form["permit_no"], form["request"], form["replacement_reason"] = res["permit_no"], "replacement", "lost"
	}
}

// supply has the owner upload what the checklist still needs before event,
// when event needs every item (materials_all) and the owner may add files
// in the case's state (the supplement after an acceptance with gaps), and
// lets a deadline the event waits for pass.
func (m *matrix) supply(def *workflow.Definition, tc *testCase, event string) {
	m.t.Helper()
	if slices.Contains(def.Events[event].Guards, "materials_all") && def.States[tc.state].MaterialsEditable(portal.RoleApplicant) {
		tc.owner.AttachAll(tc.no)
	}
	// Staff may end a case for a missed deadline only once it has passed:
	// the fixture lets it pass (the timer's own firing is tested apart).
	if slices.Contains(def.Events[event].Guards, "deadline_passed") {
		if _, err := m.p.DB.SQL().Exec(`UPDATE cases SET due_at = created_at WHERE case_no = $1`, tc.no); err != nil {
			m.t.Fatal(err)
		}
	}
}

// sharedCase is a case of service in state for rows that change nothing
// (set up as o says, see newCase).
func (m *matrix) sharedCase(service, state string, o setup) *testCase {
	k := service + "/" + state + "/" + o.by + "/" + o.avoid
	if m.shared[k] == nil {
		m.shared[k] = m.newCase(service, state, setup{by: o.by, avoid: o.avoid})
	}
	return m.shared[k]
}

// forgetful is the case as if nobody had fired anything on it yet.
func (tc testCase) forgetful() *testCase {
	tc.did = nil
	return &tc
}

type edge struct{ event, to string }

// pathTo finds the shortest sequence of events from one state to another
// that the fixtures' actors can fire, leaving out branches the example
// form is known not to take, and the events only avoid may fire where
// there is a path without them.
func (m *matrix) pathTo(def *workflow.Definition, from, state, avoid string) ([]edge, bool) {
	if avoid != "" {
		if path, ok := m.pathAvoiding(def, from, state, avoid); ok {
			return path, true
		}
	}
	return m.pathAvoiding(def, from, state, "")
}

func (m *matrix) pathAvoiding(def *workflow.Definition, from, state, avoid string) ([]edge, bool) {
	type node struct {
		state string
		path  []edge
	}
	seen := map[string]bool{from: true}
	queue := []node{{state: from}}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n.state == state {
			return n.path, true
		}
		for _, ev := range def.EventsFrom(n.state) {
			e := def.Events[ev]
			if !slices.ContainsFunc(e.By.From(n.state), func(r string) bool { return roleActor[r] != "" && roleActor[r] != avoid }) {
				continue
			}
			for _, to := range e.To.States() {
				if !seen[to] && !m.taken[def.Service+"/"+ev+"/"+n.state+"/"+to] {
					seen[to] = true
					queue = append(queue, node{to, append(slices.Clone(n.path), edge{ev, to})})
				}
			}
		}
	}
	return nil, false
}

// eventBody is a valid body for an event: every input filled in.
func (m *matrix) eventBody(def *workflow.Definition, event string) map[string]any {
	b := map[string]any{}
	for _, in := range def.Events[event].Inputs {
		if v, ok := eventInputs[def.Service][in.Name]; ok {
			b[in.Name] = v
			continue
		}
		switch def.Inputs[in.Name].Type {
		case workflow.InputDate:
			b[in.Name] = m.p.Clock.Now().In(m.p.Engine.Calendar.Zone).Format("2006-01-02")
		case workflow.InputDivision:
			b[in.Name] = "321202002" // a transfer: the next street of the district
		case workflow.InputList:
			b[in.Name] = []string{def.Material[0]}
			if gapEvent(def, event) {
				// An acceptance with gaps names what may follow: the
				// checklist's non-key items.
				var later []string
				for _, it := range def.Checklist {
					if !it.Key {
						later = append(later, it.Item)
					}
				}
				b[in.Name] = later
			}
		default:
			b[in.Name] = "材料不全，请补充"
		}
	}
	return b
}

// clientOf is the browser of actor for a case (the owner is the case's own).
func (m *matrix) clientOf(tc *testCase, actor string) *testkit.Client {
	if actor == "owner" {
		if tc == nil {
			_, c := m.p.NewApplicant(m.t, "申请人")
			return c
		}
		return tc.owner
	}
	return m.clients[actor]
}

// request sends a request as actor: a JSON body for the API, a form with
// the CSRF token for pages, the bearer token for the system account.
func (m *matrix) request(c *testkit.Client, method, path, actor string, body map[string]any, api bool) *testkit.Response {
	var headers []string
	if actor == "system" {
		headers = append(headers, "Authorization", "Bearer "+m.token)
	}
	if method == http.MethodGet || method == http.MethodDelete {
		return c.Do(method, path, nil, headers...)
	}
	if file, ok := body["file"].([]byte); ok {
		// An upload: multipart, as the page's form and the API take it.
		fields := map[string]string{}
		for k, v := range body {
			if v, ok := v.(string); ok {
				fields[k] = v
			}
		}
		switch {
		case api:
		case actor == "anonymous":
			fields["_csrf"] = m.preTok
		case c.CSRF != "":
			fields["_csrf"] = c.CSRF
		}
		data, ctype := testkit.Multipart(m.t, fields, "file", "file.png", file)
		return c.Do(method, path, string(data), append(headers, "Content-Type", ctype)...)
	}
	if api {
		if body == nil {
			body = map[string]any{}
		}
		return c.Do(method, path, body, headers...)
	}
	f := url.Values{}
	switch {
	case actor == "anonymous":
		f.Set("_csrf", m.preTok)
	case c.CSRF != "":
		f.Set("_csrf", c.CSRF)
	}
	for k, v := range body {
		switch v := v.(type) {
		case string:
			f.Set(k, v)
		case []string:
			f[k] = v
		}
	}
	return c.Do(method, path, f.Encode(), append(headers, "Content-Type", "application/x-www-form-urlencoded")...)
}

// actorGrants returns the grants (role, division) of a staff or system
// actor; none for applicants and the anonymous.
func actorGrants(actor string) [][2]string {
	switch actor {
	case "system":
		return [][2]string{{matrixSystem[1], matrixSystem[2]}}
	case "both":
		return matrixBoth.grants
	}
	if g, ok := matrixStaff[actor]; ok {
		return [][2]string{{g[1], g[2]}}
	}
	return nil
}

// covers reports whether a grant on division reaches the case's street:
// the city (321200, the root of the tree) reaches all; a district or a
// street reaches the codes that start with its own.
func covers(division string) bool {
	return division == "321200" || strings.HasPrefix(caseDivision, division)
}

// readers are the roles that may see the cases of their divisions
// (policies/policy.csv: case read).
var readers = map[string]bool{"street_clerk": true, "district_officer": true, "supervisor": true, "origin_registry": true}

// mayFire is the oracle's "may actor fire event from state": a grant of
// theirs has a role in the event's by for that state and reaches the case.
func mayFire(def *workflow.Definition, actor, event, state string) bool {
	roles := def.Events[event].By.From(state)
	if actor == "owner" {
		return slices.Contains(roles, portal.RoleApplicant)
	}
	return slices.ContainsFunc(actorGrants(actor), func(g [2]string) bool { return covers(g[1]) && slices.Contains(roles, g[0]) })
}

// separated is the oracle's separation of duties: actor fired an event on
// the case that event is declared not_by_actor_of.
func separated(def *workflow.Definition, tc *testCase, actor, event string) bool {
	return slices.ContainsFunc(def.Events[event].NotByActorOf, func(earlier string) bool { return tc.did[earlier] == actor })
}

// sees is the oracle's "may actor see a case of def in state": its owner
// always; nobody else a private state; staff whose role reads cases in a
// division that covers it; a system only while the case waits on it, or
// when it moved it last.
func sees(def *workflow.Definition, tc *testCase, actor string) bool {
	st := def.States[tc.state]
	switch {
	case actor == "owner":
		return true
	case actor == "anonymous" || actor == "other_applicant" || st.Private:
		return false
	}
	if !slices.ContainsFunc(actorGrants(actor), func(g [2]string) bool { return readers[g[0]] && covers(g[1]) }) {
		return false
	}
	if actor != "system" || tc.lastBy == actor {
		return true
	}
	for _, ev := range def.EventsFrom(tc.state) {
		if mayFire(def, actor, ev, tc.state) {
			return true
		}
	}
	return false
}

// expect is the oracle's status for actor firing event on a case, through
// the API (api) or an HTML form.
func expect(def *workflow.Definition, tc *testCase, actor, event string, api bool) int {
	if actor == "system" && !api {
		return http.StatusForbidden // a token counts on the API only: a form post without a session fails its CSRF check
	}
	if actor == "anonymous" {
		if api {
			return http.StatusUnauthorized
		}
		return http.StatusSeeOther // to the login page
	}
	ev := def.Events[event]
	ok := http.StatusOK
	if !api {
		ok = http.StatusSeeOther // back to the case page
	}
	mayEver := slices.ContainsFunc(ev.From, func(st string) bool { return mayFire(def, actor, event, st) })
	switch {
	case actor == "system" && !mayEver:
		return http.StatusForbidden // a system fires its own events only, whatever the case
	case !sees(def, tc, actor):
		return http.StatusNotFound
	case !mayEver:
		return http.StatusForbidden
	case ev.Cohort:
		// It moves a district's whole list (the cohort operations), never
		// one case: refused to whoever may otherwise fire it, in any state.
		return http.StatusConflict
	case !slices.Contains(ev.From, tc.state) && ev.Idempotent && tc.last == event:
		return ok // the same inputs again (the rows send what the setup sent): answered as the first time
	case !slices.Contains(ev.From, tc.state):
		return http.StatusConflict
	case !mayFire(def, actor, event, tc.state):
		return http.StatusForbidden
	}
	if separated(def, tc, actor, event) {
		return http.StatusForbidden // separation of duties
	}
	if ev.Transfer == workflow.TransferBack {
		return http.StatusConflict // the rows' cases were never transferred: nothing to send back
	}
	return ok
}

// deniedRows counts the denied entries of a case in the audit trail.
func (m *matrix) deniedRows(no string) int {
	return m.p.Count(m.t, "SELECT count(*) FROM audit_log WHERE object = $1 AND result = 'denied'", "case:"+no)
}

// checkRefusal checks what a 403 or 404 must also be: audited as denied,
// and — for a 404 — told apart from a case that does not exist by nothing.
func (m *matrix) checkRefusal(where string, got *testkit.Response, no string, before int, again func(no string) *testkit.Response) []string {
	if got.Status != http.StatusNotFound && got.Status != http.StatusForbidden {
		return nil
	}
	var out []string
	if after := m.deniedRows(no); after <= before {
		out = append(out, fmt.Sprintf("%s: refused with %d but not audited as denied", where, got.Status))
	}
	if got.Status == http.StatusNotFound {
		missing := no[:len(no)-6] + "999999"
		ref := again(missing)
		a, b := sameBody(got, no), sameBody(ref, missing)
		if ref.Status != http.StatusNotFound || a != b {
			out = append(out, fmt.Sprintf("%s: out of reach is told apart from a case that does not exist (%d):\n  out of reach: %.300s\n  no such case: %.300s",
				where, ref.Status, a, b))
		}
	}
	return out
}

// runEvents fires every event of every online service from every state as
// every actor, API and HTML, and returns what differs from the oracle. The
// person with both grants does so twice: on the cases the others set up,
// and on cases they moved along themselves wherever they could (accepted at
// the street, so the district's decision is not theirs to take).
func (m *matrix) runEvents() (rows int, problems []string) {
	// The table's rows moved the clock on with every one-time code; the
	// person with both grants, who has none, logs in again.
	m.clients["both"].Login(m.logins["both"])
	for _, entry := range m.p.Registry.Online() {
		def := entry.Def
		for _, event := range def.EventNames() {
			for _, state := range def.StateNames() {
				for _, actor := range eventActors {
					setups := []string{""}
					if actor == "both" {
						setups = append(setups, actor)
					}
					for _, setupBy := range setups {
						for _, api := range []bool{true, false} {
							rows++
							problems = append(problems, m.runEvent(def, event, state, actor, setupBy, api)...)
						}
					}
				}
			}
		}
	}
	return rows, problems
}

func (m *matrix) runEvent(def *workflow.Definition, event, state, actor, setupBy string, api bool) []string {
	tc := m.sharedCase(def.Service, state, setup{by: setupBy})
	want := expect(def, tc, actor, event, api)
	if want == http.StatusOK || want == http.StatusSeeOther && actor != "anonymous" {
		tc = m.newCase(def.Service, state, setup{by: setupBy, then: event}) // the row changes its case
	}
	path := "/cases/" + tc.no + "/events/" + event
	if api {
		path = "/api/v1" + path
	}
	before := m.deniedRows(tc.no)
	c := m.clientOf(tc, actor)
	got := m.request(c, http.MethodPost, path, actor, m.eventBody(def, event), api)
	kind := "HTML"
	if api {
		kind = "API"
	}
	where := fmt.Sprintf("%s %s in %s as %s (%s)", def.Service, event, state, actor, kind)
	if setupBy != "" {
		where = fmt.Sprintf("%s %s in %s set up by %s as %s (%s)", def.Service, event, state, setupBy, actor, kind)
	}
	if got.Status != want {
		return []string{fmt.Sprintf("%s: got %d, want %d: %s", where, got.Status, want, gist(got))}
	}
	if def.Events[event].Cohort && want == http.StatusConflict && api {
		// Nor is it offered on the case to whoever may otherwise fire it.
		r := m.request(c, http.MethodGet, "/api/v1/cases/"+tc.no, actor, nil, true)
		if evs, _ := r.JSON(m.t)["allowed_events"].([]any); slices.Contains(evs, any(event)) {
			return []string{fmt.Sprintf("%s: the cohort event is in allowed_events: %v", where, evs)}
		}
	}
	if want == http.StatusForbidden && expect(def, tc.forgetful(), actor, event, api) != want {
		// Refused for what the actor did on the case before: the refusal
		// names separation of duties, on the API and on the page.
		m.sod[def.Service+"/"+event]++
		if api && got.JSON(m.t)["rule"] != "separation_of_duties" || !api && !strings.Contains(got.Text(), "职责分离") {
			return []string{fmt.Sprintf("%s: refused, but not for separation of duties: %s", where, gist(got))}
		}
	}
	if actor == "anonymous" || actor == "system" && !api {
		return nil
	}
	return m.checkRefusal(where, got, tc.no, before, func(no string) *testkit.Response {
		return m.request(c, http.MethodPost, strings.Replace(path, tc.no, no, 1), actor, m.eventBody(def, event), api)
	})
}

var eventPathRE = regexp.MustCompile(`/events/([a-z_]+)$`)

// routeParamRE and rowParamRE are a route's parameters (:no) and a row's
// ({no}).
var (
	routeParamRE = regexp.MustCompile(`:([a-z]+)`)
	rowParamRE   = regexp.MustCompile(`\{([a-z]+)\}`)
)

// certificateCancel ends the routes that revoke a case's certificate: who
// may is the workflow file's (certificate.cancel_by), so their rows are
// generated like the events'.
const certificateCancel = "/certificate/cancel"

// bulkEvents ends the routes of bulk events (/cases/events/:event): listed
// in the CSV, since what each case's result is is the generated rows'
// oracle (expect), checked on the one case each row sends.
const bulkEvents = "/cases/events/:event"

// bulkRow reports a CSV row of a bulk event, and the event it fires for
// def's case: its first bulk event, or accept (not bulk in that service:
// the case's result is 422, not_bulk).
func bulkRow(def *workflow.Definition, r matrixRow) (string, bool) {
	if !strings.HasSuffix(rowRoute(r), bulkEvents) {
		return "", false
	}
	for _, name := range def.EventNames() {
		if def.Events[name].Bulk {
			return name, true
		}
	}
	return "accept", true
}

// stateFor is the state the case of a CSV row must be in: a draft for
// editing (its form or its files), the first state that grants the
// application for its certificate, else the state a case is in once
// handed in.
func stateFor(def *workflow.Definition, r matrixRow) string {
	if strings.Contains(r.Path, "/edit") || strings.HasSuffix(r.Path, "/form") ||
		strings.Contains(r.Path, "/materials") && r.Method != http.MethodGet {
		return def.Initial
	}
	if strings.Contains(r.Path, "/certificate") || strings.Contains(r.Path, "{token}") || strings.Contains(r.Path, "/rating") {
		return grantedState(def) // a rating needs an ended case
	}
	for _, ev := range def.EventsFrom(def.Initial) {
		if def.HandsIn(ev) {
			return def.Events[ev].To.States()[0]
		}
	}
	return def.Initial
}

// rowRoute is the route of a row as fiber names it: its parameters as
// :name, without its query ("GET /api/v1/audit").
func rowRoute(r matrixRow) string {
	pat, _, _ := strings.Cut(rowParamRE.ReplaceAllString(r.Path, ":$1"), "?")
	return r.Method + " " + pat
}

// coverage checks the table against the app's routes: every row names a
// route that exists, every API route, every page of a case and every page
// a service mounts beyond its cases has a row for each actor (the event
// routes are generated), and no pair is listed twice. A row may add a
// query to its route (the case of an audit trail, the district and year
// of the schools).
func (m *matrix) coverage(rows []matrixRow) (problems []string, bad map[int]bool) {
	bad = map[int]bool{}
	exists := map[string]bool{}
	var want []string
	for _, rt := range m.p.Server.App().GetRoutes(true) {
		if rt.Method == http.MethodHead || rt.Method == http.MethodConnect || rt.Method == http.MethodTrace {
			continue
		}
		exists[rt.Method+" "+rt.Path] = true
		own := m.routes[rt.Method+" "+rt.Path] != ""
		bulk := strings.HasSuffix(rt.Path, bulkEvents)
		if !strings.HasPrefix(rt.Path, "/api/v1/") && !strings.Contains(rt.Path, ":no") && !own && !bulk ||
			strings.HasSuffix(rt.Path, "/:event") && !bulk || strings.HasSuffix(rt.Path, certificateCancel) {
			continue
		}
		want = append(want, rt.Method+" "+routeParamRE.ReplaceAllString(rt.Path, "{$1}"))
	}
	have := map[string]int{}
	for _, r := range rows {
		path, _, _ := strings.Cut(r.Path, "?")
		have[r.Method+" "+path+"\x00"+r.Actor]++
		switch {
		case !slices.Contains(matrixActors, r.Actor):
			problems = append(problems, fmt.Sprintf("line %d: unknown actor %q", r.Line, r.Actor))
			bad[r.Line] = true
		case eventPathRE.MatchString(r.Path), strings.HasSuffix(r.Path, certificateCancel):
			problems = append(problems, fmt.Sprintf("line %d: %s: event and certificate-cancel rows are generated from the workflows, not listed", r.Line, r.route()))
			bad[r.Line] = true
		case !exists[rowRoute(r)]:
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

// rowBody is a valid body for a CSV row's request.
func (m *matrix) rowBody(def *workflow.Definition, r matrixRow, actor, path string) map[string]any {
	api := strings.HasPrefix(path, "/api/")
	if m.routes[rowRoute(r)] != "" {
		return m.serviceRowBody(path)
	}
	if adminRow(r) {
		return m.adminRowBody(r, path)
	}
	switch {
	case path == "/api/v1/accounts":
		id, mobile := m.ids.next()
		return map[string]any{"name": "新用户", "id_number": id, "mobile": mobile, "password": testkit.Password}
	case path == "/api/v1/session":
		if actor == "system" {
			return map[string]any{"login": matrixSystem[0], "password": m.token}
		}
		login := m.logins[actor]
		b := map[string]any{"login": login, "password": testkit.Password}
		if m.p.TOTPSecret(login) != "" {
			b["otp"] = m.p.OTP(m.t, login)
		}
		return b
	case path == "/api/v1/cases":
		return map[string]any{"service": def.Service, "form": m.p.Example(m.t, def.Service)}
	case strings.HasSuffix(path, "/form"):
		return map[string]any{"form": m.p.Example(m.t, def.Service)}
	case strings.HasSuffix(path, "/materials") && r.Method == http.MethodPost:
		return map[string]any{"item": def.Material[0], "file": testkit.PNG(m.t, 8, 8)}
	case strings.HasSuffix(path, "/rating"):
		if api {
			return map[string]any{"score": 5, "comment": "办得很快"}
		}
		return map[string]any{"score": "5", "comment": "办得很快"}
	case strings.Contains(path, "/follow-up/") || strings.HasPrefix(path, "/oversight/ratings/"):
		return map[string]any{"note": "已电话回访申请人"}
	case strings.HasSuffix(path, "/edit") && !api:
		// The first page of the form, as its HTML form posts it.
		entry, _ := m.p.Registry.Get(def.Service)
		page := entry.Service.Pages()[0]
		b := map[string]any{"step": page.ID, "version": "1"} // a fresh draft
		ex := m.p.Example(m.t, def.Service)
		for _, f := range page.Fields {
			if v, ok := ex[f.Name]; ok {
				b[f.Name] = fmt.Sprint(v)
			}
		}
		return b
	}
	return map[string]any{}
}

// applies reports whether a CSV row is about something the service has:
// the rows of materials are for services with a checklist, those of
// certificates for services that issue one (another service's case
// answers 404 there, as for a case out of reach).
func applies(def *workflow.Definition, r matrixRow) bool {
	switch {
	case strings.Contains(r.Path, "/materials"):
		return len(def.Checklist) > 0
	case strings.Contains(r.Path, "/certificate"), strings.Contains(r.Path, "{token}"):
		return def.Certificate != nil
	}
	return true
}

// runRow runs one CSV row for a service and returns what differs.
// nextLink is a page's link back to itself (?next=<path>).
var nextLink = regexp.MustCompile(`next=[^"&]*`)

func (m *matrix) runRow(def *workflow.Definition, r matrixRow) []string {
	if !applies(def, r) {
		return nil
	}
	own := m.routes[rowRoute(r)] != "" // a service's own route: the case it is about, if any, is its own (serviceRowCase)
	var tc *testCase
	if own {
		tc = m.serviceRowCase(r)
	}
	if rowParamRE.MatchString(r.Path) && !own && !adminRow(r) {
		st := stateFor(def, r)
		// Moved along by people wherever people may: a system sees a case
		// it moved last, which is for the generated event rows.
		o := setup{avoid: "system"}
		if r.Method == http.MethodGet || strings.HasSuffix(r.Path, "/reveal") {
			tc = m.sharedCase(def.Service, st, o)
		} else {
			tc = m.newCase(def.Service, st, o) // a request that may change the case gets its own
		}
	}
	c := m.clientOf(tc, r.Actor)
	if strings.HasSuffix(r.Path, "/session") && r.Method != http.MethodGet && r.Actor != "system" {
		c = m.freshClient(r.Actor) // logging in or out ends the browser's session
		if r.Actor == "owner" {
			u, loggedIn := m.p.NewApplicant(m.t, "申请人")
			m.logins["owner"] = u.Mobile
			if r.Method == http.MethodDelete {
				c = loggedIn
			}
		}
	}
	no := ""
	if tc != nil && strings.Contains(r.Path, "{no}") {
		no = tc.no
	}
	params := m.rowParams(tc, r)
	if adminRow(r) {
		params = m.adminRowParams(r)
	}
	if own {
		params = m.serviceRowParams(r, tc)
	}
	if want, ok := deskExpect(def, tc, r); ok {
		// The desk's routes answer by who may work the case's state, which
		// differs by service: the rows say it for a residence permit, the
		// oracle for every service (and agrees with the rows there).
		if def.Service == "residence-permit" && want != r.Want {
			return []string{fmt.Sprintf("line %d: %s as %s: the oracle says %d", r.Line, r.route(), r.Actor, want)}
		}
		r.Want = want
	}
	bulkEvent, bulk := bulkRow(def, r)
	if bulk {
		params["event"] = bulkEvent
	}
	send := func(no string) *testkit.Response {
		path := strings.ReplaceAll(r.Path, "{no}", no)
		for k, v := range params {
			path = strings.ReplaceAll(path, "{"+k+"}", v)
		}
		body := m.rowBody(def, r, r.Actor, path)
		switch {
		case bulk && strings.HasPrefix(path, "/api/"):
			body = map[string]any{"case_nos": []string{tc.no}}
		case bulk:
			body = map[string]any{"case_no": tc.no} // the worklist's tick
		case strings.HasSuffix(r.Path, "/assign"):
			body = map[string]any{"login": deskAssignee(def, tc)}
		case strings.HasSuffix(r.Path, "/cases/filters"):
			body = map[string]any{"filter_name": "待受理", "state": "all"}
		}
		return m.request(c, r.Method, path, r.Actor, body, strings.HasPrefix(path, "/api/"))
	}
	before := 0
	if no != "" {
		before = m.deniedRows(no)
	}
	got := send(no)
	where := fmt.Sprintf("line %d: %s as %s (%s)", r.Line, r.route(), r.Actor, def.Service)
	if got.Status != r.Want {
		return []string{fmt.Sprintf("%s: got %d, want %d: %s", where, got.Status, r.Want, gist(got))}
	}
	if bulk && got.Status == http.StatusOK && strings.HasPrefix(r.Path, "/api/") {
		// The case's own result is what firing it alone would answer.
		want := http.StatusUnprocessableEntity // not_bulk in this service
		if def.Events[bulkEvent] != nil && def.Events[bulkEvent].Bulk {
			want = expect(def, tc, r.Actor, bulkEvent, true)
		}
		res, _ := got.JSON(m.t)["results"].([]any)
		if len(res) != 1 || res[0].(map[string]any)["status"] != float64(want) {
			return []string{fmt.Sprintf("%s: %s of the case: %v, want status %d", where, bulkEvent, res, want)}
		}
	}
	if own {
		if problems := m.serviceRowCheck(r, tc, got); len(problems) > 0 {
			return []string{fmt.Sprintf("%s: %s", where, strings.Join(problems, "; "))}
		}
	}
	if own && got.Status == http.StatusNotFound && params["id"] != "" {
		// Out of reach is told apart from one that does not exist by
		// nothing (but the request id: there is no case number to mask).
		path := strings.ReplaceAll(r.Path, "{id}", "999999")
		ref := m.request(c, r.Method, path, r.Actor, m.rowBody(def, r, r.Actor, path), strings.HasPrefix(path, "/api/"))
		// A page links its own path (the language switch's next=), which
		// names the id asked for: that link is left out.
		a, b := nextLink.ReplaceAllString(sameBody(got, "\x00"), "next="), nextLink.ReplaceAllString(sameBody(ref, "\x00"), "next=")
		if ref.Status != http.StatusNotFound || a != b {
			return []string{fmt.Sprintf("%s: out of reach is told apart from one that does not exist (%d):\n  out of reach: %.300s\n  no such one: %.300s",
				where, ref.Status, a, b)}
		}
	}
	if no == "" || r.Actor == "anonymous" || r.Actor == "system" && !strings.HasPrefix(r.Path, "/api/") {
		return nil // no one is logged in: nothing to audit against
	}
	return m.checkRefusal(where, got, no, before, send)
}

// rowParams are the values of a row's other parameters, read as the
// case's owner sees them: {id} is the case's first file (…/materials/{id})
// or the owner's newest notification (/notifications/{id}); {token} is the
// case's certificate's.
func (m *matrix) rowParams(tc *testCase, r matrixRow) map[string]string {
	m.t.Helper()
	out := map[string]string{}
	read := func(path string) map[string]any {
		res := tc.owner.Get(path)
		if res.Status != http.StatusOK {
			m.t.Fatalf("line %d: %s for the row: %d %s", r.Line, path, res.Status, res.Body)
		}
		return res.JSON(m.t)
	}
	first := func(doc map[string]any, list, key string) string {
		items, _ := doc[list].([]any)
		if len(items) == 0 {
			m.t.Fatalf("line %d: no %s for the row: %v", r.Line, list, doc)
		}
		switch v := items[0].(map[string]any)[key].(type) {
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		case string:
			return v
		}
		m.t.Fatalf("line %d: %s[0].%s: %v", r.Line, list, key, items[0])
		return ""
	}
	switch {
	case strings.Contains(r.Path, "/materials/{id}"):
		out["id"] = first(read("/api/v1/cases/"+tc.no+"/materials"), "items", "id")
	case strings.Contains(r.Path, "/notifications/{id}"):
		out["id"] = first(read("/api/v1/notifications"), "items", "id")
	}
	if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/rating") {
		// A rated case (each row its own: reads share cases, a case is rated once).
		if res := tc.owner.Do("POST", "/api/v1/cases/"+tc.no+"/rating", map[string]any{"score": 4}); res.Status != http.StatusCreated && res.Status != http.StatusConflict {
			m.t.Fatalf("line %d: a rating for the row: %d %s", r.Line, res.Status, res.Body)
		}
	}
	if strings.Contains(r.Path, "{step}") {
		// A follow-up's first step, on a case its applicant rated 非常不满意.
		out["step"] = "visit"
		if res := tc.owner.Do("POST", "/api/v1/cases/"+tc.no+"/rating", map[string]any{"score": 1}); res.Status != http.StatusCreated {
			m.t.Fatalf("line %d: a bad rating for the row: %d %s", r.Line, res.Status, res.Body)
		}
	}
	if strings.Contains(r.Path, "{report}") {
		out["report"] = "steps" // a dashboard's table (GET /api/v1/stats/{report}.csv)
	}
	if strings.Contains(r.Path, "{token}") {
		u, _ := read("/api/v1/cases/" + tc.no + "/certificate")["verify_url"].(string)
		out["token"] = u[strings.LastIndex(u, "/")+1:]
	}
	return out
}

// grantedState is the first state of def that grants the application.
func grantedState(def *workflow.Definition) string {
	for _, st := range def.StateNames() {
		if def.Outcome(st) == workflow.OutcomeGranted {
			return st
		}
	}
	return ""
}

// mayCancel is the oracle's "may actor revoke a certificate of def": a
// grant of theirs has a role of certificate.cancel_by and reaches the case.
func mayCancel(def *workflow.Definition, actor string) bool {
	return slices.ContainsFunc(actorGrants(actor), func(g [2]string) bool {
		return covers(g[1]) && slices.Contains(def.Certificate.CancelBy, g[0])
	})
}

// expectCancel is the oracle's status for actor revoking the certificate
// of a granted case, through the API (api) or the certificate page's form.
func expectCancel(def *workflow.Definition, tc *testCase, actor string, api bool) int {
	switch {
	case actor == "system" && !api:
		return http.StatusForbidden // a form post without a session fails its CSRF check
	case actor == "anonymous" && api:
		return http.StatusUnauthorized
	case actor == "anonymous":
		return http.StatusSeeOther // to the login page
	case !sees(def, tc, actor):
		return http.StatusNotFound
	case !mayCancel(def, actor):
		return http.StatusForbidden
	case api:
		return http.StatusOK
	}
	return http.StatusSeeOther // back to the certificate page
}

// runCancels revokes, as every actor of the table, API and HTML, the
// certificate of a granted case of every online service that issues one,
// and returns what differs from the oracle.
func (m *matrix) runCancels() (rows int, problems []string) {
	for _, entry := range m.p.Registry.Online() {
		def := entry.Def
		if def.Certificate == nil {
			continue
		}
		for _, actor := range matrixActors {
			for _, api := range []bool{true, false} {
				rows++
				problems = append(problems, m.runCancel(def, actor, api)...)
			}
		}
	}
	return rows, problems
}

func (m *matrix) runCancel(def *workflow.Definition, actor string, api bool) []string {
	o := setup{avoid: "system"}
	state := grantedState(def)
	tc := m.sharedCase(def.Service, state, o)
	want := expectCancel(def, tc, actor, api)
	if want == http.StatusOK || want == http.StatusSeeOther && actor != "anonymous" {
		tc = m.newCase(def.Service, state, o) // the row revokes its certificate
	}
	path := "/cases/" + tc.no + certificateCancel
	kind := "HTML"
	if api {
		path, kind = "/api/v1"+path, "API"
	}
	body := map[string]any{"reason": "持证人已离开泰州"}
	before := m.deniedRows(tc.no)
	c := m.clientOf(tc, actor)
	got := m.request(c, http.MethodPost, path, actor, body, api)
	where := fmt.Sprintf("%s certificate cancel in %s as %s (%s)", def.Service, state, actor, kind)
	if got.Status != want {
		return []string{fmt.Sprintf("%s: got %d, want %d: %s", where, got.Status, want, gist(got))}
	}
	if actor == "anonymous" || actor == "system" && !api {
		return nil
	}
	return m.checkRefusal(where, got, tc.no, before, func(no string) *testkit.Response {
		return m.request(c, http.MethodPost, strings.Replace(path, tc.no, no, 1), actor, body, api)
	})
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

// TestAuthzMatrix runs testdata/authz_matrix.csv for every online service,
// and every event of every workflow from every state, as each of twelve
// actors (and, for the events, one person holding a street and a district
// grant), against one portal of each backend.
func TestAuthzMatrix(t *testing.T) {
	rows := loadMatrix(t, "testdata/authz_matrix.csv")
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) { testAuthzMatrix(t, b, rows) })
}

func testAuthzMatrix(t *testing.T, b testkit.Backend, rows []matrixRow) {
	m := newMatrix(t, b)
	problems, bad := m.coverage(rows)
	if len(problems) > 0 {
		t.Errorf("testdata/authz_matrix.csv does not match the routes of server.go (%d problems):\n%s",
			len(problems), strings.Join(problems, "\n"))
	}
	var mismatches []string
	ran := 0
	for i, entry := range m.p.Registry.Online() {
		for _, r := range rows {
			if bad[r.Line] {
				continue // reported above; there is nothing to send
			}
			if own := m.routes[rowRoute(r)]; own != "" {
				if own != entry.ID {
					continue // a service's own route: its rows are that service's
				}
			} else if i > 0 && (!rowParamRE.MatchString(r.Path) || adminRow(r)) {
				// A route of no case (logging in, the verify key) is the
				// same for every service: once is enough, and logging in
				// again for each would meet the per-address login limit.
				continue
			}
			ran++
			mismatches = append(mismatches, m.runRow(entry.Def, r)...)
		}
	}
	n, more := m.runEvents()
	ran += n
	mismatches = append(mismatches, more...)
	nc, more := m.runCancels()
	ran, n = ran+nc, n+nc
	mismatches = append(mismatches, more...)
	for _, entry := range m.p.Registry.Online() {
		for _, name := range entry.Def.EventNames() {
			if len(entry.Def.Events[name].NotByActorOf) > 0 && m.sod[entry.ID+"/"+name] == 0 {
				t.Errorf("%s: %s is declared not_by_actor_of %v, but no generated row was refused for separation of duties",
					entry.ID, name, entry.Def.Events[name].NotByActorOf)
			}
		}
	}
	if len(mismatches) > 0 {
		t.Errorf("%d of %d rows of the authorization matrix do not hold:\n%s", len(mismatches), ran, strings.Join(mismatches, "\n"))
	}
	t.Logf("%d rows: %d from testdata/authz_matrix.csv × %d services, %d generated from the workflows (events, certificate cancel)", ran, len(rows), len(m.p.Registry.Online()), n)
}

// TestMatrixOracleCanFail proves the generated rows can fail: an event
// opened to a role the workflow does not name is caught.
func TestMatrixOracleCanFail(t *testing.T) {
	m := newMatrix(t, testkit.Backend{})
	rp, _ := m.p.Engine.Definition("residence-permit")
	tc := m.sharedCase("residence-permit", "submitted", setup{})
	// The oracle says a district officer may not accept a residence permit;
	// the portal agrees. Grant the permission behind the workflow's back,
	// and the row must fail.
	if got := expect(rp, tc, "officer", "accept", true); got != http.StatusForbidden {
		t.Fatalf("oracle: officer accept = %d, want 403", got)
	}
	if err := m.p.Authz.AddPolicies([][]string{{"district_officer", "*", "residence-permit", workflow.EventAction("accept", "submitted")}}); err != nil {
		t.Fatal(err)
	}
	if problems := m.runEvent(rp, "accept", "submitted", "officer", "", true); len(problems) == 0 {
		t.Error("a permission the workflow does not give went unnoticed")
	}
	// So can the generated rows revoking a certificate: a district officer
	// is not in the permit's certificate.cancel_by.
	if got := expectCancel(rp, m.sharedCase("residence-permit", grantedState(rp), setup{avoid: "system"}), "officer", true); got != http.StatusForbidden {
		t.Fatalf("oracle: officer cancels a permit = %d, want 403", got)
	}
	if err := m.p.Authz.AddPolicies([][]string{{"district_officer", "*", "residence-permit", workflow.CancelCertificateAction}}); err != nil {
		t.Fatal(err)
	}
	if problems := m.runCancel(rp, "officer", true); len(problems) == 0 {
		t.Error("a certificate revoked by a role its workflow does not name went unnoticed")
	}
}

// idGen makes valid, unused resident ID numbers (GB 11643 check digit) and
// mobile numbers for registrations.
type idGen struct{ n int }

func newIDGen() *idGen { return &idGen{} }

func (g *idGen) next() (id, mobile string) {
	g.n++
	return testkit.IDNumber(fmt.Sprintf("32120219920304%03d", g.n%1000)), fmt.Sprintf("1360000%04d", g.n)
}

// mayWork is the oracle's "may actor hold the case" (the desk): a staff
// member who may fire some event of its state, but a cohort's.
func mayWork(def *workflow.Definition, tc *testCase, actor string) bool {
	if actor == "system" || actor == "owner" {
		return false
	}
	return slices.ContainsFunc(def.EventsFrom(tc.state), func(ev string) bool {
		return !def.Events[ev].Cohort && mayFire(def, actor, ev, tc.state)
	})
}

// deskAssignee is the login an assignment row names: the first of the
// matrix's staff who may hold the case.
func deskAssignee(def *workflow.Definition, tc *testCase) string {
	for _, a := range []string{"clerk", "officer"} {
		if mayWork(def, tc, a) {
			return matrixStaff[a][0]
		}
	}
	return matrixStaff["clerk"][0]
}

// deskExpect is the oracle's status for a row of the desk's routes
// (claim, release, assign) on an open case: false for any other row.
func deskExpect(def *workflow.Definition, tc *testCase, r matrixRow) (int, bool) {
	path, api := r.Path, strings.HasPrefix(r.Path, "/api/")
	var kind string
	switch {
	case strings.HasSuffix(path, "/claim") && r.Method == http.MethodDelete, strings.HasSuffix(path, "/release"):
		kind = "release"
	case strings.HasSuffix(path, "/claim"):
		kind = "claim"
	case strings.HasSuffix(path, "/assign"):
		kind = "assign"
	default:
		return 0, false
	}
	ok := http.StatusOK
	switch {
	case !api:
		ok = http.StatusSeeOther // back to the case page
	case kind == "release":
		ok = http.StatusNoContent
	}
	switch {
	case r.Actor == "system" && !api:
		return http.StatusForbidden, true // no session: the form's CSRF check
	case r.Actor == "anonymous" && api:
		return http.StatusUnauthorized, true
	case r.Actor == "anonymous":
		return http.StatusSeeOther, true
	case !sees(def, tc, r.Actor):
		return http.StatusNotFound, true
	case r.Actor == "owner":
		return http.StatusForbidden, true // staff only
	case kind == "claim" && !mayWork(def, tc, r.Actor):
		return http.StatusForbidden, true
	case kind == "assign" && !slices.ContainsFunc(actorGrants(r.Actor), func(g [2]string) bool { return g[0] == "district_officer" && covers(g[1]) }):
		return http.StatusForbidden, true // policies/policy.csv: case assign
	}
	return ok, true
}
