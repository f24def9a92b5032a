package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"tzportal/portal"
	"tzportal/portal/audit"
)

// The clerk's desk: who works a case now (认领 and 指派).
//
// A staff member who may act on an open case claims it; while they hold
// it, nobody else's decision on it goes through (409, naming the holder
// and their office), so two clerks never work the same case. The holder
// gives it back, or a district officer (or a street's lead: the
// street_lead role) assigns it to someone who may act on it. Each of
// these is a step of the case's timeline — the pseudo-events claim,
// release and assign, seen by staff only — and an audit entry (case.hold,
// case.release, case.assign: case.claim names the refusal of a second
// open application, see claimedElsewhere).
//
// The holder stays while the case moves on as long as they may still act
// on it, or it waits on the applicant (a correction comes back to the
// same clerk); it goes when the case ends, is transferred, or moves to a
// step that is not theirs (a district's decision).

// Audit actions of the desk's steps.
const (
	actionHold    = "case.hold"
	actionRelease = "case.release"
	actionAssign  = "case.assign"
)

// AuditAction is the audit action of a history row's event: case.<event>,
// but case.hold for a claim (case.claim is the refusal of a second open
// application).
func AuditAction(event string) string {
	switch event {
	case portal.EventClaim:
		return actionHold
	case portal.EventRelease:
		return actionRelease
	case portal.EventAssign:
		return actionAssign
	}
	return "case." + event
}

// mayWork reports whether u — anyone, not only the person asking, so from
// their grants — may fire some event of c in its current state, given its
// timeline hist (separation of duties: whoever accepted may not decide):
// who may hold it.
func (e *Engine) mayWork(u *portal.User, c *portal.Case, def *Definition, hist []portal.History) bool {
	if u == nil || u.Kind != portal.KindStaff || u.DisabledAt != nil {
		return false
	}
	for _, ev := range def.EventsFrom(c.State) {
		if def.Events[ev].Cohort {
			continue
		}
		if _, sep := e.separated(portal.Actor{User: u}, def.Events[ev], hist); sep {
			continue
		}
		act := EventAction(ev, c.State)
		for _, g := range u.Grants {
			if e.Authz.RoleMay(g.Role, g.Division, c.Division, c.Service, act) {
				return true
			}
		}
	}
	return false
}

// office names the division u works the case from: their grant covering
// the case's division (the first grant if none does).
func (e *Engine) office(u *portal.User, c *portal.Case) string {
	divs := e.Authz.Divisions()
	code := ""
	for _, g := range u.Grants {
		if code == "" || divs.Covers(g.Division, c.Division) {
			code = g.Division
			if divs.Covers(g.Division, c.Division) {
				break
			}
		}
	}
	if d, ok := divs.Get(code); ok {
		return d.Name
	}
	return code
}

// heldError is the refusal of a step on a case someone else holds.
func (e *Engine) heldError(holder *portal.User, c *portal.Case) error {
	return &portal.Error{Code: portal.ECONFLICT, Rule: "held", Message: "error.case_held",
		Data: map[string]any{"Holder": holder.Name, "Office": e.office(holder, c)},
		Err:  fmt.Errorf("workflow: %s is held by user %d", c.No, holder.ID)}
}

// heldByOther returns the holder of c if it is someone other than u who
// may still act on it (a holder who no longer may — their grant was
// revoked — holds nothing), else nil.
func (e *Engine) heldByOther(ctx context.Context, r portal.Reader, u *portal.User, c *portal.Case, def *Definition, hist []portal.History) (*portal.User, error) {
	if c.HolderID == nil || u == nil || *c.HolderID == u.ID {
		return nil, nil
	}
	holder, err := r.UserByID(ctx, *c.HolderID)
	if err != nil {
		return nil, err
	}
	if !e.mayWork(holder, c, def, hist) {
		return nil, nil
	}
	return holder, nil
}

// keepHolder decides, as f's case moves to a new state, whether its
// holder keeps it (see the package comment above).
func (e *Engine) keepHolder(ctx context.Context, f *Firing) error {
	c := f.Case
	if c.HolderID == nil {
		return nil
	}
	if err := e.decideHolder(ctx, f); err != nil || c.HolderID != nil {
		return err
	}
	return f.Tx.ReleaseHolder(ctx, c.ID)
}

