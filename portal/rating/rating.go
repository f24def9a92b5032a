// Package rating is 好差评 (GB/T 39734-2020): once a case has ended its
// applicant rates the service on five levels, once, with an optional
// comment; a bad rating opens a follow-up for the supervisors of the case's
// division (a return visit, then rectification, closed with what was done,
// each by the time policies/ratings.yaml sets); supervisors see the rates
// of their jurisdiction per division and per clerk.
package rating

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/authz"
	"tzportal/portal/locale"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
)

// Policy holds the settings of policies/ratings.yaml.
type Policy struct {
	CommentMax    int               `yaml:"comment_max"`
	NoteMax       int               `yaml:"note_max"`
	GoodMin       int               `yaml:"good_min"`
	FollowUpMax   int               `yaml:"follow_up_max"`
	ReturnVisit   workflow.Deadline `yaml:"return_visit"`
	Rectification workflow.Deadline `yaml:"rectification"`
}

// LoadPolicy reads ratings.yaml from fsys and checks it.
func LoadPolicy(fsys fs.FS) (*Policy, error) {
	src, err := fs.ReadFile(fsys, "ratings.yaml")
	if err != nil {
		return nil, fmt.Errorf("policies/ratings.yaml: %w", err)
	}
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("policies/ratings.yaml: %w", err)
	}
	switch {
	case p.CommentMax <= 0 || p.NoteMax <= 0:
		return nil, fmt.Errorf("policies/ratings.yaml: comment_max and note_max must be positive")
	case p.GoodMin < 1 || p.GoodMin > 5 || p.FollowUpMax < 0 || p.FollowUpMax >= p.GoodMin:
		return nil, fmt.Errorf("policies/ratings.yaml: want 0 ≤ follow_up_max < good_min ≤ 5")
	case p.ReturnVisit.N <= 0 || p.Rectification.N <= 0:
		return nil, fmt.Errorf("policies/ratings.yaml: return_visit and rectification must be set")
	}
	return &p, nil
}

// Audit actions.
const (
	ActionRate  = "rating.create"
	ActionVisit = "rating.visit"
	ActionClose = "rating.close"
)

// Follow-up steps, as the API and the pages name them.
const (
	StepVisit = "visit"
	StepClose = "close"
)

// Ratings is the rating service.
type Ratings struct {
	Engine *workflow.Engine
	Policy *Policy
	// Authz and Catalog find and tell the supervisors of a follow-up (in
	// their inbox, in their language).
	Authz   *authz.Authz
	Catalog *locale.Catalog
}

// Input is a rating as the applicant sends it.
type Input struct {
	Score   int
	Comment string
}

// check validates a rating's input.
func (r *Ratings) check(in Input) error {
	var bad []portal.FieldError
	if in.Score < 1 || in.Score > 5 {
		bad = append(bad, portal.FieldError{Field: "score", Rule: "oneof"})
	}
	switch {
	case utf8.RuneCountInString(in.Comment) > r.Policy.CommentMax:
		bad = append(bad, portal.FieldError{Field: "comment", Rule: "max", Param: strconv.Itoa(r.Policy.CommentMax)})
	case !validate.CleanText(in.Comment):
		bad = append(bad, portal.FieldError{Field: "comment", Rule: "text"})
	}
	if len(bad) > 0 {
		e := portal.Invalid(bad...)
		e.Labels = "rating.field"
		return e
	}
	return nil
}

