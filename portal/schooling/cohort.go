package schooling

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/matching"
	"tzportal/portal/workflow"
)

// The cohort operations of this service: the published list (公示) of a
// district's verified children of one year and grade, and the allocation
// of their school places. Each is a portal.Cohort record written before its
// cases move; the cases move through the engine (workflow.FireCohort), so
// each has its history step, notice and audit entry.
const (
	KindList       = "enrollment-list"
	KindAllocation = "allocation"

	eventPublish  = "publish"
	eventAllocate = "allocate"

	statePublished = "published"
	stateAppeal    = "appeal_review"
	stateVerified  = "verified"
)

var (
	districtRE = regexp.MustCompile(`^\d{6}$`)
	hexRE      = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// scope names a cohort within its district: year and grade.
func scope(year int, grade string) string { return strconv.Itoa(year) + "/" + grade }

// member is what a cohort reads of a case: the contract's form fields and
// the score in its result.
type member struct {
	c           *portal.Case
	Year        int      `json:"year"`
	Grade       string   `json:"grade"`
	Division    string   `json:"division"`
	Preferences []string `json:"preferences"`
	points      int
}

func readMember(c *portal.Case) (*member, error) {
	m := &member{c: c}
	if err := json.Unmarshal(c.Form, m); err != nil {
		return nil, fmt.Errorf("schooling: form of %s: %w", c.No, err)
	}
	var res struct {
		Score struct {
			Total int `json:"total"`
		} `json:"score"`
	}
	if len(c.Result) > 0 {
		if err := json.Unmarshal(c.Result, &res); err != nil {
			return nil, fmt.Errorf("schooling: result of %s: %w", c.No, err)
		}
	}
	m.points = res.Score.Total
	return m, nil
}

// members returns the district's cases of the service in state for a year
// and grade ("": both), by id.
func members(ctx context.Context, r portal.Reader, district, state string, year int, grade string) ([]*member, error) {
	var out []*member
	var after int64
	for {
		page, err := r.CasesInState(ctx, ServiceID, district, state, after, 1000)
		if err != nil {
			return nil, err
		}
		for i := range page {
			m, err := readMember(&page[i])
			if err != nil {
				return nil, err
			}
			if m.Year == year && (grade == "" || m.Grade == grade) {
				out = append(out, m)
			}
		}
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// CohortRequest is the body of both operations (fields as the API fixes).
type CohortRequest struct {
	District   string `json:"district"`
	Year       int    `json:"year"`
	Grade      string `json:"grade"`
	Commitment string `json:"commitment,omitempty"`
	Seed       string `json:"seed,omitempty"`
}

func (q *CohortRequest) check(needs string) error {
	var bad []portal.FieldError
	if !districtRE.MatchString(q.District) {
		bad = append(bad, portal.FieldError{Field: "district", Rule: "district"})
	}
	if q.Year < 2000 || q.Year > 2100 {
		bad = append(bad, portal.FieldError{Field: "year", Rule: "year"})
	}
	if q.Grade != "1" && q.Grade != "7" {
		bad = append(bad, portal.FieldError{Field: "grade", Rule: "oneof", Param: "1 7"})
	}
	switch needs {
	case "commitment":
		if !hexRE.MatchString(q.Commitment) {
			bad = append(bad, portal.FieldError{Field: "commitment", Rule: "sha256hex"})
		}
	case "seed":
		if !matching.ValidSeed(q.Seed) {
			bad = append(bad, portal.FieldError{Field: "seed", Rule: "seed", Param: strconv.Itoa(matching.MinSeedLen)})
		}
	}
	if len(bad) > 0 {
		return &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Fields: bad, Labels: ServiceID + ".cohort"}
	}
	return nil
}

// mayRun checks the actor may fire event in the district (its district
// officers); anyone else is refused as a case would refuse them, and the
// refusal is in the audit trail.
func mayRun(ctx context.Context, e *workflow.Engine, actor portal.Actor, district, event, from string) error {
	if actor.User == nil && actor.System != "" {
		return nil // the operator on the command line
	}
	if actor.User == nil {
		return &portal.Error{Code: portal.EUNAUTHORIZED, Message: "error.login_required"}
	}
	if _, ok := e.Authz.Can(actor.User, district, ServiceID, workflow.EventAction(event, from)); !ok {
		e.DeniedOn(ctx, actor, "cohort."+event, "cohort:"+ServiceID+"/"+district)
		return &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden",
			Err: fmt.Errorf("schooling: %s in %s refused", event, district)}
	}
	return nil
}

// today is the city's date at now.
func today(e *workflow.Engine) string { return e.Now().In(e.Calendar.Zone).Format(time.DateOnly) }

// listData is what a published list records: the children it published.
type listData struct {
	Cases []string `json:"cases"`
}

// Publish publishes the list of a district's verified children of a year
// and grade, after the window closed, with the commitment of the
// allocation's tie-break seed. Run again after it was cut short, it
// resumes; after it finished, it is refused (409).
func Publish(ctx context.Context, e *workflow.Engine, actor portal.Actor, q CohortRequest) (*portal.Cohort, error) {
	if err := q.check("commitment"); err != nil {
		return nil, err
	}
	if err := mayRun(ctx, e, actor, q.District, eventPublish, stateVerified); err != nil {
		return nil, err
	}
	w, err := e.Store.EnrollmentWindow(ctx, q.District, q.Year)
	if portal.ErrorCode(err) == portal.ENOTFOUND || (err == nil && today(e) <= w.Closes) {
		closes := ""
		if w != nil {
			closes = w.Closes
		}
		return nil, &portal.Error{Code: portal.ECONFLICT, Rule: "window_open", Message: ServiceID + ".rule.window_open",
			Data: map[string]any{"Closes": closes}}
	}
	if err != nil {
		return nil, err
	}
	sc := scope(q.Year, q.Grade)
	co, err := e.Store.CohortOf(ctx, KindList, ServiceID, q.District, sc)
	switch {
	case err == nil && (co.FinishedAt != nil || co.Commitment != q.Commitment):
		return nil, &portal.Error{Code: portal.ECONFLICT, Message: "error.cohort_exists"}
	case err == nil: // resume the run that was cut short
	case portal.ErrorCode(err) != portal.ENOTFOUND:
		return nil, err
	default:
		ms, err := members(ctx, e.Store, q.District, stateVerified, q.Year, q.Grade)
		if err != nil {
			return nil, err
		}
		data := listData{Cases: make([]string, len(ms))}
		for i, m := range ms {
			data.Cases[i] = m.c.No
		}
		co = &portal.Cohort{Kind: KindList, Service: ServiceID, District: q.District, Scope: sc, Commitment: q.Commitment,
			Actor: actor.ID(), CreatedAt: e.Now(), Total: len(ms)}
		if co.Data, err = json.Marshal(data); err != nil {
			return nil, err
		}
		if err := record(ctx, e, actor, co, "cohort.start"); err != nil {
			return nil, err
		}
	}
	var data listData
	if err := json.Unmarshal(co.Data, &data); err != nil {
		return nil, fmt.Errorf("schooling.Publish: list %d: %w", co.ID, err)
	}
	steps := make([]workflow.CohortStep, len(data.Cases))
	for i, no := range data.Cases {
		// Each case links to the public list it is on.
		steps[i] = workflow.CohortStep{CaseNo: no, Result: map[string]any{"list": co.ID}}
	}
	return co, run(ctx, e, actor, co, eventPublish, steps, map[string]any{"published": co.Total})
}

// service is this service as the engine holds it (its settings).
func service(e *workflow.Engine) *Service {
	if ent, ok := e.Registry.Get(ServiceID); ok {
		if s, ok := ent.Service.(*Service); ok {
			return s
		}
	}
	return &Service{}
}

// run moves the steps of a cohort and closes its record: progress is
// counted in each batch's transaction, the end after the last one.
func run(ctx context.Context, e *workflow.Engine, actor portal.Actor, co *portal.Cohort, event string, steps []workflow.CohortStep, summary map[string]any) error {
	base := co.Done
	batch := service(e).set.CohortBatch
	_, err := e.FireCohort(ctx, actor, ServiceID, event, steps, batch, func(ctx context.Context, tx portal.Tx, moved int) error {
		co.Done = base + moved
		return tx.CohortProgress(ctx, co)
	})
	if err != nil {
		return err
	}
	now := e.Now()
	co.FinishedAt = &now
	var b []byte
	if b, err = json.Marshal(summary); err != nil {
		return err
	}
	co.Summary = b
	return e.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.UpdateCohort(ctx, co); err != nil {
			return err
		}
		return e.Audit.Append(ctx, tx, cohortEntry(actor, co, "cohort.finish"))
	})
}