// decideHolder clears f's case's holder unless they keep it.
func (e *Engine) decideHolder(ctx context.Context, f *Firing) error {
	c := f.Case
	st := f.Def.States[c.State]
	switch {
	case st.Final || !c.InQueue:
		c.HolderID, c.HolderName = nil, ""
		return nil
	case st.PausesClock:
		return nil
	}
	holder := f.Actor.User
	if holder == nil || holder.ID != *c.HolderID {
		var err error
		if holder, err = f.Tx.UserByID(ctx, *c.HolderID); err != nil {
			return err
		}
	}
	// The step being written counts: whoever accepted may not decide.
	hist := f.History
	if u := f.Actor.User; u != nil {
		id := u.ID
		hist = append(slices.Clip(hist), portal.History{Event: f.Event, From: f.From, To: c.State, ActorID: &id})
	}
	if !e.mayWork(holder, c, f.Def, hist) {
		c.HolderID, c.HolderName = nil, ""
	}
	return nil
}

// deskStep is one claim, release or assignment being decided: change sets
// the new holder (and the step's inputs) and reports whether anything
// changed; nothing is written when it did not.
type deskStep struct {
	event  string
	action string
	change func(ctx context.Context, f *Firing) (bool, error)
}

// desk runs a desk step on the case in one transaction and returns the
// case as the actor now sees it.
func (e *Engine) desk(ctx context.Context, actor portal.Actor, no string, step deskStep) (*View, error) {
	if err := checkCaseNo(no); err != nil {
		return nil, err
	}
	var out *View
	var deniedAction string
	err := e.Store.Tx(ctx, func(tx portal.Tx) error {
		deniedAction = ""
		c, hist, err := tx.CaseWithHistoryForUpdate(ctx, no)
		if err != nil {
			return err
		}
		if !e.visible(actor, c, hist) {
			deniedAction = "case.read"
			return portal.NotFound(fmt.Errorf("workflow.%s(%s): out of reach", step.event, no))
		}
		u := actor.User
		if u.Kind != portal.KindStaff {
			deniedAction = step.action
			return &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden_event",
				Err: fmt.Errorf("workflow.%s(%s): staff only", step.event, no)}
		}
		if !c.InQueue {
			return &portal.Error{Code: portal.ECONFLICT, Rule: "not_open", Message: "error.case_not_open",
				Data: map[string]any{"State": c.State}, Err: fmt.Errorf("workflow.%s(%s): in %s", step.event, no, c.State)}
		}
		ent := e.entry(c.Service)
		role, _ := e.Authz.Can(u, c.Division, "case", "read")
		f := e.firing(tx, ent.Def, c, step.event, actor, role, e.Now())
		f.History, f.To = hist, c.State
		f.Input.Values = portal.Inputs{}
		changed, err := step.change(ctx, f)
		if err != nil {
			if portal.ErrorCode(err) == portal.EFORBIDDEN {
				deniedAction = step.action
			}
			return err
		}
		if changed {
			if err := e.writeDesk(ctx, f, step.action); err != nil {
				return err
			}
		}
		out = e.view(actor, c, ent, f.History)
		return nil
	})
	e.auditRefusal(ctx, actor, no, deniedAction, err)
	return out, err
}

// writeDesk records a desk step: the case (its holder, a new version: a
// page opened before it is out of date), its timeline row and its audit
// entry. The state, its deadline and the rollups do not change.
func (e *Engine) writeDesk(ctx context.Context, f *Firing, action string) error {
	c := f.Case
	prev := c.Version
	c.Version++
	c.UpdatedAt = f.Now
	if err := f.Tx.UpdateCase(ctx, c, prev); err != nil {
		return err
	}
	h := &portal.History{CaseID: c.ID, Seq: c.Version, Event: f.Event, From: c.State, To: c.State,
		ActorRole: f.Role, Inputs: f.Input.Values, At: f.Now, DueAt: c.DueAt}
	id := f.Actor.User.ID
	h.ActorID = &id
	if err := f.Tx.InsertHistory(ctx, h); err != nil {
		return err
	}
	f.History = append(f.History, *h)
	ent := audit.Entry(f.Actor, action, caseObject(c.No), audit.ResultOK)
	if f.Role != "" {
		ent.Role = f.Role
	}
	ent.Division = c.Division
	holder := ""
	if c.HolderID != nil {
		holder = fmt.Sprintf("user:%d", *c.HolderID)
	}
	ent = audit.WithDetail(ent, map[string]any{"holder": holder, "version": c.Version})
	return e.Audit.Append(ctx, f.Tx, ent)
}

