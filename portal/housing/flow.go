package housing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// States and events the code reads history, counts or lists by.
const (
	stateNotice      = "public_notice"
	stateObjection   = "objection_review"
	stateRejected    = "rejected"
	stateWaitlisted  = "waitlisted"
	stateLeased      = "leased"
	eventObject      = "object"
	eventDecline     = "decline_offer"
	eventLapse       = "lapse_offer"
	eventRecheckDone = "decide_recheck"
)

// Result keys the code writes (the API contract) and reads.
const (
	resNoticeRef       = "notice_ref"
	resNoticeEnds      = "notice_ends" // RFC 3339: the notice state's deadline_from
	resRecheckUntil    = "recheck_until"
	resRecheckAllowed  = "recheck_allowed"
	resWaitlistedAt    = "waitlisted_at"
	resDeclines        = "declines"
	resUnit            = "unit"
	resDrawRank        = "draw_rank"
	resObjectionToFile = "objection_pending" // carried by the object event's step, never stored
	inputUpheld        = "upheld"
	answerYes          = "yes"
)

// Hooks returns the guards, conditions, actions and claims the workflow
// file names.
func (s *Service) Hooks() workflow.Hooks {
	return workflow.Hooks{
		Guards: map[string]workflow.Guard{
			"form_complete":   s.formComplete,
			"eligible":        s.eligible,
			"recheck_allowed": recheckAllowed,
			"notice_running": func(_ context.Context, f *workflow.Firing) error {
				return noticeRunning(f.Case, f.Now, f.Cal)
			},
		},
		Conditions: map[string]workflow.Condition{
			"upheld":       upheld,
			"notice_over":  noticeOver,
			"noticed":      noticed,
			"last_decline": s.lastDecline,
		},
		Actions: map[string]workflow.Action{
			"assess":            s.assessAction,
			"open_notice":       s.openNotice,
			"record_objection":  recordObjection,
			"decide_objections": decideObjections,
			"open_recheck":      s.openRecheck,
			"enter_waitlist":    s.enterWaitlist,
			"count_decline":     countDecline,
			"record_lease":      recordLease,
		},
		Claims: map[string]workflow.Claim{"persons": persons},
	}
}

// effective reads the stored form in clear as the rules judge it: with a
// Taizhou hukou when the applicant settled through the portal (and the
// settlement's case number, "" if none).
func (s *Service) effective(ctx context.Context, f *workflow.Firing) (*application, string, error) {
	form, err := s.open(f.Case.Form)
	if err != nil {
		return nil, "", err
	}
	settled, err := s.settledCase(ctx, f.Tx, f.Case.ApplicantID)
	if err != nil {
		return nil, "", err
	}
	if settled != "" {
		yes := true
		form.HukouLocal = &yes
		form.normalize()
	}
	return form, settled, nil
}

// formComplete re-validates the stored form as complete: the rules may
// have changed since the draft was saved, and the applicant may have
// settled meanwhile.
func (s *Service) formComplete(ctx context.Context, f *workflow.Firing) error {
	form, err := s.open(f.Case.Form)
	if err != nil {
		return err
	}
	_, _, err = s.form(ctx, form, workflow.FormInput{Mode: workflow.Complete, Applicant: f.Case.Applicant, Now: f.Now, Store: f.Tx},
		f.Case.ApplicantID)
	return err
}

// permitHeld is the number of the applicant's valid residence permit on
// the portal, "" if they hold none there.
func (s *Service) permitHeld(ctx context.Context, f *workflow.Firing) (string, error) {
	permit, err := f.ValidGrant(ctx, s.set.PermitService)
	switch {
	case portal.ErrorCode(err) == portal.ENOTFOUND:
		return "", nil
	case err != nil:
		return "", err
	}
	return resultText(permit.Result, "permit_no"), nil
}

// assessment applies the rules to the case as the firing sees it.
func (s *Service) assessment(ctx context.Context, f *workflow.Firing) (*Assessment, *application, string, error) {
	form, settled, err := s.effective(ctx, f)
	if err != nil {
		return nil, nil, "", err
	}
	held := ""
	if !isTrue(form.HukouLocal) {
		if held, err = s.permitHeld(ctx, f); err != nil {
			return nil, nil, "", err
		}
	}
	return s.assess(form, held), form, settled, nil
}

// eligible refuses a household the rules of its kind do not admit, naming
// the first rule it does not meet and why.
func (s *Service) eligible(ctx context.Context, f *workflow.Firing) error {
	a, _, _, err := s.assessment(ctx, f)
	if err != nil {
		return err
	}
	if e := a.refusal(); e != nil {
		return e
	}
	return nil
}