// Rate records the applicant's rating of an ended case: once (ECONFLICT
// after), only by its applicant (staff who see the case: EFORBIDDEN; anyone
// else: ENOTFOUND), only once it has ended (ERULE case_not_ended). A score
// up to follow_up_max opens the follow-up, in the same transaction.
func (r *Ratings) Rate(ctx context.Context, actor portal.Actor, no string, in Input) (*portal.Rating, error) {
	e := r.Engine
	c, hist, err := e.Reach(ctx, actor, no)
	if err != nil {
		return nil, err
	}
	if actor.User.ID != c.ApplicantID {
		e.Denied(ctx, actor, ActionRate, no)
		return nil, portal.Errorf(portal.EFORBIDDEN, "rating.error.applicant_only", nil)
	}
	var st *workflow.State
	if def, ok := e.Definition(c.Service); ok {
		st = def.States[c.State]
	}
	switch {
	case st == nil || !st.Final:
		return nil, portal.RuleError("case_not_ended", "rating.error.not_ended", nil)
	case st.Private:
		// A draft given up before it was handed in: no service to rate.
		return nil, portal.RuleError("case_not_handed_in", "rating.error.not_handed_in", nil)
	}
	if err := r.check(in); err != nil {
		return nil, err
	}
	now := e.Now()
	rt := &portal.Rating{CaseID: c.ID, CaseNo: c.No, Service: c.Service, Division: c.Division, District: c.District,
		Score: in.Score, Comment: in.Comment, CreatedAt: now, ClerkID: lastStaff(c, hist)}
	if in.Score <= r.Policy.FollowUpMax {
		rt.FollowUp = &portal.FollowUp{CaseID: c.ID, CaseNo: c.No, Division: c.Division, District: c.District, State: portal.FollowUpVisit,
			OpenedAt: now, VisitDue: e.Calendar.Due(now, r.Policy.ReturnVisit), RectifyDue: e.Calendar.Due(now, r.Policy.Rectification),
			Score: in.Score, Comment: in.Comment, Service: c.Service}
	}
	err = e.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.InsertRating(ctx, rt); err != nil {
			return err
		}
		if rt.FollowUp != nil {
			if err := r.tell(ctx, tx, c, rt); err != nil {
				return err
			}
		}
		ent := audit.Entry(actor, ActionRate, "case:"+no, audit.ResultOK)
		ent.Division = c.Division
		return e.Audit.Append(ctx, tx, audit.WithDetail(ent, map[string]any{"score": in.Score, "follow_up": rt.FollowUp != nil}))
	})
	if err != nil {
		return nil, err
	}
	return rt, nil
}

// lastStaff is the staff member who took the case's last step: whose
// service the applicant rates.
func lastStaff(c *portal.Case, hist []portal.History) *int64 {
	for i := len(hist) - 1; i >= 0; i-- {
		h := hist[i]
		// Who held or assigned the case (the desk's steps) decided nothing.
		if h.ActorID != nil && *h.ActorID != c.ApplicantID && h.ActorRole != portal.RoleApplicant && !portal.DeskEvent(h.Event) {
			id := *h.ActorID
			return &id
		}
	}
	return nil
}

// Get returns a case's rating (with its follow-up) to its applicant and to
// the supervisors who follow ratings up in its division; for anyone else,
// and for a case not rated, there is none (ENOTFOUND; audited for the
// former).
func (r *Ratings) Get(ctx context.Context, actor portal.Actor, no string) (*portal.Rating, error) {
	e := r.Engine
	c, _, err := e.Reach(ctx, actor, no)
	if err != nil {
		return nil, err
	}
	if actor.User.ID != c.ApplicantID {
		if _, ok := e.Authz.Can(actor.User, c.Division, "rating", "follow_up"); !ok {
			e.Denied(ctx, actor, "rating.read", no)
			return nil, portal.NotFound(fmt.Errorf("rating.Get(%s): not the applicant's nor a supervisor's", no))
		}
	}
	return e.Store.RatingOf(ctx, c.ID)
}

// Of returns the rating of a case already read for its applicant (the
// case page), nil if not rated yet.
func (r *Ratings) Of(ctx context.Context, caseID int64) (*portal.Rating, error) {
	rt, err := r.Engine.Store.RatingOf(ctx, caseID)
	if portal.ErrorCode(err) == portal.ENOTFOUND {
		return nil, nil
	}
	return rt, err
}

