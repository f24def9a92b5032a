package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"tzportal/portal/testkit"
)

// loadOpenAPI fetches GET /api/v1/openapi.json without a login and loads
// and validates it with kin-openapi. kin-openapi (v0.153.0) reads the
// "openapi" field: for 3.1 documents Validate checks the 3.1 forms (type
// arrays, const, contentMediaType, jsonSchemaDialect) and openapi3filter
// validates values with its JSON Schema 2020-12 validator.
func loadOpenAPI(t *testing.T, p *testkit.Portal) *openapi3.T {
	t.Helper()
	r := p.NewClient(t).Do("GET", "/api/v1/openapi.json", nil)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/v1/openapi.json: %d %s %.200s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(r.Body)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q: want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableMultiError()); err != nil {
		t.Fatalf("the document is not valid OpenAPI 3.1:\n%v", err)
	}
	return doc
}

var fiberParamRE = regexp.MustCompile(`:[a-z_]+`)

// appRoutes are the app's /api/v1 routes as "METHOD /api/v1/cases/{case_no}"
// (fiber's :no and :case are the contract's case_no; HEAD goes with GET).
func appRoutes(p *testkit.Portal) map[string]bool {
	out := map[string]bool{}
	for _, r := range p.Server.App().GetRoutes(true) {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == http.MethodHead {
			continue
		}
		path := fiberParamRE.ReplaceAllStringFunc(r.Path, func(m string) string {
			if m == ":no" || m == ":case" {
				return "{case_no}"
			}
			return "{" + m[1:] + "}"
		})
		out[r.Method+" "+path] = true
	}
	return out
}

func docRoutes(doc *openapi3.T) map[string]bool {
	out := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out[method+" "+path] = true
		}
	}
	return out
}

// TestOpenAPIDocument: the document is valid OpenAPI 3.1, public, and
// names exactly the app's routes under /api/v1.
func TestOpenAPIDocument(t *testing.T) {
	p := testkit.Start(t, testkit.Backends[0], nil)
	doc := loadOpenAPI(t, p)
	app, documented := appRoutes(p), docRoutes(doc)
	if len(app) < 40 {
		t.Fatalf("only %d routes under /api/v1: %v", len(app), app)
	}
	for r := range app {
		if !documented[r] {
			t.Errorf("route %s is not in the OpenAPI document", r)
		}
	}
	for r := range documented {
		if !app[r] {
			t.Errorf("the OpenAPI document names %s, which the app does not have", r)
		}
	}
	// Forms and event inputs are the workflow files'.
	form := doc.Components.Schemas["Form.residence-permit"]
	if form == nil || form.Value.Properties["resided_since"] == nil {
		t.Errorf("the residence permit's form is not described: %v", form)
	}
	ev := doc.Paths.Find("/api/v1/cases/{case_no}/events/{event}").Post
	var inputs []string
	for _, b := range ev.RequestBody.Value.Content.Get("application/json").Schema.Value.AnyOf {
		for k := range b.Value.Properties {
			inputs = append(inputs, k)
		}
	}
	for _, in := range []string{"reason", "items", "version", "school"} {
		if !slices.Contains(inputs, in) {
			t.Errorf("event input %q is not in the events' bodies", in)
		}
	}
	// The replay can fail: a reply with a key the document does not name,
	// a status it does not list, an accepted request with an unknown input
	// and a case without its keys are each reported.
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	rp := &replay{router: router, seen: map[string]int{}, problems: map[string]int{}}
	send := func(method, path, body string, status int, reply string) {
		req, _ := http.NewRequest(method, "http://portal"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}}
		rp.check(req, []byte(body), resp, []byte(reply))
	}
	send("GET", "/api/v1/verify/key", "", 200, `{"alg":"Ed25519","kid":"k","public_key":"x","format":"raw"}`)
	if len(rp.problems) != 0 {
		t.Fatalf("a good reply was refused: %v", rp.problems)
	}
	send("GET", "/api/v1/cases/TZRP20261130000001/certificate", "", 200,
		`{"kind":"k","number":"n","status":"valid","issued_at":"","valid_until":"","verify_url":"","holder":"x"}`)
	send("GET", "/api/v1/verify/key", "", 418, `{}`)
	send("POST", "/api/v1/cases/TZRP20261130000001/events/submit", `{"colour":"red"}`, 200, `{}`)
	if len(rp.problems) != 4 {
		for p := range rp.problems {
			t.Log(p)
		}
		t.Errorf("want 4 problems, got %d", len(rp.problems))
	}

	// A problem document with its field errors.
	problem := doc.Paths.Find("/api/v1/cases").Post.Responses.Status(422).Value.Content.Get("application/problem+json")
	if problem == nil || problem.Schema.Value.Properties["errors"] == nil || problem.Schema.Value.Properties["request_id"] == nil {
		t.Errorf("422 of POST /api/v1/cases: no problem document with errors: %v", problem)
	}
}

