package server_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"tzportal/portal"
	"tzportal/portal/housing"
	"tzportal/portal/lottery"
	"tzportal/portal/matching"
	"tzportal/portal/schooling"
	"tzportal/portal/testkit"
	"tzportal/portal/workflow"
)

// The school enrollment's part of the matrix's fixture: the reference data
// its cases need before they are handed in (schools, an open window), a
// past cohort — a list published and allocated two weeks before the matrix
// starts — for the rows that read one, and the bodies of the rows of its
// own routes (workflow.Endpoints, workflow.Screens).

// matrixSchoolsCSV are the schools of 海陵区 the service's example form asks
// for (2027, grade 1), with seats enough for every placement the rows make
// (a placement by hand needs a free seat); and one school of 2026, the year
// of the past cohort.
const matrixSchoolsCSV = `code,name,district,catchment,year,grade,seats,public
HL-CD-01,城东小学,321202,321202001,2027,1,1000,yes
HL-CD-02,城东第二小学,321202,321202001;321202002,2027,1,1000,yes
HL-FX-01,凤凰小学,321202,321202003,2027,1,1000,yes
HL-CD-01,城东小学,321202,321202001,2026,1,40,yes
`

// matrixSchoolDistrict is the district of the case under test (caseDivision's).
const matrixSchoolDistrict = "321202"

// matrixSeed is the tie-break seed of every cohort of the fixture and rows.
var matrixSeed = strings.Repeat("5eed", 10)

// matrixStart is testkit.Start's clock (Monday 2026-11-30 10:00 China
// time); the matrix's portal starts pastCohortLead earlier, so that the
// past cohort's appeal days are over when the rows begin at matrixStart.
var matrixStart = time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)

const pastCohortLead = 14 * 24 * time.Hour

// cohortActor is who moves cohorts in the fixture: the operator on the
// command line (schooling's CLI), trusted as the timers are.
var cohortActor = portal.Actor{System: "cli:matrix"}

// schoolingFixture is what the rows of the service's routes need.
type schoolingFixture struct {
	window       portal.EnrollmentWindow // 2027's, open on every day the matrix runs
	listID       int64                   // the past cohort's published list (2026, grade 1)
	allocationID int64                   // and its allocation
	drawID       int64                   // a housing draw, revealed (no one waitlisted yet)
}

// setupSchooling runs on a portal just started at matrixStart −
// pastCohortLead, before any account exists: it imports the schools, sets
// 2026's window (closed long ago) and publishes its list, moves the clock
// to matrixStart, allocates that list, and opens 2027's window around the
// matrix's days.
func setupSchooling(m *matrix) {
	t, p, ctx := m.t, m.p, context.Background()
	rows, err := schooling.ParseSchools(strings.NewReader(matrixSchoolsCSV), p.Authz.Divisions())
	if err != nil {
		t.Fatal(err)
	}
	if err := schooling.ImportSchools(ctx, p.Engine, cohortActor, rows); err != nil {
		t.Fatal(err)
	}
	if err := schooling.SetWindow(ctx, p.Engine, cohortActor, portal.EnrollmentWindow{District: matrixSchoolDistrict, Year: 2026,
		Opens: "2026-04-01", Closes: "2026-04-30"}); err != nil {
		t.Fatal(err)
	}
	past := schooling.CohortRequest{District: matrixSchoolDistrict, Year: 2026, Grade: "1", Commitment: matching.Commitment(matrixSeed)}
	list, err := schooling.Publish(ctx, p.Engine, cohortActor, past)
	if err != nil {
		t.Fatalf("past cohort: publish: %v", err)
	}
	p.Clock.Set(matrixStart)
	past.Commitment, past.Seed = "", matrixSeed
	alloc, _, err := schooling.Allocate(ctx, p.Engine, cohortActor, past)
	if err != nil {
		t.Fatalf("past cohort: allocate: %v", err)
	}
	m.school.listID, m.school.allocationID = list.ID, alloc.ID
	today := p.Clock.Now().In(p.Engine.Calendar.Zone)
	m.school.window = portal.EnrollmentWindow{District: matrixSchoolDistrict, Year: 2027,
		Opens: today.AddDate(0, -1, 0).Format(time.DateOnly), Closes: today.AddDate(0, 2, 0).Format(time.DateOnly)}
	if err := schooling.SetWindow(ctx, p.Engine, cohortActor, m.school.window); err != nil {
		t.Fatal(err)
	}
	// Housing draws: one revealed (its page, its JSON; a reveal again is
	// the officer's 409) and one open of another kind (a new draw of that
	// kind is the officer's 409).
	for i, kind := range []string{"shared_ownership", "affordable_rental"} {
		d, err := housing.CreateDraw(ctx, p.Engine, cohortActor, matrixDraw(kind))
		if err != nil {
			t.Fatalf("draw: %v", err)
		}
		if i == 0 {
			if _, err := housing.RevealDraw(ctx, p.Engine, cohortActor, d.ID, housing.RevealRequest{Seed: matrixSeed, BeaconValue: "01 02 03"}); err != nil {
				t.Fatalf("reveal: %v", err)
			}
			m.school.drawID = d.ID
		}
	}
}

