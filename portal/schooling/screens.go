package schooling

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"tzportal/portal"
	"tzportal/portal/matching"
	"tzportal/portal/workflow"
)

// Screens are this service's pages beyond its cases: the district office's
// (publish, allocate, the unassigned children), the admin's (schools,
// windows) and the public list of a district's children with its seed and
// cutoffs once allocated.
func (s *Service) Screens(e *workflow.Engine) []workflow.Screen {
	return []workflow.Screen{
		{Method: http.MethodGet, Path: "/schooling/office", Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			return office(ctx, e, r, nil)
		}, Menu: ServiceID + ".office.menu", For: func(u *portal.User) bool { return len(officeDistricts(e, u)) > 0 }},
		{Method: http.MethodPost, Path: "/schooling/office/publish", Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			q := formRequest(r)
			if _, err := Publish(ctx, e, r.Actor, q); err != nil {
				return shownOrFailed(ctx, e, r, err)
			}
			return &workflow.Shown{Redirect: officeHref(q)}, nil
		}},
		{Method: http.MethodPost, Path: "/schooling/office/allocate", Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			q := formRequest(r)
			if _, _, err := Allocate(ctx, e, r.Actor, q); err != nil {
				return shownOrFailed(ctx, e, r, err)
			}
			return &workflow.Shown{Redirect: officeHref(q)}, nil
		}},
		{Method: http.MethodGet, Path: "/schooling/lists/:id", Public: true, Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			return publicList(ctx, e, r)
		}},
		{Method: http.MethodGet, Path: "/schooling/admin", Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			return admin(ctx, e, r, nil, nil)
		}, Menu: ServiceID + ".admin.menu", For: func(u *portal.User) bool {
			_, ok := e.Authz.Can(u, e.Authz.Divisions().Root, "school", "manage")
			return ok
		}},
		{Method: http.MethodPost, Path: "/schooling/admin/schools", Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			if err := mayManage(e, r.Actor, ""); err != nil {
				return nil, err
			}
			b, err := r.File("file")
			if err != nil {
				return nil, err
			}
			rows, err := ParseSchools(bytes.NewReader(b), e.Authz.Divisions())
			if err == nil {
				for _, row := range rows {
					if err = mayManage(e, r.Actor, row.District); err != nil {
						return nil, err
					}
				}
				err = ImportSchools(ctx, e, r.Actor, rows)
			}
			if err != nil {
				return admin(ctx, e, r, err, nil)
			}
			return admin(ctx, e, r, nil, map[string]any{"Imported": len(rows)})
		}},
		{Method: http.MethodPost, Path: "/schooling/admin/window", Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			year, _ := strconv.Atoi(r.Form("year"))
			pub, _ := strconv.Atoi(r.Form("publication_days"))
			appeal, _ := strconv.Atoi(r.Form("appeal_days"))
			w := portal.EnrollmentWindow{District: r.Form("district"), Year: year, Opens: r.Form("opens"), Closes: r.Form("closes"),
				PublicationDays: pub, AppealDays: appeal}
			if err := mayManage(e, r.Actor, w.District); err != nil {
				return nil, err
			}
			if err := SetWindow(ctx, e, r.Actor, w); err != nil {
				return admin(ctx, e, r, err, nil)
			}
			return &workflow.Shown{Redirect: "/schooling/admin"}, nil
		}},
	}
}

// shownOrFailed shows a refusal on the office page; one of who may act at
// all (403, 401) is answered as such, not as a page they may not see.
func shownOrFailed(ctx context.Context, e *workflow.Engine, r workflow.Request, err error) (*workflow.Shown, error) {
	switch portal.ErrorCode(err) {
	case portal.EFORBIDDEN, portal.EUNAUTHORIZED, portal.EINTERNAL, portal.EUNAVAILABLE:
		return nil, err
	}
	if portal.AsError(err) == nil {
		return nil, err // not a refusal: a failure, answered as one
	}
	return office(ctx, e, r, err)
}

// mayManage checks the actor administers school reference data (in the
// district, or anywhere when district is "").
func mayManage(e *workflow.Engine, actor portal.Actor, district string) error {
	if district == "" || !districtRE.MatchString(district) {
		district = e.Authz.Divisions().Root
	}
	if actor.User == nil {
		return &portal.Error{Code: portal.EUNAUTHORIZED, Message: "error.login_required"}
	}
	if _, ok := e.Authz.Can(actor.User, district, "school", "manage"); !ok {
		return &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden"}
	}
	return nil
}

