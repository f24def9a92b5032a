package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/matching"
	"tzportal/portal/schooling"
	"tzportal/portal/testkit"
)

// schoolsCSV are four primary schools of 海陵区 for 2027: 城东 serves 城东
// street, 城东二小 城东 and 城西, the two 凤凰 schools 城南; one grade-1
// seat each but 凤凰小学, which has none this year.
const schoolsCSV = `code,name,district,catchment,year,grade,seats,public
HL-CD-01,城东小学,321202,321202001,2027,1,1,yes
HL-CD-01,城东小学,321202,321202001,2027,7,40,yes
HL-CD-02,城东第二小学,321202,321202001;321202002,2027,1,1,yes
HL-FX-01,凤凰小学,321202,321202003,2027,1,0,yes
HL-FX-02,凤凰第二小学,321202,321202003,2027,1,1,yes
`

// schooling sets up a district: schools, a window from 10 to 31 December
// 2026 (the test clock starts on 30 November 2026).
func schoolingSetup(t *testing.T, p *testkit.Portal) {
	t.Helper()
	rows, err := schooling.ParseSchools(strings.NewReader(schoolsCSV), p.Authz.Divisions())
	if err != nil {
		t.Fatal(err)
	}
	admin := portal.Actor{System: "cli:test"}
	ctx := context.Background()
	if err := schooling.ImportSchools(ctx, p.Engine, admin, rows); err != nil {
		t.Fatal(err)
	}
	if err := schooling.SetWindow(ctx, p.Engine, admin, portal.EnrollmentWindow{District: "321202", Year: 2027,
		Opens: "2026-12-10", Closes: "2026-12-31"}); err != nil {
		t.Fatal(err)
	}
}

// childForm is a grade-1 application for a child born on birth (YYYYMMDD).
func childForm(name, birth, division string, months int, migrated bool, prefs ...string) map[string]any {
	return map[string]any{
		"year": 2027, "child_name": name, "child_id_number": testkit.IDNumber("321202" + birth + "051"),
		"grade": "1", "guardian_basis": "insurance", "insurance_months": months, "residence_permit_no": "JZ3212022025000077",
		"housing": "rented", "division": division, "address": "海陵区东进东路18号", "preferences": prefs,
		"family_migrated": migrated,
	}
}