// matrixDraw is a draw of kind in the matrix's district, committed to
// matrixSeed.
func matrixDraw(kind string) housing.DrawRequest {
	return housing.DrawRequest{District: matrixSchoolDistrict, Kind: kind, Units: []lottery.Unit{{Code: "A-101"}},
		Commitment: lottery.Commitment(matrixSeed), Beacon: "中国福利彩票双色球开奖号码"}
}

// childID is a fresh child's ID number for a school-enrollment form: a
// child is in one open application a year, so each case needs its own —
// born in 2020 (six or seven on 31 August 2027, as the age rule wants).
func (m *matrix) childID() string {
	m.children++
	n := m.children
	born := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n%360)
	return testkit.IDNumber(fmt.Sprintf("321202%s%03d", born.Format("20060102"), 100+n/360))
}

// cohortResults are what a cohort operation records in a case's result
// before its event fires, for the branch the setup path takes: an
// allocation names a school (assigned) or none (unassigned); the housing
// security's, an objection to file or a unit offered (housingCohortResult).
var cohortResults = map[string]func(event, to string) map[string]any{
	schooling.ServiceID: func(event, to string) map[string]any {
		switch {
		case event != "allocate":
			return nil
		case to == "assigned":
			return map[string]any{"school": "HL-CD-01", "school_name": "城东小学"}
		}
		return map[string]any{"school": nil}
	},
	housing.ServiceID: housingCohortResult,
}

// fireCohort moves one case along an edge whose event is a cohort event
// (cohort: true: refused on one case over HTTP), through the engine as a
// cohort of one, as the cohort operations do; it returns the case's state.
func (m *matrix) fireCohort(def *workflow.Definition, tc *testCase, ev edge) string {
	m.t.Helper()
	var res map[string]any
	if f := cohortResults[def.Service]; f != nil {
		res = f(ev.event, ev.to)
	}
	steps := []workflow.CohortStep{{CaseNo: tc.no, Result: res}}
	n, err := m.p.Engine.FireCohort(context.Background(), cohortActor, def.Service, ev.event, steps, 1,
		func(context.Context, portal.Tx, int) error { return nil })
	if err != nil || n != 1 {
		m.t.Fatalf("setting up %s: cohort event %s: moved %d: %v", tc.no, ev.event, n, err)
	}
	r := tc.owner.Get("/api/v1/cases/" + tc.no)
	if r.Status != 200 {
		m.t.Fatalf("setting up %s: read after %s: %d %s", tc.no, ev.event, r.Status, r.Body)
	}
	return r.JSON(m.t)["state"].(string)
}