func formRequest(r workflow.Request) CohortRequest {
	year, _ := strconv.Atoi(r.Form("year"))
	return CohortRequest{District: r.Form("district"), Year: year, Grade: r.Form("grade"),
		Commitment: r.Form("commitment"), Seed: r.Form("seed")}
}

func officeHref(q CohortRequest) string {
	return "/schooling/office?district=" + q.District + "&year=" + strconv.Itoa(q.Year) + "&grade=" + q.Grade
}

// officePage is what the district office's page shows of one district,
// year and grade.
type officePage struct {
	Q          CohortRequest
	Districts  []portal.Division // the districts the officer works in
	Window     *portal.EnrollmentWindow
	Counts     []stateCount
	List       *portal.Cohort
	Allocation *portal.Cohort
	Summary    *Summary
	Unassigned []string // case numbers
	Today      string
}

type stateCount struct {
	State string
	N     int
}

// office is the district officer's page; err is a refusal to show on it.
func office(ctx context.Context, e *workflow.Engine, r workflow.Request, err error) (*workflow.Shown, error) {
	u := r.Actor.User
	if u == nil {
		return nil, &portal.Error{Code: portal.EUNAUTHORIZED, Message: "error.login_required"}
	}
	d := &officePage{Today: today(e), Districts: officeDistricts(e, u)}
	if len(d.Districts) == 0 {
		return nil, &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden"}
	}
	d.Q = formRequest(r)
	if d.Q.District == "" {
		d.Q = CohortRequest{District: r.Query("district"), Grade: r.Query("grade")}
		d.Q.Year, _ = strconv.Atoi(r.Query("year"))
	}
	if d.Q.District == "" {
		d.Q.District = d.Districts[0].Code
	}
	if d.Q.Grade == "" {
		d.Q.Grade = "1"
	}
	if d.Q.Year == 0 {
		d.Q.Year = e.Now().In(e.Calendar.Zone).Year() + 1
		if ws, werr := e.Store.EnrollmentWindows(ctx, d.Q.District, 0); werr == nil && len(ws) > 0 {
			d.Q.Year = ws[0].Year
		}
	}
	if !slices.ContainsFunc(d.Districts, func(x portal.Division) bool { return x.Code == d.Q.District }) {
		return nil, portal.NotFound(nil)
	}
	if w, werr := e.Store.EnrollmentWindow(ctx, d.Q.District, d.Q.Year); werr == nil {
		d.Window = w
	}
	sc := scope(d.Q.Year, d.Q.Grade)
	if co, cerr := e.Store.CohortOf(ctx, KindList, ServiceID, d.Q.District, sc); cerr == nil {
		d.List = co
	}
	if co, cerr := e.Store.CohortOf(ctx, KindAllocation, ServiceID, d.Q.District, sc); cerr == nil {
		d.Allocation = co
		var s struct {
			Summary *Summary `json:"summary"`
		}
		if json.Unmarshal(co.Summary, &s) == nil {
			d.Summary = s.Summary
		}
	}
	for _, st := range []string{"submitted", "correction", stateVerified, "ineligible", statePublished, stateAppeal, "assigned", "unassigned", "enrolled"} {
		ms, merr := members(ctx, e.Store, d.Q.District, st, d.Q.Year, d.Q.Grade)
		if merr != nil {
			return nil, merr
		}
		d.Counts = append(d.Counts, stateCount{State: st, N: len(ms)})
		if st == "unassigned" {
			for _, m := range ms {
				d.Unassigned = append(d.Unassigned, m.c.No)
			}
		}
	}
	return &workflow.Shown{Template: ServiceID + "/office", Title: ServiceID + ".office.title", Data: d, Err: err}, nil
}

// officeDistricts are the districts whose cohort operations u may run
// (a district officer's grants, a city-wide grant's districts).
func officeDistricts(e *workflow.Engine, u *portal.User) []portal.Division {
	var out []portal.Division
	divs := e.Authz.Divisions()
	for _, g := range u.Grants {
		for _, code := range append([]string{g.Division}, divs.Children(g.Division)...) {
			dv, ok := divs.Get(code)
			if !ok || len(code) != 6 || dv.Leaf() || slices.ContainsFunc(out, func(x portal.Division) bool { return x.Code == code }) {
				continue
			}
			if _, ok := e.Authz.Can(u, code, ServiceID, workflow.EventAction(eventPublish, stateVerified)); ok {
				out = append(out, dv)
			}
		}
	}
	return out
}