// FollowUp records a step of a bad rating's follow-up: the return visit
// (step visit, from visit to rectify) or what was done (step close, from
// rectify to closed), each with its note. Only supervisors of the case's
// division; to anyone else, and for a case without a follow-up, there is
// none (ENOTFOUND, audited).
func (r *Ratings) FollowUp(ctx context.Context, actor portal.Actor, no, step, note string) (*portal.FollowUp, error) {
	e := r.Engine
	c, _, err := e.Reach(ctx, actor, no)
	if err != nil {
		return nil, err
	}
	var action string
	switch step {
	case StepVisit:
		action = ActionVisit
	case StepClose:
		action = ActionClose
	default: // no such step: no such page
		return nil, portal.NotFound(fmt.Errorf("rating.FollowUp(%s): no step %q", no, step))
	}
	if _, ok := e.Authz.Can(actor.User, c.Division, "rating", "follow_up"); !ok {
		e.Denied(ctx, actor, action, no)
		return nil, portal.NotFound(fmt.Errorf("rating.FollowUp(%s): not a supervisor of its division", no))
	}
	rt, err := e.Store.RatingOf(ctx, c.ID)
	if err == nil && rt.FollowUp == nil {
		err = portal.NotFound(fmt.Errorf("rating.FollowUp(%s): no follow-up", no))
	}
	if err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			e.Denied(ctx, actor, action, no)
		}
		return nil, err
	}
	f := rt.FollowUp
	from := portal.FollowUpVisit // step is StepVisit or StepClose, checked above
	if step == StepClose {
		from = portal.FollowUpRectify
	}
	if f.State != from {
		return nil, &portal.Error{Code: portal.ECONFLICT, Message: "rating.error.step_" + step, Data: map[string]any{"State": f.State}}
	}
	if err := r.checkNote(note); err != nil {
		return nil, err
	}
	now, uid := e.Now(), actor.User.ID
	if step == StepVisit {
		f.State, f.VisitedAt, f.VisitedBy, f.VisitNote = portal.FollowUpRectify, &now, &uid, note
	} else {
		f.State, f.ClosedAt, f.ClosedBy, f.ClosingNote = portal.FollowUpClosed, &now, &uid, note
	}
	err = e.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.UpdateFollowUp(ctx, f, from); err != nil {
			return err
		}
		ent := audit.Entry(actor, action, "case:"+no, audit.ResultOK)
		ent.Division = c.Division
		return e.Audit.Append(ctx, tx, ent)
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (r *Ratings) checkNote(note string) error {
	var fe *portal.FieldError
	switch {
	case note == "":
		fe = &portal.FieldError{Field: "note", Rule: "required"}
	case utf8.RuneCountInString(note) > r.Policy.NoteMax:
		fe = &portal.FieldError{Field: "note", Rule: "max", Param: strconv.Itoa(r.Policy.NoteMax)}
	case !validate.CleanText(note):
		fe = &portal.FieldError{Field: "note", Rule: "text"}
	}
	if fe == nil {
		return nil
	}
	e := portal.Invalid(*fe)
	e.Labels = "rating.field"
	return e
}

// OnTime reports whether a follow-up met its due times: both, once closed.
func OnTime(f *portal.FollowUp) bool {
	return f.VisitedAt != nil && !f.VisitedAt.After(f.VisitDue) && f.ClosedAt != nil && !f.ClosedAt.After(f.RectifyDue)
}

// Overview is what a supervisor sees of the ratings of their jurisdiction.
type Overview struct {
	Divisions []portal.RatingCount
	Clerks    []portal.RatingCount
	FollowUps []portal.FollowUp
	Total     portal.RatingCount
}

// withEnded adds to the counts per street the cases that ended there (of
// every year), from the dashboards' rollups: the share of ended cases that
// were rated reads a row per street and state, not the ended cases.
func (r *Ratings) withEnded(ctx context.Context, scope portal.CaseFilter, counts []portal.RatingCount) ([]portal.RatingCount, error) {
	e := r.Engine
	divs := e.Authz.Divisions()
	var streets []string
	for _, d := range divs.All() {
		if !d.Leaf() {
			continue
		}
		if scope.AllScope || slices.ContainsFunc(scope.Scope, func(t portal.ScopeTerm) bool { return divs.Covers(t.Division+t.District, d.Code) }) {
			streets = append(streets, d.Code)
		}
	}
	cc, err := e.Store.StatCases(ctx, portal.StatQuery{Areas: streets, AllYears: true, ByArea: true})
	if err != nil {
		return nil, err
	}
	rows := cc[0]
	byKey := map[string]int{}
	for i, c := range counts {
		byKey[c.Key] = i
	}
	for _, c := range rows {
		def, ok := e.Definition(c.Service)
		if st := def.States[c.State]; !ok || st == nil || !st.Final {
			continue
		}
		i, ok := byKey[c.Area]
		if !ok {
			i = len(counts)
			byKey[c.Area] = i
			counts = append(counts, portal.RatingCount{Key: c.Area})
		}
		counts[i].Ended += int(c.N)
	}
	slices.SortFunc(counts, func(a, b portal.RatingCount) int { return strings.Compare(a.Key, b.Key) })
	return counts, nil
}