// record inserts a new cohort with its audit entry.
func record(ctx context.Context, e *workflow.Engine, actor portal.Actor, co *portal.Cohort, action string) error {
	return e.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.InsertCohort(ctx, co); err != nil {
			return err
		}
		return e.Audit.Append(ctx, tx, cohortEntry(actor, co, action))
	})
}

func cohortEntry(actor portal.Actor, co *portal.Cohort, action string) portal.AuditEntry {
	ent := audit.Entry(actor, action, "cohort:"+strconv.FormatInt(co.ID, 10), audit.ResultOK)
	ent.Division = co.District
	return audit.WithDetail(ent, map[string]any{"kind": co.Kind, "service": co.Service, "scope": co.Scope,
		"commitment": co.Commitment, "total": co.Total, "done": co.Done})
}

// Allocation is the published input and output of an allocation: enough
// for anyone to re-run the matching and compare (the API's JSON).
type Allocation struct {
	ID          int64                   `json:"id"`
	District    string                  `json:"district"`
	Year        int                     `json:"year"`
	Grade       string                  `json:"grade"`
	Seed        string                  `json:"seed"`
	Commitment  string                  `json:"commitment"`
	Schools     []matching.SchoolResult `json:"schools"`
	Children    []matching.Child        `json:"children"`
	Assignments []matching.Assignment   `json:"assignments"`
}

