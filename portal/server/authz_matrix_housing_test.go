package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tzportal/portal/housing"
	"tzportal/portal/lottery"
	"tzportal/portal/testkit"
	"tzportal/portal/workflow"
)

// The housing security's part of the matrix's fixture: what its cohort
// events carry when the setup moves a case as a cohort of one, the branch
// of a second decline, and the cases, bodies and checks of the rows of its
// own routes (the public notice and objections to it, the plan's
// indicator, a case's objections for its officers, the district housing
// officer's draw pages).

// matrixObjection is the objection of the fixture: the one a case held in
// objection review carries (its object event's step), and the body of the
// rows that raise one. Its contact is the objector's personal data: shown
// to the case's district officers and supervisors over them, never on
// anything public.
var matrixObjection = housing.Objection{Contact: "13912340000", Reason: "该户在城区另有住房，实际并不困难，请核实。"}

// matrixUnit is the unit a draw offers in the fixture (units are codes).
const matrixUnit = "A-101"

// housingCohortResult is what the housing security's cohort events carry:
// an objection raised during the notice (object: the objection is filed in
// the event's transaction, never a hold without its row), a unit offered
// (draw).
func housingCohortResult(event, to string) map[string]any {
	switch event {
	case "object":
		return housing.ObjectionStep(matrixObjection)
	case "draw":
		return map[string]any{"unit": matrixUnit}
	}
	return nil
}

// laterPasses is how many times a case goes round before an edge of key
// ("service/event/from/to") is taken: a household is removed from the
// waiting list (decline_offer → removed, the condition last_decline) by
// its declines.removal_at-th decline only, the ones before putting it back
// on the list. The setup draws and declines again instead of marking the
// branch as one the example form does not take. Any other edge: none.
func laterPasses(def *workflow.Definition, key string) int {
	if key != housing.ServiceID+"/decline_offer/offered/removed" {
		return 0
	}
	declines, _ := def.Settings["declines"].(map[string]any)
	n, _ := declines["removal_at"].(int)
	return n - 1
}

// housingStaffRoutes are the routes of a case's objections, for the
// officers who decide them.
var housingStaffRoutes = map[string]bool{
	"GET /api/v1/housing/cases/:no/objections": true,
	"GET /housing/cases/:no/objections":        true,
}

// housingObjectionRoutes raise an objection to a notice, without an
// account (the API, the notice page's form).
var housingObjectionRoutes = map[string]bool{
	"POST /api/v1/public-notices/:ref/objections": true,
	"POST /notices/:ref/objections":               true,
}

// housingDrawRoutes are the district housing officer's draw pages.
var housingDrawRoutes = map[string]bool{
	"GET /housing/draws":             true,
	"POST /housing/draws":            true,
	"GET /housing/draws/:id":         true,
	"POST /housing/draws/:id/reveal": true,
}

// housingPublicRoutes are the public notice and the plan's indicator.
var housingPublicRoutes = map[string]bool{
	"GET /api/v1/public-notices":              true,
	"GET /notices":                            true,
	"GET /notices/:ref":                       true,
	"GET /api/v1/indicators/housing-coverage": true,
}

// serviceRowCase is the case a row of a service's own route is about (nil
// for none): a housing case held by the fixture's objection for the rows
// of its objections, {no}; one on public notice for the public notice's,
// {ref} its result.notice_ref — shared by the reads, a new one for each
// objection raised. The objections are limited per address and minute,
// and every row comes from the same one: each objection row starts a new
// minute of the limits (the limit itself is housing_test.go's), so that a
// row says who may object, not how often.
func (m *matrix) serviceRowCase(r matrixRow) *testCase {
	route := rowRoute(r)
	o := setup{avoid: "system"}
	switch {
	case housingStaffRoutes[route]:
		return m.sharedCase(housing.ServiceID, "objection_review", o)
	case housingObjectionRoutes[route]:
		m.freshObjectionMinute()
		return m.newCase(housing.ServiceID, "public_notice", o)
	case route == "GET /notices/:ref", route == "GET /notices", route == "GET /api/v1/public-notices":
		return m.sharedCase(housing.ServiceID, "public_notice", o)
	}
	return nil
}

// objectionsRoute is the API route of objections as the server counts it
// per address (server.perMinute: "route-ip:" route ":" address).
const objectionsRoute = "POST /public-notices/:ref/objections"

// freshObjectionMinute starts a new minute of the objection limits: the
// page's count is per minute of the portal's clock, the API's a counter
// whose window is the session store's (Redis: real time), reset for the
// test client's address.
func (m *matrix) freshObjectionMinute() {
	m.t.Helper()
	m.p.Clock.Advance(time.Minute)
	if err := m.p.Failures.Reset(context.Background(), "route-ip:"+objectionsRoute+":127.0.0.1"); err != nil {
		m.t.Fatal(err)
	}
}

// housingRowParams are the parameters of a row of the housing security's
// own routes: {no} its case, {ref} the case's notice; of a route about no
// case (the officer's draw pages), {id} the fixture's revealed draw.
func (m *matrix) housingRowParams(tc *testCase) map[string]string {
	m.t.Helper()
	if tc == nil {
		return map[string]string{"id": strconv.FormatInt(m.school.drawID, 10)}
	}
	if tc.service != housing.ServiceID {
		return nil
	}
	out := map[string]string{"no": tc.no}
	if tc.state == "public_notice" {
		out["ref"] = m.noticeRef(tc)
	}
	return out
}