// followUpLimit bounds the follow-ups one page lists.
const followUpLimit = 500

// Overview returns the rates and the follow-ups of the actor's
// jurisdiction (those they may follow up); ENOTFOUND for anyone else.
func (r *Ratings) Overview(ctx context.Context, actor portal.Actor) (*Overview, error) {
	e := r.Engine
	u := actor.User
	if u == nil {
		return nil, portal.Errorf(portal.EUNAUTHORIZED, "error.login_required", nil)
	}
	scope := e.Authz.Scope(u, "rating", "follow_up")
	if u.Kind != portal.KindStaff || (!scope.AllScope && len(scope.Scope) == 0) {
		e.DeniedOn(ctx, actor, "rating.read", "ratings")
		return nil, portal.NotFound(fmt.Errorf("rating.Overview: no jurisdiction"))
	}
	q := portal.RatingQuery{Scope: scope.Scope, AllScope: scope.AllScope, GoodMin: r.Policy.GoodMin}
	o := &Overview{}
	var err error
	if o.Divisions, err = e.Store.RatingsByDivision(ctx, q); err != nil {
		return nil, err
	}
	if o.Divisions, err = r.withEnded(ctx, scope, o.Divisions); err != nil {
		return nil, err
	}
	if o.Clerks, err = e.Store.RatingsByClerk(ctx, q); err != nil {
		return nil, err
	}
	if o.FollowUps, err = e.Store.FollowUps(ctx, q, followUpLimit); err != nil {
		return nil, err
	}
	for _, d := range o.Divisions {
		o.Total.Rated += d.Rated
		o.Total.Good += d.Good
		o.Total.Ended += d.Ended
		o.Total.FollowN += d.FollowN
		o.Total.OnTime += d.OnTime
	}
	return o, nil
}

// tell puts a new follow-up in the inbox of each supervisor who may follow
// it up (a grant over the case's division that carries rating follow_up),
// in the rating's transaction.
func (r *Ratings) tell(ctx context.Context, tx portal.Tx, c *portal.Case, rt *portal.Rating) error {
	e := r.Engine
	divs := []string{c.Division}
	if c.District != "" {
		divs = append(divs, c.District)
	}
	if root := e.Authz.Divisions().Root; root != "" {
		divs = append(divs, root)
	}
	staff, err := tx.StaffIn(ctx, divs)
	if err != nil {
		return err
	}
	f := rt.FollowUp
	for _, u := range staff {
		may := false
		for _, g := range u.Grants {
			may = may || r.Authz.RoleMay(g.Role, g.Division, c.Division, "rating", "follow_up")
		}
		if !may {
			continue
		}
		l := r.Catalog.L(u.Locale)
		data := map[string]any{"CaseNo": c.No, "Service": l.T(c.Service + ".name"), "Score": l.T("rating.score." + strconv.Itoa(rt.Score)),
			"Due": e.Calendar.LastDay(f.VisitDue).Format("2006-01-02")}
		id := c.ID
		n := &portal.Notification{UserID: u.ID, CaseID: &id, CaseNo: c.No, Kind: "rating.follow_up",
			Title: l.T("rating.notify.title", data), Body: l.T("rating.notify.body", data), CreatedAt: rt.CreatedAt}
		if err := tx.InsertNotice(ctx, n, nil); err != nil {
			return err
		}
	}
	return nil
}