// Summary is what an allocation's answer and page show.
type Summary struct {
	Children    int `json:"children"`
	Assigned    int `json:"assigned"`
	FirstChoice int `json:"first_choice"`
	Top3        int `json:"top3"`
	Unassigned  int `json:"unassigned"`
}

// Explanation is one school a child ranked above the one they got: its
// cutoff against the child's own priority there.
type Explanation struct {
	School string             `json:"school"`
	Name   string             `json:"name"`
	Rank   int                `json:"rank"`
	Cutoff *matching.Priority `json:"cutoff"` // nil: a school with no seats
	Own    matching.Priority  `json:"own"`
}

// Allocate runs the allocation of a published list with the seed whose
// commitment the list published, and moves each child to assigned (the
// school and the explanation in the result) or unassigned. The outcome is
// computed once and recorded before any case moves; a run cut short
// resumes with that same outcome, and a finished one is never run again.
func Allocate(ctx context.Context, e *workflow.Engine, actor portal.Actor, q CohortRequest) (*portal.Cohort, *Summary, error) {
	if err := q.check("seed"); err != nil {
		return nil, nil, err
	}
	if err := mayRun(ctx, e, actor, q.District, eventAllocate, statePublished); err != nil {
		return nil, nil, err
	}
	sc := scope(q.Year, q.Grade)
	list, err := e.Store.CohortOf(ctx, KindList, ServiceID, q.District, sc)
	if portal.ErrorCode(err) == portal.ENOTFOUND || (err == nil && list.FinishedAt == nil) {
		return nil, nil, &portal.Error{Code: portal.ECONFLICT, Rule: "list_published", Message: ServiceID + ".rule.list_published"}
	}
	if err != nil {
		return nil, nil, err
	}
	if matching.Commitment(q.Seed) != list.Commitment {
		return nil, nil, &portal.Error{Code: portal.ERULE, Rule: "seed_commitment", Message: ServiceID + ".rule.seed_commitment",
			Data: map[string]any{"Commitment": list.Commitment}, Labels: ServiceID + ".cohort",
			Fields: []portal.FieldError{{Field: "seed", Rule: "seed_commitment"}}}
	}
	co, err := e.Store.CohortOf(ctx, KindAllocation, ServiceID, q.District, sc)
	switch {
	case err == nil && co.FinishedAt != nil:
		return nil, nil, &portal.Error{Code: portal.ECONFLICT, Message: "error.cohort_exists"}
	case err == nil: // resume with the outcome recorded
	case portal.ErrorCode(err) != portal.ENOTFOUND:
		return nil, nil, err
	default:
		if co, err = plan(ctx, e, actor, q, list); err != nil {
			return nil, nil, err
		}
	}
	var a Allocation
	if err := json.Unmarshal(co.Data, &a); err != nil {
		return nil, nil, fmt.Errorf("schooling.Allocate: allocation %d: %w", co.ID, err)
	}
	names := map[string]string{}
	schools, err := e.Store.Schools(ctx, q.District, q.Year)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range schools {
		names[s.Code] = s.Name
	}
	res := &matching.Result{Schools: a.Schools, Assignments: a.Assignments}
	got := make(map[string]*string, len(a.Assignments))
	for _, as := range a.Assignments {
		got[as.CaseNo] = as.School
	}
	steps := make([]workflow.CohortStep, 0, len(a.Children))
	for i := range a.Children {
		ch := &a.Children[i]
		why, err := res.Explain(ch)
		if err != nil {
			return nil, nil, err
		}
		ex := make([]Explanation, len(why))
		for j, r := range why {
			ex[j] = Explanation{School: r.School, Name: names[r.School], Rank: r.Rank, Cutoff: r.Cutoff, Own: r.Own}
		}
		var school, name any
		if code := got[ch.CaseNo]; code != nil {
			school, name = *code, names[*code]
		}
		steps = append(steps, workflow.CohortStep{CaseNo: ch.CaseNo, Result: map[string]any{"school": school, "school_name": name, "explanation": ex}})
	}
	sum := summarize(res)
	if err := run(ctx, e, actor, co, eventAllocate, steps, map[string]any{"summary": sum}); err != nil {
		return nil, nil, err
	}
	return co, sum, nil
}

