package server_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"tzportal/portal/testkit"
)

// TestPageReadRoundTrips holds the budget of DESIGN §10: a page read costs
// at most 3 database round trips and 1 Redis round trip, whatever the
// number of rows (no N+1 queries). The case page costs one more: staff's
// read writes the applicant's access log (one upsert, "who viewed my
// file"), and the applicant's page reads it; the case API stays within 3
// with the staff's upsert. The applicant's page of an ended case also
// reads its rating (好差评): 5.
func TestPageReadRoundTrips(t *testing.T) {
	var db, rd atomic.Int64
	p := testkit.StartWith(t, testkit.Options{Backend: testkit.Backend{Postgres: true, Redis: true}, DBRoundTrips: &db, RedisRoundTrips: &rd})
	p.MustApplicant(t, testkit.Applicants[0])
	p.MustStaff(t, "clerk1", "street_clerk", "321202001")
	app, clerk := p.NewClient(t), p.NewClient(t)
	app.Login(testkit.Applicants[0].Mobile)
	clerk.Login("clerk1")
	var no string
	for i := 0; i < 12; i++ {
		no = app.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()}).JSON(t)["case_no"].(string)
		app.AttachAll(no)
		app.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil)
	}
	clerk.Do("POST", "/api/v1/cases/"+no+"/events/accept", nil)
	reads := []struct {
		name string
		c    *testkit.Client
		path string
		db   int64 // database round trips allowed
	}{
		{"clerk's worklist page", clerk, "/cases", 3},
		{"clerk's worklist API", clerk, "/api/v1/cases", 3},
		{"clerk's case page", clerk, "/cases/" + no, 4}, // user, case, materials + the access upsert
		{"clerk's case API", clerk, "/api/v1/cases/" + no, 3},
		{"applicant's list", app, "/api/v1/cases", 3},
		{"applicant's case page", app, "/cases/" + no, 4}, // user, case, materials + the access log
		{"applicant's case API", app, "/api/v1/cases/" + no, 3},
		{"applicant's access log", app, "/api/v1/cases/" + no + "/access-log", 3},
		{"applicant's ended case page", app, "/cases/" + no, 5}, // … + the rating
	}
	for _, r := range reads {
		if r.name == "applicant's ended case page" {
			if res := clerk.Do("POST", "/api/v1/cases/"+no+"/events/reject", map[string]any{"reason": "居住时间不足"}); res.Status != 200 {
				t.Fatalf("reject: %d %s", res.Status, res.Body)
			}
		}
		db.Store(0)
		rd.Store(0)
		resp := r.c.Get(r.path)
		if resp.Status != 200 {
			t.Fatalf("%s: %d", r.name, resp.Status)
		}
		if d, re := db.Load(), rd.Load(); d > r.db || re > 1 {
			t.Errorf("%s: %d database and %d Redis round trips, want ≤ %d and ≤ 1", r.name, d, re, r.db)
		} else {
			t.Log(fmt.Sprintf("%s: %d database, %d Redis", r.name, d, re))
		}
	}
}
