package housing

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
)

// Notice is a household on public notice (公示) as anyone may see it,
// without an account: no ID number, no income, no address, not even the
// case number — the reference is the notice's own.
type Notice struct {
	Ref           string `json:"ref"`
	Kind          string `json:"kind"`
	DivisionName  string `json:"division_name"`
	Applicant     string `json:"applicant"` // "张*"
	HouseholdSize int    `json:"household_size"`
	NoticeEnds    string `json:"notice_ends"` // RFC 3339

	// For the pages: the notice's last day, the city's date.
	LastDay string `json:"-"`
	ends    time.Time
	caseNo  string
	state   string
}

// noticeStates are the states of a case on notice: on it, or held by an
// objection while the notice runs (more objections may come).
var noticeStates = []string{stateNotice, stateObjection}

// Notices returns the households on public notice now, every district's,
// the soonest ending first.
func (s *Service) Notices(ctx context.Context, e *workflow.Engine) ([]Notice, error) {
	divs := e.Authz.Divisions()
	now := e.Now()
	out := []Notice{}
	for _, district := range divs.Children(divs.Root) {
		for _, st := range noticeStates {
			var after int64
			for {
				page, err := e.Store.CasesInState(ctx, ServiceID, district, st, after, casesPage)
				if err != nil {
					return nil, err
				}
				for i := range page {
					n, err := s.notice(e, &page[i])
					if err != nil {
						return nil, err
					}
					if now.Before(n.ends) {
						out = append(out, *n)
					}
				}
				if len(page) < casesPage {
					break
				}
				after = page[len(page)-1].ID
			}
		}
	}
	slices.SortFunc(out, func(a, b Notice) int {
		if c := a.ends.Compare(b.ends); c != 0 {
			return c
		}
		return strings.Compare(a.Ref, b.Ref)
	})
	return out, nil
}

// notice is what the public sees of a case on notice.
func (s *Service) notice(e *workflow.Engine, c *portal.Case) (*Notice, error) {
	f, err := stored(c)
	if err != nil {
		return nil, err
	}
	res, err := readResult(c)
	if err != nil {
		return nil, err
	}
	ref, _ := res[resNoticeRef].(string)
	endsText, _ := res[resNoticeEnds].(string)
	ends, err := time.Parse(time.RFC3339, endsText)
	if ref == "" || err != nil {
		return nil, fmt.Errorf("housing: %s is on notice without its reference or end", c.No)
	}
	n := &Notice{Ref: ref, Kind: f.Kind, HouseholdSize: f.size(), NoticeEnds: endsText, ends: ends, caseNo: c.No, state: c.State,
		LastDay: e.Calendar.LastDay(ends).In(e.Calendar.Zone).Format(time.DateOnly)}
	n.Applicant, _ = res["notice_applicant"].(string)
	if size, ok := res["household_size"].(float64); ok {
		n.HouseholdSize = int(size)
	}
	divs := e.Authz.Divisions()
	if d, ok := divs.Get(c.Division); ok {
		n.DivisionName = d.Name
		if p, ok := divs.Get(d.Parent); ok && p.Code != divs.Root {
			n.DivisionName = p.Name + " " + d.Name
		}
	}
	return n, nil
}

// noticeOf finds the notice of a reference among the cases on notice;
// ENOTFOUND if no case is on notice under it (any more).
func (s *Service) noticeOf(ctx context.Context, e *workflow.Engine, ref string) (*Notice, error) {
	if !validRef(ref) {
		return nil, portal.NotFound(fmt.Errorf("housing: %q is not a notice's reference", ref))
	}
	divs := e.Authz.Divisions()
	for _, district := range divs.Children(divs.Root) {
		for _, st := range noticeStates {
			var after int64
			for {
				page, err := e.Store.CasesInState(ctx, ServiceID, district, st, after, casesPage)
				if err != nil {
					return nil, err
				}
				for i := range page {
					if resultText(page[i].Result, resNoticeRef) == ref {
						return s.notice(e, &page[i])
					}
				}
				if len(page) < casesPage {
					break
				}
				after = page[len(page)-1].ID
			}
		}
	}
	return nil, portal.NotFound(fmt.Errorf("housing: no notice %s", ref))
}