// noticeRef is the reference of a case's public notice, as its owner sees it.
func (m *matrix) noticeRef(tc *testCase) string {
	m.t.Helper()
	r := tc.owner.Get("/api/v1/cases/" + tc.no)
	res, _ := r.JSON(m.t)["result"].(map[string]any)
	ref, _ := res["notice_ref"].(string)
	if r.Status != http.StatusOK || ref == "" {
		m.t.Fatalf("%s on notice without a reference: %d %s", tc.no, r.Status, r.Body)
	}
	return ref
}

// housingRowBody is a valid body for a row of the housing security's own
// routes: the fixture's objection; the officer's draw forms, as the API's
// rows send them (a draw of a kind with one open: the officer's 409; the
// revealed draw revealed again: 409) — nil for any other path.
func housingRowBody(path string) map[string]any {
	switch {
	case strings.HasSuffix(path, "/objections") && (strings.HasPrefix(path, "/api/v1/public-notices/") || strings.HasPrefix(path, "/notices/")):
		return map[string]any{"contact": matrixObjection.Contact, "reason": matrixObjection.Reason}
	case path == "/housing/draws":
		d := matrixDraw("affordable_rental")
		return map[string]any{"district": d.District, "kind": d.Kind, "units": d.Units[0].Code, "commitment": d.Commitment, "beacon": d.Beacon}
	case strings.HasPrefix(path, "/housing/draws/") && strings.HasSuffix(path, "/reveal"):
		return map[string]any{"seed": matrixSeed, "beacon_value": "01 02 03"}
	}
	return nil
}

// serviceRowCheck checks what a row of a service's own route answered
// beyond its status: nothing public of the housing security shows a case
// number, the form's address or permit, or an objection (its contact, its
// reason); the notice lists the case on notice and offers its form; the
// officers who may read a case's objections see how to reach the objector;
// the draws' officer sees the fixture's draw listed with the form to
// create one, its page with its commitment, and a refused draw form's
// reason on the page (housingDrawCheck).
func (m *matrix) serviceRowCheck(r matrixRow, tc *testCase, got *testkit.Response) []string {
	route := rowRoute(r)
	if housingDrawRoutes[route] {
		return m.housingDrawCheck(route, r.Actor, got)
	}
	if !housingPublicRoutes[route] && !housingObjectionRoutes[route] && !housingStaffRoutes[route] {
		return nil
	}
	var out []string
	body := got.Text()
	if !housingStaffRoutes[route] {
		secrets := []string{"TZHS", "东进东路", "JZ3212022025000077", matrixObjection.Contact, matrixObjection.Reason}
		if tc != nil {
			secrets = append(secrets, tc.no)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(body, s) {
				out = append(out, fmt.Sprintf("a public answer shows %q: %s", s, gist(got)))
			}
		}
	}
	if got.Status != http.StatusOK {
		return out
	}
	switch {
	case route == "GET /api/v1/public-notices" || route == "GET /notices":
		if ref := m.noticeRef(tc); !strings.Contains(body, ref) {
			out = append(out, fmt.Sprintf("the notice does not list %s (notice %s)", tc.no, ref))
		}
	case route == "GET /notices/:ref":
		if ref := m.noticeRef(tc); !strings.Contains(body, `action="/notices/`+ref+`/objections"`) {
			out = append(out, "the notice's page has no form to object")
		}
	case housingStaffRoutes[route]:
		if !strings.Contains(body, matrixObjection.Contact) || !strings.Contains(body, matrixObjection.Reason) {
			out = append(out, fmt.Sprintf("the case's objections do not show the objection: %s", gist(got)))
		}
	}
	return out
}

// housingDrawCheck checks what the officer's draw pages answered: the
// list links the fixture's draw for its district's officer only, and
// offers the form to create one; the draw's page shows its commitment and
// links its public page; a refused form (409) is the page again with the
// reason, not an error page.
func (m *matrix) housingDrawCheck(route, actor string, got *testkit.Response) []string {
	id := strconv.FormatInt(m.school.drawID, 10)
	body := got.Text()
	var want []string
	switch {
	case got.Status == http.StatusOK && route == "GET /housing/draws":
		want = []string{`action="/housing/draws"`}
		link := `href="/housing/draws/` + id + `"`
		if actor == "officer" {
			want = append(want, link)
		} else if strings.Contains(body, link) {
			return []string{fmt.Sprintf("another district's draw is listed: %s", gist(got))}
		}
	case got.Status == http.StatusOK && route == "GET /housing/draws/:id":
		want = []string{lottery.Commitment(matrixSeed), `href="/draws/` + id + `"`}
	case got.Status == http.StatusConflict && route == "POST /housing/draws":
		want = []string{`class="error-summary"`, `action="/housing/draws"`}
	case got.Status == http.StatusConflict && route == "POST /housing/draws/:id/reveal":
		want = []string{`class="error-summary"`, `href="/draws/` + id + `"`}
	}
	var out []string
	for _, s := range want {
		if !strings.Contains(body, s) {
			out = append(out, fmt.Sprintf("the draw page does not show %s: %s", s, gist(got)))
		}
	}
	return out
}
