package workflow

import (
	"context"
	"fmt"

	"tzportal/portal"
)

// accessLogLimit bounds the access log one answer holds: rows are per
// person, kind and day, so a case's whole life fits in it.
const accessLogLimit = 1000

// Access is actor's access of kind to c, by the grant that reaches it (the
// office and role the applicant will see), or nil when the actor is the
// applicant or nobody: only staff and other systems are recorded.
func (e *Engine) Access(actor portal.Actor, c *portal.Case, kind string) *portal.Access {
	u := actor.User
	if u == nil || u.Kind == portal.KindApplicant || u.ID == c.ApplicantID {
		return nil
	}
	obj, act := "case", "read"
	if kind == portal.AccessReveal {
		obj, act = "idnumber", "reveal"
	}
	role, _ := e.Authz.Can(u, c.Division, obj, act)
	division := ""
	divs := e.Authz.Divisions()
	for _, g := range u.Grants {
		if (role == "" || g.Role == role) && divs.Covers(g.Division, c.Division) {
			role, division = g.Role, g.Division
			break
		}
	}
	now := e.Now()
	return &portal.Access{CaseID: c.ID, UserID: u.ID, Kind: kind, Day: now.In(e.Calendar.Zone).Format("2006-01-02"),
		Role: role, Division: division, Count: 1, FirstAt: now, LastAt: now}
}

// recordView records that staff read the case, before they see it: one
// statement outside any transaction. If it cannot be written the read
// fails (the applicant is promised every access).
func (e *Engine) recordView(ctx context.Context, actor portal.Actor, c *portal.Case) error {
	a := e.Access(actor, c, portal.AccessView)
	if a == nil {
		return nil
	}
	if err := e.Store.RecordAccess(ctx, *a); err != nil {
		return fmt.Errorf("workflow.recordView(%s): %w", c.No, err)
	}
	return nil
}

// AccessLog returns who (by office and role) read a case, the latest
// first: to its applicant, and to supervisors who may read its audit
// trail; to anyone else the case does not exist (404, audited).
func (e *Engine) AccessLog(ctx context.Context, actor portal.Actor, no string) (*portal.Case, []portal.Access, error) {
	c, _, err := e.Reach(ctx, actor, no)
	if err != nil {
		return nil, nil, err
	}
	if actor.User.ID != c.ApplicantID {
		if _, ok := e.Authz.Can(actor.User, c.Division, "audit", "read"); !ok {
			e.Denied(ctx, actor, "access.read", no)
			return nil, nil, portal.NotFound(fmt.Errorf("workflow.AccessLog(%s): not the applicant's nor a supervisor's", no))
		}
	}
	log, err := e.Store.AccessLog(ctx, c.ID, accessLogLimit)
	return c, log, err
}

// AccessLogOf returns the access log of a case already read for its
// applicant (the case page); nil for anyone else.
func (e *Engine) AccessLogOf(ctx context.Context, v *View) ([]portal.Access, error) {
	if !v.Owner {
		return nil, nil
	}
	return e.Store.AccessLog(ctx, v.Case.ID, accessLogLimit)
}

// Reach reads a case for something about it other than its file (its
// access log, its rating): what Get checks, without recording a view. Out
// of reach is ENOTFOUND, audited.
func (e *Engine) Reach(ctx context.Context, actor portal.Actor, no string) (*portal.Case, []portal.History, error) {
	if err := checkCaseNo(no); err != nil {
		return nil, nil, err
	}
	c, hist, err := e.Store.CaseWithHistory(ctx, no)
	if err != nil {
		return nil, nil, err
	}
	if !e.visible(actor, c, hist) {
		e.Denied(ctx, actor, "case.read", no)
		return nil, nil, portal.NotFound(fmt.Errorf("workflow.Reach(%s): out of reach", no))
	}
	return c, hist, nil
}