// validRef checks a notice's reference: 24 lower-case hex digits.
func validRef(ref string) bool {
	if len(ref) != 24 {
		return false
	}
	for _, r := range ref {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// Objection is an objection as anyone may raise it (the API's body).
type Objection struct {
	Contact string `json:"contact"`
	Reason  string `json:"reason"`
}

// checkObjection validates an objection: a contact (how the district may reach the
// objector, shown to its officers only) and a reason, within the settings'
// bounds. Errors are labelled housing-security.objection.<field>.
func (s *Service) checkObjection(o *Objection) error {
	o.Contact, o.Reason = strings.TrimSpace(o.Contact), strings.TrimSpace(o.Reason)
	set := s.set.Objections
	var bad []portal.FieldError
	bad = append(bad, s.v.Var("contact", o.Contact, "required,max="+strconv.Itoa(set.ContactMaxChars))...)
	if o.Contact != "" && !validate.CleanLine(o.Contact) {
		bad = append(bad, portal.FieldError{Field: "contact", Rule: "line"})
	}
	bad = append(bad, s.v.Var("reason", o.Reason, fmt.Sprintf("required,min=%d,max=%d", set.ReasonMinChars, set.ReasonMaxChars))...)
	if o.Reason != "" && !validate.CleanText(o.Reason) {
		bad = append(bad, portal.FieldError{Field: "reason", Rule: "text"})
	}
	if len(bad) > 0 {
		return &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Fields: bad, Labels: ServiceID + ".objection"}
	}
	return nil
}

// PublicActor is the actor of an objection raised by a member of the
// public: trusted like the scheduler (anyone may object), named in the
// audit trail with the address it came from.
func PublicActor(ip string) portal.Actor { return portal.Actor{System: "public", IP: ip} }

// Object raises an objection to the notice ref on behalf of a member of
// the public (actor: PublicActor). The first objection holds the case: the
// object event moves it to objection review and files the objection in the
// same transaction, the applicant told that an objection exists (never
// who raised it). One raised while the case is held is filed under the
// case's row lock, and audited. Neither audit entry holds the contact.
// After the notice's end it is refused (409); an unknown reference is
// ENOTFOUND.
func (s *Service) Object(ctx context.Context, e *workflow.Engine, actor portal.Actor, ref string, o Objection) error {
	if err := s.checkObjection(&o); err != nil {
		return err
	}
	// A case may move between reading it and filing (another objection,
	// the officer letting it go): a few tries, each reading it afresh.
	for try := 0; try < 3; try++ {
		n, err := s.noticeOf(ctx, e, ref)
		if err != nil {
			return err
		}
		if !e.Now().Before(n.ends) {
			return noticeEnded(n)
		}
		if n.state == stateNotice {
			moved, err := e.FireCohort(ctx, actor, ServiceID, eventObject,
				[]workflow.CohortStep{{CaseNo: n.caseNo, Result: ObjectionStep(o)}}, 1,
				func(context.Context, portal.Tx, int) error { return nil })
			if err != nil || moved == 1 {
				return err
			}
			continue // held meanwhile: file it as one more
		}
		filed := false
		err = e.Store.Tx(ctx, func(tx portal.Tx) error {
			filed = false
			c, err := tx.CaseByNoForUpdate(ctx, n.caseNo)
			if err != nil || c.State != stateObjection {
				return err // let go meanwhile: try again
			}
			if err := noticeRunning(c, e.Now(), e.Calendar); err != nil {
				return err
			}
			ob := &portal.Objection{CaseID: c.ID, Contact: o.Contact, Reason: o.Reason, CreatedAt: e.Now()}
			if err := tx.InsertObjection(ctx, ob); err != nil {
				return err
			}
			filed = true
			ent := audit.Entry(actor, "case."+eventObject, "case:"+c.No, audit.ResultOK)
			ent.Division = c.Division
			return e.Audit.Append(ctx, tx, audit.WithDetail(ent, map[string]any{"objection": ob.ID, "state": c.State}))
		})
		if err != nil || filed {
			return err
		}
	}
	return &portal.Error{Code: portal.ECONFLICT, Message: "error.case_conflict",
		Err: fmt.Errorf("housing.Object(%s): the case kept moving", ref)}
}

// ObjectionStep is what the object event's cohort step carries: the
// objection its action files in the event's transaction. The event fires
// with it only (Object does; a tool moving a case as a cohort of one must
// give one too: an objection is never a state without its row).
func ObjectionStep(o Objection) map[string]any {
	return map[string]any{resObjectionToFile: pendingObjection(o)}
}

// noticeEnded refuses an objection after the notice's end.
func noticeEnded(n *Notice) error {
	return &portal.Error{Code: portal.ECONFLICT, Rule: "notice_ended", Message: ServiceID + ".rule.notice_ended",
		Data: map[string]any{"LastDay": n.LastDay}}
}

// noticeRunning refuses an objection to a case whose notice has ended,
// checked under the case's row lock: the timer may not have moved it yet.
func noticeRunning(c *portal.Case, now time.Time, cal *workflow.Calendar) error {
	ends, err := time.Parse(time.RFC3339, resultText(c.Result, resNoticeEnds))
	if err != nil {
		return fmt.Errorf("housing: %s is on notice without its end: %w", c.No, err)
	}
	if !now.Before(ends) {
		return noticeEnded(&Notice{LastDay: cal.LastDay(ends).In(cal.Zone).Format(time.DateOnly)})
	}
	return nil
}

// ObjectionView is an objection as the district's officers see it.
type ObjectionView struct {
	ID         int64      `json:"id"`
	Contact    string     `json:"contact"`
	Reason     string     `json:"reason"`
	CreatedAt  time.Time  `json:"created_at"`
	Open       bool       `json:"open"`
	Upheld     *bool      `json:"upheld,omitempty"`
	Resolution string     `json:"resolution,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	// For the page: the times in the city's zone, and open, upheld or
	// dismissed.
	CreatedText, ResolvedText, Outcome string `json:"-"`
}

// ObjectionsFor returns a case's objections, with how to reach each
// objector, for the officers who decide them (the district's officers)
// and supervisors over them; anyone else gets ENOTFOUND, as for a case out
// of reach, and the refusal is audited. Each reading is audited too: the
// contacts are the objectors' personal data.
func ObjectionsFor(ctx context.Context, e *workflow.Engine, actor portal.Actor, no string) (*workflow.View, []ObjectionView, error) {
	v, err := e.Get(ctx, actor, no)
	if err != nil {
		return nil, nil, err
	}
	u := actor.User
	if v.Case.Service != ServiceID || u == nil || u.Kind != portal.KindStaff {
		e.Denied(ctx, actor, "objections.read", no)
		return nil, nil, portal.NotFound(fmt.Errorf("housing.ObjectionsFor(%s): not theirs to read", no))
	}
	_, officer := e.Authz.Can(u, v.Case.Division, ServiceID, workflow.EventAction("resolve_objection", stateObjection))
	_, supervisor := e.Authz.Can(u, v.Case.Division, "audit", "read")
	if !officer && !supervisor {
		e.Denied(ctx, actor, "objections.read", no)
		return nil, nil, portal.NotFound(fmt.Errorf("housing.ObjectionsFor(%s): not theirs to read", no))
	}
	all, err := e.Store.ObjectionsOf(ctx, v.Case.ID)
	if err != nil {
		return nil, nil, err
	}
	ent := audit.Entry(actor, "objections.read", "case:"+no, audit.ResultOK)
	ent.Division = v.Case.Division
	if err := e.Audit.Record(ctx, e.Store, audit.WithDetail(ent, map[string]any{"objections": len(all)})); err != nil {
		return nil, nil, err
	}
	zone := e.Calendar.Zone
	out := make([]ObjectionView, 0, len(all))
	for _, o := range all {
		ov := ObjectionView{ID: o.ID, Contact: o.Contact, Reason: o.Reason, CreatedAt: o.CreatedAt, Open: o.ResolvedAt == nil,
			Upheld: o.Upheld, Resolution: o.Resolution, ResolvedAt: o.ResolvedAt, CreatedText: o.CreatedAt.In(zone).Format("2006-01-02 15:04")}
		switch {
		case o.ResolvedAt == nil:
			ov.Outcome = "open"
		case o.Upheld != nil && *o.Upheld:
			ov.Outcome = "upheld"
		default:
			ov.Outcome = "dismissed"
		}
		if o.ResolvedAt != nil {
			ov.ResolvedText = o.ResolvedAt.In(zone).Format("2006-01-02 15:04")
		}
		out = append(out, ov)
	}
	return v, out, nil
}