// assessAction records the assessment in the result (eligibility), for the
// case page to explain each rule. An applicant who settled through the
// portal has the form's hukou answer fixed to yes.
func (s *Service) assessAction(ctx context.Context, f *workflow.Firing) error {
	a, form, settled, err := s.assessment(ctx, f)
	if err != nil {
		return err
	}
	set := map[string]any{"eligibility": a}
	if settled != "" {
		set["hukou_settled_case"] = settled
		var stored application
		if err := json.Unmarshal(f.Case.Form, &stored); err != nil {
			return fmt.Errorf("housing.assess(%s): %w", f.Case.No, err)
		}
		if !isTrue(stored.HukouLocal) {
			stored.HukouLocal, stored.ResidencePermitNo, stored.InsuranceMonths = form.HukouLocal, "", nil
			b, err := json.Marshal(&stored)
			if err != nil {
				return fmt.Errorf("housing.assess(%s): %w", f.Case.No, err)
			}
			f.Case.Form = b
		}
	}
	return workflow.SetResult(f.Case, set)
}

// openNotice puts the household on public notice (公示) when the district
// approves its review: an opaque reference (not the case number), the
// notice's first day and its end (notice_days later, the state's
// deadline_from: a case held by an objection and let go keeps it), and
// what the public list shows of the household.
func (s *Service) openNotice(ctx context.Context, f *workflow.Firing) error {
	form, err := stored(f.Case)
	if err != nil {
		return err
	}
	app := f.Case.Applicant
	if app == nil {
		if app, err = f.Tx.UserByID(ctx, f.Case.ApplicantID); err != nil {
			return err
		}
	}
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("housing.openNotice(%s): %w", f.Case.No, err)
	}
	ends := f.Cal.Due(f.Now, workflow.Deadline{N: s.set.NoticeDays})
	return workflow.SetResult(f.Case, map[string]any{
		resNoticeRef:       hex.EncodeToString(b),
		"notice_starts":    f.Now.In(f.Cal.Zone).Format(time.DateOnly),
		resNoticeEnds:      ends.In(f.Cal.Zone).Format(time.RFC3339),
		"notice_last_day":  f.Cal.LastDay(ends).In(f.Cal.Zone).Format(time.DateOnly),
		"notice_applicant": MaskedName(app.Name),
		"household_size":   form.size(),
	})
}

// MaskedName is a person's name as public lists show it: the surname and
// one star, whatever the name's length ("张三", "张三丰" → "张*").
func MaskedName(name string) string {
	r, size := utf8.DecodeRuneInString(strings.TrimSpace(name))
	if size == 0 || r == utf8.RuneError {
		return "*"
	}
	return string(r) + "*"
}

// pendingObjection is what a public objection's step carries to the object
// event (result.objection_pending), filed by record_objection in the
// event's transaction and never stored in the result.
type pendingObjection struct {
	Contact string `json:"contact"`
	Reason  string `json:"reason"`
}

// recordObjection files the objection the step carries, in the same
// transaction as the case's move to objection review: the objection and
// the hold never disagree.
func recordObjection(ctx context.Context, f *workflow.Firing) error {
	res, err := readResult(f.Case)
	if err != nil {
		return err
	}
	var p pendingObjection
	if b, err := json.Marshal(res[resObjectionToFile]); err == nil {
		_ = json.Unmarshal(b, &p)
	}
	if p.Reason == "" || p.Contact == "" {
		return fmt.Errorf("housing.recordObjection(%s): the object event carries no objection", f.Case.No)
	}
	if err := dropResult(f.Case, resObjectionToFile); err != nil {
		return err
	}
	return f.Tx.InsertObjection(ctx, &portal.Objection{CaseID: f.Case.ID, Contact: p.Contact, Reason: p.Reason, CreatedAt: f.Now})
}

// decideObjections records the district's decision on the objections open
// on the case, all of them together (the officer reads them all before
// deciding, on the case's objections page): upheld, the application is
// refused; dismissed, it goes on.
func decideObjections(ctx context.Context, f *workflow.Firing) error {
	all, err := f.Tx.ObjectionsOf(ctx, f.Case.ID)
	if err != nil {
		return err
	}
	up := f.Input.Values.Text(inputUpheld) == answerYes
	reason := f.Input.Values.Text("reason")
	var by *int64
	if f.Actor.User != nil {
		id := f.Actor.User.ID
		by = &id
	}
	n := 0
	for i := range all {
		o := &all[i]
		if o.ResolvedAt != nil {
			continue
		}
		now := f.Now
		o.ResolvedAt, o.Upheld, o.Resolution, o.ResolvedBy = &now, &up, reason, by
		if err := f.Tx.ResolveObjection(ctx, o); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return &portal.Error{Code: portal.ECONFLICT, Rule: "no_open_objection", Message: ServiceID + ".rule.no_open_objection"}
	}
	outcome := "dismissed"
	if up {
		outcome = "upheld"
	}
	return workflow.SetResult(f.Case, map[string]any{"objection_outcome": outcome,
		"objection_decided_on": f.Now.In(f.Cal.Zone).Format(time.DateOnly)})
}