// replay validates each /api/v1 request and response that passes through
// it against the document, and counts the operations it saw.
type replay struct {
	next   http.RoundTripper
	router routers.Router

	mu       sync.Mutex
	seen     map[string]int // "METHOD /path" of the document → requests
	problems map[string]int // problem → times
}

func (rp *replay) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasPrefix(req.URL.Path, "/api/v1/") {
		return rp.next.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := rp.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(out))
	if err != nil {
		return resp, nil
	}
	rp.check(req, body, resp, out)
	return resp, nil
}

func (rp *replay) check(req *http.Request, body []byte, resp *http.Response, out []byte) {
	what := req.Method + " " + req.URL.Path
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := rp.router.FindRoute(r)
	if err != nil {
		rp.note(fmt.Sprintf("%s → %d: no operation in the document: %v", what, resp.StatusCode, err))
		return
	}
	op := req.Method + " " + route.Path
	rp.mu.Lock()
	rp.seen[op]++
	rp.mu.Unlock()
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	// A request the server refused may break the document's rules (that
	// is what the test sent it for); one it accepted must keep them.
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && resp.StatusCode < 400 {
		rp.note(fmt.Sprintf("%s (%s) → %d: request: %v", op, what, resp.StatusCode, oneLine(err)))
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(out)), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), rin); err != nil {
		rp.note(fmt.Sprintf("%s (%s) → %d: response: %v [%.300s]", op, what, resp.StatusCode, oneLine(err), out))
	}
}

func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 3000 {
		s = s[:3000] + "…"
	}
	return s
}

func (rp *replay) note(p string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.problems[p]++
}

// replayed are the end-to-end tests whose API traffic TestOpenAPIReplay
// checks against the document.
var replayed = []struct {
	name string
	test func(*testing.T)
}{
	{"Catalogue", testCatalogue},
	{"ResidencePermitJourney", TestResidencePermitJourney},
	{"ReachAndPermissions", TestReachAndPermissions},
	{"DraftsAreTheApplicantsOwn", TestDraftsAreTheApplicantsOwn},
	{"BadFieldNamedInBothLanguages", TestBadFieldNamedInBothLanguages},
	{"IdempotentCreate", TestIdempotentCreate},
	{"WorklistPages", TestWorklistPages},
	{"LogoutKillsTheSession", TestLogoutKillsTheSession},
	{"HousingSecurity", TestHousingSecurity},
	{"HousingDraw", TestHousingDraw},
	{"SchoolEnrollment", TestSchoolEnrollment},
	{"HukouTransferAcrossRegions", TestHukouTransferAcrossRegions},
	{"HukouWithinTaizhou", TestHukouWithinTaizhouSettlesAndCancelsThePermit},
	{"Materials", TestMaterials},
	{"NotificationsInTheInbox", TestNotificationsInTheInbox},
	{"CertificateVerifiedByAnyone", TestCertificateVerifiedByAnyone},
	{"PermitAfterIssue", TestPermitAfterIssue},
	{"AccessLog", TestAccessLog},
	{"AuditView", TestAuditView},
	{"Rating", TestRating},
	{"ReviewSampling", TestReviewSampling},
	{"StatsDashboard", TestStatsDashboard},
	{"Indicators", TestIndicators},
	{"DeadlineEscalation", TestDeadlineEscalation},
	{"AdminStaffAccounts", TestAdminStaffAccounts},
	{"AdminSystemTokens", TestAdminSystemTokens},
	{"AdminDivisions", TestAdminDivisions},
	{"AdminCalendar", TestAdminCalendar},
	{"BulkAccept", TestBulkAccept},
	{"BulkRefusals", TestBulkRefusals},
	{"ClaimRace", TestClaimRace},
	{"ClaimReleaseAssign", TestClaimReleaseAssign},
	{"TransferToTheRightOffice", TestTransferToTheRightOffice},
	{"AdminAPI", testAdminAPI},
}

