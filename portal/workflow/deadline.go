package workflow

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"tzportal/portal"
	"tzportal/portal/audit"
)

// Deadlines that escalate (承诺时限). A state whose deadline is staff's —
// it has one, no on_timeout (the scheduler does not end it), and does not
// pause the clock (the applicant is not the one awaited) — escalates: when
// its due date passes with the case still there, a timer marks the step
// overdue once (an escalations row, unique per case and step), tells the
// supervisors of the case's division in their inbox and writes the audit
// entry case.escalate. While a case waits on the applicant (pauses_clock:
// a correction, promised materials), the deadline it left keeps the days
// it had; coming back to that state, the case has them again.

// EscalateAction is the audit action of an overdue step.
const EscalateAction = "case.escalate"

// escalateTimer is the timer of a staff deadline; like a certificate's, an
// event no workflow can name (it holds a dot).
const escalateTimer = "deadline.escalate"

// DeadlinesFile is the deadline settings in policies/.
const DeadlinesFile = "deadlines.yaml"

// DeadlinePolicy holds policies/deadlines.yaml.
type DeadlinePolicy struct {
	// SoonWorkingDays: a case is due soon when its countdown (working days
	// left, today included) is at most this.
	SoonWorkingDays int `yaml:"soon_working_days"`
	// LateWorkingDays: an overdue case is late up to this many working days
	// past its last day, delayed after.
	LateWorkingDays int `yaml:"late_working_days"`
	// NotifyRole is the role told of an overdue step, in the case's
	// division and every division above it.
	NotifyRole string `yaml:"notify_role"`
}