// openRecheck records a refusal whenever a case enters rejected: its
// reason and day, and until when the applicant may ask for a recheck
// (recheck_days working days: the state's deadline_from, when the case
// closes). The decision on a recheck may not be rechecked again.
func (s *Service) openRecheck(_ context.Context, f *workflow.Firing) error {
	until := f.Cal.Due(f.Now, workflow.Deadline{N: s.set.RecheckDays, Working: true})
	return workflow.SetResult(f.Case, map[string]any{
		"refusal_reason":   f.Input.Values.Text("reason"),
		"refused_on":       f.Now.In(f.Cal.Zone).Format(time.DateOnly),
		"refused_by":       f.Event,
		resRecheckUntil:    until.In(f.Cal.Zone).Format(time.RFC3339),
		"recheck_last_day": f.Cal.LastDay(until).In(f.Cal.Zone).Format(time.DateOnly),
		resRecheckAllowed:  f.Event != eventRecheckDone,
	})
}

// recheckAllowed lets a rejected applicant ask for a recheck of the
// refusal within the recheck days, once: the decision on a recheck is not
// rechecked again.
func recheckAllowed(_ context.Context, f *workflow.Firing) error {
	res, err := readResult(f.Case)
	if err != nil {
		return err
	}
	if allowed, _ := res[resRecheckAllowed].(bool); !allowed {
		return portal.RuleError("recheck_once", ServiceID+".rule.recheck_once", nil)
	}
	s, _ := res[resRecheckUntil].(string)
	until, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("housing.recheckAllowed(%s): recheck_until: %w", f.Case.No, err)
	}
	if !f.Now.Before(until) {
		return portal.RuleError("recheck_window", ServiceID+".rule.recheck_window",
			map[string]any{"Until": f.Cal.LastDay(until).In(f.Cal.Zone).Format(time.DateOnly)})
	}
	return nil
}

// upheld is the answer of a decision on an objection or a recheck: is it
// upheld?
func upheld(_ context.Context, f *workflow.Firing) (bool, error) {
	return f.Input.Values.Text(inputUpheld) == answerYes, nil
}

// noticeOver reports whether the case's public notice has ended.
func noticeOver(_ context.Context, f *workflow.Firing) (bool, error) {
	ends, err := time.Parse(time.RFC3339, resultText(f.Case.Result, resNoticeEnds))
	if err != nil {
		return false, fmt.Errorf("housing.noticeOver(%s): %w", f.Case.No, err)
	}
	return !f.Now.Before(ends), nil
}

// noticed reports whether the case went through its public notice (a
// refusal after the notice, overturned on recheck, puts it on the list; one
// before it sends it back to the district's review).
func noticed(_ context.Context, f *workflow.Firing) (bool, error) {
	return resultText(f.Case.Result, resNoticeRef) != "", nil
}

// declines is how many offers the household declined.
func declines(c *portal.Case) int {
	res, err := readResult(c)
	if err != nil {
		return 0
	}
	n, _ := res[resDeclines].(float64)
	return int(n)
}

// lastDecline reports whether declining this offer takes the household off
// the list (declines.removal_at).
func (s *Service) lastDecline(_ context.Context, f *workflow.Firing) (bool, error) {
	return declines(f.Case)+1 >= s.set.Declines.RemovalAt, nil
}

// countDecline records a declined offer: the count, the unit declined; the
// household has no unit and no place from an earlier draw any more.
func countDecline(_ context.Context, f *workflow.Firing) error {
	res, err := readResult(f.Case)
	if err != nil {
		return err
	}
	declined, _ := res["declined_units"].([]any)
	if u, ok := res[resUnit]; ok && u != nil {
		declined = append(declined, u)
	}
	if err := workflow.SetResult(f.Case, map[string]any{resDeclines: declines(f.Case) + 1, "declined_units": declined,
		"declined_on": f.Now.In(f.Cal.Zone).Format(time.DateOnly)}); err != nil {
		return err
	}
	return dropResult(f.Case, resUnit, resDrawRank)
}

// enterWaitlist records when a household joins the waiting list, which
// orders it within its class: whenever it enters waitlisted, so that a
// declined offer puts it at the end (declines.to_end_of_list); without that
// penalty a decline keeps its first place.
func (s *Service) enterWaitlist(_ context.Context, f *workflow.Firing) error {
	if (f.Event == eventDecline || f.Event == eventLapse) && !s.set.Declines.ToEndOfList && resultText(f.Case.Result, resWaitlistedAt) != "" {
		return nil
	}
	return workflow.SetResult(f.Case, map[string]any{resWaitlistedAt: f.Now.In(f.Cal.Zone).Format(time.RFC3339Nano)})
}

// recordLease records the lease (or purchase) of the unit offered: the
// household is covered by housing security from that day.
func recordLease(_ context.Context, f *workflow.Firing) error {
	return workflow.SetResult(f.Case, map[string]any{"leased_on": f.Now.In(f.Cal.Zone).Format(time.DateOnly)})
}