// eventInputs are values of event inputs the generated bodies cannot make
// up (a choice, a number, a school's code), by service: an appeal's
// decision amends the points to a total no case has, a child is placed by
// hand in a school with seats to spare.
var eventInputs = map[string]map[string]any{
	schooling.ServiceID: {"outcome": "amended", "points": "99", "school": "HL-FX-01"},
	// An objection is dismissed, a refusal overturned on recheck (the
	// conditions upheld of resolve_objection and decide_recheck): the
	// case goes on.
	housing.ServiceID: {"upheld": "no"},
}

// serviceRoutes are the routes services mount beyond their cases
// (workflow.Endpoints under /api/v1, workflow.Screens), as fiber names them
// ("GET /api/v1/allocations/:id"), by the service that mounts them: their
// rows run once, for that service, and need no case.
func (m *matrix) serviceRoutes() map[string]string {
	out := map[string]string{}
	for _, ent := range m.p.Registry.Online() {
		if eps, ok := ent.Service.(workflow.Endpoints); ok {
			for _, ep := range eps.Endpoints(m.p.Engine) {
				out[ep.Method+" /api/v1"+ep.Path] = ent.ID
			}
		}
		if scr, ok := ent.Service.(workflow.Screens); ok {
			for _, sc := range scr.Screens(m.p.Engine) {
				out[sc.Method+" "+sc.Path] = ent.ID
			}
		}
	}
	return out
}

// serviceRowParams are the parameters of a row of a service's own route:
// {id} is the past cohort's allocation, or its published list; the housing
// security's are its case's (housingRowParams).
func (m *matrix) serviceRowParams(r matrixRow, tc *testCase) map[string]string {
	switch route := rowRoute(r); route {
	case "GET /api/v1/allocations/:id":
		return map[string]string{"id": strconv.FormatInt(m.school.allocationID, 10)}
	case "GET /schooling/lists/:id":
		return map[string]string{"id": strconv.FormatInt(m.school.listID, 10)}
	case "GET /api/v1/draws/:id", "POST /api/v1/draws/:id/reveal", "GET /draws/:id":
		return map[string]string{"id": strconv.FormatInt(m.school.drawID, 10)}
	}
	return m.housingRowParams(tc)
}

// serviceRowBody is a valid body for a row of a service's own route. The
// API's publication is of a year and grade with no list yet whose window
// has closed (2026, grade 7: the officer's 201); the page's, of 2027's,
// whose window is open (409). Both allocations ask for 2027's, whose list
// is not published (409). The admin's import and window are those of the
// fixture again (nothing changes).
func (m *matrix) serviceRowBody(path string) map[string]any {
	w := m.school.window
	if strings.HasPrefix(path, "/api/v1/draws/") && strings.HasSuffix(path, "/reveal") {
		return map[string]any{"seed": matrixSeed, "beacon_value": "01 02 03"}
	}
	switch path {
	case "/api/v1/enrollment-lists":
		return map[string]any{"district": matrixSchoolDistrict, "year": 2026, "grade": "7", "commitment": matching.Commitment(matrixSeed)}
	case "/api/v1/allocations":
		return map[string]any{"district": matrixSchoolDistrict, "year": 2027, "grade": "1", "seed": matrixSeed}
	case "/api/v1/draws":
		d := matrixDraw("affordable_rental")
		return map[string]any{"district": d.District, "kind": d.Kind, "units": d.Units, "commitment": d.Commitment, "beacon": d.Beacon}
	case "/schooling/office/publish":
		return map[string]any{"district": matrixSchoolDistrict, "year": "2027", "grade": "1", "commitment": matching.Commitment(matrixSeed)}
	case "/schooling/office/allocate":
		return map[string]any{"district": matrixSchoolDistrict, "year": "2027", "grade": "1", "seed": matrixSeed}
	case "/schooling/admin/schools":
		return map[string]any{"file": []byte(matrixSchoolsCSV)}
	case "/schooling/admin/window":
		return map[string]any{"district": w.District, "year": strconv.Itoa(w.Year), "opens": w.Opens, "closes": w.Closes}
	}
	if b := housingRowBody(path); b != nil {
		return b
	}
	return map[string]any{}
}
