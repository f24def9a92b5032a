package server_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"tzportal/portal/fsck"
	"tzportal/portal/testkit"
)

// Who viewed my file: each staff access to a case — reading it (page, API,
// list of materials), opening a file, revealing the ID number — is in the
// applicant's access log by office and role and time, newest first, never
// by name; repeated reads add to the day's row instead of growing the table;
// an outsider finds no such case.
func TestAccessLog(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		p := j.p
		no := j.create(t, j.alice, testkit.ResidenceForm())
		log := func(c *testkit.Client) []map[string]any {
			t.Helper()
			r := c.Get("/api/v1/cases/" + no + "/access-log")
			if r.Status != http.StatusOK {
				t.Fatalf("access log: %d %s", r.Status, r.Body)
			}
			var out []map[string]any
			for _, it := range r.JSON(t)["items"].([]any) {
				out = append(out, it.(map[string]any))
			}
			return out
		}
		if items := log(j.alice); len(items) != 0 {
			t.Fatalf("a new case's log: %v", items)
		}
		fire(t, j.alice, no, "submit", nil, 200)
		step := func() { p.Clock.Advance(time.Minute) }

		// The street clerk reads the case twice by the API, once as a page,
		// its list of materials, opens a file and reveals the ID number.
		for _, path := range []string{"/api/v1/cases/" + no, "/api/v1/cases/" + no, "/cases/" + no} {
			step()
			if r := j.clerk.Get(path); r.Status != http.StatusOK {
				t.Fatalf("clerk reads %s: %d", path, r.Status)
			}
		}
		step()
		mats := j.clerk.Get("/api/v1/cases/" + no + "/materials").JSON(t)["items"].([]any)
		step()
		if r := j.clerk.Get("/api/v1/cases/" + no + "/materials/" + mats[0].(map[string]any)["id"].(string)); r.Status != http.StatusOK {
			t.Fatalf("clerk opens a file: %d", r.Status)
		}
		step()
		if r := j.clerk.Do("POST", "/api/v1/cases/"+no+"/reveal", nil); r.Status != http.StatusOK {
			t.Fatalf("clerk reveals: %d %s", r.Status, r.Body)
		}
		// Another street's clerk is refused, and leaves no line.
		step()
		if r := j.otherClerk.Get("/api/v1/cases/" + no); r.Status != http.StatusNotFound {
			t.Fatalf("the other street's clerk: %d", r.Status)
		}
		// The district officer reads it last.
		step()
		j.officer.Get("/api/v1/cases/" + no)
		// The applicant's own reads are not accesses.
		j.alice.Get("/api/v1/cases/" + no)
		j.alice.Get("/cases/" + no)

		items := log(j.alice)
		divs := p.Authz.Divisions()
		street, _ := divs.Get("321202001")
		district, _ := divs.Get("321202")
		type line struct {
			office, role, kind string
			count              float64
		}
		want := []line{
			{district.Name, "区（市）审批科室", "view", 1},
			{street.Name, "街道（乡镇）窗口", "reveal", 1},
			{street.Name, "街道（乡镇）窗口", "view", 5}, // 3 reads, the materials list, the reveal's read
			{street.Name, "街道（乡镇）窗口", "material", 1},
		}
		if len(items) != len(want) {
			t.Fatalf("access log: %d lines, want %d: %v", len(items), len(want), items)
		}
		var prev time.Time
		for i, it := range items {
			keys := make([]string, 0, len(it))
			for k := range it {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, ",") != "count,kind,office,role,time" {
				t.Errorf("line %d has keys %v", i, keys)
			}
			got := line{it["office"].(string), it["role"].(string), it["kind"].(string), it["count"].(float64)}
			if got != want[i] {
				t.Errorf("line %d: %+v, want %+v", i, got, want[i])
			}
			at, err := time.Parse(time.RFC3339, it["time"].(string))
			if err != nil {
				t.Fatalf("line %d: time %v", i, it["time"])
			}
			if i > 0 && at.After(prev) {
				t.Errorf("line %d (%s) is later than the line before (%s): want the newest first", i, at, prev)
			}
			prev = at
		}
		// Never the person: no name, no login, no account id.
		raw := j.alice.Get("/api/v1/cases/" + no + "/access-log").Text()
		page := j.alice.Get("/cases/" + no).Text()
		for _, secret := range []string{"测试", "clerk1", "officer", "user:", `"user_id"`} {
			if strings.Contains(raw, secret) {
				t.Errorf("the access log names %q: %s", secret, raw)
			}
		}
		if !strings.Contains(page, "查阅记录") || !strings.Contains(page, street.Name) || !strings.Contains(page, "查看完整身份证号码") ||
			strings.Contains(page, "测试 clerk1") {
			t.Errorf("the applicant's case page does not show the access log by office only")
		}
		// In English, the role's English name.
		en := j.alice.Do("GET", "/api/v1/cases/"+no+"/access-log", nil, "Accept-Language", "en").Text()
		if !strings.Contains(en, "Street or town counter") {
			t.Errorf("English access log: %s", en)
		}
		// Repeated reads the same day add to their row; the next day is a new one.
		rows := func() int {
			return p.Count(t, `SELECT count(*) FROM case_access a JOIN cases c ON c.id = a.case_id WHERE c.case_no = $1`, no)
		}
		if n := rows(); n != 4 {
			t.Errorf("%d rows for 4 lines", n)
		}
		j.clerk.Get("/api/v1/cases/" + no)
		if n := rows(); n != 4 {
			t.Errorf("a repeated read grew the table to %d rows", n)
		}
		p.Clock.Advance(24 * time.Hour) // sessions end: everyone logs in again
		j.alice.Login(testkit.Applicants[0].Mobile)
		j.bob.Login(testkit.Applicants[1].IDNumber)
		j.clerk.Login("clerk1")
		j.otherClerk.Login("westclerk")
		j.sup.Login("sup")
		if r := j.clerk.Get("/api/v1/cases/" + no); r.Status != http.StatusOK {
			t.Fatalf("the clerk the next day: %d", r.Status)
		}
		if n := rows(); n != 5 {
			t.Errorf("a read the next day: %d rows, want 5", n)
		}

		// Who may read the log: the applicant and supervisors; anyone else
		// finds no such case. A supervisor reading the log is no access to
		// the file.
		for name, c := range map[string]*testkit.Client{"another applicant": j.bob, "the case's clerk": j.clerk, "another street's clerk": j.otherClerk} {
			if r := c.Get("/api/v1/cases/" + no + "/access-log"); r.Status != http.StatusNotFound {
				t.Errorf("%s reads the access log: %d, want 404", name, r.Status)
			}
		}
		if items := log(j.sup); len(items) != 5 {
			t.Errorf("the supervisor sees %d lines, want 5", len(items))
		}
		if n := rows(); n != 5 {
			t.Errorf("reading the access log wrote an access (%d rows)", n)
		}
		if strings.Contains(j.clerk.Get("/cases/"+no).Text(), "查阅记录") {
			t.Errorf("staff see the applicant's access log section on the case page")
		}
		if _, err := p.Audit.Verify(t.Context(), p.DB); err != nil {
			t.Errorf("audit verify: %v", err)
		}
		check, err := fsck.Check(t.Context(), p.DB, p.Engine.Definitions(), p.Audit)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range check.Violations {
			t.Errorf("fsck: %s: %s", v.Case, v.Reason)
		}
	})
}