func TestSchoolEnrollment(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		p := j.p
		p.MustStaff(t, "gaogang", "district_officer", "321203")
		other := p.NewClient(t)
		other.Login("gaogang")
		schoolingSetup(t, p)

		// The guide says when to apply; the public reference data.
		if page := p.NewClient(t).Get("/services/school-enrollment").Text(); !strings.Contains(page, "2026-12-31") {
			t.Error("the guide does not show the window")
		}
		r := p.NewClient(t).Get("/api/v1/schools?district=321202&year=2027")
		items, _ := r.JSON(t)["items"].([]any)
		if r.Status != 200 || len(items) != 4 {
			t.Fatalf("schools: %d %s", r.Status, r.Body)
		}
		if s := items[0].(map[string]any); s["code"] != "HL-CD-01" || s["seats"].(map[string]any)["7"] != float64(40) || s["public"] != true {
			t.Errorf("school: %v", s)
		}
		if r := p.NewClient(t).Get("/api/v1/enrollment-windows?district=321202&year=2027"); r.Status != 200 || !strings.Contains(r.Text(), `"closes":"2026-12-31"`) {
			t.Errorf("windows: %d %s", r.Status, r.Body)
		}

		// Three children: 甲 (48 months of insurance, family migrated) and 乙
		// (12 months) live in 城东; 丙 (24 months) in 城西. All want 城东小学 first.
		parents := []*testkit.Client{j.alice, j.bob}
		u3, c3 := p.NewApplicant(t, "赵六")
		parents = append(parents, c3)
		relogin := func() {
			j.sup.Login("sup")
			j.alice.Login(testkit.Applicants[0].Mobile)
			j.bob.Login(testkit.Applicants[1].IDNumber)
			c3.LoginAs(u3)
			j.officer.Login("officer")
			other.Login("gaogang")
		}
		forms := []map[string]any{
			childForm("王小甲", "20210315", "321202001", 48, true, "HL-CD-01", "HL-CD-02"),
			childForm("李小乙", "20201120", "321202001", 12, false, "HL-CD-01", "HL-FX-01"),
			childForm("赵小丙", "20210601", "321202002", 24, false, "HL-CD-01", "HL-CD-02", "HL-FX-01"),
		}
		nos := make([]string, 3)
		for i, c := range parents {
			r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "school-enrollment", "form": forms[i]})
			if r.Status != http.StatusCreated {
				t.Fatalf("create %d: %d %s", i, r.Status, r.Body)
			}
			nos[i] = r.JSON(t)["case_no"].(string)
			c.AttachAll(nos[i])
		}
		// Before the window: refused, saying when it opens.
		if r := j.alice.Do("POST", "/api/v1/cases/"+nos[0]+"/events/submit", nil); r.Status != 422 || !strings.Contains(r.Text(), "enrollment_window") || !strings.Contains(r.Text(), "2026-12-10") {
			t.Fatalf("submit before the window: %d %s", r.Status, r.Body)
		}
		p.Clock.Advance(12 * 24 * time.Hour) // 2026-12-12
		relogin()
		for i, c := range parents {
			fire(t, c, nos[i], "submit", nil, 200)
		}
		// Another district's officer does not see the case.
		if r := other.Get("/api/v1/cases/" + nos[0]); r.Status != 404 {
			t.Errorf("another district's officer: %d", r.Status)
		}
		for _, no := range nos {
			fire(t, j.officer, no, "verify", nil, 200)
		}
		// The score shows its parts, which add up to the total.
		res := j.alice.Get("/api/v1/cases/" + nos[0]).JSON(t)["result"].(map[string]any)
		score := res["score"].(map[string]any)
		sum := 0.0
		for _, part := range score["parts"].([]any) {
			sum += part.(map[string]any)["points"].(float64)
		}
		if score["total"].(float64) <= 0 || sum != score["total"] {
			t.Fatalf("score: %v", score)
		}
		// A cohort event cannot be fired on one case.
		if r := j.officer.Do("POST", "/api/v1/cases/"+nos[0]+"/events/publish", nil); r.Status != 409 {
			t.Errorf("publish one case: %d %s", r.Status, r.Body)
		}

		seed := strings.Repeat("5eed", 10)
		commitment := matching.Commitment(seed)
		list := map[string]any{"district": "321202", "year": 2027, "grade": "1", "commitment": commitment}
		if r := j.officer.Do("POST", "/api/v1/enrollment-lists", list); r.Status != 409 {
			t.Fatalf("publish while the window is open: %d %s", r.Status, r.Body)
		}
		p.Clock.Advance(20 * 24 * time.Hour) // 2027-01-01
		relogin()
		if r := other.Do("POST", "/api/v1/enrollment-lists", list); r.Status != 403 {
			t.Errorf("another district's officer publishing: %d %s", r.Status, r.Body)
		}
		r = j.officer.Do("POST", "/api/v1/enrollment-lists", list)
		if r.Status != 201 || r.JSON(t)["published"] != float64(3) {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
		if r := j.officer.Do("POST", "/api/v1/enrollment-lists", list); r.Status != 409 {
			t.Errorf("publishing twice: %d", r.Status)
		}

		// 乙 appeals: the officer corrects the points upwards before the allocation.
		fire(t, j.bob, nos[1], "appeal", map[string]any{"reason": "社保应为36个月，附缴费证明"}, 200)
		alloc := map[string]any{"district": "321202", "year": 2027, "grade": "1", "seed": seed}
		if r := j.officer.Do("POST", "/api/v1/allocations", alloc); r.Status != 409 {
			t.Errorf("allocating with an appeal pending: %d %s", r.Status, r.Body)
		}
		fire(t, j.officer, nos[1], "decide_appeal", map[string]any{"outcome": "amended", "points": "95", "reason": "补充缴费证明属实"}, 200)
		res = j.bob.Get("/api/v1/cases/" + nos[1]).JSON(t)["result"].(map[string]any)
		if res["score"].(map[string]any)["total"] != float64(95) {
			t.Fatalf("after the appeal: %v", res["score"])
		}

		// The seed must match the commitment; then the allocation runs once.
		p.Clock.Advance(10 * 24 * time.Hour) // past the appeal days
		relogin()
		if r := j.officer.Do("POST", "/api/v1/allocations", map[string]any{"district": "321202", "year": 2027, "grade": "1", "seed": strings.Repeat("ab", 20)}); r.Status != 422 || !strings.Contains(r.Text(), "seed_commitment") {
			t.Fatalf("a seed that does not match: %d %s", r.Status, r.Body)
		}
		r = j.officer.Do("POST", "/api/v1/allocations", alloc)
		if r.Status != 201 {
			t.Fatalf("allocate: %d %s", r.Status, r.Body)
		}
		out := r.JSON(t)
		sumJSON := out["summary"].(map[string]any)
		if sumJSON["children"] != float64(3) || sumJSON["assigned"] != float64(2) || sumJSON["first_choice"] != float64(1) || sumJSON["unassigned"] != float64(1) {
			t.Errorf("summary: %v", sumJSON)
		}
		if r := j.officer.Do("POST", "/api/v1/allocations", alloc); r.Status != 409 {
			t.Errorf("allocating twice: %d", r.Status)
		}
		id := fmt.Sprint(out["id"])
		if r := other.Get("/api/v1/allocations/" + id); r.Status != 404 {
			t.Errorf("another district's officer reads the allocation: %d", r.Status)
		}
		if r := j.alice.Get("/api/v1/allocations/" + id); r.Status != 404 {
			t.Errorf("a parent reads the whole allocation: %d", r.Status)
		}
		// Anyone can re-run the matching from what is published.
		r = j.sup.Get("/api/v1/allocations/" + id)
		if r.Status != 200 {
			t.Fatalf("supervisor reads the allocation: %d %s", r.Status, r.Body)
		}
		var pub struct {
			Seed, Commitment string
			Schools          []struct {
				Code  string `json:"code"`
				Seats int    `json:"seats"`
			} `json:"schools"`
			Children    []matching.Child      `json:"children"`
			Assignments []matching.Assignment `json:"assignments"`
		}
		if err := json.Unmarshal(r.Body, &pub); err != nil {
			t.Fatal(err)
		}
		if pub.Seed != seed || pub.Commitment != commitment || len(pub.Children) != 3 {
			t.Fatalf("published allocation: %s", r.Body)
		}
		in := matching.Input{Children: pub.Children}
		for _, s := range pub.Schools {
			in.Schools = append(in.Schools, matching.School{Code: s.Code, Seats: s.Seats})
		}
		for _, ch := range pub.Children {
			if ch.Tiebreak != matching.Tiebreak(seed, ch.CaseNo) {
				t.Errorf("tie-break of %s is not SHA-256(seed:case_no)", ch.CaseNo)
			}
		}
		again, err := matching.Allocate(in)
		if err != nil {
			t.Fatal(err)
		}
		a1, _ := json.Marshal(again.Assignments)
		a2, _ := json.Marshal(pub.Assignments)
		if string(a1) != string(a2) {
			t.Errorf("re-run: %s, published %s", a1, a2)
		}

		// 乙 (95 points after the appeal) has 城东小学; 甲, who wanted it
		// first, is told why not, with the cutoff against his own points.
		resB := j.bob.Get("/api/v1/cases/" + nos[1]).JSON(t)
		if resB["state"] != "assigned" || resB["result"].(map[string]any)["school"] != "HL-CD-01" {
			t.Fatalf("乙: %v %v", resB["state"], resB["result"])
		}
		resA := j.alice.Get("/api/v1/cases/" + nos[0]).JSON(t)
		ra := resA["result"].(map[string]any)
		ex, _ := ra["explanation"].([]any)
		if resA["state"] != "assigned" || ra["school"] != "HL-CD-02" || len(ex) != 1 {
			t.Fatalf("甲: %v %v", resA["state"], ra)
		}
		if e := ex[0].(map[string]any); e["school"] != "HL-CD-01" || e["cutoff"].(map[string]any)["points"] != float64(95) {
			t.Errorf("甲's explanation: %v", e)
		}
		if page := j.alice.Get("/cases/" + nos[0]).Text(); !strings.Contains(page, "城东小学") || !strings.Contains(page, "95") {
			t.Error("the case page does not explain the placement")
		}

		// 丙's three schools are full: unassigned, placed by hand where a
		// seat is free.
		resC := c3.Get("/api/v1/cases/" + nos[2]).JSON(t)
		if resC["state"] != "unassigned" {
			t.Fatalf("丙: %v %v", resC["state"], resC["result"])
		}
		if r := j.officer.Do("POST", "/api/v1/cases/"+nos[2]+"/events/place", map[string]any{"school": "HL-FX-01"}); r.Status != 422 || !strings.Contains(r.Text(), "seat_free") {
			t.Errorf("placing into a full school: %d %s", r.Status, r.Body)
		}
		m := fire(t, j.officer, nos[2], "place", map[string]any{"school": "HL-FX-02"}, 200)
		if m["state"] != "assigned" || m["result"].(map[string]any)["school"] != "HL-FX-02" {
			t.Errorf("placed by hand: %v", m)
		}
		if r := j.officer.Do("POST", "/api/v1/cases/"+nos[2]+"/events/place", map[string]any{"school": "HL-FX-02"}); r.Status != 409 {
			t.Errorf("placing twice: %d", r.Status)
		}

		// The school confirms: the placement notice is a certificate.
		fire(t, j.officer, nos[0], "confirm_enrollment", nil, 200)
		cert := j.alice.Get("/api/v1/cases/" + nos[0] + "/certificate").JSON(t)
		if cert["kind"] != "school-placement" || cert["status"] != "valid" {
			t.Errorf("placement notice: %v", cert)
		}
		if v := verifyStatus(t, p, tokenOf(cert)); v["status"] != "valid" || v["kind"] != "school-placement" {
			t.Errorf("verify the placement notice: %v", v)
		}

		// The plan's indicator: every eligible child placed in a public school.
		r = p.NewClient(t).Get("/api/v1/indicators/school-placement?district=321202&year=2027")
		ind, _ := r.JSON(t)["items"].([]any)
		if r.Status != 200 || len(ind) != 1 {
			t.Fatalf("indicator: %d %s", r.Status, r.Body)
		}
		if row := ind[0].(map[string]any); row["eligible"] != float64(3) || row["placed_public"] != float64(3) || row["share"] != float64(1) || row["target"] != 0.98 {
			t.Errorf("indicator: %v", row)
		}

		// The pages: the office shows its summary, the public list the seed
		// and the cutoffs, without names.
		if page := j.officer.Get("/schooling/office?district=321202&year=2027&grade=1").Text(); !strings.Contains(page, commitment) || !strings.Contains(page, "/schooling/lists/") {
			t.Error("the office page does not show the published list")
		}
		listID := fmt.Sprint(ra["list"])
		page := p.NewClient(t).Get("/schooling/lists/" + listID).Text()
		if !strings.Contains(page, seed) || !strings.Contains(page, nos[2]) || strings.Contains(page, "王小甲") {
			t.Error("the public list does not show the seed and the cases, or shows a child's name")
		}
	})
}