// listPage is the public list: who is on it (case numbers), their points
// and place, the commitment, and after the allocation the seed, each
// child's tie-break and each school's cutoff.
type listPage struct {
	List       *portal.Cohort
	Year       int
	Grade      string
	Published  string // date
	Rows       []listRow
	Allocation *Allocation
	Names      map[string]string
}

type listRow struct {
	Position int
	CaseNo   string
	Points   int
	Tiebreak string
}

func publicList(ctx context.Context, e *workflow.Engine, r workflow.Request) (*workflow.Shown, error) {
	id, err := strconv.ParseInt(r.Param("id"), 10, 64)
	if err != nil {
		return nil, portal.NotFound(err)
	}
	co, err := e.Store.CohortByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if co.Kind != KindList || co.Service != ServiceID || co.FinishedAt == nil {
		return nil, portal.NotFound(nil)
	}
	d := &listPage{List: co, Published: co.FinishedAt.In(e.Calendar.Zone).Format(time.DateOnly), Names: map[string]string{}}
	var data listData
	if err := json.Unmarshal(co.Data, &data); err != nil {
		return nil, err
	}
	if y, g, ok := strings.Cut(co.Scope, "/"); ok {
		d.Year, _ = strconv.Atoi(y)
		d.Grade = g
	}
	if a, err := e.Store.CohortOf(ctx, KindAllocation, ServiceID, co.District, co.Scope); err == nil && a.FinishedAt != nil {
		var al Allocation
		if err := json.Unmarshal(a.Data, &al); err == nil {
			d.Allocation = &al
		}
	}
	// Points as they stand now (an appeal may have changed them).
	for _, no := range data.Cases {
		c, err := e.Store.CaseByNo(ctx, no)
		if err != nil {
			return nil, err
		}
		m, err := readMember(c)
		if err != nil {
			return nil, err
		}
		row := listRow{CaseNo: no, Points: m.points}
		if d.Allocation != nil {
			row.Tiebreak = matching.Tiebreak(d.Allocation.Seed, no)
		}
		d.Rows = append(d.Rows, row)
	}
	slices.SortStableFunc(d.Rows, func(a, b listRow) int {
		if a.Points != b.Points {
			return b.Points - a.Points
		}
		return strings.Compare(a.Tiebreak+a.CaseNo, b.Tiebreak+b.CaseNo)
	})
	for i := range d.Rows {
		d.Rows[i].Position = i + 1
		if i > 0 && d.Allocation == nil && d.Rows[i].Points == d.Rows[i-1].Points {
			d.Rows[i].Position = d.Rows[i-1].Position // tied until the seed breaks the tie
		}
	}
	if schools, err := e.Store.Schools(ctx, co.District, d.Year); err == nil {
		for _, s := range schools {
			d.Names[s.Code] = s.Name
		}
	}
	return &workflow.Shown{Template: ServiceID + "/list", Title: ServiceID + ".list.title", Data: d}, nil
}

// adminPage is the admin's page: the windows set and the import form.
type adminPage struct {
	Windows  []portal.EnrollmentWindow
	Imported int
	Typed    map[string]string
}

func admin(ctx context.Context, e *workflow.Engine, r workflow.Request, err error, done map[string]any) (*workflow.Shown, error) {
	if merr := mayManage(e, r.Actor, ""); merr != nil {
		return nil, merr
	}
	d := &adminPage{Typed: map[string]string{}}
	for _, k := range []string{"district", "year", "opens", "closes", "publication_days", "appeal_days"} {
		d.Typed[k] = r.Form(k)
	}
	if n, ok := done["Imported"].(int); ok {
		d.Imported = n
	}
	ws, werr := e.Store.EnrollmentWindows(ctx, "", 0)
	if werr != nil {
		return nil, werr
	}
	d.Windows = ws
	return &workflow.Shown{Template: ServiceID + "/admin", Title: ServiceID + ".admin.title", Data: d, Err: err}, nil
}

// guideData is what the guide page shows: the windows of the coming years.
type guideData struct {
	Windows []portal.EnrollmentWindow
}

// Guide returns the enrollment windows not yet closed on day (YYYY-MM-DD).
func (s *Service) Guide(ctx context.Context, r portal.Reader, day string) (any, error) {
	ws, err := r.EnrollmentWindows(ctx, "", 0)
	if err != nil {
		return nil, err
	}
	out := []portal.EnrollmentWindow{}
	for _, w := range ws {
		if w.Closes >= day {
			out = append(out, w)
		}
	}
	return &guideData{Windows: out}, nil
}