// LoadDeadlinePolicy reads deadlines.yaml from fsys (policies.FS) and
// checks it against the roles known.
func LoadDeadlinePolicy(fsys fs.FS, roles map[string]bool) (DeadlinePolicy, error) {
	var p DeadlinePolicy
	src, err := fs.ReadFile(fsys, DeadlinesFile)
	if err != nil {
		return p, fmt.Errorf("policies/%s: %w", DeadlinesFile, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("policies/%s: %w", DeadlinesFile, err)
	}
	var errs []string
	if p.SoonWorkingDays <= 0 || p.SoonWorkingDays > 60 {
		errs = append(errs, "soon_working_days must be from 1 to 60")
	}
	if p.LateWorkingDays <= 0 || p.LateWorkingDays > 60 {
		errs = append(errs, "late_working_days must be from 1 to 60")
	}
	if !roles[p.NotifyRole] {
		errs = append(errs, fmt.Sprintf("notify_role %q is not a role of policies/roles.yaml", p.NotifyRole))
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("policies/%s: %s", DeadlinesFile, strings.Join(errs, "; "))
	}
	return p, nil
}

// Escalates reports whether the state's deadline is staff's: a case left
// there past its due date is escalated.
func (s *State) Escalates() bool {
	return !s.Final && !s.PausesClock && s.OnTimeout == "" && (!s.Deadline.IsZero() || s.DeadlineFrom != "")
}

// DeadlineSteps returns, per service, the states whose deadline is staff's.
func (e *Engine) DeadlineSteps() map[string][]string { return e.steps }

// pausable reports whether a case may leave the state for one that pauses
// the clock (so it may come back to it with the days it had left).
func pausableStates(def *Definition) map[string]bool {
	out := map[string]bool{}
	for _, ev := range def.Events {
		for _, b := range ev.To.States() {
			if to := def.States[b]; to == nil || !to.PausesClock {
				continue
			}
			for _, from := range ev.From {
				if !def.States[from].Deadline.IsZero() {
					out[from] = true
				}
			}
		}
	}
	return out
}

// clock sets the due date of the state case c enters in f, keeping the
// clock of the state it leaves when it goes to wait on the applicant, and
// giving back the days kept when it comes back to a state it left so.
// prevDue is the due date of the state left.
func (e *Engine) clock(ctx context.Context, f *Firing, to string, prevDue *time.Time) error {
	c, def := f.Case, f.Def
	from, st := def.States[f.From], def.States[to]
	if from != nil && f.From != to && st.PausesClock && !from.Deadline.IsZero() && prevDue != nil && !from.PausesClock {
		left := e.Calendar.DaysLeft(f.Now, *prevDue, from.Deadline.Working)
		if err := f.Tx.PauseClock(ctx, c.ID, f.From, left, f.Now); err != nil {
			return err
		}
	}
	if st.Deadline.IsZero() || !e.pausable[c.Service][to] || !pausedFrom(f, to) {
		return nil
	}
	left, ok, err := f.Tx.ResumeClock(ctx, c.ID, to)
	if err != nil || !ok {
		return err
	}
	due := e.Calendar.Resume(f.Now, left, st.Deadline.Working)
	c.DueAt = &due
	return nil
}

// pausedFrom reports whether the case may have a clock kept for state:
// its timeline, when the firing read it (a person's event does; a timer's
// or a cohort's does not, and then the store is asked), has a step from
// that state into one that pauses the clock. A case handed in and accepted
// without a correction costs no query.
func pausedFrom(f *Firing, state string) bool {
	if f.History == nil {
		return true
	}
	for _, h := range f.History {
		if to := f.Def.States[h.To]; h.From == state && to != nil && to.PausesClock {
			return true
		}
	}
	return false
}

// scheduleEscalation inserts the escalation timer of a state c just entered.
func (e *Engine) scheduleEscalation(ctx context.Context, f *Firing) error {
	c := f.Case
	if st := f.Def.States[c.State]; !st.Escalates() || c.DueAt == nil {
		return nil
	}
	return f.Tx.InsertJob(ctx, &portal.Job{CaseID: c.ID, Event: escalateTimer, Version: c.Version, DueAt: *c.DueAt})
}

// fireEscalation escalates the step of job j if the case is still in it
// (the step at which it entered its state is the timer's), once: the
// escalations row is unique per (case, step), so two nodes cannot both
// write it. It reports whether it escalated.
func (e *Engine) fireEscalation(ctx context.Context, tx portal.Tx, j portal.Job, c *portal.Case, now time.Time) (bool, error) {
	ent := e.entry(c.Service)
	if ent == nil {
		return false, nil
	}
	def := ent.Def
	st := def.States[c.State]
	if st == nil || !st.Escalates() || c.DueAt == nil || now.Before(*c.DueAt) {
		return false, nil
	}
	// The same entry into the state: a case that came back to it (even
	// the same day, with the same due date) entered it at another step.
	hist, err := tx.History(ctx, c.ID)
	if err != nil {
		return false, err
	}
	if enteredAt(def, hist) != j.Version {
		return false, nil
	}
	var divisions []string
	if path := e.Authz.Divisions().Path(c.Division); path != "" {
		divisions = strings.Split(path, "/")
	}
	sups, err := tx.UsersWithRole(ctx, e.Deadline.NotifyRole, divisions)
	if err != nil {
		return false, err
	}
	esc := &portal.Escalation{CaseID: c.ID, Step: j.Version, State: c.State, Division: c.Division, DueAt: *c.DueAt,
		EscalatedAt: now, Notified: len(sups)}
	if ok, err := tx.InsertEscalation(ctx, esc); err != nil || !ok {
		return false, err
	}
	if len(sups) > 0 {
		f := e.firing(tx, def, c, escalateTimer, portal.Actor{System: Scheduler}, Scheduler, now)
		if err := e.Notifier.Escalated(ctx, f, sups); err != nil {
			return false, err
		}
	}
	a := audit.Entry(portal.Actor{System: Scheduler}, EscalateAction, caseObject(c.No), audit.ResultOK)
	a.Division = c.Division
	return true, e.Audit.Append(ctx, tx, audit.WithDetail(a, map[string]any{"state": c.State, "step": j.Version,
		"due_at": c.DueAt.UTC().Format(time.RFC3339), "notified": len(sups)}))
}

// enteredAt is the step (history seq) at which a case entered its current
// state: its last step that moved it (edits and amendments do not).
func enteredAt(def *Definition, hist []portal.History) int {
	for i := len(hist) - 1; i >= 0; i-- {
		if h := hist[i]; h.From != h.To || h.Event == portal.EventCreate || restartsClock(def, &h) {
			return h.Seq
		}
	}
	return 0
}

// restartsClock reports whether step h transferred the case with its time
// limit counted again from the receiving office's receipt: for deadlines,
// escalations and the dashboards' on-time figures, the case entered its
// state again there.
func restartsClock(def *Definition, h *portal.History) bool {
	ev := def.Events[h.Event]
	return ev != nil && ev.Transfer != "" && ev.RestartClock
}

// DeadlineQuery is what a person asks of the deadline views.
type DeadlineQuery struct {
	Due     string // DueOverdue or DueSoon
	Service string
	// AfterDue, AfterID: keyset of the next page.
	AfterDue time.Time
	AfterID  int64
	Limit    int
}

// The lists of the deadline views.
const (
	DueOverdue = "overdue"
	DueSoon    = "soon"
)

// deadlineFilter is the actor's reach over the deadlines (policy
// "deadlines, read": a clerk their street, a supervisor their subtree);
// ENOTFOUND for anyone with none, as a page out of reach.
func (e *Engine) deadlineFilter(actor portal.Actor, service string) (portal.DeadlineFilter, error) {
	var f portal.DeadlineFilter
	u := actor.User
	if u == nil {
		return f, portal.Errorf(portal.EUNAUTHORIZED, "error.login_required", nil)
	}
	if u.Kind != portal.KindStaff {
		return f, portal.NotFound(fmt.Errorf("workflow: %s has no deadlines to read", u.Login))
	}
	scope := e.Authz.Scope(u, "deadlines", "read")
	if !scope.AllScope && len(scope.Scope) == 0 {
		return f, portal.NotFound(fmt.Errorf("workflow: %s has no deadlines to read", u.Login))
	}
	if service != "" {
		if _, ok := e.steps[service]; !ok {
			return f, portal.Invalid(portal.FieldError{Field: "service", Rule: "oneof"})
		}
	}
	f.Scope, f.AllScope, f.Steps, f.Service = scope.Scope, scope.AllScope, e.steps, service
	return f, nil
}

// SoonUntil is the last due date that is due soon at now: its countdown
// is at most SoonWorkingDays working days.
func (e *Engine) SoonUntil(now time.Time) time.Time {
	return e.Calendar.WithinUntil(now, e.Deadline.SoonWorkingDays)
}

// LateCut is the last due date that is delayed at now (more than
// LateWorkingDays working days past its last day); those after it and
// passed are late.
func (e *Engine) LateCut(now time.Time) time.Time {
	return e.Calendar.LateCut(now, e.Deadline.LateWorkingDays)
}

// Deadlines lists the overdue or due-soon cases within the actor's reach,
// soonest due first; next is the last case when there may be more.
func (e *Engine) Deadlines(ctx context.Context, actor portal.Actor, q DeadlineQuery) (cases []portal.Case, more bool, err error) {
	f, err := e.deadlineFilter(actor, q.Service)
	if err != nil {
		return nil, false, err
	}
	now := e.Now()
	switch q.Due {
	case DueOverdue:
		f.DueUntil = now
	case DueSoon:
		f.DueAfter, f.DueUntil = now, e.SoonUntil(now)
	default:
		return nil, false, portal.Invalid(portal.FieldError{Field: "due", Rule: "oneof", Param: DueOverdue + " " + DueSoon})
	}
	limit := q.Limit
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	f.AfterDue, f.AfterID, f.Limit = q.AfterDue, q.AfterID, limit+1
	cases, err = e.Store.DeadlineCases(ctx, f)
	if err != nil {
		return nil, false, err
	}
	if len(cases) > limit {
		return cases[:limit], true, nil
	}
	return cases, false, nil
}

// Aging counts the open cases with a staff deadline within the actor's
// reach per office (division), by band: on time, late (at most
// LateWorkingDays working days past the last day), delayed.
func (e *Engine) Aging(ctx context.Context, actor portal.Actor, service string) ([]portal.AgingRow, error) {
	f, err := e.deadlineFilter(actor, service)
	if err != nil {
		return nil, err
	}
	now := e.Now()
	return e.Store.Aging(ctx, f, now, e.LateCut(now))
}

// dueFilter narrows a list to the deadline views' cases: the states whose
// deadline is staff's (of those asked, if any), overdue or due soon. No
// states left: an empty list.
func (e *Engine) dueFilter(lf ListFilter, f *portal.CaseFilter) (ListFilter, error) {
	var steps []string
	for _, svc := range slices.Sorted(maps.Keys(e.steps)) {
		if lf.Service != "" && svc != lf.Service {
			continue
		}
		for _, st := range e.steps[svc] {
			if !slices.Contains(steps, st) && (len(lf.States) == 0 || slices.Contains(lf.States, st)) {
				steps = append(steps, st)
			}
		}
	}
	now := e.Now()
	switch lf.Due {
	case DueOverdue:
		f.DueUntil = &now
	case DueSoon:
		until := e.SoonUntil(now)
		f.DueAfter, f.DueUntil = &now, &until
	default:
		return lf, portal.Invalid(portal.FieldError{Field: "due", Rule: "oneof", Param: DueOverdue + " " + DueSoon})
	}
	lf.States, lf.Queue = steps, false
	return lf, nil
}

// deadlineSteps lists each service's escalating states, sorted.
func deadlineSteps(defs map[string]*Definition) map[string][]string {
	out := map[string][]string{}
	for id, def := range defs {
		var states []string
		for name, st := range def.States {
			if st.Escalates() {
				states = append(states, name)
			}
		}
		slices.Sort(states)
		out[id] = states
	}
	return out
}