// testAdminAPI calls the administration's JSON twins the admin tests above
// reach through the pages: read an account and the tree, add a staff
// member, grant and revoke, add a system and rotate its token, add a zone,
// add a housing unit (and the same code again) and withdraw it.
func testAdminAPI(t *testing.T) {
	p := testkit.Start(t, testkit.Backends[0], nil)
	p.MustStaff(t, "admin", "admin", "321200")
	admin := p.NewClient(t)
	admin.Login("admin")
	calls := []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "/api/v1/admin/accounts/admin", nil, 200},
		{"GET", "/api/v1/admin/divisions", nil, 200},
		{"POST", "/api/v1/admin/staff", map[string]string{"login": "wangli", "name": "王莉", "password": testkit.Password,
			"role": "street_clerk", "division": "321202001"}, 201},
		{"POST", "/api/v1/admin/accounts/wangli/grants", map[string]string{"role": "street_clerk", "division": "321202002"}, 200},
		{"POST", "/api/v1/admin/accounts/wangli/revoke", map[string]string{"role": "street_clerk", "division": "321202002"}, 200},
		{"POST", "/api/v1/admin/systems", map[string]string{"login": "registry2", "name": "户籍系统", "role": "origin_registry",
			"division": "321200"}, 201},
		{"POST", "/api/v1/admin/accounts/registry2/token", nil, 200},
		{"POST", "/api/v1/admin/divisions", map[string]string{"code": "321202990", "name": "测试统计区", "parent": "321202"}, 201},
		{"POST", "/api/v1/admin/housing-units", map[string]any{"code": "HL-A-101", "district": "321202", "kind": "public_rental",
			"address": "海陵区东进路1号101室", "area": 52.5, "rooms": 2}, 201},
		{"POST", "/api/v1/admin/housing-units", map[string]any{"code": "HL-A-101", "district": "321202", "kind": "public_rental",
			"address": "海陵区东进路1号101室", "area": 52.5, "rooms": 2}, 422},
		{"POST", "/api/v1/admin/housing-units/HL-A-101", map[string]string{"status": "withdrawn"}, 200},
		{"POST", "/api/v1/admin/housing-units/HL-A-101", map[string]string{"status": "withdrawn"}, 422},
		{"GET", "/api/v1/admin/housing-units?district=321202&status=withdrawn", nil, 200},
	}
	for _, c := range calls {
		if r := admin.Do(c.method, c.path, c.body); r.Status != c.want {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, r.Status, c.want, r.Body)
		}
	}
}

// testCatalogue reads what anyone may read, registers an applicant (and
// the same person again: 422, the ID number named), and reads the clerks' statistics: routes
// the journeys above do not call.
func testCatalogue(t *testing.T) {
	p := testkit.Start(t, testkit.Backends[0], nil)
	p.MustStaff(t, "sup", "supervisor", "321200")
	anon := p.NewClient(t)
	for _, path := range []string{"/api/v1/services", "/api/v1/divisions", "/api/v1/openapi.json"} {
		if r := anon.Do("GET", path, nil); r.Status != 200 {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
	a := testkit.Applicants[0]
	reg := map[string]string{"name": a.Name, "id_number": a.IDNumber, "mobile": a.Mobile, "password": testkit.Password}
	if r := anon.Do("POST", "/api/v1/accounts", reg); r.Status != 201 {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	if r := anon.Do("POST", "/api/v1/accounts", reg); r.Status != 422 || !strings.Contains(r.Text(), `"field":"id_number"`) {
		t.Errorf("register twice: %d %s", r.Status, r.Body)
	}
	sup := p.NewClient(t)
	sup.Login("sup")
	if r := sup.Do("GET", "/api/v1/stats/clerks", nil); r.Status != 200 {
		t.Errorf("GET /api/v1/stats/clerks: %d %s", r.Status, r.Body)
	}
}

// TestOpenAPIReplay runs end-to-end tests with their HTTP traffic passing
// through kin-openapi's openapi3filter: every /api/v1 request the server
// accepted and every response must be what the document says (route,
// parameters, body, status, problem documents).
func TestOpenAPIReplay(t *testing.T) {
	p := testkit.Start(t, testkit.Backends[0], nil)
	doc := loadOpenAPI(t, p)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range []string{"application/pdf", "image/jpeg", "image/png"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
	rp := &replay{next: http.DefaultTransport, router: router, seen: map[string]int{}, problems: map[string]int{}}
	// The test kit's clients use the default transport.
	http.DefaultTransport = rp
	t.Cleanup(func() { http.DefaultTransport = rp.next })
	for _, r := range replayed {
		t.Run(r.name, r.test)
	}
	var seen, unseen []string
	for r := range docRoutes(doc) {
		if rp.seen[r] > 0 {
			seen = append(seen, r)
		} else {
			unseen = append(unseen, r)
		}
	}
	sort.Strings(unseen)
	t.Logf("the replay exercised %d of %d documented operations; not exercised: %s", len(seen), len(seen)+len(unseen),
		strings.Join(unseen, ", "))
	var problems []string
	for p, n := range rp.problems {
		problems = append(problems, fmt.Sprintf("%s (×%d)", p, n))
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}