// Claim makes the actor the holder of an open case they may act on (认领).
// Claiming a case one holds already changes nothing; a case someone else
// holds is refused (409), naming them and their office.
func (e *Engine) Claim(ctx context.Context, actor portal.Actor, no string) (*View, error) {
	return e.desk(ctx, actor, no, deskStep{event: portal.EventClaim, action: actionHold,
		change: func(ctx context.Context, f *Firing) (bool, error) {
			u, c := f.Actor.User, f.Case
			if !e.mayWork(u, c, f.Def, f.History) {
				return false, &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden_claim",
					Err: fmt.Errorf("workflow.Claim(%s): nothing to do in %s", c.No, c.State)}
			}
			if c.HolderID != nil && *c.HolderID == u.ID {
				return false, nil
			}
			other, err := e.heldByOther(ctx, f.Tx, u, c, f.Def, f.History)
			if err != nil {
				return false, err
			}
			if other != nil {
				return false, e.heldError(other, c)
			}
			id := u.ID
			c.HolderID, c.HolderName = &id, u.Name
			return true, nil
		}})
}

// Release gives back a case the actor holds. Releasing a case nobody
// holds changes nothing; one someone else holds is theirs to give back
// (or for whoever assigns to reassign): 409.
func (e *Engine) Release(ctx context.Context, actor portal.Actor, no string) (*View, error) {
	return e.desk(ctx, actor, no, deskStep{event: portal.EventRelease, action: actionRelease,
		change: func(ctx context.Context, f *Firing) (bool, error) {
			u, c := f.Actor.User, f.Case
			if c.HolderID == nil {
				return false, nil
			}
			if *c.HolderID != u.ID {
				holder, err := f.Tx.UserByID(ctx, *c.HolderID)
				if err != nil {
					return false, err
				}
				return false, e.heldError(holder, c)
			}
			c.HolderID, c.HolderName = nil, ""
			return true, nil
		}})
}

// Assign makes the staff member with the login the case's holder (指派),
// whoever held it: for those who may assign the cases of the case's
// division (policies/policy.csv: case, assign). The assignee must be able
// to act on the case now, else 422 on login.
func (e *Engine) Assign(ctx context.Context, actor portal.Actor, no, login string) (*View, error) {
	login = strings.TrimSpace(login)
	return e.desk(ctx, actor, no, deskStep{event: portal.EventAssign, action: actionAssign,
		change: func(ctx context.Context, f *Firing) (bool, error) {
			c := f.Case
			role, ok := e.Authz.Can(f.Actor.User, c.Division, "case", "assign")
			if !ok {
				return false, &portal.Error{Code: portal.EFORBIDDEN, Message: "error.forbidden_assign",
					Err: fmt.Errorf("workflow.Assign(%s): may not assign", c.No)}
			}
			f.Role = role
			if login == "" {
				return false, &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Labels: "desk.field",
					Fields: []portal.FieldError{{Field: "login", Rule: "required"}}}
			}
			to, err := f.Tx.UserByLogin(ctx, login)
			switch {
			case portal.ErrorCode(err) == portal.ENOTFOUND:
				return false, &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Labels: "desk.field",
					Fields: []portal.FieldError{{Field: "login", Rule: "cannot_act"}}}
			case err != nil:
				return false, err
			}
			if !e.mayWork(to, c, f.Def, f.History) {
				return false, &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Labels: "desk.field",
					Fields: []portal.FieldError{{Field: "login", Rule: "cannot_act"}}}
			}
			if c.HolderID != nil && *c.HolderID == to.ID {
				return false, nil
			}
			id := to.ID
			c.HolderID, c.HolderName = &id, to.Name
			f.Input.Values = portal.Inputs{"holder": to.Name, "login": to.Login}
			return true, nil
		}})
}

// Assignees lists the staff who may hold the case now (the choices of an
// assignment), by id. Nil unless actor may assign.
func (e *Engine) Assignees(ctx context.Context, actor portal.Actor, v *View) ([]portal.User, error) {
	c, def := v.Case, v.Def
	if _, ok := e.Authz.Can(actor.User, c.Division, "case", "assign"); !ok || !c.InQueue {
		return nil, nil
	}
	var divisions []string
	if path := e.Authz.Divisions().Path(c.Division); path != "" {
		divisions = strings.Split(path, "/")
	}
	// Staff with a grant on the case's division or above: those whose
	// grants let them act on its state now.
	staff, err := e.Store.StaffIn(ctx, divisions)
	if err != nil {
		return nil, err
	}
	var out []portal.User
	for i := range staff {
		if e.mayWork(&staff[i], c, def, v.History) {
			out = append(out, staff[i])
		}
	}
	return out, nil
}