// plan computes the allocation and records it (not yet run).
func plan(ctx context.Context, e *workflow.Engine, actor portal.Actor, q CohortRequest, list *portal.Cohort) (*portal.Cohort, error) {
	if n, err := members(ctx, e.Store, q.District, stateAppeal, q.Year, q.Grade); err != nil || len(n) > 0 {
		if err != nil {
			return nil, err
		}
		return nil, &portal.Error{Code: portal.ECONFLICT, Rule: "appeals_pending", Message: ServiceID + ".rule.appeals_pending",
			Data: map[string]any{"Count": len(n)}}
	}
	w, err := e.Store.EnrollmentWindow(ctx, q.District, q.Year)
	if err != nil {
		return nil, err
	}
	appealsEnd := e.Calendar.Due(*list.FinishedAt, workflow.Deadline{N: w.AppealDays, Working: true})
	if e.Now().Before(appealsEnd) {
		return nil, &portal.Error{Code: portal.ECONFLICT, Rule: "appeal_period", Message: ServiceID + ".rule.appeal_period",
			Data: map[string]any{"Until": e.Calendar.LastDay(appealsEnd).In(e.Calendar.Zone).Format(time.DateOnly)}}
	}
	schools, err := e.Store.Schools(ctx, q.District, q.Year)
	if err != nil {
		return nil, err
	}
	in := matching.Input{}
	var grade []portal.School
	for _, s := range schools {
		if s.Grade == q.Grade {
			grade = append(grade, s)
			in.Schools = append(in.Schools, matching.School{Code: s.Code, Seats: s.Seats})
		}
	}
	ms, err := members(ctx, e.Store, q.District, statePublished, q.Year, q.Grade)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		ch := matching.Child{CaseNo: m.c.No, Preferences: slices.Clone(m.Preferences), Points: m.points,
			Tiebreak: matching.Tiebreak(q.Seed, m.c.No), Catchment: []string{}}
		for _, s := range grade {
			if s.Serves(m.Division) {
				ch.Catchment = append(ch.Catchment, s.Code)
			}
		}
		in.Children = append(in.Children, ch)
	}
	res, err := matching.Allocate(in)
	if err != nil {
		return nil, fmt.Errorf("schooling.Allocate: %w", err)
	}
	slices.SortFunc(in.Children, func(a, b matching.Child) int { return strings.Compare(a.CaseNo, b.CaseNo) })
	a := Allocation{District: q.District, Year: q.Year, Grade: q.Grade, Seed: q.Seed, Commitment: list.Commitment,
		Schools: res.Schools, Children: in.Children, Assignments: res.Assignments}
	co := &portal.Cohort{Kind: KindAllocation, Service: ServiceID, District: q.District, Scope: list.Scope,
		Commitment: list.Commitment, Seed: q.Seed, Actor: actor.ID(), CreatedAt: e.Now(), Total: len(ms)}
	if co.Data, err = json.Marshal(a); err != nil {
		return nil, err
	}
	return co, record(ctx, e, actor, co, "cohort.start")
}

func summarize(r *matching.Result) *Summary {
	s := r.Summary()
	return &Summary{Children: s.Children, Assigned: s.Assigned, FirstChoice: s.FirstChoice, Top3: s.Top3, Unassigned: s.Unassigned}
}

// AllocationOf returns a recorded allocation for the district officers of
// its district and supervisors over it; anyone else gets 404.
func AllocationOf(ctx context.Context, e *workflow.Engine, actor portal.Actor, id int64) (*Allocation, error) {
	co, err := e.Store.CohortByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if co.Kind != KindAllocation || co.Service != ServiceID || actor.User == nil {
		return nil, portal.NotFound(fmt.Errorf("schooling.AllocationOf(%d): not an allocation", id))
	}
	// Its district's officers (who may allocate) and supervisors over it
	// (who may read the audit trail).
	_, officer := e.Authz.Can(actor.User, co.District, ServiceID, workflow.EventAction(eventAllocate, statePublished))
	_, supervisor := e.Authz.Can(actor.User, co.District, "audit", "read")
	if !officer && !supervisor {
		e.DeniedOn(ctx, actor, "allocation.read", "cohort:"+strconv.FormatInt(co.ID, 10))
		return nil, portal.NotFound(fmt.Errorf("schooling.AllocationOf(%d): out of reach", id))
	}
	var a Allocation
	if err := json.Unmarshal(co.Data, &a); err != nil {
		return nil, err
	}
	a.ID = co.ID
	return &a, nil
}
